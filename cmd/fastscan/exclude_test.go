package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fastscan/fastscan/route"
	"github.com/fastscan/fastscan/target"
)

func TestExcludeFlags(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "skip.txt")
	if err := os.WriteFile(file, []byte("# never these\n198.19.0.9 # one host\n198.19.0.100-198.19.0.109, 198.19.1.0/24\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	input := filepath.Join(dir, "targets.txt")
	if err := os.WriteFile(input, []byte("198.19.2.0/24\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		n    uint64
		out  []string // addresses not scanned
		in   []string // addresses scanned
	}{
		{[]string{"198.19.0.0/24", "--exclude", "198.19.0.0/26,198.19.0.200", "-p", "80"}, 256 - 64 - 1, []string{"198.19.0.0", "198.19.0.63", "198.19.0.200"}, []string{"198.19.0.64", "198.19.0.199", "198.19.0.201"}},
		{[]string{"198.19.0.0/24", "--exclude", "198.19.0.1", "--exclude", "198.19.0.2-4", "-p", "80"}, 256 - 4, []string{"198.19.0.1", "198.19.0.4"}, []string{"198.19.0.0", "198.19.0.5"}},
		{[]string{"198.19.0.0/23", "--excludefile", file, "-p", "80"}, 512 - 1 - 10 - 256, []string{"198.19.0.9", "198.19.0.105", "198.19.1.7"}, []string{"198.19.0.8", "198.19.0.110"}},
		// -iL input and exclusions together.
		{[]string{"-iL", input, "198.19.1.0/24", "--excludefile", file, "--exclude", "198.19.2.128/25", "-p", "80"}, 128, []string{"198.19.1.0", "198.19.2.128"}, []string{"198.19.2.0", "198.19.2.127"}},
		// Reserved space: skipped inside larger targets, scanned when named.
		{[]string{"0.0.0.0/0", "-p", "80"}, 3702257664, []string{"10.1.2.3", "127.0.0.1", "224.0.0.1", "255.255.255.255", "198.19.0.1"}, []string{"1.1.1.1", "223.255.255.255"}},
		{[]string{"0.0.0.0/0", "198.19.0.0/16", "-p", "80"}, 3702257664 + 65536, []string{"198.18.0.1"}, []string{"198.19.0.1"}},
		{[]string{"0.0.0.0/0", "-p", "80", "--no-default-excludes"}, 1 << 32, nil, []string{"10.1.2.3", "255.255.255.255"}},
		{[]string{"10.0.0.0/8", "-p", "80"}, 1 << 24, nil, []string{"10.1.2.3"}},
		{[]string{"10.1.0.0/16", "-p", "80"}, 1 << 16, nil, []string{"10.1.2.3"}},
		{[]string{"10.0.0.0/7", "-p", "80"}, 1 << 24, []string{"10.1.2.3"}, []string{"11.0.0.0"}},
	}
	for _, c := range cases {
		s, code, stderr := captured(t, c.args...)
		if code != exitOK {
			t.Errorf("%q: exit %d: %s", c.args, code, stderr)
			continue
		}
		if s.cfg.Targets.Len() != c.n {
			t.Errorf("%q: %d targets, want %d", c.args, s.cfg.Targets.Len(), c.n)
		}
		for _, a := range c.out {
			if s.cfg.Targets.Contains(netip.MustParseAddr(a)) {
				t.Errorf("%q: %s is a target", c.args, a)
			}
		}
		for _, a := range c.in {
			if !s.cfg.Targets.Contains(netip.MustParseAddr(a)) {
				t.Errorf("%q: %s is not a target", c.args, a)
			}
		}
	}
}

// TestExcludeBadInput: a bad exclusion, an unreadable exclusion file, or exclusions
// that leave nothing are usage errors of one line naming what was given; nothing is
// started and no output file is created.
func TestExcludeBadInput(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope.txt")
	outFile := filepath.Join(dir, "out.jsonl")
	cases := []struct {
		args  []string
		words []string
	}{
		{[]string{"198.19.0.0/24", "-p", "80", "--exclude", "198.19.0.300"}, []string{`invalid exclusion "198.19.0.300"`}},
		{[]string{"198.19.0.0/24", "-p", "80", "--exclude", "198.19.0.1,,198.19.0.2"}, []string{"empty exclusion"}},
		{[]string{"198.19.0.0/24", "-p", "80", "--excludefile", missing}, []string{"exclude file", missing}},
		{[]string{"198.19.0.0/24", "-p", "80", "--exclude", "198.19.0.0/16", "-oJ", outFile}, []string{"no targets left", "198.19.0.0/24", "--exclude 198.19.0.0/16"}},
		{[]string{"198.19.0.1,198.19.0.2", "-p", "80", "--exclude", "198.19.0.1", "--exclude", "198.19.0.2", "-o", outFile}, []string{"no targets left", "198.19.0.1,198.19.0.2", "--exclude 198.19.0.1, 198.19.0.2"}},
		{[]string{"224.0.0.0/3", "-p", "80", "--dry-run"}, []string{"no targets left", "224.0.0.0/3", "224.0.0.0/4 Multicast", "240.0.0.0/4 Reserved", "--no-default-excludes"}},
	}
	for _, c := range cases {
		_, code, stderr := captured(t, c.args...)
		if code != exitUsage {
			t.Errorf("%q: exit %d, want %d (stderr %q)", c.args, code, exitUsage, stderr)
			continue
		}
		if strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("%q: stderr %q, want one line", c.args, stderr)
		}
		for _, w := range c.words {
			if !strings.Contains(stderr, w) {
				t.Errorf("%q: stderr %q does not name %q", c.args, stderr, w)
			}
		}
		if _, err := os.Stat(outFile); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%q: output file created: %v", c.args, err)
		}
	}
	// --no-default-excludes scans it.
	if s, code, stderr := captured(t, "224.0.0.0/3", "-p", "80", "--no-default-excludes"); code != exitOK || s.cfg.Targets.Len() != 1<<29 {
		t.Errorf("224.0.0.0/3 --no-default-excludes: exit %d, %d targets: %s", code, s.cfg.Targets.Len(), stderr)
	}
}

// runDryRun runs the command line in-process; a scan started instead fails the test.
func runDryRun(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	noScan := func(context.Context, settings, io.Writer, io.Writer) error {
		t.Fatalf("%q: a dry run started a scan", args)
		return nil
	}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), append([]string{"fastscan"}, args...), &stdout, &stderr, noScan)
	return stdout.String(), stderr.String(), code
}

// checkWholeSpaceDryRun checks the dry run of fastscan 0.0.0.0/0 -p 80.
func checkWholeSpaceDryRun(t *testing.T, stdout, stderr string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if lines[0] != "1.0.0.0/8" || lines[len(lines)-1] != "208.0.0.0/4" {
		t.Errorf("blocks run from %s to %s, want 1.0.0.0/8 to 208.0.0.0/4", lines[0], lines[len(lines)-1])
	}
	// The blocks are exactly the targets: disjoint, ascending, 3,702,257,664 addresses.
	var total uint64
	var ranges []target.Range
	prev := netip.Prefix{}
	for _, l := range lines {
		p, err := netip.ParsePrefix(l)
		if err != nil || p != p.Masked() {
			t.Fatalf("line %q is not a CIDR block", l)
		}
		if prev.IsValid() && (prev.Overlaps(p) || !prev.Addr().Less(p.Addr())) {
			t.Fatalf("%v after %v", p, prev)
		}
		prev = p
		total += 1 << (32 - p.Bits())
		ranges = append(ranges, target.Range{First: p.Addr(), Last: lastAddr(p)})
	}
	if total != 3702257664 || len(lines) != 148 {
		t.Errorf("%d blocks of %d addresses, want 148 blocks of 3702257664", len(lines), total)
	}
	set := target.NewSet(ranges)
	for _, b := range target.ReservedBlocks() {
		if set.Contains(b.Prefix.Addr()) {
			t.Errorf("reserved %v (%s) in the blocks", b.Prefix, b.Name)
		}
	}
	for _, want := range []string{
		"nothing is sent",
		"addresses 3702257664 in 16 ranges, 148 CIDR blocks (named 4294967296, excluded 592709632)\n",
		"ports 1: TCP 80\n",
		"probes 3702257664 (addresses x ports)",
		"excluded 0.0.0.0/8: 16777216 addresses, reserved: \"This network\", RFC 791",
		"excluded 10.0.0.0/8: 16777216 addresses, reserved: Private-Use, RFC 1918\n",
		"excluded 127.0.0.0/8: 16777216 addresses, reserved: Loopback, RFC 1122",
		"excluded 198.18.0.0/15: 131072 addresses, reserved: Benchmarking, RFC 2544\n",
		"excluded 224.0.0.0/4: 268435456 addresses, reserved: Multicast, RFC 5771\n",
		"excluded 240.0.0.0/4: 268435456 addresses, reserved: Reserved, RFC 1112, section 4\n",
		"excluded 255.255.255.255/32: 1 address (inside 240.0.0.0/4), reserved: Limited Broadcast",
		"estimated duration 4.3 days at -r 10000 probes/s",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("dry run's plan lacks %q:\n%s", want, stderr)
		}
	}
	if !strings.Contains(stderr, "\nroute") {
		t.Errorf("dry run's plan has no route line:\n%s", stderr)
	}
}

// lastAddr is the last address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Addr().As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v |= uint32(uint64(1)<<(32-p.Bits()) - 1)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func TestDryRunWholeSpace(t *testing.T) {
	stdout, stderr, code := runDryRun(t, "0.0.0.0/0", "-p", "80", "--dry-run")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	checkWholeSpaceDryRun(t, stdout, stderr)
}

func TestDryRunNoDefaultExcludes(t *testing.T) {
	stdout, stderr, code := runDryRun(t, "0.0.0.0/0", "-p", "80,443", "--dry-run", "--no-default-excludes", "-r", "1000000", "--retries", "0")
	if code != exitOK || stdout != "0.0.0.0/0\n" {
		t.Fatalf("exit %d, stdout %q: %s", code, stdout, stderr)
	}
	for _, want := range []string{"addresses 4294967296 in 1 ranges, 1 CIDR blocks (named 4294967296, excluded 0)", "probes 8589934592 (addresses x ports)\n", "estimated duration 2h24m17s at -r 1000000 probes/s, plus" /* 2^33 probes + 1 in 128 for the loss estimate */} {
		if !strings.Contains(stderr, want) {
			t.Errorf("plan lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "\nexcluded ") {
		t.Errorf("plan lists exclusions:\n%s", stderr)
	}
}

// TestDryRunEverything: the largest scan there is, every IPv4 address x every TCP and
// UDP port, is planned like any other (the target table's memory follows the answers:
// no scan is too large to track).
func TestDryRunEverything(t *testing.T) {
	stdout, stderr, code := runDryRun(t, "0.0.0.0/0", "-p", "T:1-65535,U:1-65535", "--dry-run", "--no-default-excludes", "--retries", "0")
	if code != exitOK || stdout != "0.0.0.0/0\n" {
		t.Fatalf("exit %d, stdout %q: %s", code, stdout, stderr)
	}
	if want := fmt.Sprintf("probes %d (addresses x ports)\n", uint64(1<<32)*131070); !strings.Contains(stderr, want) {
		t.Errorf("plan lacks %q:\n%s", want, stderr)
	}
	if strings.Contains(stderr, "warning") {
		t.Errorf("plan warns:\n%s", stderr)
	}
}

// TestDryRunPlan checks the plan of a dry run with user exclusions, a range that is
// not a CIDR block, and a route from a stand-in for the routing table.
func TestDryRunPlan(t *testing.T) {
	outFile := filepath.Join(t.TempDir(), "out.xml")
	var s settings
	var stdout, stderr bytes.Buffer
	capture := func(_ context.Context, got settings, _, _ io.Writer) error { s = got; return nil }
	args := []string{"fastscan", "198.19.0.0/20", "198.19.16.1-198.19.16.6", "--exclude", "198.19.4.0/22,198.19.9.7", "--exclude", "203.0.113.9",
		"-p", "T:22,80,U:53", "-r", "1000", "--retries", "2", "-oX", outFile}
	if code := run(context.Background(), args, &stdout, &stderr, capture); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	eth := net.Interface{Index: 2, Name: "eth9", Flags: net.FlagUp}
	lookup := func(dst netip.Addr, iface string) (route.Route, error) {
		if dst == netip.MustParseAddr("198.19.16.1") {
			return route.Route{}, errors.New("network is unreachable")
		}
		return route.Route{Iface: eth, SrcIP: netip.MustParseAddr("198.18.0.2"), Gateway: netip.MustParseAddr("198.18.0.1")}, nil
	}
	stdout.Reset()
	stderr.Reset()
	if err := dryRunWith(s, &stdout, &stderr, lookup); err != nil {
		t.Fatal(err)
	}
	wantOut := "198.19.0.0/22\n198.19.8.0/24\n198.19.9.0/30\n198.19.9.4/31\n198.19.9.6/32\n198.19.9.8/29\n198.19.9.16/28\n198.19.9.32/27\n198.19.9.64/26\n198.19.9.128/25\n198.19.10.0/23\n198.19.12.0/22\n" +
		"198.19.16.1/32\n198.19.16.2/31\n198.19.16.4/31\n198.19.16.6/32\n"
	if stdout.String() != wantOut {
		t.Errorf("stdout\n%s\nwant\n%s", stdout.String(), wantOut)
	}
	for _, want := range []string{
		"addresses 3077 in 4 ranges, 16 CIDR blocks (named 4102, excluded 1025)\n",
		"ports 3: TCP 22,80, UDP 53\n",
		"probes 9231 (addresses x ports), at most 27693 with 2 retry passes of the unanswered\n",
		"excluded 198.19.4.0/22: 1024 addresses, user exclusion\n",
		"excluded 198.19.9.7: 1 address, user exclusion\n",
		"excluded 203.0.113.9: 0 addresses (none of them a target), user exclusion\n",
		"route for 3 of 4 ranges (the first from 198.19.0.0): interface eth9, source 198.18.0.2, next hop router 198.18.0.1",
		"route for 1 of 4 ranges (the first from 198.19.16.1): unknown: network is unreachable\n",
		// 3077 addresses x 2 TCP ports = 6154 TCP targets, one in 16 sampled.
		"loss estimate: about 384 second probes (1 in 16 TCP targets of the first pass; --no-loss-estimate: none)\n",
		"estimated duration 9.615s at -r 1000 probes/s (first pass; up to 19s more if no target answers, for 2 retry passes), plus at most 2s of waiting for replies after each pass\n",
	} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("plan lacks %q:\n%s", want, stderr.String())
		}
	}
	if strings.Contains(stderr.String(), "reserved") {
		t.Errorf("directly named benchmarking addresses reported as reserved:\n%s", stderr.String())
	}
	// Through the command line: no file is created, no scan started.
	_, errOut, code := runDryRun(t, append(args[1:], "--dry-run")...)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if _, err := os.Stat(outFile); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("dry run created %s: %v", outFile, err)
	}
}

func TestDryRunRefusedByReplay(t *testing.T) {
	_, stderr, code := runDryRun(t, "replay", "--seed", "1", "198.19.0.1", "-p", "80", "--dry-run", "x.pcap")
	if code != exitUsage || !strings.Contains(stderr, "--dry-run") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
}

func TestFormatDuration(t *testing.T) {
	for secs, want := range map[float64]string{0.0123: "12ms", 9.2314: "9.231s", 150: "2m30s", 370225.7: "4.3 days", 1e9: "31.7 years"} {
		if got := formatDuration(secs); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", secs, got, want)
		}
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fastscan/fastscan/engine"
	"github.com/fastscan/fastscan/output"
	"github.com/fastscan/fastscan/registry"
	"github.com/fastscan/fastscan/result"
	"github.com/fastscan/fastscan/route"
)

// TestVersionFlag: -V and --version print the version and scan nothing; -v is no
// longer the version but verbosity (without targets: a usage error).
func TestVersionFlag(t *testing.T) {
	for _, flag := range []string{"-V", "--version"} {
		var stdout, stderr bytes.Buffer
		scanned := false
		code := run(context.Background(), []string{"fastscan", flag}, &stdout, &stderr, func(context.Context, settings, io.Writer, io.Writer) error {
			scanned = true
			return nil
		})
		if code != exitOK || scanned || stdout.String() != "fastscan version "+version+"\n" || stderr.Len() != 0 {
			t.Errorf("%s: exit %d, scanned %v, stdout %q, stderr %q", flag, code, scanned, stdout.String(), stderr.String())
		}
	}
	_, code, stderr := captured(t, "-v")
	if code != exitUsage || !strings.Contains(stderr, "no targets") {
		t.Errorf("-v alone: exit %d, stderr %q, want the no-targets usage error", code, stderr)
	}
}

// TestVerbosityCounts: -v, -vv, -v -v, -vvv and -d are counted, in any position.
func TestVerbosityCounts(t *testing.T) {
	cases := []struct {
		args           []string
		verbose, debug int
	}{
		{nil, 0, 0},
		{[]string{"-v"}, 1, 0},
		{[]string{"-vv"}, 2, 0},
		{[]string{"-v", "-v"}, 2, 0},
		{[]string{"-vvv"}, 3, 0},
		{[]string{"--verbose"}, 1, 0},
		{[]string{"-d"}, 0, 1},
		{[]string{"-dd", "-v"}, 1, 2},
	}
	for _, c := range cases {
		s, code, stderr := captured(t, append([]string{"198.18.0.1", "-p", "80"}, c.args...)...)
		if code != exitOK {
			t.Fatalf("%q: exit %d: %s", c.args, code, stderr)
		}
		if s.verbosity.verbose != c.verbose || s.verbosity.debug != c.debug {
			t.Errorf("%q: verbose %d debug %d, want %d %d", c.args, s.verbosity.verbose, s.verbosity.debug, c.verbose, c.debug)
		}
		// The targets after the flags are still targets.
		if s.cfg.Targets.Len() != 1 {
			t.Errorf("%q: %d targets, want 1", c.args, s.cfg.Targets.Len())
		}
	}
	// "-vv" after "--" is a target, not verbosity.
	if got := expandRepeated([]string{"fastscan", "-vv", "--", "-vv"}); strings.Join(got, " ") != "fastscan -v -v -- -vv" {
		t.Errorf("expandRepeated = %q", got)
	}
}

// TestAnnounce: what -v, -vv and -d write on standard error, from the settings the
// command line made (the plan's counts are those of the targets and ports given).
func TestAnnounce(t *testing.T) {
	lookup := func(netip.Addr, string) (route.Route, error) {
		return route.Route{Iface: net.Interface{Index: 2, Name: "eth9"}, SrcIP: netip.MustParseAddr("198.18.0.2"), Gateway: netip.MustParseAddr("198.18.0.1")}, nil
	}
	sum := engine.Summary{HostsProbed: 7, HostsUp: 3}
	out := func(args ...string) (before, after string) {
		t.Helper()
		s, code, stderr := captured(t, append([]string{"198.19.0.0/29", "-p", "22,80,443", "--seed", "99", "--source-port", "40000-40009"}, args...)...)
		if code != exitOK {
			t.Fatalf("%q: exit %d: %s", args, code, stderr)
		}
		var b, a bytes.Buffer
		announce(&b, &s, lookup)
		announceEnd(&a, &s, sum)
		return b.String(), a.String()
	}
	if b, a := out(); b != "" || a != "" {
		t.Errorf("without -v: %q, %q, want nothing", b, a)
	}
	b, a := out("-v")
	if !strings.HasPrefix(b, "fastscan plan:\n") || !strings.Contains(b, "addresses 8 in 1 ranges") || !strings.Contains(b, "ports 3: TCP 22,80,443") || !strings.Contains(b, "eth9") || strings.Contains(b, "debug") {
		t.Errorf("-v before the scan: %q", b)
	}
	if a != "" {
		t.Errorf("-v after the scan: %q, want nothing", a)
	}
	if _, a := out("-vv"); !strings.Contains(a, "hosts probed 7, up 3") {
		t.Errorf("-vv after the scan: %q", a)
	}
	b, a = out("-d")
	if !strings.Contains(b, "fastscan plan:") || !strings.Contains(b, "fastscan debug: seed 99, source ports 40000-40009") || !strings.Contains(a, "hosts probed 7") {
		t.Errorf("-d: %q, %q", b, a)
	}
}

// TestNmapScanFlags: nmap's spellings set what fastscan's own flags set.
func TestNmapScanFlags(t *testing.T) {
	base, code, stderr := captured(t, "198.18.0.1", "-p", "22,80", "-r", "500", "--source-port", "40000")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	s, code, stderr := captured(t, "198.18.0.1", "-p", "22,80", "--max-rate", "500", "-g", "40000", "-sS", "-Pn", "--open")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if s.cfg.Rate != 500 || s.cfg.SourcePortLo != 40000 || s.cfg.SourcePortHi != 40000 || s.cfg.Ports.Len() != 2 || s.cfg.UDPPorts.Len() != 0 || s.cfg.Show != base.cfg.Show {
		t.Errorf("nmap flags: rate %v, source ports %d-%d, %d TCP %d UDP ports, show %v (without them: %v)",
			s.cfg.Rate, s.cfg.SourcePortLo, s.cfg.SourcePortHi, s.cfg.Ports.Len(), s.cfg.UDPPorts.Len(), s.cfg.Show, base.cfg.Show)
	}
	if base.cfg.SourcePortLo != 40000 || base.cfg.SourcePortHi != 40000 {
		t.Errorf("--source-port 40000: %d-%d", base.cfg.SourcePortLo, base.cfg.SourcePortHi)
	}
	// -sS -sU: ports without a prefix both ways, as in nmap.
	s, code, stderr = captured(t, "198.18.0.1", "-p", "53,T:22,U:161", "-sS", "-sU")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if got, want := s.portSpec+" "+s.udpPortSpec, "22,53 53,161"; got != want {
		t.Errorf("-sS -sU -p 53,T:22,U:161: TCP UDP %q, want %q", got, want)
	}
	// -sU alone stays UDP only.
	if s, _, _ := captured(t, "198.18.0.1", "-p", "53", "-sU"); s.cfg.Ports.Len() != 0 || s.cfg.UDPPorts.Len() != 1 {
		t.Errorf("-sU -p 53: %d TCP %d UDP", s.cfg.Ports.Len(), s.cfg.UDPPorts.Len())
	}
	// --open with --show contradicts: one line, exit 2.
	_, code, stderr = captured(t, "198.18.0.1", "-p", "80", "--open", "--show", "closed")
	if code != exitUsage || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, `"closed"`) {
		t.Errorf("--open --show closed: exit %d, %q", code, stderr)
	}
}

// TestNmapOutputFlags: -oN FILE is the text format; -oA BASE writes BASE.nmap,
// BASE.xml and BASE.gnmap, each the same bytes as -oN, -oX and -oG write.
func TestNmapOutputFlags(t *testing.T) {
	dir := t.TempDir()
	write := func(args ...string) {
		t.Helper()
		s, code, stderr := captured(t, append([]string{"198.19.0.5", "-p", "22", "--seed", "1", "-o", filepath.Join(dir, "main.txt")}, args...)...)
		if code != exitOK {
			t.Fatalf("%q: exit %d: %s", args, code, stderr)
		}
		info := scanInfo(&s)
		info.Start = time.Unix(1700000000, 0) // the same scan, for comparing the files
		info.Finished = time.Unix(1700000001, 0)
		w, closeFiles, err := openOutputsFor(&s, io.Discard, info, nil)
		if err != nil {
			t.Fatal(err)
		}
		r := result.Result{IP: s.cfg.Targets.At(0), Port: 22, Proto: result.TCP, State: result.Open, Reason: result.ReasonSYNACK}
		w.Write(&r)
		w.End(output.End{HostsProbed: 1, HostsUp: 1})
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		closeFiles()
	}
	write("-oA", filepath.Join(dir, "all"))
	write("-oN", filepath.Join(dir, "n.txt"), "-oX", filepath.Join(dir, "x.xml"), "-oG", filepath.Join(dir, "g.gnmap"))
	for _, pair := range [][2]string{{"all.nmap", "n.txt"}, {"all.xml", "x.xml"}, {"all.gnmap", "g.gnmap"}} {
		a, errA := os.ReadFile(filepath.Join(dir, pair[0]))
		b, errB := os.ReadFile(filepath.Join(dir, pair[1]))
		if errA != nil || errB != nil || len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("%s (%v) differs from %s (%v):\n%s\n---\n%s", pair[0], errA, pair[1], errB, a, b)
		}
		if !bytes.Contains(a, []byte("22")) {
			t.Errorf("%s lacks port 22: %s", pair[0], a)
		}
	}
	// -oA BASE and -oX BASE.xml name one file twice: one line, exit 2.
	_, code, stderr := captured(t, "198.19.0.5", "-p", "22", "-oA", filepath.Join(dir, "b"), "-oX", filepath.Join(dir, "b.xml"))
	if code != exitUsage || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, "b.xml") {
		t.Errorf("-oA b -oX b.xml: exit %d, %q", code, stderr)
	}
}

// TestBadInputAsTyped: errors quote the token as typed and say what is wanted;
// exit 2, one line, nothing started (captured checks that).
func TestBadInputAsTyped(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "targets.txt")
	if err := os.WriteFile(list, []byte("# lab\n198.19.0.1\n\n198.19.0.2, 198.19.0.0/33 # bad\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		want []string // every one in the line
	}{
		{[]string{"10.0.0.1", "-p", "80", "-r", "99999999999999999999"}, []string{`invalid rate "99999999999999999999"`}},
		{[]string{"10.0.0.1", "-p", "80", "--max-rate=99999999999999999999"}, []string{`invalid rate "99999999999999999999"`}},
		{[]string{"10.0.0.1", "-p", "80", "-r", "1e9"}, []string{`invalid rate "1e9"`}},
		{[]string{"10.0.0.1", "-p", "80", "-r", "fast"}, []string{`invalid rate "fast": not a number`}},
		{[]string{"10.0.0.1", "-p", "80", "--wait", "5"}, []string{`invalid wait "5"`, "unit", "5s"}},
		{[]string{"10.0.0.1", "-p", "80", "--wait", "soon"}, []string{`invalid wait "soon"`, "500ms"}},
		{[]string{"10.0.0.1", "-p", "80", "--wait", "0s"}, []string{`invalid wait "0s"`}},
		{[]string{"10.0.0.1", "-p", "80", "--retries", "99999999999999999999"}, []string{`invalid retries "99999999999999999999"`, "out of range"}},
		{[]string{"10.0.0.1", "-p", "22,,80"}, []string{`invalid port "22,,80"`, `after "22"`}},
		{[]string{"10.0.0.1", "-p", "U:53,,T:22"}, []string{`invalid port "U:53,,T:22"`, `after "U:53"`}},
		{[]string{"2001:2::/64", "-p", "80"}, []string{`invalid target "2001:2::/64"`, "2^64 addresses", "hitlist", "-iL FILE"}},
		{[]string{"-iL", list, "-p", "80"}, []string{list + " line 4:", `invalid target "198.19.0.0/33"`}},
		{[]string{"-iL", list, "-p", "80", "198.19.0.0/33"}, []string{`invalid target "198.19.0.0/33"`}}, // typed: no file line
		{[]string{"10.0.0.1", "-p", "80", "-g", "0"}, []string{`invalid source-port "0"`}},
	}
	for _, c := range cases {
		_, code, stderr := captured(t, c.args...)
		line := strings.TrimSpace(stderr)
		if code != exitUsage || strings.Contains(line, "\n") {
			t.Errorf("%q: exit %d, stderr %q; want 2 and one line", c.args, code, stderr)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(line, w) {
				t.Errorf("%q: %q lacks %q", c.args, line, w)
			}
		}
		if strings.Contains(line, "1e+") {
			t.Errorf("%q: %q quotes a reformatted number", c.args, line)
		}
	}
	if _, _, stderr := captured(t, "-iL", list, "-p", "80", "198.19.0.0/33"); strings.Contains(stderr, "line") {
		t.Errorf("a typed bad target named a file line: %q", stderr)
	}
}

// registryRowsOf runs "fastscan registry --json args..." and returns its rows.
func registryRowsOf(t *testing.T, args ...string) []registryRow {
	t.Helper()
	out, code, msg := runRegistryCmd(t, append([]string{"--json"}, args...)...)
	if code != exitOK {
		t.Fatalf("registry %q: exit %d: %s", args, code, msg)
	}
	var rows []registryRow
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r registryRow
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("registry %q: line %q: %v", args, line, err)
		}
		rows = append(rows, r)
	}
	return rows
}

// wantRegistryRows is what the registry package itself says of ports lo-hi over
// protos: the truth the command is checked against.
func wantRegistryRows(lo, hi uint16, protos ...registry.Proto) map[registryRow]bool {
	want := map[registryRow]bool{}
	for _, p := range protos {
		for _, s := range registry.Default().Range(lo, hi, p) {
			want[rowOf(s)] = true
		}
	}
	return want
}

// TestRegistryPortsSyntax: fastscan registry takes -p's syntax, as arguments or
// with -p, and prints every row the registry has for those ports once.
func TestRegistryPortsSyntax(t *testing.T) {
	all := registry.Protos()
	cases := []struct {
		args []string
		want map[registryRow]bool
	}{
		{[]string{"22,80"}, union(wantRegistryRows(22, 22, all...), wantRegistryRows(80, 80, all...))},
		{[]string{"-p", "22,80"}, union(wantRegistryRows(22, 22, all...), wantRegistryRows(80, 80, all...))},
		{[]string{"-p22,80"}, union(wantRegistryRows(22, 22, all...), wantRegistryRows(80, 80, all...))},
		{[]string{"49000-"}, wantRegistryRows(49000, 65535, all...)},
		{[]string{"6660-"}, wantRegistryRows(6660, 65535, all...)},
		{[]string{"22/tcp"}, wantRegistryRows(22, 22, registry.TCP)},
		{[]string{"U:53,T:22"}, union(wantRegistryRows(53, 53, registry.UDP), wantRegistryRows(22, 22, registry.TCP))},
		{[]string{"80,80,79-81", "80"}, wantRegistryRows(79, 81, all...)},
		{[]string{"-p", "80", "80/tcp"}, wantRegistryRows(80, 80, all...)},
	}
	for _, c := range cases {
		rows := registryRowsOf(t, c.args...)
		seen := map[registryRow]bool{}
		for _, r := range rows {
			if seen[r] {
				t.Errorf("registry %q: row %+v twice", c.args, r)
			}
			seen[r] = true
			if !c.want[r] {
				t.Errorf("registry %q: row %+v not in the registry's answer", c.args, r)
			}
		}
		if len(seen) != len(c.want) || len(c.want) == 0 {
			t.Errorf("registry %q: %d rows, the registry has %d", c.args, len(seen), len(c.want))
		}
	}
	// Port 80 has several names (IANA's aliases): each is its own row, once.
	if names := wantRegistryRows(80, 80, registry.TCP); len(names) < 2 {
		t.Logf("port 80/tcp has %d names in the registry", len(names))
	}
}

func union(a, b map[registryRow]bool) map[registryRow]bool {
	out := map[registryRow]bool{}
	for r := range a {
		out[r] = true
	}
	for r := range b {
		out[r] = true
	}
	return out
}

// TestRegistryUsageErrors: a usage error of fastscan registry is one line and exit
// 2, never the help.
func TestRegistryUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--bogus"}, "-bogus"},
		{[]string{"--bogus", "22"}, "-bogus"},
		{[]string{"--proto"}, "proto"},
		{[]string{"22,,80"}, `"22,,80"`},
		{[]string{"22/icmp"}, `"22/icmp"`},
		{[]string{"-p", "0"}, `"0"`},
		{[]string{"90-80"}, `"90-80"`},
	} {
		out, code, msg := runRegistryCmd(t, tc.args...)
		if code != exitUsage || strings.Count(msg, "\n") != 1 || !strings.Contains(msg, tc.msg) || out != "" {
			t.Errorf("registry %q: exit %d, stderr %q, stdout %q; want 2 and one line naming %q", tc.args, code, msg, out, tc.msg)
		}
	}
}

// TestReadmeNmapTable keeps README's "Coming from nmap" true: every flag named in
// its fastscan column is a flag of fastscan's, and the flags it says are not
// accepted are refused in one line with exit status 2.
func TestReadmeNmapTable(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Coming from nmap\n")
	if !ok {
		t.Fatal(`README has no "## Coming from nmap" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	defined := map[string]bool{}
	for _, f := range newApp(io.Discard, io.Discard, nil).Flags {
		for _, n := range f.Names() {
			defined[n] = true
		}
	}
	code := regexp.MustCompile("`([^`]*)`")
	flag := regexp.MustCompile(`^--?([A-Za-z][A-Za-z-]*)`)
	rows := 0
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 || strings.HasPrefix(strings.TrimSpace(cells[1]), "---") || strings.TrimSpace(cells[1]) == "nmap" {
			continue
		}
		rows++
		for _, m := range code.FindAllStringSubmatch(cells[2], -1) {
			for _, word := range strings.Fields(m[1]) {
				f := flag.FindStringSubmatch(word)
				if f == nil {
					continue
				}
				name := f[1]
				if name == "p" || strings.HasPrefix(word, "-p") { // -p22, -p- are -p
					name = "ports"
				}
				if len(expandRepeated([]string{word})) > 1 { // -vv is -v -v
					name = name[:1]
				}
				if !defined[name] {
					t.Errorf("README's nmap table names %q (in %q), which fastscan does not define", word, strings.TrimSpace(line))
				}
			}
		}
	}
	if rows < 15 {
		t.Errorf("README's nmap table has %d rows", rows)
	}
	for _, refused := range []string{"-T4", "--min-rate", "-O", "-A", "-sC", "-sA"} {
		args := []string{"198.18.0.1", "-p", "80", refused}
		if refused == "--min-rate" {
			args = append(args, "100")
		}
		_, code, stderr := captured(t, args...)
		if code != exitUsage || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("%s: exit %d, %q; want 2 and one line", refused, code, stderr)
		}
	}
}

// TestScanTooLarge: a scan larger than the engine can index is refused in one
// line with exit 2 before anything is sent; for IPv6 the message suggests a
// hitlist. (Parsing only: no scan runs.)
func TestScanTooLarge(t *testing.T) {
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"2001:2::/72", "-p", "1-65535"}, []string{"72057594037927936 addresses x 65535 ports", "hitlist", "-iL FILE"}},
		{[]string{"2001:2::/80", "-p", "1-65535", "-sU"}, []string{"larger than the", "hitlist"}},
	} {
		_, code, stderr := captured(t, c.args...)
		msg := strings.TrimSpace(stderr)
		if code != exitUsage || strings.Contains(msg, "\n") {
			t.Errorf("%q: exit %d, %q; want one line, exit %d", c.args, code, msg, exitUsage)
		}
		for _, w := range c.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%q: %q lacks %q", c.args, msg, w)
			}
		}
	}
	if _, code, stderr := captured(t, "2001:2::/96", "-p", "1-65535"); code != exitOK {
		t.Errorf("a /96 x 65535 ports (2^48 targets) refused: %s", stderr)
	}
}

package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/fastscan/fastscan/citest"
	"github.com/fastscan/fastscan/privdrop"
)

// countingLookup answers every host name with 198.18.0.99 and counts the calls: the
// tests never ask the system's resolver.
func countingLookup(calls *[]string) func(string) ([]netip.Addr, error) {
	return func(host string) ([]netip.Addr, error) {
		*calls = append(*calls, host)
		return []netip.Addr{netip.MustParseAddr("198.18.0.99")}, nil
	}
}

// TestNoLookupBeforeArgumentsChecked: help and every bad argument end the command
// without a lookup; a good command line looks each host name up once; -n refuses a
// host name, naming it.
func TestNoLookupBeforeArgumentsChecked(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		code    int
		lookups int
		stderr  string // a part of standard error
	}{
		{args: []string{"help"}},
		{args: []string{"help", "replay"}},
		{args: []string{"--help"}},
		{args: []string{"example.test", "-p", "22", "-r", "-5"}, code: exitUsage, stderr: "invalid rate"},
		{args: []string{"example.test", "-p", "99999"}, code: exitUsage},
		{args: []string{"example.test"}, code: exitUsage, stderr: "no ports"},
		{args: []string{"example.test", "-p", "22", "--no-such-flag"}, code: exitUsage},
		{args: []string{"example.test", "-p", "22", "--format", "nope"}, code: exitUsage},
		{args: []string{"example.test", "-p", "22", "--show", "nope"}, code: exitUsage},
		{args: []string{"example.test", "-p", "22", "-i", "no-such-interface0"}, code: exitUsage},
		{args: []string{"example.test", "10.0.0.300", "-p", "22"}, code: exitUsage, stderr: "10.0.0.300"},
		{args: []string{"example.test", "-p", "22"}, lookups: 1},
		{args: []string{"example.test/30,198.19.0.1,other.test", "-p", "22"}, lookups: 2},
		{args: []string{"-n", "example.test", "-p", "22"}, code: exitUsage, stderr: `"example.test"`},
		{args: []string{"-n", "198.19.0.1", "example.test", "-p", "22"}, code: exitUsage, stderr: "-n"},
		{args: []string{"-n", "198.19.0.1", "-p", "22", "--syslog", "udp://collector.test:514"}, code: exitUsage, stderr: "collector.test"},
		{args: []string{"-n", "198.19.0.1", "-p", "22", "--syslog", "udp://198.18.0.2:514"}},
		{args: []string{"replay", "--seed", "1", "example.test", "-p", "22", "--format", "nope", "x.pcap"}, code: exitUsage},
		{args: []string{"replay", "-n", "--seed", "1", "example.test", "-p", "22", "x.pcap"}, code: exitUsage, stderr: `"example.test"`},
	} {
		var calls []string
		ctx := withLookup(context.Background(), countingLookup(&calls))
		var stdout, stderr bytes.Buffer
		noScan := func(context.Context, settings, io.Writer, io.Writer) error { return nil }
		code := run(ctx, append([]string{"fastscan"}, tc.args...), &stdout, &stderr, noScan)
		if code != tc.code || len(calls) != tc.lookups || !strings.Contains(stderr.String(), tc.stderr) {
			t.Errorf("%q: exit %d, lookups %q, stderr %q; want exit %d, %d lookups, stderr with %q",
				tc.args, code, calls, stderr.String(), tc.code, tc.lookups, tc.stderr)
		}
	}
}

func TestResolvedTargets(t *testing.T) {
	var calls []string
	ctx := withLookup(context.Background(), countingLookup(&calls))
	var got settings
	scanFn := func(_ context.Context, s settings, _, _ io.Writer) error { got = s; return nil }
	if code := run(ctx, []string{"fastscan", "example.test/31", "198.19.0.1", "-p", "22"}, &bytes.Buffer{}, &bytes.Buffer{}, scanFn); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	var addrs []string
	for _, r := range got.cfg.Targets.Ranges() {
		addrs = append(addrs, r.First.String()+"-"+r.Last.String())
	}
	if want := []string{"198.18.0.98-198.18.0.99", "198.19.0.1-198.19.0.1"}; !slices.Equal(addrs, want) {
		t.Fatalf("targets %v, want %v (no placeholder left)", addrs, want)
	}
}

func TestOutputFilesAndFreshOnes(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, "old.xml")
	if err := os.WriteFile(old, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := settings{output: filepath.Join(dir, "a.txt"), pcap: filepath.Join(dir, "r.pcap"), status: "-",
		extra: []extraOutput{{flag: "oX", format: "xml", file: old}, {flag: "oJ", format: "jsonl", file: "-"}}}
	if got, want := outputFiles(&s), []string{s.output, s.pcap, old}; !slices.Equal(got, want) {
		t.Fatalf("outputFiles = %q, want %q", got, want)
	}
	t.Setenv("SUDO_UID", "4242")
	t.Setenv("SUDO_GID", "4343")
	p, err := planPrivilegeDrop(&s)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{s.output, s.pcap}; !slices.Equal(p.fresh, want) || p.creds != (privdrop.Creds{UID: 4242, GID: 4343, FromSudo: true}) {
		t.Fatalf("plan %+v, want fresh %q for 4242:4343", p, want)
	}
	t.Setenv("SUDO_UID", "bob")
	if _, err := planPrivilegeDrop(&s); err == nil {
		t.Fatal("SUDO_UID=bob accepted")
	}
	s.keepPrivileges = true
	if p, err := planPrivilegeDrop(&s); err != nil || !p.keep {
		t.Fatalf("--keep-privileges: %+v %v", p, err)
	}
}

// TestChownCreated gives a file fastscan created as root to the sudo user, and
// leaves alone a symbolic link and a file someone else owns.
func TestChownCreated(t *testing.T) {
	citest.RequireRoot(t)
	dir := t.TempDir()
	c := privdrop.Creds{UID: 4242, GID: 4343, FromSudo: true}
	owner := func(name string) (uint32, uint32) {
		var st syscall.Stat_t
		if err := syscall.Lstat(name, &st); err != nil {
			t.Fatal(err)
		}
		return st.Uid, st.Gid
	}
	made := filepath.Join(dir, "made")
	os.WriteFile(made, nil, 0o644)
	if err := chownCreated(made, c); err != nil {
		t.Fatal(err)
	}
	if u, g := owner(made); u != 4242 || g != 4343 {
		t.Errorf("created file owned by %d:%d", u, g)
	}
	victim := filepath.Join(dir, "victim")
	os.WriteFile(victim, nil, 0o600)
	link := filepath.Join(dir, "link")
	os.Symlink(victim, link)
	if err := chownCreated(link, c); err == nil {
		t.Error("followed a symbolic link")
	}
	hard := filepath.Join(dir, "hard")
	os.Link(victim, hard)
	if err := chownCreated(hard, c); err == nil {
		t.Error("gave away a file with two links")
	}
	if u, _ := owner(victim); u != 0 {
		t.Errorf("victim owned by %d", u)
	}
	if err := chownCreated(filepath.Join(dir, "missing"), c); !errors.Is(err, syscall.ENOENT) {
		t.Errorf("missing file: %v", err)
	}
}

func TestHelpArgs(t *testing.T) {
	for in, want := range map[string]string{
		"fastscan help":              "fastscan --help",
		"fastscan help replay":       "fastscan replay --help",
		"fastscan 10.0.0.1 help":     "fastscan 10.0.0.1 help",
		"fastscan":                   "fastscan",
		"fastscan registry --json x": "fastscan registry --json x",
	} {
		if got := strings.Join(helpArgs(strings.Fields(in)), " "); got != want {
			t.Errorf("helpArgs(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestExclusionsAfterResolution: exclusions apply to the addresses host names
// resolve to, not to the placeholders of the first parse: a host name whose every
// address is excluded leaves nothing to scan (exit 2), one partly excluded keeps
// the rest.
func TestExclusionsAfterResolution(t *testing.T) {
	var calls []string
	ctx := withLookup(context.Background(), countingLookup(&calls))
	var got settings
	scanFn := func(_ context.Context, s settings, _, _ io.Writer) error { got = s; return nil }
	var stderr bytes.Buffer
	if code := run(ctx, []string{"fastscan", "example.test/31", "-p", "22", "--exclude", "198.18.0.98-198.18.0.99"}, &bytes.Buffer{}, &stderr, scanFn); code != exitUsage {
		t.Errorf("every resolved address excluded: exit %d (%s), want %d", code, stderr.String(), exitUsage)
	}
	if code := run(ctx, []string{"fastscan", "example.test/31", "-p", "22", "--exclude", "198.18.0.99"}, &bytes.Buffer{}, &bytes.Buffer{}, scanFn); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	if n, ok := got.cfg.Targets.Len(), got.cfg.Targets.Contains(netip.MustParseAddr("198.18.0.98")); n != 1 || !ok {
		t.Errorf("targets %v, want only 198.18.0.98", got.cfg.Targets.Ranges())
	}
}

// TestExclusionOfPlaceholder: an exclusion covering 0.0.0.0 (what host names
// stand for before they resolve) does not refuse a host name target: it resolves,
// and only its real addresses meet the exclusions.
func TestExclusionOfPlaceholder(t *testing.T) {
	var calls []string
	ctx := withLookup(context.Background(), countingLookup(&calls))
	var got settings
	scanFn := func(_ context.Context, s settings, _, _ io.Writer) error { got = s; return nil }
	var stderr bytes.Buffer
	if code := run(ctx, []string{"fastscan", "example.test", "-p", "22", "--exclude", "0.0.0.0/8"}, &bytes.Buffer{}, &stderr, scanFn); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if got.cfg.Targets.Len() == 0 || got.cfg.Targets.Contains(netip.MustParseAddr("0.0.0.0")) {
		t.Errorf("targets %v", got.cfg.Targets.Ranges())
	}
}

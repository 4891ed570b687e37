package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/fastscan/fastscan/engine"
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

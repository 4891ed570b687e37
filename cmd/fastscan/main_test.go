package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fastscan/fastscan/engine"
	"github.com/fastscan/fastscan/registry"
	"github.com/fastscan/fastscan/result"
)

// captured runs the command line with a scan function that records the settings
// instead of sending anything.
func captured(t *testing.T, args ...string) (settings, int, string) {
	t.Helper()
	var got settings
	called := false
	fake := func(_ context.Context, s settings, _, _ io.Writer) error {
		got, called = s, true
		return nil
	}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), append([]string{"fastscan"}, args...), &stdout, &stderr, fake)
	if code == exitOK && !called {
		t.Fatalf("%q: exit 0 but no scan was started", args)
	}
	if code != exitOK && called {
		t.Fatalf("%q: exit %d but a scan was started", args, code)
	}
	return got, code, stderr.String()
}

// TestBriefCommandLine checks the exact command line from the README and the brief:
// flags after a target must still be parsed.
func TestBriefCommandLine(t *testing.T) {
	s, code, stderr := captured(t, "-r", "10000", "10.0.0.0/24", "-p", "1-65535")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if s.cfg.Rate != 10000 {
		t.Errorf("rate = %v, want 10000", s.cfg.Rate)
	}
	if s.cfg.Targets.Len() != 256 || s.cfg.Targets.At(0) != netip.MustParseAddr("10.0.0.0") || s.cfg.Targets.At(255) != netip.MustParseAddr("10.0.0.255") {
		t.Errorf("targets: %d addresses from %v, want 10.0.0.0/24", s.cfg.Targets.Len(), s.cfg.Targets.At(0))
	}
	if s.cfg.Ports.Len() != 65535 || s.cfg.Ports.At(0) != 1 || s.cfg.Ports.At(65534) != 65535 {
		t.Errorf("ports: %d, want 1-65535", s.cfg.Ports.Len())
	}
}

func TestFlagsAndTargetsMixed(t *testing.T) {
	s, code, stderr := captured(t, "198.19.0.1", "-p", "22,80", "198.19.0.10-20", "--retries", "3",
		"--wait=500ms", "-q", "--show", "closed,filtered", "198.19.1.0/30", "--seed", "42", "--format", "jsonl")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if got := s.cfg.Targets.Len(); got != 1+11+4 {
		t.Errorf("%d targets, want 16", got)
	}
	if s.cfg.Ports.Len() != 2 || s.cfg.Retries != 3 || s.cfg.Wait != 500*time.Millisecond || !s.quiet || s.cfg.Seed != 42 || s.format != "jsonl" {
		t.Errorf("settings not all parsed: %+v", s)
	}
	if !s.cfg.Show.Has(result.Closed) || !s.cfg.Show.Has(result.Filtered) {
		t.Errorf("show = %b, want closed and filtered", s.cfg.Show)
	}
}

func TestNmapPortForms(t *testing.T) {
	s, code, stderr := captured(t, "-p-", "127.0.0.1")
	if code != exitOK || s.cfg.Ports.Len() != 65535 {
		t.Fatalf("-p-: exit %d, %d ports: %s", code, s.cfg.Ports.Len(), stderr)
	}
	s, code, stderr = captured(t, "127.0.0.1", "-p22,80")
	if code != exitOK || s.cfg.Ports.Len() != 2 {
		t.Fatalf("-p22,80: exit %d, %d ports: %s", code, s.cfg.Ports.Len(), stderr)
	}
}

func TestInputFile(t *testing.T) {
	name := filepath.Join(t.TempDir(), "targets.txt")
	if err := os.WriteFile(name, []byte("# lab\n198.19.0.0/30\n\n198.19.0.8 # one more\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, code, stderr := captured(t, "-iL", name, "-p", "80")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if s.cfg.Targets.Len() != 5 {
		t.Fatalf("%d targets from the file, want 5", s.cfg.Targets.Len())
	}
}

// TestBadInput checks every kind of bad input: exit status 2, one line on stderr that
// names the bad token, and no scan started (captured fails the test otherwise).
func TestBadInput(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.txt")
	cases := []struct {
		args  []string
		token string
	}{
		{[]string{"10.0.0.0/33", "-p", "80"}, "10.0.0.0/33"},
		{[]string{"10.0.0.300", "-p", "80"}, "10.0.0.300"},
		{[]string{"10.0.0.9-10.0.0.1", "-p", "80"}, "10.0.0.9-10.0.0.1"},
		{[]string{"10.0.0.1", "-p", "0"}, `"0"`},
		{[]string{"10.0.0.1", "-p", "65536"}, "65536"},
		{[]string{"10.0.0.1", "-p", "80,x"}, `"x"`},
		{[]string{"10.0.0.1", "-p", "90-80"}, "90-80"},
		{[]string{"-p", "80"}, "no targets"},
		{[]string{"10.0.0.1"}, "no ports"},
		{[]string{"10.0.0.1", "-p", "80", "-r", "0"}, `rate "0"`},
		{[]string{"10.0.0.1", "-p", "80", "-r", "-5"}, `rate "-5"`},
		{[]string{"10.0.0.1", "-p", "80", "-r", "fast"}, "fast"},
		{[]string{"10.0.0.1", "-p", "80", "-i", "nosuchif0"}, "nosuchif0"},
		{[]string{"-iL", missing, "-p", "80"}, missing},
		{[]string{"10.0.0.1", "-p", "80", "--source-ip", "1.2.3"}, "1.2.3"},
		{[]string{"10.0.0.1", "-p", "80", "--router-mac", "zz:00"}, "zz:00"},
		{[]string{"10.0.0.1", "-p", "80", "--format", "yaml"}, "yaml"},
		{[]string{"10.0.0.1", "-p", "80", "--show", "weird"}, "weird"},
		{[]string{"10.0.0.1", "-p", "80", "--retries", "-1"}, `retries "-1"`},
		{[]string{"10.0.0.1", "-p", "80", "--seed", "abc"}, "abc"},
		{[]string{"10.0.0.1", "-p", "80", "--source-port", "9-1"}, "9-1"},
		{[]string{"10.0.0.1", "-p", "80", "--bogus"}, "bogus"},
		{[]string{"10.0.0.1", "-p", "80", "--syslog", "localhost:514"}, "localhost:514"},
		{[]string{"10.0.0.1", "-p", "80", "--syslog", "tcp://127.0.0.1:514", "--syslog-format", "xml"}, `"xml"`},
	}
	for _, c := range cases {
		_, code, stderr := captured(t, c.args...)
		if code != exitUsage {
			t.Errorf("%q: exit %d, want %d (stderr %q)", c.args, code, exitUsage, stderr)
			continue
		}
		if strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, c.token) {
			t.Errorf("%q: stderr %q, want one line naming %q", c.args, stderr, c.token)
		}
	}
}

func TestHelpHasExamples(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"fastscan", "--help"}, &stdout, &stderr, nil)
	if code != exitOK {
		t.Fatalf("--help exit %d", code)
	}
	for _, want := range []string{"Examples:", "fastscan -r 10000 10.0.0.0/24 -p 1-65535", "--ports", "--rate", "--input-file", "setcap",
		"-iL FILE", "-oX FILE", "-oG FILE", "-oJ FILE", "-sU "} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("--help lacks %q", want)
		}
	}
	// nmap's names show with one dash, as nmap users type them.
	for _, name := range []string{"iL", "oJ", "oC", "oL", "oX", "oG", "sU"} {
		if strings.Contains(stdout.String(), "--"+name) {
			t.Errorf("--help shows --%s, want -%s", name, name)
		}
	}
}

// TestNmapStyleFlagsTakeEitherDash: -iL and --iL, -oX and --oX, -sU and --sU all work.
func TestNmapStyleFlagsTakeEitherDash(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "targets.txt")
	if err := os.WriteFile(list, []byte("127.0.0.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, dash := range []string{"-", "--"} {
		s, code, stderr := captured(t, dash+"iL", list, "-p", "22", dash+"oX", filepath.Join(dir, "scan.xml"), dash+"sU")
		if code != exitOK || s.cfg.Targets.Len() != 1 || s.cfg.UDPPorts.Len() != 1 {
			t.Errorf("%siL/%soX/%ssU: exit %d, %d targets, %d UDP ports: %s", dash, dash, dash, code, s.cfg.Targets.Len(), s.cfg.UDPPorts.Len(), stderr)
		}
	}
}

func TestReorderArgs(t *testing.T) {
	app := newApp(io.Discard, io.Discard, nil)
	got := reorderArgs([]string{"fastscan", "-r", "10000", "10.0.0.0/24", "-p", "1-65535", "--", "-x"}, app.Flags, app.Commands)
	want := []string{"fastscan", "-r", "10000", "-p", "1-65535", "--", "10.0.0.0/24", "-x"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("reorderArgs = %q, want %q", got, want)
	}
}

// TestFlagWithoutValueLast: a flag that takes a value, given last without one,
// is a usage error naming it, also after a target (reordered, it once took the
// "--" put before the targets as its value: -o wrote a file named "--").
func TestFlagWithoutValueLast(t *testing.T) {
	for _, args := range [][]string{
		{"198.19.0.0/24", "-p", "22", "--status-json"},
		{"198.19.0.0/24", "-p", "22", "-o"},
		{"-p", "22", "198.19.0.0/24", "-oJ"},
		{"-p", "22", "--status-json"},
	} {
		_, code, stderr := captured(t, args...)
		flag := strings.TrimLeft(args[len(args)-1], "-")
		if code != exitUsage || !strings.Contains(stderr, "needs an argument: -"+flag) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("%q: exit %d, stderr %q; want 2 and one line naming %s", args, code, stderr, flag)
		}
	}
}

// TestHostnameTarget resolves a host name once, before sending ("localhost" comes from
// /etc/hosts, so no packet leaves the machine).
func TestHostnameTarget(t *testing.T) {
	s, code, stderr := captured(t, "localhost", "-p", "22")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if s.cfg.Targets.Len() == 0 || s.cfg.Targets.At(0).As4()[0] != 127 {
		t.Fatalf("localhost resolved to %d targets starting %v, want 127.x", s.cfg.Targets.Len(), s.cfg.Targets.At(0))
	}
}

func TestProgressLine(t *testing.T) {
	// The ETA is the engine's (retries and cool-downs included), not the first
	// pass's rest at the rate (0.75 s here).
	p := engine.Progress{Phase: engine.PhaseScanning, Position: 250, Targets: 1000, Sent: 250, Open: 3, Closed: 7, Remaining: 6600 * time.Millisecond}
	line := progressLine(p, 1000, 1000)
	for _, want := range []string{"scanning", "25.0%", "1000 pps", "ETA 7s", "sent 250", "open 3", "closed 7"} {
		if !strings.Contains(line, want) {
			t.Errorf("progress line %q lacks %q", line, want)
		}
	}
	p.Pass = 1
	if line := progressLine(p, 0, 1000); !strings.Contains(line, "retry 1") {
		t.Errorf("progress line %q does not say which retry", line)
	}
}

func TestTopPorts(t *testing.T) {
	s, code, stderr := captured(t, "198.19.0.0/24", "--top-ports", "20")
	if code != exitOK || s.cfg.Ports.Len() != 20 {
		t.Fatalf("--top-ports 20: exit %d, %d ports: %s", code, s.cfg.Ports.Len(), stderr)
	}
	top, err := registry.TopPorts(registry.TCP, 20)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range top {
		if !s.cfg.Ports.Contains(p) {
			t.Errorf("top port %d not scanned", p)
		}
	}
	// With -p, both: a port outside the top list is added.
	s, code, stderr = captured(t, "198.19.0.0/24", "--top-ports", "20", "-p", "65000")
	if code != exitOK || s.cfg.Ports.Len() != 21 || !s.cfg.Ports.Contains(65000) {
		t.Fatalf("--top-ports 20 -p 65000: exit %d, %d ports: %s", code, s.cfg.Ports.Len(), stderr)
	}
	for _, bad := range []string{"0", "-3", "100000"} {
		_, code, stderr = captured(t, "198.19.0.0/24", "--top-ports", bad)
		if code != exitUsage || !strings.Contains(stderr, `"`+bad+`"`) {
			t.Errorf("--top-ports %s: exit %d, stderr %q; want 2 naming it", bad, code, stderr)
		}
	}
}

func TestScanRegistryFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "iana.csv")
	os.WriteFile(good, []byte("Service Name,Port Number,Transport Protocol,Description\nmyssh,22,tcp,test\n"), 0o644)
	s, code, stderr := captured(t, "127.0.0.1", "-p", "22", "--registry", good)
	if code != exitOK || s.services.Name(22, registry.TCP) != "myssh" {
		t.Fatalf("--registry: exit %d, service %q: %s", code, s.services.Name(22, registry.TCP), stderr)
	}
	t.Setenv("FASTSCAN_REGISTRY", good)
	if s, _, _ := captured(t, "127.0.0.1", "-p", "22"); s.services.Name(22, registry.TCP) != "myssh" {
		t.Fatalf("FASTSCAN_REGISTRY not used")
	}
	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte("Service Name,Port Number,Transport Protocol,Description\nx,70000,tcp,bad\n"), 0o644)
	_, code, stderr = captured(t, "127.0.0.1", "-p", "22", "--registry", bad)
	if code != exitUsage || !strings.Contains(stderr, "line 2") {
		t.Fatalf("bad registry: exit %d, stderr %q; want 2 with the line number", code, stderr)
	}
}

func TestCompactPorts(t *testing.T) {
	for _, c := range []struct {
		in   []uint16
		want string
	}{
		{nil, ""}, {[]uint16{22}, "22"}, {[]uint16{22, 80, 443}, "22,80,443"},
		{[]uint16{1, 2, 3, 80, 1000, 1001}, "1-3,80,1000-1001"}, {[]uint16{65534, 65535}, "65534-65535"},
	} {
		if got := compactPorts(c.in); got != c.want {
			t.Errorf("compactPorts(%v) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestUDPPortSpecs(t *testing.T) {
	s, code, stderr := captured(t, "198.19.0.1", "-p", "U:53,161,T:22,80")
	if code != exitOK || fmt.Sprint(s.cfg.Ports.List()) != "[22 80]" || fmt.Sprint(s.cfg.UDPPorts.List()) != "[53 161]" {
		t.Fatalf("U:/T: ports: exit %d, tcp %v udp %v: %s", code, s.cfg.Ports.List(), s.cfg.UDPPorts.List(), stderr)
	}
	s, code, stderr = captured(t, "198.19.0.1", "-sU", "-p", "53,123")
	if code != exitOK || s.cfg.Ports.Len() != 0 || fmt.Sprint(s.cfg.UDPPorts.List()) != "[53 123]" {
		t.Fatalf("-sU: exit %d, tcp %v udp %v: %s", code, s.cfg.Ports.List(), s.cfg.UDPPorts.List(), stderr)
	}
	s, code, stderr = captured(t, "198.19.0.1", "--udp", "--top-ports", "10")
	top, _ := registry.TopPorts(registry.UDP, 10)
	if code != exitOK || s.cfg.Ports.Len() != 0 || s.cfg.UDPPorts.Len() != 10 || !s.cfg.UDPPorts.Contains(top[0]) {
		t.Fatalf("--udp --top-ports 10: exit %d, udp %v: %s", code, s.cfg.UDPPorts.List(), stderr)
	}
	if _, code, stderr = captured(t, "198.19.0.1", "-p", "U:0"); code != exitUsage || !strings.Contains(stderr, `"0"`) {
		t.Fatalf("U:0: exit %d, %q", code, stderr)
	}
}

// TestStatusLineETA: --status-json's eta_seconds is the engine's estimate of
// the whole scan (Progress.Remaining: retries and cool-downs included), not the
// first pass's rest at the rate, and 0 once the scan has ended.
func TestStatusLineETA(t *testing.T) {
	p := engine.Progress{Phase: engine.PhaseScanning, Position: 250, Targets: 1000, Rate: 1000, Remaining: 6500 * time.Millisecond}
	data, err := json.Marshal(newStatusLine(time.Now(), p, 1000))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	if got["eta_seconds"] != 6.5 || got["percent"] != 25.0 {
		t.Errorf("status line %s: want eta_seconds 6.5 and percent 25", data)
	}
	p.Phase = engine.PhaseDone
	if l := newStatusLine(time.Now(), p, 0); l.ETASeconds != 0 {
		t.Errorf("a finished scan's status line has eta_seconds %v, want 0", l.ETASeconds)
	}
}

package main

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/fastscan/fastscan/citest"
	"github.com/fastscan/fastscan/lab"
	"github.com/fastscan/fastscan/target"
)

func TestPrintLayoutNamesEverything(t *testing.T) {
	var b bytes.Buffer
	tr := lab.DefaultTruth()
	printLayout(&b, "fsl000001", "fsl000001-s", "fsl000001-r", tr)
	out := b.String()
	want := []string{"fsl000001-s", "fsl000001-r", "ip netns exec fsl000001-s", tr.RoutedRange.String(),
		tr.AnyIPPrefix.String(), tr.BlackholePrefix.String(), tr.ProhibitedPrefix.String(), "198.19.1.10:5432",
		tr.RoutedRange6.String(), tr.AnyIPPrefix6.String(), tr.BlackholePrefix6.String(), tr.ProhibitedPrefix6.String(),
		tr.AddrUnreachablePrefix6.String(), tr.PortUnreachablePrefix6.String(), "[2001:2:0:100::10a]:5432",
		tr.RemoteWANLinkLocal.String(), tr.ScannerWANAddr6.String(), tr.RemoteWANAddr6.String(), tr.ScannerLANAddr6.String()}
	for _, h := range tr.Hosts {
		want = append(want, h.Addr.String(), h.Addr6.String(), macString(h.MAC), portList(h.Ports))
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("layout lacks %q:\n%s", w, out)
		}
	}
}

func TestSelectNamespaces(t *testing.T) {
	names := []string{"fsl000001-s", "fsl000001-r", "fsl000002-s"}
	if got := selectNamespaces(names, nil); !slices.Equal(got, names) {
		t.Errorf("no ids: %v", got)
	}
	if got := selectNamespaces(names, []string{"fsl000002"}); !slices.Equal(got, []string{"fsl000002-s"}) {
		t.Errorf("id fsl000002: %v", got)
	}
	if got := selectNamespaces(names, []string{"fsl00000"}); len(got) != 0 {
		t.Errorf("an id prefix must not match: %v", got)
	}
}

func TestPrefixRange(t *testing.T) {
	for _, c := range []struct{ prefix, first, last string }{
		{"198.19.0.0/16", "198.19.0.0", "198.19.255.255"},
		{"198.18.1.77/24", "198.18.1.0", "198.18.1.255"},
		{"198.18.1.7/32", "198.18.1.7", "198.18.1.7"},
		{"0.0.0.0/0", "0.0.0.0", "255.255.255.255"},
	} {
		first, last := prefixRange(netip.MustParsePrefix(c.prefix))
		if first.String() != c.first || last.String() != c.last {
			t.Errorf("prefixRange(%s) = %s..%s, want %s..%s", c.prefix, first, last, c.first, c.last)
		}
	}
}

func TestDemoScansAreValidAndShowEveryState(t *testing.T) {
	tr := lab.DefaultTruth()
	var anyOpen, anyFiltered bool
	var hosts []string
	for _, s := range demoScans() {
		if s.Host == "" && len(hosts) > 0 {
			t.Errorf("demo scan %v of the lab's ground truth after a scan of an extra host: that host would be in it", s.args())
		}
		if s.Host != "" {
			hosts = append(hosts, s.Host)
			if s.Check == nil || s.JSONL == "" || !slices.Contains(s.Flags, s.JSONL) {
				t.Errorf("demo scan of the %s host %v: no check of its -oJ file", s.Host, s.args())
			}
			continue
		}
		p, err := netip.ParsePrefix(s.Target)
		if err != nil {
			t.Fatalf("%q: %v", s.Target, err)
		}
		ports, err := target.ParsePorts(s.Ports)
		if err != nil {
			t.Fatalf("%q: %v", s.Ports, err)
		}
		first, last := lab.PrefixBounds(p)
		open, closed, filtered, _ := tr.Count(first, last, ports.List())
		if open+closed+filtered == 0 {
			t.Errorf("demo scan %s -p %s finds nothing in the lab", s.Target, s.Ports)
		}
		anyOpen = anyOpen || open > 0
		anyFiltered = anyFiltered || filtered > 0
		args := s.args()
		if !slices.Contains(args, s.Target) || !slices.Contains(args, s.Ports) {
			t.Errorf("args %v lack the target or ports", args)
		}
	}
	if !anyOpen || !anyFiltered {
		t.Errorf("the demo shows open ports: %v, filtered ports: %v; want both", anyOpen, anyFiltered)
	}
	if !slices.Contains(hosts, hostRealServers) || !slices.Contains(hosts, hostSynProxy) {
		t.Errorf("the demo scans the extra hosts %v; want the real servers and the SYN proxy", hosts)
	}
}

func TestPrintExpectedCountsAndLists(t *testing.T) {
	var b bytes.Buffer
	err := printExpected(&b, lab.DefaultTruth(), demoScan{Target: "198.18.1.0/24", Ports: "1-1024"}, installed{})
	if err != nil {
		t.Fatal(err)
	}
	out := b.String()
	// H1 22,80; H2 443,631; H3 25,53,1000.
	for _, w := range []string{"10 open", "4086 closed", "0 filtered", "258048 down", "198.18.1.20:631", "198.18.1.30:1000", "198.18.1.50:445"} {
		if !strings.Contains(out, w) {
			t.Errorf("expected-results text lacks %q:\n%s", w, out)
		}
	}
	if err := printExpected(&b, lab.DefaultTruth(), demoScan{Target: "nonsense", Ports: "1"}, installed{}); err == nil {
		t.Error("a bad target was accepted")
	}
}

func TestDownNeedsAllOrIDs(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := newApp(&out, &errOut).Run([]string{"fastlab", "down"}); err == nil {
		t.Error("down without --all or ids succeeded")
	}
	if err := newApp(&out, &errOut).Run([]string{"fastlab", "down", "--all", "fsl000001"}); err == nil {
		t.Error("down with both --all and ids succeeded")
	}
}

// writeScript writes an executable shell script into dir.
func writeScript(t *testing.T, dir, name, body string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// demoLabID finds the lab id the demo printed.
func demoLabID(t *testing.T, out string) string {
	t.Helper()
	m := regexp.MustCompile(`lab (fsl[0-9a-f]{6}) is up`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("demo output names no lab:\n%s", out)
	}
	return m[1]
}

func assertGone(t *testing.T, id string) {
	t.Helper()
	names, err := lab.LeftoverNamespaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if strings.HasPrefix(n, id+"-") {
			t.Errorf("namespace %s left behind", n)
		}
	}
}

func TestDemoRunsScannerInsideTheLab(t *testing.T) {
	citest.RequireRoot(t)
	dir := t.TempDir()
	// The fake scanner proves it runs in the scanner namespace and logs its arguments.
	log := filepath.Join(dir, "args.log")
	scanner := writeScript(t, dir, "fake-scan",
		"ip -o -4 addr show | grep -q ' 198.18.0.1/30 ' || { echo not in the scanner namespace; exit 3; }\n"+
			"echo \"$@\" >> "+log+"\necho fake-scan-output\n")
	var out, errOut bytes.Buffer
	if err := runDemo(context.Background(), &out, &errOut, scanner, uncheckedDemoScans()); err != nil {
		t.Fatalf("demo: %v\n%s%s", err, out.String(), errOut.String())
	}
	assertGone(t, demoLabID(t, out.String()))
	if n := strings.Count(out.String(), "fake-scan-output"); n != len(demoScans()) {
		t.Errorf("scanner output streamed %d times, want %d:\n%s", n, len(demoScans()), out.String())
	}
	logged, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range demoScans() {
		if !strings.Contains(string(logged), strings.Join(s.args(), " ")) {
			t.Errorf("scanner was not run with %v; log:\n%s", s.args(), logged)
		}
		if !strings.Contains(out.String(), strings.Join(s.args(), " ")) {
			t.Errorf("the command line %v was not printed", s.args())
		}
	}
}

func TestDemoTearsDownWhenScannerFails(t *testing.T) {
	citest.RequireRoot(t)
	scanner := writeScript(t, t.TempDir(), "failing-scan", "echo boom >&2\nexit 2\n")
	var out, errOut bytes.Buffer
	if err := runDemo(context.Background(), &out, &errOut, scanner, uncheckedDemoScans()); err == nil {
		t.Fatal("demo succeeded with a failing scanner")
	}
	assertGone(t, demoLabID(t, out.String()))
	if !strings.Contains(errOut.String(), "boom") {
		t.Errorf("scanner stderr was not streamed: %q", errOut.String())
	}
}

func TestDemoTearsDownWhenInterrupted(t *testing.T) {
	citest.RequireRoot(t)
	scanner := writeScript(t, t.TempDir(), "slow-scan", "echo started\nexec sleep 30\n")
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut bytes.Buffer
	done := make(chan error, 1)
	pr := &notifyWriter{w: &out, word: "started", hit: cancel}
	go func() { done <- runDemo(ctx, pr, &errOut, scanner, uncheckedDemoScans()) }()
	if err := <-done; err == nil {
		t.Fatal("an interrupted demo reported success")
	}
	assertGone(t, demoLabID(t, out.String()))
}

// notifyWriter calls hit once the text it passes on contains word.
type notifyWriter struct {
	w    *bytes.Buffer
	word string
	hit  func()
}

func (n *notifyWriter) Write(p []byte) (int, error) {
	k, err := n.w.Write(p)
	if strings.Contains(n.w.String(), n.word) {
		n.hit()
	}
	return k, err
}

// uncheckedDemoScans are demoScans without their checks (for fake scanners,
// which write no results).
func uncheckedDemoScans() []demoScan {
	scans := demoScans()
	for i := range scans {
		scans[i].Check = nil
	}
	return scans
}

// TestDemoCheckFailsTheDemo: a scan whose results differ from the ground
// truth fails the demo (the fake scanner reports nothing), and the lab with
// its extra hosts is torn down.
func TestDemoCheckFailsTheDemo(t *testing.T) {
	citest.RequireRoot(t)
	for _, tool := range []string{"sshd", "nginx", "redis-server", "smtpd", "dpkg-query", "ssh-keygen"} {
		citest.RequireTool(t, tool)
	}
	var scans []demoScan
	for _, s := range demoScans() {
		if s.Host != "" {
			scans = append(scans, s)
		}
	}
	scanner := writeScript(t, t.TempDir(), "empty-scan", "touch realservers.jsonl synproxy.jsonl synproxy-sv.jsonl\n")
	var out, errOut bytes.Buffer
	err := runDemo(context.Background(), &out, &errOut, scanner, scans)
	if err == nil || !strings.Contains(err.Error(), "mismatch") {
		t.Fatalf("demo with a scanner that finds nothing: %v\n%s", err, out.String())
	}
	if n := strings.Count(out.String(), "MISMATCH"); n != len(scans) {
		t.Errorf("%d mismatches reported, want %d:\n%s", n, len(scans), out.String())
	}
	assertGone(t, demoLabID(t, out.String()))
}

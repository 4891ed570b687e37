package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fastscan/fastscan/lab"
	"github.com/fastscan/fastscan/lab/labtest"
	"github.com/fastscan/fastscan/output/outputtest"
)

// startSynProxy starts the lab's SYN proxy host, stopped when the test ends
// (also when it fails).
func startSynProxy(t *testing.T, l *lab.Lab) *lab.SynProxy {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sp, err := l.StartSynProxy(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := sp.Stop(); err != nil {
			t.Errorf("SYN proxy stop: %v", err)
		}
	})
	return sp
}

// synProxyFamily is one address family of the SYN proxy test: the proxy's
// host's address and a plain LAN host's (no proxy) of the same family, with
// the plain host's open ports.
type synProxyFamily struct {
	name         string
	proxy, plain netip.Addr
	plainPorts   []uint16
}

// synProxyFamilies are the SYN proxy host's families, IPv4 and IPv6, for the
// tests that run once per family.
func synProxyFamilies(l *lab.Lab, sp *lab.SynProxy) []synProxyFamily {
	h := l.Truth().Hosts[0]
	return []synProxyFamily{{"ipv4", sp.Addr, h.Addr, h.Ports}, {"ipv6", sp.Addr6, h.Addr6, h.Ports}}
}

// TestLabSynProxy: a scan of 1-1024 on the host behind the kernel's SYN proxy
// and on a plain LAN host, once over IPv4 and once over IPv6, finds every port
// of the proxy's host open (it answers SYN-ACK everywhere) and flags that
// host, and only it, in the summary, the last --status-json line, nmap XML (a
// hostscript note, valid against nmap.dtd), a JSON lines host-note record
// (valid against the schema), a grepable comment before the closing one and,
// in a second scan, an ECS host document (valid against the ECS schema) after
// the results.
func TestLabSynProxy(t *testing.T) {
	l := labtest.Start(t)
	sp := startSynProxy(t, l)
	for _, fam := range synProxyFamilies(l, sp) {
		t.Run(fam.name, func(t *testing.T) { checkSynProxyFlagged(t, l, fam.proxy, fam.plain, fam.plainPorts) })
	}
}

// checkSynProxyFlagged scans 1-1024 on proxy (the SYN proxy's host) and plain
// (a LAN host with plainPorts open) and checks every output for the flag on
// proxy alone (see TestLabSynProxy).
func checkSynProxyFlagged(t *testing.T, l *lab.Lab, proxy, plain netip.Addr, plainPorts []uint16) {
	t.Helper()
	dir := t.TempDir()
	xmlFile, grepFile, status := filepath.Join(dir, "scan.xml"), filepath.Join(dir, "scan.gnmap"), filepath.Join(dir, "status.jsonl")
	out := scanLab(t, l, proxy.String()+","+plain.String(), "-p", "1-1024", "-r", "20000",
		"-oX", xmlFile, "-oG", grepFile, "--status-json", status)

	open := map[string]int{}
	for _, f := range out.findings {
		if f.State == "open" {
			open[f.IP]++
		}
	}
	wantPlain := 0
	for _, p := range plainPorts {
		if p <= 1024 {
			wantPlain++
		}
	}
	if open[proxy.String()] != 1024 || open[plain.String()] != wantPlain {
		t.Errorf("open ports: %v; want 1024 on %v (the proxy answers every port), %d on %v", open, proxy, wantPlain, plain)
	}

	line := fmt.Sprintf("  %v: SYN-ACK on 1024 of 1024 TCP ports probed: a SYN proxy or tarpit?\n", proxy)
	if !strings.Contains(out.stderr, line) || strings.Contains(out.stderr, plain.String()+": SYN-ACK") ||
		!strings.Contains(out.stderr, "hint: a SYN proxy or tarpit") {
		t.Errorf("summary does not flag %v alone:\n%s", proxy, out.stderr)
	}

	if len(out.notes) != 1 {
		t.Fatalf("JSON lines host notes %q, want one", out.notes)
	}
	var note struct {
		Record, IP, Note string
		SYNACKs          int `json:"syn_acks"`
		Probed           int
	}
	if err := json.Unmarshal([]byte(out.notes[0]), &note); err != nil || note.IP != proxy.String() ||
		note.Note != "open-everywhere" || note.SYNACKs != 1024 || note.Probed != 1024 {
		t.Errorf("host note %s (%v)", out.notes[0], err)
	}

	data, err := os.ReadFile(status)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	var last statusLine
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
		t.Fatal(err)
	}
	if last.OpenEverywhere != 1 || len(last.OpenEverywhereHosts) != 1 || last.OpenEverywhereHosts[0] != (statusHost{proxy.String(), 1024, 1024}) {
		t.Errorf("last status line: %s", lines[len(lines)-1])
	}

	doc, err := os.ReadFile(xmlFile)
	if err != nil {
		t.Fatal(err)
	}
	outputtest.ValidateNmapXML(t, doc)
	notes := map[string]string{}
	for _, h := range outputtest.ParseNmapXML(t, doc).Hosts {
		for _, s := range h.Scripts {
			notes[h.Addr.Addr] = s.ID + ": " + s.Output
		}
	}
	if len(notes) != 1 || !strings.HasPrefix(notes[proxy.String()], "fastscan-synproxy: SYN-ACK on 1024 of 1024") {
		t.Errorf("XML notes %q, want one on %v", notes, proxy)
	}

	grep, err := os.ReadFile(grepFile)
	if err != nil {
		t.Fatal(err)
	}
	glines := strings.Split(strings.TrimSuffix(string(grep), "\n"), "\n")
	wantNote := fmt.Sprintf("# fastscan: %v: SYN-ACK on 1024 of 1024 TCP ports probed: a SYN proxy or tarpit?", proxy)
	if n := len(glines); n < 3 || glines[n-2] != wantNote || !strings.HasPrefix(glines[n-1], "# fastscan done at ") ||
		strings.Count(string(grep), "# fastscan: ") != 1 {
		t.Errorf("grepable output does not end with the note %q and the closing comment:\n%s", wantNote, grep)
	}

	checkSynProxyECS(t, l, proxy.String())
}

// checkSynProxyECS scans 1-1024 on the SYN proxy's host at addr with --format
// ecs: every document is valid against the ECS schema, the last one, after the
// 1,024 results, is the host note on addr, its observer.ip the results' source
// address.
func checkSynProxyECS(t *testing.T, l *lab.Lab, addr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := l.Command(ctx, os.Args[0], addr, "-p", "1-1024", "-r", "20000", "--format", "ecs", "-q")
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("fastscan --format ecs: %v", err)
	}
	if n := outputtest.NewECSValidator(t).ValidateLines(t, out); n != 1024+1 {
		t.Fatalf("%d ECS documents, want 1,024 results and a note", n)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var doc struct {
		Event struct {
			Category []string `json:"category"`
			Action   string   `json:"action"`
		} `json:"event"`
		Host struct {
			IP []string `json:"ip"`
		} `json:"host"`
		Message  string `json:"message"`
		Fastscan struct {
			Note    string `json:"note"`
			SYNACKs int    `json:"syn_acks"`
			Probed  int    `json:"probed"`
		} `json:"fastscan"`
		Observer struct {
			IP []string `json:"ip"`
		} `json:"observer"`
	}
	var first struct {
		Source struct {
			IP string `json:"ip"`
		} `json:"source"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	last := lines[len(lines)-1]
	if err := json.Unmarshal([]byte(last), &doc); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(doc.Event.Category) != "[host]" || doc.Event.Action != "host-open-everywhere" || fmt.Sprint(doc.Host.IP) != "["+addr+"]" ||
		doc.Message != addr+": SYN-ACK on 1024 of 1024 TCP ports probed: a SYN proxy or tarpit?" ||
		doc.Fastscan.Note != "open-everywhere" || doc.Fastscan.SYNACKs != 1024 || doc.Fastscan.Probed != 1024 ||
		fmt.Sprint(doc.Observer.IP) != "["+first.Source.IP+"]" {
		t.Errorf("last ECS document: %s", last)
	}
	if strings.Count(string(out), `"host-open-everywhere"`) != 1 {
		t.Errorf("more than one ECS note")
	}
}

// TestLabSynProxyServices: with -sV, over IPv4 and over IPv6, of the 1,024
// SYN-ACKs of the host behind the kernel's SYN proxy only its backed ports
// (lab.SynProxyPorts) are reported open, each with the service its server
// speaks; every other port is filtered, reason no-service; the summary counts
// the SYN-ACKs no service backed and still flags the host.
func TestLabSynProxyServices(t *testing.T) {
	l := labtest.Start(t)
	sp := startSynProxy(t, l)
	for _, fam := range synProxyFamilies(l, sp) {
		t.Run(fam.name, func(t *testing.T) { checkSynProxyServices(t, l, fam.proxy) })
	}
}

// checkSynProxyServices scans 1-1024 of the SYN proxy's host at proxy with
// -sV and checks what TestLabSynProxyServices says.
func checkSynProxyServices(t *testing.T, l *lab.Lab, proxy netip.Addr) {
	t.Helper()
	found, stderr, elapsed, code := runSV(t, l, false, proxy.String(), "-p", "1-1024", "-sV", "--show", "all",
		"--wait", "1s", "-r", "5000", "--sv-timeout", "3s", "--seed", "7")
	t.Logf("scan: %v, exit %d\n%s", elapsed.Round(time.Millisecond), code, stderr)
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	byPort := map[uint16]svFinding{}
	notes := 0
	for _, f := range found {
		if f.Port == 0 && f.State == "" { // the host-note record
			notes++
			continue
		}
		if f.IP != proxy.String() || f.Proto != "tcp" {
			t.Errorf("a line for %s %s:%d", f.Proto, f.IP, f.Port)
		}
		if _, dup := byPort[f.Port]; dup {
			t.Errorf("port %d written twice", f.Port)
		}
		byPort[f.Port] = f
	}
	for port := uint16(1); port <= 1024; port++ {
		f, ok := byPort[port]
		want, backed := lab.SynProxyServices[port]
		switch {
		case !ok:
			t.Errorf("port %d: no line", port)
		case backed && (f.State != "open" || f.Service != want || f.ServiceMethod != "probed"):
			t.Errorf("backed port %d: %s %s (%s; banner %q, error %q), want open %s (probed)", port, f.State, f.Service, f.ServiceMethod, f.Banner, f.ServiceError, want)
		case !backed && (f.State != "filtered" || f.Reason != "no-service"):
			t.Errorf("port %d, not backed: %s %s, want filtered no-service", port, f.State, f.Reason)
		}
	}
	m := svSummary.FindStringSubmatch(stderr)
	backed := len(lab.SynProxyPorts)
	if want := []string{fmt.Sprint(backed), fmt.Sprint(1024 - backed), "1024"}; m == nil || fmt.Sprint(m[1:]) != fmt.Sprint(want) {
		t.Errorf("summary: identified, not backed, SYN-ACKs %v, want %v:\n%s", m, want, stderr)
	}
	if !strings.Contains(stderr, proxy.String()+": SYN-ACK on 1024 of 1024 TCP ports probed") || notes != 1 {
		t.Errorf("the SYN proxy's host is not flagged (%d host notes):\n%s", notes, stderr)
	}
}

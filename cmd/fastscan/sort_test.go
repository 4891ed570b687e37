package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fastscan/fastscan/engine"
	"github.com/fastscan/fastscan/link/linktest"
	"github.com/fastscan/fastscan/output"
	"github.com/fastscan/fastscan/target"
)

// reportHost is one host of a --sort report as read back.
type reportHost struct {
	addr     netip.Addr
	notShown map[string]uint64 // "closed tcp (reset)" -> count
	ports    []reportPort
}

type reportPort struct {
	port         uint16
	proto, state string
}

var (
	reportHeader  = regexp.MustCompile(`^fastscan scan report for (\S+)$`)
	notShownPart  = regexp.MustCompile(`^(\d+) (\S+) (tcp|udp) ports? \((\S+)\)$`)
	reportPortRow = regexp.MustCompile(`^(\d+)/(tcp|udp) +(\S+) +(\S+)$`)
)

// parseReport reads a --sort report strictly: every line is a header, a "Not
// shown" line, the PORT STATE SERVICE heading, a port row or a blank line
// between hosts.
func parseReport(t *testing.T, text string) []reportHost {
	t.Helper()
	var hosts []reportHost
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if m := reportHeader.FindStringSubmatch(line); m != nil {
			hosts = append(hosts, reportHost{addr: netip.MustParseAddr(m[1]), notShown: map[string]uint64{}})
			continue
		}
		if line == "" {
			continue
		}
		if len(hosts) == 0 {
			t.Fatalf("report line %q before any host", line)
		}
		h := &hosts[len(hosts)-1]
		switch {
		case strings.HasPrefix(line, "Not shown: "):
			for _, part := range strings.Split(strings.TrimPrefix(line, "Not shown: "), ", ") {
				m := notShownPart.FindStringSubmatch(part)
				if m == nil {
					t.Fatalf("bad Not shown part %q in %q", part, line)
				}
				n, _ := strconv.ParseUint(m[1], 10, 64)
				h.notShown[m[2]+" "+m[3]+" ("+m[4]+")"] += n
			}
		case strings.Fields(line)[0] == "PORT":
			if !slices.Equal(strings.Fields(line), []string{"PORT", "STATE", "SERVICE"}) {
				t.Fatalf("bad heading %q", line)
			}
		default:
			m := reportPortRow.FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("bad report line %q", line)
			}
			p, _ := strconv.ParseUint(m[1], 10, 16)
			h.ports = append(h.ports, reportPort{uint16(p), m[2], m[3]})
		}
	}
	return hosts
}

// checkReportOrder: hosts ascending by address, each once; ports ascending.
func checkReportOrder(t *testing.T, hosts []reportHost) {
	t.Helper()
	for i, h := range hosts {
		if i > 0 && hosts[i-1].addr.Compare(h.addr) >= 0 {
			t.Errorf("host %v after %v: not sorted, or twice", h.addr, hosts[i-1].addr)
		}
		for j := 1; j < len(h.ports); j++ {
			a, b := h.ports[j-1], h.ports[j]
			if a.proto == b.proto && a.port >= b.port || a.proto == "udp" && b.proto == "tcp" {
				t.Errorf("%v: %d/%s listed before %d/%s", h.addr, a.port, a.proto, b.port, b.proto)
			}
		}
	}
}

// sortModel answers by address and port: open, closed, ICMP-filtered by a
// router, or silent; some hosts answer nothing at all.
func sortModel(dst netip.Addr, proto uint8, port uint16) linktest.Answer {
	b := dst.As4()
	if b[3]%5 == 0 {
		return linktest.Answer{} // a host that answers nothing
	}
	switch (uint32(b[3])*13 + uint32(port)*7) % 10 {
	case 0, 1:
		return linktest.Answer{Kind: linktest.SYNACK}
	case 2, 3, 4, 5:
		return linktest.Answer{Kind: linktest.RST}
	case 6:
		return linktest.Answer{Kind: linktest.ICMPUnreachable, ICMPCode: 13, ICMPFrom: netip.MustParseAddr("198.18.0.254")}
	}
	return linktest.Answer{}
}

// TestSortFake runs a scan with --sort's wiring (sortedOutputs as the engine's
// Hidden, output.SortedText as the text output) over linktest's network: the
// report lists exactly the model's open ports, sorted, and each host's "Not
// shown" counts are the model's closed, admin-prohibited and silent ports.
func TestSortFake(t *testing.T) {
	nw := linktest.New(linktest.Options{Model: sortModel, Delay: time.Millisecond})
	targets, err := target.ParseTargets([]string{"198.19.0.1-198.19.0.40"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ports, err := target.ParsePorts("1-50")
	if err != nil {
		t.Fatal(err)
	}
	sorted := &sortedOutputs{}
	cfg := engine.Config{Targets: targets, Ports: ports, Rate: 100000, Seed: 7, Retries: 1, Wait: time.Second,
		Link: nw.Open, Hidden: sorted.hidden, Path: &engine.Path{
			Interface: net.Interface{Index: 1, Name: "fake0", MTU: 1500},
			SourceIP:  netip.MustParseAddr("198.18.0.1"), SourceMAC: [6]byte{2, 0, 0, 0, 0, 1}, RouterMAC: [6]byte{2, 0, 0, 0, 0, 2},
		}}
	var buf bytes.Buffer
	w := output.NewSortedText(&buf, output.Options{Scan: output.Scan{NumPorts: ports.Len()}})
	sorted.outs = append(sorted.outs, w)
	s, err := engine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := s.Run(context.Background(), w.Write)
	if err != nil {
		t.Fatal(err)
	}
	w.End(output.End{Interrupted: sum.Interrupted})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	hosts := parseReport(t, buf.String())
	checkReportOrder(t, hosts)
	got := map[netip.Addr]reportHost{}
	for _, h := range hosts {
		got[h.addr] = h
	}
	for i := range targets.Len() {
		addr := targets.At(i)
		var open []uint16
		want := map[string]uint64{}
		for j := range ports.Len() {
			p := ports.At(j)
			switch a := sortModel(addr, 6, p); a.Kind {
			case linktest.SYNACK:
				open = append(open, p)
			case linktest.RST:
				want["closed tcp (reset)"]++
			case linktest.ICMPUnreachable:
				want["filtered tcp (admin-prohibited)"]++
			default:
				want["filtered tcp (no-response)"]++
			}
		}
		h, listed := got[addr]
		if len(open) == 0 {
			if listed {
				t.Errorf("%v has no open port but a report", addr)
			}
			continue
		}
		if !listed {
			t.Errorf("%v has open ports %v but no report", addr, open)
			continue
		}
		var gotOpen []uint16
		for _, p := range h.ports {
			if p.state != "open" || p.proto != "tcp" {
				t.Errorf("%v: row %+v, want open tcp ports only", addr, p)
			}
			gotOpen = append(gotOpen, p.port)
		}
		if !slices.Equal(gotOpen, open) {
			t.Errorf("%v: open %v, want %v", addr, gotOpen, open)
		}
		if fmt.Sprint(h.notShown) != fmt.Sprint(want) {
			t.Errorf("%v: not shown %v, want %v", addr, h.notShown, want)
		}
	}
}

// TestSortFlags: --sort needs a text output (the main format, -oN or -oA), and
// contradicts --resume-file; with it the scan keeps no checkpoint and tells
// the sorted outputs of the verdicts it hides.
func TestSortFlags(t *testing.T) {
	for _, args := range [][]string{
		{"198.19.0.1", "-p", "22", "--sort"},
		{"198.19.0.1", "-p", "22", "--sort", "--format", "jsonl", "-oN", "x.txt"},
		{"198.19.0.1", "-p", "22", "--sort", "--format", "xml", "-oA", "base"},
	} {
		s, code, stderr := captured(t, args...)
		if code != exitOK {
			t.Fatalf("%q: exit %d: %s", args, code, stderr)
		}
		if s.resumeFile != "" || s.sorted == nil || s.cfg.Hidden == nil {
			t.Errorf("%q: checkpoint %q, sorted %v: want no checkpoint and the sorted outputs told", args, s.resumeFile, s.sorted)
		}
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"198.19.0.1", "-p", "22", "--sort", "--format", "jsonl"}, "--sort sorts the text output, and this scan writes none (--format jsonl)"},
		{[]string{"198.19.0.1", "-p", "22", "--sort", "--resume-file", "x.resume"}, "--sort and --resume-file contradict"},
	} {
		_, code, stderr := captured(t, tt.args...)
		if code != exitUsage || !strings.Contains(stderr, tt.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%q: exit %d, %q; want exit 2 and one line with %q", tt.args, code, stderr, tt.want)
		}
	}
	if s, _, _ := captured(t, "198.19.0.1", "-p", "22"); s.resumeFile == "" || s.cfg.Hidden != nil {
		t.Errorf("without --sort: checkpoint %q, hidden set %v", s.resumeFile, s.cfg.Hidden != nil)
	}
	var stderr bytes.Buffer
	code := run(context.Background(), []string{"fastscan", "replay", "--seed", "1", "--sort", "198.19.0.1", "-p", "22", "x.pcap"}, io.Discard, &stderr, nil)
	if code != exitUsage || !strings.Contains(stderr.String(), "--sort does not apply to replay") {
		t.Errorf("replay --sort: exit %d, %q", code, stderr.String())
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fastscan/fastscan/lab"
	"github.com/fastscan/fastscan/lab/labtest"
)

// TestLabSort scans the LAN's first 64 addresses (four hosts with their own
// ports, one of them late to answer ARP, the rest down) with --sort -oN: the report lists the hosts with open ports, sorted, each with
// exactly its open ports as the lab's ground truth has them, and "Not shown"
// counts its closed and filtered ports as the truth does; the streamed JSON
// lines of the same scan hold the same open ports.
func TestLabSort(t *testing.T) {
	l := labtest.Start(t)
	truth := l.Truth()
	dir := t.TempDir()
	report, jsonl := filepath.Join(dir, "sorted.txt"), filepath.Join(dir, "r.jsonl")
	ports := []uint16{21, 22, 25, 53, 80, 443, 631, 1000, 3306, 8080, 8443}
	portSpec := "21,22,25,53,80,443,631,1000,3306,8080,8443"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := labCommand(ctx, l, "198.18.1.0/26", "-p", portSpec,
		"--sort", "-oN", report, "-oJ", jsonl, "--format", "xml", "-o", filepath.Join(dir, "r.xml"), "--retries", "2")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("fastscan --sort: %v\n%s", err, stderr.String())
	}
	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	hosts := parseReport(t, string(data))
	checkReportOrder(t, hosts)
	got := map[netip.Addr]reportHost{}
	for _, h := range hosts {
		got[h.addr] = h
	}
	var addrs []netip.Addr
	for a := netip.MustParseAddr("198.18.1.0"); a.Compare(netip.MustParseAddr("198.18.1.63")) <= 0; a = a.Next() {
		addrs = append(addrs, a)
	}
	reported := 0
	for _, a := range addrs {
		var open []uint16
		var closed, filtered uint64
		for _, p := range ports {
			switch truth.State(a, p) {
			case lab.StateOpen:
				open = append(open, p)
			case lab.StateClosed:
				closed++
			case lab.StateFiltered:
				filtered++
			}
		}
		h, listed := got[a]
		if len(open) == 0 {
			if listed {
				t.Errorf("%v: reported, but the truth has no open port there", a)
			}
			continue
		}
		reported++
		if !listed {
			t.Errorf("%v: not reported, the truth has open ports %v", a, open)
			continue
		}
		var gotOpen []uint16
		for _, p := range h.ports {
			gotOpen = append(gotOpen, p.port)
		}
		if !slices.Equal(gotOpen, open) {
			t.Errorf("%v: open %v, truth %v", a, gotOpen, open)
		}
		var gotFiltered uint64
		for k, n := range h.notShown {
			if strings.HasPrefix(k, "filtered tcp ") {
				gotFiltered += n
			}
		}
		if h.notShown["closed tcp (reset)"] != closed || gotFiltered != filtered {
			t.Errorf("%v: not shown %v, truth %d closed, %d filtered", a, h.notShown, closed, filtered)
		}
	}
	if reported < 4 {
		t.Errorf("only %d hosts with open ports in the scan: the test proves little", reported)
	}
	// The streamed JSON lines hold the same open ports.
	var fromJSON []string
	jdata, err := os.ReadFile(jsonl)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(jdata)), "\n") {
		var f finding
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		fromJSON = append(fromJSON, f.IP+":"+f.State)
	}
	var fromReport []string
	for _, h := range hosts {
		for _, p := range h.ports {
			fromReport = append(fromReport, h.addr.String()+":"+p.state)
		}
	}
	slices.Sort(fromJSON)
	slices.Sort(fromReport)
	if !slices.Equal(fromJSON, fromReport) {
		t.Errorf("the report's ports %v differ from the JSON lines' %v", fromReport, fromJSON)
	}
}

// TestLabSortInterrupt stops a --sort scan with SIGINT and SIGTERM halfway: the
// exit status is the signal's, and the sorted report, written at the stop,
// holds exactly the open ports the streamed JSON lines of the same scan hold
// (none lost), sorted; the scan left no checkpoint file behind.
func TestLabSortInterrupt(t *testing.T) {
	l := labtest.Start(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			dir := t.TempDir()
			report, jsonl := filepath.Join(dir, "sorted.txt"), filepath.Join(dir, "r.jsonl")
			// 32,768 probes at 20,000/s: about 1.6 s; stopped after 0.5 s.
			cmd := labCommand(ctx, l, "198.19.0.0/17", "-p", "80", "-r", "20000", "--sort", "-o", report, "-oJ", jsonl)
			cmd.Dir = dir
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			if err := waitForRing(l, 30*time.Second); err != nil {
				t.Fatal(err)
			}
			time.Sleep(500 * time.Millisecond)
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			err := cmd.Wait()
			if code := cmd.ProcessState.ExitCode(); code != 128+int(sig) {
				t.Fatalf("exit %d (%v), want %d\n%s", code, err, 128+int(sig), stderr.String())
			}
			data, err := os.ReadFile(report)
			if err != nil {
				t.Fatal(err)
			}
			hosts := parseReport(t, string(data))
			checkReportOrder(t, hosts)
			jdata, err := os.ReadFile(jsonl)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Count(string(jdata), "\n")
			if len(hosts) == 0 || len(hosts) != lines || lines >= 32768 {
				t.Errorf("report of %d hosts, JSON lines %d results (of 32,768 targets): want the same, not all", len(hosts), lines)
			}
			for _, h := range hosts {
				if len(h.ports) != 1 || h.ports[0].port != 80 || h.ports[0].state != "open" {
					t.Errorf("%v: %+v, want 80/tcp open", h.addr, h.ports)
				}
				if !strings.Contains(string(jdata), `"ip":"`+h.addr.String()+`"`) {
					t.Errorf("%v is in the report but not in the JSON lines", h.addr)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, defaultResumeFile)); err == nil {
				t.Errorf("a --sort scan left a checkpoint %s", defaultResumeFile)
			}
			if strings.Contains(stderr.String(), "--resume") {
				t.Errorf("a --sort scan offers to resume:\n%s", stderr.String())
			}
		})
	}
}

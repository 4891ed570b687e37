package main

import (
	"context"
	"encoding/json"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fastscan/fastscan/lab"
	"github.com/fastscan/fastscan/lab/labtest"
)

// labLimit is the rate above which the lab path of TestLabLossEstimate drops
// SYNs (an nftables limit in the remote router), and labLimitBurst its burst
// (10 ms of it).
const (
	labLimit      = 10_000
	labLimitBurst = labLimit / 100
)

// TestLabLossEstimate: the path to the AnyIP range drops SYNs above 10,000/s.
// Scanned at 10 times that rate without retries, fastscan misses most open
// ports and its loss estimate is within 3 points of the true miss rate (open
// ports missed / open ports in the ground truth of the range); with --adaptive
// it lowers its rate below the limit, logs each change in --status-json and on
// standard error, and finds every open port (with two retries).
func TestLabLossEstimate(t *testing.T) {
	l := labtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	remove, err := l.LimitRate(ctx, labLimit, labLimitBurst)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := remove(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	const ports = "1-13,22,80,443"
	portList := append([]uint16{22, 80, 443}, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13)

	// Without --adaptive: 262,144 probes at 100,000/s.
	status := filepath.Join(t.TempDir(), "fixed.jsonl")
	out := scanLab(t, l, "198.19.0.0/18", "-p", ports, "-r", "100000", "--retries", "0", "--seed", "11", "--status-json", status)
	missed, open := missedOpen(t, l, out, "198.19.0.0", "198.19.63.255", portList)
	miss := float64(missed) / float64(open)
	last := lastStatus(t, status)
	if last.Loss == nil {
		t.Fatalf("no loss estimate in the last status line %+v\n%s", last, out.stderr)
	}
	est := *last.Loss
	t.Logf("fixed 100,000/s: %d of %d open ports missed (%.2f%%), estimate %.2f%% from %d answering samples, %d probes in %v",
		missed, open, 100*miss, 100*est, last.LossSamples, last.Sent, out.elapsed)
	if miss < 0.2 {
		t.Errorf("the scan at 10 times the limit missed only %.1f%% of the open ports: the limit does not bite", 100*miss)
	}
	if math.Abs(est-miss) > 0.03 {
		t.Errorf("estimated loss %.2f%%, true miss rate %.2f%%: more than 3 points apart\n%s", 100*est, 100*miss, out.stderr)
	}
	if !strings.Contains(out.stderr, "estimated loss ") || !strings.Contains(out.stderr, "hint: ") {
		t.Errorf("the summary lacks the estimate or the hint:\n%s", out.stderr)
	}

	// With --adaptive: 32,768 targets from 100,000/s. Two retries: on a busy
	// machine the receive ring drops a few replies too (which the estimate
	// counts as loss and the adaptation slows down for, but which only a retry
	// recovers).
	status = filepath.Join(t.TempDir(), "adaptive.jsonl")
	out = scanLab(t, l, "198.19.0.0/21", "-p", ports, "-r", "100000", "--adaptive", "--retries", "2", "--seed", "12", "--status-json", status)
	missed, open = missedOpen(t, l, out, "198.19.0.0", "198.19.7.255", portList)
	last = lastStatus(t, status)
	t.Logf("adaptive from 100,000/s: %d of %d open ports missed, %d probes in %v, final rate %.0f/s, %d changes",
		missed, open, last.Sent, out.elapsed, last.RateLimit, len(last.RateChanges))
	for _, c := range last.RateChanges {
		t.Logf("  %s rate %.0f/s (loss %.3f)", c.Time, c.Rate, c.Loss)
	}
	if missed != 0 {
		t.Errorf("--adaptive missed %d of %d open ports\n%s", missed, open, out.stderr)
	}
	if len(last.RateChanges) == 0 || last.RateChanges[0].Rate >= 100000/4 {
		t.Fatalf("rate changes %+v: want a first one far below 100,000/s", last.RateChanges)
	}
	lowest := math.Inf(1)
	for _, c := range last.RateChanges {
		lowest = min(lowest, c.Rate)
	}
	if lowest > labLimit {
		t.Errorf("the rate never came below the limit (lowest %.0f/s)", lowest)
	}
	if n := strings.Count(out.stderr, "adaptive: rate "); n != len(last.RateChanges) {
		t.Errorf("%d notices on standard error for %d rate changes:\n%s", n, len(last.RateChanges), out.stderr)
	}
}

// missedOpen counts the open ports of the ground truth in first-last x ports
// that the scan did not report open, and those open ports.
func missedOpen(t *testing.T, l *lab.Lab, out scanOutput, first, last string, ports []uint16) (missed, open int) {
	t.Helper()
	found := map[netip.AddrPort]bool{}
	for _, f := range out.findings {
		if f.State == "open" {
			found[netip.AddrPortFrom(netip.MustParseAddr(f.IP), f.Port)] = true
		}
	}
	truth := l.Truth().Open(netip.MustParseAddr(first), netip.MustParseAddr(last), ports)
	for _, ap := range truth {
		if !found[ap] {
			missed++
		}
	}
	if len(found) > len(truth)-missed {
		t.Errorf("%d open ports reported, %d of them in the ground truth", len(found), len(truth)-missed)
	}
	return missed, len(truth)
}

// lastStatus reads the last line of a --status-json file.
func lastStatus(t *testing.T, name string) statusLine {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	var st statusLine
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &st); err != nil {
		t.Fatalf("status line %q: %v", lines[len(lines)-1], err)
	}
	return st
}

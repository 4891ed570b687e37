package main

import (
	"strings"
	"testing"
)

// TestConnectSettings: -sT makes a connect scan without the loss estimate,
// --max-parallelism reaches the engine (also for a scan that may fall back),
// and what a connect scan cannot do is one line and exit 2 with -sT, but only
// stops the fallback without it.
func TestConnectSettings(t *testing.T) {
	s, code, stderr := captured(t, "198.19.0.1", "-p", "80", "-sT", "--max-parallelism", "300")
	if code != exitOK || !s.cfg.Connect || s.cfg.EstimateLoss || s.cfg.Parallelism != 300 {
		t.Fatalf("-sT: exit %d (%s), connect %v, loss estimate %v, parallelism %d", code, stderr, s.cfg.Connect, s.cfg.EstimateLoss, s.cfg.Parallelism)
	}
	s, code, _ = captured(t, "198.19.0.1", "-p", "80", "--max-parallelism", "300")
	if code != exitOK || s.cfg.Connect || s.cfg.Parallelism != 300 || s.connect.conflict != "" {
		t.Fatalf("no -sT: exit %d, connect %v, parallelism %d, conflict %q", code, s.cfg.Connect, s.cfg.Parallelism, s.connect.conflict)
	}
	s, code, _ = captured(t, "198.19.0.1", "-p", "U:53", "--no-fallback")
	if code != exitOK || !s.connect.noFallback || !strings.Contains(s.connect.conflict, "UDP") {
		t.Fatalf("UDP: exit %d, no fallback %v, conflict %q", code, s.connect.noFallback, s.connect.conflict)
	}
	for _, bad := range [][]string{
		{"-sT", "-p", "U:53"}, {"-sT", "-sU", "-p", "53"}, {"-sT", "-p", "80", "--pcap", "x.pcap"},
		{"-sT", "-p", "80", "-g", "53"}, {"-sT", "-p", "80", "-i", "lo"}, {"-sT", "-sS", "-p", "80"},
		{"-sT", "-p", "80", "--max-parallelism", "5"}, {"-p", "80", "--max-parallelism", "99999999"},
		{"-sT", "-p", "80", "--no-fallback"}, {"-sT", "-p", "80", "--adaptive"}, {"-sT", "-p", "80", "--router-mac", "02:00:00:00:00:01"},
		{"-sT", "-p", "80", "2001:2::5"},
	} {
		_, code, stderr := captured(t, append([]string{"198.19.0.1"}, bad...)...)
		if msg := strings.TrimSpace(stderr); code != exitUsage || strings.Contains(msg, "\n") || msg == "" {
			t.Errorf("%q: exit %d, %q; want one line, exit %d", bad, code, msg, exitUsage)
		}
	}
}

// TestConnectDryRun: the plan of a connect scan says the kernel routes it and
// counts no loss-estimate probes.
func TestConnectDryRun(t *testing.T) {
	_, stderr, code := runDryRun(t, "127.0.0.1", "-p", "1-100", "--dry-run", "-sT")
	if code != exitOK || !strings.Contains(stderr, "TCP connect scan, -sT") || strings.Contains(stderr, "loss") {
		t.Errorf("exit %d:\n%s", code, stderr)
	}
}

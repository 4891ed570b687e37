package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestMetricsFlags checks --metrics and --metrics-linger: a good address is kept
// (not yet opened), a bad one is a one-line usage error naming it.
func TestMetricsFlags(t *testing.T) {
	s, code, stderr := captured(t, "198.18.0.1", "-p", "80", "--metrics", "127.0.0.1:9464")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if s.metrics.addr != "127.0.0.1:9464" || s.metrics.linger != defaultMetricsLinger {
		t.Errorf("settings %+v", s.metrics)
	}
	if s, _, _ := captured(t, "198.18.0.1", "-p", "80"); s.metrics.addr != "" {
		t.Errorf("no --metrics: %+v", s.metrics)
	}
	if s, code, _ := captured(t, "198.18.0.1", "-p", "80", "--metrics", ":9464", "--metrics-linger", "0s"); code != exitOK || s.metrics.linger != 0 {
		t.Errorf("--metrics-linger 0s: exit %d, %+v", code, s.metrics)
	}
	for _, tc := range []struct {
		args  []string
		token string
	}{
		{[]string{"--metrics", "9464"}, `"9464"`},
		{[]string{"--metrics", "example.com:9464"}, `"example.com:9464"`},
		{[]string{"--metrics", "127.0.0.1:99999"}, `"127.0.0.1:99999"`},
		{[]string{"--metrics", ""}, `""`},
		{[]string{"--metrics", ":9464", "--metrics-linger", "-1s"}, `"-1s"`},
	} {
		_, code, stderr := captured(t, append([]string{"198.18.0.1", "-p", "80"}, tc.args...)...)
		if code != exitUsage || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, tc.token) {
			t.Errorf("%q: exit %d, %q; want one line naming %s, exit %d", tc.args, code, stderr, tc.token, exitUsage)
		}
	}
}

// TestReplayRefusesMetrics: replay has no live counters to serve.
func TestReplayRefusesMetrics(t *testing.T) {
	for _, args := range [][]string{
		{"replay", "--no-validate", "--metrics", "127.0.0.1:9464", replayDir + "/tcp-routed.pcap"},
		{"replay", "--no-validate", "--metrics-linger", "1s", replayDir + "/tcp-routed.pcap"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), append([]string{"fastscan"}, args...), &stdout, &stderr, nil)
		if code != exitUsage || !strings.Contains(stderr.String(), "does not apply to replay") {
			t.Errorf("%q: exit %d, stderr %q; want 2, does not apply", args, code, stderr.String())
		}
	}
}

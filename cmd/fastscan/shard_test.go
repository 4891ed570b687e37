package main

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/fastscan/fastscan/engine"
	"github.com/fastscan/fastscan/route"
)

// clearSchedulerEnv unsets the schedulers' variables for the test, so that a test
// run inside a Slurm job or a Kubernetes pod sees none.
func clearSchedulerEnv(t *testing.T) {
	for _, k := range []string{envK8sIndex, envSlurmTask, envSlurmCount, envSlurmMin} {
		t.Setenv(k, "")
	}
}

// TestShardSources: the shard comes from --shard, from --shards with a
// Kubernetes completion index or a Slurm array, or from a Slurm array alone; an
// explicit --shard wins over the environment; an environment shard is recorded
// in the checkpoint's command line as --shard.
func TestShardSources(t *testing.T) {
	cases := []struct {
		name      string
		env       map[string]string
		args      []string
		shard, of int
		from      string
	}{
		{"none", nil, nil, 0, 1, ""},
		{"flag", nil, []string{"--shard", "2/5"}, 2, 5, "--shard"},
		{"flag and shards", nil, []string{"--shard", "1/3", "--shards", "3"}, 1, 3, "--shard"},
		{"kubernetes", map[string]string{envK8sIndex: "3"}, []string{"--shards", "4"}, 3, 4, envK8sIndex},
		{"kubernetes without --shards", map[string]string{envK8sIndex: "3"}, nil, 0, 1, ""},
		{"slurm", map[string]string{envSlurmTask: "2", envSlurmCount: "4"}, nil, 2, 4, envSlurmTask},
		{"slurm from 1", map[string]string{envSlurmTask: "4", envSlurmCount: "4", envSlurmMin: "1"}, []string{"--shards", "4"}, 3, 4, envSlurmTask},
		{"flag wins", map[string]string{envSlurmTask: "2", envSlurmCount: "4", envK8sIndex: "1"}, []string{"--shard", "0/1", "--shards", "1"}, 0, 1, "--shard"},
		{"shards 1", nil, []string{"--shards", "1"}, 0, 1, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clearSchedulerEnv(t)
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			args := append([]string{"198.19.0.0/24", "-p", "80", "--seed", "7"}, c.args...)
			s, code, stderr := captured(t, args...)
			if code != exitOK {
				t.Fatalf("%q: exit %d: %s", args, code, stderr)
			}
			if s.cfg.Shard != c.shard || s.cfg.Shards != c.of || s.shard.from != c.from {
				t.Errorf("%q: shard %d/%d from %q, want %d/%d from %q", args, s.cfg.Shard, s.cfg.Shards, s.shard.from, c.shard, c.of, c.from)
			}
			recorded := strings.Join(s.args, " ")
			if c.from != "" && !strings.Contains(recorded, fmt.Sprintf("--shard %d/%d", c.shard, c.of)) {
				t.Errorf("recorded command line %q: no --shard %d/%d, a resumed scan would not be this shard", recorded, c.shard, c.of)
			}
			if c.from == "" && strings.Contains(recorded, "--shard ") {
				t.Errorf("recorded command line %q: --shard of an unsharded scan", recorded)
			}
		})
	}
}

// TestShardBadInput: a bad shard, a shard without --seed, --shards without an
// index, and bad senders are refused: exit 2, one line naming the token.
func TestShardBadInput(t *testing.T) {
	cases := []struct {
		env   map[string]string
		args  []string
		token string
	}{
		{nil, []string{"--shard", "1/4"}, "--seed"},
		{map[string]string{envSlurmTask: "1", envSlurmCount: "2"}, nil, "--seed"},
		{nil, []string{"--shard", "4/4", "--seed", "1"}, `"4/4"`},
		{nil, []string{"--shard", "-1/4", "--seed", "1"}, `"-1/4"`},
		{nil, []string{"--shard", "1", "--seed", "1"}, `"1"`},
		{nil, []string{"--shard", "a/b", "--seed", "1"}, `"a/b"`},
		{nil, []string{"--shard", "0/0", "--seed", "1"}, `"0/0"`},
		{nil, []string{"--shard", "1/4", "--shards", "3", "--seed", "1"}, `"1/4"`},
		{nil, []string{"--shards", "4", "--seed", "1"}, "--shards 4"},
		{nil, []string{"--shards", "0", "--seed", "1"}, `shards "0"`},
		{map[string]string{envK8sIndex: "4"}, []string{"--shards", "4", "--seed", "1"}, `"4"`},
		{map[string]string{envK8sIndex: "x"}, []string{"--shards", "4", "--seed", "1"}, `"x"`},
		{map[string]string{envSlurmTask: "5", envSlurmCount: "4"}, []string{"--seed", "1"}, `"5"`},
		{map[string]string{envSlurmTask: "1", envSlurmCount: "4"}, []string{"--shards", "3", "--seed", "1"}, "shards 3"},
		{nil, []string{"--senders", "0"}, `senders "0"`},
		{nil, []string{"--senders", "100000"}, `senders "100000"`},
	}
	for _, c := range cases {
		clearSchedulerEnv(t)
		for k, v := range c.env {
			t.Setenv(k, v)
		}
		args := append([]string{"198.19.0.0/24", "-p", "80"}, c.args...)
		_, code, stderr := captured(t, args...)
		if code != exitUsage {
			t.Errorf("%q %v: exit %d, want %d (stderr %q)", args, c.env, code, exitUsage, stderr)
			continue
		}
		if strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, c.token) {
			t.Errorf("%q %v: stderr %q, want one line naming %q", args, c.env, stderr, c.token)
		}
	}
}

// TestScanIDAndIdentity: the scan id is the same for every shard, senders count and
// output of one scan and differs for another seed, target or port; the checkpoint
// identity differs between shards.
func TestScanIDAndIdentity(t *testing.T) {
	clearSchedulerEnv(t)
	get := func(args ...string) settings {
		t.Helper()
		s, code, stderr := captured(t, append([]string{"198.19.0.0/24", "-p", "80,443"}, args...)...)
		if code != exitOK {
			t.Fatalf("%q: exit %d: %s", args, code, stderr)
		}
		return s
	}
	base := get("--seed", "9", "--shard", "0/4")
	for _, args := range [][]string{
		{"--seed", "9", "--shard", "3/4"},
		{"--seed", "9", "--shard", "1/2", "--senders", "3", "-o", "x.jsonl", "--format", "jsonl", "-r", "5"},
		{"--seed", "9"},
	} {
		if s := get(args...); scanID(&s) != scanID(&base) {
			t.Errorf("%q: scan id %s, want the same as shard 0/4's %s", args, scanID(&s), scanID(&base))
		}
	}
	for _, args := range [][]string{
		{"--seed", "10", "--shard", "0/4"},
		{"--seed", "9", "--shard", "0/4", "-p", "80"},
		{"--seed", "9", "--shard", "0/4", "198.19.1.0"},
		{"--seed", "9", "--shard", "0/4", "--source-port", "40000-40100"},
	} {
		if s := get(args...); scanID(&s) == scanID(&base) {
			t.Errorf("%q: the same scan id as another scan's", args)
		}
	}
	if len(scanID(&base)) != 32 {
		t.Errorf("scan id %q: want 32 hex digits", scanID(&base))
	}
	other := get("--seed", "9", "--shard", "1/4")
	if scanIdentity(&other) == scanIdentity(&base) {
		t.Error("shards 0/4 and 1/4 have one checkpoint identity: a checkpoint of one would resume the other")
	}
	unsharded, explicit := get("--seed", "9"), get("--seed", "9", "--senders", "2")
	if scanIdentity(&unsharded) != scanIdentity(&explicit) {
		t.Error("the number of senders changes the checkpoint identity")
	}
}

// TestDefaultSenders: one sender up to the rate one sender keeps up with and on
// fewer than 3 CPUs, every usable CPU but one above it; --senders wins.
func TestDefaultSenders(t *testing.T) {
	clearSchedulerEnv(t)
	for _, c := range []struct {
		rate       float64
		cpus, want int
	}{
		{oneSenderRate, 8, 1}, {oneSenderRate + 1, 8, 7}, {100e6, 2, 1}, {100e6, 1, 1}, {100e6, 3, 2}, {10, 64, 1},
	} {
		if got := defaultSenders(c.rate, c.cpus); got != c.want {
			t.Errorf("default senders at %v pps on %d CPUs = %d, want %d", c.rate, c.cpus, got, c.want)
		}
	}
	s, _, _ := captured(t, "198.19.0.0/24", "-p", "80", "--senders", "3")
	if s.cfg.Senders != 3 {
		t.Errorf("--senders 3: %d senders", s.cfg.Senders)
	}
	s, _, _ = captured(t, "198.19.0.0/24", "-p", "80", "-r", "100000000")
	if want := defaultSenders(100e6, engine.DefaultSenders()); s.cfg.Senders != want {
		t.Errorf("-r 100000000: %d senders, want %d", s.cfg.Senders, want)
	}
}

// TestDryRunShard: a dry run of a shard shows its share, where it came from, the
// scan id and the duration of the share; an unsharded one shows no shard line.
func TestDryRunShard(t *testing.T) {
	clearSchedulerEnv(t)
	lookup := func(netip.Addr, string) (route.Route, error) {
		return route.Route{Iface: net.Interface{Index: 2, Name: "eth9"}, SrcIP: netip.MustParseAddr("198.18.0.2"), Gateway: netip.MustParseAddr("198.18.0.1")}, nil
	}
	plan := func(args ...string) string {
		t.Helper()
		s, code, stderr := captured(t, append([]string{"198.19.0.0/16", "-p", "1-16", "-r", "1000", "--retries", "0"}, args...)...)
		if code != exitOK {
			t.Fatalf("%q: exit %d: %s", args, code, stderr)
		}
		var out, errOut bytes.Buffer
		if err := dryRunWith(s, &out, &errOut, lookup); err != nil {
			t.Fatal(err)
		}
		return errOut.String()
	}
	got := plan("--seed", "3", "--shard", "3/4", "--senders", "2")
	for _, want := range []string{
		"shard 3/4 (from --shard): 262144 of the 1048576 probes (every 4th position of the scan order, from position 3), scan id ",
		"senders 2, each at 500 probes/s\n",
		// 262,144 probes plus the loss estimate's 1 in 16: 278,528 at 1000/s.
		"loss estimate: about 16384 second probes (1 in 16 TCP targets",
		"estimated duration 4m39s at -r 1000 probes/s",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("dry run of shard 3/4 lacks %q:\n%s", want, got)
		}
	}
	// 1,048,576 probes plus 1 in 64 for the loss estimate: 1,064,960 at 1000/s.
	if got := plan(); strings.Contains(got, "shard") || !strings.Contains(got, "estimated duration 17m45s") {
		t.Errorf("dry run of the whole scan:\n%s", got)
	}
}

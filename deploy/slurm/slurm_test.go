// Package slurm holds the test of the Slurm recipe (fastscan-array.sbatch): a real
// single-node cluster, started and stopped by scripts/slurm-up.sh and
// slurm-down.sh, runs one lab scan as a job array.
package slurm

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fastscan/fastscan/citest"
	"github.com/fastscan/fastscan/deploy/deploytest"
	"github.com/fastscan/fastscan/lab/labtest"
	"github.com/fastscan/fastscan/output/outputtest"
)

// The lab scan: AnyIP hosts with extra listeners, a blackholed and a prohibited
// block (one route: fastscan scans through one interface at a time).
var (
	scanTargets = []netip.Prefix{
		netip.MustParsePrefix("198.19.1.0/24"),
		netip.MustParsePrefix("198.19.100.192/26"),
		netip.MustParsePrefix("198.19.128.0/30"),
		netip.MustParsePrefix("198.19.192.0/30"),
	}
	scanPorts = []uint16{22, 80, 443, 1000, 5432, 8080}
)

const shards = 4

// TestSlurmJobArray starts a private Slurm cluster and runs one lab scan as a job
// array of four tasks with fastscan-array.sbatch: each task enters the lab's
// scanner namespace and scans the shard Slurm's SLURM_ARRAY_TASK_ID and
// SLURM_ARRAY_TASK_COUNT give it, with the array's shared seed. fastscan merge of
// the four files equals the lab's ground truth and a single unsharded scan. At
// the end no munge or Slurm daemon or job step is left running and nothing under
// the system's munge and Slurm paths has changed.
func TestSlurmJobArray(t *testing.T) {
	citest.RequireRoot(t)
	before := deploytest.SystemState(t)
	stepsBefore := deploytest.Processes("slurmstepd")
	var cluster *deploytest.Cluster
	// Registered first, so it runs last: after slurm-down.sh and the lab's teardown.
	t.Cleanup(func() {
		if cluster != nil {
			if left := cluster.Daemons(); len(left) > 0 {
				t.Errorf("daemons left running after slurm-down.sh: %v", left)
			}
		}
		for _, pid := range deploytest.Processes("slurmstepd") {
			if !slices.Contains(stepsBefore, pid) {
				t.Errorf("slurmstepd %d left running", pid)
			}
		}
		if after := deploytest.SystemState(t); after != before {
			t.Errorf("system paths of munge and Slurm changed:\nbefore:\n%s\nafter:\n%s", before, after)
		}
	})
	l := labtest.Start(t)
	bin := deploytest.BuildStatic(t)
	cluster = deploytest.StartSlurm(t)
	if len(cluster.Daemons()) != 3 {
		t.Fatalf("daemons running: %v, want munged, slurmctld and slurmd", cluster.Daemons())
	}

	dir := t.TempDir()
	results := filepath.Join(dir, "results")
	if err := os.Mkdir(results, 0o755); err != nil {
		t.Fatal(err)
	}
	targets := filepath.Join(dir, "targets.txt")
	var list []string
	for _, p := range scanTargets {
		list = append(list, p.String())
	}
	if err := os.WriteFile(targets, []byte(strings.Join(list, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The command each task runs: the static binary inside the lab's scanner
	// namespace.
	wrapper := filepath.Join(dir, "fastscan-in-lab")
	script := fmt.Sprintf("#!/bin/sh\nexec ip netns exec %s %s \"$@\"\n", l.ScannerNS(), bin)
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	ports := strings.Trim(strings.Join(strings.Fields(fmt.Sprint(scanPorts)), ","), "[]")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	sbatch := cluster.Command(ctx, "sbatch", fmt.Sprintf("--array=0-%d", shards-1), "--wait",
		"--chdir", dir, "--output", filepath.Join(dir, "task-%a.log"),
		filepath.Join(deploytest.Root(t), "deploy", "slurm", "fastscan-array.sbatch"))
	sbatch.Env = append(deploytest.WithoutShardEnv(os.Environ()), "SLURM_CONF="+cluster.Conf, "TARGETS="+targets, "PORTS="+ports, "RATE=5000",
		"RESULTS="+results, "FASTSCAN="+wrapper, "FASTSCAN_ARGS=--show closed")
	out, err := sbatch.CombinedOutput()
	elapsed := time.Since(start)
	logs := taskLogs(dir)
	if err != nil {
		t.Fatalf("sbatch --wait: %v\n%s\ntask logs:\n%s", err, out, logs)
	}
	t.Logf("job array of %d tasks: %v (%s)", shards, elapsed.Round(time.Millisecond), bytes.TrimSpace(out))

	var files []string
	for i := range shards {
		files = append(files, filepath.Join(results, fmt.Sprintf("shard-%d.jsonl", i)))
	}
	merged := filepath.Join(dir, "merged.jsonl")
	mergedXML := filepath.Join(dir, "merged.xml")
	cmd := exec.CommandContext(ctx, bin, append([]string{"merge", "--format", "jsonl", "-o", merged, "-oX", mergedXML}, files...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("fastscan merge: %v\n%s\ntask logs:\n%s", err, out, logs)
	} else if want := fmt.Sprintf("%d of %d shards", shards, shards); !strings.Contains(string(out), want) {
		t.Errorf("fastscan merge says %q, want every shard (%s)", out, want)
	}
	found := deploytest.ReadFindings(t, merged)
	deploytest.CompareWithTruth(t, l.Truth(), found, scanTargets, scanPorts)
	doc, err := os.ReadFile(mergedXML)
	if err != nil {
		t.Fatal(err)
	}
	outputtest.ValidateNmapXML(t, doc)
	// Each shard found a part, not the whole.
	for _, f := range files {
		if n := len(deploytest.ReadFindings(t, f)); n == 0 || n >= len(found) {
			t.Errorf("%s: %d findings of the merged %d: not a shard's part", f, n, len(found))
		}
	}

	// The same scan in one process, unsharded.
	single := filepath.Join(dir, "single.jsonl")
	// (Without --quiet: its summary says what went wrong if it differs.)
	one := l.Command(ctx, bin, "-iL", targets, "-p", ports, "-r", "5000", "--show", "closed",
		"--format", "jsonl", "-o", single, "--resume-file", filepath.Join(dir, "single.resume"))
	one.Env = deploytest.WithoutShardEnv(os.Environ())
	out, err = one.CombinedOutput()
	if err != nil {
		t.Fatalf("unsharded scan: %v\n%s", err, out)
	}
	deploytest.SameFindings(t, "merged shards", found, "unsharded scan", deploytest.ReadFindings(t, single))
	if t.Failed() {
		t.Logf("unsharded scan: %s", out)
	}
}

// taskLogs returns the array tasks' logs.
func taskLogs(dir string) string {
	var b strings.Builder
	files, _ := filepath.Glob(filepath.Join(dir, "task-*.log"))
	for _, f := range files {
		data, _ := os.ReadFile(f)
		fmt.Fprintf(&b, "--- %s\n%s", f, data)
	}
	return b.String()
}

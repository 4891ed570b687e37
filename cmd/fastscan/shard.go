package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/fastscan/fastscan/engine"
)

// Environment variables a scheduler sets that name the shard of a process.
const (
	// envK8sIndex is a Kubernetes Indexed Job's completion index (0-based); the
	// number of shards comes from --shards.
	envK8sIndex = "JOB_COMPLETION_INDEX"
	// envSlurmTask, envSlurmCount and envSlurmMin describe a Slurm job array
	// task: its id, the number of tasks and the smallest id (--array=1-4 starts
	// at 1).
	envSlurmTask  = "SLURM_ARRAY_TASK_ID"
	envSlurmCount = "SLURM_ARRAY_TASK_COUNT"
	envSlurmMin   = "SLURM_ARRAY_TASK_MIN"
)

// shardFlags are the flags of senders and shards.
func shardFlags() []cli.Flag {
	return []cli.Flag{
		&cli.IntFlag{Name: "senders", Usage: "send from `N` goroutines, each with its own socket and rate/N (default: 1 up to 150000 probes/s or below 3 CPUs, else CPUs - 1)"},
		&cli.StringFlag{Name: "shard", Usage: "scan only shard `I/N` (0-based, as zmap) of the scan: the N shards of one --seed are disjoint and cover it all"},
		&cli.IntFlag{Name: "shards", Usage: "split the scan into `N` shards, this process's index from the scheduler: JOB_COMPLETION_INDEX (Kubernetes Indexed Job) or SLURM_ARRAY_TASK_ID"},
	}
}

// shardSpec is the shard of a scan and where it came from.
type shardSpec struct {
	shard, shards int
	from          string // "--shard", an environment variable's name, or "" (no shards)
}

// parseShard reads --shard, --shards and the schedulers' environment: an explicit
// --shard wins; --shards N takes the index from JOB_COMPLETION_INDEX or a Slurm
// array; a Slurm job array alone (SLURM_ARRAY_TASK_ID and _COUNT) is a shard of
// its own. A sharded scan needs --seed (every shard must walk one permutation).
func parseShard(c *cli.Context, getenv func(string) string) (shardSpec, error) {
	spec := shardSpec{shard: 0, shards: 1}
	shardsSet := c.IsSet("shards")
	n := c.Int("shards")
	if shardsSet && (n < 1 || n > maxShards) {
		return spec, usageError("invalid shards %q: must be 1 to %d", c.String("shards"), maxShards)
	}
	switch {
	case c.IsSet("shard"):
		v := c.String("shard")
		i, m, ok := parseShardValue(v)
		if !ok {
			return spec, usageError("invalid shard %q: want I/N, 0 <= I < N (0-based, as zmap: 0/4 to 3/4)", v)
		}
		if shardsSet && m != n {
			return spec, usageError("invalid shard %q: --shards says %d shards", v, n)
		}
		spec = shardSpec{shard: i, shards: m, from: "--shard"}
	case shardsSet && getenv(envK8sIndex) != "":
		v := getenv(envK8sIndex)
		i, err := strconv.Atoi(v)
		if err != nil || i < 0 || i >= n {
			return spec, usageError("invalid %s %q: want 0 to %d for --shards %d", envK8sIndex, v, n-1, n)
		}
		spec = shardSpec{shard: i, shards: n, from: envK8sIndex}
	case getenv(envSlurmTask) != "":
		task, count, ok := slurmShard(getenv)
		if !ok {
			return spec, usageError("invalid Slurm job array task %s=%q of %s=%q (%s=%q): want ids from the smallest to the smallest + count - 1",
				envSlurmTask, getenv(envSlurmTask), envSlurmCount, getenv(envSlurmCount), envSlurmMin, getenv(envSlurmMin))
		}
		if shardsSet && count != n {
			return spec, usageError("invalid shards %d: the Slurm job array has %d tasks (%s)", n, count, envSlurmCount)
		}
		spec = shardSpec{shard: task, shards: count, from: envSlurmTask}
	case shardsSet && n > 1:
		return spec, usageError("--shards %d: which shard is this? give --shard I/%d, or run as a Kubernetes Indexed Job (%s) or a Slurm job array (%s)", n, n, envK8sIndex, envSlurmTask)
	}
	if spec.from != "" && !c.IsSet("seed") {
		return spec, usageError("shard %d/%d (from %s) needs --seed: every shard of a scan must use the same seed", spec.shard, spec.shards, spec.from)
	}
	return spec, nil
}

// maxShards bounds --shards and N of --shard.
const maxShards = 1 << 20

// parseShardValue reads "I/N".
func parseShardValue(v string) (i, n int, ok bool) {
	a, b, found := strings.Cut(strings.TrimSpace(v), "/")
	if !found {
		return 0, 0, false
	}
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil || n < 1 || n > maxShards || i < 0 || i >= n {
		return 0, 0, false
	}
	return i, n, true
}

// slurmShard is the shard of a Slurm job array task: its id less the array's
// smallest id, of the array's task count.
func slurmShard(getenv func(string) string) (task, count int, ok bool) {
	id, err1 := strconv.Atoi(getenv(envSlurmTask))
	count, err2 := strconv.Atoi(getenv(envSlurmCount))
	lo := 0
	if v := getenv(envSlurmMin); v != "" {
		var err error
		if lo, err = strconv.Atoi(v); err != nil {
			return 0, 0, false
		}
	}
	task = id - lo
	if err1 != nil || err2 != nil || count < 1 || count > maxShards || task < 0 || task >= count {
		return 0, 0, false
	}
	return task, count, true
}

// parseSenders reads --senders; unset, the default for the rate.
func parseSenders(c *cli.Context, rate float64) (int, error) {
	if !c.IsSet("senders") {
		return defaultSenders(rate, engine.DefaultSenders()), nil
	}
	n := c.Int("senders")
	if n < 1 || n > engine.MaxSenders {
		return 0, usageError("invalid senders %q: must be 1 to %d", c.String("senders"), engine.MaxSenders)
	}
	return n, nil
}

// oneSenderRate is the rate up to which one sender is the default: one sender
// reaches it with room to spare (about 190,000 probes/s into a veth that drops
// everything, on a loaded 2-vCPU VM: README "Senders"), and more would only split
// the batches.
const oneSenderRate = 150_000

// defaultSenders is --senders unset: one where one sender keeps up with the rate;
// above it one per CPU the process may use (cpus) but one, which the receiver and
// the kernel's softirqs need: with 2 CPUs that is one sender, as measured (a
// second sender took the receiver's CPU and doubled the replies missed).
func defaultSenders(rate float64, cpus int) int {
	if rate <= oneSenderRate || cpus < 3 {
		return 1
	}
	return cpus - 1
}

// scanID is the stable id of a scan: the same for every shard and every run (a
// resumed one too) of one scan, different for scans that probe differently. It
// hashes what decides which target a position means and what the probes and
// their cookies are (seed, targets, ports, source ports), and nothing about
// shards, senders, rate or outputs. fastscan merge refuses files of two ids.
func scanID(s *settings) string {
	h := sha256.New()
	fmt.Fprintf(h, "fastscan scan id 1\nseed %d\n", s.cfg.Seed)
	for _, r := range s.cfg.Targets.Ranges() {
		fmt.Fprintf(h, "target %v-%v\n", r.First, r.Last)
	}
	fmt.Fprintf(h, "tcp %v\nudp %v\nsource ports %d-%d\n", s.cfg.Ports.List(), s.cfg.UDPPorts.List(), s.cfg.SourcePortLo, s.cfg.SourcePortHi)
	return hex.EncodeToString(h.Sum(nil)[:16])
}

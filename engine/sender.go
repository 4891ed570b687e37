package engine

import (
	"runtime"
	"sync/atomic"

	"golang.org/x/sys/cpu"

	"github.com/fastscan/fastscan/link"
	"github.com/fastscan/fastscan/ratelimit"
)

// MaxSenders bounds Config.Senders.
const MaxSenders = 256

// DefaultSenders is the number of CPUs this process may run on: the smaller of
// GOMAXPROCS and the CPUs of its scheduler affinity mask (taskset, cgroup
// cpusets, a Slurm or Kubernetes CPU allocation).
func DefaultSenders() int {
	n := runtime.GOMAXPROCS(0)
	if c := affinityCPUs(); c > 0 {
		n = min(n, c)
	}
	return max(1, min(n, MaxSenders))
}

// domain is the part of the scan's permutation this scanner owns, and how its
// senders split it. The scan's positions 0..total-1 are dealt round-robin to
// the shards: shard I of N owns the positions p with p mod N == I, which are its
// local positions k = (p - I) / N. Its S senders deal the local positions
// round-robin again: sender j owns k with k mod S == j, its own positions
// m = (k - j) / S. So p = I + N*(j + S*m): shards and senders are strides of
// one permutation, the shards of a scan tile it exactly whatever each one's
// number of senders, and a local position means the same target whatever S is
// (a checkpoint's position survives a change of --senders).
type domain struct {
	shard, shards uint64 // I, N
	senders       uint64 // S
	n             uint64 // local positions: the shard's share of the scan
}

func newDomain(total uint64, shard, shards, senders int) domain {
	d := domain{shard: uint64(shard), shards: uint64(max(shards, 1)), senders: uint64(max(senders, 1))}
	if d.shard < total {
		d.n = (total - d.shard + d.shards - 1) / d.shards
	}
	return d
}

// global is the scan position of local position k.
func (d *domain) global(k uint64) uint64 { return d.shard + d.shards*k }

// local is the local position of scan position p, and whether p is the shard's.
func (d *domain) local(p uint64) (k uint64, ok bool) {
	if d.shards <= 1 {
		return p, true
	}
	if p%d.shards != d.shard {
		return 0, false
	}
	return p / d.shards, true
}

// owner is the sender j of local position k and k's position m among j's own.
func (d *domain) owner(k uint64) (j int, m uint64) {
	if d.senders <= 1 {
		return 0, k
	}
	return int(k % d.senders), k / d.senders
}

// count is how many own positions sender j has.
func (d *domain) count(j int) uint64 {
	if uint64(j) >= d.n {
		return 0
	}
	return (d.n - uint64(j) + d.senders - 1) / d.senders
}

// firstFrom is sender j's first own position at or after local position k.
func (d *domain) firstFrom(j int, k uint64) uint64 {
	if k <= uint64(j) {
		return 0
	}
	return (k - uint64(j) + d.senders - 1) / d.senders
}

// sender is one sending goroutine's state: its transmitter, rate limiter and
// send clock, and the counters it writes, alone on their cache lines so that
// senders on different cores do not invalidate each other's (nor the
// receiver's) lines with every batch.
type sender struct {
	id      int
	tx      link.Transmitter
	limiter *ratelimit.Limiter
	// hosts is the scratch list of the hosts of the pending first-pass batch.
	hosts []uint64

	_ cpu.CacheLinePad
	// sent counts the probes the link took.
	sent atomic.Uint64
	// pos is how many of its own positions of the current pass the sender has
	// gone through (sent or skipped).
	pos atomic.Uint64
	// left is the first pass's own position the link has been handed every
	// probe below: a reply for a target at or beyond it answers no probe of ours.
	left atomic.Uint64
	// probed counts the hosts this sender marked probed first, and down the
	// targets of the first pass it skipped because their host is down (only
	// meaningful after a first pass that started at 0). Sender only; read after.
	probed, down uint64
	// The loss samples this sender counted (loss.go), in all and in the
	// current window of Config.Adaptive.
	lossPairs, lossAnswered, lossOne atomic.Uint64
	winAnswered, winOne              atomic.Uint64
	_                                cpu.CacheLinePad

	// loss is the sender's loss samples (nil: none); rateGen the adaptive
	// rate generation its limiter has.
	loss    *senderLoss
	rateGen uint64

	clock sendClock // own positions -> send times
}

// newSenders makes the senders of a scan of s.dom (without links or limiters).
func newSenders(n int) []*sender {
	out := make([]*sender, n)
	for j := range out {
		out[j] = &sender{id: j}
	}
	return out
}

// position is the scan's local position as far as every sender has gone: every
// local position below it was gone through in the current pass (the smallest of
// the senders' next local positions, at most the shard's share).
func (s *Scanner) position() uint64 {
	d := &s.dom
	pos := d.n
	for _, sd := range s.senders {
		pos = min(pos, uint64(sd.id)+d.senders*sd.pos.Load())
	}
	return pos
}

// sentTotal is the number of probes the link took, over all senders.
func (s *Scanner) sentTotal() uint64 {
	var n uint64
	for _, sd := range s.senders {
		n += sd.sent.Load()
	}
	return n
}

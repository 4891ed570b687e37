package engine

import "sync/atomic"

// checkpoints is how many recent batches the send clock remembers.
const checkpoints = 4096

// checkpointMargin keeps the receiver away from the oldest checkpoints, which the
// sender may be overwriting while the receiver reads them.
const checkpointMargin = 64

// sendClock tells the receiver when the first pass sent a given position, so that it
// can measure round-trip times without any per-probe state: the sender records one
// checkpoint (position reached, time) per flushed batch in a ring, and the receiver
// binary-searches it. One goroutine writes, another reads, both without locks; a
// reading that races with a write is at worst a slightly wrong estimate.
type sendClock struct {
	pos   [checkpoints]atomic.Uint64 // every position below pos had been sent at nanos
	nanos [checkpoints]atomic.Int64
	n     atomic.Uint64 // checkpoints recorded
}

// record notes that every position below pos had been sent at time nanos.
func (c *sendClock) record(pos uint64, nanos int64) {
	i := c.n.Load()
	c.pos[i%checkpoints].Store(pos)
	c.nanos[i%checkpoints].Store(nanos)
	c.n.Store(i + 1)
}

// sentAt returns when position p was sent (the time of the batch that sent it). ok is
// false when p has not been sent yet or was sent longer ago than the ring remembers.
func (c *sendClock) sentAt(p uint64) (nanos int64, ok bool) {
	n := c.n.Load()
	lo := uint64(0)
	if n > checkpoints-checkpointMargin {
		lo = n - (checkpoints - checkpointMargin)
	}
	hi := n
	// The first checkpoint whose position is past p.
	for lo < hi {
		mid := lo + (hi-lo)/2
		if c.pos[mid%checkpoints].Load() > p {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	if lo == n {
		return 0, false
	}
	if lo > 0 && n > checkpoints-checkpointMargin && lo == n-(checkpoints-checkpointMargin) {
		return 0, false // older than the ring remembers
	}
	return c.nanos[lo%checkpoints].Load(), true
}

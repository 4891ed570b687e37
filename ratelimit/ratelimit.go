// Package ratelimit paces the sender: a token bucket that hands out tokens a
// batch at a time on an absolute schedule, so the long-run rate is exact from
// a few packets per second to millions, without a sleep per packet.
//
// Token k (counting from the start of the schedule) accrues at
// origin + k/rate. Wait(n) returns once the caller's next n tokens have
// accrued. Because the schedule is absolute, a wait that oversleeps makes the
// next one shorter, and errors never accumulate. The bucket holds at most
// Burst tokens: a caller that falls behind (or pauses) catches up by at most
// that many, then the schedule restarts from the present.
//
// Long waits sleep; only the last few tens of microseconds are spent yielding
// the processor in a loop, for precision.
package ratelimit

import (
	"context"
	"math"
	"runtime"
	"time"
)

const (
	// MaxBatch is the largest batch Batch recommends.
	MaxBatch = 256
	// batchesPerSecond is the batch frequency Batch aims for at high rates.
	batchesPerSecond = 2000
	// burstTime is how much sending time the bucket can save up, at least.
	burstTime = 2 * time.Millisecond
	// spinWindow is the part of a wait spent yielding instead of sleeping:
	// it covers the usual lateness of a timer wake-up.
	spinWindow = 50 * time.Microsecond
)

// clock is the time source of a Limiter; tests substitute a simulated one.
type clock interface {
	// Now returns monotonic time in nanoseconds.
	Now() int64
	// Sleep blocks for about d, or until ctx is done, in which case it
	// returns ctx.Err().
	Sleep(ctx context.Context, d time.Duration) error
	// Yield gives up the processor briefly while spinning.
	Yield()
}

// Limiter is a token bucket limiting a rate of packets per second. It is
// meant for one sending goroutine and is not safe for concurrent use.
type Limiter struct {
	rate     float64
	interval float64 // nanoseconds per token; 0 means unlimited
	batch    int
	burst    float64 // bucket capacity in tokens
	clock    clock

	started bool
	origin  int64  // the schedule's start, in clock nanoseconds
	taken   uint64 // tokens taken since origin
}

// New returns a Limiter for rate packets per second. A rate that is not a
// positive finite number means no limit: Wait then never blocks.
func New(rate float64) *Limiter {
	return newWithClock(rate, newRealClock())
}

func newWithClock(rate float64, c clock) *Limiter {
	l := &Limiter{clock: c}
	l.setRate(rate)
	return l
}

// setRate sets the rate and what follows from it: interval, batch, burst.
func (l *Limiter) setRate(rate float64) {
	l.rate, l.interval, l.batch, l.burst = rate, 0, MaxBatch, 0
	if !(rate > 0) || math.IsInf(rate, 1) {
		l.rate = math.Inf(1)
		return
	}
	l.interval = 1e9 / rate
	l.batch = int(min(max(rate/batchesPerSecond, 1), MaxBatch))
	l.burst = max(float64(l.batch), rate*burstTime.Seconds())
}

// SetRate changes the limit to rate packets per second (as New reads it) from
// now on, without a burst or a gap: the tokens already taken keep the times
// they were due at, and the next ones accrue at the new rate from the last of
// them. Batch and Burst follow the new rate. Like Wait, SetRate is for the
// sending goroutine only; it does not allocate.
func (l *Limiter) SetRate(rate float64) {
	if l.started && l.interval > 0 {
		// The point the schedule has reached: the due time of the last token taken.
		l.origin += int64(float64(l.taken) * l.interval)
		l.taken = 0
	} else {
		l.started = false // from no limit: the schedule starts at the next Wait
	}
	l.setRate(rate)
}

// Rate returns the limit in packets per second; +Inf if there is none.
func (l *Limiter) Rate() float64 { return l.rate }

// Batch returns the recommended number of packets to send per Wait at this
// rate: about rate/2000 (so that batches are at most 0.5 ms apart), between
// 1 and MaxBatch.
func (l *Limiter) Batch() int { return l.batch }

// Burst returns the bucket's capacity: the most tokens that can be taken at
// once without waiting, the larger of one batch and 2 ms worth of tokens.
// It is +Inf if there is no limit.
func (l *Limiter) Burst() float64 {
	if l.interval == 0 {
		return math.Inf(1)
	}
	return l.burst
}

// Wait blocks until n more tokens have accrued and takes them. The bucket
// starts with one batch of tokens at the first call. If ctx is done before
// the tokens are available, Wait returns ctx.Err() and takes nothing. Wait
// does not allocate.
func (l *Limiter) Wait(ctx context.Context, n int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if l.interval == 0 || n <= 0 {
		return nil
	}
	now := l.clock.Now()
	if !l.started {
		l.started = true
		l.origin = now - int64(float64(l.batch)*l.interval)
	}
	if float64(now-l.origin) > (float64(l.taken)+l.burst)*l.interval {
		// More than a full bucket has accrued (the caller fell behind or
		// paused): forget the excess.
		l.origin = now - int64(l.burst*l.interval)
		l.taken = 0
	}
	target := l.taken + uint64(n)
	due := l.origin + int64(float64(target)*l.interval)
	if err := l.waitUntil(ctx, due, now); err != nil {
		return err
	}
	l.taken = target
	return nil
}

// waitUntil blocks until the clock reads due: it sleeps for all but the last
// spinWindow and yields in a loop for the rest.
func (l *Limiter) waitUntil(ctx context.Context, due, now int64) error {
	done := ctx.Done()
	for {
		wait := time.Duration(due - now)
		if wait <= 0 {
			return nil
		}
		if wait > spinWindow {
			if err := l.clock.Sleep(ctx, wait-spinWindow); err != nil {
				return err
			}
		} else {
			select {
			case <-done:
				return ctx.Err()
			default:
			}
			l.clock.Yield()
		}
		now = l.clock.Now()
	}
}

// realClock is the system's monotonic clock.
type realClock struct {
	epoch time.Time
	timer *time.Timer // reused by every Sleep so that sleeping allocates nothing
}

func newRealClock() *realClock {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &realClock{epoch: time.Now(), timer: t}
}

// Now returns the nanoseconds since the clock was made (monotonic).
func (c *realClock) Now() int64 { return int64(time.Since(c.epoch)) }

// Sleep waits d, or until ctx is done.
func (c *realClock) Sleep(ctx context.Context, d time.Duration) error {
	c.timer.Reset(d)
	select {
	case <-c.timer.C:
		return nil
	case <-ctx.Done():
		c.timer.Stop()
		return ctx.Err()
	}
}

// Yield lets other goroutines run.
func (c *realClock) Yield() { runtime.Gosched() }

package engine

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Config.Adaptive: the rate follows the loss estimate (loss.go), AIMD-like. Sender
// 0 decides after its flushes, on windows of samples whose first probe left after
// the last change, from the rate the senders actually reached in the window (at
// most the rate set):
//   - loss above AdaptiveHigh: what got through, rate x (1 - loss), is taken as
//     the path's capacity, and the rate is set to 0.9 of it: at a path that
//     drops above some rate, just under that rate in one step (at most 8 times
//     lower in one step: at a very high loss the estimate is coarse);
//   - loss below AdaptiveLow: the rate was safe (retry passes, which send no
//     samples, run at 0.9 of the last safe rate); it is raised by a sixteenth of
//     Config.Rate, or near the capacity found by the last decrease by a
//     thirty-second of that capacity (which rises with it), never above
//     Config.Rate;
//   - in between, the rate stays.
// Each sender's limiter takes a new rate at its next flush
// (ratelimit.Limiter.SetRate).

const (
	// AdaptiveHigh is the estimated loss above which --adaptive lowers the rate.
	AdaptiveHigh = 0.03
	// AdaptiveLow is the estimated loss below which it raises the rate again.
	AdaptiveLow = 0.01
	// adaptWindow is how many answering samples a decision takes; after
	// adaptWindowTime, adaptWindowMin are enough.
	adaptWindow     = 64
	adaptWindowMin  = 16
	adaptWindowTime = time.Second
	// adaptBackoff is the share of the capacity found the rate is set to.
	adaptBackoff = 0.9
)

// RateChange is one change of the send rate by Config.Adaptive.
type RateChange struct {
	// Time is when the rate changed.
	Time time.Time
	// Rate is the new rate (probes per second, over all senders), Loss the
	// estimated loss of the window that decided it (0 to 1).
	Rate, Loss float64
}

// adaptive is the rate controller of Config.Adaptive.
type adaptive struct {
	max, min float64
	// Sender 0's (and the send goroutine's between passes).
	rate     float64
	ceiling  float64 // the capacity the last decrease found (+Inf: none)
	safe     float64 // the latest rate of a window below AdaptiveLow (0: none)
	winStart int64
	ans0     uint64 // window counts and probes sent when the window started
	one0     uint64
	sent0    uint64
	// epoch: samples whose first probe left before it belong to no window.
	epoch atomic.Int64
	// rateBits is the current rate (math.Float64bits) and gen counts changes.
	rateBits atomic.Uint64
	gen      atomic.Uint64

	mu      sync.Mutex
	changes []RateChange
}

func newAdaptive(rate float64) *adaptive {
	a := &adaptive{max: rate, min: min(rate, max(rate/256, 100)), rate: rate, ceiling: math.Inf(1)}
	a.rateBits.Store(math.Float64bits(rate))
	return a
}

// decide looks at the window of samples counted since the last decision, at now
// (sender 0, after a flush), and changes the rate if the window is full.
func (s *Scanner) decide(now int64) {
	a := s.adapt
	if a.winStart == 0 {
		a.winStart, a.sent0 = now, s.sentTotal()
	}
	var ans, one uint64
	for _, sd := range s.senders {
		ans += sd.winAnswered.Load()
		one += sd.winOne.Load()
	}
	n := ans - a.ans0
	if n < adaptWindow && (n < adaptWindowMin || now-a.winStart < int64(adaptWindowTime)) {
		return
	}
	loss := lossFromShare(float64(one-a.one0) / float64(n))
	sent := s.sentTotal()
	reached := a.rate
	if secs := float64(now-a.winStart) / 1e9; secs > 0 && sent > a.sent0 {
		reached = min(reached, float64(sent-a.sent0)/secs)
	}
	a.ans0, a.one0, a.sent0, a.winStart = ans, one, sent, now
	rate := a.rate
	switch {
	case loss > AdaptiveHigh:
		// At a high loss the window's few samples that answered both probes
		// make the estimate coarse: one step divides the rate by 8 at most.
		a.ceiling = reached * max(1-loss, 1/(8*adaptBackoff))
		rate = max(a.min, a.ceiling*adaptBackoff)
	case loss < AdaptiveLow:
		a.safe = reached
		step := a.max / 16
		if rate+step > a.ceiling*adaptBackoff {
			step = a.ceiling / 32
		}
		rate = min(a.max, rate+step)
		a.ceiling = max(a.ceiling, rate)
	}
	s.setRate(now, rate, loss)
}

// setRate makes rate the senders' rate from now (a change decided on an
// estimated loss), if it is not already.
func (s *Scanner) setRate(now int64, rate, loss float64) {
	a := s.adapt
	if rate == a.rate {
		return
	}
	verb := "lowered"
	if rate > a.rate {
		verb = "raised"
	}
	a.rate = rate
	a.epoch.Store(now)
	a.rateBits.Store(math.Float64bits(rate))
	a.gen.Add(1)
	c := RateChange{Time: time.Unix(0, now), Rate: rate, Loss: loss}
	a.mu.Lock()
	a.changes = append(a.changes, c)
	a.mu.Unlock()
	s.cfg.Notice(fmt.Sprintf("adaptive: rate %s to %.0f/s (estimated loss %.1f%%)", verb, rate, 100*loss))
	if s.cfg.RateChanged != nil {
		s.cfg.RateChanged(c)
	}
}

// retryRate sets the rate of a retry pass, which sends no loss samples and
// cannot adapt: 0.9 of the latest rate found safe (a window is short: a
// policer's burst can hide a rate a little too high), if lower than the rate
// now (send goroutine, between passes).
func (s *Scanner) retryRate() {
	a := s.adapt
	if a == nil || a.safe == 0 || a.safe*adaptBackoff >= a.rate {
		return
	}
	loss, _ := s.lossStats().Estimate()
	s.setRate(time.Now().UnixNano(), max(a.min, a.safe*adaptBackoff), loss)
}

// applyRate gives sender sd's limiter the adaptive rate if it changed, and
// returns the limiter's batch.
func (s *Scanner) applyRate(sd *sender) int {
	if a := s.adapt; a != nil {
		if gen := a.gen.Load(); gen != sd.rateGen {
			sd.rateGen = gen
			sd.limiter.SetRate(s.currentRate() / float64(len(s.senders)))
		}
	}
	return sd.limiter.Batch()
}

// currentRate is the rate the senders are set to: Config.Rate, or as Adaptive
// changed it.
func (s *Scanner) currentRate() float64 {
	if s.adapt == nil {
		return s.cfg.Rate
	}
	return math.Float64frombits(s.adapt.rateBits.Load())
}

// RateChanges returns the changes Config.Adaptive made to the rate so far, oldest
// first. Any goroutine.
func (s *Scanner) RateChanges() []RateChange {
	if s.adapt == nil {
		return nil
	}
	s.adapt.mu.Lock()
	defer s.adapt.mu.Unlock()
	return append([]RateChange(nil), s.adapt.changes...)
}

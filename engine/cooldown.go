package engine

import (
	"context"
	"time"
)

const (
	// minQuiet is the shortest silence that ends a cool-down: well above a receive
	// ring's block timeout, so a reply held in a partly filled block is not missed.
	minQuiet = 20 * time.Millisecond
	// initialRTO is the retransmission timeout before any round trip was measured,
	// as RFC 6298 sets it.
	initialRTO = time.Second
)

// probedTargets is the number of targets that are probed: all but those of down
// hosts. A shard knows how many of its own targets are on down hosts only once
// its senders went through a whole first pass; before, its whole share is an
// upper bound (cool-downs then end by silence, not by everything answered).
func (s *Scanner) probedTargets() uint64 {
	if s.dom.shards <= 1 {
		return s.total - s.plan.hostsDown.Load()*s.nports
	}
	if !s.downKnown.Load() {
		return s.dom.n
	}
	var down uint64
	for _, sd := range s.senders {
		down += sd.down
	}
	return s.dom.n - down
}

func (s *Scanner) answeredAll() bool { return s.answered.Load() >= s.probedTargets() }

// quiet is how long replies must have stopped before a cool-down ends: a
// retransmission timeout over the round-trip times seen (initialRTO before the
// first), within [minQuiet, Wait].
func (s *Scanner) quiet() time.Duration {
	q := time.Duration(s.rto.Load())
	if q == 0 {
		q = initialRTO
	}
	q = max(q, minQuiet)
	return min(q, s.cfg.Wait)
}

// coolDown waits after a pass until everything is answered, or nothing has arrived
// for quiet() since the pass ended or the last reply, or Wait has passed.
func (s *Scanner) coolDown(ctx context.Context, passEnd time.Time) {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !s.settled(passEnd, s.cfg.Wait) {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// drain lets replies to probes already sent arrive after an interrupted pass, so
// that nothing already on the wire is lost: like a cool-down, but it cannot itself be
// interrupted and lasts at most one quiet period.
func (s *Scanner) drain(passEnd time.Time) {
	for !s.settled(passEnd, s.quiet()) {
		time.Sleep(time.Millisecond)
	}
}

// settled reports whether the replies to a pass that ended at passEnd are all in:
// every target answered, or silence for quiet() since the later of the pass's end and
// the last reply, or limit passed since the pass's end.
func (s *Scanner) settled(passEnd time.Time, limit time.Duration) bool {
	if s.answeredAll() {
		return true
	}
	now := time.Now()
	if now.Sub(passEnd) >= limit {
		return true
	}
	last := passEnd
	if r := time.Unix(0, s.lastReply.Load()); r.After(last) {
		last = r
	}
	return now.Sub(last) >= s.quiet()
}

// rttEstimator keeps a smoothed round-trip time and its variation as TCP does
// (RFC 6298). The receiver alone uses it.
type rttEstimator struct {
	srtt, rttvar float64 // seconds
	samples      uint64
}

// add takes one sample and returns the retransmission timeout srtt + 4*rttvar.
func (e *rttEstimator) add(rtt time.Duration) time.Duration {
	x := rtt.Seconds()
	if e.samples == 0 {
		e.srtt, e.rttvar = x, x/2
	} else {
		d := e.srtt - x
		if d < 0 {
			d = -d
		}
		e.rttvar = 0.75*e.rttvar + 0.25*d
		e.srtt = 0.875*e.srtt + 0.125*x
	}
	e.samples++
	return time.Duration((e.srtt + 4*e.rttvar) * float64(time.Second))
}

// sampleRTT measures the round-trip time of a first-pass answer that arrived at
// tsNanos to the probe of sender j's own position m: j's send clock says when its
// batch started to leave. A reply
// stamped before that (the kernel timestamped it while the send call that carried
// its probe was still running: veth, loopback, a fast LAN) is a round trip of 0,
// not a sample to throw away. The resulting timeout sizes cool-downs.
func (s *Scanner) sampleRTT(j int, m, idx uint64, ip uint32, tsNanos int64) {
	if s.pass.Load() != 0 {
		return
	}
	var sent int64
	var ok bool
	if h := s.plan.hop(ip); h != nil && h.late {
		sent, ok = s.lateSentAt(h, idx) // sent by the catch-up (onlink.go)
	} else {
		sent, ok = s.senders[j].clock.sentAt(m)
	}
	if !ok {
		return
	}
	rto := s.rtt.add(time.Duration(max(tsNanos-sent, 0)))
	s.rto.Store(int64(max(rto, 1))) // 0 means no sample yet
	s.srtt.Store(int64(s.rtt.srtt * float64(time.Second)))
}

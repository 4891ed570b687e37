package engine

import (
	"time"
)

// etaMinSent is how many targets the first pass must have gone through before
// the share that answers is read from them; before, every target is taken to
// stay silent (the longest scan: every retry pass sends everything again).
const etaMinSent = 64

// remaining estimates how long the scan still runs from now, in phase ph of
// pass pass at position pos, sending at rate:
//
//   - the current pass's probes still to send: the first pass's targets from
//     pos on (on hosts that are probed, plus the loss samples' second probes), a
//     retry pass's unanswered targets from pos on;
//   - each retry pass still to come, sending the targets expected unanswered at
//     the end of this pass (the share of the targets gone through that got no
//     answer so far, applied to all; retries stop when everything answered);
//   - the cool-down after each of those passes, and the rest of the current
//     one: replies stop a round trip after the pass, then the silence that ends
//     a cool-down (quiet: the retransmission timeout), at most Wait; a pass
//     whose every target answered needs only the round trip.
//
// It is 0 once the scan has ended.
func (s *Scanner) remaining(now time.Time, ph Phase, pass int, pos uint64, rate float64) time.Duration {
	switch ph {
	case PhaseDone, PhaseInterrupted, PhaseFailed, PhaseReplaying:
		return 0
	}
	if rate <= 0 || s.dom.n == 0 {
		return 0
	}
	n := float64(s.dom.n)
	pos = min(pos, s.dom.n)
	probed, answered := n, 0.0
	if ph >= PhaseScanning { // the plan (hosts down) is made before
		probed, answered = float64(s.probedTargets()), float64(s.answered.Load())
	}
	left := n - float64(pos) // positions of this pass still to go through

	// unansweredEnd: targets expected without an answer at the end of this pass.
	var send, unansweredEnd float64
	if pass == 0 && s.firstPass == 0 {
		share := probed / n // of the positions, those on hosts probed
		send = left * share
		if s.loss != nil {
			send += send / float64(s.loss.stride) // the second probes
		}
		silent := 1.0
		if gone := float64(pos) * share; gone >= etaMinSent {
			silent = min(max(1-answered/gone, 0), 1)
		}
		unansweredEnd = probed * silent
	} else {
		// A retry pass, or a resumed scan: only the unanswered are probed, spread
		// over the positions.
		unanswered := max(probed-answered, 0)
		send = unanswered * left / n
		unansweredEnd = unanswered
	}
	d := send / rate

	srtt := time.Duration(s.srtt.Load())
	cool := srtt
	if unansweredEnd >= 1 {
		cool = min(srtt+s.quiet(), s.cfg.Wait)
	}
	if ph == PhaseCoolingDown {
		// The rest of this cool-down: quiet after the last reply, at most Wait
		// after the pass.
		end := time.Unix(0, s.passEnd.Load())
		last := end
		if r := time.Unix(0, s.lastReply.Load()); r.After(last) {
			last = r
		}
		rest := min(end.Add(s.cfg.Wait).Sub(now), last.Add(s.quiet()).Sub(now))
		if unansweredEnd < 1 {
			rest = 0
		}
		d += max(rest.Seconds(), 0)
	} else {
		d += cool.Seconds()
	}
	if unansweredEnd >= 1 {
		retries := float64(s.cfg.Retries - pass)
		if retries > 0 {
			d += retries * (unansweredEnd/rate + cool.Seconds())
		}
	}
	return time.Duration(d * float64(time.Second))
}

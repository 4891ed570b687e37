package main

import (
	"encoding/json"
	"io"
	"time"

	"github.com/fastscan/fastscan/engine"
)

// statusInterval is how often --status-json writes a line.
const statusInterval = time.Second

// statusLine is one line of --status-json, for automation.
type statusLine struct {
	Time       string  `json:"time"`
	Phase      string  `json:"phase"`
	Pass       int     `json:"pass"`
	Rate       float64 `json:"rate"`
	Sent       uint64  `json:"sent"`
	Received   uint64  `json:"received"`
	Found      uint64  `json:"found"`
	Closed     uint64  `json:"closed"`
	Filtered   uint64  `json:"filtered"`
	Drops      uint64  `json:"drops"`
	Percent    float64 `json:"percent"`
	ETASeconds float64 `json:"eta_seconds"`
	// Loss is the estimated share of probes lost (0 to 1), once enough
	// sampled targets answered; LossSamples counts those that did.
	Loss        *float64 `json:"loss,omitempty"`
	LossSamples uint64   `json:"loss_samples,omitempty"`
	// RateLimit is the rate the senders are set to (-r, or as --adaptive set it).
	RateLimit float64 `json:"rate_limit"`
	// RateChanges are the changes --adaptive made since the previous line;
	// the last line has every change of the scan.
	RateChanges []rateChange `json:"rate_changes,omitempty"`
	// OpenEverywhere counts, in the last line, the hosts that answered SYN-ACK on
	// (nearly) every TCP port probed (a SYN proxy or tarpit?), and
	// OpenEverywhereHosts lists the first statusOpenEverywhere of them.
	OpenEverywhere      int          `json:"open_everywhere,omitempty"`
	OpenEverywhereHosts []statusHost `json:"open_everywhere_hosts,omitempty"`
}

// rateChange is one change of the rate by --adaptive.
type rateChange struct {
	Time string  `json:"time"`
	Rate float64 `json:"rate"`
	Loss float64 `json:"loss"`
}

func rateChanges(cs []engine.RateChange) []rateChange {
	var out []rateChange
	for _, c := range cs {
		out = append(out, rateChange{Time: c.Time.UTC().Format(time.RFC3339Nano), Rate: c.Rate, Loss: c.Loss})
	}
	return out
}

// newStatusLine describes p; pps is the send rate measured since the last line.
// The ETA is the engine's estimate (Progress.Remaining).
func newStatusLine(now time.Time, p engine.Progress, pps float64) statusLine {
	l := statusLine{
		Time: now.UTC().Format(time.RFC3339Nano), Phase: p.Phase.String(), Pass: p.Pass, Rate: pps,
		Sent: p.Sent, Received: p.Replies, Found: p.Open, Closed: p.Closed, Filtered: p.Filtered,
		Drops: p.RingDrops, RateLimit: p.Rate, LossSamples: p.Loss.Answered,
	}
	if loss, ok := p.Loss.Estimate(); ok {
		l.Loss = &loss
	}
	if p.Targets > 0 {
		done := min(p.Position, p.Targets)
		l.Percent = 100 * float64(done) / float64(p.Targets)
	}
	if p.Phase != engine.PhaseDone && p.Phase != engine.PhaseInterrupted {
		// The whole scan's: retry passes and cool-downs included (engine's estimate).
		l.ETASeconds = p.Remaining.Seconds()
	}
	return l
}

// writeStatus writes one status line per statusInterval to w, from progress, until
// the returned stop is called, which writes a last line from the scan's summary:
// phase "done", or "interrupted" for a scan stopped early.
//
// changes returns the changes of the rate so far (engine.Scanner.RateChanges).
func writeStatus(w io.Writer, progress func() engine.Progress, changes func() []engine.RateChange, rate float64) (stop func(final engine.Summary)) {
	enc := json.NewEncoder(w)
	var lastSent uint64
	last := time.Now()
	measure := func(now time.Time, p engine.Progress) float64 {
		pps := float64(p.Sent-lastSent) / max(now.Sub(last).Seconds(), 1e-9)
		lastSent, last = p.Sent, now
		return pps
	}
	logged := 0
	stopTicks := runEvery(statusInterval, func(now time.Time) {
		p := progress()
		l := newStatusLine(now, p, measure(now, p))
		if cs := changes(); len(cs) > logged {
			l.RateChanges = rateChanges(cs[logged:])
			logged = len(cs)
		}
		enc.Encode(l)
	})
	return func(final engine.Summary) {
		stopTicks()
		now := time.Now()
		p := final.Progress
		if final.Interrupted {
			p.Phase = engine.PhaseInterrupted
		}
		l := newStatusLine(now, p, measure(now, p))
		l.RateChanges = rateChanges(final.RateChanges)
		l.OpenEverywhere, l.OpenEverywhereHosts = len(final.OpenEverywhere), statusOpenEverywhereHosts(final.OpenEverywhere)
		enc.Encode(l)
	}
}

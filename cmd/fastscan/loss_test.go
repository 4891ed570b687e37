package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fastscan/fastscan/engine"
)

// TestLossFlags: the loss estimate is on by default, --no-loss-estimate turns it
// off, --adaptive turns the rate control on, and the two together are refused.
func TestLossFlags(t *testing.T) {
	s, code, stderr := captured(t, "198.19.0.0/24", "-p", "80")
	if code != exitOK || !s.cfg.EstimateLoss || s.cfg.Adaptive {
		t.Fatalf("defaults: exit %d, estimate %v, adaptive %v: %s", code, s.cfg.EstimateLoss, s.cfg.Adaptive, stderr)
	}
	s, code, _ = captured(t, "198.19.0.0/24", "-p", "80", "--adaptive")
	if code != exitOK || !s.cfg.EstimateLoss || !s.cfg.Adaptive {
		t.Fatalf("--adaptive: exit %d, estimate %v, adaptive %v", code, s.cfg.EstimateLoss, s.cfg.Adaptive)
	}
	s, code, _ = captured(t, "198.19.0.0/24", "-p", "80", "--no-loss-estimate")
	if code != exitOK || s.cfg.EstimateLoss {
		t.Fatalf("--no-loss-estimate: exit %d, estimate %v", code, s.cfg.EstimateLoss)
	}
	_, code, stderr = captured(t, "198.19.0.0/24", "-p", "80", "--no-loss-estimate", "--adaptive")
	if code != exitUsage || !strings.Contains(stderr, "--adaptive needs the loss estimate") {
		t.Fatalf("both: exit %d: %s", code, stderr)
	}
}

// TestProgressLineLoss: the progress line shows the estimate once it means
// something, and the rate when --adaptive changed it.
func TestProgressLineLoss(t *testing.T) {
	p := engine.Progress{Phase: engine.PhaseScanning, Targets: 10, Rate: 1000, Loss: engine.LossStats{Pairs: 100, Answered: 10, One: 3}}
	if line := progressLine(p, 1000, 1000); strings.Contains(line, "loss") || strings.Contains(line, "rate") {
		t.Errorf("progress line %q with 10 answering samples", line)
	}
	p.Loss = engine.LossStats{Pairs: 1000, Answered: 100, One: 20} // x 0.2: p = 0.2/1.8
	p.Rate = 500
	line := progressLine(p, 1000, 1000)
	for _, want := range []string{"loss 11.1%", "rate 500/s"} {
		if !strings.Contains(line, want) {
			t.Errorf("progress line %q lacks %q", line, want)
		}
	}
}

// TestSummaryLoss: the summary states the estimate at the rate, the samples,
// the changes of --adaptive, and a hint when the loss is high.
func TestSummaryLoss(t *testing.T) {
	s := settings{}
	s.cfg.Rate, s.cfg.EstimateLoss = 300000, true
	sum := engine.Summary{Progress: engine.Progress{Rate: 300000, Loss: engine.LossStats{Pairs: 4096, Answered: 4000, One: 240}}, SecondAnswers: 3760}
	var b strings.Builder
	writeLoss(&b, &s, sum)
	// x = 0.06: p = 0.06/1.94 = 3.1%
	if got := b.String(); !strings.Contains(got, "estimated loss 3.1% at 300,000/s (4096 targets probed twice: 4000 answered, 240 of them only once)") || strings.Contains(got, "hint") {
		t.Errorf("summary %q", got)
	}
	sum.Loss.One = 2000 // p = 0.5/1.5
	b.Reset()
	writeLoss(&b, &s, sum)
	if got := b.String(); !strings.Contains(got, "estimated loss 33.3%") || !strings.Contains(got, "hint: 33% of the probes were lost at this rate: a lower -r, or --adaptive") {
		t.Errorf("summary %q", got)
	}
	s.cfg.Adaptive = true
	sum.Rate = 12345
	sum.RateChanges = []engine.RateChange{{Rate: 20000}, {Rate: 12345}}
	b.Reset()
	writeLoss(&b, &s, sum)
	if got := b.String(); !strings.Contains(got, "adaptive: the rate changed 2 times, from 300,000/s to 12,345/s") || !strings.Contains(got, "at 12,345/s") {
		t.Errorf("summary %q", got)
	}
	s.cfg.EstimateLoss = false
	b.Reset()
	writeLoss(&b, &s, sum)
	if b.Len() != 0 {
		t.Errorf("summary without the estimate %q", b.String())
	}
}

// TestStatusRateChanges: each --status-json line carries the estimate and the
// rate changes since the previous line; the last line carries every change.
func TestStatusRateChanges(t *testing.T) {
	var mu sync.Mutex
	var changes []engine.RateChange
	add := func(rate float64) {
		mu.Lock()
		changes = append(changes, engine.RateChange{Time: time.Now(), Rate: rate, Loss: 0.5})
		mu.Unlock()
	}
	get := func() []engine.RateChange {
		mu.Lock()
		defer mu.Unlock()
		return append([]engine.RateChange(nil), changes...)
	}
	progress := func() engine.Progress {
		return engine.Progress{Phase: engine.PhaseScanning, Rate: 5000, Loss: engine.LossStats{Pairs: 500, Answered: 100, One: 50}}
	}
	var buf bytes.Buffer
	var bufMu sync.Mutex
	w := writerFunc(func(p []byte) (int, error) { bufMu.Lock(); defer bufMu.Unlock(); return buf.Write(p) })
	add(50000)
	stop := writeStatus(w, progress, get, 100000)
	time.Sleep(statusInterval + statusInterval/2)
	add(5000)
	time.Sleep(statusInterval)
	stop(engine.Summary{Progress: progress(), RateChanges: get()})
	bufMu.Lock()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	bufMu.Unlock()
	var logged []float64
	var last statusLine
	for _, l := range lines {
		last = statusLine{}
		if err := json.Unmarshal([]byte(l), &last); err != nil {
			t.Fatal(err)
		}
		if last.Loss == nil || *last.Loss < 0.33 || *last.Loss > 0.34 || last.LossSamples != 100 || last.RateLimit != 5000 {
			t.Errorf("status line %s: want loss 1/3 of 100 samples at 5000/s", l)
		}
		for _, c := range last.RateChanges {
			logged = append(logged, c.Rate)
		}
	}
	// The ticks logged each change once; the last line repeats them all.
	if len(lines) < 3 || len(last.RateChanges) != 2 || len(logged) != 4 || logged[0] != 50000 || logged[1] != 5000 {
		t.Errorf("%d lines, rates logged %v, last line's changes %+v", len(lines), logged, last.RateChanges)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

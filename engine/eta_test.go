package engine

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/fastscan/fastscan/link/linktest"
	"github.com/fastscan/fastscan/result"
)

// etaModel answers a quarter of the TCP targets (open or closed) and leaves the
// rest silent: every retry pass sends three quarters of the scan again, and
// every cool-down waits for the silence that ends it.
func etaModel(dst netip.Addr, proto uint8, port uint16) linktest.Answer {
	b := dst.As4()
	switch (uint32(b[3])*131 + uint32(port)*7) % 8 {
	case 0:
		return linktest.Answer{Kind: linktest.SYNACK}
	case 1:
		return linktest.Answer{Kind: linktest.RST}
	}
	return linktest.Answer{}
}

// etaRun is one scan's ETA samples: when each was taken (from the scan's start)
// and what it said, and how long the scan took.
type etaRun struct {
	at, eta []time.Duration
	total   time.Duration
}

// runETA scans 100 addresses x 160 ports (16,000 targets) at 16,000/s through a
// network whose replies take 40 ms, with 2 retries: the first pass about 1 s,
// each retry about 0.75 s, each cool-down about a round trip plus the RTO. The
// old ETA, the first pass's rest at the rate, said 0.9 s at 10% of the first pass.
func runETA(t *testing.T) etaRun {
	t.Helper()
	nw := linktest.New(linktest.Options{Model: etaModel, Delay: 40 * time.Millisecond})
	cfg := fakeConfig(t, nw, "198.19.0.1-198.19.0.100", "1-160", "")
	cfg.Rate, cfg.Retries, cfg.Wait = 16000, 2, 2*time.Second
	cfg.Show = 0 // open only: the collector has little to do
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		_, err := s.Run(context.Background(), func(*result.Result) error { return nil })
		done <- err
	}()
	var run etaRun
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			run.total = time.Since(start)
			if p := s.Progress(); p.Remaining != 0 {
				t.Errorf("Remaining after the scan = %v, want 0", p.Remaining)
			}
			return run
		case <-tick.C:
			p := s.Progress()
			if p.Phase < PhaseScanning {
				continue
			}
			run.at = append(run.at, time.Since(start))
			run.eta = append(run.eta, p.Remaining)
		}
	}
}

// TestETAIncludesRetriesAndCoolDowns: the ETA read at 10% of the first pass
// predicts the scan's end within 25% of its actual duration (retry passes and
// cool-downs included), and every later ETA does too within 25% (plus 150 ms
// for the end of a cool-down, which only silence decides): it goes down as
// the scan goes, never back up by more. Best of three runs: a loaded machine may
// stall one.
func TestETAIncludesRetriesAndCoolDowns(t *testing.T) {
	var failures []string
	for attempt := range 3 {
		run := runETA(t)
		failures = checkETA(run)
		if len(failures) == 0 {
			return
		}
		for i := 0; i < len(run.at); i += 10 {
			t.Logf("at %v the ETA was %v, the scan took %v more", run.at[i], run.eta[i], run.total-run.at[i])
		}
		t.Logf("attempt %d: %v", attempt+1, failures)
	}
	t.Errorf("the ETA does not follow the scan: %v", failures)
}

func checkETA(run etaRun) []string {
	var failures []string
	if len(run.at) < 10 {
		return []string{fmt.Sprintf("only %d samples in %v", len(run.at), run.total)}
	}
	// The first sample past 10% of the first pass (about 100 ms in).
	first := -1
	for i, at := range run.at {
		if at >= 100*time.Millisecond {
			first = i
			break
		}
	}
	if first < 0 {
		return []string{"no sample after 100 ms"}
	}
	rest := run.total - run.at[first]
	if r := run.eta[first].Seconds() / rest.Seconds(); r < 0.75 || r > 1.25 {
		failures = append(failures, fmt.Sprintf("at %v the ETA was %v, the scan took %v more (ratio %.2f)", run.at[first], run.eta[first], rest, r))
	}
	prev := run.eta[first]
	for i := first + 1; i < len(run.at); i++ {
		rest := run.total - run.at[i]
		if diff := run.eta[i] - rest; diff > rest/4+150*time.Millisecond || -diff > rest/4+150*time.Millisecond {
			failures = append(failures, fmt.Sprintf("at %v the ETA was %v, the scan took %v more", run.at[i], run.eta[i], rest))
			break
		}
		if run.eta[i] > prev+150*time.Millisecond {
			failures = append(failures, fmt.Sprintf("at %v the ETA rose from %v to %v", run.at[i], prev, run.eta[i]))
			break
		}
		prev = run.eta[i]
	}
	return failures
}

package engine_test

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/fastscan/fastscan/engine"
	"github.com/fastscan/fastscan/lab"
	"github.com/fastscan/fastscan/lab/labtest"
	"github.com/fastscan/fastscan/result"
	"github.com/fastscan/fastscan/target"
)

// runInLab runs a scan inside the lab's scanner namespace (sockets are created on the
// namespaced thread) while another goroutine reads Progress, as the progress line does.
func runInLab(t *testing.T, l *lab.Lab, cfg engine.Config) ([]result.Result, engine.Summary) {
	t.Helper()
	s, err := engine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var results []result.Result
	var sum engine.Summary
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
				_ = s.Progress()
				time.Sleep(time.Millisecond)
			}
		}
	}()
	err = l.Do(l.ScannerNS(), func() error {
		var err error
		sum, err = s.Run(context.Background(), func(r *result.Result) error {
			results = append(results, *r)
			return nil
		})
		return err
	})
	close(done)
	wg.Wait()
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return results, sum
}

func mustTargets(t *testing.T, spec string) target.Set {
	t.Helper()
	s, err := target.ParseTargets([]string{spec}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustPorts(t *testing.T, spec string) target.Ports {
	t.Helper()
	p, err := target.ParsePorts(spec)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRunInLab(t *testing.T) {
	l := labtest.Start(t)
	truth := l.Truth()

	t.Run("Verdicts", func(t *testing.T) {
		all := result.StateSet(0).With(result.Closed).With(result.Filtered)
		results, sum := runInLab(t, l, engine.Config{
			Targets: mustTargets(t, "198.19.100.192/27"), Ports: mustPorts(t, "22,8080,9"),
			Rate: 20000, Seed: 3, Show: all,
		})
		if len(results) != 32*3 {
			t.Fatalf("%d verdicts, want %d", len(results), 32*3)
		}
		for _, r := range results {
			if want := truth.State(r.Addr(), r.Port).String(); r.State.String() != want {
				t.Errorf("%v:%d %s, truth %s", r.Addr(), r.Port, r.State, want)
			}
		}
		if sum.Interrupted || sum.Sent < 96 || sum.RingDrops != 0 {
			t.Errorf("summary %+v", sum)
		}
	})

	t.Run("CoolDownWaitsForSilentTargets", func(t *testing.T) {
		// Blackholed addresses never answer: with no round trip measured, the
		// cool-down must wait its initial timeout (capped by Wait), not a few ms.
		const wait = 400 * time.Millisecond
		start := time.Now()
		results, sum := runInLab(t, l, engine.Config{
			Targets: mustTargets(t, netip.MustParseAddr("198.19.128.0").String()+"/30"), Ports: mustPorts(t, "80"),
			Rate: 1000, Wait: wait, Show: result.StateSet(0).With(result.Filtered),
		})
		if elapsed := time.Since(start); elapsed < wait {
			t.Errorf("cool-down ended after %v, before Wait %v, with no reply seen", elapsed, wait)
		}
		if len(results) != 4 || sum.NoResponse != 4 {
			t.Errorf("%d results, %d no response; want 4 filtered", len(results), sum.NoResponse)
		}
	})

	// With a long Wait, a scan whose every target answers ends its cool-down on the
	// last answer: it does not idle for Wait, nor for the initial timeout.
	t.Run("CoolDownEndsWhenAllAnswered", func(t *testing.T) {
		const wait = 30 * time.Second
		start := time.Now()
		results, sum := runInLab(t, l, engine.Config{
			Targets: mustTargets(t, truth.Hosts[0].Addr.String()), Ports: mustPorts(t, "1-1024"),
			Rate: 50000, Retries: 2, Wait: wait, Show: result.StateSet(0).With(result.Closed),
		})
		if len(results) != 1024 || sum.NoResponse != 0 {
			t.Fatalf("%d results, %d no response; want 1024 answered", len(results), sum.NoResponse)
		}
		t.Logf("LAN host x 1024 ports: %v in all, cool-down %v", time.Since(start), sum.CoolDown)
		if sum.CoolDown >= time.Second {
			t.Errorf("cool-down %v with every target answered: it waited for a timeout", sum.CoolDown)
		}
	})

	// Silent targets beside answering ones: the cool-downs (one per pass) last a
	// retransmission timeout sized by the round trips measured in the lab, far less
	// than the initial timeout of a second each, and far less than Wait.
	t.Run("CoolDownAdaptsToRoundTrips", func(t *testing.T) {
		const wait = 30 * time.Second
		targets, err := target.ParseTargets([]string{"198.19.100.192/27", "198.19.128.0/30"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		results, sum := runInLab(t, l, engine.Config{
			Targets: targets, Ports: mustPorts(t, "22,80"),
			Rate: 20000, Retries: 1, Wait: wait, Show: result.StateSet(0).With(result.Closed).With(result.Filtered),
		})
		if len(results) != 36*2 || sum.NoResponse != 4*2 {
			t.Fatalf("%d results, %d no response; want 72 with 8 silent", len(results), sum.NoResponse)
		}
		t.Logf("two cool-downs took %v in all", sum.CoolDown)
		// Unsized, they would take the initial timeout each: 2 s. The margin is for
		// round trips stretched by a loaded machine.
		if sum.CoolDown >= 1500*time.Millisecond {
			t.Errorf("cool-downs took %v: not sized by the round trips seen (initial timeout 1s each, Wait %v)", sum.CoolDown, wait)
		}
	})
}

package engine

import (
	"context"
	"maps"
	"slices"
	"sync"
	"testing"

	"github.com/fastscan/fastscan/link/linktest"
	"github.com/fastscan/fastscan/result"
)

// TestFakeResume stops a scan part way, as a crash would (the answered set and the
// position of an earlier moment, as a checkpoint holds them), and resumes it with
// a new Scanner: the two runs together give exactly the model's truth, no target
// twice, and the resumed run probes nothing answered.
//
// The stopped and the resumed scan may have different numbers of senders: a
// checkpoint's position counts the scan's (or shard's) own order, whatever the
// senders. A shard resumes as a shard: with the other shards' runs, the truth.
func TestFakeResume(t *testing.T) {
	for _, c := range []struct{ stopAt, senders, resumeSenders, shards int }{
		{1, 1, 1, 1}, {300, 1, 1, 1}, {2500, 1, 1, 1},
		{300, 3, 1, 1}, {2500, 2, 4, 1}, {700, 1, 3, 1},
		{400, 2, 3, 3},
	} {
		stopAt := c.stopAt
		all := map[key]verdict{}
		var cfg Config
		for shard := range c.shards {
			nw := linktest.New(linktest.Options{Model: mixedModel})
			cfg = fakeConfig(t, nw, "198.19.0.0/25", "1-30", "53,123,161")
			cfg.Rate, cfg.Retries = 20000, 1
			cfg.Senders, cfg.Shard, cfg.Shards = c.senders, shard, c.shards
			s, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			var mu sync.Mutex
			got := map[key]verdict{}
			answered := map[uint64]bool{}
			var ckpt Resume // the checkpoint: progress taken before the answers it holds
			ckpt.Pass, ckpt.Position = 0, 0
			n := 0
			_, err = s.Run(ctx, func(r *result.Result) error {
				mu.Lock()
				defer mu.Unlock()
				idx, ok := s.TargetIndex(r)
				if !ok {
					t.Errorf("result %v: no target index", r)
				}
				if n++; n == stopAt/2 {
					p := s.Progress()
					ckpt.Pass, ckpt.Position = p.Pass, p.Position
				}
				if n > stopAt {
					cancel() // the crash: later results are lost
					return nil
				}
				got[key{r.IP, r.Proto, r.Port}] = verdict{r.State, r.Reason}
				answered[idx] = true
				return nil
			})
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			first := len(got)
			idxs := slices.Sorted(maps.Keys(answered))
			ckpt.Answered = slices.Values(idxs)
			cfg.Resume = &ckpt
			cfg.Senders = c.resumeSenders
			sent := nw.Sent()
			got2, sum, s2, err := runFake(t, context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range got2 {
				if _, dup := got[k]; dup {
					t.Errorf("stop at %d: %v reported again after resuming", stopAt, k)
				}
				got[k] = v
			}
			for k, v := range got {
				all[k] = v
			}
			for _, p := range nw.Probes()[min(sent, uint64(len(nw.Probes()))):] {
				r := result.Result{IP: p.Dst, Port: p.DstPort, Proto: protoOf(p.Proto)}
				if idx, ok := s2.TargetIndex(&r); ok && answered[idx] {
					t.Errorf("stop at %d: resumed scan probed %v, answered before", stopAt, p.Dst)
					break
				}
			}
			if sum.Phase != PhaseDone {
				t.Errorf("resumed scan ended in phase %v", sum.Phase)
			}
			t.Logf("%+v shard %d: stopped after %d results (checkpoint pass %d position %d), resumed run gave %d more", c, shard, first, ckpt.Pass, ckpt.Position, len(got2))
		}
		expectTruth(t, cfg, mixedModel, all)
	}
}

// TestResumeChecks: a Resume outside the scan is refused.
func TestResumeChecks(t *testing.T) {
	nw := linktest.New(linktest.Options{})
	cfg := fakeConfig(t, nw, "198.19.0.0/30", "1-2", "")
	// Pass 1+MaxDropPasses is the last a scan with one retry can reach (ring drops).
	for _, r := range []Resume{{Pass: 2 + MaxDropPasses}, {Pass: -1}, {Position: 9}, {Answered: slices.Values([]uint64{8})}} {
		cfg.Resume = &r
		if _, err := New(cfg); err == nil {
			t.Errorf("resume %+v accepted", r)
		}
	}
}

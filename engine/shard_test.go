package engine

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"testing"
	"time"

	"github.com/fastscan/fastscan/link/linktest"
	"github.com/fastscan/fastscan/packet/packettest"
	"github.com/fastscan/fastscan/result"
	"github.com/fastscan/fastscan/target"
)

// TestDomainTiles: for any scan size, number of shards and number of senders,
// the (shard, sender, own position) triples reach every scan position exactly
// once, and local, owner and firstFrom invert global.
func TestDomainTiles(t *testing.T) {
	for _, total := range []uint64{1, 2, 7, 1000, 4097} {
		for _, shards := range []int{1, 2, 3, 4, 7} {
			for _, senders := range []int{1, 2, 3, 5} {
				seen := make([]int, total)
				var share uint64
				for shard := range shards {
					d := newDomain(total, shard, shards, senders)
					share += d.n
					var own uint64
					for j := range senders {
						own += d.count(j)
						for m := range d.count(j) {
							k := uint64(j) + d.senders*m
							p := d.global(k)
							if p >= total {
								t.Fatalf("total %d shard %d/%d sender %d/%d: own position %d is scan position %d, beyond the scan", total, shard, shards, j, senders, m, p)
							}
							seen[p]++
							if kk, ok := d.local(p); !ok || kk != k {
								t.Fatalf("local(%d) = %d, %v, want %d", p, kk, ok, k)
							}
							if jj, mm := d.owner(k); jj != j || mm != m {
								t.Fatalf("owner(%d) = %d, %d, want %d, %d", k, jj, mm, j, m)
							}
							if f := d.firstFrom(j, k); f != m {
								t.Fatalf("firstFrom(%d, %d) = %d, want %d", j, k, f, m)
							}
						}
					}
					if own != d.n {
						t.Fatalf("total %d shard %d/%d: senders own %d positions of a share of %d", total, shard, shards, own, d.n)
					}
				}
				if share != total {
					t.Fatalf("total %d, %d shards: shares add up to %d", total, shards, share)
				}
				for p, n := range seen {
					if n != 1 {
						t.Fatalf("total %d, %d shards, %d senders: position %d reached %d times", total, shards, senders, p, n)
					}
				}
			}
		}
	}
}

// probedKeys returns how many times the network saw each target probed.
func probedKeys(nw *linktest.Network) map[key]int {
	out := map[key]int{}
	for _, p := range nw.Probes() {
		out[key{p.Dst, protoOf(p.Proto), p.DstPort}]++
	}
	return out
}

// TestFakeSendersExact: with several senders a mixed scan finds exactly the
// model's truth, every target is probed exactly once, and the counters add up.
func TestFakeSendersExact(t *testing.T) {
	for _, senders := range []int{2, 3, 8} {
		t.Run(fmt.Sprint(senders), func(t *testing.T) {
			nw := linktest.New(linktest.Options{Model: mixedModel})
			cfg := fakeConfig(t, nw, "198.19.0.0/28", "1-40", "53,123,161,500,1900,5060,9")
			cfg.Senders = senders
			got, sum, _, err := runFake(t, context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			expectTruth(t, cfg, mixedModel, got)
			total := cfg.Targets.Len() * 47
			probed := probedKeys(nw)
			for k, n := range probed {
				if n != 1 {
					t.Errorf("%v probed %d times", k, n)
				}
			}
			if uint64(len(probed)) != total || sum.Sent != total || sum.Position != total || sum.Targets != total {
				t.Errorf("%d targets probed, summary sent %d, position %d of %d; want %d each", len(probed), sum.Sent, sum.Position, sum.Targets, total)
			}
			if sum.HostsProbed != cfg.Targets.Len() {
				t.Errorf("hosts probed %d, want %d", sum.HostsProbed, cfg.Targets.Len())
			}
			if n := sum.Open + sum.Closed + sum.Filtered + sum.NoResponse + sum.OpenFiltered; n != total {
				t.Errorf("verdicts in the summary add up to %d, want %d", n, total)
			}
		})
	}
}

// TestFakeShardsTile: the shards of a scan, each run on its own (as on machines
// of their own), probe disjoint sets of targets whose union is the whole scan,
// whatever the number of shards and of senders; each reports verdicts (answers
// and silence) only for targets it probed, and together they give exactly the
// model's truth.
func TestFakeShardsTile(t *testing.T) {
	for _, shards := range []int{2, 3, 4} {
		for _, senders := range []int{1, 2, 3} {
			t.Run(fmt.Sprintf("%dshards-%dsenders", shards, senders), func(t *testing.T) {
				all := map[key]verdict{}
				probedBy := map[key]int{}
				var cfg Config
				var shareSum, verdictSum uint64
				for shard := range shards {
					nw := linktest.New(linktest.Options{Model: mixedModel})
					cfg = fakeConfig(t, nw, "198.19.0.0/28", "1-25", "53,161")
					cfg.Shard, cfg.Shards, cfg.Senders = shard, shards, senders
					got, sum, _, err := runFake(t, context.Background(), cfg)
					if err != nil {
						t.Fatal(err)
					}
					probed := probedKeys(nw)
					for k, n := range probed {
						if n != 1 {
							t.Errorf("shard %d: %v probed %d times", shard, k, n)
						}
						if other, dup := probedBy[k]; dup {
							t.Errorf("%v probed by shards %d and %d", k, other, shard)
						}
						probedBy[k] = shard
					}
					for k, v := range got {
						if probed[k] == 0 {
							t.Errorf("shard %d reports %v (%v) without probing it", shard, k, v.state)
						}
						all[k] = v
					}
					if uint64(len(probed)) != sum.Targets || sum.Sent != sum.Targets || sum.Position != sum.Targets {
						t.Errorf("shard %d: probed %d, sent %d, position %d, share %d", shard, len(probed), sum.Sent, sum.Position, sum.Targets)
					}
					shareSum += sum.Targets
					verdictSum += sum.Open + sum.Closed + sum.Filtered + sum.NoResponse + sum.OpenFiltered
				}
				total := cfg.Targets.Len() * 27
				if uint64(len(probedBy)) != total || shareSum != total || verdictSum != total {
					t.Errorf("shards probed %d targets, shares add up to %d, summary verdicts to %d; want %d each", len(probedBy), shareSum, verdictSum, total)
				}
				expectTruth(t, cfg, mixedModel, all)
			})
		}
	}
}

// TestShardIgnoresOtherShardsReplies: a valid reply (right cookie) for a target
// of another shard - the shards of a scan on one machine each see every reply -
// gives no verdict, does not make its host up and is not counted invalid; the
// same reply for one of the shard's own targets gives its verdict.
func TestShardIgnoresOtherShardsReplies(t *testing.T) {
	s := newTestScanner(t, result.StateSet(0).With(result.Closed))
	// The same scan as shard 0 of 2.
	cfg := s.cfg
	cfg.Shard, cfg.Shards = 0, 2
	s0, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s0.plan = s.plan
	if err := s0.prepareReplay(); err != nil {
		t.Fatal(err)
	}
	var ours, theirs int
	for idx := range s0.total {
		ip := addrToUint32(s0.cfg.Targets.At(idx / s0.nports))
		port := s0.cfg.Ports.At(int(idx % s0.nports))
		pr := probe(t, s0, ip, port)
		frame := packettest.RST(t, packettest.FlowOf(t, pr), packettest.SeqOf(t, pr)+1)
		s0.handle(frame, 1)
		got := received(s0)
		if s0.perm.Inverse(idx)%2 == 0 {
			ours++
			if len(got) != 1 || got[0].State != result.Closed {
				t.Errorf("own target %d: %v, want one closed verdict", idx, got)
			}
		} else {
			theirs++
			if len(got) != 0 {
				t.Errorf("another shard's target %d reported: %v", idx, got)
			}
		}
	}
	if ours == 0 || theirs == 0 {
		t.Fatalf("%d own and %d foreign targets: the test needs both", ours, theirs)
	}
	if n := s0.invalid.Load(); n != 0 {
		t.Errorf("%d replies counted invalid, want none: they are the other shard's, not forged", n)
	}
	if n := s0.answered.Load(); n != uint64(ours) {
		t.Errorf("answered %d, want the %d own targets", n, ours)
	}
	for h := range s0.cfg.Targets.Len() {
		a := s0.cfg.Targets.At(h)
		own := false
		for pi := range s0.nports {
			own = own || s0.perm.Inverse(h*s0.nports+pi)%2 == 0
		}
		if _, up := s0.HostStatus(a); up != own {
			t.Errorf("host %v up %v, want %v (up only from the shard's own targets)", a, up, own)
		}
	}
}

// TestProbeLeftPerSender: with several senders, a reply is taken only when the
// sender that owns its target's position had handed that position to the link:
// each sender's own progress, not another's, decides.
func TestProbeLeftPerSender(t *testing.T) {
	base := newTestScanner(t, result.StateSet(0).With(result.Closed))
	cfg := base.cfg
	cfg.Targets, _ = target.ParseTargets([]string{"198.19.0.0/26"}, nil)
	cfg.Senders = 3
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.plan = base.plan
	if err := s.prepareReplay(); err != nil {
		t.Fatal(err)
	}
	s.allLeft.Store(false) // a live first pass, not a replay
	left := []uint64{30, 0, 11}
	for j, sd := range s.senders {
		sd.left.Store(left[j])
	}
	var taken, refused int
	for idx := range s.total {
		j, m := s.dom.owner(s.perm.Inverse(idx))
		ip := addrToUint32(s.cfg.Targets.At(idx / s.nports))
		pr := probe(t, s, ip, s.cfg.Ports.At(int(idx%s.nports)))
		before := s.invalid.Load()
		s.handle(packettest.RST(t, packettest.FlowOf(t, pr), packettest.SeqOf(t, pr)+1), 1)
		got := received(s)
		if m < left[j] {
			taken++
			if len(got) != 1 {
				t.Errorf("target %d (sender %d, own position %d, sent below %d): %d verdicts, want 1", idx, j, m, left[j], len(got))
			}
		} else {
			refused++
			if len(got) != 0 || s.invalid.Load() != before+1 {
				t.Errorf("target %d (sender %d, own position %d, not sent: below %d only): verdicts %v, invalid +%d", idx, j, m, left[j], got, s.invalid.Load()-before)
			}
		}
	}
	if taken != 41 || refused != int(s.total)-41 {
		t.Errorf("%d replies taken, %d refused; want 41 and %d", taken, refused, s.total-41)
	}
}

// TestFakeRateSenders: with several senders, each at Rate/Senders, the probes
// leave at Rate: within 1% at 10 probes/s; at 2,000 never more than 1% faster and,
// on this real clock with a loaded machine's stalls (which the limiter forgives
// only up to its bucket, as ratelimit's real-clock test allows), at least 95% of
// it. Best of three runs: a sender woken late for its last probe stretches the
// measured span (a 50 ms stall is 2% of a 2.6 s run at 10/s). ratelimit's simulated test holds the split limiters to 1%
// from 10 to 1,000,000 probes/s. Commit times are measured: each sender's first
// two probes go at once (its bucket starts with one batch), then one per
// interval; the rate is the sum of the senders' rates.
func TestFakeRateSenders(t *testing.T) {
	if testing.Short() {
		t.Skip("real-clock rate test")
	}
	for _, c := range []struct {
		rate             float64
		senders, targets int
		tries            int
	}{
		{10, 2, 30, 3}, {10, 3, 30, 3}, {2000, 2, 3000, 3}, {2000, 3, 3000, 3},
	} {
		tolerance := 0.01
		if c.rate > 10 {
			tolerance = 0.05
		}
		best := 0.0
		for try := 0; try < c.tries && math.Abs(best-c.rate)/c.rate > tolerance; try++ {
			nw := linktest.New(linktest.Options{})
			cfg := fakeConfig(t, nw, "198.19.0.0/16", "1", "")
			cfg.Targets, _ = target.ParseTargets([]string{fmt.Sprintf("198.19.0.1-198.19.%d.%d", c.targets/256, c.targets%256)}, nil)
			cfg.Rate, cfg.Senders, cfg.Wait = c.rate, c.senders, 10*time.Millisecond
			if _, _, _, err := runFake(t, context.Background(), cfg); err != nil {
				t.Fatal(err)
			}
			ps := nw.Probes()
			if len(ps) != c.targets {
				t.Fatalf("%d probes, want %d", len(ps), c.targets)
			}
			// Each sender's own rate (its probes are told apart by their source
			// port, which is 61000 + the position while positions are fewer than
			// ports), summed: the senders' start times differ by a goroutine's
			// scheduling, not part of any sender's rate.
			type span struct {
				first, last time.Time
				n           int
			}
			spans := make([]span, c.senders)
			for _, p := range ps {
				sp := &spans[int(p.SrcPort-DefaultSourcePortLo)%c.senders]
				if sp.n == 0 || p.Committed.Before(sp.first) {
					sp.first = p.Committed
				}
				if sp.n == 0 || p.Committed.After(sp.last) {
					sp.last = p.Committed
				}
				sp.n++
			}
			achieved := 0.0
			for _, sp := range spans {
				achieved += float64(sp.n-2) / sp.last.Sub(sp.first).Seconds()
			}
			if achieved > c.rate*1.01 {
				t.Errorf("rate %v with %d senders: %.2f probes/s, more than 1%% too fast", c.rate, c.senders, achieved)
			}
			if math.Abs(achieved-c.rate) < math.Abs(best-c.rate) {
				best = achieved
			}
		}
		if math.Abs(best-c.rate)/c.rate > tolerance {
			t.Errorf("rate %v with %d senders: %.2f probes/s, not within %v%%", c.rate, c.senders, best, 100*tolerance)
		} else {
			t.Logf("rate %v with %d senders: %.2f probes/s", c.rate, c.senders, best)
		}
	}
}

// TestDefaultSenders: the CPUs the process may use: at most GOMAXPROCS and the
// affinity mask's count, at least 1.
func TestDefaultSenders(t *testing.T) {
	n := DefaultSenders()
	if n < 1 || n > runtime.GOMAXPROCS(0) || (affinityCPUs() > 0 && n > affinityCPUs()) {
		t.Errorf("DefaultSenders() = %d with GOMAXPROCS %d and %d CPUs in the affinity mask", n, runtime.GOMAXPROCS(0), affinityCPUs())
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	if n := DefaultSenders(); n != 1 {
		t.Errorf("DefaultSenders() = %d with GOMAXPROCS 1", n)
	}
}

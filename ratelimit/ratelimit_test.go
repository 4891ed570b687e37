package ratelimit

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// fakeClock is a simulated clock: Sleep and Yield advance it instead of
// blocking. Like a real timer wake-up, Sleep lasts at least minSleep and
// oversleeps by a random amount up to maxLate.
type fakeClock struct {
	now      int64
	minSleep time.Duration // timer granularity: no sleep is shorter
	maxLate  time.Duration
	rng      *rand.Rand
	sleeps   int
	yields   int
	onYield  func() // called on every Yield, if set
}

func newFakeClock(maxLate time.Duration) *fakeClock {
	return &fakeClock{now: 1e12, maxLate: maxLate, rng: rand.New(rand.NewPCG(1, 2))}
}

func (c *fakeClock) Now() int64 { return c.now }

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.sleeps++
	c.now += int64(max(d, c.minSleep))
	if c.maxLate > 0 {
		c.now += c.rng.Int64N(int64(c.maxLate))
	}
	return nil
}

func (c *fakeClock) Yield() {
	c.yields++
	c.now += int64(time.Microsecond)
	if c.onYield != nil {
		c.onYield()
	}
}

func (c *fakeClock) advance(d time.Duration) { c.now += int64(d) }

// TestAccuracySimulated runs a simulated sender for a few seconds at each
// rate, with 100 ns of work per packet and two models of timer wake-ups (up
// to 200 µs late; a 1 ms granularity, as Go timers have on Linux), and checks
// that the limiter never runs ahead of the schedule and that the achieved
// rate is within 1% of the target.
func TestAccuracySimulated(t *testing.T) {
	for _, minSleep := range []time.Duration{0, time.Millisecond} {
		for _, rate := range []float64{10, 100, 10_000, 100_000, 1_000_000, 333.3} {
			testAccuracySimulated(t, rate, minSleep)
		}
	}
}

func testAccuracySimulated(t *testing.T, rate float64, minSleep time.Duration) {
	c := newFakeClock(200 * time.Microsecond)
	c.minSleep = minSleep
	l := newWithClock(rate, c)
	batch := l.Batch()
	ctx := context.Background()
	duration := int64(3 * time.Second)
	if rate < 50 {
		duration = int64(10 * time.Second)
	}
	var taken, waits int
	start := c.now
	var firstDone, lastDone int64
	for c.now-start < duration {
		if err := l.Wait(ctx, batch); err != nil {
			t.Fatal(err)
		}
		waits++
		if taken == 0 {
			firstDone = c.now
		}
		taken += batch
		lastDone = c.now
		// The bucket starts with one batch and fills at rate: the
		// tokens handed out can never exceed that.
		allowed := float64(batch) + rate*float64(c.now-start)/1e9
		if float64(taken) > allowed+0.01 {
			t.Fatalf("rate %v: %d tokens taken %v after start, only %.2f allowed",
				rate, taken, time.Duration(c.now-start), allowed)
		}
		c.advance(time.Duration(batch) * 100 * time.Nanosecond) // the sending itself
	}
	achieved := float64(taken-batch) / (float64(lastDone-firstDone) / 1e9)
	if math.Abs(achieved-rate)/rate > 0.01 {
		t.Errorf("rate %v, min sleep %v: achieved %.2f pps (%d tokens in %v)", rate, minSleep, achieved, taken, time.Duration(lastDone-start))
	}
	// Never a sleep per packet: at most one per batch.
	if c.sleeps > waits {
		t.Errorf("rate %v: %d sleeps for %d waits", rate, c.sleeps, waits)
	}
}

// TestSleepsThenSpins checks that a long wait is slept, with only the last
// spinWindow spent yielding.
func TestSleepsThenSpins(t *testing.T) {
	c := newFakeClock(0)
	l := newWithClock(10, c)
	ctx := context.Background()
	if err := l.Wait(ctx, 1); err != nil { // the initial batch: no wait
		t.Fatal(err)
	}
	if c.sleeps != 0 || c.yields != 0 {
		t.Fatalf("first Wait slept %d times, yielded %d times; want no waiting", c.sleeps, c.yields)
	}
	start := c.now
	if err := l.Wait(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if got := time.Duration(c.now - start); got < 100*time.Millisecond || got > 100*time.Millisecond+time.Microsecond {
		t.Errorf("second Wait at 10 pps took %v, want 100ms", got)
	}
	if c.sleeps != 1 {
		t.Errorf("second Wait slept %d times, want 1", c.sleeps)
	}
	if maxYields := int(spinWindow / time.Microsecond); c.yields > maxYields {
		t.Errorf("second Wait yielded %d times, want at most %d", c.yields, maxYields)
	}
}

func TestInitialBatchAndBurst(t *testing.T) {
	tests := []struct {
		rate      float64
		wantBurst int
	}{
		{10, 1},
		{100_000, 200},
		{1_000_000, 2000},
	}
	for _, tt := range tests {
		c := newFakeClock(0)
		l := newWithClock(tt.rate, c)
		ctx := context.Background()
		// The first batch is free.
		if err := l.Wait(ctx, l.Batch()); err != nil || c.sleeps+c.yields != 0 {
			t.Fatalf("rate %v: first batch waited (err %v)", tt.rate, err)
		}
		// After a long pause, exactly one full bucket is free.
		c.advance(10 * time.Second)
		free := 0
		for c.sleeps+c.yields == 0 && free < 1e6 {
			if err := l.Wait(ctx, 1); err != nil {
				t.Fatal(err)
			}
			free++
		}
		// The last Wait of the loop had to wait.
		if got := free - 1; got != tt.wantBurst {
			t.Errorf("rate %v: %d tokens free after a pause, want %d", tt.rate, got, tt.wantBurst)
		}
		if got := l.Burst(); got != float64(tt.wantBurst) {
			t.Errorf("rate %v: Burst() = %v, want %d", tt.rate, got, tt.wantBurst)
		}
	}
}

func TestBatch(t *testing.T) {
	tests := []struct {
		rate float64
		want int
	}{
		{0.5, 1}, {10, 1}, {2000, 1}, {3999, 1}, {4000, 2}, {10_000, 5},
		{100_000, 50}, {512_000, 256}, {1_000_000, 256}, {1e9, 256},
	}
	for _, tt := range tests {
		if got := New(tt.rate).Batch(); got != tt.want {
			t.Errorf("New(%v).Batch() = %d, want %d", tt.rate, got, tt.want)
		}
	}
}

func TestUnlimited(t *testing.T) {
	for _, rate := range []float64{0, -5, math.Inf(1), math.NaN()} {
		c := newFakeClock(0)
		l := newWithClock(rate, c)
		if !math.IsInf(l.Rate(), 1) || l.Batch() != MaxBatch || !math.IsInf(l.Burst(), 1) {
			t.Errorf("rate %v: Rate %v, Batch %d, Burst %v; want +Inf, %d, +Inf", rate, l.Rate(), l.Batch(), l.Burst(), MaxBatch)
		}
		for range 1000 {
			if err := l.Wait(context.Background(), 1000); err != nil {
				t.Fatal(err)
			}
		}
		if c.sleeps+c.yields != 0 {
			t.Errorf("rate %v: unlimited limiter waited", rate)
		}
	}
}

func TestRate(t *testing.T) {
	if got := New(12345.5).Rate(); got != 12345.5 {
		t.Fatalf("Rate() = %v", got)
	}
}

func TestCanceledBeforeWait(t *testing.T) {
	c := newFakeClock(0)
	l := newWithClock(100, c)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Wait(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait on a canceled context = %v, want context.Canceled", err)
	}
	// Nothing was taken: the initial batch is still free.
	if err := l.Wait(context.Background(), 1); err != nil || c.sleeps+c.yields != 0 {
		t.Fatalf("initial batch not free after a canceled Wait (err %v)", err)
	}
}

func TestCanceledWhileSpinning(t *testing.T) {
	c := newFakeClock(0)
	l := newWithClock(1_000_000, c)
	ctx, cancel := context.WithCancel(context.Background())
	if err := l.Wait(ctx, l.Batch()); err != nil {
		t.Fatal(err)
	}
	c.onYield = cancel
	// 10 tokens at 1M pps is a 10 µs wait: all spinning.
	if err := l.Wait(ctx, 10); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait = %v, want context.Canceled", err)
	}
	if c.yields != 1 {
		t.Errorf("Wait yielded %d times after cancellation, want 1", c.yields)
	}
	// The canceled Wait took nothing: the next 10 tokens are due 10 µs after
	// the first batch, which the single yield has not reached yet.
	c.onYield = nil
	start := c.now
	if err := l.Wait(context.Background(), 10); err != nil {
		t.Fatal(err)
	}
	if got := time.Duration(c.now - start); got != 9*time.Microsecond {
		t.Errorf("Wait after a canceled Wait took %v, want 9µs", got)
	}
}

func TestCanceledWhileSleepingRealClock(t *testing.T) {
	l := New(1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := l.Wait(ctx, 1); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err := l.Wait(ctx, 1) // due in one second
	if elapsed := time.Since(start); elapsed > 500*time.Millisecond {
		t.Errorf("Wait returned %v after its context expired", elapsed)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait = %v, want context.DeadlineExceeded", err)
	}
}

// TestAccuracyRealClock paces a sender with the system clock. The limiter
// must never run ahead of the schedule; it may fall behind only by what it
// forfeits during stalls longer than its bucket can absorb (on a loaded
// machine the test goroutine can be descheduled for many milliseconds), and
// otherwise must stay within 3% of the rate.
func TestAccuracyRealClock(t *testing.T) {
	const rate = 20_000
	const duration = 500 * time.Millisecond
	l := New(rate)
	batch := l.Batch()
	absorbed := time.Duration(l.Burst()/rate*1e9) + time.Duration(batch)*time.Second/rate
	ctx := context.Background()
	start := time.Now()
	last := start
	taken := 0
	var stalled time.Duration // time in gaps beyond what the bucket absorbs
	for time.Since(start) < duration {
		if err := l.Wait(ctx, batch); err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		taken += batch
		if allowed := float64(batch) + rate*now.Sub(start).Seconds(); float64(taken) > allowed+0.5 {
			t.Fatalf("%d tokens taken after %v, only %.1f allowed", taken, now.Sub(start), allowed)
		}
		if gap := now.Sub(last); gap > absorbed {
			stalled += gap - absorbed
		}
		last = now
	}
	elapsed := last.Sub(start)
	expected := float64(batch) + rate*(elapsed-stalled).Seconds()
	if float64(taken) < expected*0.97 {
		t.Errorf("%d tokens in %v (%v of it stalled), expected at least 97%% of %.0f at %d pps",
			taken, elapsed, stalled, expected, rate)
	}
	t.Logf("%d tokens in %v, %.0f pps; stalls beyond the bucket: %v", taken, elapsed, float64(taken-batch)/elapsed.Seconds(), stalled)
}

func TestWaitAllocs(t *testing.T) {
	l := New(10_000) // a batch of 10 is 1 ms: the sleeping path
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if allocs := testing.AllocsPerRun(20, func() {
		if err := l.Wait(ctx, 10); err != nil {
			t.Fatal(err)
		}
	}); allocs != 0 {
		t.Fatalf("Wait allocates %v times per call", allocs)
	}
}

// TestAccuracySimulatedSplit: the engine's senders each take a Limiter at rate/n;
// simulated as in TestAccuracySimulated (each sender its own clock, as goroutines
// on their own cores), n of them together never run ahead of rate and achieve it
// within 1%, from 10 to 1,000,000 packets per second.
func TestAccuracySimulatedSplit(t *testing.T) {
	for _, n := range []int{2, 3, 4, 8} {
		for _, rate := range []float64{10, 100, 333.3, 10_000, 100_000, 1_000_000} {
			duration := int64(3 * time.Second)
			if rate/float64(n) < 50 {
				duration = int64(20 * time.Second)
			}
			var taken, initial int
			var allowed float64
			for i := range n {
				c := newFakeClock(200 * time.Microsecond)
				c.rng = rand.New(rand.NewPCG(uint64(i), 2))
				l := newWithClock(rate/float64(n), c)
				batch := l.Batch()
				initial += batch
				start := c.now
				for c.now-start < duration {
					if err := l.Wait(context.Background(), batch); err != nil {
						t.Fatal(err)
					}
					taken += batch
					c.advance(time.Duration(batch) * 100 * time.Nanosecond)
				}
				allowed += float64(batch) + rate/float64(n)*float64(c.now-start)/1e9
			}
			if float64(taken) > allowed+0.01*float64(n) {
				t.Errorf("%d limiters at %v pps: %d tokens, only %.2f allowed", n, rate, taken, allowed)
			}
			achieved := float64(taken-initial) / (float64(duration) / 1e9)
			if math.Abs(achieved-rate)/rate > 0.01 {
				t.Errorf("%d limiters at %v pps together: %.2f pps", n, rate, achieved)
			}
		}
	}
}

// TestSetRateSimulated changes the rate of a running limiter (as the engine's
// --adaptive does) and checks, with the simulated clocks of
// TestAccuracySimulated, that from the change on it never runs ahead of the new
// rate and achieves it within 1%, lowering and raising it, from 10 to 1,000,000
// packets per second; Batch follows the new rate.
func TestSetRateSimulated(t *testing.T) {
	for _, minSleep := range []time.Duration{0, time.Millisecond} {
		for _, tt := range []struct{ from, to float64 }{
			{100_000, 10_000}, {10_000, 100_000}, {1_000_000, 333.3}, {10, 1000}, {1000, 10}, {500_000, 450_000},
		} {
			c := newFakeClock(200 * time.Microsecond)
			c.minSleep = minSleep
			l := newWithClock(tt.from, c)
			ctx := context.Background()
			run := func(d time.Duration) (taken int, first, last int64) {
				start := c.now
				for c.now-start < int64(d) {
					batch := l.Batch()
					if err := l.Wait(ctx, batch); err != nil {
						t.Fatal(err)
					}
					if taken == 0 {
						first = c.now
					}
					taken += batch
					last = c.now
					c.advance(time.Duration(batch) * 100 * time.Nanosecond)
				}
				return taken, first, last
			}
			run(time.Second)
			l.SetRate(tt.to)
			if want := int(min(max(tt.to/batchesPerSecond, 1), MaxBatch)); l.Batch() != want || l.Rate() != tt.to {
				t.Errorf("SetRate(%v): Batch %d, Rate %v; want %d, %v", tt.to, l.Batch(), l.Rate(), want, tt.to)
			}
			change := c.now
			d := 3 * time.Second
			if tt.to < 50 {
				d = 20 * time.Second
			}
			taken, first, last := run(d)
			if allowed := float64(l.Batch()) + tt.to*float64(last-change)/1e9; float64(taken) > allowed+1 {
				t.Errorf("%v -> %v pps: %d tokens in the %v after the change, only %.1f allowed", tt.from, tt.to, taken, time.Duration(last-change), allowed)
			}
			achieved := float64(taken-l.Batch()) / (float64(last-first) / 1e9)
			if math.Abs(achieved-tt.to)/tt.to > 0.01 {
				t.Errorf("%v -> %v pps (min sleep %v): achieved %.2f pps after the change", tt.from, tt.to, minSleep, achieved)
			}
		}
	}
}

// TestSetRateUnlimited: a limiter without a limit that gets one starts its
// schedule at the next Wait (one batch free), and one that loses it stops waiting.
func TestSetRateUnlimited(t *testing.T) {
	c := newFakeClock(0)
	l := newWithClock(0, c)
	if err := l.Wait(context.Background(), 1000); err != nil {
		t.Fatal(err)
	}
	l.SetRate(10)
	if err := l.Wait(context.Background(), 1); err != nil || c.sleeps+c.yields != 0 {
		t.Fatalf("first Wait after SetRate waited (err %v)", err)
	}
	start := c.now
	if err := l.Wait(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if got := time.Duration(c.now - start); got < 100*time.Millisecond || got > 101*time.Millisecond {
		t.Errorf("second Wait at 10 pps took %v, want 100ms", got)
	}
	l.SetRate(math.Inf(1))
	before := c.sleeps + c.yields
	if err := l.Wait(context.Background(), 1e6); err != nil || c.sleeps+c.yields != before {
		t.Errorf("Wait after SetRate(+Inf) waited (err %v)", err)
	}
}

package engine

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/fastscan/fastscan/link/linktest"
	"github.com/fastscan/fastscan/packet/packettest"
	"github.com/fastscan/fastscan/result"
)

// TestSettled pins the rules that end a cool-down: every target answered ends it at
// once, whatever the timeouts; otherwise silence for quiet() (the measured
// retransmission timeout, or the initial one before any round trip) since the later
// of the pass's end and the last reply; and never later than the limit.
func TestSettled(t *testing.T) {
	s := &Scanner{cfg: Config{Wait: time.Hour}, total: 10, nports: 1, plan: &plan{}}
	s.rto.Store(int64(10 * time.Second)) // no stall of a loaded machine comes near it
	now := time.Now()
	s.lastReply.Store(now.UnixNano())

	s.answered.Store(9)
	if s.settled(now, time.Hour) {
		t.Error("settled with a target unanswered, a reply just in and no timeout passed")
	}
	s.answered.Store(10)
	if !s.settled(now, time.Hour) {
		t.Error("not settled with every target answered")
	}

	s.answered.Store(9)
	s.rto.Store(0)
	if got := s.quiet(); got != initialRTO {
		t.Errorf("quiet() before any round trip = %v, want the initial %v", got, initialRTO)
	}
	s.rto.Store(int64(50 * time.Millisecond))
	if got := s.quiet(); got != 50*time.Millisecond {
		t.Errorf("quiet() = %v, want the measured 50ms", got)
	}
	past := now.Add(-time.Second)
	s.lastReply.Store(past.UnixNano())
	if !s.settled(past, time.Hour) {
		t.Error("not settled after a second of silence with a 50ms timeout")
	}
	s.rto.Store(int64(10 * time.Second)) // no stall of a loaded machine comes near it
	s.lastReply.Store(time.Now().UnixNano())
	if s.settled(past, time.Hour) {
		t.Error("settled although a reply has just come in")
	}
	if !s.settled(past, 500*time.Millisecond) {
		t.Error("not settled a second after the pass with a 500ms limit")
	}
	s.rto.Store(int64(time.Microsecond))
	if got := s.quiet(); got != minQuiet {
		t.Errorf("quiet() = %v, want the floor %v", got, minQuiet)
	}
	s.cfg.Wait = 5 * time.Millisecond
	if got := s.quiet(); got != s.cfg.Wait {
		t.Errorf("quiet() = %v with Wait 5ms, want Wait: it caps even the floor", got)
	}
}

// TestLinger: Config.Linger is called once after the last pass's cool-down,
// with settled false while a target is unanswered; the receiver runs until it
// returns, so that a reply arriving then (here: the SYN-ACK of a port that
// was silent to all of its probes, injected during the linger) is a result,
// open, and not a no-response. An interrupted scan does not linger.
func TestLinger(t *testing.T) {
	victim := netip.AddrPortFrom(netip.MustParseAddr("198.19.0.9"), 80)
	model := func(dst netip.Addr, proto uint8, port uint16) linktest.Answer {
		if netip.AddrPortFrom(dst, port) == victim {
			return linktest.Answer{}
		}
		return answerAll(dst, proto, port)
	}
	nw := linktest.New(linktest.Options{Model: model})
	cfg := fakeConfig(t, nw, "198.19.0.0/28", "79-81", "")
	cfg.Retries, cfg.Wait = 1, 100*time.Millisecond
	var calls int
	cfg.Linger = func(ctx context.Context, settled func() bool) {
		calls++
		if settled() {
			t.Error("settled while the victim is unanswered")
		}
		var probe *linktest.Probe
		for _, p := range nw.Probes() {
			if netip.AddrPortFrom(p.Dst, p.DstPort) == victim {
				probe = &p
			}
		}
		if probe == nil {
			t.Fatal("the victim was never probed")
		}
		nw.Inject(packettest.SYNACK(t, packettest.Flow{
			LocalMAC: fakePath().SourceMAC, TargetMAC: fakePath().RouterMAC,
			LocalIP: addrToUint32(fakeSource), TargetIP: addrToUint32(victim.Addr()), LocalPort: probe.SrcPort, TargetPort: victim.Port(),
		}, probe.Seq+1))
		deadline := time.Now().Add(5 * time.Second)
		for !settled() && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	got := map[key]verdict{}
	sum, err := s.Run(context.Background(), func(r *result.Result) error {
		got[key{r.IP, r.Proto, r.Port}] = verdict{r.State, r.Reason}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls != 1 {
		t.Errorf("Linger called %d times, want once", calls)
	}
	if v := got[key{victim.Addr(), result.TCP, victim.Port()}]; v.state != result.Open || v.reason != result.ReasonSYNACK {
		t.Errorf("the victim's late SYN-ACK: %+v; want open, syn-ack", v)
	}
	if sum.NoResponse != 0 {
		t.Errorf("%d no-response results, want none", sum.NoResponse)
	}

	// Interrupted: no linger.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cfg.Linger = func(context.Context, func() bool) { t.Error("an interrupted scan lingered") }
	if _, _, _, err := runFake(t, ctx, cfg); err != nil {
		t.Fatal(err)
	}

	// Interrupted during the linger: an interrupted scan, without the
	// silence verdicts (the victim's no-response) of a finished one.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	cfg.Linger = func(ctx context.Context, _ func() bool) {
		cancel()
		<-ctx.Done()
	}
	got, sum, _, err = runFake(t, ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got[key{victim.Addr(), result.TCP, victim.Port()}]; !sum.Interrupted || ok || sum.NoResponse != 0 {
		t.Errorf("interrupted in the linger: interrupted %v, victim reported %v, %d no-response; want interrupted and no silence verdict", sum.Interrupted, ok, sum.NoResponse)
	}
}

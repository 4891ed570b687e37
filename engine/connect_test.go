package engine

import (
	"context"
	"net/netip"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fastscan/fastscan/link/connect"
	"github.com/fastscan/fastscan/link/connect/connecttest"
	"github.com/fastscan/fastscan/result"
	"github.com/fastscan/fastscan/target"
)

// These tests run whole connect scans (Config.Connect) through the connect link
// on connecttest's model of the kernel: no socket, no network, no privilege.
// The truth is the model; the fake counts every connection.

// connectModel ends connections by address and port: connected, refused,
// ICMP admin-prohibited from a router, ICMP host unreachable from the target
// itself, a local error (no route), and silence.
func connectModel(dst netip.AddrPort, _ int) connecttest.Answer {
	b := dst.Addr().As4()
	h := (uint32(b[3])*31 + uint32(dst.Port())*7) % 12
	d := time.Duration(h%3) * time.Millisecond
	switch {
	case h < 2:
		return connecttest.Answer{Outcome: connect.Outcome{Kind: connect.Connected}, Delay: d}
	case h < 6:
		return connecttest.Answer{Outcome: connect.Outcome{Kind: connect.Refused, Errno: syscall.ECONNREFUSED}, Delay: d}
	case h < 7:
		return connecttest.Answer{Outcome: connect.Outcome{Kind: connect.Unreachable, ICMPType: 3, ICMPCode: 13, From: fakeRouter}, Delay: d}
	case h < 8:
		return connecttest.Answer{Outcome: connect.Outcome{Kind: connect.Unreachable, ICMPType: 3, ICMPCode: 1, From: dst.Addr()}}
	case h < 9:
		return connecttest.Answer{Outcome: connect.Outcome{Kind: connect.Failed, Errno: syscall.ENETUNREACH}, AtOnce: true}
	case h < 10:
		return connecttest.Answer{Outcome: connect.Outcome{Kind: connect.Refused, Errno: syscall.ECONNREFUSED}, AtOnce: true}
	}
	return connecttest.Answer{Silent: true}
}

// connectTruth is the verdict connectModel's answer must give.
func connectTruth(a connecttest.Answer) verdict {
	if a.Silent {
		return verdict{result.Filtered, result.ReasonNoResponse}
	}
	switch o := a.Outcome; o.Kind {
	case connect.Connected:
		return verdict{result.Open, result.ReasonSYNACK}
	case connect.Refused:
		return verdict{result.Closed, result.ReasonReset}
	case connect.Unreachable:
		switch o.ICMPCode {
		case 13:
			return verdict{result.Filtered, result.ReasonAdminProhibited}
		case 1:
			return verdict{result.Filtered, result.ReasonHostUnreachable}
		}
	case connect.Failed:
		if o.Errno == syscall.ENETUNREACH {
			return verdict{result.Filtered, result.ReasonNetUnreachable}
		}
	}
	panic("connectTruth: an answer the model does not give")
}

// connectConfig is a connect scan of targets x ports through the fake sys.
func connectConfig(t testing.TB, sys *connecttest.Sys, targets, ports string, o connect.Options) Config {
	t.Helper()
	set, err := target.ParseTargets([]string{targets}, nil)
	if err != nil {
		t.Fatal(err)
	}
	o.Sys = sys
	if o.Timeout == 0 {
		o.Timeout = 300 * time.Millisecond
	}
	cfg := Config{Targets: set, Rate: 200000, Seed: 42, Connect: true, Link: connect.Opener(o), Path: fakePath(),
		Wait: o.Timeout, Show: result.StateSet(0).With(result.Closed).With(result.Filtered)}
	if cfg.Ports, err = target.ParsePorts(ports); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// expectConnectTruth checks got against model for every target of cfg (the
// model's first attempt decides).
func expectConnectTruth(t *testing.T, cfg Config, model connecttest.Model, got map[key]verdict) {
	t.Helper()
	bad := 0
	for i := uint64(0); i < cfg.Targets.Len(); i++ {
		a := cfg.Targets.At(i)
		for j := 0; j < cfg.Ports.Len(); j++ {
			k := key{a, result.TCP, cfg.Ports.At(j)}
			w := connectTruth(model(netip.AddrPortFrom(a, k.port), 0))
			if g, ok := got[k]; !ok || g != w {
				if bad++; bad <= 10 {
					t.Errorf("%v: got %v %v (reported %v), want %v %v", k, g.state, g.reason, ok, w.state, w.reason)
				}
			}
		}
	}
	if n := cfg.Targets.Len() * uint64(cfg.Ports.Len()); uint64(len(got)) != n {
		t.Errorf("%d verdicts for %d targets", len(got), n)
	}
	if bad > 0 {
		t.Errorf("%d verdicts wrong", bad)
	}
}

// TestFakeConnectExact: a connect scan finds exactly the model's truth, with
// every kind of end (including errors known at once and silence after the
// timeout), starts one connection per probe and pass, never has more in flight
// than its parallelism, and leaves none open.
func TestFakeConnectExact(t *testing.T) {
	for _, senders := range []int{1, 2} {
		sys := connecttest.New(connectModel)
		cfg := connectConfig(t, sys, "198.19.0.0/27", "20-45", connect.Options{Parallelism: 64})
		cfg.Senders = senders
		got, sum, _, err := runFake(t, context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		expectConnectTruth(t, cfg, connectModel, got)
		st := sys.Stats()
		if want := 32 * 26; st.Started != want || sum.Sent != uint64(want) {
			t.Errorf("senders %d: %d connections started (summary: %d sent), want %d: one per target", senders, st.Started, sum.Sent, want)
		}
		if st.MaxOpen > 64 || st.Open != 0 {
			t.Errorf("senders %d: %d connections open at most, %d left open; want at most 64 and none left", senders, st.MaxOpen, st.Open)
		}
		if sum.Phase != PhaseDone || sum.Interrupted || sum.Open == 0 || sum.Closed == 0 {
			t.Errorf("senders %d: phase %v interrupted %v, open %d closed %d", senders, sum.Phase, sum.Interrupted, sum.Open, sum.Closed)
		}
	}
}

// TestFakeConnectRetries: connections lost on the first pass (silent) are
// found by the retry pass; without retries they are filtered after the timeout.
func TestFakeConnectRetries(t *testing.T) {
	lossy := func(dst netip.AddrPort, attempt int) connecttest.Answer {
		if attempt == 0 && dst.Port()%5 == 0 {
			return connecttest.Answer{Silent: true}
		}
		if dst.Port()%2 == 0 {
			return connecttest.Answer{Outcome: connect.Outcome{Kind: connect.Connected}}
		}
		return connecttest.Answer{Outcome: connect.Outcome{Kind: connect.Refused}}
	}
	for _, retries := range []int{0, 1} {
		sys := connecttest.New(lossy)
		cfg := connectConfig(t, sys, "198.19.0.0/30", "1-20", connect.Options{Timeout: 150 * time.Millisecond})
		cfg.Retries = retries
		got, sum, _, err := runFake(t, context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range got {
			var want verdict
			switch {
			case k.port%5 == 0 && retries == 0:
				want = verdict{result.Filtered, result.ReasonNoResponse}
			case k.port%2 == 0:
				want = verdict{result.Open, result.ReasonSYNACK}
			default:
				want = verdict{result.Closed, result.ReasonReset}
			}
			if v != want {
				t.Errorf("retries %d: %v: %v %v, want %v %v", retries, k, v.state, v.reason, want.state, want.reason)
			}
		}
		lost := 4 * 4 // 4 addresses x ports 5, 10, 15, 20
		if len(got) != 80 || sys.Stats().Started != 80+retries*lost {
			t.Errorf("retries %d: %d verdicts, %d connections; want 80 and %d", retries, len(got), sys.Stats().Started, 80+retries*lost)
		}
		if retries == 0 && sum.NoResponse != uint64(lost) {
			t.Errorf("retries 0: %d no response, want %d", sum.NoResponse, lost)
		}
		if st := sys.Stats(); st.Open != 0 || st.Aborted != lost {
			t.Errorf("retries %d: %d left open, %d abandoned; want none and the %d silent", retries, st.Open, st.Aborted, lost)
		}
	}
}

// TestFakeConnectTimeout: a silent connection is abandoned after the timeout,
// not sooner: the scan of one silent port lasts the timeout (the cool-down
// ends after Wait, the timeout here), and the fake saw it aborted.
func TestFakeConnectTimeout(t *testing.T) {
	silentAfter := func(dst netip.AddrPort, _ int) connecttest.Answer {
		if dst.Port() == 9 {
			return connecttest.Answer{Outcome: connect.Outcome{Kind: connect.Connected}, Delay: 120 * time.Millisecond}
		}
		return connecttest.Answer{Silent: true}
	}
	sys := connecttest.New(silentAfter)
	cfg := connectConfig(t, sys, "198.19.0.1", "8,9", connect.Options{Timeout: 400 * time.Millisecond})
	start := time.Now()
	got, _, _, err := runFake(t, context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	a := netip.MustParseAddr("198.19.0.1")
	// Port 9 answers after 120 ms, well within the timeout: open, though slow.
	if got[key{a, result.TCP, 9}] != (verdict{result.Open, result.ReasonSYNACK}) || got[key{a, result.TCP, 8}] != (verdict{result.Filtered, result.ReasonNoResponse}) {
		t.Errorf("verdicts %v", got)
	}
	if el < 120*time.Millisecond {
		t.Errorf("the scan took %v: it cannot have waited for the slow port", el)
	}
	if st := sys.Stats(); st.Open != 0 || st.Aborted != 1 {
		t.Errorf("%+v: want the silent connection abandoned, none open", st)
	}
}

// TestFakeConnectParallelism: with a small parallelism and slow answers,
// never more connections are in flight than allowed, whatever the rate and
// the batch, and the verdicts stay exact; connections refused for lack of
// descriptors (EMFILE) are tried again once others ended.
func TestFakeConnectParallelism(t *testing.T) {
	var emfile atomic.Int32
	slow := func(dst netip.AddrPort, attempt int) connecttest.Answer {
		if attempt == 0 && dst.Port()%17 == 0 && emfile.Add(1) <= 5 {
			return connecttest.Answer{Err: syscall.EMFILE}
		}
		return connectModel(dst, attempt)
	}
	sys := connecttest.New(func(dst netip.AddrPort, attempt int) connecttest.Answer {
		a := slow(dst, attempt)
		if a.Err == nil && !a.AtOnce && !a.Silent {
			a.Delay += 3 * time.Millisecond
		}
		return a
	})
	cfg := connectConfig(t, sys, "198.19.0.0/28", "1-40", connect.Options{Parallelism: connect.MinParallelism, Timeout: 200 * time.Millisecond})
	got, _, _, err := runFake(t, context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	expectConnectTruth(t, cfg, connectModel, got)
	if st := sys.Stats(); st.MaxOpen > connect.MinParallelism || st.MaxOpen < connect.MinParallelism/2 || st.Open != 0 {
		t.Errorf("%+v: want at most %d in flight (and the bound used), none left", st, connect.MinParallelism)
	}
	if emfile.Load() < 5 {
		t.Errorf("only %d EMFILE errors given", emfile.Load())
	}
}

// TestFakeConnectInterrupt: a connect scan cancelled in its first pass says
// so, reports only true verdicts (every connection already decided among
// them), and leaves no connection open.
func TestFakeConnectInterrupt(t *testing.T) {
	sys := connecttest.New(connectModel)
	cfg := connectConfig(t, sys, "198.19.0.0/22", "1-10", connect.Options{Parallelism: 32})
	cfg.Rate = 20000 // 10,240 probes: about half a second
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	time.AfterFunc(100*time.Millisecond, cancel)
	got, sum, _, err := runFake(t, ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Interrupted || sum.Phase != PhaseInterrupted {
		t.Fatalf("phase %v interrupted %v", sum.Phase, sum.Interrupted)
	}
	if len(got) == 0 || uint64(len(got)) >= cfg.Targets.Len()*10 {
		t.Fatalf("%d verdicts: want some, not all", len(got))
	}
	for k, v := range got {
		if w := connectTruth(connectModel(netip.AddrPortFrom(k.addr, k.port), 0)); v != w || v.reason == result.ReasonNoResponse {
			t.Errorf("%v: %v %v, want %v %v (and no silence verdict)", k, v.state, v.reason, w.state, w.reason)
		}
	}
	st := sys.Stats()
	if st.Open != 0 {
		t.Errorf("%d connections left open", st.Open)
	}
	// Every connection decided before the end was reported: only the silent
	// and those still in flight went without a verdict.
	if decided := st.Finished; decided != len(got) {
		t.Errorf("%d connections decided, %d verdicts: some decided ones were lost", decided, len(got))
	}
}

// TestFakeConnectHostStatus: a host that accepted or refused a connection is
// up; one known only from ICMP errors sent by a router, from this host or from
// silence is not.
func TestFakeConnectHostStatus(t *testing.T) {
	model := func(dst netip.AddrPort, _ int) connecttest.Answer {
		switch dst.Addr().As4()[3] {
		case 1:
			return connecttest.Answer{Outcome: connect.Outcome{Kind: connect.Refused}}
		case 2:
			return connecttest.Answer{Outcome: connect.Outcome{Kind: connect.Connected}}
		case 3:
			return connecttest.Answer{Outcome: connect.Outcome{Kind: connect.Unreachable, ICMPType: 3, ICMPCode: 13, From: fakeRouter}}
		case 4:
			return connecttest.Answer{Outcome: connect.Outcome{Kind: connect.Failed, Errno: syscall.EHOSTUNREACH}, AtOnce: true}
		}
		return connecttest.Answer{Silent: true}
	}
	sys := connecttest.New(model)
	cfg := connectConfig(t, sys, "198.19.0.1-198.19.0.5", "22,80", connect.Options{Timeout: 100 * time.Millisecond})
	_, sum, s, err := runFake(t, context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for last, want := range map[byte]result.Reason{1: result.ReasonReset, 2: result.ReasonSYNACK, 3: 0, 4: 0, 5: 0} {
		reason, up := s.HostStatus(netip.AddrFrom4([4]byte{198, 19, 0, last}))
		if up != (want != 0) || reason != want {
			t.Errorf("198.19.0.%d: up %v (%v), want up %v (%v)", last, up, reason, want != 0, want)
		}
	}
	if sum.HostsUp != 2 {
		t.Errorf("%d hosts up, want 2", sum.HostsUp)
	}
}

package engine

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fastscan/fastscan/link/linktest"
	"github.com/fastscan/fastscan/permute"
	"github.com/fastscan/fastscan/result"
)

// These tests scan an on-link /24 whose MACs come from linktest's ARP network
// (real time) while the sender runs: the truth is the two models, and the fakes
// record every probe and every ARP request.

var (
	lanSource = netip.MustParseAddr("198.18.1.1")
	lanFast   = netip.MustParseAddr("198.18.1.10") // answers ARP at once
	lanSlower = netip.MustParseAddr("198.18.1.20") // 3 ms late
	lanKnown  = netip.MustParseAddr("198.18.1.30") // in the neighbour table: never asked
	lanLate   = netip.MustParseAddr("198.18.1.50") // 50 ms late
	lanSilent = netip.MustParseAddr("198.18.1.77") // never answers ARP
)

// lanHostMAC is the MAC of a LAN host of these tests.
func lanHostMAC(ip netip.Addr) [6]byte {
	b := ip.As4()
	return [6]byte{2, 0xfa, 0, 0, 1, b[3]}
}

// lanARP answers ARP as the hosts above do; delay overrides the late host's delay.
func lanARP(late time.Duration) *linktest.ARPNetwork {
	delays := map[netip.Addr]time.Duration{lanFast: 100 * time.Microsecond, lanSlower: 3 * time.Millisecond, lanLate: late}
	return linktest.NewARP(linktest.ARPOptions{
		Model: func(ip netip.Addr) (linktest.ARPAnswer, bool) {
			d, ok := delays[ip]
			return linktest.ARPAnswer{MAC: lanHostMAC(ip), Delay: d}, ok
		},
		Neighbors: map[netip.Addr][6]byte{lanKnown: lanHostMAC(lanKnown)},
	})
}

// lanLive are the hosts with a MAC.
var lanLive = []netip.Addr{lanFast, lanSlower, lanKnown, lanLate}

// lanModel: ports 22 and 80 open on every live host, the others closed; port 9
// filtered (silent) where filtered is set. Probes to anyone else fail the test:
// nothing may be sent to an address without a MAC.
func lanModel(t *testing.T, filtered bool) linktest.Model {
	return func(dst netip.Addr, proto uint8, port uint16) linktest.Answer {
		if !slices.Contains(lanLive, dst) {
			t.Errorf("probe to %v port %d: it has no MAC", dst, port)
			return linktest.Answer{}
		}
		switch {
		case port == 22 || port == 80:
			return linktest.Answer{Kind: linktest.SYNACK}
		case port == 9 && filtered:
			return linktest.Answer{}
		}
		return linktest.Answer{Kind: linktest.RST}
	}
}

// lanConfig scans 198.18.1.0/24 x ports through nw with MACs from arp.
func lanConfig(t *testing.T, nw *linktest.Network, arp *linktest.ARPNetwork, ports string) Config {
	cfg := fakeConfig(t, nw, "198.18.1.0/24", ports, "")
	cfg.Path = &Path{
		Interface: net.Interface{Index: 1, Name: "lan0", MTU: 1500},
		SourceIP:  lanSource, SourceMAC: [6]byte{2, 0xfa, 0, 0, 1, 1}, RouterMAC: [6]byte{2, 0, 0, 0, 0, 0xee},
		OnLink: netip.MustParsePrefix("198.18.1.0/24"),
	}
	cfg.ARP = arp.Open
	cfg.Rate = 100000
	return cfg
}

// checkLANVerdicts checks that got holds exactly the truth of the live hosts x ports.
func checkLANVerdicts(t *testing.T, got map[key]verdict, ports []uint16, filtered bool) {
	t.Helper()
	want := 0
	for _, ip := range lanLive {
		for _, p := range ports {
			want++
			v, ok := got[key{ip, result.TCP, p}]
			wantState := result.Closed
			switch {
			case p == 22 || p == 80:
				wantState = result.Open
			case p == 9 && filtered:
				wantState = result.Filtered
			}
			if !ok || v.state != wantState {
				t.Errorf("%v:%d: %v (reported %v), want %v", ip, p, v.state, ok, wantState)
			}
		}
	}
	if len(got) != want {
		t.Errorf("%d verdicts, want %d (live hosts x ports only)", len(got), want)
	}
}

func portRange(lo, hi uint16) []uint16 {
	var ps []uint16
	for p := lo; p <= hi; p++ {
		ps = append(ps, p)
	}
	return ps
}

func TestOnLinkProbedAsARPAnswers(t *testing.T) {
	nw := linktest.New(linktest.Options{Model: lanModel(t, false)})
	arp := lanARP(50 * time.Millisecond)
	cfg := lanConfig(t, nw, arp, "1-64")
	start := time.Now()
	got, sum, s, err := runFake(t, context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	checkLANVerdicts(t, got, portRange(1, 64), false)

	// Every host was probed once per port, at its own MAC, and nobody else.
	probes := nw.Probes()
	count := map[netip.Addr]int{}
	first := map[netip.Addr]time.Time{}
	for _, p := range probes {
		count[p.Dst]++
		if p.DstMAC != lanHostMAC(p.Dst) {
			t.Errorf("probe to %v went to MAC %x", p.Dst, p.DstMAC)
		}
		if _, ok := first[p.Dst]; !ok {
			first[p.Dst] = p.Committed
		}
	}
	for _, ip := range lanLive {
		if count[ip] != 64 {
			t.Errorf("%v got %d probes, want 64", ip, count[ip])
		}
	}
	if len(count) != len(lanLive) {
		t.Errorf("probed %d addresses, want %d", len(count), len(lanLive))
	}

	// ARP: the neighbour table's host was not asked; answering hosts once; silent
	// ones three times (two retries); the late one found from its first answer.
	reqs := arp.Requests()
	if n := arp.RequestsTo(lanKnown); n != 0 {
		t.Errorf("%v is in the neighbour table but got %d ARP requests", lanKnown, n)
	}
	if arp.RequestsTo(lanFast) != 1 || arp.RequestsTo(lanSilent) != 3 || arp.RequestsTo(lanSource) != 0 {
		t.Errorf("ARP requests: fast %d, silent %d, own %d", arp.RequestsTo(lanFast), arp.RequestsTo(lanSilent), arp.RequestsTo(lanSource))
	}
	var lateFirstReq, lastReq time.Time
	for _, r := range reqs {
		if r.Target == lanLate && lateFirstReq.IsZero() {
			lateFirstReq = r.At
		}
		lastReq = r.At
	}
	// Pipelined: the neighbour's host and the fast one were probed before the
	// late host had even answered, and long before ARP ended.
	for _, ip := range []netip.Addr{lanKnown, lanFast, lanSlower} {
		if !first[ip].Before(lateFirstReq.Add(50 * time.Millisecond)) {
			t.Errorf("%v first probed %v after the late host's first request: not pipelined", ip, first[ip].Sub(lateFirstReq))
		}
	}
	if !first[lanFast].Before(lastReq) {
		t.Errorf("%v first probed after the last ARP request", lanFast)
	}
	if !first[lanLate].After(lateFirstReq.Add(50 * time.Millisecond)) {
		t.Errorf("late host probed %v after its first ARP request, before its answer", first[lanLate].Sub(lateFirstReq))
	}

	// 256 addresses: 4 up, our own and 251 without an ARP answer down.
	if sum.HostsDown != 252 || sum.HostsProbed != 4 || sum.HostsUp != 4 || sum.NoResponse != 0 {
		t.Errorf("hosts down %d probed %d up %d, no response %d", sum.HostsDown, sum.HostsProbed, sum.HostsUp, sum.NoResponse)
	}
	if sum.ARP.Found != 3 || sum.ARP.Silent != 251 || sum.ARP.Requests != len(reqs) || sum.ARP.Samples < 2 {
		t.Errorf("ARP stats %+v", sum.ARP)
	}
	// The scan ends when the silent addresses' last timeout passes (about
	// 20+40+80 ms after their first request), not after a fixed wait.
	t.Logf("on-link /24 x 64 with a 50 ms late host: %v, ARP %+v", elapsed, sum.ARP)
	if elapsed > 2*time.Second {
		t.Errorf("scan took %v", elapsed)
	}
	if s.invalid.Load() != 0 {
		t.Errorf("%d replies judged invalid: answers to probes that left were refused", s.invalid.Load())
	}
}

// A late host's catch-up probes give round-trip samples: with one silent port per
// host the cool-down waits a timeout sized by them, not the 1 s initial one.
func TestOnLinkCatchUpMeasuresRoundTrips(t *testing.T) {
	nw := linktest.New(linktest.Options{Model: lanModel(t, true), Delay: 2 * time.Millisecond})
	cfg := lanConfig(t, nw, lanARP(5*time.Millisecond), "1-32")
	cfg.Wait = 5 * time.Second
	got, sum, _, err := runFake(t, context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkLANVerdicts(t, got, portRange(1, 32), true)
	if sum.NoResponse != 4 {
		t.Errorf("%d no response, want port 9 of the 4 hosts", sum.NoResponse)
	}
	if sum.CoolDown > 600*time.Millisecond {
		t.Errorf("cool-down %v: not sized by the round trips of the catch-up probes", sum.CoolDown)
	}
}

// A probe to a late host lost in the first pass is sent again by the retry pass,
// at the host's MAC.
func TestOnLinkRetryReachesLateHosts(t *testing.T) {
	var lost atomic.Int32
	nw := linktest.New(linktest.Options{Model: lanModel(t, false), Loss: func(_ uint64, dst netip.Addr, _ uint8, port uint16) bool {
		return dst == lanLate && port == 22 && lost.Add(1) == 1
	}})
	cfg := lanConfig(t, nw, lanARP(20*time.Millisecond), "20-24")
	cfg.Retries = 1
	got, _, _, err := runFake(t, context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkLANVerdicts(t, got, portRange(20, 24), false)
	n := 0
	for _, p := range nw.Probes() {
		if p.Dst == lanLate && p.DstPort == 22 {
			n++
			if p.DstMAC != lanHostMAC(lanLate) {
				t.Errorf("retry to MAC %x", p.DstMAC)
			}
		}
	}
	if n != 2 {
		t.Errorf("late host's lost probe sent %d times, want 2", n)
	}
}

// Interrupted while ARP still waits: Run returns at once, and a host whose answer
// has not come is never probed.
func TestOnLinkInterruptedDuringARP(t *testing.T) {
	nw := linktest.New(linktest.Options{Model: func(dst netip.Addr, proto uint8, port uint16) linktest.Answer {
		if dst == lanLate {
			t.Errorf("probe to %v before its ARP answer", dst)
		}
		return linktest.Answer{Kind: linktest.RST}
	}})
	cfg := lanConfig(t, nw, lanARP(time.Hour), "1-8")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, sum, _, err := runFake(t, ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Interrupted {
		t.Error("not interrupted")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Run returned %v after start, 60 ms after the interruption", d)
	}
}

// A resumed scan probes every unanswered target of the on-link hosts, also those
// of neighbour-table hosts behind the checkpoint's position: the stopped scan may
// have left them unprobed.
func TestOnLinkResume(t *testing.T) {
	nw := linktest.New(linktest.Options{Model: lanModel(t, false)})
	cfg := lanConfig(t, nw, lanARP(time.Millisecond), "1-16")
	probe, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	known, _ := cfg.Targets.Index(lanKnown)
	answered := []uint64{known*16 + 0, known*16 + 5} // two targets of the known host
	cfg.Resume = &Resume{Position: probe.total - 1, Answered: slices.Values(answered)}
	got, _, _, err := runFake(t, context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4*16-2 {
		t.Errorf("%d verdicts, want every target of the 4 hosts but the 2 answered", len(got))
	}
	if _, ok := got[key{lanKnown, result.TCP, 8}]; !ok || got[key{lanKnown, result.TCP, 6}] != (verdict{}) {
		t.Error("a target of the neighbour's host behind the resume position was not probed, or an answered one was")
	}
}

// lateLeft accepts a reply only for what the catch-up handed to the link.
func TestLateLeft(t *testing.T) {
	s := &Scanner{nports: 8, plan: &plan{arp: &arpWork{}}}
	s.plan.arp.order = portOrderKey{perm: permute.New(8, 1)}
	h := &hop{late: true, rot: 3}
	var seen [8]bool
	for i := range uint64(8) {
		pi := s.plan.arp.order.port(h, i)
		if seen[pi] || s.plan.arp.order.index(h, pi) != i {
			t.Fatalf("catch-up order is not a bijection at %d", i)
		}
		seen[pi] = true
	}
	w := s.plan.arp
	for range 3 {
		h.next++
		w.committed(h)
	}
	w.flushing(1000)
	for i := range uint64(8) {
		idx := 5*8 + s.plan.arp.order.port(h, i)
		if left := s.lateLeft(h, idx); left != (i < 3) {
			t.Errorf("catch-up probe %d: left %v", i, left)
		}
		if at, ok := s.lateSentAt(h, idx); ok != (i < 3) || ok && at != 1000 {
			t.Errorf("catch-up probe %d: sent at %d %v", i, at, ok)
		}
	}
	h.next++
	w.committed(h)
	w.flushing(2000)
	if _, ok := s.lateSentAt(h, 5*8+s.plan.arp.order.port(h, 0)); ok {
		t.Error("a probe of an earlier flush is stamped with the latest")
	}
	if at, ok := s.lateSentAt(h, 5*8+s.plan.arp.order.port(h, 3)); !ok || at != 2000 {
		t.Error("the latest flush's probe has no time")
	}
}

package engine

import (
	"context"
	"fmt"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fastscan/fastscan/link/linktest"
	"github.com/fastscan/fastscan/packet"
	"github.com/fastscan/fastscan/result"
)

// hostModel answers each host of a fake scan by a function of its own: the
// hosts' last octet picks it; hosts without one are silent.
func hostModel(hosts map[byte]func(port uint16) linktest.Answer) linktest.Model {
	return func(dst netip.Addr, proto uint8, port uint16) linktest.Answer {
		if proto != packet.ProtocolTCP {
			return linktest.Answer{}
		}
		if f := hosts[dst.As4()[3]]; f != nil {
			return f(port)
		}
		return linktest.Answer{}
	}
}

var (
	synack = linktest.Answer{Kind: linktest.SYNACK}
	reset  = linktest.Answer{Kind: linktest.RST}
	silent = linktest.Answer{}
)

// answerBelow answers a below port n, b from n on.
func answerBelow(n uint16, a, b linktest.Answer) func(uint16) linktest.Answer {
	return func(port uint16) linktest.Answer {
		if port < n {
			return a
		}
		return b
	}
}

// expectFlagged checks Summary.OpenEverywhere and Scanner.OpenEverywhere against
// want (last octet -> SYN-ACKs, probed), for the addresses 198.19.0.1 to .last.
func expectFlagged(t *testing.T, sum Summary, s *Scanner, last byte, want map[byte][2]int) {
	t.Helper()
	var list []result.OpenEverywhere
	for i := byte(1); i <= last; i++ {
		a := netip.AddrFrom4([4]byte{198, 19, 0, i})
		got, ok := s.OpenEverywhere(a)
		w, flag := want[i]
		if ok != flag || flag && (got.SYNACKs != w[0] || got.Probed != w[1] || got.Addr != a) {
			t.Errorf("%v: flagged %v %+v, want %v %v", a, ok, got, flag, w)
		}
		if flag {
			list = append(list, result.OpenEverywhere{Addr: a, SYNACKs: w[0], Probed: w[1]})
		}
	}
	if fmt.Sprint(sum.OpenEverywhere) != fmt.Sprint(list) {
		t.Errorf("Summary.OpenEverywhere %v, want %v", sum.OpenEverywhere, list)
	}
}

// TestFakeOpenEverywhere: a host that answered SYN-ACK on at least 90% of at
// least 16 TCP ports with a verdict is flagged; silence after the retries is a
// verdict (filtered) that counts against it; UDP ports are not counted.
func TestFakeOpenEverywhere(t *testing.T) {
	hosts := map[byte]func(uint16) linktest.Answer{
		1: func(uint16) linktest.Answer { return synack }, // a tarpit: 64 of 64
		2: answerBelow(61, synack, reset),                 // 60 of 64: 93.75%
		3: answerBelow(58, synack, reset),                 // 57 of 64: 89%
		4: answerBelow(60, synack, silent),                // 59 of 64, 5 silent: 92%
		5: answerBelow(58, synack, silent),                // 57 of 64, 7 silent: 89%
		6: answerBelow(9, synack, reset),                  // a real host: 8 open, 56 closed
		// 7: silent
	}
	nw := linktest.New(linktest.Options{Model: hostModel(hosts)})
	cfg := fakeConfig(t, nw, "198.19.0.1-198.19.0.7", "1-64", "1-32")
	cfg.Wait = 200 * time.Millisecond
	_, sum, s, err := runFake(t, context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	expectFlagged(t, sum, s, 7, map[byte][2]int{1: {64, 64}, 2: {60, 64}, 4: {59, 64}})
	if _, ok := s.OpenEverywhere(netip.MustParseAddr("198.19.0.99")); ok {
		t.Error("an address outside the scan is flagged")
	}
}

// TestFakeOpenEverywhereMinPorts: with fewer than 16 TCP ports nothing is
// flagged, not even a host open on all of them; with 16, it is.
func TestFakeOpenEverywhereMinPorts(t *testing.T) {
	every := map[byte]func(uint16) linktest.Answer{1: func(uint16) linktest.Answer { return synack }}
	for _, c := range []struct {
		ports string
		want  map[byte][2]int
	}{
		{"1-15", nil},
		{"1-16", map[byte][2]int{1: {16, 16}}},
	} {
		nw := linktest.New(linktest.Options{Model: hostModel(every)})
		cfg := fakeConfig(t, nw, "198.19.0.1-198.19.0.2", c.ports, "")
		cfg.Wait = 200 * time.Millisecond
		_, sum, s, err := runFake(t, context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if c.want == nil && s.opens != nil {
			t.Errorf("%s: the scan keeps the open ports though it cannot flag anything", c.ports)
		}
		expectFlagged(t, sum, s, 2, c.want)
	}
}

// TestFakeOpenEverywhereInterrupted: an interrupted scan judges a host on the
// ports a reply decided (it gave the others no verdict): every host with 16 or
// more of them is flagged with SYN-ACKs = probed = its answered ports.
func TestFakeOpenEverywhereInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var n atomic.Uint64
	model := func(netip.Addr, uint8, uint16) linktest.Answer {
		if n.Add(1) == 1500 {
			cancel()
		}
		return synack
	}
	nw := linktest.New(linktest.Options{Model: model, Delay: 5 * time.Millisecond})
	cfg := fakeConfig(t, nw, "198.19.0.1-198.19.0.63", "1-64", "")
	cfg.Rate = 100000
	got, sum, s, err := runFake(t, ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Interrupted {
		t.Fatal("not interrupted")
	}
	answered := map[netip.Addr]int{}
	for k := range got {
		answered[k.addr]++
	}
	want := map[byte][2]int{}
	partial := 0
	for a, c := range answered {
		if c >= result.OpenEverywhereMinPorts {
			want[a.As4()[3]] = [2]int{c, c}
		}
		if c < 64 {
			partial++
		}
	}
	if partial == 0 {
		t.Fatal("every host answered on every port before the interruption: the test proves nothing")
	}
	expectFlagged(t, sum, s, 63, want)
}

// TestFakeOpenEverywhereShards: each shard judges a host on its own share of
// the host's ports: a tarpit is flagged by every shard, with its share as probed.
func TestFakeOpenEverywhereShards(t *testing.T) {
	hosts := map[byte]func(uint16) linktest.Answer{
		1: func(uint16) linktest.Answer { return synack },
		2: answerBelow(48, synack, silent), // 47 of 64: flagged by a shard only if its share is 90% open
	}
	const shards = 2
	for shard := range shards {
		nw := linktest.New(linktest.Options{Model: hostModel(hosts)})
		cfg := fakeConfig(t, nw, "198.19.0.1-198.19.0.2", "1-64", "")
		cfg.Shard, cfg.Shards, cfg.Wait = shard, shards, 200*time.Millisecond
		_, sum, s, err := runFake(t, context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		// The truth: the probes this shard sent, by host.
		probed, opens := map[byte]int{}, map[byte]int{}
		for _, p := range nw.Probes() {
			i := p.Dst.As4()[3]
			probed[i]++
			if hosts[i](p.DstPort).Kind == linktest.SYNACK {
				opens[i]++
			}
		}
		if probed[1] == 64 || probed[1] < result.OpenEverywhereMinPorts {
			t.Fatalf("shard %d probed %d of host 1's ports: the test proves nothing", shard, probed[1])
		}
		want := map[byte][2]int{1: {probed[1], probed[1]}}
		if result.IsOpenEverywhere(opens[2], probed[2]) {
			want[2] = [2]int{opens[2], probed[2]}
		}
		expectFlagged(t, sum, s, 2, want)
	}
}

// TestFakeOpenEverywhereResumed: a resumed scan knows only its own run's open
// ports, so it judges a host on the ports this run decided: a tarpit whose
// first half the earlier run answered is flagged with the second half's counts
// (not 32 of 64, which would hide it).
func TestFakeOpenEverywhereResumed(t *testing.T) {
	hosts := map[byte]func(uint16) linktest.Answer{
		1: func(uint16) linktest.Answer { return synack },
		2: answerBelow(9, synack, reset),
	}
	nw := linktest.New(linktest.Options{Model: hostModel(hosts)})
	cfg := fakeConfig(t, nw, "198.19.0.1-198.19.0.2", "1-64", "")
	cfg.Wait = 200 * time.Millisecond
	// The earlier run answered ports 1-32 of both hosts (host index x 64 + port - 1).
	cfg.Resume = &Resume{Answered: func(yield func(uint64) bool) {
		for host := range uint64(2) {
			for pi := range uint64(32) {
				if !yield(host*64 + pi) {
					return
				}
			}
		}
	}}
	_, sum, s, err := runFake(t, context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(nw.Probes()) != 64 {
		t.Fatalf("%d probes: the resumed scan probed what the earlier run answered", len(nw.Probes()))
	}
	expectFlagged(t, sum, s, 2, map[byte][2]int{1: {32, 32}})
}

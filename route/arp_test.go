package route_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/fastscan/fastscan/link/linktest"
	"github.com/fastscan/fastscan/route"
)

// These tests run route.ResolveARP against linktest's ARP network on a virtual
// clock: exact, repeatable, and as fast as the CPU allows.

var arpSrc = netip.MustParseAddr("198.18.1.1")

// lan is 198.18.1.2-.254: the addresses a /24 scan resolves.
func lan() []netip.Addr {
	var ips []netip.Addr
	for i := 2; i < 255; i++ {
		ips = append(ips, netip.AddrFrom4([4]byte{198, 18, 1, byte(i)}))
	}
	return ips
}

func fakeMAC(ip netip.Addr) [6]byte {
	b := ip.As4()
	return [6]byte{2, 0xfa, b[0], b[1], b[2], b[3]}
}

// hosts answers for the given last octets after the given delays.
func hosts(delays map[byte]time.Duration) linktest.ARPModel {
	return func(ip netip.Addr) (linktest.ARPAnswer, bool) {
		d, ok := delays[ip.As4()[3]]
		return linktest.ARPAnswer{MAC: fakeMAC(ip), Delay: d}, ok
	}
}

type arpRun struct {
	found map[netip.Addr][6]byte
	at    map[netip.Addr]time.Time // when found was called, on the virtual clock
	stats route.ARPStats
	err   error
	reqs  []linktest.ARPRequest
	start time.Time
}

func resolve(t *testing.T, ctx context.Context, m linktest.ARPModel, ips []netip.Addr, o route.ARPOptions) arpRun {
	t.Helper()
	start := time.Unix(1_000_000, 0)
	nw := linktest.NewARP(linktest.ARPOptions{Model: m, Virtual: true, Start: start})
	c, err := nw.Open(net.Interface{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	o.SrcIP, o.SrcMAC = arpSrc, [6]byte{2, 0, 0, 0, 0, 1}
	r := arpRun{found: map[netip.Addr][6]byte{}, at: map[netip.Addr]time.Time{}, start: start}
	r.stats, r.err = route.ResolveARP(ctx, c, ips, o, func(ip netip.Addr, mac [6]byte) {
		if _, dup := r.found[ip]; dup {
			t.Errorf("%v found twice", ip)
		}
		r.found[ip] = mac
		r.at[ip] = c.Now()
	})
	r.reqs = nw.Requests()
	return r
}

// requestsTo returns the times of the requests for ip.
func (r arpRun) requestsTo(ip netip.Addr) []time.Duration {
	var out []time.Duration
	for _, q := range r.reqs {
		if q.Target == ip {
			out = append(out, q.At.Sub(r.start))
		}
	}
	return out
}

func TestResolveARPPipelinesRetriesAndGivesUp(t *testing.T) {
	ips := lan()
	late := netip.MustParseAddr("198.18.1.50")
	r := resolve(t, context.Background(), hosts(map[byte]time.Duration{
		10: 80 * time.Microsecond, 20: 150 * time.Microsecond, 30: 60 * time.Microsecond, 50: 50 * time.Millisecond,
	}), ips, route.ARPOptions{Rate: 20000})
	if r.err != nil {
		t.Fatal(r.err)
	}
	for _, b := range []byte{10, 20, 30, 50} {
		ip := netip.AddrFrom4([4]byte{198, 18, 1, b})
		if mac, ok := r.found[ip]; !ok || mac != fakeMAC(ip) {
			t.Errorf("%v: found %v %x", ip, ok, mac)
		}
	}
	if len(r.found) != 4 || r.stats.Found != 4 || r.stats.Silent != len(ips)-4 {
		t.Fatalf("found %d (stats %+v), want 4 and %d silent", len(r.found), r.stats, len(ips)-4)
	}
	// The fast hosts were found while requests to the others were still going out:
	// the caller can use them at once.
	lastFirst := r.requestsTo(netip.MustParseAddr("198.18.1.254"))[0]
	if at := r.at[netip.MustParseAddr("198.18.1.10")].Sub(r.start); at >= lastFirst {
		t.Errorf("198.18.1.10 reported at %v, after the last first request (%v)", at, lastFirst)
	}
	// Fast hosts got one request, silent ones three (two retries), on the floor
	// timeout (the lab-like round trips are far below it) doubled each time.
	for _, ip := range ips {
		got := r.requestsTo(ip)
		switch b := ip.As4()[3]; {
		case b == 10 || b == 20 || b == 30:
			if len(got) != 1 {
				t.Errorf("%v answered at once but got %d requests", ip, len(got))
			}
		case ip == late:
			if len(got) != 2 {
				t.Errorf("late host got requests at %v, want 2 (its reply to the first came after the first retry)", got)
			}
		default:
			if len(got) != 3 {
				t.Fatalf("silent %v got %d requests, want 3", ip, len(got))
			}
			// Each retry goes out when its timeout passes (20 ms, then 40 ms),
			// delayed at most by the requests queued ahead of it at the rate.
			for k, want := range []time.Duration{20 * time.Millisecond, 40 * time.Millisecond} {
				if gap := got[k+1] - got[k]; gap < want || gap > want+15*time.Millisecond {
					t.Errorf("silent %v: retry %d after %v, want %v", ip, k+1, gap, want)
				}
			}
		}
	}
	// It stops when the last retry's timeout (80 ms) passes, not later.
	var last time.Duration
	for _, q := range r.reqs {
		last = max(last, q.At.Sub(r.start))
	}
	if want := last + 80*time.Millisecond; r.stats.Elapsed != want {
		t.Errorf("ended after %v, want the last request (%v) + 80 ms", r.stats.Elapsed, last)
	}
	if r.stats.Requests != len(r.reqs) || r.stats.Samples != 3 || r.stats.MaxRTT != 150*time.Microsecond || r.stats.Timeout != route.DefaultARPMinTimeout {
		t.Errorf("stats %+v", r.stats)
	}
}

func TestResolveARPRateBounded(t *testing.T) {
	for _, rate := range []int{100, 5000, 20000} {
		r := resolve(t, context.Background(), hosts(map[byte]time.Duration{7: time.Millisecond}), lan(), route.ARPOptions{Rate: rate})
		if r.err != nil {
			t.Fatal(r.err)
		}
		interval := time.Second / time.Duration(rate)
		// Within any window, at most the rate's share plus the catch-up burst (2 ms).
		burst := int(2*time.Millisecond/interval) + 1
		for i := range r.reqs {
			for j := i + 1; j < len(r.reqs); j++ {
				window := r.reqs[j].At.Sub(r.reqs[i].At)
				if allowed := int(window/interval) + burst; j-i+1 > allowed {
					t.Fatalf("rate %d: %d requests within %v (allowed %d)", rate, j-i+1, window, allowed)
				}
				if window > 50*time.Millisecond {
					break
				}
			}
		}
		if len(r.reqs) != 1+252*3 {
			t.Errorf("rate %d: %d requests, want %d", rate, len(r.reqs), 1+252*3)
		}
	}
}

func TestResolveARPTimeoutFollowsRoundTrips(t *testing.T) {
	ips := lan()
	silent := netip.MustParseAddr("198.18.1.200")
	t.Run("slow LAN", func(t *testing.T) {
		// Every host but .200 answers after 30 ms: above the floor, so the timeout
		// grows with them and no answering host is asked twice.
		m := func(ip netip.Addr) (linktest.ARPAnswer, bool) {
			return linktest.ARPAnswer{MAC: fakeMAC(ip), Delay: 30 * time.Millisecond}, ip != silent
		}
		r := resolve(t, context.Background(), m, ips, route.ARPOptions{Rate: 20000})
		if r.err != nil || len(r.found) != len(ips)-1 {
			t.Fatalf("%v, %d found", r.err, len(r.found))
		}
		if r.stats.Requests != len(ips)-1+3 {
			t.Errorf("%d requests, want one per host and three to the silent one", r.stats.Requests)
		}
		got := r.requestsTo(silent)
		// max(4 x median, 2 x max): between 2 x 30 ms and 4 x 30 ms.
		if gap := got[1] - got[0]; gap < 60*time.Millisecond || gap > 125*time.Millisecond {
			t.Errorf("silent host retried after %v, want 60-120 ms (30 ms round trips)", gap)
		}
		if r.stats.MaxRTT != 30*time.Millisecond || r.stats.Timeout < 60*time.Millisecond {
			t.Errorf("stats %+v", r.stats)
		}
	})
	t.Run("ceiling", func(t *testing.T) {
		m := func(ip netip.Addr) (linktest.ARPAnswer, bool) {
			return linktest.ARPAnswer{MAC: fakeMAC(ip), Delay: 400 * time.Millisecond}, ip.As4()[3] < 10
		}
		r := resolve(t, context.Background(), m, ips, route.ARPOptions{Rate: 20000, MaxTimeout: 450 * time.Millisecond})
		got := r.requestsTo(silent)
		if len(got) != 3 || got[1]-got[0] > 460*time.Millisecond || got[2]-got[1] > 460*time.Millisecond {
			t.Errorf("silent host asked at %v: timeouts above the 450 ms ceiling", got)
		}
		if len(r.found) != 8 {
			t.Errorf("found %d of the 8 slow hosts", len(r.found))
		}
	})
	t.Run("nothing answers", func(t *testing.T) {
		// With no round trip measured, the initial timeout (100 ms) doubles: 700 ms.
		r := resolve(t, context.Background(), nil, ips[:4], route.ARPOptions{Rate: 20000})
		got := r.requestsTo(ips[0])
		if !slices.Equal(got, []time.Duration{0, 100 * time.Millisecond, 300 * time.Millisecond}) {
			t.Errorf("requests at %v, want 0, 100 ms, 300 ms", got)
		}
		if r.stats.Silent != 4 || r.stats.Elapsed < 700*time.Millisecond || r.stats.Elapsed > 701*time.Millisecond {
			t.Errorf("stats %+v, want 4 silent after 700 ms", r.stats)
		}
	})
}

func TestResolveARPLossAndRetries(t *testing.T) {
	lossy := netip.MustParseAddr("198.18.1.9")
	m := func(ip netip.Addr) (linktest.ARPAnswer, bool) {
		a := linktest.ARPAnswer{MAC: fakeMAC(ip), Delay: 100 * time.Microsecond}
		if ip == lossy {
			a.Drop = func(n int) bool { return n < 2 } // the first two requests are lost
		}
		return a, ip.As4()[3] < 12
	}
	r := resolve(t, context.Background(), m, lan(), route.ARPOptions{Rate: 20000})
	if _, ok := r.found[lossy]; !ok || len(r.requestsTo(lossy)) != 3 {
		t.Errorf("host losing two requests: found %v after %d requests", ok, len(r.requestsTo(lossy)))
	}
	// Its round trip is not a sample: which request did the reply answer?
	if r.stats.Samples != 9 {
		t.Errorf("%d samples, want the 9 hosts that answered their first request", r.stats.Samples)
	}
	r = resolve(t, context.Background(), m, lan(), route.ARPOptions{Rate: 20000, Retries: -1})
	if _, ok := r.found[lossy]; ok || r.stats.Requests != 253 {
		t.Errorf("without retries: lossy host found %v, %d requests", ok, r.stats.Requests)
	}
}

func TestResolveARPStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := hosts(map[byte]time.Duration{5: time.Millisecond})
	start := time.Unix(0, 0)
	nw := linktest.NewARP(linktest.ARPOptions{Model: m, Virtual: true, Start: start})
	c, _ := nw.Open(net.Interface{})
	stats, err := route.ResolveARP(ctx, c, lan(), route.ARPOptions{SrcIP: arpSrc, Rate: 1000}, func(netip.Addr, [6]byte) { cancel() })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if stats.Found != 1 || stats.Requests > 5 {
		t.Errorf("stats %+v after a cancel at the first answer", stats)
	}
	boom := errors.New("boom")
	nw = linktest.NewARP(linktest.ARPOptions{Virtual: true, SendErr: func(n int) error {
		if n == 3 {
			return boom
		}
		return nil
	}})
	c, _ = nw.Open(net.Interface{})
	if _, err := route.ResolveARP(context.Background(), c, lan(), route.ARPOptions{SrcIP: arpSrc}, func(netip.Addr, [6]byte) {}); !errors.Is(err, boom) {
		t.Errorf("send error: %v", err)
	}
	if _, err := route.ResolveARP(context.Background(), c, lan(), route.ARPOptions{SrcIP: netip.MustParseAddr("::1")}, nil); err == nil {
		t.Error("an IPv6 source was accepted")
	}
}

func TestKnownTakesTheNeighbourTable(t *testing.T) {
	known := netip.MustParseAddr("198.18.1.10")
	nw := linktest.NewARP(linktest.ARPOptions{Neighbors: map[netip.Addr][6]byte{known: fakeMAC(known)}})
	c, _ := nw.Open(net.Interface{})
	found := map[netip.Addr][6]byte{}
	ips := []netip.Addr{known, netip.MustParseAddr("198.18.1.11"), netip.MustParseAddr("198.18.1.11"), netip.MustParseAddr("::1")}
	todo, err := route.Known(c, ips, found)
	if err != nil || found[known] != fakeMAC(known) || len(found) != 1 || !slices.Equal(todo, ips[1:2]) {
		t.Errorf("Known: %v, found %v, todo %v", err, found, todo)
	}
}

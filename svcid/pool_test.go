package svcid_test

import (
	"context"
	"net"
	"net/netip"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/fastscan/fastscan/result"
	"github.com/fastscan/fastscan/svcid"
)

// The pool runs at most Concurrency identifications, at most PerHost per
// address, and delivers one result per port.
func TestPoolBounds(t *testing.T) {
	const hosts, ports, perHost, concurrency = 3, 5, 2, 4
	var aps []netip.AddrPort
	for h := range hosts {
		addr := netip.AddrFrom4([4]byte{127, 0, 0, byte(h + 1)})
		for range ports {
			ap, _ := serve(t, netip.AddrPortFrom(addr, 0).String(), func(c net.Conn) {
				time.Sleep(100 * time.Millisecond)
				c.Write([]byte("SSH-2.0-OpenSSH_9.2p1\r\n"))
				drain(c)
			})
			aps = append(aps, ap)
		}
	}
	// The dialer counts the connections open at once, per address and in all.
	var mu sync.Mutex
	active := map[netip.Addr]int{}
	maxPer := map[netip.Addr]int{}
	total, maxTotal := 0, 0
	dial := func(ctx context.Context, network, address string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, address)
		if err != nil {
			return nil, err
		}
		a := netip.MustParseAddrPort(address).Addr()
		mu.Lock()
		active[a]++
		total++
		maxPer[a] = max(maxPer[a], active[a])
		maxTotal = max(maxTotal, total)
		mu.Unlock()
		return &countedConn{Conn: c, close: func() {
			mu.Lock()
			active[a]--
			total--
			mu.Unlock()
		}}, nil
	}
	id := quick(t, func(c *svcid.Config) { c.PerHost, c.Concurrency, c.Dial = perHost, concurrency, dial })
	p := id.NewPool(context.Background())
	for _, ap := range aps {
		if !p.Submit(ap) {
			t.Fatal("Submit refused")
		}
	}
	p.Close()
	if p.Submit(aps[0]) {
		t.Error("Submit accepted after Close")
	}
	var got []string
	for r := range p.Results() {
		if r.Service != "ssh" {
			t.Errorf("%v: %q (%v)", r.Addr, r.Service, r.Err)
		}
		got = append(got, r.Addr.String())
	}
	if len(got) != len(aps) {
		t.Fatalf("%d results for %d ports", len(got), len(aps))
	}
	sort.Strings(got)
	for i := 1; i < len(got); i++ {
		if got[i] == got[i-1] {
			t.Errorf("%s twice", got[i])
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for a, m := range maxPer {
		if m > perHost {
			t.Errorf("%v: %d connections at once; PerHost is %d", a, m, perHost)
		}
	}
	if maxTotal > concurrency || maxTotal < 2 {
		t.Errorf("%d connections at once; Concurrency is %d (and the pool must run them concurrently)", maxTotal, concurrency)
	}
	t.Logf("at most %d connections at once, per host %v", maxTotal, maxPer)
}

// countedConn calls close once when closed.
type countedConn struct {
	net.Conn
	once  sync.Once
	close func()
}

func (c *countedConn) Close() error {
	c.once.Do(c.close)
	return c.Conn.Close()
}

// New connections are spaced by the rate.
func TestPoolRate(t *testing.T) {
	const n, rate = 8, 20.0
	var mu sync.Mutex
	var at []time.Time
	var aps []netip.AddrPort
	for range n {
		ap, _ := serve(t, "127.0.0.1:0", func(c net.Conn) {
			mu.Lock()
			at = append(at, time.Now())
			mu.Unlock()
			c.Write([]byte("SSH-2.0-x_1\r\n"))
		})
		aps = append(aps, ap)
	}
	id := quick(t, func(c *svcid.Config) { c.Rate, c.Concurrency = rate, n })
	p := id.NewPool(context.Background())
	for _, ap := range aps {
		p.Submit(ap)
	}
	p.Close()
	for range p.Results() {
	}
	mu.Lock()
	defer mu.Unlock()
	sort.Slice(at, func(i, j int) bool { return at[i].Before(at[j]) })
	span := at[len(at)-1].Sub(at[0])
	// n connections at rate/s span at least (n-1)/rate (less a scheduling margin).
	if min := time.Duration(float64(n-1)/rate*float64(time.Second)) * 9 / 10; span < min {
		t.Errorf("%d connections within %v; at %g/s they need at least %v", n, span, rate, min)
	}
}

// SetRate changes the spacing of the connections still to come: a pool at
// 1,000/s lowered to 10/s spaces its next connections 100 ms apart; raised
// to 0 (no bound) it opens the rest at once.
func TestPoolSetRate(t *testing.T) {
	const n = 4
	var mu sync.Mutex
	var at []time.Time
	greet := func(c net.Conn) {
		mu.Lock()
		at = append(at, time.Now())
		mu.Unlock()
		c.Write([]byte("SSH-2.0-x_1\r\n"))
	}
	run := func(p *svcid.Pool) time.Duration {
		mu.Lock()
		at = at[:0]
		mu.Unlock()
		for range n {
			ap, _ := serve(t, "127.0.0.1:0", greet)
			p.Submit(ap)
		}
		for range n {
			<-p.Results()
		}
		mu.Lock()
		defer mu.Unlock()
		sort.Slice(at, func(i, j int) bool { return at[i].Before(at[j]) })
		return at[len(at)-1].Sub(at[0])
	}
	id := quick(t, func(c *svcid.Config) { c.Rate, c.Concurrency = 1000, n })
	p := id.NewPool(context.Background())
	defer p.Close()
	p.SetRate(10)
	run(p) // the first connection was due at 1,000/s: the rest 100 ms apart
	if span := run(p); span < 250*time.Millisecond {
		t.Errorf("at 10/s, %d connections within %v, want at least 250 ms (three 100 ms gaps, less a margin)", n, span)
	}
	p.SetRate(0)
	start := time.Now()
	run(p)
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Errorf("with no bound, %d connections took %v (after one last 100 ms wait at most)", n, d)
	}

	// Many waiting at 2/s (500 ms apart), then raised to 1,000/s: those
	// already waiting take the new rate too.
	p.SetRate(2)
	start = time.Now()
	go func() {
		time.Sleep(100 * time.Millisecond)
		p.SetRate(1000)
	}()
	run(p)
	if d := time.Since(start); d > 400*time.Millisecond {
		t.Errorf("raised to 1,000/s after 100 ms, %d waiting connections took %v (at 2/s: 1.5 s)", n, d)
	}
}

// Cancelling the context stops the pool: Results closes without waiting
// for the port budgets.
func TestPoolCancel(t *testing.T) {
	ap, _ := serve(t, "127.0.0.1:0", hostile["silent"])
	id := quick(t, func(c *svcid.Config) { c.Timeout = time.Minute; c.Concurrency = 2 })
	ctx, cancel := context.WithCancel(context.Background())
	p := id.NewPool(ctx)
	for range 10 {
		p.Submit(ap)
	}
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	cancel()
	for range p.Results() {
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the pool took %v to stop after cancel", d)
	}
	if p.Submit(ap) {
		t.Error("Submit accepted after cancel")
	}
}

// Tee submits open TCP verdicts only and passes every verdict on.
func TestPoolTee(t *testing.T) {
	ap, _ := serve(t, "127.0.0.1:0", func(c net.Conn) { c.Write([]byte("SSH-2.0-OpenSSH_9.2p1\r\n")) })
	p := quick(t, nil).NewPool(context.Background())
	var passed int
	emit := p.Tee(func(*result.Result) error { passed++; return nil })
	for _, r := range []result.Result{
		{IP: ap.Addr(), Port: ap.Port(), Proto: result.TCP, State: result.Open},
		{IP: ap.Addr(), Port: ap.Port() + 1, Proto: result.TCP, State: result.Closed},
		{IP: ap.Addr(), Port: 53, Proto: result.UDP, State: result.Open},
	} {
		if err := emit(&r); err != nil {
			t.Fatal(err)
		}
	}
	p.Close()
	var got []svcid.Result
	for r := range p.Results() {
		got = append(got, r)
	}
	if passed != 3 || len(got) != 1 || got[0].Addr != ap || got[0].Service != "ssh" {
		t.Errorf("passed %d verdicts, identified %+v; want 3 passed and the open TCP port identified", passed, got)
	}
}

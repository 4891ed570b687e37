package bench

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/fastscan/fastscan/engine"
	"github.com/fastscan/fastscan/link"
	"github.com/fastscan/fastscan/link/connect"
	"github.com/fastscan/fastscan/packet"
	"github.com/fastscan/fastscan/result"
	"github.com/fastscan/fastscan/target"
)

// nullSys is a connect.Sys with no kernel behind it: every connection is
// refused, half at once (Connect) and half through Wait, from a fixed ring -
// what is left is the connect link's own work per probe (slot, frame parse,
// reply frame).
type nullSys struct {
	ring       [1 << 16]uint64
	head, tail uint64
	n          uint64
}

func (s *nullSys) Connect(_ netip.Addr, _ netip.AddrPort, tag uint64) (int, connect.Outcome, bool, error) {
	s.n++
	if s.n%2 == 0 {
		return -1, connect.Outcome{Kind: connect.Refused}, true, nil
	}
	s.ring[s.tail%uint64(len(s.ring))] = tag
	s.tail++
	return 1, connect.Outcome{}, false, nil
}

func (s *nullSys) Wait(_ time.Duration, tags []uint64) (int, error) {
	n := 0
	for s.head < s.tail && n < len(tags) {
		tags[n] = s.ring[s.head%uint64(len(s.ring))]
		s.head++
		n++
	}
	return n, nil
}

func (s *nullSys) Finish(int) connect.Outcome { return connect.Outcome{Kind: connect.Refused} }
func (s *nullSys) Abort(int)                  {}
func (s *nullSys) Close() error               { return nil }

// BenchmarkConnectLink drives a connect link by hand - batches of SYN frames
// through Next, Commit and Flush, their outcomes through Poll - on nullSys:
// the link's cost per probe, which must allocate nothing.
func BenchmarkConnectLink(b *testing.B) {
	const batch = 64
	l, err := connect.Open(link.Config{LocalIP: netip.MustParseAddr("198.18.0.1"), Batch: batch, FrameLen: packet.SYNFrameLen,
		Protocols: []uint8{packet.ProtocolTCP}}, connect.Options{Sys: &nullSys{}, Parallelism: 4096})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	tmpl, err := packet.NewSYNTemplate(packet.SYNParams{SrcIP: 0xC6120001})
	if err != nil {
		b.Fatal(err)
	}
	replies := 0
	count := func([]byte, int64) { replies++ }
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		buf := l.Next()
		if buf == nil {
			if _, err := l.Flush(); err != nil {
				b.Fatal(err)
			}
			if err := l.Poll(0, count); err != nil {
				b.Fatal(err)
			}
			buf = l.Next()
		}
		l.Commit(tmpl.Put(buf, nil, 0xC6130000+uint32(i&0xffff), uint16(1+i%1000), 61000, uint32(i), 0))
		i++
	}
	l.Flush()
	l.Poll(0, count)
	if replies == 0 {
		b.Fatal("no replies")
	}
}

// BenchmarkConnectLoopback scans 127.0.0.1 x 16,384 ports (three of them
// listening) side by side: through the engine, a connect scan (the kernel's
// connect(2), one epoll loop) and, as root, a SYN scan (raw IP over
// loopback), at a rate neither reaches; and, for scale, the same connections
// made the obvious Go way (net.Dialer, a goroutine per connection, 1,024 at
// once). probes/s is the figure; allocs/op is per scan, not per probe.
func BenchmarkConnectLoopback(b *testing.B) {
	b.Run("dialer", benchmarkDialer)
	for _, kind := range []string{"connect", "connect-2senders", "syn"} {
		senders := 1
		if kind == "connect-2senders" {
			kind, senders = "connect", 2
		}
		b.Run(fmt.Sprintf("%s/senders=%d", kind, senders), func(b *testing.B) {
			if kind == "syn" && os.Geteuid() != 0 {
				b.Skip("a SYN scan needs root")
			}
			var lns []net.Listener
			for _, p := range []string{"40001", "40002", "40003"} {
				ln, err := net.Listen("tcp4", "127.0.0.1:"+p)
				if err != nil {
					b.Skip(err)
				}
				lns = append(lns, ln)
			}
			defer func() {
				for _, ln := range lns {
					ln.Close()
				}
			}()
			targets, _ := target.ParseTargets([]string{"127.0.0.1"}, nil)
			ports, _ := target.ParsePorts("30000-46383")
			cfg := engine.Config{Targets: targets, Ports: ports, Rate: 1e8, Wait: 500 * time.Millisecond, Connect: kind == "connect",
				Parallelism: 1024, Seed: 1, Senders: senders}
			b.ReportAllocs()
			var sent uint64
			var took time.Duration
			open := uint64(0)
			for b.Loop() {
				s, err := engine.New(cfg)
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				sum, err := s.Run(context.Background(), func(*result.Result) error { return nil })
				if err != nil {
					b.Fatal(err)
				}
				took += time.Since(start) - sum.CoolDown
				sent += sum.Sent
				open = sum.Open
				if sum.Open+sum.Closed != uint64(ports.Len()) {
					b.Fatalf("%d open, %d closed of %d ports", sum.Open, sum.Closed, ports.Len())
				}
			}
			if open != 3 {
				b.Fatalf("%d open ports, want 3", open)
			}
			b.ReportMetric(float64(sent)/took.Seconds(), "probes/s")
		})
	}
}

// benchmarkDialer is BenchmarkConnectLoopback's goroutine-per-connection
// baseline: net.Dialer with a 500 ms timeout, 1,024 connections at once.
func benchmarkDialer(b *testing.B) {
	var lns []net.Listener
	for _, p := range []string{"40001", "40002", "40003"} {
		ln, err := net.Listen("tcp4", "127.0.0.1:"+p)
		if err != nil {
			b.Skip(err)
		}
		lns = append(lns, ln)
	}
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	b.ReportAllocs()
	var sent int
	var took time.Duration
	for b.Loop() {
		start := time.Now()
		sem := make(chan struct{}, 1024)
		var wg sync.WaitGroup
		var mu sync.Mutex
		open := 0
		for p := 30000; p <= 46383; p++ {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				d := net.Dialer{Timeout: 500 * time.Millisecond}
				c, err := d.Dial("tcp4", "127.0.0.1:"+strconv.Itoa(p))
				if err == nil {
					if c.LocalAddr().String() != c.RemoteAddr().String() {
						mu.Lock()
						open++
						mu.Unlock()
					}
					c.(*net.TCPConn).SetLinger(0)
					c.Close()
				}
			})
		}
		wg.Wait()
		took += time.Since(start)
		sent += 16384
		if open != 3 {
			b.Fatalf("%d open, want 3", open)
		}
	}
	b.ReportMetric(float64(sent)/took.Seconds(), "probes/s")
}

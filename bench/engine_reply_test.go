package bench

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/fastscan/fastscan/engine"
	"github.com/fastscan/fastscan/link"
	"github.com/fastscan/fastscan/packet"
	"github.com/fastscan/fastscan/result"
	"github.com/fastscan/fastscan/target"
)

// reflectLink is a Link that answers one TCP SYN probe in every `every` with a reset
// (a closed port), at once, for one sender: Flush turns the probes into replies in a queue of fixed
// size (waiting while it is full), Poll hands them to the receiver. Nothing is
// allocated per frame.
type reflectLink struct {
	frameLen, batch int
	every, n        int
	flags           uint8  // of the replies: RST|ACK, or SYN|ACK
	buf             []byte // the batch being filled
	pending         int

	mu      sync.Mutex
	drained *sync.Cond
	queue   []byte // replies waiting for Poll, frameLen bytes each
	lens    []int
	spare   []byte // what Poll hands out from, swapped with queue
	spareN  []int
}

const reflectQueue = 16384

func newReflectLink(c link.Config, every int, flags uint8) *reflectLink {
	l := &reflectLink{frameLen: c.FrameLen, batch: c.Batch, every: every, flags: flags,
		buf:   make([]byte, c.Batch*c.FrameLen),
		queue: make([]byte, 0, reflectQueue*c.FrameLen), lens: make([]int, 0, reflectQueue),
		spare: make([]byte, 0, reflectQueue*c.FrameLen), spareN: make([]int, 0, reflectQueue)}
	l.drained = sync.NewCond(&l.mu)
	return l
}

func (l *reflectLink) Next() []byte {
	if l.pending == l.batch {
		return nil
	}
	return l.buf[l.pending*l.frameLen : (l.pending+1)*l.frameLen]
}

func (l *reflectLink) Commit(int) { l.pending++ }

func (l *reflectLink) Flush() (int, error) {
	n := l.pending
	l.pending = 0
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range n {
		l.n++
		if l.n%l.every != 0 {
			continue
		}
		for len(l.lens) == reflectQueue {
			l.drained.Wait()
		}
		f := l.buf[i*l.frameLen : (i+1)*l.frameLen]
		ip := packet.IPv4(f[14:])
		tcp := packet.TCP(f[14+ip.HeaderLength():])
		size := 14 + int(ip.TotalLength())
		r := l.queue[len(l.queue) : len(l.queue)+l.frameLen]
		l.queue = l.queue[:len(l.queue)+l.frameLen]
		copy(r, f[:size])
		copy(r[0:6], f[6:12])
		copy(r[6:12], f[0:6])
		rip := packet.IPv4(r[14:])
		rip.SetSourceAddress(ip.DestinationAddress())
		rip.SetDestinationAddress(ip.SourceAddress())
		rtcp := packet.TCP(r[14+ip.HeaderLength():])
		rtcp.SetSourcePort(tcp.DestinationPort())
		rtcp.SetDestinationPort(tcp.SourcePort())
		rtcp.SetAckNumber(tcp.SequenceNumber() + 1)
		rtcp.SetSequenceNumber(0)
		rtcp.SetFlags(l.flags)
		l.lens = append(l.lens, size)
	}
	return n, nil
}

func (l *reflectLink) Poll(timeout time.Duration, fn func([]byte, int64)) error {
	l.mu.Lock()
	l.queue, l.spare = l.spare[:0], l.queue
	l.lens, l.spareN = l.spareN[:0], l.lens
	l.drained.Broadcast()
	l.mu.Unlock()
	if len(l.spareN) == 0 {
		time.Sleep(min(timeout, 100*time.Microsecond))
		return nil
	}
	now := time.Now().UnixNano()
	for i, n := range l.spareN {
		fn(l.spare[i*l.frameLen:i*l.frameLen+n], now)
	}
	return nil
}

func (l *reflectLink) Stats() (uint64, uint64, error) { return 0, 0, nil }

// NewTransmitter refuses: the benchmark runs one sender (Config.Senders 1).
func (l *reflectLink) NewTransmitter() (link.Transmitter, error) {
	return nil, errors.New("reflectLink: one sender only")
}
func (l *reflectLink) Close() error { return nil }

// BenchmarkEngineReplies runs whole scans of a /16 x 16 ports (1,048,576 targets)
// through a link that answers probes at once with resets, and reports the engine's
// CPU time per probe sent, sender and receiver together:
//
//   - AllAnswered: every probe is answered (the target table fills up: dense), no retry;
//   - HalfAnswered: every other probe is answered, one retry pass checks each target
//     in the table and probes the unanswered half again;
//   - AllOpen: every probe is answered with a SYN-ACK: 65,536 tarpits, each
//     open on its 16 ports, all flagged by the open-everywhere heuristic (the
//     worst case of its bookkeeping).
//
// Neither the send nor the reply path may allocate per probe: allocs/op is per scan.
func BenchmarkEngineReplies(b *testing.B) {
	rst, synack := packet.TCPFlagRST|packet.TCPFlagACK, packet.TCPFlagSYN|packet.TCPFlagACK
	b.Run("AllAnswered", func(b *testing.B) { benchmarkEngineReplies(b, 1, 0, rst) })
	b.Run("HalfAnswered", func(b *testing.B) { benchmarkEngineReplies(b, 2, 1, rst) })
	// Every verdict shown: each of the 1,048,576 closed ports reaches emit, which
	// must not cost an allocation either (allocs/op stays per scan).
	b.Run("AllShown", func(b *testing.B) { benchmarkEngineReplies(b, 1, 0, rst, result.Closed) })
	b.Run("AllOpen", func(b *testing.B) { benchmarkEngineReplies(b, 1, 0, synack) })
}

func benchmarkEngineReplies(b *testing.B, every, retries int, flags uint8, show ...result.State) {
	targets, err := target.ParseTargets([]string{"198.19.0.0/16"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	cfg := engine.Config{Targets: targets, Rate: 1e9, Wait: 50 * time.Millisecond, Retries: retries, Senders: 1,
		Path: &engine.Path{Interface: net.Interface{Index: 1, Name: "null0", MTU: 1500},
			SourceIP: netip.MustParseAddr("198.18.0.1")}}
	cfg.Ports, _ = target.ParsePorts("1-16")
	cfg.Link = func(c link.Config) (link.Link, error) { return newReflectLink(c, every, flags), nil }
	if len(show) > 0 {
		cfg.Show = cfg.Show.With(result.Open)
		for _, st := range show {
			cfg.Show = cfg.Show.With(st)
		}
	}
	b.ReportAllocs()
	var probes, answered uint64
	var cpu time.Duration
	for b.Loop() {
		s, err := engine.New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		var emitted uint64
		sum, err := s.Run(context.Background(), func(*result.Result) error { emitted++; return nil })
		if err != nil {
			b.Fatal(err)
		}
		cpu += time.Since(start) - sum.CoolDown
		probes += sum.Sent
		answered += sum.Closed + sum.Open
		if len(show) > 0 && emitted != sum.Closed+sum.Open {
			b.Fatalf("emitted %d results; the summary counts %d open and %d closed", emitted, sum.Open, sum.Closed)
		}
		runtime.GC()
	}
	if want := probes / uint64(every) / uint64(retries+1); answered < want*99/100 {
		b.Fatalf("%d of %d probes answered", answered, probes)
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(probes), "ns/probe")
}

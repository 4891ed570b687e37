package bench

import (
	"context"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/fastscan/fastscan/engine"
	"github.com/fastscan/fastscan/link"
	"github.com/fastscan/fastscan/result"
	"github.com/fastscan/fastscan/target"
)

// nullLink is a Link that drops every frame and never receives one: what is left
// of a scan's cost is the engine's own work per probe (permutation, target and port
// lookup, the probe kind's Put, the rate limiter's batch accounting).
type nullLink struct {
	buf     []byte
	pending int
	batch   int
}

func (l *nullLink) Next() []byte {
	if l.pending == l.batch {
		return nil
	}
	return l.buf
}
func (l *nullLink) Commit(int)                     { l.pending++ }
func (l *nullLink) Flush() (int, error)            { n := l.pending; l.pending = 0; return n, nil }
func (l *nullLink) Stats() (uint64, uint64, error) { return 0, 0, nil }
func (l *nullLink) Close() error                   { return nil }
func (l *nullLink) NewTransmitter() (link.Transmitter, error) {
	return &nullLink{buf: make([]byte, len(l.buf)), batch: l.batch}, nil
}
func (l *nullLink) Poll(timeout time.Duration, _ func([]byte, int64)) error {
	time.Sleep(timeout)
	return nil
}

// BenchmarkEngineSendTCP and BenchmarkEngineSendUDP run whole first passes of a
// scan (a /16 x 16 ports, 1,048,576 probes, no retries) into a link that drops
// everything, at an unreachable rate, and report the engine's CPU time per probe.
// The send loop must not allocate per probe: allocs/op is per scan.
func BenchmarkEngineSendTCP(b *testing.B) { benchmarkEngineSend(b, "1-16", "", 1) }

// BenchmarkEngineSendUDP is BenchmarkEngineSendTCP with UDP service probes.
func BenchmarkEngineSendUDP(b *testing.B) {
	benchmarkEngineSend(b, "", "53,123,161,500,1900,5060,9,10,11,12,13,14,15,16,17,18", 1)
}

// BenchmarkEngineSendTCP4Senders is BenchmarkEngineSendTCP with four senders,
// each with its own null transmitter: allocs/op stays per scan, not per probe.
func BenchmarkEngineSendTCP4Senders(b *testing.B) { benchmarkEngineSend(b, "1-16", "", 4) }

// BenchmarkEngineSendTCPLoss is BenchmarkEngineSendTCP with the loss estimate
// on (fastscan's default): 1/64 of the targets get a second probe (ns/probe
// counts those too), and the samples' bookkeeping allocates nothing per probe.
func BenchmarkEngineSendTCPLoss(b *testing.B) {
	benchmarkEngineSendCfg(b, "1-16", "", 1, func(c *engine.Config) { c.EstimateLoss = true })
}

func benchmarkEngineSend(b *testing.B, tcp, udp string, senders int) {
	benchmarkEngineSendCfg(b, tcp, udp, senders, nil)
}

func benchmarkEngineSendCfg(b *testing.B, tcp, udp string, senders int, set func(*engine.Config)) {
	targets, err := target.ParseTargets([]string{"198.19.0.0/16"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	cfg := engine.Config{Targets: targets, Rate: 1e9, Wait: time.Millisecond, Senders: senders,
		Path: &engine.Path{Interface: net.Interface{Index: 1, Name: "null0", MTU: 1500},
			SourceIP: netip.MustParseAddr("198.18.0.1")}}
	if tcp != "" {
		cfg.Ports, _ = target.ParsePorts(tcp)
	}
	if udp != "" {
		cfg.UDPPorts, _ = target.ParsePorts(udp)
	}
	cfg.Link = func(c link.Config) (link.Link, error) {
		return &nullLink{buf: make([]byte, c.FrameLen), batch: c.Batch}, nil
	}
	if set != nil {
		set(&cfg)
	}
	b.ReportAllocs()
	var probes uint64
	var cpu time.Duration
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
		cpu += time.Since(start) - sum.CoolDown
		probes += sum.Sent
		runtime.GC()
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(probes), "ns/probe")
}

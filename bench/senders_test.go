package bench

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/fastscan/fastscan/afpacket/afpackettest"
	"github.com/fastscan/fastscan/citest"
	"github.com/fastscan/fastscan/engine"
	"github.com/fastscan/fastscan/result"
	"github.com/fastscan/fastscan/target"
)

// BenchmarkSendersDrop scans 1,048,576 probes (a /16 x 16 ports, no retries, no
// rate limit) out of a veth whose far end, in a namespace of its own with no
// address, drops every frame: no reply ever comes back, so what is measured is
// how fast the engine and the kernel's AF_PACKET send path push probes out. Each
// iteration runs the scan with one sender and with every CPU's worth of senders
// (engine.DefaultSenders, and 2 at least), alternating which goes first, side by
// side in one run on one machine, and reports both rates and their ratio.
//
//	sudo go test -run '^$' -bench SendersDrop -benchtime=3x ./bench/
func BenchmarkSendersDrop(b *testing.B) {
	citest.RequireRoot(b)
	pair := afpackettest.NewVethPair(b)
	many := max(engine.DefaultSenders(), 2)
	var rate1, rateN, best1, bestN float64
	var allocs1, allocsN float64
	i := 0
	for b.Loop() {
		order := []int{1, many}
		if i%2 == 1 {
			order = []int{many, 1}
		}
		i++
		for _, senders := range order {
			pps, allocs := dropScan(b, pair, senders)
			if senders == 1 {
				rate1, best1, allocs1 = rate1+pps, max(best1, pps), allocs
			} else {
				rateN, bestN, allocsN = rateN+pps, max(bestN, pps), allocs
			}
		}
	}
	n := float64(i)
	b.ReportMetric(rate1/n, "pps-1-sender")
	b.ReportMetric(rateN/n, fmt.Sprintf("pps-%d-senders", many))
	b.ReportMetric(rateN/rate1, fmt.Sprintf("ratio-%d/1", many))
	b.ReportMetric(bestN/best1, "best-ratio")
	b.ReportMetric(allocs1, "allocs/probe-1")
	b.ReportMetric(allocsN, fmt.Sprintf("allocs/probe-%d", many))
}

// dropScan runs one scan of 1,048,576 probes with senders senders out of pair.A
// and returns the probes sent per second of the first pass and the heap
// allocations per probe of the whole scan.
func dropScan(b *testing.B, pair *afpackettest.VethPair, senders int) (pps, allocsPerProbe float64) {
	b.Helper()
	targets, err := target.ParseTargets([]string{"198.19.0.0/16"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	ports, _ := target.ParsePorts("1-16")
	cfg := engine.Config{Targets: targets, Ports: ports, Rate: 1e9, Wait: 20 * time.Millisecond, Senders: senders, Seed: 1,
		Path: &engine.Path{
			Interface: net.Interface{Index: pair.A.Index, Name: pair.A.Name, MTU: 1500},
			SourceIP:  netip.MustParseAddr("198.18.0.1"), SourceMAC: pair.A.MAC, RouterMAC: pair.B.MAC,
		}}
	s, err := engine.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	// The sockets belong to the namespace they are opened in.
	if err := pair.A.Netns.Run(func() error { return s.Prepare(context.Background()) }); err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	sum, err := s.Run(context.Background(), func(*result.Result) error { return nil })
	elapsed := time.Since(start) - sum.CoolDown
	runtime.ReadMemStats(&after)
	if err != nil {
		b.Fatal(err)
	}
	if sum.Sent != 1<<20 {
		b.Fatalf("%d senders sent %d probes, want %d", senders, sum.Sent, 1<<20)
	}
	return float64(sum.Sent) / elapsed.Seconds(), float64(after.Mallocs-before.Mallocs) / float64(sum.Sent)
}

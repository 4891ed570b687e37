package bench

import (
	"context"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/fastscan/fastscan/citest"
	"github.com/fastscan/fastscan/lab"
	"github.com/fastscan/fastscan/lab/labtest"
	"github.com/fastscan/fastscan/result"
	"github.com/fastscan/fastscan/svcid"
)

// BenchmarkLabServiceID identifies the lab's real nginx (HTTP on 80 and 8080,
// HTTPS on 443) over and over through one svcid.Pool and reports ports
// identified per second and heap bytes allocated per port. Each iteration is
// 300 identifications; run it with -benchtime=1x or a few x.
//
//	sudo go test -run '^$' -bench LabServiceID -benchtime=3x ./bench/
func BenchmarkLabServiceID(b *testing.B) {
	citest.RequireRoot(b)
	l := labtest.Start(b)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rs, err := l.StartRealServers(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { rs.Stop() })
	id, err := svcid.New(svcid.Config{Dial: l.DialContext, Concurrency: 32, PerHost: 32})
	if err != nil {
		b.Fatal(err)
	}
	ports := []uint16{lab.PortHTTP, lab.PortHTTPAlt, lab.PortHTTPS}
	const perIter = 300
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	b.ResetTimer()
	start := time.Now()
	wrong := 0
	for range b.N {
		p := id.NewPool(context.Background())
		for i := range perIter {
			p.Submit(netip.AddrPortFrom(rs.Addr, ports[i%len(ports)]))
		}
		p.Close()
		for r := range p.Results() {
			if r.Product != "nginx" {
				wrong++
			}
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	runtime.ReadMemStats(&ms1)
	n := float64(b.N * perIter)
	b.ReportMetric(n/elapsed.Seconds(), "ports/s")
	b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/n, "B/port")
	b.ReportMetric(float64(wrong), "wrong")
	if wrong > 0 {
		b.Errorf("%d of %d identifications wrong", wrong, int(n))
	}
}

// BenchmarkSvcidTee is the hook's cost per verdict that is not an open TCP
// port (nearly all of a scan's): no allocation.
func BenchmarkSvcidTee(b *testing.B) {
	id, err := svcid.New(svcid.Config{})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := id.NewPool(ctx)
	defer func() {
		cancel()
		for range p.Results() {
		}
	}()
	emit := p.Tee(func(*result.Result) error { return nil })
	r := result.Result{IP: netip.MustParseAddr("198.19.0.1"), Port: 81, Proto: result.TCP, State: result.Closed}
	b.ReportAllocs()
	for b.Loop() {
		if err := emit(&r); err != nil {
			b.Fatal(err)
		}
	}
}

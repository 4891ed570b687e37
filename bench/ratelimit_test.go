package bench

import (
	"context"
	"testing"

	"github.com/fastscan/fastscan/ratelimit"
)

// BenchmarkLimiterWait measures the bookkeeping cost of one Wait call at a
// rate so high that it never has to wait.
func BenchmarkLimiterWait(b *testing.B) {
	l := ratelimit.New(1e15)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.ReportAllocs()
	for b.Loop() {
		if err := l.Wait(ctx, 1); err != nil {
			b.Fatal(err)
		}
	}
}

package bench

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/fastscan/fastscan/engine"
	"github.com/fastscan/fastscan/metrics"
)

// BenchmarkMetricsScrape measures one --metrics scrape (Prometheus text): the
// whole cost of the metrics, paid by the scraper's request, never per probe or
// per reply.
func BenchmarkMetricsScrape(b *testing.B) {
	p := engine.Progress{Phase: engine.PhaseScanning, Position: 1 << 20, Targets: 1 << 24,
		Sent: 1 << 20, Replies: 1 << 19, Open: 1 << 12, Closed: 1 << 18, Filtered: 1 << 10}
	h, err := metrics.Handler(metrics.NewCollector(func() engine.Progress { return p }, 100000))
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, metrics.Path, nil)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}

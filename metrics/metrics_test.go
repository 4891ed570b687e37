package metrics

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/fastscan/fastscan/engine"
)

// scrape fetches the handler's metrics as a scraper asking for accept would,
// and returns the body and the Content-Type.
func scrape(t *testing.T, h http.Handler, accept string) (string, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, Path, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
	}
	return rec.Body.String(), rec.Header().Get("Content-Type")
}

// values parses Prometheus text into "name{labels}" -> value.
func values(t *testing.T, body string) map[string]float64 {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parsing %q: %v", body, err)
	}
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			key := name
			for _, l := range m.GetLabel() {
				key += "{" + l.GetName() + "=" + l.GetValue() + "}"
			}
			switch {
			case m.Counter != nil:
				out[key] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				out[key] = m.GetGauge().GetValue()
			default:
				out[key] = m.GetUntyped().GetValue()
			}
		}
	}
	return out
}

func TestHandlerReadsProgressAtScrapeTime(t *testing.T) {
	var calls atomic.Int64
	p := engine.Progress{Phase: engine.PhaseScanning, Position: 250, Targets: 1000, Sent: 260, Replies: 120,
		Open: 7, Closed: 100, Filtered: 13, RingDrops: 2, Invalid: 5}
	c := NewCollector(func() engine.Progress { calls.Add(1); return p }, 1500)
	h, err := Handler(c)
	if err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 0 {
		t.Fatalf("progress read %d times before any scrape", calls.Load())
	}
	body, _ := scrape(t, h, "")
	want := map[string]float64{
		"fastscan_probes_sent_total": 260, "fastscan_replies_total": 120,
		"fastscan_ports{state=open}": 7, "fastscan_ports{state=closed}": 100,
		"fastscan_ports{state=filtered}": 13, "fastscan_ports{state=open|filtered}": 0,
		"fastscan_ring_drops_total": 2, "fastscan_invalid_replies_total": 5,
		"fastscan_rate_target": 1500, "fastscan_progress_ratio": 0.25, "fastscan_finished": 0,
	}
	got := values(t, body)
	if len(got) != len(want) {
		t.Errorf("got %d series, want %d:\n%s", len(got), len(want), body)
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	if calls.Load() != 1 {
		t.Errorf("one scrape read progress %d times, want 1", calls.Load())
	}

	// Later values are seen by the next scrape.
	p.Sent, p.Position, p.Open = 900, 1000, 9
	got = values(t, func() string { b, _ := scrape(t, h, ""); return b }())
	if got["fastscan_probes_sent_total"] != 900 || got["fastscan_progress_ratio"] != 1 || got["fastscan_ports{state=open}"] != 9 {
		t.Errorf("second scrape: %v", got)
	}

	// After Finish: the summary's values, silent targets included, and progress no longer read.
	select {
	case <-c.FinalScraped():
		t.Fatal("final values scraped before Finish")
	default:
	}
	sum := engine.Summary{Progress: p, NoResponse: 40, OpenFiltered: 3}
	sum.Phase, sum.Position, sum.Sent = engine.PhaseDone, 0, 1010
	c.Finish(sum)
	before := calls.Load()
	got = values(t, func() string { b, _ := scrape(t, h, ""); return b }())
	if calls.Load() != before {
		t.Error("progress read after Finish")
	}
	for k, v := range map[string]float64{"fastscan_probes_sent_total": 1010, "fastscan_ports{state=filtered}": 53,
		"fastscan_ports{state=open|filtered}": 3, "fastscan_progress_ratio": 1, "fastscan_finished": 1} {
		if got[k] != v {
			t.Errorf("after Finish: %s = %v, want %v", k, got[k], v)
		}
	}
	select {
	case <-c.FinalScraped():
	default:
		t.Error("FinalScraped not closed by a scrape after Finish")
	}

	// An interrupted scan's ratio is where it stopped.
	c2 := NewCollector(func() engine.Progress { return engine.Progress{} }, 10)
	h2, err := Handler(c2)
	if err != nil {
		t.Fatal(err)
	}
	c2.Finish(engine.Summary{Progress: engine.Progress{Phase: engine.PhaseInterrupted, Position: 300, Targets: 1000}, Interrupted: true})
	got = values(t, func() string { b, _ := scrape(t, h2, ""); return b }())
	if got["fastscan_progress_ratio"] != 0.3 || got["fastscan_finished"] != 1 {
		t.Errorf("interrupted: ratio %v finished %v, want 0.3 and 1", got["fastscan_progress_ratio"], got["fastscan_finished"])
	}
}

func TestHandlerOpenMetrics(t *testing.T) {
	c := NewCollector(func() engine.Progress { return engine.Progress{Sent: 3} }, 10)
	h, err := Handler(c)
	if err != nil {
		t.Fatal(err)
	}
	body, ctype := scrape(t, h, "application/openmetrics-text; version=1.0.0")
	if !strings.HasPrefix(ctype, "application/openmetrics-text") {
		t.Errorf("Content-Type %q, want OpenMetrics", ctype)
	}
	if !strings.Contains(body, "\nfastscan_probes_sent_total 3.0\n") || !strings.HasSuffix(body, "# EOF\n") {
		t.Errorf("OpenMetrics body:\n%s", body)
	}
}

func TestCheckAddr(t *testing.T) {
	for _, a := range []string{"127.0.0.1:9464", ":9464", "localhost:0", "[::1]:9464", "198.18.0.1:65535"} {
		if err := CheckAddr(a); err != nil {
			t.Errorf("CheckAddr(%q): %v", a, err)
		}
	}
	for _, a := range []string{"", "9464", "127.0.0.1", "example.com:9464", "127.0.0.1:http", "127.0.0.1:65536", "127.0.0.1:-1", "1.2.3:80", "127.0.0.1:09464"} {
		if err := CheckAddr(a); err == nil {
			t.Errorf("CheckAddr(%q) accepted", a)
		}
	}
}

func TestListenInUse(t *testing.T) {
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, err := Listen(ln.Addr().String()); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second listener on %s: %v, want address in use", ln.Addr(), err)
	}
}

func TestServeAndStop(t *testing.T) {
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := NewCollector(func() engine.Progress { return engine.Progress{Sent: 42} }, 10)
	s, err := Serve(ln, c)
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String() + Path
	get := func() string {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if b := get(); !strings.Contains(b, "fastscan_probes_sent_total 42") {
		t.Fatalf("served:\n%s", b)
	}
	c.Finish(engine.Summary{Progress: engine.Progress{Sent: 50}})
	// Stop lingers until a scrape has read the final values.
	stopped := make(chan struct{})
	start := time.Now()
	go func() { s.Stop(context.Background(), time.Minute); close(stopped) }()
	select {
	case <-stopped:
		t.Fatal("Stop returned before the final values were scraped")
	case <-time.After(100 * time.Millisecond):
	}
	if b := get(); !strings.Contains(b, "fastscan_probes_sent_total 50") {
		t.Fatalf("final scrape:\n%s", b)
	}
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("Stop did not return after the final scrape")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Stop took %v", d)
	}
	if c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Error("listener still open after Stop")
	}

	// Without a scraper, Stop returns after the linger.
	ln2, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c2 := NewCollector(func() engine.Progress { return engine.Progress{} }, 10)
	s2, err := Serve(ln2, c2)
	if err != nil {
		t.Fatal(err)
	}
	c2.Finish(engine.Summary{})
	start = time.Now()
	s2.Stop(context.Background(), 200*time.Millisecond)
	if d := time.Since(start); d < 200*time.Millisecond || d > 10*time.Second {
		t.Errorf("Stop without scraper took %v, want the 200ms linger", d)
	}
}

// TestStopDoesNotLingerAfterSignal: a cancelled context (a signal stopped the
// scan) ends the linger at once.
func TestStopDoesNotLingerAfterSignal(t *testing.T) {
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := NewCollector(func() engine.Progress { return engine.Progress{} }, 10)
	s, err := Serve(ln, c)
	if err != nil {
		t.Fatal(err)
	}
	c.Finish(engine.Summary{Interrupted: true})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	s.Stop(ctx, time.Minute)
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Stop after a signal took %v", d)
	}
}

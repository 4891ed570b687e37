// Package metrics serves a running scan's counters to Prometheus (--metrics):
// a prometheus.Collector that reads the engine's Progress at scrape time, on
// a registry of its own, behind an HTTP server that outlives the scan just long
// enough for a last scrape to see the final values. Nothing is counted here:
// the scan's hot paths are untouched, a scrape costs one Progress call.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/fastscan/fastscan/engine"
)

// Path is where the metrics are served.
const Path = "/metrics"

// Collector exports a scan's progress as Prometheus metrics. It reads the
// counters when it is scraped; after Finish it exports the final summary.
// Its methods are safe for concurrent use.
type Collector struct {
	progress func() engine.Progress
	rate     float64
	final    atomic.Pointer[engine.Summary]
	// seenFinal is closed by the first Collect that exported the final values.
	seenFinal chan struct{}
	seenOnce  sync.Once

	sent, replies, ports, drops, invalid, rateTarget, ratio, finished *prometheus.Desc
}

// NewCollector returns a collector of the scan whose counters progress reads
// (engine.Scanner.Progress), sending at most rate probes per second.
func NewCollector(progress func() engine.Progress, rate float64) *Collector {
	return &Collector{
		progress:   progress,
		rate:       rate,
		seenFinal:  make(chan struct{}),
		sent:       prometheus.NewDesc("fastscan_probes_sent_total", "Probes sent, retries included.", nil, nil),
		replies:    prometheus.NewDesc("fastscan_replies_total", "Valid replies received (duplicates included).", nil, nil),
		ports:      prometheus.NewDesc("fastscan_ports", "Targets (address and port) in each state: decided by a reply while the scan runs; once it has ended (fastscan_finished 1), filtered includes the TCP targets that never answered and open|filtered counts the silent UDP targets.", []string{"state"}, nil),
		drops:      prometheus.NewDesc("fastscan_ring_drops_total", "Replies the kernel dropped because the receive ring was full.", nil, nil),
		invalid:    prometheus.NewDesc("fastscan_invalid_replies_total", "Replies to the scan's address and ports whose cookie did not match (forged, stale or unrelated).", nil, nil),
		rateTarget: prometheus.NewDesc("fastscan_rate_target", "The configured send rate, probes per second.", nil, nil),
		ratio:      prometheus.NewDesc("fastscan_progress_ratio", "How far the current send pass has gone through the targets, 0 to 1; 1 once every probe is sent (cooling down, done); where an interrupted scan stopped.", nil, nil),
		finished:   prometheus.NewDesc("fastscan_finished", "1 once the scan has ended (done or interrupted): the other values are final.", nil, nil),
	}
}

// Finish makes the collector export sum, the scan's final summary, from now on.
func (c *Collector) Finish(sum engine.Summary) {
	c.final.Store(&sum)
}

// FinalScraped is closed once a scrape has read the values Finish set.
func (c *Collector) FinalScraped() <-chan struct{} { return c.seenFinal }

// Describe sends the descriptors of every metric of the collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.sent, c.replies, c.ports, c.drops, c.invalid, c.rateTarget, c.ratio, c.finished} {
		ch <- d
	}
}

// Collect reads the scan's counters (or its final summary) and sends them.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	var p engine.Progress
	var openFiltered uint64
	finished, ratio := 0.0, 0.0
	final := c.final.Load()
	if final != nil {
		p = final.Progress
		p.Filtered += final.NoResponse
		openFiltered = final.OpenFiltered
		finished = 1
	} else {
		p = c.progress()
	}
	if p.Targets > 0 {
		ratio = float64(min(p.Position, p.Targets)) / float64(p.Targets)
	}
	if p.Phase == engine.PhaseCoolingDown || p.Phase == engine.PhaseDone {
		ratio = 1 // every pass sent (a retry pass's position counts its own targets)
	}
	ch <- prometheus.MustNewConstMetric(c.sent, prometheus.CounterValue, float64(p.Sent))
	ch <- prometheus.MustNewConstMetric(c.replies, prometheus.CounterValue, float64(p.Replies))
	ch <- prometheus.MustNewConstMetric(c.ports, prometheus.GaugeValue, float64(p.Open), "open")
	ch <- prometheus.MustNewConstMetric(c.ports, prometheus.GaugeValue, float64(p.Closed), "closed")
	ch <- prometheus.MustNewConstMetric(c.ports, prometheus.GaugeValue, float64(p.Filtered), "filtered")
	ch <- prometheus.MustNewConstMetric(c.ports, prometheus.GaugeValue, float64(openFiltered), "open|filtered")
	ch <- prometheus.MustNewConstMetric(c.drops, prometheus.CounterValue, float64(p.RingDrops))
	ch <- prometheus.MustNewConstMetric(c.invalid, prometheus.CounterValue, float64(p.Invalid))
	ch <- prometheus.MustNewConstMetric(c.rateTarget, prometheus.GaugeValue, c.rate)
	ch <- prometheus.MustNewConstMetric(c.ratio, prometheus.GaugeValue, ratio)
	ch <- prometheus.MustNewConstMetric(c.finished, prometheus.GaugeValue, finished)
	if final != nil {
		c.seenOnce.Do(func() { close(c.seenFinal) })
	}
}

// Handler serves the collector's metrics (Prometheus text, or OpenMetrics when
// the scraper asks for it) from a registry of its own.
func Handler(c *Collector) (http.Handler, error) {
	reg := prometheus.NewRegistry()
	if err := reg.Register(c); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true}), nil
}

// CheckAddr checks a --metrics address: HOST:PORT where HOST is an IP address,
// localhost or empty (every address), so that listening looks no name up.
func CheckAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("want HOST:PORT, e.g. 127.0.0.1:9464")
	}
	if host != "" && host != "localhost" {
		if _, err := netip.ParseAddr(host); err != nil {
			return fmt.Errorf("%q is not an IP address (or localhost)", host)
		}
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || port != strconv.FormatUint(n, 10) {
		return fmt.Errorf("%q is not a port number (0 to 65535)", port)
	}
	return nil
}

// Listen opens the TCP listener of addr (checked with CheckAddr): done before
// privileges are dropped, so that a port below 1024 works too.
func Listen(addr string) (net.Listener, error) {
	if err := CheckAddr(addr); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Err != nil {
			err = op.Err // "bind: address already in use", without repeating the address
		}
		return nil, err
	}
	return ln, nil
}

// Server serves one collector on one listener until Stop.
type Server struct {
	c    *Collector
	srv  *http.Server
	done chan struct{} // closed when Serve has returned
}

// Serve serves c's metrics at Path on ln in a goroutine of its own.
func Serve(ln net.Listener, c *Collector) (*Server, error) {
	h, err := Handler(c)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle(Path, h)
	s := &Server{c: c, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.srv.Serve(ln) // returns http.ErrServerClosed after Shutdown
	}()
	return s, nil
}

// Stop stops serving. With linger above 0 it first waits, at most linger or
// until ctx ends, for a scrape that reads the final values (Collector.Finish);
// then it lets the requests being served finish (at most a second) and closes
// the listener.
func (s *Server) Stop(ctx context.Context, linger time.Duration) {
	if linger > 0 && s.c.final.Load() != nil {
		t := time.NewTimer(linger)
		select {
		case <-s.c.FinalScraped():
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	sctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		s.srv.Close()
	}
	<-s.done
}

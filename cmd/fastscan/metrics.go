package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/fastscan/fastscan/engine"
	"github.com/fastscan/fastscan/metrics"
)

// defaultMetricsLinger is how long a scan with --metrics waits at its end, at
// most, for a scrape that reads the final values.
const defaultMetricsLinger = 5 * time.Second

// metricsOptions are --metrics ADDR and --metrics-linger.
type metricsOptions struct {
	addr   string // "" for none
	linger time.Duration
}

// parseMetrics reads --metrics (its address checked, not yet opened) and
// --metrics-linger.
func parseMetrics(c *cli.Context) (metricsOptions, error) {
	m := metricsOptions{addr: c.String("metrics"), linger: c.Duration("metrics-linger")}
	if c.IsSet("metrics") {
		if err := metrics.CheckAddr(m.addr); err != nil {
			return m, usageError("invalid metrics %q: %v", m.addr, err)
		}
	}
	if m.linger < 0 {
		return m, usageError("invalid metrics-linger %q: must be 0 or more", c.String("metrics-linger"))
	}
	return m, nil
}

// metricsServer is the --metrics server of one scan; its methods do nothing on
// a nil receiver (no --metrics).
type metricsServer struct {
	ln     net.Listener
	linger time.Duration
	col    *metrics.Collector
	srv    *metrics.Server
	// ctx is the scan's context before its own cancellations: done when a
	// signal stopped the scan (then the server does not linger).
	ctx context.Context
}

// listenMetrics opens the --metrics listener, if asked for; an address that
// cannot be listened on is a usage error.
func listenMetrics(s *settings) (*metricsServer, error) {
	if s.metrics.addr == "" {
		return nil, nil
	}
	ln, err := metrics.Listen(s.metrics.addr)
	if err != nil {
		return nil, usageError("cannot serve metrics on %q: %v", s.metrics.addr, err)
	}
	return &metricsServer{ln: ln, linger: s.metrics.linger}, nil
}

// serve starts serving the scanner's progress.
func (m *metricsServer) serve(ctx context.Context, sc *engine.Scanner, rate float64, stderr io.Writer, quiet bool) error {
	if m == nil {
		return nil
	}
	m.ctx = ctx
	m.col = metrics.NewCollector(sc.Progress, rate)
	srv, err := metrics.Serve(m.ln, m.col)
	if err != nil {
		return cli.Exit(err.Error(), exitFailure)
	}
	m.srv = srv
	if !quiet {
		fmt.Fprintf(stderr, "fastscan: metrics at http://%s%s\n", m.ln.Addr(), metrics.Path)
	}
	return nil
}

// finish makes the metrics the scan's final summary.
func (m *metricsServer) finish(sum engine.Summary) {
	if m != nil && m.col != nil {
		m.col.Finish(sum)
	}
}

// close stops serving: after a finished scan once a scrape has read the final
// values or the linger passed (at once when a signal stopped the scan).
func (m *metricsServer) close() {
	if m == nil {
		return
	}
	if m.srv == nil {
		m.ln.Close()
		return
	}
	m.srv.Stop(m.ctx, m.linger)
}

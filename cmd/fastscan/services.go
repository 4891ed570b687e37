package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/fastscan/fastscan/engine"
	"github.com/fastscan/fastscan/registry"
	"github.com/fastscan/fastscan/result"
	"github.com/fastscan/fastscan/svcid"
)

// Bounds of the -sV flags.
const (
	maxSVConcurrency = 10000
	maxSVPerHost     = 1000
	maxSVTimeout     = 10 * time.Minute
	// defaultSVMaxPending bounds the open ports waiting for identification
	// (each held result and its queue entry: a few hundred bytes).
	defaultSVMaxPending = 100_000
	maxSVMaxPending     = 10_000_000
)

// svFlagNames are the flags that tune -sV, refused without it.
var svFlagNames = []string{"sv-concurrency", "sv-per-host", "sv-timeout", "sv-connect-timeout", "sv-max-pending"}

// serviceFlags are -sV (--banners) and the flags that tune it.
func serviceFlags() []cli.Flag {
	return []cli.Flag{
		nmapStyleBool{&cli.BoolFlag{Name: "sV", Aliases: []string{"banners"}, Usage: "identify the service on every open TCP port: connect to it through the kernel, read its greeting or send its protocol's hello, and report the product and version (e.g. sudo fastscan 10.0.0.0/24 -p 22,80,443 -sV); a port where no service speaks is reported filtered, reason no-service (shown with --show filtered)"}},
		&cli.IntFlag{Name: "sv-concurrency", Value: svcid.DefaultConcurrency, Usage: "-sV: identify at most `N` ports at once"},
		&cli.IntFlag{Name: "sv-per-host", Value: svcid.DefaultPerHost, Usage: "-sV: identify at most `N` ports of one address at once"},
		&cli.DurationFlag{Name: "sv-timeout", Value: svcid.DefaultTimeout, Usage: "-sV: at most `DURATION` for one port: every connection and probe of it"},
		&cli.DurationFlag{Name: "sv-connect-timeout", Value: svcid.DefaultConnectTimeout, Usage: "-sV: at most `DURATION` for one connection attempt"},
		&cli.IntFlag{Name: "sv-max-pending", Value: defaultSVMaxPending, Usage: "-sV: at most `N` open ports waiting for their identification (a few hundred bytes each); an open port found beyond that is written at once, open, named by the port table, its service error saying so"},
	}
}

// serviceOptions are the command line's -sV settings.
type serviceOptions struct {
	enabled bool
	cfg     svcid.Config
	// maxPending bounds the open ports held for identification.
	maxPending int
}

// parseServices reads -sV and its flags into s, after the other flags (-p,
// --show, --sort and -r are read). Whatever -sV cannot do is a usage error.
func parseServices(c *cli.Context, s *settings) error {
	if !c.Bool("sV") {
		for _, name := range svFlagNames {
			if c.IsSet(name) {
				return usageError("--%s tunes service identification: add -sV", name)
			}
		}
		return nil
	}
	switch {
	case s.cfg.Ports.Len() == 0:
		return usageError("-sV identifies TCP services, and this scan probes no TCP port: add TCP ports (-p T:22,80) or drop -sV")
	case c.IsSet("resume-file"):
		return usageError("-sV and --resume-file contradict: open ports are held until their service is identified, so a checkpoint could not record them (the scan keeps none)")
	}
	o := serviceOptions{enabled: true}
	o.cfg.Concurrency = c.Int("sv-concurrency")
	if o.cfg.Concurrency < 1 || o.cfg.Concurrency > maxSVConcurrency {
		return usageError("invalid sv-concurrency %q: must be 1 to %d ports", typedValue(c, "sv-concurrency"), maxSVConcurrency)
	}
	o.cfg.PerHost = c.Int("sv-per-host")
	if o.cfg.PerHost < 1 || o.cfg.PerHost > maxSVPerHost {
		return usageError("invalid sv-per-host %q: must be 1 to %d ports", typedValue(c, "sv-per-host"), maxSVPerHost)
	}
	o.cfg.Timeout = c.Duration("sv-timeout")
	if o.cfg.Timeout <= 0 || o.cfg.Timeout > maxSVTimeout {
		return usageError("invalid sv-timeout %q: must be above 0 and at most %v", typedValue(c, "sv-timeout"), maxSVTimeout)
	}
	o.maxPending = c.Int("sv-max-pending")
	if o.maxPending < 1 || o.maxPending > maxSVMaxPending {
		return usageError("invalid sv-max-pending %q: must be 1 to %d ports", typedValue(c, "sv-max-pending"), maxSVMaxPending)
	}
	o.cfg.ConnectTimeout = c.Duration("sv-connect-timeout")
	if o.cfg.ConnectTimeout <= 0 {
		return usageError("invalid sv-connect-timeout %q: must be above 0", typedValue(c, "sv-connect-timeout"))
	}
	if o.cfg.ConnectTimeout > o.cfg.Timeout && !c.IsSet("sv-connect-timeout") {
		o.cfg.ConnectTimeout = o.cfg.Timeout // the default, within a shorter budget
	}
	if o.cfg.ConnectTimeout > o.cfg.Timeout {
		return usageError("invalid sv-connect-timeout %q: longer than the port's whole budget (--sv-timeout %s)", typedValue(c, "sv-connect-timeout"), typedValue(c, "sv-timeout"))
	}
	// A greeting is awaited at most a fifth of the port's budget (2 s by
	// default), so that the HTTP and TLS probes after it still have time.
	o.cfg.GreetingWait = min(svcid.DefaultGreetingWait, o.cfg.Timeout/5)
	// New connections at most at the scan's rate (-r).
	o.cfg.Rate = s.cfg.Rate
	// The kernel's TCP stack, from the scanner's own namespace and routes.
	o.cfg.Dial = (&net.Dialer{}).DialContext
	reg := s.services
	o.cfg.Table = func(port uint16) string { return reg.Name(port, registry.TCP) }
	if _, err := svcid.New(o.cfg); err != nil {
		return usageError("%v", err)
	}
	s.sv = o
	s.resumeFile = "" // no checkpoint (applyResume keeps it so)
	return nil
}

// serviceScan is a scan's service identification: every open TCP result is
// held, handed to the pool, and written once its service is identified; every
// other result goes to the outputs at once.
type serviceScan struct {
	ctx   context.Context
	pool  *svcid.Pool
	write func(*result.Result) error // the outputs
	show  result.StateSet            // --show: whether a port found no-service is written
	// hidden, when not nil, is told of a no-service port --show hides (--sort).
	hidden func(result.Result)
	table  func(port uint16) string // the registry's names, for ports not identified
	done   chan struct{}            // closed when the pool's results are all handled
	// maxPending bounds held: an open port found beyond it is written at
	// once, unidentified (--sv-max-pending).
	maxPending int
	// lingerMax is how long, at most, linger keeps the scan receiving while
	// a target is unanswered (--wait); progressTo, when not nil, ends the
	// scan's progress line and says where the identification's goes.
	lingerMax  time.Duration
	progressTo func() io.Writer

	mu   sync.Mutex
	held map[netip.AddrPort]result.Result
	// submitted counts the ports handed to the pool, identified those named by
	// what they said (method probed), noService those where no service spoke,
	// unfinished those written without a finished identification (a signal),
	// overflow those written unidentified because maxPending ports waited.
	submitted, finished, identified, noService, unfinished, overflow uint64
	// waited is how long the scan waited for identifications after its
	// passes (linger, then wait).
	waited time.Duration
}

// startServices starts the identification of s's scan: its pool runs until ctx
// ends or wait returns. Call it after privileges were dropped, just before the
// scan runs; write is where results go.
func startServices(ctx context.Context, s *settings, write func(*result.Result) error) (*serviceScan, error) {
	id, err := svcid.New(s.sv.cfg)
	if err != nil {
		return nil, fmt.Errorf("service identification: %w", err)
	}
	sv := &serviceScan{ctx: ctx, pool: id.NewPool(ctx), write: write, show: s.cfg.Show, table: s.sv.cfg.Table,
		done: make(chan struct{}), held: make(map[netip.AddrPort]result.Result), maxPending: s.sv.maxPending,
		lingerMax: s.cfg.Wait}
	if s.sorted != nil {
		sv.hidden = s.sorted.hidden
	}
	if lo, hi, err := ephemeralPorts(); err == nil && s.cfg.Notice != nil && !s.cfg.Connect &&
		s.cfg.SourcePortLo <= hi && lo <= s.cfg.SourcePortHi {
		s.cfg.Notice(fmt.Sprintf("-sV: the probes' source ports %d-%d overlap the kernel's ephemeral ports %d-%d, which the identification's connections use: a connection may share a probe's port (some replies then count as invalid); a --source-port outside them avoids it",
			s.cfg.SourcePortLo, s.cfg.SourcePortHi, lo, hi))
	}
	go sv.collect()
	return sv, nil
}

// ephemeralPortRange is where Linux keeps the local port range of connect(2)
// (for the reading process's network namespace).
const ephemeralPortRange = "/proc/sys/net/ipv4/ip_local_port_range"

// ephemeralPorts reads the kernel's range of local ports for connections.
func ephemeralPorts() (lo, hi uint16, err error) {
	data, err := os.ReadFile(ephemeralPortRange)
	if err != nil {
		return 0, 0, err
	}
	f := strings.Fields(string(data))
	if len(f) != 2 {
		return 0, 0, fmt.Errorf("%s: %q", ephemeralPortRange, data)
	}
	l, err1 := strconv.ParseUint(f[0], 10, 16)
	h, err2 := strconv.ParseUint(f[1], 10, 16)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("%s: %q", ephemeralPortRange, data)
	}
	return uint16(l), uint16(h), nil
}

// emit is the engine's callback: an open TCP result is held and handed to the
// pool (Submit never blocks); every other result is written at once.
func (sv *serviceScan) emit(r *result.Result) error {
	if r.Proto != result.TCP || r.State != result.Open {
		return sv.write(r)
	}
	ap := netip.AddrPortFrom(r.IP, r.Port)
	sv.mu.Lock()
	_, dup := sv.held[ap]
	full := !dup && sv.maxPending > 0 && len(sv.held) >= sv.maxPending
	queued := !dup && !full && sv.pool.Submit(ap) // Submit never blocks
	switch {
	case queued:
		sv.held[ap] = *r
		sv.submitted++
	case full:
		sv.overflow++ // the scan finds open ports faster than they are identified
	case !dup:
		sv.unfinished++ // the pool stopped (a signal): written now, unidentified
	}
	sv.mu.Unlock()
	switch {
	case queued:
		return nil
	case dup: // not expected: the engine reports a port once
		return sv.write(r)
	}
	c := *r
	c.Service = interruptedService(r.Port, sv.table)
	if full {
		c.Service.Error = fmt.Sprintf(queueFullError, sv.maxPending)
	}
	return sv.write(&c)
}

// collect writes each held result as its identification finishes.
func (sv *serviceScan) collect() {
	defer close(sv.done)
	for res := range sv.pool.Results() {
		sv.mu.Lock()
		r, ok := sv.held[res.Addr]
		delete(sv.held, res.Addr)
		sv.mu.Unlock()
		if !ok {
			continue
		}
		svc := res.ResultService()
		r.Service = svc
		// After a signal, a port cut short may look silent: not demoted.
		interrupted := sv.ctx.Err() != nil && res.Err != nil
		sv.mu.Lock()
		sv.finished++
		switch {
		case interrupted:
			// Cut short: the port stays open, as the SYN scan found it.
			sv.unfinished++
			svc.Error = interruptedError
		case !svc.Spoke:
			// A SYN-ACK no service backs: refused, reset, closed or silent.
			sv.noService++
			r.State, r.Reason = result.Filtered, result.ReasonNoService
			if svc.Error == "" {
				svc.Error = errClosedSilent
			}
		case svc.Method == string(svcid.MethodProbed):
			sv.identified++
		}
		sv.mu.Unlock()
		if r.State != result.Open && !sv.show.Has(r.State) {
			if sv.hidden != nil {
				sv.hidden(r)
			}
			continue
		}
		sv.write(&r)
	}
}

// errClosedSilent is the Service.Error of a port no service spoke on when
// the identification ended without an error: every connection was closed by
// the other side before it sent a byte.
const errClosedSilent = "no service spoke: the connection was closed before a byte was sent"

// interruptedError is the Service.Error of a port whose identification a
// signal cut short or never started.
const interruptedError = "interrupted: identification did not finish"

// queueFullError is the Service.Error of an open port found while
// --sv-max-pending ports waited for their identification.
const queueFullError = "not identified: %d open ports were already waiting for identification (--sv-max-pending)"

// interruptedService is the service of a port whose identification did not
// finish; table names ports by the registry.
func interruptedService(port uint16, table func(uint16) string) *result.Service {
	svc := &result.Service{Method: string(svcid.MethodTable), Error: interruptedError}
	if table != nil {
		svc.Name = table(port)
	}
	return svc
}

// linger is the engine's Config.Linger: after the scan's last pass, while a
// target is unanswered, it keeps the scan receiving until --wait has passed
// (the identification goes on meanwhile). The last cool-down ended after a
// few round trips of silence, measured on an idle path; on a narrow one the
// identification's own connections queue the scan's last replies behind
// theirs (64 kbit/s in the lab: half a second), and a SYN-ACK that arrives
// now is still a result, and is identified too. It does not wait for the
// identification itself: the receiver's polling, beside servers sharing the
// scanner's CPU, starved them (sshd's new processes waited seconds for the
// CPU). It ends at once when ctx does (a signal).
func (sv *serviceScan) linger(ctx context.Context, settled func() bool) {
	if settled() {
		return
	}
	var progress io.Writer
	if sv.progressTo != nil {
		progress = sv.progressTo()
	}
	stop := sv.showProgress(progress)
	defer stop()
	start := time.Now()
	defer func() {
		sv.mu.Lock()
		sv.waited += time.Since(start)
		sv.mu.Unlock()
	}()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !settled() && time.Since(start) < sv.lingerMax {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// rateChanged is the engine's Config.RateChanged: the identification's new
// connections follow the scan's rate as --adaptive changes it.
func (sv *serviceScan) rateChanged(c engine.RateChange) { sv.pool.SetRate(c.Rate) }

// showProgress draws the identification's progress line on w every
// progressInterval until the returned func is called, which clears it;
// nothing when w is nil.
func (sv *serviceScan) showProgress(w io.Writer) (stop func()) {
	if w == nil {
		return func() {}
	}
	stopEvery := runEvery(progressInterval, func(time.Time) {
		done, total := sv.pending()
		fmt.Fprintf(w, "\r\033[Kservice identification: %d of %d ports done", done, total)
	})
	return func() {
		stopEvery()
		fmt.Fprint(w, "\r\033[K")
	}
}

// pending returns the ports handed over and not yet written.
func (sv *serviceScan) pending() (done, total uint64) {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	return sv.finished, sv.submitted
}

// wait is the end of the identification, after the scan: it waits for every
// identification still running or queued (each bounded by its budget), with
// a progress line on progress when it is not nil, until ctx ends (a signal);
// then every result still held is written, open, its Service saying it was
// interrupted. It reports whether a signal cut the identification short.
func (sv *serviceScan) wait(progress io.Writer) (interrupted bool) {
	sv.pool.Close()
	defer sv.showProgress(progress)()
	start := time.Now()
	<-sv.done // the pool closes Results when its work is done, or at once when ctx ends
	sv.mu.Lock()
	sv.waited += time.Since(start)
	left := make([]result.Result, 0, len(sv.held))
	for ap, r := range sv.held {
		left = append(left, r)
		delete(sv.held, ap)
	}
	sv.unfinished += uint64(len(left))
	interrupted = sv.unfinished > 0
	sv.mu.Unlock()
	for i := range left {
		left[i].Service = interruptedService(left[i].Port, sv.table)
		sv.write(&left[i])
	}
	return interrupted
}

// adjust makes the summary count the ports found no-service as filtered.
func (sv *serviceScan) adjust(sum *engine.Summary) {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	n := min(sv.noService, sum.Open)
	sum.Open -= n
	sum.Filtered += n
}

// summary is the summary's line about the identification.
func (sv *serviceScan) summary() string {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "  service identification: %d identified, %d of %d SYN-ACKs not backed by a service", sv.identified, sv.noService, sv.submitted)
	if sv.unfinished > 0 {
		fmt.Fprintf(&b, ", %d not finished (interrupted)", sv.unfinished)
	}
	if sv.overflow > 0 {
		fmt.Fprintf(&b, ", %d not identified (%d were already waiting: --sv-max-pending)", sv.overflow, sv.maxPending)
	}
	fmt.Fprintf(&b, "; waited %.2fs for it after the scan's passes", sv.waited.Seconds())
	b.WriteString("\n")
	return b.String()
}

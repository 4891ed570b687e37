package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fastscan/fastscan/engine"
	"github.com/fastscan/fastscan/result"
)

// TestServiceSettings: -sV (and --banners) turns service identification on
// with the pool's flags, new connections at -r, and no checkpoint; what it
// cannot do, and its flags without it, are one line and exit 2.
func TestServiceSettings(t *testing.T) {
	for _, flag := range []string{"-sV", "--sV", "--banners"} {
		s, code, stderr := captured(t, "198.19.0.1", "-p", "22,80", flag, "-r", "500", "--sv-concurrency", "7", "--sv-per-host", "3",
			"--sv-timeout", "4s", "--sv-connect-timeout", "1500ms")
		if code != exitOK {
			t.Fatalf("%s: exit %d: %s", flag, code, stderr)
		}
		c := s.sv.cfg
		if !s.sv.enabled || c.Concurrency != 7 || c.PerHost != 3 || c.Timeout != 4*time.Second || c.ConnectTimeout != 1500*time.Millisecond ||
			c.Rate != 500 || c.Dial == nil || c.GreetingWait <= 0 || c.GreetingWait > c.Timeout || s.resumeFile != "" {
			t.Errorf("%s: %+v, checkpoint %q", flag, s.sv, s.resumeFile)
		}
		if name := c.Table(2222); name == "" || name == "ssh" {
			t.Errorf("the table names 2222 %q: want the registry's name", name)
		}
	}
	s, code, _ := captured(t, "198.19.0.1", "-p", "22")
	if code != exitOK || s.sv.enabled || s.resumeFile == "" {
		t.Errorf("without -sV: enabled %v, checkpoint %q", s.sv.enabled, s.resumeFile)
	}
	// -sV on a scan of TCP and UDP ports identifies the TCP ones; -sT -sV too.
	for _, args := range [][]string{{"-p", "U:53,T:22", "-sV"}, {"-sT", "-sV", "-p", "22"}} {
		if s, code, stderr := captured(t, append([]string{"198.19.0.1"}, args...)...); code != exitOK || !s.sv.enabled {
			t.Errorf("%q: exit %d (%s), enabled %v", args, code, stderr, s.sv.enabled)
		}
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-sV", "-sU", "-p", "53"}, "-sV identifies TCP services, and this scan probes no TCP port"},
		{[]string{"-sV", "-p", "U:53"}, "-sV identifies TCP services"},
		{[]string{"-sV", "-p", "22", "--resume-file", "x.resume"}, "-sV and --resume-file contradict"},
		{[]string{"-p", "22", "--sv-timeout", "5s"}, "--sv-timeout tunes service identification: add -sV"},
		{[]string{"-p", "22", "--sv-concurrency", "5"}, "--sv-concurrency tunes service identification: add -sV"},
		{[]string{"-sV", "-p", "22", "--sv-timeout", "0s"}, `invalid sv-timeout "0s"`},
		{[]string{"-sV", "-p", "22", "--sv-timeout", "11m"}, `invalid sv-timeout "11m"`},
		{[]string{"-sV", "-p", "22", "--sv-timeout", "5"}, `invalid sv-timeout "5": a duration needs a unit`},
		{[]string{"-sV", "-p", "22", "--sv-connect-timeout", "-1s"}, `invalid sv-connect-timeout "-1s"`},
		{[]string{"-sV", "-p", "22", "--sv-timeout", "2s", "--sv-connect-timeout", "3s"}, `invalid sv-connect-timeout "3s": longer than the port's whole budget (--sv-timeout 2s)`},
		{[]string{"-sV", "-p", "22", "--sv-concurrency", "0"}, `invalid sv-concurrency "0": must be 1 to 10000`},
		{[]string{"-sV", "-p", "22", "--sv-concurrency", "1e3"}, `invalid sv-concurrency "1e3": not a whole number`},
		{[]string{"-sV", "-p", "22", "--sv-per-host", "1001"}, `invalid sv-per-host "1001": must be 1 to 1000`},
		{[]string{"-sV", "-p", "22", "--sv-max-pending", "0"}, `invalid sv-max-pending "0": must be 1 to 10000000`},
		{[]string{"-p", "22", "--sv-max-pending", "5"}, "--sv-max-pending tunes service identification: add -sV"},
	} {
		_, code, stderr := captured(t, append([]string{"198.19.0.1"}, tt.args...)...)
		if code != exitUsage || !strings.Contains(stderr, tt.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%q: exit %d, %q; want exit 2 and one line with %q", tt.args, code, stderr, tt.want)
		}
	}
	var stderr bytes.Buffer
	code = run(context.Background(), []string{"fastscan", "replay", "--seed", "1", "-sV", "198.19.0.1", "-p", "22", "x.pcap"}, io.Discard, &stderr, nil)
	if code != exitUsage || !strings.Contains(stderr.String(), "-sV does not apply to replay") || strings.Count(stderr.String(), "\n") != 1 {
		t.Errorf("replay -sV: exit %d, %q", code, stderr.String())
	}
}

// startLoopbackServices parses a -sV scan of 127.0.0.1 port 22 with flags
// and starts its identification (until ctx ends), writing to the sink.
func startLoopbackServices(t *testing.T, ctx context.Context, flags ...string) (*serviceScan, *resultsSink) {
	t.Helper()
	s, code, stderr := captured(t, append([]string{"127.0.0.1", "-p", "22", "-sV"}, flags...)...)
	if code != exitOK {
		t.Fatalf("%q: exit %d: %s", flags, code, stderr)
	}
	sink := &resultsSink{}
	sv, err := startServices(ctx, &s, sink.write)
	if err != nil {
		t.Fatal(err)
	}
	return sv, sink
}

// sshAfter is a loopbackServer's handler: an SSH greeting after d, then
// whatever the client sends is read until it closes.
func sshAfter(d time.Duration) func(net.Conn) {
	return func(c net.Conn) {
		time.Sleep(d)
		io.WriteString(c, "SSH-2.0-OpenSSH_9.2p1\r\n")
		io.Copy(io.Discard, c)
	}
}

// loopbackServer listens on 127.0.0.1 and runs handle for each connection
// until the test ends.
func loopbackServer(t *testing.T, handle func(net.Conn)) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				handle(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return netip.MustParseAddrPort(ln.Addr().String())
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ap := netip.MustParseAddrPort(ln.Addr().String())
	ln.Close()
	return ap
}

// resultsSink collects the results written, in order.
type resultsSink struct {
	mu  sync.Mutex
	got []result.Result
	at  []time.Time
}

func (r *resultsSink) write(x *result.Result) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, *x)
	r.at = append(r.at, time.Now())
	return nil
}

func (r *resultsSink) byPort() map[uint16]result.Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := map[uint16]result.Result{}
	for _, x := range r.got {
		m[x.Port] = x
	}
	return m
}

func openResult(ap netip.AddrPort) *result.Result {
	return &result.Result{IP: ap.Addr(), Port: ap.Port(), Proto: result.TCP, State: result.Open, Reason: result.ReasonSYNACK}
}

// TestServiceScan hands open ports to the identification as a scan would, on
// loopback: other verdicts are written at once; an open port is written once
// identified, with its Service; a port where nothing speaks (refused, closed
// at once, silent) is written filtered, reason no-service, when --show
// filtered asks for it, and counted in the summary.
func TestServiceScan(t *testing.T) {
	ssh := loopbackServer(t, func(c net.Conn) {
		io.WriteString(c, "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n")
		time.Sleep(time.Second)
	})
	hangup := loopbackServer(t, func(c net.Conn) {})
	refused := closedPort(t)
	for _, show := range []string{"closed", "closed,filtered"} {
		sv, sink := startLoopbackServices(t, context.Background(), "--sv-timeout", "2s", "--show", show)
		start := time.Now()
		for _, ap := range []netip.AddrPort{ssh, hangup, refused} {
			if err := sv.emit(openResult(ap)); err != nil {
				t.Fatal(err)
			}
		}
		closed := &result.Result{IP: ssh.Addr(), Port: 1, Proto: result.TCP, State: result.Closed, Reason: result.ReasonReset}
		sv.emit(closed)
		if got := sink.byPort(); len(got) != 1 || got[1].State != result.Closed || got[1].Service != nil {
			t.Errorf("show %s: written at once: %+v; want only the closed port, without a service", show, got)
		}
		if sv.wait(nil) {
			t.Errorf("show %s: wait reports an interruption", show)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("show %s: identification took %v with a 2s budget", show, d)
		}
		got := sink.byPort()
		if r := got[ssh.Port()]; r.State != result.Open || r.Service == nil || r.Service.Name != "ssh" || r.Service.Method != "probed" ||
			r.Service.Product != "OpenSSH" || !r.Service.Spoke {
			t.Errorf("show %s: ssh %+v, service %+v", show, r, r.Service)
		}
		for _, ap := range []netip.AddrPort{hangup, refused} {
			r, ok := got[ap.Port()]
			switch {
			case show == "closed" && ok:
				t.Errorf("show %s: %v written (%+v): filtered is not shown", show, ap, r)
			case show == "closed":
			case !ok || r.State != result.Filtered || r.Reason != result.ReasonNoService || r.Service == nil || r.Service.Spoke || r.Service.Error == "":
				t.Errorf("show %s: %v: %+v, service %+v; want filtered, no-service, with the error", show, ap, r, r.Service)
			}
		}
		var es engine.Summary
		es.Open = 3
		sv.adjust(&es)
		if es.Open != 1 || es.Filtered != 2 {
			t.Errorf("show %s: summary open %d filtered %d; want 1 and 2", show, es.Open, es.Filtered)
		}
		if line := sv.summary(); !strings.HasPrefix(line, "  service identification: 1 identified, 2 of 3 SYN-ACKs not backed by a service; waited ") {
			t.Errorf("show %s: summary %q", show, line)
		}
	}
}

// TestServiceScanInterrupted: a signal (the context ending) while a silent
// service holds its identification loses no open port: it is written open,
// its Service saying the identification was interrupted, and so is a port
// found open after the signal.
func TestServiceScanInterrupted(t *testing.T) {
	silent := loopbackServer(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	ssh := loopbackServer(t, func(c net.Conn) { io.WriteString(c, "SSH-2.0-OpenSSH_9.2p1\r\n"); io.Copy(io.Discard, c) })
	ctx, cancel := context.WithCancel(context.Background())
	sv, sink := startLoopbackServices(t, ctx, "--sv-timeout", "1m", "--sv-concurrency", "1")
	sv.emit(openResult(silent))
	sv.emit(openResult(ssh)) // queued behind the silent one (concurrency 1)
	time.Sleep(300 * time.Millisecond)
	cancel()
	late := closedPort(t)
	sv.emit(openResult(late)) // the engine's last replies after the signal
	start := time.Now()
	if !sv.wait(nil) {
		t.Error("wait does not report the interruption")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("wait took %v after the signal", d)
	}
	got := sink.byPort()
	for _, ap := range []netip.AddrPort{silent, ssh, late} {
		r, ok := got[ap.Port()]
		if !ok || r.State != result.Open || r.Reason != result.ReasonSYNACK || r.Service == nil || r.Service.Error != interruptedError {
			t.Errorf("%v: written %v: %+v, service %+v; want open with the error %q", ap, ok, r, r.Service, interruptedError)
		}
	}
	if len(sink.got) != 3 {
		t.Errorf("%d results written, want 3", len(sink.got))
	}
	if line := sv.summary(); !strings.Contains(line, "3 not finished (interrupted)") {
		t.Errorf("summary %q", line)
	}
}

// TestServiceScanQueueFull: open ports are held for identification up to
// --sv-max-pending; one found beyond that is written at once, open, named by
// the port table, its service error saying why, and counted in the summary;
// the held ones are still identified.
func TestServiceScanQueueFull(t *testing.T) {
	slow := sshAfter(300 * time.Millisecond)
	sv, sink := startLoopbackServices(t, context.Background(), "--sv-timeout", "3s", "--sv-concurrency", "1", "--sv-max-pending", "2")
	var aps []netip.AddrPort
	for range 4 {
		ap := loopbackServer(t, slow)
		aps = append(aps, ap)
		if err := sv.emit(openResult(ap)); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(sink.got); got != 2 {
		t.Errorf("%d results written at once, want the 2 beyond --sv-max-pending 2", got)
	}
	if sv.wait(nil) {
		t.Error("wait reports an interruption")
	}
	got := map[netip.AddrPort]result.Result{}
	for _, r := range sink.got {
		got[netip.AddrPortFrom(r.IP, r.Port)] = r
	}
	for i, ap := range aps {
		r, ok := got[ap]
		switch {
		case !ok || r.State != result.Open || r.Service == nil:
			t.Errorf("%v: written %v: %+v", ap, ok, r)
		case i < 2 && (r.Service.Product != "OpenSSH" || r.Service.Method != "probed"):
			t.Errorf("%v (held): service %+v; want OpenSSH, probed", ap, r.Service)
		case i >= 2 && (r.Service.Method != "table" || r.Service.Product != "" || r.Service.Error != fmt.Sprintf(queueFullError, 2)):
			t.Errorf("%v (beyond the bound): service %+v; want the table's name and the error", ap, r.Service)
		}
	}
	if line := sv.summary(); !strings.Contains(line, "2 identified, 0 of 2 SYN-ACKs not backed by a service, 2 not identified (2 were already waiting: --sv-max-pending)") {
		t.Errorf("summary %q", line)
	}
}

// TestServiceScanLinger: after the scan's last pass, linger keeps the scan
// receiving while a target is unanswered, until --wait has passed, and not
// at all once every target answered; it does not wait for the
// identification, which goes on (a port found during the linger too); a
// signal ends it at once.
func TestServiceScanLinger(t *testing.T) {
	slow := sshAfter(400 * time.Millisecond)
	for _, tt := range []struct {
		settled  bool
		min, max time.Duration
	}{{true, 0, 100 * time.Millisecond}, {false, 1500 * time.Millisecond, 2500 * time.Millisecond}} {
		sv, sink := startLoopbackServices(t, context.Background(), "--sv-timeout", "3s", "--wait", "1500ms")
		first, late := loopbackServer(t, slow), loopbackServer(t, slow)
		sv.emit(openResult(first))
		start := time.Now()
		go func() {
			time.Sleep(50 * time.Millisecond)
			sv.emit(openResult(late)) // a late SYN-ACK, during the linger
		}()
		sv.linger(context.Background(), func() bool { return tt.settled })
		if d := time.Since(start); d < tt.min || d > tt.max {
			t.Errorf("settled %v: lingered %v, want %v to %v", tt.settled, d, tt.min, tt.max)
		}
		time.Sleep(100 * time.Millisecond) // the late port is handed over
		if sv.wait(nil) {
			t.Error("wait reports an interruption")
		}
		if n := len(sink.got); n != 2 {
			t.Errorf("settled %v: %d ports written, want both", tt.settled, n)
		}
		if line := sv.summary(); !strings.Contains(line, "2 identified, 0 of 2 SYN-ACKs") {
			t.Errorf("summary %q", line)
		}
	}

	ctx, cancel := context.WithCancel(context.Background()) // a signal, as the CLI's
	defer cancel()
	sv, _ := startLoopbackServices(t, ctx, "--sv-timeout", "1m", "--wait", "1m")
	sv.emit(openResult(loopbackServer(t, func(c net.Conn) { io.Copy(io.Discard, c) })))
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	sv.linger(ctx, func() bool { return false })
	if d := time.Since(start); d > time.Second {
		t.Errorf("linger took %v after the signal", d)
	}
	if !sv.wait(nil) {
		t.Errorf("wait does not report the interruption: %s", sv.summary())
	}
}

// TestServiceScanRateChanged: when --adaptive changes the scan's rate, the
// identification's new connections follow it: lowered from -r 1000 to 10/s,
// four ports are connected to 100 ms apart.
func TestServiceScanRateChanged(t *testing.T) {
	var mu sync.Mutex
	var at []time.Time
	greet := func(c net.Conn) {
		mu.Lock()
		at = append(at, time.Now())
		mu.Unlock()
		io.WriteString(c, "SSH-2.0-OpenSSH_9.2p1\r\n")
	}
	sv, sink := startLoopbackServices(t, context.Background(), "-r", "1000", "--sv-timeout", "2s")
	sv.rateChanged(engine.RateChange{Rate: 10})
	sv.emit(openResult(loopbackServer(t, greet))) // its connection was due at 1,000/s
	time.Sleep(50 * time.Millisecond)
	for range 4 {
		sv.emit(openResult(loopbackServer(t, greet)))
	}
	sv.wait(nil)
	mu.Lock()
	defer mu.Unlock()
	if len(at) != 5 || len(sink.got) != 5 {
		t.Fatalf("%d connections, %d results; want 5", len(at), len(sink.got))
	}
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	if span := at[4].Sub(at[1]); span < 250*time.Millisecond {
		t.Errorf("at 10/s the last four connections came within %v; want three 100 ms gaps (250 ms with a margin)", span)
	}
}

// TestServiceScanProgress: while the scan waits for identifications, a
// terminal gets a progress line (redrawn in place, cleared at the end).
func TestServiceScanProgress(t *testing.T) {
	silent := loopbackServer(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	sv, sink := startLoopbackServices(t, context.Background(), "--sv-timeout", "1s", "--show", "filtered")
	sv.emit(openResult(silent))
	var progress lockedBuffer
	start := time.Now()
	if sv.wait(&progress) {
		t.Error("wait reports an interruption")
	}
	if d := time.Since(start); d < 900*time.Millisecond || d > 2*time.Second {
		t.Errorf("waited %v for a silent port with a 1s budget", d)
	}
	out := progress.String()
	if !strings.Contains(out, "\r\033[Kservice identification: 0 of 1 ports done") || !strings.HasSuffix(out, "\r\033[K") {
		t.Errorf("progress %q", out)
	}
	if r := sink.byPort()[silent.Port()]; r.State != result.Filtered || r.Reason != result.ReasonNoService {
		t.Errorf("silent port: %+v", r)
	}
}

// TestServiceSourcePortsNotice: -sV says so when the probes' source ports
// overlap the kernel's ephemeral range, which the identification's
// connections take their ports from; the default range does not.
func TestServiceSourcePortsNotice(t *testing.T) {
	lo, hi, err := ephemeralPorts()
	if err != nil {
		t.Skipf("no ephemeral port range: %v", err)
	}
	for _, tt := range []struct {
		ports string
		want  bool
	}{
		{"", lo <= 65535 && hi >= 61000},
		{fmt.Sprintf("%d-%d", lo, lo), true},
		{fmt.Sprintf("%d", hi), true},
	} {
		args := []string{"127.0.0.1", "-p", "22", "-sV"}
		if tt.ports != "" {
			args = append(args, "--source-port", tt.ports)
		}
		s, code, stderr := captured(t, args...)
		if code != exitOK {
			t.Fatalf("%q: exit %d: %s", args, code, stderr)
		}
		var notices []string
		s.cfg.Notice = func(msg string) { notices = append(notices, msg) }
		ctx, cancel := context.WithCancel(context.Background())
		sv, err := startServices(ctx, &s, func(*result.Result) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		cancel()
		sv.wait(nil)
		if got := len(notices) == 1 && strings.Contains(notices[0], "overlap the kernel's ephemeral ports"); got != tt.want {
			t.Errorf("--source-port %q (ephemeral %d-%d): notices %q", tt.ports, lo, hi, notices)
		}
	}
}

package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fastscan/fastscan/afpacket"
	"github.com/fastscan/fastscan/cookie"
	"github.com/fastscan/fastscan/packet"
	"github.com/fastscan/fastscan/permute"
	"github.com/fastscan/fastscan/ratelimit"
	"github.com/fastscan/fastscan/result"
	"github.com/fastscan/fastscan/udpprobe"
)

const (
	// pollTimeout bounds how long the receiver blocks, so it notices the end of a scan.
	pollTimeout = 5 * time.Millisecond
	// ringBlockTimeout is how long the kernel holds a partly filled ring block before
	// handing it over: the receiver's added latency at low reply rates.
	ringBlockTimeout = 2 * time.Millisecond
	// minQuiet is the shortest silence that ends a cool-down: well above the ring's
	// block timeout, so a reply held in a partly filled block is not missed.
	minQuiet = 20 * time.Millisecond
	// initialRTO is the retransmission timeout before any round trip was measured,
	// as RFC 6298 sets it.
	initialRTO = time.Second
	// ringBlocks is the number of 1 MiB blocks of the receive ring: room for about
	// 200,000 replies, a second of replies at full speed if the receiver is starved.
	ringBlocks = 32
	// maxFrame is the transmit buffer size of one probe.
	maxFrame = 128
	// statsInterval is how often the receiver reads the ring's drop counter for Progress.
	statsInterval = 250 * time.Millisecond
	// resultQueue is how many verdicts may wait for the caller's emit function.
	resultQueue = 1 << 16
)

// Progress is a snapshot of a running scan, for progress lines and summaries.
type Progress struct {
	// Phase is what the scan is doing: "routing", "scanning", "retrying", "cooling down", "done".
	Phase string
	// Pass is the send pass: 0 for the first, 1.. for retries.
	Pass int
	// Position is how many targets the current pass has gone through, of Targets.
	Position, Targets uint64
	// Sent counts probes sent, Replies valid replies (duplicates included).
	Sent, Replies uint64
	// Open, Closed and Filtered count verdicts decided by a reply so far.
	Open, Closed, Filtered uint64
	// RingDrops counts replies the kernel dropped because the receive ring was full
	// (read every quarter of a second while the scan runs).
	RingDrops uint64
	// Elapsed is the time since the scan started.
	Elapsed time.Duration
}

// Summary is what a finished scan reports.
type Summary struct {
	Progress
	// Interrupted is true when the context was cancelled before the scan finished.
	Interrupted bool
	// NoResponse counts TCP targets that never answered (filtered, reason
	// no-response), and OpenFiltered UDP targets that never answered (open|filtered);
	// both 0 for an interrupted scan, which did not probe everything.
	NoResponse, OpenFiltered uint64
	// HostsDown counts target addresses not probed: on-link hosts that did not answer
	// ARP, and our own address.
	HostsDown uint64
	// Duplicates counts valid replies for targets already decided.
	Duplicates uint64
	// Invalid counts replies to our address and ports whose cookie did not match:
	// forged, stale or unrelated packets. They never produce a result. In a passive
	// replay it counts resets that end a connection instead of answering a SYN.
	Invalid uint64
	// RingPackets counts the packets the kernel passed the receive ring's filter.
	RingPackets uint64
	// Interface and SourceIP say where the probes came from.
	Interface string
	SourceIP  uint32
	// CoolDown is the time spent waiting for replies after the passes: it ends as
	// soon as every target has answered, or after a retransmission timeout of
	// silence sized by the round trips seen, and is at most Wait per pass.
	CoolDown time.Duration
}

// Scanner runs one scan. Create it with New and run it once with Run; Progress may
// be called from any goroutine, also while it runs.
type Scanner struct {
	cfg    Config
	start  atomic.Int64 // Unix nanoseconds; 0 before Run
	nports uint64       // TCP ports, then UDP ports
	ntcp   uint64
	total  uint64

	// udpProbes[i] is the request sent to the i-th UDP port, udpTemplates[i] its frame.
	udpProbes    []udpprobe.Probe
	udpTemplates []*packet.UDPTemplate

	perm  permute.Permutation
	key   cookie.Key
	table *Table
	plan  *plan

	phase       atomic.Value // string
	pass        atomic.Int32
	pos         atomic.Uint64
	sent        atomic.Uint64
	replies     atomic.Uint64
	answered    atomic.Uint64
	answeredUDP atomic.Uint64
	open        atomic.Uint64
	closed      atomic.Uint64
	filtered    atomic.Uint64
	duplicates  atomic.Uint64
	invalid     atomic.Uint64
	ringDrops   atomic.Uint64
	lastReply   atomic.Int64
	// coolDownNanos is the time spent in cool-downs so far.
	coolDownNanos atomic.Int64
	rto           atomic.Int64
	clock         sendClock
	interrupted   atomic.Bool

	// Receiver-only round-trip estimator state.
	srtt, rttvar float64
	rttSamples   uint64

	results chan result.Result
}

// New checks cfg and prepares a scan. Nothing is sent until Run.
func New(cfg Config) (*Scanner, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ntcp := uint64(cfg.Ports.Len())
	nports := ntcp + uint64(cfg.UDPPorts.Len())
	total := cfg.Targets.Len() * nports
	table, err := NewTable(total)
	if err != nil {
		return nil, err
	}
	s := &Scanner{
		cfg:     cfg,
		nports:  nports,
		ntcp:    ntcp,
		total:   total,
		perm:    permute.New(total, cfg.Seed),
		key:     cookie.NewKey(cfg.Seed),
		table:   table,
		results: make(chan result.Result, resultQueue),
	}
	s.phase.Store("starting")
	return s, nil
}

// Progress returns a snapshot of the scan's counters.
func (s *Scanner) Progress() Progress {
	var elapsed time.Duration
	if start := s.start.Load(); start != 0 {
		elapsed = time.Duration(time.Now().UnixNano() - start)
	}
	return Progress{
		Phase:     s.phase.Load().(string),
		Pass:      int(s.pass.Load()),
		Position:  s.pos.Load(),
		Targets:   s.total,
		Sent:      s.sent.Load(),
		Replies:   s.replies.Load(),
		Open:      s.open.Load(),
		Closed:    s.closed.Load(),
		Filtered:  s.filtered.Load(),
		RingDrops: s.ringDrops.Load(),
		Elapsed:   elapsed,
	}
}

// Run performs the scan and calls emit, from a single goroutine, for every verdict in
// cfg.Show. It returns when the scan is done or ctx is cancelled; in both cases every
// verdict already received has been passed to emit, and a cancelled scan returns no
// error (Summary.Interrupted says so). An error from emit stops the scan. Run may be
// called once.
func (s *Scanner) Run(ctx context.Context, emit func(*result.Result) error) (Summary, error) {
	if !s.start.CompareAndSwap(0, time.Now().UnixNano()) {
		return Summary{}, errors.New("engine: Run called twice")
	}
	s.phase.Store("routing")
	p, err := makePlan(ctx, &s.cfg)
	if err != nil {
		if ctx.Err() != nil {
			s.interrupted.Store(true)
			return s.summary(nil), nil
		}
		return s.summary(nil), err
	}
	s.plan = p
	tmpl, err := packet.NewSYNTemplate(packet.SYNParams{SrcMAC: p.srcMAC, DstMAC: p.routerMAC, SrcIP: p.srcIP})
	if err != nil {
		return s.summary(nil), fmt.Errorf("building the SYN template: %w", err)
	}
	if err := s.buildUDPTemplates(p); err != nil {
		return s.summary(nil), err
	}
	limiter := ratelimit.New(s.cfg.Rate)
	ring, err := afpacket.NewRing(p.iface.Index, afpacket.RingConfig{
		BlockTimeout: ringBlockTimeout,
		NumBlocks:    ringBlocks,
		Filter:       afpacket.ReplyFilter(p.srcIP, s.cfg.SourcePortLo, s.cfg.SourcePortHi),
	})
	if err != nil {
		return s.summary(nil), fmt.Errorf("opening the receive ring on %s: %w", p.iface.Name, err)
	}
	var tx afpacket.Transmitter
	switch {
	case p.loopback:
		tx, err = afpacket.NewIPTransmitter(limiter.Batch(), maxFrame)
	case s.cfg.TxRing:
		tx, err = afpacket.NewRingTransmitter(p.iface.Index, 4096, maxFrame)
	default:
		tx, err = afpacket.NewMmsgTransmitter(p.iface.Index, limiter.Batch(), maxFrame)
	}
	if err != nil {
		ring.Close()
		return s.summary(nil), fmt.Errorf("opening the transmit socket on %s: %w", p.iface.Name, err)
	}
	defer tx.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var stopReceiver atomic.Bool
	var wg sync.WaitGroup
	var recvErr, emitErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		if recvErr = s.receive(ring, &stopReceiver); recvErr != nil {
			cancel() // sending blind would be pointless
		}
	}()
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		for r := range s.results {
			if emitErr != nil {
				continue
			}
			if err := emit(&r); err != nil {
				emitErr = err
				cancel()
			}
		}
	}()

	sendErr := s.send(ctx, tmpl, tx, limiter)
	s.interrupted.Store(ctx.Err() != nil && emitErr == nil && recvErr == nil)

	stopReceiver.Store(true)
	wg.Wait()
	close(s.results)
	<-collected
	sum := s.summary(ring)
	ring.Close()

	if err := firstError(emitErr, sendErr, recvErr); err != nil {
		return sum, err
	}
	if !s.interrupted.Load() && (s.cfg.Show.Has(result.Filtered) || s.cfg.Show.Has(result.OpenFiltered)) {
		if err := s.emitNoResponse(emit); err != nil {
			return sum, err
		}
	}
	s.phase.Store("done")
	sum.Phase = "done"
	return sum, nil
}

func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	return nil
}

// send runs the passes: the first over every target, then a retry pass over the
// targets still unanswered, each followed by a cool-down.
func (s *Scanner) send(ctx context.Context, tmpl *packet.SYNTemplate, tx afpacket.Transmitter, limiter *ratelimit.Limiter) error {
	for pass := 0; pass <= s.cfg.Retries; pass++ {
		if pass > 0 && s.answeredAll() {
			break
		}
		s.pass.Store(int32(pass))
		s.pos.Store(0)
		if pass == 0 {
			s.phase.Store("scanning")
		} else {
			s.phase.Store("retrying")
		}
		err := s.sendPass(ctx, pass, tmpl, tx, limiter)
		passEnd := time.Now()
		if err != nil {
			s.drain(passEnd)
			return err
		}
		s.phase.Store("cooling down")
		s.coolDown(ctx, passEnd)
		s.coolDownNanos.Add(int64(time.Since(passEnd)))
		if ctx.Err() != nil {
			s.drain(passEnd)
			return ctx.Err()
		}
	}
	return nil
}

// sendPass sends one probe to every target not yet answered, in permutation order.
func (s *Scanner) sendPass(ctx context.Context, pass int, tmpl *packet.SYNTemplate, tx afpacket.Transmitter, limiter *ratelimit.Limiter) error {
	var (
		batch   = limiter.Batch()
		pending = 0
		srcIP   = s.plan.srcIP
	)
	flush := func(pos uint64) error {
		if err := limiter.Wait(ctx, pending); err != nil {
			return err
		}
		n, err := tx.Flush()
		s.sent.Add(uint64(n))
		s.pos.Store(pos)
		if pass == 0 {
			s.clock.record(pos, time.Now().UnixNano())
		}
		pending = 0
		if err != nil {
			return fmt.Errorf("sending probes: %w", err)
		}
		return nil
	}
	for pos := uint64(0); pos < s.total; pos++ {
		idx := s.perm.At(pos)
		if pass > 0 && s.table.Answered(idx) {
			continue
		}
		ip := s.cfg.Targets.At(idx / s.nports)
		mac, up := s.plan.nextHop(ip)
		if !up {
			continue
		}
		buf := tx.Next()
		if buf == nil {
			if err := flush(pos); err != nil {
				return err
			}
			buf = tx.Next()
		}
		if pi := idx % s.nports; pi < s.ntcp {
			port := s.cfg.Ports.At(int(pi))
			sport := s.sourcePort(pos, pass)
			seq := s.key.Sum(srcIP, ip, sport, port)
			tx.Commit(tmpl.Put(buf, mac, ip, port, sport, seq, uint16(seq>>16)))
		} else {
			ui := int(pi - s.ntcp)
			h, sport := s.udpCookie(ip, s.cfg.UDPPorts.At(ui))
			tx.Commit(s.udpTemplates[ui].Put(buf, mac, ip, sport, s.udpProbes[ui].Wire(h), uint16(h)))
		}
		pending++
		if pending >= batch {
			if err := flush(pos + 1); err != nil {
				return err
			}
		}
	}
	if pending > 0 {
		return flush(s.total)
	}
	s.pos.Store(s.total)
	return nil
}

// sourcePort is the source port of the probe at position pos in pass pass: the
// passes use different ports, so a retry is a new connection to the target.
func (s *Scanner) sourcePort(pos uint64, pass int) uint16 {
	lo := uint64(s.cfg.SourcePortLo)
	n := uint64(s.cfg.SourcePortHi) - lo + 1
	return uint16(lo + (pos+uint64(pass))%n)
}

// probedTargets is the number of targets that are probed: all but those of down hosts.
func (s *Scanner) probedTargets() uint64 {
	return s.total - s.plan.hostsDown*s.nports
}

func (s *Scanner) answeredAll() bool { return s.answered.Load() >= s.probedTargets() }

// quiet is how long replies must have stopped before a cool-down ends: a
// retransmission timeout over the round-trip times seen (initialRTO before the
// first), within [minQuiet, Wait].
func (s *Scanner) quiet() time.Duration {
	q := time.Duration(s.rto.Load())
	if q == 0 {
		q = initialRTO
	}
	if q < minQuiet {
		q = minQuiet
	}
	if q > s.cfg.Wait {
		q = s.cfg.Wait
	}
	return q
}

// coolDown waits after a pass until everything is answered, or nothing has arrived
// for quiet() since the pass ended or the last reply, or Wait has passed.
func (s *Scanner) coolDown(ctx context.Context, passEnd time.Time) {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !s.settled(passEnd, s.cfg.Wait) {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// drain lets replies to probes already sent arrive after an interrupted pass, so
// that nothing already on the wire is lost: like a cool-down, but it cannot itself be
// interrupted and lasts at most one quiet period.
func (s *Scanner) drain(passEnd time.Time) {
	for !s.settled(passEnd, s.quiet()) {
		time.Sleep(time.Millisecond)
	}
}

// settled reports whether the replies to a pass that ended at passEnd are all in:
// every target answered, or silence for quiet() since the later of the pass's end and
// the last reply, or limit passed since the pass's end.
func (s *Scanner) settled(passEnd time.Time, limit time.Duration) bool {
	if s.answeredAll() {
		return true
	}
	now := time.Now()
	if now.Sub(passEnd) >= limit {
		return true
	}
	last := passEnd
	if r := time.Unix(0, s.lastReply.Load()); r.After(last) {
		last = r
	}
	return now.Sub(last) >= s.quiet()
}

// receive reads the ring until stop is set.
func (s *Scanner) receive(ring *afpacket.Ring, stop *atomic.Bool) error {
	handle := s.handle
	nextStats := time.Now()
	for !stop.Load() {
		if err := ring.Poll(pollTimeout, handle); err != nil {
			return fmt.Errorf("receiving replies: %w", err)
		}
		if now := time.Now(); now.After(nextStats) {
			if _, drops, err := ring.Stats(); err == nil {
				s.ringDrops.Store(drops)
			}
			nextStats = now.Add(statsInterval)
		}
	}
	// One last look for replies already in the ring.
	if err := ring.Poll(0, handle); err != nil {
		return fmt.Errorf("receiving replies: %w", err)
	}
	return nil
}

// handle validates one received frame and turns a valid first answer into a verdict.
// It runs on the receiver goroutine and allocates nothing.
func (s *Scanner) handle(frame []byte, tsNanos int64) {
	var r packet.Reply
	if !packet.ParseReply(frame, &r) {
		return
	}
	if r.LocalIP != s.plan.srcIP || r.LocalPort < s.cfg.SourcePortLo || r.LocalPort > s.cfg.SourcePortHi {
		return
	}
	host, ok := s.cfg.Targets.Index(r.TargetIP)
	if !ok {
		return
	}
	var (
		pi     uint64
		proto  result.Proto
		state  result.State
		reason result.Reason
	)
	switch r.Proto {
	case packet.ProtocolTCP:
		i, ok := s.cfg.Ports.Index(r.TargetPort)
		if !ok {
			return
		}
		if s.key.Sum(r.LocalIP, r.TargetIP, r.LocalPort, r.TargetPort) != r.Cookie {
			s.invalid.Add(1)
			return
		}
		if state, reason, ok = tcpVerdict(&r); !ok {
			return
		}
		pi, proto = uint64(i), result.TCP
	case packet.ProtocolUDP:
		i, ok := s.cfg.UDPPorts.Index(r.TargetPort)
		if !ok {
			return
		}
		if !s.validUDP(&r, frame, i) {
			s.invalid.Add(1)
			return
		}
		if state, reason, ok = udpVerdict(&r); !ok {
			return
		}
		pi, proto = s.ntcp+uint64(i), result.UDP
	default:
		return
	}
	if s.cfg.Capture != nil {
		s.cfg.Capture(frame, tsNanos)
	}
	s.replies.Add(1)
	s.lastReply.Store(tsNanos)
	idx := host*s.nports + pi
	if !s.table.Mark(idx) {
		s.duplicates.Add(1)
		return
	}
	s.answered.Add(1)
	if proto == result.UDP {
		s.answeredUDP.Add(1)
	}
	s.sampleRTT(idx, tsNanos)
	switch state {
	case result.Open:
		s.open.Add(1)
	case result.Closed:
		s.closed.Add(1)
	case result.Filtered:
		s.filtered.Add(1)
	}
	if s.cfg.Show.Has(state) {
		s.results <- result.Result{
			IP: r.TargetIP, Port: r.TargetPort, Proto: proto,
			State: state, Reason: reason, TTL: r.TTL, TimeNanos: tsNanos,
			SourceIP: r.LocalIP, SourcePort: r.LocalPort,
		}
	}
}

// tcpVerdict is what a valid reply to a SYN says: SYN-ACK open, RST closed, an ICMP
// unreachable of a filtering code filtered. ok is false for other ICMP codes.
func tcpVerdict(r *packet.Reply) (state result.State, reason result.Reason, ok bool) {
	switch r.Kind {
	case packet.ReplySYNACK:
		return result.Open, result.ReasonSYNACK, true
	case packet.ReplyRST:
		return result.Closed, result.ReasonReset, true
	case packet.ReplyICMPUnreachable:
		reason, ok = result.ICMPUnreachableReason(r.ICMPCode)
		return result.Filtered, reason, ok
	}
	return 0, 0, false
}

// udpVerdict is what a valid reply to a UDP probe says: a datagram from the port
// open, ICMP port unreachable closed, another filtering ICMP code filtered.
func udpVerdict(r *packet.Reply) (state result.State, reason result.Reason, ok bool) {
	switch {
	case r.Kind == packet.ReplyUDP:
		return result.Open, result.ReasonUDPResponse, true
	case r.Kind == packet.ReplyICMPUnreachable && r.ICMPCode == packet.ICMPv4PortUnreachable:
		return result.Closed, result.ReasonPortUnreachable, true
	case r.Kind == packet.ReplyICMPUnreachable:
		reason, ok = result.ICMPUnreachableReason(r.ICMPCode)
		return result.Filtered, reason, ok
	}
	return 0, 0, false
}

// udpCookie is the stateless cookie of a UDP probe to ip:port: a keyed hash whose
// high bits choose the source port (the reply must come back to it) and whose low
// bits go into the request's transaction id, where the protocol has one.
func (s *Scanner) udpCookie(ip uint32, port uint16) (h uint64, sport uint16) {
	h = s.key.Sum64(s.plan.srcIP, ip, 0, port)
	lo := uint64(s.cfg.SourcePortLo)
	n := uint64(s.cfg.SourcePortHi) - lo + 1
	return h, uint16(lo + (h>>32)%n)
}

// validUDP checks a UDP reply, or an ICMP error quoting a UDP probe, against the
// probe's cookie: the source port, and the echoed transaction id where the service
// has one (for an ICMP error, where the quote reaches it).
func (s *Scanner) validUDP(r *packet.Reply, frame []byte, ui int) bool {
	h, sport := s.udpCookie(r.TargetIP, r.TargetPort)
	if r.LocalPort != sport {
		return false
	}
	probe := &s.udpProbes[ui]
	if probe.CookieLen == 0 {
		return true
	}
	payload := r.Payload(frame)
	if r.Kind == packet.ReplyUDP {
		return udpprobe.Match(r.TargetPort, payload, h)
	}
	if len(payload) < probe.CookieOffset+probe.CookieLen {
		return true // the quote stops before the field: the port is all there is to check
	}
	want := probe.Wire(h)
	for i := 0; i < probe.CookieLen; i++ {
		if payload[probe.CookieOffset+i] != byte(want>>(8*(probe.CookieLen-1-i))) {
			return false
		}
	}
	return true
}

// buildUDPTemplates makes the probe frame of every UDP port, once.
func (s *Scanner) buildUDPTemplates(p *plan) error {
	n := s.cfg.UDPPorts.Len()
	s.udpProbes = make([]udpprobe.Probe, n)
	s.udpTemplates = make([]*packet.UDPTemplate, n)
	for i := range n {
		port := s.cfg.UDPPorts.At(i)
		probe := udpprobe.ForPort(port)
		t, err := packet.NewUDPTemplate(packet.UDPParams{
			SrcMAC: p.srcMAC, DstMAC: p.routerMAC, SrcIP: p.srcIP, DstPort: port,
			Payload: []byte(probe.Payload), CookieOffset: probe.CookieOffset, CookieLen: probe.CookieLen,
		})
		if err != nil {
			return fmt.Errorf("building the UDP probe for port %d: %w", port, err)
		}
		s.udpProbes[i], s.udpTemplates[i] = probe, t
	}
	return nil
}

// sampleRTT measures the round-trip time of a first-pass answer that arrived at
// tsNanos: the send clock says when its probe left. It keeps a smoothed RTT and its
// variation as TCP does (RFC 6298) and publishes srtt + 4*rttvar as the
// retransmission timeout that sizes cool-downs.
func (s *Scanner) sampleRTT(idx uint64, tsNanos int64) {
	if s.pass.Load() != 0 {
		return
	}
	sent, ok := s.clock.sentAt(s.perm.Inverse(idx))
	if !ok || tsNanos < sent {
		return
	}
	rtt := time.Duration(tsNanos - sent).Seconds()
	if s.rttSamples == 0 {
		s.srtt, s.rttvar = rtt, rtt/2
	} else {
		d := s.srtt - rtt
		if d < 0 {
			d = -d
		}
		s.rttvar = 0.75*s.rttvar + 0.25*d
		s.srtt = 0.875*s.srtt + 0.125*rtt
	}
	s.rttSamples++
	s.rto.Store(int64((s.srtt + 4*s.rttvar) * float64(time.Second)))
}

// emitNoResponse hands the caller a verdict for every probed target that never
// answered, if cfg.Show asks for it: filtered for TCP, open|filtered for UDP.
func (s *Scanner) emitNoResponse(emit func(*result.Result) error) error {
	now := time.Now().UnixNano()
	showTCP, showUDP := s.cfg.Show.Has(result.Filtered), s.cfg.Show.Has(result.OpenFiltered)
	var err error
	s.table.Unanswered(func(idx uint64) bool {
		ip := s.cfg.Targets.At(idx / s.nports)
		if _, up := s.plan.nextHop(ip); !up {
			return true
		}
		r := result.Result{IP: ip, Reason: result.ReasonNoResponse, TimeNanos: now, SourceIP: s.plan.srcIP}
		if pi := idx % s.nports; pi < s.ntcp {
			if !showTCP {
				return true
			}
			r.Proto, r.State, r.Port = result.TCP, result.Filtered, s.cfg.Ports.At(int(pi))
			r.SourcePort = s.sourcePort(s.perm.Inverse(idx), 0)
		} else {
			if !showUDP {
				return true
			}
			r.Proto, r.State, r.Port = result.UDP, result.OpenFiltered, s.cfg.UDPPorts.At(int(pi-s.ntcp))
			_, r.SourcePort = s.udpCookie(ip, r.Port)
		}
		err = emit(&r)
		return err == nil
	})
	return err
}

func (s *Scanner) summary(ring *afpacket.Ring) Summary {
	sum := Summary{
		Progress:   s.Progress(),
		Duplicates: s.duplicates.Load(),
		Invalid:    s.invalid.Load(),
		CoolDown:   time.Duration(s.coolDownNanos.Load()),
	}
	sum.Interrupted = s.interrupted.Load()
	if s.plan != nil {
		sum.HostsDown = s.plan.hostsDown
		sum.Interface = s.plan.iface.Name
		sum.SourceIP = s.plan.srcIP
		if !sum.Interrupted {
			hosts := s.cfg.Targets.Len() - s.plan.hostsDown
			udp := hosts * uint64(s.cfg.UDPPorts.Len())
			sum.OpenFiltered = udp - s.answeredUDP.Load()
			sum.NoResponse = s.probedTargets() - s.answered.Load() - sum.OpenFiltered
		}
	}
	if ring != nil {
		sum.RingPackets, sum.RingDrops, _ = ring.Stats()
		s.ringDrops.Store(sum.RingDrops)
	}
	return sum
}

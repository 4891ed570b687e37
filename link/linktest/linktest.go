// Package linktest is an in-memory network that implements [link.Link], for tests
// of the scan engine that run without root.
//
// A [Network] answers the probe frames the engine flushes from a ground-truth
// [Model]: a SYN-ACK or RST to a TCP SYN probe, a UDP datagram to a UDP probe, an
// ICMP destination unreachable error (from the target or a router) to either, or
// nothing. Replies are complete Ethernet frames that [packet.ParseReply] accepts,
// addressed back to the probe's sender. [Options] add the network's faults: loss,
// delay, duplicates, reordering, early timestamps, and send or receive errors.
//
// Replies are built with gopacket when the probe is flushed, on the send
// goroutine; the fake is meant for correctness tests, not for benchmarks.
package linktest

import (
	"container/heap"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/fastscan/fastscan/link"
	"github.com/fastscan/fastscan/packet"
)

// AnswerKind is how a target answers a probe.
type AnswerKind uint8

// Answer kinds.
const (
	// Silent sends nothing back: a filtered port, or a host that is down.
	Silent AnswerKind = iota
	// SYNACK answers a TCP probe with SYN+ACK, acknowledging the probe's sequence
	// number plus one: an open port.
	SYNACK
	// RST answers a TCP probe with RST+ACK, sequence number 0 and acknowledgment
	// number the probe's plus one: a closed port.
	RST
	// UDPReply answers a UDP probe with a datagram from the probed address and port
	// to the probe's source port, with the payload of [Answer.Payload].
	UDPReply
	// ICMPUnreachable answers a TCP or UDP probe with an ICMP destination
	// unreachable error of code [Answer.ICMPCode] from [Answer.ICMPFrom], quoting
	// the probe.
	ICMPUnreachable
)

// String returns a short lower-case name of the kind.
func (k AnswerKind) String() string {
	switch k {
	case Silent:
		return "silent"
	case SYNACK:
		return "syn-ack"
	case RST:
		return "rst"
	case UDPReply:
		return "udp"
	case ICMPUnreachable:
		return "icmp-unreachable"
	}
	return fmt.Sprintf("AnswerKind(%d)", uint8(k))
}

// Answer is the behaviour of one target (address, protocol, port).
//
// A TCP answer (SYNACK, RST) to a UDP probe, or UDPReply to a TCP probe, is
// treated as Silent.
type Answer struct {
	// Kind is what the target sends back.
	Kind AnswerKind
	// ICMPCode is the destination unreachable code of an ICMPUnreachable answer:
	// 3 port unreachable, 13 communication administratively prohibited, 1 host
	// unreachable, ... (see the packet.ICMPv4* codes).
	ICMPCode uint8
	// ICMPFrom is the source of an ICMPUnreachable error: the zero Addr means the
	// target itself, another IPv4 address a router on the way.
	ICMPFrom netip.Addr
	// Quote is how many bytes of the probe's IPv4 datagram an ICMPUnreachable
	// error quotes: 0 means its IPv4 header and the first 8 bytes of its
	// transport header (the RFC 792 minimum); more quotes more, up to the whole
	// datagram (Linux hosts quote the whole probe).
	Quote int
	// Payload returns the payload of a UDPReply given the probe's payload (echo a
	// DNS id, or return a constant). nil sends an empty datagram. It is called on
	// the goroutine that flushes, with a copy of the request.
	Payload func(request []byte) []byte
	// TTL is the TTL of the reply's IPv4 header; 0 means 64.
	TTL uint8
}

// Model is the ground truth of a network: how the target at dst answers a probe of
// IP protocol proto (6 TCP, 17 UDP) to port. It is called once per probe not
// lost, from the goroutine that flushes, with no lock of the Network held (it may
// call [Network.Inject]); it must be safe for concurrent use if several links
// of the same Network flush concurrently.
type Model func(dst netip.Addr, proto uint8, port uint16) Answer

// Options configure a [Network]. The zero value is a network where every target
// is silent.
type Options struct {
	// Model answers probes; nil answers none.
	Model Model
	// Loss drops the n-th probe (counting from 0, in send order over the Network's
	// lifetime, across links) when it returns true: the target never sees it.
	// nil drops none. It is called like Model.
	Loss func(n uint64, dst netip.Addr, proto uint8, port uint16) bool
	// RingDrop drops the n-th reply (counting from 0, in the order Polls find
	// them ready) on the receive side when it returns true, as a full receive
	// ring does: Poll never hands it over and Stats counts it in drops. nil
	// drops none.
	RingDrop func(n uint64) bool
	// RateLimit, when above 0, is a policer on the path to the targets: probes
	// above RateLimit per second (on the Now clock, by the time each was
	// committed, over every link of the Network) are dropped, as by an
	// nftables "limit rate over RateLimit/second burst RateBurst packets drop"
	// rule: a token bucket of RateBurst (at least 1) tokens. It drops after
	// Loss, before Model; a dropped probe is recorded Lost.
	RateLimit float64
	RateBurst int
	// Delay is how long after its probe's Flush each reply becomes available to
	// Poll, on the Now clock.
	Delay time.Duration
	// Duplicates is how many extra copies of every reply are delivered (next to
	// each other, with the same timestamp).
	Duplicates int
	// Reorder delivers the replies that one Poll finds ready in reverse order.
	Reorder bool
	// Early stamps every reply with the time its probe was committed instead of
	// its due time: before the Flush that sent the probe returned, as on veth or
	// loopback, where the reply's kernel timestamp precedes the return of
	// sendmmsg. It does not change when replies become available.
	Early bool
	// Now is the clock that stamps replies and decides when they are due; nil
	// means time.Now. It is called from both the send and the receive goroutine.
	// Poll's timeout is always measured in real time; with Now set, a Poll waiting
	// for a queued reply rechecks the clock every 5ms of real time, so that a
	// reply comes due within 5ms of a manual clock being advanced past its due
	// time.
	Now func() time.Time
	// FlushErr, when not nil, is asked by every Flush (n counts Flush calls over
	// the Network's lifetime from 0, frames is how many frames are committed) and
	// can fail it: when err is not nil only the first sent frames (clamped to
	// [0, frames]) are sent and the others dropped, and Flush returns sent and
	// err.
	FlushErr func(n uint64, frames int) (sent int, err error)
	// PollErr, when not nil, is asked by every Poll (n counts Poll calls over the
	// Network's lifetime from 0); a non-nil error is returned by that Poll at
	// once, delivering nothing.
	PollErr func(n uint64) error
	// Record is how many probes [Network.Probes] keeps (the first ones sent); 0
	// means 65536, a negative value none.
	Record int
}

// fakeClockRecheck bounds a Poll's wait between readings of Options.Now while
// replies are queued.
const fakeClockRecheck = 5 * time.Millisecond

// defaultRecord is the number of probes recorded when Options.Record is 0.
const defaultRecord = 1 << 16

// Probe is the record of one probe frame flushed, for assertions.
type Probe struct {
	// Dst is the probed address.
	Dst netip.Addr
	// DstMAC is the frame's Ethernet destination: the next hop it was sent to.
	DstMAC [6]byte
	// Proto is the IP protocol: 6 TCP, 17 UDP.
	Proto uint8
	// DstPort is the probed port, SrcPort the scanner's.
	DstPort, SrcPort uint16
	// Seq is a TCP probe's sequence number.
	Seq uint32
	// Payload is a copy of a UDP probe's payload.
	Payload []byte
	// Committed is when the frame was committed, on the Now clock.
	Committed time.Time
	// Flush counts the Flush calls of the Network (from 0) up to the one
	// that sent the frame: frames of one Flush leave in one burst.
	Flush uint64
	// Lost is true when Options.Loss dropped the probe.
	Lost bool
	// Answer is how the target answered (Silent when lost).
	Answer AnswerKind
}

// Network is an in-memory network: it opens links whose probes it answers from
// its Model. It keeps counters and a record of probes across links. A Network is
// safe for concurrent use.
type Network struct {
	opts   Options
	now    func() time.Time
	record int

	probesSeen atomic.Uint64 // probes parsed, the index of Options.Loss
	flushes    atomic.Uint64 // Flush calls, the index of Options.FlushErr
	polls      atomic.Uint64 // Poll calls, the index of Options.PollErr
	sent       atomic.Uint64 // frames flushed

	// The RateLimit token bucket: tokens at the time last (Now clock).
	bucketMu    sync.Mutex
	tokens      float64
	last        time.Time
	rateLimited atomic.Uint64

	mu      sync.Mutex
	links   map[*fakeLink]struct{} // open links
	orphans []reply                // frames injected while no link was open
	probes  []Probe
	configs []link.Config
}

// New returns a Network with options o.
func New(o Options) *Network {
	n := &Network{opts: o, now: o.Now, record: o.Record, links: make(map[*fakeLink]struct{})}
	if n.now == nil {
		n.now = time.Now
	}
	switch {
	case n.record == 0:
		n.record = defaultRecord
	case n.record < 0:
		n.record = 0
	}
	return n
}

// Open opens a link on the network; it is a [link.Opener]. Next lends cfg.Batch
// buffers of cfg.FrameLen bytes between Flushes. Frames injected while no link
// was open are delivered to this link's first Poll. The other fields of cfg are
// recorded (see [Network.Configs]) but not enforced: every reply and injected
// frame is delivered, as if no receive filter were attached.
func (n *Network) Open(cfg link.Config) (link.Link, error) {
	if cfg.Batch <= 0 || cfg.FrameLen <= 0 {
		return nil, fmt.Errorf("linktest: open: batch %d and frame length %d must be above 0", cfg.Batch, cfg.FrameLen)
	}
	l := &fakeLink{
		net:  n,
		cfg:  cfg,
		wake: make(chan struct{}, 1),
		done: make(chan struct{}),
	}
	l.fakeTx = newFakeTx(l)
	n.mu.Lock()
	defer n.mu.Unlock()
	n.configs = append(n.configs, cfg)
	n.links[l] = struct{}{}
	if len(n.orphans) > 0 {
		l.push(n.orphans)
		n.orphans = nil
	}
	return l, nil
}

// Sent returns how many frames links of the network flushed successfully, probes
// lost included.
func (n *Network) Sent() uint64 { return n.sent.Load() }

// Probes returns a copy of the record of the probes flushed, in send order, up to
// Options.Record of them. Frames that are not IPv4 TCP or UDP are not recorded.
func (n *Network) Probes() []Probe {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]Probe(nil), n.probes...)
}

// Configs returns the configurations of every link opened, in order.
func (n *Network) Configs() []link.Config {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]link.Config(nil), n.configs...)
}

// Inject adds a copy of frame (an Ethernet frame: a forged reply, a stray packet)
// to the receive side of every open link, due at once and stamped with Now. With
// no link open, the frame waits for the next link opened.
func (n *Network) Inject(frame []byte) {
	now := n.now()
	n.mu.Lock()
	defer n.mu.Unlock()
	r := reply{due: now, ts: now.UnixNano()}
	if len(n.links) == 0 {
		r.frame = append([]byte(nil), frame...)
		n.orphans = append(n.orphans, r)
		return
	}
	for l := range n.links {
		r.frame = append([]byte(nil), frame...)
		l.push([]reply{r})
	}
}

// answer runs Options.Loss and Options.Model for one probe and builds its
// replies. No lock is held.
func (n *Network) answer(p *Probe, frame []byte, flushed time.Time) []reply {
	idx := n.probesSeen.Add(1) - 1
	if n.opts.Loss != nil && n.opts.Loss(idx, p.Dst, p.Proto, p.DstPort) {
		p.Lost = true
		return nil
	}
	if n.opts.RateLimit > 0 && !n.take(p.Committed) {
		p.Lost = true
		n.rateLimited.Add(1)
		return nil
	}
	if n.opts.Model == nil {
		return nil
	}
	a := n.opts.Model(p.Dst, p.Proto, p.DstPort)
	b := build(a, p, frame)
	if b == nil {
		return nil
	}
	p.Answer = a.Kind
	due := flushed.Add(n.opts.Delay)
	ts := due.UnixNano()
	if n.opts.Early {
		ts = p.Committed.UnixNano()
	}
	rs := make([]reply, 0, 1+max(n.opts.Duplicates, 0))
	rs = append(rs, reply{frame: b, due: due, ts: ts})
	for range n.opts.Duplicates {
		rs = append(rs, reply{frame: append([]byte(nil), b...), due: due, ts: ts})
	}
	return rs
}

// take takes a token of the RateLimit bucket for a probe committed at t; false
// when there is none (the probe is over the rate).
func (n *Network) take(t time.Time) bool {
	n.bucketMu.Lock()
	defer n.bucketMu.Unlock()
	burst := float64(max(n.opts.RateBurst, 1))
	if n.last.IsZero() {
		n.tokens = burst
	} else if d := t.Sub(n.last); d > 0 {
		n.tokens = min(burst, n.tokens+d.Seconds()*n.opts.RateLimit)
	}
	if t.After(n.last) {
		n.last = t
	}
	if n.tokens < 1 {
		return false
	}
	n.tokens--
	return true
}

// RateLimited returns how many probes Options.RateLimit dropped.
func (n *Network) RateLimited() uint64 { return n.rateLimited.Load() }

// parseProbe decodes the addressing of a probe frame: Ethernet, IPv4, then TCP
// with SYN set and ACK clear, or UDP.
func parseProbe(frame []byte) (Probe, bool) {
	if len(frame) < packet.EthernetHeaderLen+packet.IPv4MinimumHeaderLen ||
		packet.Ethernet(frame).Type() != packet.EtherTypeIPv4 {
		return Probe{}, false
	}
	ip := packet.IPv4(frame[packet.EthernetHeaderLen:])
	if !ip.IsValid() || ip.IsFragment() {
		return Probe{}, false
	}
	p := Probe{Dst: netip.AddrFrom4(u32Bytes(ip.DestinationAddress())), DstMAC: packet.Ethernet(frame).DestinationAddress(), Proto: ip.Protocol()}
	switch p.Proto {
	case packet.ProtocolTCP:
		t := packet.TCP(ip.Payload())
		if !t.IsValid() || t.Flags()&(packet.TCPFlagSYN|packet.TCPFlagACK|packet.TCPFlagRST) != packet.TCPFlagSYN {
			return Probe{}, false
		}
		p.SrcPort, p.DstPort, p.Seq = t.SourcePort(), t.DestinationPort(), t.SequenceNumber()
	case packet.ProtocolUDP:
		u := packet.UDP(ip.Payload())
		if !u.IsValid() {
			return Probe{}, false
		}
		p.SrcPort, p.DstPort = u.SourcePort(), u.DestinationPort()
		p.Payload = append([]byte{}, u.Payload()...)
	default:
		return Probe{}, false
	}
	return p, true
}

// build returns the reply frame of answer a to probe p (frame), or nil when a is
// silent or does not fit p's protocol.
func build(a Answer, p *Probe, frame []byte) []byte {
	eth := packet.Ethernet(frame)
	ip := packet.IPv4(frame[packet.EthernetHeaderLen:])
	ttl := a.TTL
	if ttl == 0 {
		ttl = 64
	}
	le := &layers.Ethernet{
		SrcMAC:       mac(eth.DestinationAddress()),
		DstMAC:       mac(eth.SourceAddress()),
		EthernetType: layers.EthernetTypeIPv4,
	}
	lip := &layers.IPv4{
		Version: 4, IHL: 5, TTL: ttl, Flags: layers.IPv4DontFragment,
		SrcIP: ipOf(ip.DestinationAddress()), DstIP: ipOf(ip.SourceAddress()),
	}
	switch {
	case (a.Kind == SYNACK || a.Kind == RST) && p.Proto == packet.ProtocolTCP:
		lip.Protocol = layers.IPProtocolTCP
		t := &layers.TCP{
			SrcPort: layers.TCPPort(p.DstPort), DstPort: layers.TCPPort(p.SrcPort),
			Ack: p.Seq + 1, ACK: true,
		}
		if a.Kind == SYNACK {
			// A sequence number of the target's own, derived from the probe's.
			t.Seq, t.SYN, t.Window = p.Seq^0x7a11e000, true, 65535
			t.Options = []layers.TCPOption{{
				OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4},
			}}
		} else {
			t.RST = true
		}
		if err := t.SetNetworkLayerForChecksum(lip); err != nil {
			panic(err) // lip is an *layers.IPv4: cannot fail
		}
		return serialize(le, lip, t)
	case a.Kind == UDPReply && p.Proto == packet.ProtocolUDP:
		lip.Protocol = layers.IPProtocolUDP
		u := &layers.UDP{SrcPort: layers.UDPPort(p.DstPort), DstPort: layers.UDPPort(p.SrcPort)}
		if err := u.SetNetworkLayerForChecksum(lip); err != nil {
			panic(err)
		}
		var payload []byte
		if a.Payload != nil {
			payload = a.Payload(append([]byte(nil), p.Payload...))
		}
		return serialize(le, lip, u, gopacket.Payload(payload))
	case a.Kind == ICMPUnreachable:
		lip.Protocol = layers.IPProtocolICMPv4
		lip.Flags = 0
		if f := a.ICMPFrom.Unmap(); f.Is4() {
			lip.SrcIP = f.AsSlice()
		}
		datagram := ip[:ip.TotalLength()]
		quote := a.Quote
		if quote <= 0 {
			quote = ip.HeaderLength() + packet.ICMPv4QuotedTransportLen
		}
		quote = min(quote, len(datagram))
		icmp := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeDestinationUnreachable, a.ICMPCode)}
		return serialize(le, lip, icmp, gopacket.Payload(append([]byte(nil), datagram[:quote]...)))
	}
	return nil
}

func serialize(ls ...gopacket.SerializableLayer) []byte {
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		// The layers are well-formed by construction.
		panic(fmt.Sprintf("linktest: serialize: %v", err))
	}
	return append([]byte(nil), buf.Bytes()...)
}

func u32Bytes(a uint32) [4]byte { return [4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)} }

func ipOf(a uint32) net.IP {
	b := u32Bytes(a)
	return net.IP(b[:])
}

func mac(m [packet.MACLen]byte) net.HardwareAddr { return net.HardwareAddr(m[:]) }

// reply is a frame waiting on a link's receive side.
type reply struct {
	frame []byte
	due   time.Time // when Poll may deliver it, on the Now clock
	ts    int64     // the timestamp Poll reports
	order uint64    // arrival order, to keep the queue stable
}

// replyQueue is a min-heap of replies by due time, then arrival.
type replyQueue []reply

// Len implements heap.Interface.
func (q replyQueue) Len() int { return len(q) }

// Less implements heap.Interface: earlier due first, then earlier queued.
func (q replyQueue) Less(i, j int) bool {
	if c := q[i].due.Compare(q[j].due); c != 0 {
		return c < 0
	}
	return q[i].order < q[j].order
}

// Swap implements heap.Interface.
func (q replyQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }

// Push implements heap.Interface.
func (q *replyQueue) Push(x any) { *q = append(*q, x.(reply)) }

// Pop implements heap.Interface.
func (q *replyQueue) Pop() any {
	old := *q
	r := old[len(old)-1]
	*q = old[:len(old)-1]
	return r
}

// fakeLink is one link of a Network: its own send side (fakeTx), the
// transmitters NewTransmitter opened, and one receive queue, guarded by mu, that
// the replies to all of their frames go to.
type fakeLink struct {
	*fakeTx
	net *Network
	cfg link.Config

	// Receive side.
	timer *time.Timer // Poll's, created on first use

	closed    atomic.Bool
	delivered atomic.Uint64
	drops     atomic.Uint64 // replies RingDrop took
	replies   atomic.Uint64 // replies found ready, the index of Options.RingDrop
	wake      chan struct{} // a frame was queued (capacity 1)
	done      chan struct{} // closed by Close

	mu    sync.Mutex
	queue replyQueue
	order uint64
}

// fakeTx is one send side of a link: the link's own, or one of its
// NewTransmitter. Its fields are used by its sending goroutine only.
type fakeTx struct {
	link     *fakeLink // where the replies go
	net      *Network
	frameLen int
	bufs     []byte      // batch buffers of frameLen bytes, back to back
	lens     []int       // lengths of the frames committed
	commits  []time.Time // when each was committed
	lent     bool        // Next lent a buffer not yet committed
	sendErr  error       // misuse since the last Flush
	closed   atomic.Bool // this transmitter's own Close (the link's closes every one)
}

func newFakeTx(l *fakeLink) *fakeTx {
	return &fakeTx{
		link: l, net: l.net, frameLen: l.cfg.FrameLen,
		bufs:    make([]byte, l.cfg.Batch*l.cfg.FrameLen),
		lens:    make([]int, 0, l.cfg.Batch),
		commits: make([]time.Time, 0, l.cfg.Batch),
	}
}

// NewTransmitter implements [link.Link]: another send side with its own
// buffers; the replies to its frames go to this link's Poll.
func (l *fakeLink) NewTransmitter() (link.Transmitter, error) {
	if l.closed.Load() {
		return nil, errClosed("new transmitter")
	}
	return newFakeTx(l), nil
}

// isClosed reports whether t or its link was closed.
func (t *fakeTx) isClosed() bool { return t.closed.Load() || t.link.closed.Load() }

// errClosed is the error of calls on a closed link.
func errClosed(op string) error { return fmt.Errorf("linktest: %s: %w", op, net.ErrClosed) }

// push queues replies and wakes Poll.
func (l *fakeLink) push(rs []reply) {
	if len(rs) == 0 {
		return
	}
	l.mu.Lock()
	for _, r := range rs {
		r.order = l.order
		l.order++
		heap.Push(&l.queue, r)
	}
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Next implements [link.Link]. It returns nil when the batch is full or the link
// closed.
func (l *fakeTx) Next() []byte {
	if l.isClosed() || len(l.lens) == cap(l.lens) {
		return nil
	}
	l.lent = true
	off := len(l.lens) * l.frameLen
	return l.bufs[off : off+l.frameLen : off+l.frameLen]
}

// Commit implements [link.Link]. A length outside [1, FrameLen], or a Commit
// without a buffer lent by Next, is not committed and fails the next Flush.
func (l *fakeTx) Commit(n int) {
	var err error
	switch {
	case l.isClosed():
		err = errClosed("commit")
	case !l.lent:
		err = fmt.Errorf("linktest: Commit(%d) without a buffer from Next", n)
	case n <= 0 || n > l.frameLen:
		err = fmt.Errorf("linktest: Commit(%d) outside [1, %d]", n, l.frameLen)
	}
	l.lent = false
	if err != nil {
		l.sendErr = errors.Join(l.sendErr, err)
		return
	}
	l.lens = append(l.lens, n)
	l.commits = append(l.commits, l.net.now())
}

// Flush implements [link.Link]. It answers every frame sent (see [Options]) and
// queues the replies before it returns. It fails with the errors of misused
// Commits since the last Flush and with Options.FlushErr's.
func (l *fakeTx) Flush() (int, error) {
	if l.isClosed() {
		return 0, errClosed("flush")
	}
	nw := l.net
	frames := len(l.lens)
	err := l.sendErr
	l.sendErr = nil
	sent := frames
	flush := nw.flushes.Add(1) - 1
	if nw.opts.FlushErr != nil {
		s, ferr := nw.opts.FlushErr(flush, frames)
		if ferr != nil {
			sent = min(max(s, 0), frames)
			err = errors.Join(err, fmt.Errorf("linktest: flush: %d of %d frames sent: %w", sent, frames, ferr))
		}
	}
	flushed := nw.now()
	var replies []reply
	var probes []Probe
	for i := range sent {
		frame := l.bufs[i*l.frameLen : i*l.frameLen+l.lens[i]]
		p, ok := parseProbe(frame)
		if !ok {
			continue
		}
		p.Committed, p.Flush = l.commits[i], flush
		replies = append(replies, nw.answer(&p, frame, flushed)...)
		probes = append(probes, p)
	}
	l.lens, l.commits = l.lens[:0], l.commits[:0]
	nw.sent.Add(uint64(sent))
	if len(probes) > 0 && nw.record > 0 {
		nw.mu.Lock()
		if room := nw.record - len(nw.probes); room > 0 {
			nw.probes = append(nw.probes, probes[:min(room, len(probes))]...)
		}
		nw.mu.Unlock()
	}
	l.link.push(replies)
	return sent, err
}

// Poll implements [link.Link]. It delivers every queued frame whose due time has
// passed on the Now clock, in due order (reversed with Options.Reorder), waiting
// up to timeout (real time) for one when none is due. Each frame is overwritten
// after fn returns, to catch callers that keep it.
func (l *fakeLink) Poll(timeout time.Duration, fn func(frame []byte, tsNanos int64)) error {
	nw := l.net
	if nw.opts.PollErr != nil {
		if err := nw.opts.PollErr(nw.polls.Add(1) - 1); err != nil {
			return err
		}
	} else {
		nw.polls.Add(1)
	}
	deadline := time.Now().Add(timeout)
	var ready []reply
	for {
		if l.closed.Load() {
			return errClosed("poll")
		}
		now := nw.now()
		l.mu.Lock()
		for len(l.queue) > 0 && !l.queue[0].due.After(now) {
			ready = append(ready, heap.Pop(&l.queue).(reply))
		}
		var next time.Time
		if len(l.queue) > 0 {
			next = l.queue[0].due
		}
		l.mu.Unlock()
		if len(ready) > 0 {
			break
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return nil
		}
		if !next.IsZero() {
			wait = min(wait, max(next.Sub(now), time.Microsecond))
			if nw.opts.Now != nil {
				// The clock may be advanced by hand: look again soon.
				wait = min(wait, fakeClockRecheck)
			}
		}
		if l.timer == nil {
			l.timer = time.NewTimer(wait)
		} else {
			l.timer.Reset(wait)
		}
		select {
		case <-l.wake:
		case <-l.timer.C:
		case <-l.done:
		}
		l.timer.Stop()
	}
	if nw.opts.Reorder {
		for i, j := 0, len(ready)-1; i < j; i, j = i+1, j-1 {
			ready[i], ready[j] = ready[j], ready[i]
		}
	}
	for _, r := range ready {
		if drop := nw.opts.RingDrop; drop != nil && drop(l.replies.Add(1)-1) {
			l.drops.Add(1)
			continue
		}
		fn(r.frame, r.ts)
		l.delivered.Add(1)
		for i := range r.frame {
			r.frame[i] = 0xee
		}
	}
	return nil
}

// Stats implements [link.Link]: the frames Poll delivered, and the replies
// Options.RingDrop dropped.
func (l *fakeLink) Stats() (packets, drops uint64, err error) {
	if l.closed.Load() {
		return l.delivered.Load(), l.drops.Load(), errClosed("stats")
	}
	return l.delivered.Load(), l.drops.Load(), nil
}

// Close implements [link.Transmitter] for a transmitter from NewTransmitter
// (the link's own send side closes with the link).
func (l *fakeTx) Close() error {
	if l.closed.Swap(true) {
		return errClosed("close")
	}
	return nil
}

// Close implements [link.Link]. Frames still queued are discarded; a Poll under
// way returns an error. Transmitters still open stop sending.
func (l *fakeLink) Close() error {
	if l.closed.Swap(true) {
		return errClosed("close")
	}
	close(l.done)
	l.net.mu.Lock()
	delete(l.net.links, l)
	l.net.mu.Unlock()
	l.mu.Lock()
	l.queue = nil
	l.mu.Unlock()
	return nil
}

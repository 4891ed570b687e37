// Package connect is a link.Link that probes through the kernel's TCP stack
// instead of raw sockets: each SYN frame the engine hands it becomes a
// non-blocking connect(2) to the frame's destination, and each connection's end
// comes back from Poll as the frame a SYN scan would have received - a SYN-ACK
// for a connection made, a reset for one refused, the ICMP error the kernel
// reports (IP_RECVERR) - addressed to the probe's source address and port and
// carrying its cookie, so the engine classifies, retries, counts and reports
// connect scans exactly as SYN scans. A connection not decided within
// Options.Timeout is abandoned: silence, filtered like an unanswered SYN.
//
// It needs no privileges: no raw socket, no AF_PACKET, no capability. The
// connections in flight are bounded (Options.Parallelism) and the bound is kept
// below the open-file limit (RLIMIT_NOFILE, whose soft limit Open raises to the
// hard one). Connected sockets are closed at once with SO_LINGER 0 (a reset, no
// TIME_WAIT left behind).
//
// One epoll loop on the receiving goroutine (Poll) decides the connections: no
// goroutine per probe, and nothing allocated per probe or outcome.
package connect

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fastscan/fastscan/link"
	"github.com/fastscan/fastscan/packet"
)

// Defaults for Options fields left zero.
const (
	// DefaultTimeout is how long a connection may stay undecided.
	DefaultTimeout = 2 * time.Second
	// DefaultParallelism is how many connections may be in flight at once.
	DefaultParallelism = 1024
	// MinParallelism is the fewest connections in flight a link allows: an
	// open-file limit that leaves fewer is an error.
	MinParallelism = 16
)

// Options configure a connect link.
type Options struct {
	// Timeout is how long a connection may stay undecided before it is
	// abandoned (no frame: the engine's silence verdict, filtered).
	Timeout time.Duration
	// Parallelism is the most connections in flight at once; it is lowered
	// below the open-file limit (see Limit).
	Parallelism int
	// Bind, when valid, is the source address every connection is bound to
	// (--source-ip); the zero Addr lets the kernel choose per route.
	Bind netip.Addr
	// Sys is the kernel side; nil is sockets and epoll (NewSys), with the
	// open-file limit raised and checked.
	Sys Sys
	// Notice receives one-line messages for the user (a parallelism lowered to
	// fit the open-file limit). Nil discards them.
	Notice func(msg string)
}

// Opener returns a link.Opener that opens connect links with o.
func Opener(o Options) link.Opener {
	return func(cfg link.Config) (link.Link, error) { return Open(cfg, o) }
}

// Open opens a connect link for the scan cfg describes. Only TCP is probed:
// cfg.Protocols must be TCP alone.
func Open(cfg link.Config, o Options) (*Link, error) {
	for _, p := range cfg.Protocols {
		if p != packet.ProtocolTCP {
			return nil, fmt.Errorf("connect scan: IP protocol %d cannot be probed with connect(2), TCP only", p)
		}
	}
	if cfg.FrameLen < headLen {
		return nil, fmt.Errorf("connect scan: frames of %d bytes cannot hold a TCP SYN", cfg.FrameLen)
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Parallelism <= 0 {
		o.Parallelism = DefaultParallelism
	}
	if o.Notice == nil {
		o.Notice = func(string) {}
	}
	if o.Bind.IsValid() && !o.Bind.Is4() {
		return nil, fmt.Errorf("connect scan: source address %v: IPv4 only", o.Bind)
	}
	sys := o.Sys
	if sys == nil {
		n, lim, err := Limit(o.Parallelism)
		if err != nil {
			return nil, err
		}
		if n < o.Parallelism {
			o.Notice(fmt.Sprintf("at most %d connections at once (not %d): the open-file limit is %d", n, o.Parallelism, lim))
		}
		o.Parallelism = n
		if sys, err = NewSys(); err != nil {
			return nil, err
		}
	}
	batch := max(cfg.Batch, 1)
	l := &Link{
		opts:    o,
		cfg:     cfg,
		sys:     sys,
		timeout: int64(o.Timeout),
		slots:   make([]slot, o.Parallelism),
		free:    make(chan int32, o.Parallelism),
		ready:   make(chan int32, o.Parallelism),
		tags:    make([]uint64, min(o.Parallelism, 256)),
		closing: make(chan struct{}),
	}
	for i := range l.slots {
		l.free <- int32(i)
	}
	l.nextReap.Store(time.Now().UnixNano() + l.timeout)
	l.own = l.newTx(batch)
	return l, nil
}

// Slot phases (the low bits of slot.state; the generation is above them).
const (
	phaseFree    = 0 // in the free list, or reserved by a transmitter
	phasePending = 1 // connecting: Wait will report it, or the timeout reaps it
	phaseReady   = 2 // decided at once by Connect: queued on ready
	phaseMask    = 3
	genShift     = 2
)

// headLen is what a slot keeps of its probe frame: the Ethernet header, the
// IPv4 header (the SYN template's has no options) and the first 8 bytes of the
// TCP header (ports and sequence number) - all a reply needs, and exactly what
// an ICMP error quotes after the Ethernet header.
const headLen = packet.EthernetHeaderLen + packet.IPv4MinimumHeaderLen + packet.ICMPv4QuotedTransportLen

// slot is one connection in flight. A sender owns a free slot it took from the
// free list until it publishes it (state pending or ready); from then on only
// the receiver (Poll) touches it, until it returns it to the free list.
type slot struct {
	state    atomic.Uint64 // generation << genShift | phase
	h        int           // the Sys handle (pending)
	deadline int64         // Unix nanoseconds after which a pending connection is abandoned
	outcome  Outcome       // ready
	head     [headLen]byte // the probe frame's start
}

// Link is a connect link: see the package documentation. Its own send side is a
// transmitter like those of NewTransmitter; Poll runs the epoll loop.
type Link struct {
	opts    Options
	cfg     link.Config
	sys     Sys
	timeout int64

	slots []slot
	free  chan int32 // slots no connection uses
	ready chan int32 // slots decided at once, waiting for Poll
	// inflight counts the slots published (pending or ready) and not yet released.
	inflight atomic.Int64
	own      *tx

	// The receiver's (Poll's) state.
	tags     []uint64
	frame    [replyLen]byte
	nextReap atomic.Int64
	replies  atomic.Uint64
	timedOut atomic.Uint64
	// shortOf counts the connections tried again after a transient error
	// (too many open files, no local port free).
	shortOf atomic.Uint64

	closeOnce sync.Once
	closing   chan struct{}
}

// Parallelism returns the most connections the link has in flight at once.
func (l *Link) Parallelism() int { return len(l.slots) }

// Next implements link.Link (the link's own send side).
func (l *Link) Next() []byte { return l.own.Next() }

// Commit implements link.Link.
func (l *Link) Commit(n int) { l.own.Commit(n) }

// Flush implements link.Link.
func (l *Link) Flush() (int, error) { return l.own.Flush() }

// NewTransmitter implements link.Link: another send side sharing the link's
// connections in flight and their bound.
func (l *Link) NewTransmitter() (link.Transmitter, error) {
	return l.newTx(max(l.cfg.Batch, 1)), nil
}

// Stats implements link.Link: the outcomes handed to Poll's callers, and no drops
// (abandoned connections are silence, counted by TimedOut).
func (l *Link) Stats() (packets, drops uint64, err error) {
	return l.replies.Load(), 0, nil
}

// TimedOut returns how many connections were abandoned after the timeout.
func (l *Link) TimedOut() uint64 { return l.timedOut.Load() }

// ShortOf returns how many times a connection had to be tried again because
// the machine was short of descriptors or local ports (EMFILE, EADDRNOTAVAIL,
// ...): 0 when the parallelism fits the open-file limit.
func (l *Link) ShortOf() uint64 { return l.shortOf.Load() }

// Close implements link.Link: every connection still in flight is abandoned.
func (l *Link) Close() error {
	var err error
	l.closeOnce.Do(func() {
		close(l.closing)
		for i := range l.slots {
			s := &l.slots[i]
			if s.state.Load()&phaseMask == phasePending {
				l.sys.Abort(s.h)
				s.state.Store(0)
			}
		}
		err = l.sys.Close()
	})
	return err
}

// tx is one send side: a batch of frame buffers, each with the slot reserved
// for its connection.
type tx struct {
	l         *Link
	bufs      [][]byte
	slotOf    []int32 // the slot reserved for each buffer, -1 for none
	lens      []int
	committed int
	timer     *time.Timer
}

func (l *Link) newTx(batch int) *tx {
	t := &tx{l: l, bufs: make([][]byte, batch), slotOf: make([]int32, batch), lens: make([]int, batch)}
	for i := range t.bufs {
		t.bufs[i] = make([]byte, l.cfg.FrameLen)
		t.slotOf[i] = -1
	}
	return t
}

// Next implements link.Transmitter. Each buffer comes with a free slot: when
// every slot is in flight, Next returns nil (flush first) if the batch holds
// frames, else it waits for a connection to end - at most the timeout and a
// second, for the receiver reaps connections by then; nil after that.
func (t *tx) Next() []byte {
	k := t.committed
	if k == len(t.bufs) {
		return nil
	}
	if t.slotOf[k] < 0 {
		i, ok := t.take(k == 0)
		if !ok {
			return nil
		}
		t.slotOf[k] = i
	}
	return t.bufs[k]
}

// take takes a free slot; it waits for one only if block is set.
func (t *tx) take(block bool) (int32, bool) {
	l := t.l
	select {
	case i := <-l.free:
		return i, true
	default:
	}
	if !block {
		return 0, false
	}
	wait := time.Duration(l.timeout) + time.Second
	if t.timer == nil {
		t.timer = time.NewTimer(wait)
	} else {
		t.timer.Reset(wait)
	}
	defer t.timer.Stop()
	select {
	case i := <-l.free:
		return i, true
	case <-t.timer.C:
	case <-l.closing:
	}
	return 0, false
}

// Commit implements link.Transmitter.
func (t *tx) Commit(n int) {
	t.lens[t.committed] = n
	t.committed++
}

// Flush implements link.Transmitter: a connection is started for every frame
// committed. A frame that is not an IPv4 TCP SYN, or a connection the kernel
// refuses to start even after waiting for others to end, is an error.
func (t *tx) Flush() (int, error) {
	l := t.l
	sent := 0
	var err error
	for k := 0; k < t.committed; k++ {
		i := t.slotOf[k]
		t.slotOf[k] = -1
		if err != nil {
			l.release(i, false)
			continue
		}
		if err = l.start(i, t.bufs[k][:t.lens[k]]); err != nil {
			l.release(i, false)
			continue
		}
		sent++
	}
	t.committed = 0
	return sent, err
}

// Close implements link.Transmitter: its reserved slots go back.
func (t *tx) Close() error {
	for k, i := range t.slotOf {
		if i >= 0 {
			t.l.release(i, false)
			t.slotOf[k] = -1
		}
	}
	t.committed = 0
	return nil
}

// errNotSYN is the error of a frame the link cannot turn into a connection.
var errNotSYN = errors.New("connect scan: the probe is not an IPv4 TCP SYN")

// start starts the connection of the SYN frame in slot i and publishes the slot.
func (l *Link) start(i int32, frame []byte) error {
	if len(frame) < headLen || binary.BigEndian.Uint16(frame[12:]) != packet.EtherTypeIPv4 {
		return errNotSYN
	}
	ip := packet.IPv4(frame[packet.EthernetHeaderLen:])
	if ip.Version() != packet.IPv4Version || ip.HeaderLength() != packet.IPv4MinimumHeaderLen || ip.Protocol() != packet.ProtocolTCP {
		return errNotSYN
	}
	th := packet.TCP(frame[packet.EthernetHeaderLen+packet.IPv4MinimumHeaderLen:])
	if len(th) < packet.TCPMinimumHeaderLen || th.Flags()&(packet.TCPFlagSYN|packet.TCPFlagACK) != packet.TCPFlagSYN {
		return errNotSYN
	}
	var dst [4]byte
	binary.BigEndian.PutUint32(dst[:], ip.DestinationAddress())
	addr := netip.AddrPortFrom(netip.AddrFrom4(dst), th.DestinationPort())

	s := &l.slots[i]
	copy(s.head[:], frame[:headLen])
	gen := s.state.Load() >> genShift
	tag := uint64(uint32(i)) | gen<<32
	var (
		h     int
		o     Outcome
		done  bool
		err   error
		start = time.Now()
	)
	for {
		h, o, done, err = l.sys.Connect(l.opts.Bind, addr, tag)
		if err == nil || !Transient(err) || l.inflight.Load() == 0 || time.Since(start) > time.Duration(l.timeout)+time.Second {
			break
		}
		// Short of descriptors or local ports: others in flight give theirs back.
		l.shortOf.Add(1)
		select {
		case <-l.closing:
			return fmt.Errorf("connect scan: connecting to %v: %w", addr, err)
		case <-time.After(time.Millisecond):
		}
	}
	if err != nil {
		return fmt.Errorf("connect scan: connecting to %v: %w", addr, err)
	}
	l.inflight.Add(1)
	if done {
		s.outcome = o
		s.state.Store(gen<<genShift | phaseReady)
		l.ready <- i
		return nil
	}
	s.h = h
	s.deadline = time.Now().UnixNano() + l.timeout
	s.state.Store(gen<<genShift | phasePending)
	return nil
}

// release returns slot i to the free list with a new generation (so that a
// stale report of its old connection is never taken for the next one);
// published says it was in flight.
func (l *Link) release(i int32, published bool) {
	s := &l.slots[i]
	gen := s.state.Load() >> genShift
	s.state.Store((gen + 1) << genShift)
	if published {
		l.inflight.Add(-1)
	}
	l.free <- i
}

// maxWaitRounds bounds how many full batches of reports one Poll takes.
const maxWaitRounds = 16

// Poll implements link.Link: it waits up to timeout for connections to end and
// calls fn with the reply frame of each outcome; connections past their timeout
// are abandoned without a frame.
func (l *Link) Poll(timeout time.Duration, fn func(frame []byte, tsNanos int64)) error {
	got := l.drainReady(fn)
	if got {
		timeout = 0
	}
	for round := 0; round < maxWaitRounds; round++ {
		n, err := l.sys.Wait(timeout, l.tags)
		if err != nil {
			return fmt.Errorf("connect scan: waiting for connections: %w", err)
		}
		now := time.Now().UnixNano()
		for _, tag := range l.tags[:n] {
			i := int32(uint32(tag))
			if i < 0 || int(i) >= len(l.slots) {
				continue
			}
			s := &l.slots[i]
			if st := s.state.Load(); st&phaseMask != phasePending || uint32(st>>genShift) != uint32(tag>>32) {
				continue // not published yet (reported again), or an old connection's
			}
			o := l.sys.Finish(s.h)
			l.deliver(i, &o, now, fn)
		}
		l.reap(now)
		if n < len(l.tags) {
			break
		}
		timeout = 0
	}
	return nil
}

// drainReady hands over the outcomes Connect knew at once.
func (l *Link) drainReady(fn func(frame []byte, tsNanos int64)) bool {
	got := false
	for {
		select {
		case i := <-l.ready:
			s := &l.slots[i]
			if s.state.Load()&phaseMask != phaseReady {
				continue
			}
			o := s.outcome
			l.deliver(i, &o, time.Now().UnixNano(), fn)
			got = true
		default:
			return got
		}
	}
}

// deliver releases slot i and calls fn with the reply frame of outcome o, if
// it has one.
func (l *Link) deliver(i int32, o *Outcome, now int64, fn func(frame []byte, tsNanos int64)) {
	n := putReply(l.frame[:], &l.slots[i].head, o)
	l.release(i, true)
	if n > 0 {
		l.replies.Add(1)
		fn(l.frame[:n], now)
	}
}

// reap abandons the pending connections whose deadline passed; it looks at the
// slots only when the earliest deadline it knows of has come.
func (l *Link) reap(now int64) {
	if now < l.nextReap.Load() {
		return
	}
	next := now + l.timeout
	for i := range l.slots {
		s := &l.slots[i]
		st := s.state.Load()
		if st&phaseMask != phasePending {
			continue
		}
		if s.deadline > now {
			next = min(next, s.deadline)
			continue
		}
		l.sys.Abort(s.h)
		l.timedOut.Add(1)
		l.release(int32(i), true)
	}
	l.nextReap.Store(next)
}

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

	"github.com/fastscan/fastscan/packet"
	"github.com/fastscan/fastscan/route"
)

// ARPAnswer is how one address answers ARP requests.
type ARPAnswer struct {
	// MAC is the address's MAC, the answer's sender hardware address.
	MAC [6]byte
	// Delay is how long after each request its reply arrives.
	Delay time.Duration
	// Drop, when not nil, drops the n-th request to the address (counting from 0):
	// it gets no reply.
	Drop func(n int) bool
}

// ARPModel says how ip answers ARP requests; ok false: it never answers.
type ARPModel func(ip netip.Addr) (a ARPAnswer, ok bool)

// ARPOptions configure an [ARPNetwork].
type ARPOptions struct {
	// Model answers requests; nil answers none.
	Model ARPModel
	// Neighbors is what every conn's Neighbors returns: the kernel's table.
	Neighbors map[netip.Addr][6]byte
	// Virtual makes each conn's clock virtual: Receive never blocks, it moves the
	// clock to the next reply due within its timeout, or by the whole timeout.
	// A resolver then runs as fast as the CPU allows and exactly repeatably. The
	// virtual clock starts at Start (the zero time when unset).
	Virtual bool
	Start   time.Time
	// SendErr, when not nil, is asked by every Send (n counts them from 0) and
	// fails it with a non-nil error.
	SendErr func(n int) error
}

// ARPRequest is the record of one request a conn sent.
type ARPRequest struct {
	// Target is the address asked for; From the sender's MAC and address.
	Target  netip.Addr
	FromMAC [6]byte
	From    netip.Addr
	// At is when it was sent, on the conn's clock.
	At time.Time
}

// ARPNetwork is an in-memory link that answers ARP requests from a model, for
// tests of ARP resolution without root. Its Open is what the engine's Config.ARP
// takes. It is safe for concurrent use.
type ARPNetwork struct {
	opts ARPOptions

	mu       sync.Mutex
	requests []ARPRequest
	perIP    map[netip.Addr]int
}

// NewARP returns an ARPNetwork with options o.
func NewARP(o ARPOptions) *ARPNetwork {
	return &ARPNetwork{opts: o, perIP: map[netip.Addr]int{}}
}

// Open opens a conn on the network; the interface is not looked at.
func (n *ARPNetwork) Open(net.Interface) (route.ARPConn, error) {
	c := &arpConn{net: n, now: n.opts.Start, wake: make(chan struct{}, 1), done: make(chan struct{})}
	return c, nil
}

// Requests returns a copy of every request sent on the network's conns, in order.
func (n *ARPNetwork) Requests() []ARPRequest {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]ARPRequest(nil), n.requests...)
}

// RequestsTo returns how many requests asked for ip.
func (n *ARPNetwork) RequestsTo(ip netip.Addr) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.perIP[ip]
}

// arpConn is one conn of an ARPNetwork.
type arpConn struct {
	net    *ARPNetwork
	now    time.Time // the virtual clock
	closed atomic.Bool

	mu    sync.Mutex
	queue replyQueue
	order uint64
	wake  chan struct{}
	done  chan struct{}
	timer *time.Timer
}

// Now implements route.ARPConn.
func (c *arpConn) Now() time.Time {
	if c.net.opts.Virtual {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.now
	}
	return time.Now()
}

// Neighbors implements route.ARPConn.
func (c *arpConn) Neighbors() (map[netip.Addr][6]byte, error) {
	out := make(map[netip.Addr][6]byte, len(c.net.opts.Neighbors))
	for ip, mac := range c.net.opts.Neighbors {
		out[ip] = mac
	}
	return out, nil
}

// Send implements route.ARPConn: a request is recorded and, if the model answers
// it, its reply queued for Delay later.
func (c *arpConn) Send(frame []byte) error {
	if c.closed.Load() {
		return fmt.Errorf("linktest: ARP send: %w", net.ErrClosed)
	}
	nw := c.net
	at := c.Now()
	eth := packet.Ethernet(frame)
	if len(frame) < packet.ARPFrameLen || eth.Type() != packet.EtherTypeARP {
		return errors.New("linktest: ARP send: not an ARP frame")
	}
	a := packet.ARP(eth.Payload())
	if !a.IsEthernetIPv4() || a.Operation() != packet.ARPRequest {
		return errors.New("linktest: ARP send: not an Ethernet/IPv4 ARP request")
	}
	req := ARPRequest{
		Target: netip.AddrFrom4(u32Bytes(a.TargetProtocolAddress())), FromMAC: a.SenderHardwareAddress(),
		From: netip.AddrFrom4(u32Bytes(a.SenderProtocolAddress())), At: at,
	}
	nw.mu.Lock()
	n := len(nw.requests)
	nth := nw.perIP[req.Target]
	nw.perIP[req.Target]++
	nw.requests = append(nw.requests, req)
	nw.mu.Unlock()
	if nw.opts.SendErr != nil {
		if err := nw.opts.SendErr(n); err != nil {
			return err
		}
	}
	if nw.opts.Model == nil {
		return nil
	}
	ans, ok := nw.opts.Model(req.Target)
	if !ok || (ans.Drop != nil && ans.Drop(nth)) {
		return nil
	}
	reply := make([]byte, packet.ARPFrameLen)
	e := packet.Ethernet(reply)
	e.SetDestinationAddress(req.FromMAC)
	e.SetSourceAddress(ans.MAC)
	e.SetType(packet.EtherTypeARP)
	packet.ARP(e.Payload()).Encode(packet.ARPReply, ans.MAC, a.TargetProtocolAddress(), req.FromMAC, a.SenderProtocolAddress())
	c.mu.Lock()
	heap.Push(&c.queue, queuedARP(reply, at.Add(ans.Delay), c.order))
	c.order++
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return nil
}

// queuedARP is an ARP reply waiting in a conn's queue (the probe side's type).
func queuedARP(frame []byte, due time.Time, order uint64) reply {
	return reply{frame: frame, due: due, ts: due.UnixNano(), order: order}
}

// Receive implements route.ARPConn.
func (c *arpConn) Receive(timeout time.Duration, fn func(frame []byte)) error {
	if c.closed.Load() {
		return fmt.Errorf("linktest: ARP receive: %w", net.ErrClosed)
	}
	timeout = max(timeout, 0)
	if c.net.opts.Virtual {
		c.mu.Lock()
		limit := c.now.Add(timeout)
		if len(c.queue) > 0 && !c.queue[0].due.After(limit) {
			c.now = later(c.now, c.queue[0].due)
		} else {
			c.now = limit
		}
		ready := c.popDue(c.now)
		c.mu.Unlock()
		deliver(ready, fn)
		return nil
	}
	deadline := time.Now().Add(timeout)
	for {
		now := time.Now()
		c.mu.Lock()
		ready := c.popDue(now)
		var next time.Time
		if len(c.queue) > 0 {
			next = c.queue[0].due
		}
		c.mu.Unlock()
		if len(ready) > 0 {
			deliver(ready, fn)
			return nil
		}
		wait := deadline.Sub(now)
		if wait <= 0 {
			return nil
		}
		if !next.IsZero() {
			wait = min(wait, max(next.Sub(now), time.Microsecond))
		}
		if c.timer == nil {
			c.timer = time.NewTimer(wait)
		} else {
			c.timer.Reset(wait)
		}
		select {
		case <-c.wake:
		case <-c.timer.C:
		case <-c.done:
		}
		c.timer.Stop()
	}
}

// popDue removes and returns the replies due by now. c.mu is held.
func (c *arpConn) popDue(now time.Time) []reply {
	var ready []reply
	for len(c.queue) > 0 && !c.queue[0].due.After(now) {
		ready = append(ready, heap.Pop(&c.queue).(reply))
	}
	return ready
}

func deliver(rs []reply, fn func([]byte)) {
	for _, r := range rs {
		fn(r.frame)
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Close implements route.ARPConn.
func (c *arpConn) Close() error {
	if c.closed.Swap(true) {
		return fmt.Errorf("linktest: ARP close: %w", net.ErrClosed)
	}
	close(c.done)
	return nil
}

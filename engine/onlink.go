package engine

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/fastscan/fastscan/permute"
	"github.com/fastscan/fastscan/route"
)

// The on-link LAN is scanned while ARP resolves it. makePlan takes the MACs the
// neighbour table knows and opens the ARP conn; Run starts route.ResolveARP on its
// own goroutine beside the sender (resolveOnLink). Each MAC it finds is queued
// (arpWork.push) and the sender takes it between probes: the host gets a hop marked
// late, and the sender probes every port of it at once (its "catch-up", in an order
// of its own), round robin with the other late hosts, before it goes on with the
// permutation. In the first pass the permutation skips the targets of late hosts,
// so each target is sent exactly once; later passes (retries) treat every host with
// a MAC alike. The first pass ends when the permutation is done, resolution has
// ended (every address answered or its last ARP retry timed out) and every catch-up
// is sent; the addresses that never answered are then counted down, never probed.
//
// The receiver accepts a reply from a late host only for a probe the link has taken:
// each late hop publishes, at every flush, how many of its targets (in its
// catch-up order) left, and when the latest of them did, which also gives round-trip
// samples for the cool-down.

// hopChunk is how many hops one allocation of the hop table holds.
const hopChunk = 256

// hop is the next hop of one on-link address.
type hop struct {
	mac  [6]byte
	late bool   // its MAC came from ARP while the scan ran: the catch-up probes it
	ip   uint32 // its address

	// Late hops only. host is the address's target index and rot the start of its
	// catch-up order; next (the catch-up cursor), published, pending and touched
	// are the sender's.
	host      uint64
	rot       uint64
	next      uint64
	published uint64
	pending   uint64
	touched   bool
	// sent: targets of the catch-up order the link has taken (low 32 bits) and as
	// many at the flush before (high 32 bits); nanos: when the latest flush that
	// carried some of them began. Written by the sender, read by the receiver.
	sent  atomic.Uint64
	nanos atomic.Int64
}

// hopTable holds hops in chunks allocated as needed, so that a hop never moves
// and the table of a wide on-link range costs memory only for hosts that answer.
// One goroutine adds hops; get may run on others for ids published after add.
type hopTable struct {
	chunks []*[hopChunk]hop
	n      uint32
}

func newHopTable(capacity int) hopTable {
	return hopTable{chunks: make([]*[hopChunk]hop, (capacity+hopChunk-1)/hopChunk)}
}

// add returns a new hop and its id (from 1).
func (t *hopTable) add() (uint32, *hop) {
	i := t.n
	c := i / hopChunk
	if t.chunks[c] == nil {
		t.chunks[c] = new([hopChunk]hop)
	}
	t.n++
	return i + 1, &t.chunks[c][i%hopChunk]
}

// get returns the hop with id (from 1).
func (t *hopTable) get(id uint32) *hop {
	i := id - 1
	return &t.chunks[i/hopChunk][i%hopChunk]
}

// arpFound is a MAC found for an on-link address.
type arpFound struct {
	ip  uint32
	mac [6]byte
}

// arpWork is the on-link resolution of a scan and the sender's catch-up state.
type arpWork struct {
	todo []netip.Addr // addresses to ask by ARP
	opts route.ARPOptions

	mu     sync.Mutex
	found  []arpFound  // found and not yet taken by the sender
	more   atomic.Bool // found is not empty
	signal chan struct{}
	done   chan struct{} // closed when resolution has ended
	missed uint64        // addresses of todo without a MAC; set before done closes
	stats  route.ARPStats

	// The sender's.
	spare  []arpFound
	active []*hop       // late hops with catch-up targets left, served round robin
	batch  []lateFrame  // catch-up frames of the link's pending batch
	dirty  []*hop       // hops with frames in the flushed batch
	ended  bool         // resolution ended and its misses were counted down
	order  portOrderKey // the catch-up order
}

// lateFrame is a catch-up frame in the pending batch: the hop's cursor after it.
type lateFrame struct {
	h    *hop
	next uint64
}

// push queues a MAC found (resolver goroutine).
func (w *arpWork) push(f arpFound) {
	w.mu.Lock()
	w.found = append(w.found, f)
	w.more.Store(true)
	w.mu.Unlock()
	select {
	case w.signal <- struct{}{}:
	default:
	}
}

// resolveOnLink runs the on-link ARP resolution until it ends or ctx does, then
// closes the ARP conn. A cancelled resolution is not an error: the sender stops
// for the same reason.
func (s *Scanner) resolveOnLink(ctx context.Context) error {
	w := s.plan.arp
	var found uint64
	stats, err := route.ResolveARP(ctx, s.plan.arpConn, w.todo, w.opts, func(ip netip.Addr, mac [6]byte) {
		found++
		w.push(arpFound{ip: addrToUint32(ip), mac: mac})
	})
	w.stats = stats
	w.missed = uint64(len(w.todo)) - found
	close(w.done) // before the socket's close, which waits for the kernel (RCU)
	cerr := s.plan.closeARP()
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("resolving on-link targets on %s: %w", s.plan.iface.Name, err)
	}
	if cerr != nil {
		return fmt.Errorf("closing the ARP socket: %w", cerr)
	}
	return nil
}

// lateWork is the catch-up of pass, nil when it has none: only the scan's first
// pass has late hosts to catch up.
func (s *Scanner) lateWork(pass int) *arpWork {
	if pass != s.firstPass || s.plan.arp == nil {
		return nil
	}
	return s.plan.arp
}

// sendHop is the next hop of the sender's permutation loop for ip in pass, and
// whether to probe it there; deferred says that the address is left to the
// catch-up (a late host, or an on-link address ARP is still resolving, in the
// first pass), not down.
func (s *Scanner) sendHop(a netip.Addr, pass int) (mac *[6]byte, up, deferred bool) {
	if !a.Is4() {
		if s.plan.six == nil {
			return nil, false, false
		}
		mac, up = s.plan.six.nextHop(a)
		return mac, up, false
	}
	ip := addrToUint32(a)
	if h := s.plan.hop(ip); h != nil {
		if h.late && pass == s.firstPass {
			return nil, false, true
		}
		return &h.mac, true, false
	}
	mac, up = s.plan.nextHop(ip)
	if !up && pass == s.firstPass && s.plan.arp != nil && s.plan.onLink(ip) {
		deferred = true
	}
	return mac, up, deferred
}

// putFunc writes the probe of target idx (scan order position tpos, to ip via mac)
// into the link's batch; before and after are the permutation positions the batch
// has reached before and after it (flush bookkeeping); h is the late hop it catches
// up, or nil.
type putFunc func(idx, tpos, before, after uint64, ip netip.Addr, mac *[6]byte, h *hop) error

// sendLate sends the catch-up probes of the late hosts found so far, round robin,
// with the permutation loop at pos; with wait (the end of the first pass) it goes
// on until resolution has ended and every catch-up is sent, flushing the batch
// before it waits for more MACs. skip tells targets not to probe (answered).
func (s *Scanner) sendLate(ctx context.Context, w *arpWork, pos uint64, wait bool, skip func(idx uint64) bool, put putFunc, flush func() error) error {
	for {
		ended := false
		select {
		case <-w.done:
			ended = true // everything it found is queued: take it below
		default:
		}
		s.takeFound(w)
		if len(w.active) == 0 {
			if ended {
				if !w.ended {
					w.ended = true
					s.plan.hostsDown.Add(w.missed)
				}
				return nil
			}
			if !wait {
				return nil
			}
			if err := flush(); err != nil {
				return err
			}
			select {
			case <-w.signal:
			case <-w.done:
			case <-ctx.Done():
				return ctx.Err()
			}
			continue
		}
		// One round: a probe to each active host.
		for i := 0; i < len(w.active); {
			h := w.active[i]
			if h.next >= s.nports {
				w.active[i] = w.active[len(w.active)-1]
				w.active = w.active[:len(w.active)-1]
				continue
			}
			i++
			idx := h.host*s.nports + w.order.port(h, h.next)
			h.next++
			if skip(idx) {
				continue
			}
			if err := put(idx, s.perm.Inverse(idx), pos, pos, uint32ToAddr(h.ip), &h.mac, h); err != nil {
				return err
			}
		}
	}
}

// takeFound turns the MACs the resolver found into late hops with a catch-up
// to send.
func (s *Scanner) takeFound(w *arpWork) {
	if !w.more.Load() {
		return
	}
	w.mu.Lock()
	found := w.found
	w.found = w.spare[:0]
	w.more.Store(false)
	w.mu.Unlock()
	for _, f := range found {
		if s.plan.hop(f.ip) != nil {
			continue
		}
		host, ok := s.cfg.Targets.Index(uint32ToAddr(f.ip))
		if !ok {
			continue
		}
		h := s.plan.setHop(f.ip, f.mac, true, func(h *hop) { h.host, h.rot = host, host%s.nports })
		w.active = append(w.active, h)
	}
	w.spare = found[:0]
}

// committed records a catch-up frame put into the pending batch.
func (w *arpWork) committed(h *hop) {
	w.batch = append(w.batch, lateFrame{h: h, next: h.next})
}

// flushing publishes the catch-up frames of the batch about to be flushed (at
// nanos) to the receiver: like the first pass's sentPos, before the frames leave,
// since on veth or loopback a reply can arrive while the send call still runs. A
// flush that fails part way stops the scan. w may be nil.
func (w *arpWork) flushing(nanos int64) {
	if w == nil || len(w.batch) == 0 {
		return
	}
	for _, f := range w.batch {
		if !f.h.touched {
			f.h.touched = true
			w.dirty = append(w.dirty, f.h)
		}
		f.h.pending = f.next
	}
	for _, h := range w.dirty {
		h.nanos.Store(nanos)
		h.sent.Store(h.published<<32 | h.pending)
		h.published = h.pending
		h.touched = false
	}
	w.dirty = w.dirty[:0]
	w.batch = w.batch[:0]
}

// lateLeft reports whether the probe of target idx of the late hop h has been
// handed to the link (receiver).
func (s *Scanner) lateLeft(h *hop, idx uint64) bool {
	return s.plan.arp.order.index(h, idx%s.nports) < h.sent.Load()&0xffffffff
}

// lateSentAt returns when the probe of target idx of the late hop h left, if it
// left in the latest flush that carried probes of h (receiver).
func (s *Scanner) lateSentAt(h *hop, idx uint64) (int64, bool) {
	nanos := h.nanos.Load()
	sent := h.sent.Load()
	i := s.plan.arp.order.index(h, idx%s.nports)
	return nanos, i >= sent>>32 && i < sent&0xffffffff
}

// portOrderKey is the catch-up order: host h's i-th probe is to port index
// (perm(i) + rot) mod nports, so hosts caught up together do not all get the same
// port at the same time.
type portOrderKey struct{ perm permute.Permutation }

// port is the port index of h's i-th catch-up probe.
func (k *portOrderKey) port(h *hop, i uint64) uint64 {
	return (k.perm.At(i) + h.rot) % k.perm.Len()
}

// index is the position of port index pi in h's catch-up order.
func (k *portOrderKey) index(h *hop, pi uint64) uint64 {
	n := k.perm.Len()
	return k.perm.Inverse((pi + n - h.rot) % n)
}

package route

import (
	"context"
	"fmt"
	"math/bits"
	"net/netip"
	"time"

	"github.com/fastscan/fastscan/packet"
)

// ARPConn is a link that carries ARP frames: the resolver's only contact with the
// network and with time, so that its logic runs in tests without root (see
// link/linktest's ARP network, whose clock may be virtual). OpenARP returns the
// real one. An ARPConn is used by one goroutine at a time.
type ARPConn interface {
	// Send transmits one Ethernet frame (an ARP request).
	Send(frame []byte) error
	// Receive waits up to timeout for frames and calls fn for each ARP frame that
	// arrived (fn must not keep frame); it returns after the first frames or when
	// timeout has passed on the conn's clock.
	Receive(timeout time.Duration, fn func(frame []byte)) error
	// Now is the conn's clock: round trips and timeouts are measured on it.
	Now() time.Time
	// Neighbors returns the IPv4 neighbours the link already knows (the kernel's
	// neighbour table), with a usable MAC address.
	Neighbors() (map[netip.Addr][6]byte, error)
	// Close releases the conn.
	Close() error
}

// Defaults of ARPOptions fields left zero.
const (
	// DefaultARPRetries is how many more requests an address that did not answer
	// gets: three in all, as the Linux kernel sends (mcast_solicit).
	DefaultARPRetries = 2
	// DefaultARPMinTimeout is the floor of the adaptive timeout: a host that is busy
	// or asleep may answer tens of milliseconds late, however fast the others are.
	// With two retries whose timeouts double, an address is listened to for 7x the
	// timeout after its first request (140 ms at the floor).
	DefaultARPMinTimeout = 20 * time.Millisecond
	// DefaultARPMaxTimeout is the ceiling of the timeout of one request.
	DefaultARPMaxTimeout = 500 * time.Millisecond
	// DefaultARPInitialTimeout is the timeout of requests sent before any round
	// trip was measured (an empty subnet never gives one).
	DefaultARPInitialTimeout = 100 * time.Millisecond
)

// arpBurst bounds the requests sent at once to catch up with the rate after a wait
// longer than the request interval (the receive poll's granularity).
const arpBurst = 2 * time.Millisecond

// arpPollMax bounds one wait for replies, so that the context is checked often.
const arpPollMax = 50 * time.Millisecond

// ARPOptions set how ResolveARP asks (and ResolveNDP: NDPOptions is the same
// type).
type ARPOptions struct {
	// SrcMAC and SrcIP are the requests' sender addresses: SrcIP is IPv4 for
	// ResolveARP, IPv6 for ResolveNDP (a global or link-local address of the
	// interface).
	SrcMAC [6]byte
	SrcIP  netip.Addr
	// Rate bounds the requests per second (<= 0: no bound).
	Rate int
	// Retries is how many more requests an address that has not answered gets;
	// 0 is DefaultARPRetries, a negative value none.
	Retries int
	// MinTimeout and MaxTimeout bound the timeout after a first request; each retry
	// doubles it (still at most MaxTimeout). InitialTimeout is the timeout while no
	// round trip has been measured (within the same bounds). Zero takes the defaults.
	MinTimeout, MaxTimeout, InitialTimeout time.Duration
}

func (o *ARPOptions) setDefaults() {
	switch {
	case o.Retries == 0:
		o.Retries = DefaultARPRetries
	case o.Retries < 0:
		o.Retries = 0
	}
	if o.MinTimeout <= 0 {
		o.MinTimeout = DefaultARPMinTimeout
	}
	if o.MaxTimeout <= 0 {
		o.MaxTimeout = DefaultARPMaxTimeout
	}
	o.MinTimeout = min(o.MinTimeout, o.MaxTimeout)
	if o.InitialTimeout <= 0 {
		o.InitialTimeout = DefaultARPInitialTimeout
	}
	o.InitialTimeout = min(max(o.InitialTimeout, o.MinTimeout), o.MaxTimeout)
}

// ARPStats is what one ResolveARP did.
type ARPStats struct {
	// Requests counts the requests sent, Found the addresses that answered, Silent
	// those given up after their last request's timeout.
	Requests, Found, Silent int
	// Samples counts the round trips measured (answers to an address's first
	// request only: an answer after a retry could belong to either request);
	// MedianRTT and MaxRTT summarise them.
	Samples           int
	MedianRTT, MaxRTT time.Duration
	// Timeout is the timeout of a first request when the resolution ended.
	Timeout time.Duration
	// Elapsed is the time from the first request to the end, on the conn's clock.
	Elapsed time.Duration
}

// ResolveARP finds the MAC addresses of ips (IPv4; others are ignored) by
// broadcasting ARP requests on c at most o.Rate per second, and calls found, from
// the calling goroutine, as soon as each address's first reply arrives, so that
// the caller can use it while the others are still being resolved.
//
// An address that has not answered when its request's timeout passes is asked
// again, up to o.Retries times; the timeout adapts to the round trips measured:
// max(4 x median, 2 x maximum) of them, within [o.MinTimeout, o.MaxTimeout],
// doubled on each retry. ResolveARP returns when every address has answered or
// its last request's timeout has passed. It does not look at c.Neighbors: the
// caller leaves out the addresses it knows. When ctx ends first, it returns the
// stats so far and ctx's error.
func ResolveARP(ctx context.Context, c ARPConn, ips []netip.Addr, o ARPOptions, found func(ip netip.Addr, mac [6]byte)) (ARPStats, error) {
	src := addrToUint32(o.SrcIP)
	p := solicitProto{
		name:     "ARP",
		frameLen: packet.ARPFrameLen,
		wants:    netip.Addr.Is4,
		put: func(frame []byte, target netip.Addr) int {
			return packet.PutARPRequest(frame, o.SrcMAC, src, addrToUint32(target))
		},
		parse: func(frame []byte) (netip.Addr, [6]byte, bool) {
			ip, mac, ok := packet.ParseARPReply(frame)
			return uint32ToAddr(ip), mac, ok
		},
	}
	if !o.SrcIP.Is4() {
		p.err = fmt.Errorf("route: ARP from %v: only IPv4 is supported", o.SrcIP)
	}
	return solicit(ctx, c, ips, o, p, found)
}

// solicitProto is what ResolveARP and ResolveNDP do differently: the
// addresses they resolve, the request they send and the reply they read.
type solicitProto struct {
	name     string                                   // "ARP" or "NDP", for errors
	frameLen int                                      // the largest request
	wants    func(netip.Addr) bool                    // the addresses of the protocol's family
	err      error                                    // a bad option: returned when there is something to resolve
	put      func([]byte, netip.Addr) int             // the request for target into frame: its length
	parse    func([]byte) (netip.Addr, [6]byte, bool) // a reply: the address it resolves and its MAC
}

// solicit is ResolveARP and ResolveNDP: the pipelined requests with adaptive
// timeouts and retries, for protocol p.
func solicit(ctx context.Context, c ARPConn, ips []netip.Addr, o ARPOptions, p solicitProto, found func(ip netip.Addr, mac [6]byte)) (ARPStats, error) {
	o.setDefaults()
	r := &arpResolver{c: c, o: o, p: p, found: found, index: make(map[netip.Addr]int, len(ips))}
	for _, ip := range ips {
		ip = ip.WithZone("")
		if !p.wants(ip) {
			continue
		}
		if _, dup := r.index[ip]; dup {
			continue
		}
		r.index[ip] = len(r.entries)
		r.entries = append(r.entries, arpEntry{ip: ip})
	}
	if len(r.entries) == 0 {
		return ARPStats{}, nil
	}
	if p.err != nil {
		return ARPStats{}, p.err
	}
	r.waiting = make([][]int, o.Retries+1)
	start := c.Now()
	err := r.run(ctx)
	r.stats.Samples = int(r.rtt.n)
	r.stats.MedianRTT, r.stats.MaxRTT = r.rtt.median(), r.rtt.max
	r.stats.Timeout = r.timeout(0)
	r.stats.Elapsed = c.Now().Sub(start)
	return r.stats, err
}

// arpEntry is one address being resolved.
type arpEntry struct {
	ip    netip.Addr
	tries int       // requests sent
	sent  time.Time // when the latest went out
	done  bool      // answered, or given up
}

// arpResolver is the state of one ResolveARP.
type arpResolver struct {
	c     ARPConn
	o     ARPOptions
	p     solicitProto
	found func(netip.Addr, [6]byte)

	entries []arpEntry
	index   map[netip.Addr]int // address -> entries index
	fresh   int                // entries below have had their first request
	// waiting[k] holds, in send order, the entries whose latest request is their
	// (k+1)-th: with one timeout per k, the first is the next to expire. Entries
	// answered meanwhile are dropped when they reach the front.
	waiting [][]int
	retry   []int // entries whose timeout passed, waiting for the rate to ask again
	rtt     rttHistogram
	stats   ARPStats
}

// run is ResolveARP's loop: send what the rate allows (retries first), give up
// what timed out for the last time, wait for replies until the next event.
func (r *arpResolver) run(ctx context.Context) error {
	var interval time.Duration
	if r.o.Rate > 0 {
		interval = time.Second / time.Duration(r.o.Rate)
	}
	frame := make([]byte, r.p.frameLen)
	nextSend := r.c.Now()
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("route: %s: %w", r.p.name, err)
		}
		now := r.c.Now()
		r.expire(now)
		for (len(r.retry) > 0 || r.fresh < len(r.entries)) && !now.Before(nextSend) {
			var i int
			if len(r.retry) > 0 { // late ones first: their timing is already running
				i, r.retry = r.retry[0], r.retry[1:]
			} else {
				i = r.fresh
				r.fresh++
			}
			e := &r.entries[i]
			n := r.p.put(frame, e.ip)
			if err := r.c.Send(frame[:n]); err != nil {
				return fmt.Errorf("route: %s request for %v: %w", r.p.name, e.ip, err)
			}
			r.stats.Requests++
			e.tries++
			e.sent = now
			r.waiting[e.tries-1] = append(r.waiting[e.tries-1], i)
			if interval > 0 {
				if floor := now.Add(-arpBurst); nextSend.Before(floor) {
					nextSend = floor
				}
				nextSend = nextSend.Add(interval)
			}
		}
		wait := arpPollMax
		if len(r.retry) > 0 || r.fresh < len(r.entries) {
			wait = min(wait, nextSend.Sub(now))
		} else if len(r.waitingAny()) == 0 {
			return nil // every address answered or was given up
		}
		if d, ok := r.nextDeadline(); ok {
			wait = min(wait, d.Sub(now))
		}
		if err := r.c.Receive(max(wait, 0), r.reply); err != nil {
			return fmt.Errorf("route: %s replies: %w", r.p.name, err)
		}
	}
}

// reply takes one received frame.
func (r *arpResolver) reply(frame []byte) {
	ip, mac, ok := r.p.parse(frame)
	if !ok {
		return
	}
	i, ok := r.index[ip]
	if !ok {
		return
	}
	e := &r.entries[i]
	if e.done || e.tries == 0 {
		return
	}
	e.done = true
	r.stats.Found++
	if e.tries == 1 {
		r.rtt.add(r.c.Now().Sub(e.sent))
	}
	r.found(e.ip, mac)
}

// timeout is the timeout of an address's (k+1)-th request.
func (r *arpResolver) timeout(k int) time.Duration {
	base := r.o.InitialTimeout
	if r.rtt.n > 0 {
		base = max(4*r.rtt.median(), 2*r.rtt.max)
	}
	base = min(max(base, r.o.MinTimeout), r.o.MaxTimeout)
	if k > 0 {
		if k >= 32 || base > r.o.MaxTimeout>>k {
			return r.o.MaxTimeout
		}
		base <<= k
	}
	return min(base, r.o.MaxTimeout)
}

// expire moves the entries whose latest request timed out by now to the retry
// queue, or gives them up after their last request.
func (r *arpResolver) expire(now time.Time) {
	for k := range r.waiting {
		q := r.waiting[k]
		t := r.timeout(k)
		for len(q) > 0 {
			e := &r.entries[q[0]]
			if !e.done && now.Sub(e.sent) < t {
				break
			}
			if !e.done {
				if k == r.o.Retries {
					e.done = true
					r.stats.Silent++
				} else {
					r.retry = append(r.retry, q[0])
				}
			}
			q = q[1:]
		}
		r.waiting[k] = q
	}
}

// waitingAny returns a waiting queue that is not empty, or nil.
func (r *arpResolver) waitingAny() []int {
	for _, q := range r.waiting {
		if len(q) > 0 {
			return q
		}
	}
	return nil
}

// nextDeadline is the earliest time a waiting request times out.
func (r *arpResolver) nextDeadline() (time.Time, bool) {
	var d time.Time
	ok := false
	for k, q := range r.waiting {
		for _, i := range q {
			if e := &r.entries[i]; !e.done {
				if t := e.sent.Add(r.timeout(k)); !ok || t.Before(d) {
					d, ok = t, true
				}
				break
			}
		}
	}
	return d, ok
}

// rttHistogram keeps round-trip times in buckets a quarter of a binary order of
// magnitude wide (19%), from 1 µs: the median to that precision in O(1) memory.
type rttHistogram struct {
	buckets [rttBuckets]uint32
	n       uint32
	max     time.Duration
}

// rttBuckets covers 1 µs to about 2^24 µs (17 s); longer round trips share the last.
const rttBuckets = 96

func (h *rttHistogram) add(d time.Duration) {
	d = max(d, 0)
	h.buckets[rttBucket(d)]++
	h.n++
	h.max = max(h.max, d)
}

// rttBucket is the bucket of d: floor(4 log2(d / 1µs)), within [0, rttBuckets).
func rttBucket(d time.Duration) int {
	us := uint64(d / time.Microsecond)
	if us < 1 {
		return 0
	}
	// 4 log2(us) = 4 (msb + log2(mantissa)): the two bits below the top one pick
	// the quarter (an approximation of the fractional part good to a bucket).
	msb := bits.Len64(us) - 1
	frac := 0
	if msb >= 2 {
		frac = int(us>>(msb-2)) & 3
	} else if msb == 1 {
		frac = int(us&1) << 1
	}
	return min(4*msb+frac, rttBuckets-1)
}

// rttBucketTop is the largest duration bucket b holds (about).
func rttBucketTop(b int) time.Duration {
	msb, frac := b/4, b%4
	// The bucket holds us in [2^msb (1 + frac/4), 2^msb (1 + (frac+1)/4)).
	us := (uint64(1) << msb) * uint64(4+frac+1) / 4
	return time.Duration(us) * time.Microsecond
}

// median returns about the median sample (the top of its bucket, never above the
// largest sample); 0 without samples.
func (h *rttHistogram) median() time.Duration {
	if h.n == 0 {
		return 0
	}
	half := (h.n + 1) / 2
	var seen uint32
	for b, c := range h.buckets {
		if seen += c; seen >= half {
			return min(rttBucketTop(b), h.max)
		}
	}
	return h.max
}

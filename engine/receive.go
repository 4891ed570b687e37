package engine

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/fastscan/fastscan/link"
	"github.com/fastscan/fastscan/packet"
	"github.com/fastscan/fastscan/result"
)

const (
	// pollTimeout bounds how long the receiver blocks, so it notices the end of a scan.
	pollTimeout = 5 * time.Millisecond
	// lingerPollTimeout is pollTimeout while Config.Linger runs: the scan has
	// ended but for late replies, which need no haste, and fewer wake-ups
	// leave more of a shared CPU to the servers -sV talks to meanwhile.
	lingerPollTimeout = 50 * time.Millisecond
	// statsInterval is how often the receiver reads the link's drop counter for Progress.
	statsInterval = 250 * time.Millisecond
	// receiveHoldBack bounds how long a link may hold a received frame before
	// Poll hands it over (a ring block's timeout, a few milliseconds).
	receiveHoldBack = 100 * time.Millisecond
	// ethernetHeaderLen is the link-layer header every probe frame starts with.
	ethernetHeaderLen = 14
)

// receive polls the link until sent is closed, then looks once more for replies
// already received; it stops at once when abort is closed (another part of the
// scan failed).
func (s *Scanner) receive(lk link.Link, sent, abort <-chan struct{}) error {
	// got and lastTs: whether a Poll handed over frames, and the newest one's
	// time: the frames come in the order the link received them, so every frame
	// received before it has been handled (DeliveredUntil).
	var (
		got    bool
		lastTs int64
	)
	handle := func(frame []byte, tsNanos int64) {
		s.handle(frame, tsNanos)
		got, lastTs = true, tsNanos
	}
	nextStats := time.Now()
	for {
		select {
		case <-abort:
			return nil
		case <-sent:
			// One last look for replies already received.
			if err := lk.Poll(0, handle); err != nil {
				return fmt.Errorf("receiving replies: %w", err)
			}
			return nil
		default:
		}
		polled := time.Now().UnixNano()
		got = false
		timeout := pollTimeout
		if s.lingering.Load() {
			timeout = lingerPollTimeout
		}
		if err := lk.Poll(timeout, handle); err != nil {
			return fmt.Errorf("receiving replies: %w", err)
		}
		if !got {
			// Nothing was waiting: every frame received before the poll (less
			// what a ring may still hold in a block not yet handed over) is handled.
			lastTs = polled - int64(receiveHoldBack)
		}
		if lastTs > s.handledUntil.Load() {
			s.handledUntil.Store(lastTs)
		}
		if now := time.Now(); now.After(nextStats) {
			if _, drops, err := lk.Stats(); err == nil {
				s.ringDrops.Store(drops)
			}
			nextStats = now.Add(statsInterval)
		}
	}
}

// handle validates one received frame and turns a valid first answer into a verdict.
// It runs on the receiver goroutine and allocates nothing.
func (s *Scanner) handle(frame []byte, tsNanos int64) {
	r := &s.reply // not a local: it would escape to the heap through Classify
	if !packet.ParseReplyAny(frame, r) {
		return
	}
	if r.LocalPort < s.cfg.SourcePortLo || r.LocalPort > s.cfg.SourcePortHi {
		return
	}
	if r.IPv6 {
		if s.plan.six == nil || r.Local6 != s.src6 {
			return
		}
	} else if r.LocalIP != s.plan.srcIP {
		return
	}
	target := r.TargetAddr()
	host, ok := s.cfg.Targets.Index(target)
	if !ok {
		return
	}
	g := s.byProto[r.Proto]
	if g == nil {
		return
	}
	pi, ok := g.ports.Index(r.TargetPort)
	if !ok {
		return
	}
	state, reason, class := g.probe.Classify(r, frame, pi)
	switch class {
	case ReplyInvalid:
		s.invalid.Add(1)
		return
	case ReplyIgnored:
		return
	}
	idx := host*s.nports + g.offset + uint64(pi)
	p := s.perm.Inverse(idx)
	k, ours := s.dom.local(p)
	if !ours {
		// Another shard's target: the shards of a scan on one machine all see
		// every reply. Not ours to report, and no forgery either.
		return
	}
	j, m := s.dom.owner(k)
	pair := pairNone
	if s.probeLeft(idx, target, j, m) {
		pair = s.samplePair(g, r, pi, p, j, m)
	} else {
		pair = pairUnsent
	}
	if pair == pairUnsent {
		// An answer to a probe we never sent (a forgery, or a stray datagram that
		// passed a weak check; a loss sample's second probe not sent yet): no
		// result may come of it.
		s.invalid.Add(1)
		return
	}
	if s.cfg.Capture != nil {
		s.cfg.Capture(frame, tsNanos)
	}
	s.replies.Add(1)
	s.lastReply.Store(tsNanos)
	if r.FromTarget() {
		s.hosts.answered(host, reason)
	}
	if !s.table.Mark(idx) {
		if pair == pairBoth {
			// The loss sample's other probe answered too: no new result, and
			// no noise either.
			s.secondAnswers.Add(1)
		} else {
			s.duplicates.Add(1)
		}
		return
	}
	s.answered.Add(1)
	g.answered.Add(1)
	s.sampleRTT(j, m, idx, r.TargetIP, tsNanos)
	switch state {
	case result.Open:
		s.open.Add(1)
		if g == s.tcp && s.opens != nil {
			s.opens.Mark(idx) // first verdicts only: rare next to resets and silence
		}
	case result.Closed:
		s.closed.Add(1)
	case result.Filtered:
		s.filtered.Add(1)
	}
	if !s.cfg.Show.Has(state) {
		if s.hidden != nil {
			s.hidden.Mark(idx)
		}
		if s.cfg.Hidden != nil {
			s.cfg.Hidden(result.Result{
				IP: target, Port: r.TargetPort, Proto: g.probe.Proto(),
				State: state, Reason: reason, TTL: r.TTL, TimeNanos: tsNanos,
				SourceIP: r.LocalAddr(), SourcePort: r.LocalPort,
			})
		}
		return
	}
	res := result.Result{
		IP: target, Port: r.TargetPort, Proto: g.probe.Proto(),
		State: state, Reason: reason, TTL: r.TTL, TimeNanos: tsNanos,
		SourceIP: r.LocalAddr(), SourcePort: r.LocalPort,
	}
	select {
	case s.results <- res:
		s.pushed.Add(1)
	case <-s.abort:
	}
}

// DeliveredUntil is a time (Unix nanoseconds, the clock of reply timestamps)
// before which every frame the link received has been handled and every result
// of it handed to Run's emit and returned from it: a checkpoint taken after
// emit's writes may count as answered every target whose reply could have
// arrived before it. It lags behind when the receiver or the collector does.
// 0 before the first poll.
func (s *Scanner) DeliveredUntil() int64 {
	until := s.handledUntil.Load()
	if s.pushed.Load() != s.delivered.Load() {
		// Results wait for emit: it has returned from those up to the last
		// one's reply time (they are queued in reply order).
		until = min(until, s.deliveredTs.Load())
	}
	return until
}

// EachHidden calls fn with the index (TargetIndex) of every target answered so far
// whose verdict Show hid, when Config.TrackHidden is set. It may run while the scan
// does: a target marked during the call may or may not be seen.
func (s *Scanner) EachHidden(fn func(idx uint64)) {
	if s.hidden != nil {
		s.hidden.Each(fn)
	}
}

// probeLeft reports whether the probe of target idx (to ip, sender j's own
// position m) was handed to the link: its host is probed at all, and the first
// pass has reached the position in that sender (later passes only follow a
// complete first pass); a late on-link host's, whether the catch-up sent it.
func (s *Scanner) probeLeft(idx uint64, a netip.Addr, j int, m uint64) bool {
	if !a.Is4() {
		if _, up, _ := s.sendHop(a, 0); !up {
			return false
		}
		return s.allLeft.Load() || m < s.senders[j].left.Load()
	}
	ip := addrToUint32(a)
	if h := s.plan.hop(ip); h != nil && h.late {
		return s.lateLeft(h, idx) // on-link, probed by the catch-up (onlink.go)
	}
	if _, up := s.plan.nextHop(ip); !up {
		return false
	}
	return s.allLeft.Load() || m < s.senders[j].left.Load()
}

package engine

import (
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/fastscan/fastscan/link"
	"github.com/fastscan/fastscan/result"
	"github.com/fastscan/fastscan/route"
)

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
	// HostsProbed counts the addresses at least one probe was sent to (of an
	// interrupted scan, only those reached before it stopped), and HostsUp those
	// of them that answered at least one probe themselves: a SYN-ACK, a reset, a UDP
	// reply or an ICMP error sent by the host itself. An ICMP error from a router
	// does not make a host up.
	HostsProbed, HostsUp uint64
	// OpenEverywhere lists the hosts that answered SYN-ACK on at least
	// result.OpenEverywherePercent of at least result.OpenEverywhereMinPorts TCP
	// ports with a verdict (result.IsOpenEverywhere: a SYN proxy or tarpit, most
	// likely), in ascending address order. A complete scan counts every TCP port
	// of a probed host; an interrupted scan or a replay only the ports a reply
	// decided. Scanner.OpenEverywhere looks one up.
	OpenEverywhere []result.OpenEverywhere
	// Duplicates counts valid replies for targets already decided, but for
	// SecondAnswers.
	Duplicates uint64
	// SecondAnswers counts the answers of loss samples' second probes to
	// targets their first probe's answer had decided (or the other way round):
	// expected, not noise, and never a second result (Config.EstimateLoss).
	SecondAnswers uint64
	// RateChanges are the changes Config.Adaptive made to the rate, oldest first.
	RateChanges []RateChange
	// RingPackets counts the packets the link's receive side accepted.
	RingPackets uint64
	// DropPasses counts the retry passes added because the receive ring dropped
	// replies (at most MaxDropPasses).
	DropPasses int
	// Interface and SourceIP say where the probes came from: SourceIP is the
	// IPv4 source (the IPv6 one when every target is IPv6), SourceIP6 the IPv6
	// source of a scan of both families.
	Interface string
	SourceIP  netip.Addr
	SourceIP6 netip.Addr
	// ARP is what the on-link ARP resolution that ran beside the sender did (zero
	// when there was none: no on-link target, or every MAC in the neighbour table).
	ARP route.ARPStats
	// CoolDown is the time spent waiting for replies after the passes: it ends as
	// soon as every target has answered, or after a retransmission timeout of
	// silence sized by the round trips seen, and is at most Wait per pass.
	CoolDown time.Duration
	// Linger is the time Config.Linger kept the receiver running after the
	// last pass (part of Elapsed).
	Linger time.Duration
}

// finish sets the final phase (PhaseDone, PhaseInterrupted or PhaseFailed) and
// returns the summary of the scan so far; lk, if not nil, is read for its final
// receive counters.
func (s *Scanner) finish(phase Phase, lk link.Link) Summary {
	s.setPhase(phase)
	interrupted := phase == PhaseInterrupted
	sum := Summary{
		Progress:      s.Progress(),
		Interrupted:   interrupted,
		Duplicates:    s.duplicates.Load(),
		SecondAnswers: s.secondAnswers.Load(),
		RateChanges:   s.RateChanges(),
		CoolDown:      time.Duration(s.coolDownNanos.Load()),
		Linger:        time.Duration(s.lingerNanos.Load()),
		HostsUp:       s.hosts.upCount.Load(),
		DropPasses:    int(s.dropPasses.Load()),
	}
	if lk != nil {
		sum.RingPackets, sum.RingDrops, _ = lk.Stats()
		s.ringDrops.Store(sum.RingDrops)
	}
	if s.plan == nil {
		return sum
	}
	sum.HostsDown = s.plan.hostsDown.Load()
	if phase != PhaseFailed {
		flagged := s.openEverywhere(phase == PhaseDone && lk != nil)
		s.flagged.Store(&flagged)
		sum.OpenEverywhere = flagged
	}
	if w := s.plan.arp; w != nil && lk != nil {
		select {
		case <-w.done: // the stats are written before done closes
			sum.ARP = w.stats
		default:
		}
	}
	sum.Interface = s.plan.iface.Name
	sum.SourceIP = uint32ToAddr(s.plan.srcIP)
	if s.plan.six != nil {
		if s.plan.srcIP == 0 {
			sum.SourceIP = s.plan.six.srcIP
		} else {
			sum.SourceIP6 = s.plan.six.srcIP
		}
	}
	for _, sd := range s.senders {
		sum.HostsProbed += sd.probed
	}
	if phase == PhaseDone && lk != nil {
		for _, g := range s.groups {
			silent := s.silent(g)
			if st, _ := g.probe.Silence(); st == result.OpenFiltered {
				sum.OpenFiltered += silent
			} else {
				sum.NoResponse += silent
			}
		}
	}
	return sum
}

// silent counts the probed targets of group g that never answered. A shard
// counts its own: it walks its positions (as a send pass does, without sending).
func (s *Scanner) silent(g *portGroup) uint64 {
	if s.dom.shards <= 1 {
		hosts := s.cfg.Targets.Len() - s.plan.hostsDown.Load()
		return hosts*uint64(g.ports.Len()) - g.answered.Load()
	}
	var n uint64
	s.eachSilent(func(_ uint64, h *portGroup) bool {
		if h == g {
			n++
		}
		return true
	})
	return n
}

// eachSilent calls fn with every probed target of the scan (of a shard: of its
// share) that never answered, and its group, until fn returns false: in index
// order for a whole scan, in the shard's position order for a shard.
func (s *Scanner) eachSilent(fn func(idx uint64, g *portGroup) bool) {
	visit := func(idx uint64) bool {
		ip := s.cfg.Targets.At(idx / s.nports)
		if _, up, _ := s.sendHop(ip, -1); !up { // -1: no pass, no catch-up
			return true
		}
		return fn(idx, s.groupOf(idx%s.nports))
	}
	if s.dom.shards <= 1 {
		s.table.Unanswered(visit)
		return
	}
	d := &s.dom
	for k := uint64(0); k < d.n; k++ {
		idx := s.perm.At(d.global(k))
		if !s.table.Answered(idx) && !visit(idx) {
			return
		}
	}
}

// HostStatus tells whether the address a answered at least one probe itself, and
// the reason of its first such answer. It is meant for after Run or Replay.
func (s *Scanner) HostStatus(a netip.Addr) (reason result.Reason, up bool) {
	host, ok := s.cfg.Targets.Index(a)
	if !ok {
		return 0, false
	}
	return s.hosts.status(host)
}

// emitSilence hands the caller a verdict for every probed target that never
// answered, if cfg.Show asks for its kind's silence verdict (filtered for TCP,
// open|filtered for UDP).
func (s *Scanner) emitSilence(emit func(*result.Result) error) error {
	show := false
	for _, g := range s.groups {
		st, _ := g.probe.Silence()
		show = show || s.cfg.Show.Has(st)
	}
	if !show {
		return nil
	}
	now := time.Now().UnixNano()
	var err error
	t := ProbeTarget{}
	var r result.Result // one variable for every verdict: &r does not allocate per result
	s.eachSilent(func(idx uint64, g *portGroup) bool {
		state, reason := g.probe.Silence()
		if !s.cfg.Show.Has(state) {
			return true
		}
		pi := idx % s.nports
		t.Addr, t.PortIndex, t.Pos = s.cfg.Targets.At(idx/s.nports), int(pi-g.offset), s.perm.Inverse(idx)
		r = result.Result{
			IP: t.Addr, Port: g.ports.At(t.PortIndex), Proto: g.probe.Proto(), State: state, Reason: reason,
			TimeNanos: now, SourceIP: s.plan.sourceIP(t.Addr), SourcePort: g.probe.SourcePort(&t),
		}
		err = emit(&r)
		return err == nil
	})
	return err
}

// hostTable keeps, for every target address, whether a probe was sent to it and
// the reason of its first own answer, in sets of host indexes (Tables) whose memory
// follows the hosts probed and the hosts that answered, not the address space: sent
// (probed hosts, written by the senders), up (hosts that answered themselves, written
// by the receiver) and one set per reason of a first own answer, made when a host
// first answers with that reason. Each host of up is in exactly one reason set.
// Every set holds at most a bit per address of its leaves (65,535 consecutive
// addresses) and nothing for leaves without a member: a /0 whose every address is
// probed and up costs at most 512 MiB for sent, 512 MiB for up and, as a host is in
// one reason set, about as much again over the reason sets, while one where only some
// hosts answer holds a few bytes per answering host beyond sent. All methods are safe
// for concurrent use.
type hostTable struct {
	n       uint64
	sent    *Table
	up      *Table
	reasons [16]atomic.Pointer[Table]
	upCount atomic.Uint64 // members of up
}

func newHostTable(n uint64) (*hostTable, error) {
	sent, err := NewTable(n)
	if err != nil {
		return nil, err
	}
	up, err := NewTable(n)
	if err != nil {
		return nil, err
	}
	return &hostTable{n: n, sent: sent, up: up}, nil
}

// markSent records that a probe to host left, and reports whether it is the
// first (the caller counts it). Any sender.
func (h *hostTable) markSent(host uint64) bool {
	return !h.sent.Answered(host) && h.sent.Mark(host)
}

// answered records an answer of host itself with reason. Receiver.
func (h *hostTable) answered(host uint64, reason result.Reason) {
	if h.up.Answered(host) || !h.up.Mark(host) {
		return
	}
	h.upCount.Add(1)
	p := &h.reasons[reason&0x0f]
	set := p.Load()
	if set == nil {
		set, _ = NewTable(h.n) // h.n was accepted by newHostTable
		if !p.CompareAndSwap(nil, set) {
			set = p.Load()
		}
	}
	set.Mark(host)
}

// status returns the reason of host's first own answer and whether there was one.
func (h *hostTable) status(host uint64) (result.Reason, bool) {
	if !h.up.Answered(host) {
		return 0, false
	}
	for r := range h.reasons {
		if set := h.reasons[r].Load(); set != nil && set.Answered(host) {
			return result.Reason(r), r != 0
		}
	}
	return 0, false
}

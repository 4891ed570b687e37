package engine

import (
	"net/netip"
	"time"

	"github.com/fastscan/fastscan/link"
	"github.com/fastscan/fastscan/result"
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
	// Duplicates counts valid replies for targets already decided.
	Duplicates uint64
	// Invalid counts replies to our address and ports whose cookie did not match:
	// forged, stale or unrelated packets. They never produce a result. In a passive
	// replay it counts resets that end a connection instead of answering a SYN.
	Invalid uint64
	// RingPackets counts the packets the link's receive side accepted.
	RingPackets uint64
	// Interface and SourceIP say where the probes came from.
	Interface string
	SourceIP  netip.Addr
	// CoolDown is the time spent waiting for replies after the passes: it ends as
	// soon as every target has answered, or after a retransmission timeout of
	// silence sized by the round trips seen, and is at most Wait per pass.
	CoolDown time.Duration
}

// finish sets the final phase (PhaseDone, PhaseInterrupted or PhaseFailed) and
// returns the summary of the scan so far; lk, if not nil, is read for its final
// receive counters.
func (s *Scanner) finish(phase Phase, lk link.Link) Summary {
	s.setPhase(phase)
	interrupted := phase == PhaseInterrupted
	sum := Summary{
		Progress:    s.Progress(),
		Interrupted: interrupted,
		Duplicates:  s.duplicates.Load(),
		Invalid:     s.invalid.Load(),
		CoolDown:    time.Duration(s.coolDownNanos.Load()),
		HostsUp:     s.hosts.up,
	}
	if lk != nil {
		sum.RingPackets, sum.RingDrops, _ = lk.Stats()
		s.ringDrops.Store(sum.RingDrops)
	}
	if s.plan == nil {
		return sum
	}
	sum.HostsDown = s.plan.hostsDown
	sum.Interface = s.plan.iface.Name
	sum.SourceIP = uint32ToAddr(s.plan.srcIP)
	sum.HostsProbed = s.hostsProbed(phase != PhaseDone)
	if phase == PhaseDone && lk != nil {
		hosts := s.cfg.Targets.Len() - s.plan.hostsDown
		for _, g := range s.groups {
			silent := hosts*uint64(g.ports.Len()) - g.answered.Load()
			if st, _ := g.probe.Silence(); st == result.OpenFiltered {
				sum.OpenFiltered += silent
			} else {
				sum.NoResponse += silent
			}
		}
	}
	return sum
}

// hostsProbed counts the addresses at least one probe was sent to. A scan that
// stopped early in its first pass reached only the positions below its position:
// their addresses are counted one by one.
func (s *Scanner) hostsProbed(stoppedEarly bool) uint64 {
	if s.sent.Load() == 0 {
		return 0
	}
	all := s.cfg.Targets.Len() - s.plan.hostsDown
	if !stoppedEarly || s.pass.Load() > 0 {
		return all
	}
	end := s.pos.Load()
	if end >= s.total {
		return all
	}
	seen := make([]uint64, (s.cfg.Targets.Len()+63)/64)
	var n uint64
	for pos := uint64(0); pos < end && n < all; pos++ {
		host := s.perm.At(pos) / s.nports
		if seen[host/64]&(1<<(host%64)) != 0 {
			continue
		}
		if _, up := s.plan.nextHop(addrToUint32(s.cfg.Targets.At(host))); !up {
			continue
		}
		seen[host/64] |= 1 << (host % 64)
		n++
	}
	return n
}

// HostStatus tells whether the address a answered at least one probe itself, and
// the reason of its first such answer. It is meant for after Run or Replay.
func (s *Scanner) HostStatus(a netip.Addr) (reason result.Reason, up bool) {
	if !a.Is4() {
		return 0, false
	}
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
	s.table.Unanswered(func(idx uint64) bool {
		ip := s.cfg.Targets.At(idx / s.nports)
		if _, up := s.plan.nextHop(addrToUint32(ip)); !up {
			return true
		}
		pi := idx % s.nports
		g := s.groupOf(pi)
		state, reason := g.probe.Silence()
		if !s.cfg.Show.Has(state) {
			return true
		}
		t.Addr, t.PortIndex, t.Pos = ip, int(pi-g.offset), s.perm.Inverse(idx)
		r := result.Result{
			IP: ip, Port: g.ports.At(t.PortIndex), Proto: g.probe.Proto(), State: state, Reason: reason,
			TimeNanos: now, SourceIP: uint32ToAddr(s.plan.srcIP), SourcePort: g.probe.SourcePort(&t),
		}
		err = emit(&r)
		return err == nil
	})
	return err
}

// hostTable keeps, for every target address, the reason of its first own answer
// (0: none yet): one byte per address, written by the receiver alone and read
// after the scan. Pages of addresses that never answer are never touched.
type hostTable struct {
	reason []uint8
	up     uint64
}

func newHostTable(n uint64) hostTable { return hostTable{reason: make([]uint8, n)} }

// answered records an answer of host with reason.
func (h *hostTable) answered(host uint64, reason result.Reason) {
	if h.reason[host] == 0 {
		h.reason[host] = uint8(reason)
		h.up++
	}
}

// status returns the reason of host's first answer and whether there was one.
func (h *hostTable) status(host uint64) (result.Reason, bool) {
	r := h.reason[host]
	return result.Reason(r), r != 0
}

package engine

import (
	"cmp"
	"net/netip"
	"slices"

	"github.com/fastscan/fastscan/result"
)

// The open-everywhere heuristic (result.IsOpenEverywhere): a host that answered
// SYN-ACK on at least result.OpenEverywherePercent of at least
// result.OpenEverywhereMinPorts TCP ports with a verdict is flagged, most likely a
// SYN proxy or tarpit in front of it.
//
// Cost: nothing per probe, and nothing per reply but for the first verdict of a
// TCP target that is open, which marks that target in opens (a Table like the
// target table: amortized no allocation; memory at most the target table's, and a
// fraction of it where most answers are resets). Duplicates, resets, ICMP errors
// and silence cost nothing more than before. When the scan ends, finish walks
// opens once, in index order (so host by host), and only for a host with at least
// result.MinOpenEverywhereSYNACKs open ports counts its ports with a verdict. A
// resumed scan walks Config.Resume.Answered once more, to judge those hosts on the
// ports this run decided (its opens know nothing of the earlier runs' open ports).

// newOpens finds the TCP group and makes opens when the scan probes enough TCP
// ports for the heuristic to flag anything.
func (s *Scanner) newOpens() error {
	for _, g := range s.groups {
		if g.ports == &s.cfg.Ports {
			s.tcp = g
		}
	}
	if s.tcp == nil || s.tcp.ports.Len() < result.OpenEverywhereMinPorts {
		return nil
	}
	var err error
	s.opens, err = NewTable(s.total)
	return err
}

// openEverywhere returns the hosts the heuristic flags, in the order of their
// host index (ascending addresses, IPv4 before IPv6). complete says that every
// probed target has its verdict: a finished scan, not a replay, whose silent
// targets are filtered; otherwise (interrupted, replay) only the targets a reply
// decided count as probed.
func (s *Scanner) openEverywhere(complete bool) []result.OpenEverywhere {
	if s.opens == nil {
		return nil
	}
	type candidate struct {
		host    uint64
		synacks int
	}
	var cands []candidate
	s.opens.Each(func(idx uint64) {
		h := idx / s.nports
		if n := len(cands); n == 0 || cands[n-1].host != h {
			if n > 0 && cands[n-1].synacks < result.MinOpenEverywhereSYNACKs {
				cands = cands[:n-1] // cannot be flagged: forget it
			}
			cands = append(cands, candidate{host: h})
		}
		cands[len(cands)-1].synacks++
	})
	if n := len(cands); n > 0 && cands[n-1].synacks < result.MinOpenEverywhereSYNACKs {
		cands = cands[:n-1]
	}
	if len(cands) == 0 {
		return nil
	}
	before := s.answeredBefore(func(host uint64) bool {
		_, ok := slices.BinarySearchFunc(cands, host, func(c candidate, h uint64) int { return cmp.Compare(c.host, h) })
		return ok
	})
	var out []result.OpenEverywhere
	for _, c := range cands {
		probed := s.probedTCP(c.host, complete) - before[c.host]
		if result.IsOpenEverywhere(c.synacks, probed) {
			out = append(out, result.OpenEverywhere{Addr: s.cfg.Targets.At(c.host), SYNACKs: c.synacks, Probed: probed})
		}
	}
	return out
}

// answeredBefore counts, for the hosts want accepts, their TCP targets a resumed
// scan's earlier runs decided (Config.Resume.Answered, walked once more): this
// run's opens hold only its own open ports, so a host is judged on the ports this
// run decided. nil for a scan that is not resumed.
func (s *Scanner) answeredBefore(want func(host uint64) bool) map[uint64]int {
	r := s.cfg.Resume
	if r == nil || r.Answered == nil {
		return nil
	}
	lo, hi := s.tcp.offset, s.tcp.offset+uint64(s.tcp.ports.Len())
	before := map[uint64]int{}
	for idx := range r.Answered {
		if pi := idx % s.nports; pi >= lo && pi < hi && idx < s.total && want(idx/s.nports) {
			before[idx/s.nports]++
		}
	}
	return before
}

// probedTCP counts the TCP ports of host with a verdict: each of them in an
// unsharded complete scan (the host answered, so it was probed; every target of a
// probed host gets a verdict); in a complete shard, those answered and the silent
// ones of the shard; otherwise those answered. Those a resumed scan's earlier
// runs decided are among them (answeredBefore takes them off).
func (s *Scanner) probedTCP(host uint64, complete bool) int {
	g := s.tcp
	n := g.ports.Len()
	if complete && s.dom.shards <= 1 {
		return n
	}
	base := host*s.nports + g.offset
	probed := 0
	for pi := range uint64(n) {
		idx := base + pi
		if s.table.Answered(idx) {
			probed++
		} else if complete {
			if _, ours := s.dom.local(s.perm.Inverse(idx)); ours {
				probed++
			}
		}
	}
	return probed
}

// OpenEverywhere reports whether the heuristic flagged the address a, and its
// counts. It is meant for after Run or Replay (Summary.OpenEverywhere lists every
// flagged host).
func (s *Scanner) OpenEverywhere(a netip.Addr) (result.OpenEverywhere, bool) {
	list := s.flagged.Load()
	if list == nil {
		return result.OpenEverywhere{}, false
	}
	i, ok := slices.BinarySearchFunc(*list, a, func(h result.OpenEverywhere, a netip.Addr) int { return h.Addr.Compare(a) })
	if !ok {
		return result.OpenEverywhere{}, false
	}
	return (*list)[i], true
}

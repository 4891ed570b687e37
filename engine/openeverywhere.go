package engine

import (
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
// result.MinOpenEverywhereSYNACKs open ports counts its ports with a verdict.

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
	var out []result.OpenEverywhere
	host, synacks := uint64(0), 0
	judge := func() {
		if synacks < result.MinOpenEverywhereSYNACKs {
			return
		}
		probed := s.probedTCP(host, complete)
		if result.IsOpenEverywhere(synacks, probed) {
			out = append(out, result.OpenEverywhere{Addr: s.cfg.Targets.At(host), SYNACKs: synacks, Probed: probed})
		}
	}
	s.opens.Each(func(idx uint64) {
		if h := idx / s.nports; h != host || synacks == 0 {
			if synacks > 0 {
				judge()
			}
			host, synacks = h, 0
		}
		synacks++
	})
	if synacks > 0 {
		judge()
	}
	return out
}

// probedTCP counts the TCP ports of host with a verdict: each of them in an
// unsharded complete scan (the host answered, so it was probed; every target of a
// probed host gets a verdict); in a complete shard, those answered and the silent
// ones of the shard; otherwise those answered. A resumed scan's opens hold only
// its last run's open ports, while every port has a verdict: it may miss a host,
// never flag one more.
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

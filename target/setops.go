package target

import (
	"iter"
	"math/bits"
	"net/netip"
	"slices"
)

// fromMerged builds a Set from spans that are already sorted, merged and
// non-adjacent (as Subtract produces them), with its index and hint tables.
func fromMerged(merged []span) Set {
	s := Set{ranges: slices.Clip(merged), starts: make([]uint64, len(merged))}
	for k, r := range merged {
		s.starts[k] = s.n
		s.n += r.len()
	}
	s.buildHints()
	return s
}

// Subtract returns the addresses of s that are not in x. Neither set changes;
// the result is a new Set with the same invariants (sorted, merged ranges,
// indices in ascending address order) and its own At/Index tables. It runs in
// O(ranges of s + ranges of x).
func (s Set) Subtract(x Set) Set {
	out := s.subtract4(x)
	out.v6 = s.v6.subtract(x.v6)
	return out
}

// subtract4 is Subtract of the IPv4 parts; the result has no IPv6 part.
func (s Set) subtract4(x Set) Set {
	out := make([]span, 0, len(s.ranges))
	j := 0
	for _, r := range s.ranges {
		first, last := uint64(r.first), uint64(r.last)
		// Ranges of x ending below r cannot touch r or any later range of s.
		for j < len(x.ranges) && uint64(x.ranges[j].last) < first {
			j++
		}
		for k := j; k < len(x.ranges) && first <= last; k++ {
			cut := x.ranges[k]
			if uint64(cut.first) > last {
				break
			}
			if uint64(cut.first) > first {
				out = append(out, span{uint32(first), cut.first - 1})
			}
			first = uint64(cut.last) + 1 // 2^32 past the top: nothing of r is left
		}
		if first <= last {
			out = append(out, span{uint32(first), uint32(last)})
		}
	}
	return fromMerged(out)
}

// Intersect returns the addresses that are in both s and x, as a new Set.
func (s Set) Intersect(x Set) Set {
	return s.Subtract(s.Subtract(x))
}

// Union returns the addresses that are in s, in x or in both, as a new Set.
func (s Set) Union(x Set) Set {
	spans := make([]span, 0, len(s.ranges)+len(x.ranges))
	spans = append(spans, s.ranges...)
	out := newSet(append(spans, x.ranges...))
	out.v6 = s.v6.union(x.v6)
	return out
}

// Prefixes yields s as the fewest CIDR blocks that cover exactly its addresses,
// in ascending order, IPv4 first: each range is split into the largest aligned
// blocks that fit (10.0.0.1-10.0.0.6 is 10.0.0.1/32, 10.0.0.2/31, 10.0.0.4/31,
// 10.0.0.6/32).
func (s *Set) Prefixes() iter.Seq[netip.Prefix] {
	return func(yield func(netip.Prefix) bool) {
		for _, r := range s.ranges {
			for p := range spanPrefixes(r) {
				if !yield(p) {
					return
				}
			}
		}
		for _, r := range s.v6.ranges {
			for p := range prefixes6(r) {
				if !yield(p) {
					return
				}
			}
		}
	}
}

// Prefixes yields r as the fewest CIDR blocks that cover exactly its addresses,
// in ascending order; nothing when r is not a valid range.
func (r Range) Prefixes() iter.Seq[netip.Prefix] {
	if sp, ok := spanOf(r); ok {
		return spanPrefixes(sp)
	}
	if sp, ok := spanOf6(r); ok {
		return prefixes6(sp)
	}
	return func(func(netip.Prefix) bool) {}
}

// spanPrefixes yields the minimal CIDR blocks of r.
func spanPrefixes(r span) iter.Seq[netip.Prefix] {
	return func(yield func(netip.Prefix) bool) {
		first, end := uint64(r.first), uint64(r.last)+1
		for first < end {
			// The largest block aligned at first (2^32 at 0) that ends by end.
			size := uint64(1) << 32
			if first != 0 {
				size = first & -first
			}
			for size > end-first {
				size >>= 1
			}
			p := netip.PrefixFrom(uint32ToAddr(uint32(first)), 32-bits.TrailingZeros64(size))
			if !yield(p) {
				return
			}
			first += size
		}
	}
}

// prefixSpans are the addresses of a prefix of either family.
func prefixSpans(p netip.Prefix) spans {
	switch {
	case !p.IsValid():
		return spans{}
	case p.Addr().Is4():
		return spans{v4: []span{cidrRange(addrToUint32(p.Addr()), p.Bits())}}
	}
	return spans{v6: []span6{cidr6(u128Of(p.Addr()), p.Bits())}}
}

package target

import (
	"encoding/binary"
	"iter"
	"math"
	"math/bits"
	"net/netip"
	"slices"
)

// u128 is the numeric value of an IPv6 address: hi holds its first 8 bytes,
// lo the last 8, both big-endian.
type u128 struct{ hi, lo uint64 }

// u128Of is the numeric value of an IPv6 address (its zone dropped).
func u128Of(a netip.Addr) u128 {
	b := a.As16()
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

// addr is the IPv6 address of x; it does not allocate.
func (x u128) addr() netip.Addr {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], x.hi)
	binary.BigEndian.PutUint64(b[8:], x.lo)
	return netip.AddrFrom16(b)
}

func (x u128) cmp(y u128) int {
	switch {
	case x.hi < y.hi:
		return -1
	case x.hi > y.hi:
		return 1
	case x.lo < y.lo:
		return -1
	case x.lo > y.lo:
		return 1
	}
	return 0
}

func (x u128) less(y u128) bool { return x.hi < y.hi || x.hi == y.hi && x.lo < y.lo }

// addSmall returns x+n, wrapping at 2^128.
func (x u128) addSmall(n uint64) u128 {
	lo, carry := bits.Add64(x.lo, n, 0)
	return u128{x.hi + carry, lo}
}

// inc returns x+1 and whether it wrapped past the top of the space.
func (x u128) inc() (u128, bool) {
	lo, carry := bits.Add64(x.lo, 1, 0)
	hi, over := bits.Add64(x.hi, 0, carry)
	return u128{hi, lo}, over != 0
}

// dec returns x-1 (x must not be 0).
func (x u128) dec() u128 {
	lo, borrow := bits.Sub64(x.lo, 1, 0)
	return u128{x.hi - borrow, lo}
}

// sub returns x-y (x >= y).
func (x u128) sub(y u128) u128 {
	lo, borrow := bits.Sub64(x.lo, y.lo, 0)
	return u128{x.hi - y.hi - borrow, lo}
}

// span6 is an inclusive range of IPv6 addresses as numeric values.
type span6 struct{ first, last u128 }

// size is the number of addresses in r, saturated at math.MaxUint64.
func (r span6) size() uint64 {
	d := r.last.sub(r.first)
	if d.hi != 0 || d.lo == math.MaxUint64 {
		return math.MaxUint64
	}
	return d.lo + 1
}

func (r span6) contains(x u128) bool { return !x.less(r.first) && !r.last.less(x) }
func (r span6) toRange() Range       { return Range{r.first.addr(), r.last.addr()} }

// spanOf6 converts r; ok is false when an end is not IPv6 (or IPv4-mapped) or
// First > Last.
func spanOf6(r Range) (span6, bool) {
	if !is6(r.First) || !is6(r.Last) {
		return span6{}, false
	}
	sp := span6{u128Of(r.First), u128Of(r.Last)}
	return sp, !sp.last.less(sp.first)
}

// is6 reports whether a is an IPv6 address that is not IPv4-mapped: the
// addresses a set's IPv6 part holds.
func is6(a netip.Addr) bool { return a.Is6() && !a.Is4In6() }

// set6 is the IPv6 part of a Set: sorted, merged, non-adjacent ranges, their
// addresses numbered in ascending order from 0.
type set6 struct {
	ranges []span6
	starts []uint64 // starts[k] is the index of ranges[k].first
	n      uint64   // saturated at math.MaxUint64 (only sets used as exclusions get there)
	// atHint[b] is the range holding index b<<atShift; it ends with an entry
	// for the end (as Set's IPv4 hints).
	atHint  []uint32
	atShift uint8
}

// newSet6 sorts and merges rs (in place).
func newSet6(rs []span6) set6 {
	rs = slices.DeleteFunc(rs, func(r span6) bool { return r.last.less(r.first) })
	slices.SortFunc(rs, func(a, b span6) int { return a.first.cmp(b.first) })
	merged := rs[:0]
	for _, r := range rs {
		if k := len(merged) - 1; k >= 0 {
			next, wrapped := merged[k].last.inc()
			if wrapped || !next.less(r.first) { // touching or overlapping
				if merged[k].last.less(r.last) {
					merged[k].last = r.last
				}
				continue
			}
		}
		merged = append(merged, r)
	}
	return fromMerged6(merged)
}

// fromMerged6 builds a set6 from sorted, merged, non-adjacent ranges.
func fromMerged6(merged []span6) set6 {
	s := set6{ranges: slices.Clip(merged), starts: make([]uint64, len(merged))}
	for k, r := range merged {
		s.starts[k] = s.n
		sum, carry := bits.Add64(s.n, r.size(), 0)
		if carry != 0 {
			sum = math.MaxUint64
		}
		s.n = sum
	}
	s.buildHints()
	return s
}

// buildHints fills atHint; see Set.buildHints.
func (s *set6) buildHints() {
	if len(s.ranges) == 0 || s.n == math.MaxUint64 {
		return
	}
	s.atHint, s.atShift = atHints(s.starts, s.n)
}

// at returns the i-th address (i < n).
func (s *set6) at(i uint64) netip.Addr {
	bk := i >> s.atShift
	lo, hi := int(s.atHint[bk]), int(s.atHint[bk+1])+1
	for hi-lo > 1 {
		mid := int(uint(lo+hi) >> 1)
		if s.starts[mid] <= i {
			lo = mid
		} else {
			hi = mid
		}
	}
	return s.ranges[lo].first.addSmall(i - s.starts[lo]).addr()
}

// index returns the position of x and whether x is in s.
func (s *set6) index(x u128) (uint64, bool) {
	// The last range whose first address is <= x.
	lo, hi := 0, len(s.ranges)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if f := s.ranges[mid].first; f.hi < x.hi || f.hi == x.hi && f.lo <= x.lo {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	k := lo - 1
	if k < 0 || s.ranges[k].last.less(x) {
		return 0, false
	}
	return s.starts[k] + x.sub(s.ranges[k].first).lo, true
}

// subtract returns the addresses of s not in x.
func (s set6) subtract(x set6) set6 {
	out := make([]span6, 0, len(s.ranges))
	j := 0
	for _, r := range s.ranges {
		first, last := r.first, r.last
		for j < len(x.ranges) && x.ranges[j].last.less(first) {
			j++
		}
		done := false
		for k := j; k < len(x.ranges) && !done; k++ {
			cut := x.ranges[k]
			if last.less(cut.first) {
				break
			}
			if first.less(cut.first) {
				out = append(out, span6{first, cut.first.dec()})
			}
			var wrapped bool
			first, wrapped = cut.last.inc()
			done = wrapped || last.less(first)
		}
		if !done {
			out = append(out, span6{first, last})
		}
	}
	return fromMerged6(out)
}

// union returns the addresses in s or x.
func (s set6) union(x set6) set6 {
	rs := make([]span6, 0, len(s.ranges)+len(x.ranges))
	rs = append(rs, s.ranges...)
	return newSet6(append(rs, x.ranges...))
}

// prefixes6 yields r as the fewest CIDR blocks covering exactly its addresses.
func prefixes6(r span6) iter.Seq[netip.Prefix] {
	return func(yield func(netip.Prefix) bool) {
		first := r.first
		for {
			// The largest block aligned at first that ends by r.last: its host
			// bits are the trailing zeros of first, fewer while it would pass
			// r.last.
			tz := 128
			if first.lo != 0 {
				tz = bits.TrailingZeros64(first.lo)
			} else if first.hi != 0 {
				tz = 64 + bits.TrailingZeros64(first.hi)
			}
			span := r.last.sub(first) // block size - 1 must be <= span
			for tz > 0 && !fitsHostBits(span, tz) {
				tz--
			}
			if !yield(netip.PrefixFrom(first.addr(), 128-tz)) {
				return
			}
			end := first.or(hostMask(tz)) // last address of the block
			if !end.less(r.last) {
				return
			}
			first, _ = end.inc()
		}
	}
}

// hostMask is the value with the low n bits set.
func hostMask(n int) u128 {
	switch {
	case n >= 128:
		return u128{math.MaxUint64, math.MaxUint64}
	case n >= 64:
		return u128{1<<(n-64) - 1, math.MaxUint64}
	}
	return u128{0, 1<<n - 1}
}

// fitsHostBits reports whether a block of 2^n addresses, size-1 = hostMask(n),
// is no larger than span+1.
func fitsHostBits(span u128, n int) bool { return !span.less(hostMask(n)) }

func (x u128) or(y u128) u128     { return u128{x.hi | y.hi, x.lo | y.lo} }
func (x u128) andNot(y u128) u128 { return u128{x.hi &^ y.hi, x.lo &^ y.lo} }

// cidr6 returns the block of the given prefix length containing x.
func cidr6(x u128, bits int) span6 {
	m := hostMask(128 - bits)
	return span6{x.andNot(m), x.or(m)}
}

package target

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Range is an inclusive range of IPv4 addresses, First <= Last.
type Range struct {
	First, Last uint32
}

// Len returns the number of addresses in r (1 to 2^32).
func (r Range) Len() uint64 { return uint64(r.Last) - uint64(r.First) + 1 }

// Contains reports whether ip lies in r.
func (r Range) Contains(ip uint32) bool { return r.First <= ip && ip <= r.Last }

// Set is a set of IPv4 addresses stored as sorted, merged, non-adjacent
// ranges. Its addresses are numbered 0 to Len()-1 in ascending order.
// The zero value is an empty set. A Set is immutable once built and safe for
// concurrent readers.
type Set struct {
	ranges []Range
	starts []uint64 // starts[k] is the index of ranges[k].First
	n      uint64
}

// NewSet returns the set of addresses covered by ranges, which may be in any
// order and may overlap. Ranges with First > Last are ignored.
func NewSet(ranges []Range) Set {
	rs := make([]Range, 0, len(ranges))
	for _, r := range ranges {
		if r.First <= r.Last {
			rs = append(rs, r)
		}
	}
	slices.SortFunc(rs, func(a, b Range) int {
		switch {
		case a.First < b.First:
			return -1
		case a.First > b.First:
			return 1
		}
		return 0
	})
	merged := rs[:0]
	for _, r := range rs {
		if k := len(merged) - 1; k >= 0 && uint64(r.First) <= uint64(merged[k].Last)+1 {
			merged[k].Last = max(merged[k].Last, r.Last)
			continue
		}
		merged = append(merged, r)
	}
	s := Set{ranges: slices.Clip(merged), starts: make([]uint64, len(merged))}
	for k, r := range merged {
		s.starts[k] = s.n
		s.n += r.Len()
	}
	return s
}

// Len returns the number of addresses in s, up to 2^32.
func (s *Set) Len() uint64 { return s.n }

// Ranges returns a copy of the merged ranges of s in ascending order.
func (s *Set) Ranges() []Range { return slices.Clone(s.ranges) }

// At returns the i-th address of s in ascending order. It panics if
// i >= s.Len(). It runs in O(log ranges) time and does not allocate.
func (s *Set) At(i uint64) uint32 {
	if i >= s.n {
		panic("target: Set.At index out of range")
	}
	// Find the last range whose start index is <= i.
	lo, hi := 0, len(s.starts)
	for hi-lo > 1 {
		mid := int(uint(lo+hi) >> 1)
		if s.starts[mid] <= i {
			lo = mid
		} else {
			hi = mid
		}
	}
	return s.ranges[lo].First + uint32(i-s.starts[lo])
}

// Index returns the position of ip in s, the inverse of At, and whether ip is
// in s at all. It runs in O(log ranges) time and does not allocate.
func (s *Set) Index(ip uint32) (uint64, bool) {
	// Find the last range whose first address is <= ip.
	lo, hi := 0, len(s.ranges)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if s.ranges[mid].First <= ip {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	k := lo - 1
	if k < 0 || ip > s.ranges[k].Last {
		return 0, false
	}
	return s.starts[k] + uint64(ip-s.ranges[k].First), true
}

// Contains reports whether ip is in s.
func (s *Set) Contains(ip uint32) bool {
	_, ok := s.Index(ip)
	return ok
}

// LookupFunc resolves a host name to its addresses, like
// (*net.Resolver).LookupNetIP with network "ip4" bound to a context.
type LookupFunc = func(host string) ([]netip.Addr, error)

// ParseTargets parses target specifications into a Set. Each spec is a comma
// separated list of tokens; a token is one of
//
//	10.0.0.1               an IPv4 address
//	10.0.0.0/24            a CIDR block; host bits may be set (10.0.0.5/24 is all of 10.0.0.0/24)
//	10.0.0.1-10.0.0.50     an inclusive address range
//	10.0.0.1-50            the same range, short form: the end replaces the last octet
//	scanme.example         a host name: every IPv4 address lookup returns for it
//	scanme.example/28      the CIDR blocks of those addresses
//
// Overlapping tokens are merged, so each address is in the set once. lookup
// may be nil if no host names are expected. An empty list of targets is an
// error; every parse error is a *[ParseError] naming the bad token.
func ParseTargets(specs []string, lookup LookupFunc) (Set, error) {
	var ranges []Range
	for _, spec := range specs {
		for tok := range strings.SplitSeq(spec, ",") {
			var err error
			ranges, err = appendTarget(ranges, strings.TrimSpace(tok), lookup)
			if err != nil {
				return Set{}, err
			}
		}
	}
	if len(ranges) == 0 {
		return Set{}, targetError("", "no targets given")
	}
	return NewSet(ranges), nil
}

// appendTarget parses one token and appends its ranges to dst.
func appendTarget(dst []Range, tok string, lookup LookupFunc) ([]Range, error) {
	if tok == "" {
		return dst, targetError(tok, "empty target")
	}
	if base, bitsText, ok := strings.Cut(tok, "/"); ok {
		bits, err := parsePrefixBits(bitsText)
		if err != nil {
			return dst, targetError(tok, err.Error())
		}
		if isNumeric(base) {
			ip, err := parseIPv4(base)
			if err != nil {
				return dst, targetError(tok, err.Error())
			}
			return append(dst, cidrRange(ip, bits)), nil
		}
		ips, err := resolve(base, tok, lookup)
		if err != nil {
			return dst, err
		}
		for _, ip := range ips {
			dst = append(dst, cidrRange(ip, bits))
		}
		return dst, nil
	}
	if first, last, ok := strings.Cut(tok, "-"); ok && isNumeric(first) {
		r, err := parseRange(first, last)
		if err != nil {
			return dst, targetError(tok, err.Error())
		}
		return append(dst, r), nil
	}
	if isNumeric(tok) {
		ip, err := parseIPv4(tok)
		if err != nil {
			return dst, targetError(tok, err.Error())
		}
		return append(dst, Range{ip, ip}), nil
	}
	if strings.Contains(tok, ":") {
		return dst, targetError(tok, "IPv6 is not supported")
	}
	ips, err := resolve(tok, tok, lookup)
	if err != nil {
		return dst, err
	}
	for _, ip := range ips {
		dst = append(dst, Range{ip, ip})
	}
	return dst, nil
}

// reason is an error message without further structure, used internally to
// carry a ParseError's Reason.
type reason string

// Error returns the reason itself.
func (r reason) Error() string { return string(r) }

// isNumeric reports whether s is made of digits and dots only, that is
// whether it was meant as an IPv4 address rather than a host name.
func isNumeric(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != '.' && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

func parseIPv4(s string) (uint32, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return 0, reason("not an IPv4 address")
	}
	return addrToUint32(a), nil
}

func addrToUint32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func parsePrefixBits(s string) (int, error) {
	if !isDecimal(s) {
		return 0, reason("prefix length is not a number")
	}
	bits, err := strconv.Atoi(s)
	if err != nil || bits > 32 {
		return 0, reason("prefix length must be 0 to 32")
	}
	return bits, nil
}

// cidrRange returns the block of the given prefix length containing ip.
func cidrRange(ip uint32, bits int) Range {
	hostMask := uint32(uint64(1)<<(32-bits) - 1)
	return Range{First: ip &^ hostMask, Last: ip | hostMask}
}

// parseRange parses "a.b.c.d" - "e.f.g.h" or "a.b.c.d" - "n" (n replaces the
// last octet of the first address).
func parseRange(firstText, lastText string) (Range, error) {
	first, err := parseIPv4(firstText)
	if err != nil {
		return Range{}, reason("range start is not an IPv4 address")
	}
	var last uint32
	switch {
	case isDecimal(lastText):
		octet, err := strconv.Atoi(lastText)
		if err != nil || octet > 255 || len(lastText) > 3 {
			return Range{}, reason("range end must be an IPv4 address or a last octet 0 to 255")
		}
		last = first&^0xff | uint32(octet)
	default:
		last, err = parseIPv4(lastText)
		if err != nil {
			return Range{}, reason("range end is not an IPv4 address")
		}
	}
	if last < first {
		return Range{}, reason("range end is below its start")
	}
	return Range{first, last}, nil
}

func isDecimal(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// resolve looks host up and returns its IPv4 addresses; tok is the token to
// name in errors.
func resolve(host, tok string, lookup LookupFunc) ([]uint32, error) {
	if !isHostName(host) {
		return nil, targetError(tok, "not an IPv4 address, CIDR block, range or host name")
	}
	if lookup == nil {
		return nil, targetError(tok, "host name lookup is not available")
	}
	addrs, err := lookup(host)
	if err != nil {
		return nil, &ParseError{Kind: KindTarget, Token: tok, Reason: err.Error(), Err: err}
	}
	var ips []uint32
	for _, a := range addrs {
		if a = a.Unmap(); a.Is4() {
			ips = append(ips, addrToUint32(a))
		}
	}
	if len(ips) == 0 {
		return nil, targetError(tok, "host name has no IPv4 address")
	}
	return ips, nil
}

// isHostName reports whether s is syntactically a DNS host name: dot
// separated labels of letters, digits, '-' and '_', none empty except for an
// optional final dot, none starting or ending with '-', and at least one
// non-digit overall (so that it cannot be a mistyped address).
func isHostName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 || isNumeric(s) {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

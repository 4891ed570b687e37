package target

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Range is an inclusive range of IPv4 or of IPv6 addresses, First <= Last,
// both of the same family.
type Range struct {
	First, Last netip.Addr
}

// Len returns the number of addresses in r (saturated at the largest uint64
// for an IPv6 range of 2^64 addresses or more); 0 when r is not a valid range.
func (r Range) Len() uint64 {
	if sp, ok := spanOf(r); ok {
		return sp.len()
	}
	if sp, ok := spanOf6(r); ok {
		return sp.size()
	}
	return 0
}

// Contains reports whether a lies in r.
func (r Range) Contains(a netip.Addr) bool {
	if sp, ok := spanOf(r); ok {
		return a.Is4() && sp.contains(addrToUint32(a))
	}
	sp, ok := spanOf6(r)
	return ok && is6(a) && sp.contains(u128Of(a))
}

// span is a Range as the numeric values of its IPv4 addresses (198.19.0.1 is
// 0xC6130001): what a Set stores and the parser produces.
type span struct {
	first, last uint32
}

// spanOf converts r; ok is false when an end is not IPv4 or First > Last.
func spanOf(r Range) (span, bool) {
	if !r.First.Is4() || !r.Last.Is4() {
		return span{}, false
	}
	sp := span{addrToUint32(r.First), addrToUint32(r.Last)}
	return sp, sp.first <= sp.last
}

func (r span) len() uint64             { return uint64(r.last) - uint64(r.first) + 1 }
func (r span) contains(ip uint32) bool { return r.first <= ip && ip <= r.last }
func (r span) toRange() Range          { return Range{uint32ToAddr(r.first), uint32ToAddr(r.last)} }

// Set is a set of IPv4 and IPv6 addresses stored as sorted, merged,
// non-adjacent ranges. Its addresses are numbered 0 to Len()-1: the IPv4
// addresses first, in ascending order, then the IPv6 addresses in ascending
// order. The zero value is an empty set. A Set is immutable once built and
// safe for concurrent readers.
//
// IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are IPv4 addresses to a Set:
// Index finds them as their IPv4 form, and the parser unmaps them.
type Set struct {
	v6     set6     // the IPv6 addresses, numbered after the IPv4 ones
	ranges []span   // the IPv4 addresses
	starts []uint64 // starts[k] is the index of ranges[k].first
	n      uint64
	// The hint tables narrow At's and Index's binary searches to the ranges of one
	// bucket of the index or address space (there are about as many buckets as
	// ranges, so a search usually looks at one or two ranges): atHint[b] is the
	// range holding index b<<atShift, ixHint[b] the first range ending at or after
	// address ranges[0].first + b<<ixShift. Both end with an entry for the end.
	atHint, ixHint   []uint32
	atShift, ixShift uint8
}

// NewSet returns the set of addresses covered by ranges, which may be in any
// order and may overlap. Ranges with First > Last, or whose ends are not both
// IPv4 or both IPv6, are ignored.
func NewSet(ranges []Range) Set {
	var a spans
	for _, r := range ranges {
		if sp, ok := spanOf(r); ok {
			a.v4 = append(a.v4, sp)
		} else if sp, ok := spanOf6(r); ok {
			a.v6 = append(a.v6, sp)
		}
	}
	return a.set()
}

// spans are parsed ranges of both families, before they are sorted and merged.
type spans struct {
	v4 []span
	v6 []span6
	// unbounded accepts IPv6 tokens of any size (exclusions, not targets).
	unbounded bool
}

// set sorts and merges a (in place) into a Set.
func (a spans) set() Set {
	s := newSet(a.v4)
	s.v6 = newSet6(a.v6)
	return s
}

// newSet sorts and merges rs (in place) into a Set; spans with first > last are
// ignored.
func newSet(ranges []span) Set {
	rs := ranges[:0]
	for _, r := range ranges {
		if r.first <= r.last {
			rs = append(rs, r)
		}
	}
	slices.SortFunc(rs, func(a, b span) int {
		switch {
		case a.first < b.first:
			return -1
		case a.first > b.first:
			return 1
		}
		return 0
	})
	merged := rs[:0]
	for _, r := range rs {
		if k := len(merged) - 1; k >= 0 && uint64(r.first) <= uint64(merged[k].last)+1 {
			merged[k].last = max(merged[k].last, r.last)
			continue
		}
		merged = append(merged, r)
	}
	return fromMerged(merged)
}

// maxHintBuckets bounds the hint tables: 8 bytes per bucket and table.
const maxHintBuckets = 1 << 20

// hintBuckets is the number of buckets of the hint tables of a set of n ranges:
// about one range per bucket, a power of two, at most maxHintBuckets.
func hintBuckets(n int) uint64 {
	buckets := uint64(1)
	for buckets < uint64(n) && buckets < maxHintBuckets {
		buckets <<= 1
	}
	return buckets
}

// shiftFor is the smallest shift that maps [0, size) onto at most buckets buckets.
func shiftFor(size, buckets uint64) uint8 {
	var sh uint8
	for (size-1)>>sh >= buckets {
		sh++
	}
	return sh
}

// atHints builds At's hint table over the ranges whose first indices are
// starts (n indices in all): hint[b] is the range holding index b<<shift, and
// the table ends with an entry for the last range.
func atHints(starts []uint64, n uint64) (hint []uint32, shift uint8) {
	shift = shiftFor(n, hintBuckets(len(starts)))
	last := len(starts) - 1
	nb := (n-1)>>shift + 1
	hint = make([]uint32, nb+1)
	k := 0
	for b := uint64(0); b < nb; b++ {
		for k < last && starts[k+1] <= b<<shift {
			k++
		}
		hint[b] = uint32(k)
	}
	hint[nb] = uint32(last)
	return hint, shift
}

// buildHints fills the hint tables of At and Index.
func (s *Set) buildHints() {
	if len(s.ranges) == 0 {
		return
	}
	s.atHint, s.atShift = atHints(s.starts, s.n)
	last := len(s.ranges) - 1
	base := uint64(s.ranges[0].first)
	s.ixShift = shiftFor(uint64(s.ranges[last].last)-base+1, hintBuckets(len(s.ranges)))
	nb := (uint64(s.ranges[last].last)-base)>>s.ixShift + 1
	s.ixHint = make([]uint32, nb+1)
	k := 0
	for b := uint64(0); b < nb; b++ {
		for k < last && uint64(s.ranges[k].last) < base+b<<s.ixShift {
			k++
		}
		s.ixHint[b] = uint32(k)
	}
	s.ixHint[nb] = uint32(last)
}

// Len returns the number of addresses in s: up to 2^32 IPv4 addresses plus
// the IPv6 ones, saturated at the largest uint64 (parsed target sets stay far
// below: see [MaxIPv6PrefixAddrs]).
func (s *Set) Len() uint64 {
	if s.n+s.v6.n < s.n {
		return math.MaxUint64
	}
	return s.n + s.v6.n
}

// Len4 returns the number of IPv4 addresses in s: indices below Len4 are IPv4,
// the others IPv6.
func (s *Set) Len4() uint64 { return s.n }

// Ranges returns the merged ranges of s: the IPv4 ranges in ascending order,
// then the IPv6 ranges in ascending order.
func (s *Set) Ranges() []Range {
	out := make([]Range, 0, len(s.ranges)+len(s.v6.ranges))
	for _, r := range s.ranges {
		out = append(out, r.toRange())
	}
	for _, r := range s.v6.ranges {
		out = append(out, r.toRange())
	}
	return out
}

// At returns the i-th address of s (IPv4 addresses first, each family in
// ascending order). It panics if i >= s.Len(). It runs in O(log ranges) time
// and does not allocate.
func (s *Set) At(i uint64) netip.Addr {
	if i >= s.n {
		if i-s.n >= s.v6.n {
			panic("target: Set.At index out of range")
		}
		return s.v6.at(i - s.n)
	}
	// The range holding i is among those the hints give its bucket; find the last
	// one whose start index is <= i.
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
	return uint32ToAddr(s.ranges[lo].first + uint32(i-s.starts[lo]))
}

// Index returns the position of a in s, the inverse of At, and whether a is
// in s at all. It runs in O(log ranges) time and does not allocate.
func (s *Set) Index(a netip.Addr) (uint64, bool) {
	if !a.Is4() {
		if !a.Is6() {
			return 0, false
		}
		if a.Is4In6() {
			return s.Index(a.Unmap())
		}
		k, ok := s.v6.index(u128Of(a))
		return s.n + k, ok
	}
	b := a.As4()
	ip := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	if len(s.ranges) == 0 || ip < s.ranges[0].first || ip > s.ranges[len(s.ranges)-1].last {
		return 0, false
	}
	// A range holding ip is among those the hints give its bucket; find the last
	// one whose first address is <= ip.
	bk := uint64(ip-s.ranges[0].first) >> s.ixShift
	lo, hi := int(s.ixHint[bk]), int(s.ixHint[bk+1])+1
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if s.ranges[mid].first <= ip {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	k := lo - 1
	if k < 0 || ip > s.ranges[k].last {
		return 0, false
	}
	return s.starts[k] + uint64(ip-s.ranges[k].first), true
}

// Contains reports whether a is in s.
func (s *Set) Contains(a netip.Addr) bool {
	_, ok := s.Index(a)
	return ok
}

// LookupFunc resolves a host name to its addresses, like
// (*net.Resolver).LookupNetIP bound to a context and a network ("ip" for
// both families, "ip4" or "ip6" for one).
type LookupFunc = func(host string) ([]netip.Addr, error)

// MaxIPv6PrefixAddrs is the most addresses one IPv6 target token may name:
// 2^56, a /72. Scans index addresses x ports far below 2^64, so a /64 cannot be
// scanned address by address; such networks are scanned from a hitlist of
// the addresses in use (-iL FILE).
const MaxIPv6PrefixAddrs = 1 << 56

// ParseTargets parses target specifications into a Set. Each spec is a comma
// separated list of tokens; a token is one of
//
//	10.0.0.1               an IPv4 address
//	10.0.0.0/24            a CIDR block; host bits may be set (10.0.0.5/24 is all of 10.0.0.0/24)
//	10.0.0.1-10.0.0.50     an inclusive address range
//	10.0.0.1-50            the same range, short form: the end replaces the last octet
//	2001:db8::1            an IPv6 address (::ffff:10.0.0.1, IPv4-mapped, is 10.0.0.1)
//	2001:db8::/120         an IPv6 prefix of at most MaxIPv6PrefixAddrs addresses
//	2001:db8::1-2001:db8::ff  an inclusive IPv6 range
//	2001:db8::1-ff         the same range, short form: the end replaces the last group
//	scanme.example         a host name: every address lookup returns for it
//	scanme.example/28      the CIDR blocks of those addresses (the IPv4 ones)
//
// Overlapping tokens are merged, so each address is in the set once. lookup
// may be nil if no host names are expected. An empty list of targets is an
// error; every parse error is a *[ParseError] naming the bad token.
func ParseTargets(specs []string, lookup LookupFunc) (Set, error) {
	var a spans
	for _, spec := range specs {
		for tok := range strings.SplitSeq(spec, ",") {
			if err := a.add(strings.TrimSpace(tok), lookup); err != nil {
				return Set{}, err
			}
		}
	}
	if len(a.v4)+len(a.v6) == 0 {
		return Set{}, targetError("", "no targets given")
	}
	return a.set(), nil
}

// add parses one token and appends its ranges to a.
func (a *spans) add(tok string, lookup LookupFunc) error {
	if tok == "" {
		return targetError(tok, "empty target")
	}
	if strings.Contains(tok, ":") { // before the CIDR form: 2001:db8::/32 is no IPv4 prefix
		return a.add6(tok)
	}
	if base, bitsText, ok := strings.Cut(tok, "/"); ok {
		bits, err := parsePrefixBits(bitsText)
		if err != nil {
			return targetError(tok, err.Error())
		}
		if isNumeric(base) {
			ip, err := parseIPv4(base)
			if err != nil {
				return targetError(tok, err.Error())
			}
			a.v4 = append(a.v4, cidrRange(ip, bits))
			return nil
		}
		ips, err := resolve(base, tok, lookup)
		if err != nil {
			return err
		}
		n := len(a.v4)
		for _, ip := range ips {
			if ip.Is4() {
				a.v4 = append(a.v4, cidrRange(addrToUint32(ip), bits))
			}
		}
		if len(a.v4) == n {
			return targetError(tok, "host name has no IPv4 address (a host name's block is IPv4)")
		}
		return nil
	}
	if first, last, ok := strings.Cut(tok, "-"); ok && isNumeric(first) {
		r, err := parseRange(first, last)
		if err != nil {
			return targetError(tok, err.Error())
		}
		a.v4 = append(a.v4, r)
		return nil
	}
	if isNumeric(tok) {
		ip, err := parseIPv4(tok)
		if err != nil {
			return targetError(tok, err.Error())
		}
		a.v4 = append(a.v4, span{ip, ip})
		return nil
	}
	ips, err := resolve(tok, tok, lookup)
	if err != nil {
		return err
	}
	for _, ip := range ips {
		a.addAddr(ip)
	}
	return nil
}

// addAddr appends one address of either family.
func (a *spans) addAddr(ip netip.Addr) {
	if ip = ip.Unmap(); ip.Is4() {
		v := addrToUint32(ip)
		a.v4 = append(a.v4, span{v, v})
		return
	}
	v := u128Of(ip)
	a.v6 = append(a.v6, span6{v, v})
}

// add6 parses an IPv6 token: an address, a prefix or a range.
func (a *spans) add6(tok string) error {
	if base, bitsText, ok := strings.Cut(tok, "/"); ok {
		ip, err := parseIPv6(base)
		if err != nil {
			return targetError(tok, err.Error())
		}
		if !isDecimal(bitsText) {
			return targetError(tok, "prefix length is not a number")
		}
		bits, err := strconv.Atoi(bitsText)
		if err != nil || bits > 128 {
			return targetError(tok, "IPv6 prefix length must be 0 to 128")
		}
		if ip.Is4In6() {
			return targetError(tok, "an IPv4-mapped IPv6 prefix: write it as an IPv4 block")
		}
		if 128-bits > 56 && !a.unbounded {
			return targetError(tok, fmt.Sprintf("an IPv6 /%d holds 2^%d addresses, more than a scan can go through one by one (at most a /72, 2^56): scan a hitlist of the addresses in use instead (-iL FILE)", bits, 128-bits))
		}
		a.v6 = append(a.v6, cidr6(u128Of(ip), bits))
		return nil
	}
	if firstText, lastText, ok := strings.Cut(tok, "-"); ok {
		first, err := parseIPv6(firstText)
		if err != nil {
			return targetError(tok, "range start: "+err.Error())
		}
		var last netip.Addr
		if isHex(lastText) && len(lastText) <= 4 {
			g, _ := strconv.ParseUint(lastText, 16, 16)
			b := first.As16()
			b[14], b[15] = byte(g>>8), byte(g)
			last = netip.AddrFrom16(b)
		} else if last, err = parseIPv6(lastText); err != nil {
			return targetError(tok, "range end must be an IPv6 address or a last group of 1 to 4 hex digits")
		}
		if first.Is4In6() || last.Is4In6() {
			return targetError(tok, "an IPv4-mapped IPv6 range: write it as an IPv4 range")
		}
		sp := span6{u128Of(first), u128Of(last)}
		if sp.last.less(sp.first) {
			return targetError(tok, "range end is below its start")
		}
		if n := sp.size(); n > MaxIPv6PrefixAddrs && !a.unbounded {
			return targetError(tok, "an IPv6 range of more than 2^56 addresses, more than a scan can go through one by one: scan a hitlist of the addresses in use instead (-iL FILE)")
		}
		a.v6 = append(a.v6, sp)
		return nil
	}
	ip, err := parseIPv6(tok)
	if err != nil {
		return targetError(tok, err.Error())
	}
	a.addAddr(ip)
	return nil
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

// addrToUint32 is the numeric value of an IPv4 address. (As4 is faster here than
// the inlinable As16, whose 16-byte array defeats store-to-load forwarding.)
func addrToUint32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// uint32ToAddr is the IPv4 address of a numeric value; it does not allocate.
func uint32ToAddr(ip uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(ip >> 24), byte(ip >> 16), byte(ip >> 8), byte(ip)})
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
func cidrRange(ip uint32, bits int) span {
	hostMask := uint32(uint64(1)<<(32-bits) - 1)
	return span{first: ip &^ hostMask, last: ip | hostMask}
}

// parseRange parses "a.b.c.d" - "e.f.g.h" or "a.b.c.d" - "n" (n replaces the
// last octet of the first address).
func parseRange(firstText, lastText string) (span, error) {
	first, err := parseIPv4(firstText)
	if err != nil {
		return span{}, reason("range start is not an IPv4 address")
	}
	var last uint32
	switch {
	case isDecimal(lastText):
		octet, err := strconv.Atoi(lastText)
		if err != nil || octet > 255 || len(lastText) > 3 {
			return span{}, reason("range end must be an IPv4 address or a last octet 0 to 255")
		}
		last = first&^0xff | uint32(octet)
	default:
		last, err = parseIPv4(lastText)
		if err != nil {
			return span{}, reason("range end is not an IPv4 address")
		}
	}
	if last < first {
		return span{}, reason("range end is below its start")
	}
	return span{first, last}, nil
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

// resolve looks host up and returns its addresses, IPv4 (unmapped) and IPv6;
// tok is the token to name in errors.
func resolve(host, tok string, lookup LookupFunc) ([]netip.Addr, error) {
	if !isHostName(host) {
		return nil, targetError(tok, "not an IP address, CIDR block, range or host name")
	}
	if lookup == nil {
		return nil, targetError(tok, "host name lookup is not available")
	}
	addrs, err := lookup(host)
	if err != nil {
		return nil, &ParseError{Kind: KindTarget, Token: tok, Reason: err.Error(), Err: err}
	}
	var ips []netip.Addr
	for _, a := range addrs {
		if a = a.Unmap().WithZone(""); a.Is4() || a.Is6() {
			ips = append(ips, a)
		}
	}
	if len(ips) == 0 {
		return nil, targetError(tok, "host name has no address")
	}
	return ips, nil
}

// parseIPv6 parses an IPv6 address without a zone (an IPv4-mapped one stays
// mapped; the caller decides).
func parseIPv6(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	switch {
	case err != nil || !a.Is6():
		return netip.Addr{}, reason("not an IPv6 address")
	case a.Zone() != "":
		return netip.Addr{}, reason("an IPv6 zone (%" + a.Zone() + ") is not part of a target: choose the interface with -i")
	}
	return a, nil
}

// isHex reports whether s is a non-empty string of hex digits.
func isHex(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if !('0' <= s[i] && s[i] <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
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

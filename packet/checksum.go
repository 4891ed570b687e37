package packet

import (
	"encoding/binary"
	"math/bits"
)

// Checksum returns the 16-bit ones' complement sum (RFC 1071) of b added to
// initial. The result is the folded sum, not its complement: to fill a
// header's checksum field store ^Checksum(header, 0), or use
// [InternetChecksum]. A trailing odd byte is summed as the high byte of a
// 16-bit word whose low byte is zero. Sums of separate buffers combine with
// [ChecksumCombine] as long as every buffer but the last has even length.
func Checksum(b []byte, initial uint16) uint16 {
	var acc uint64 = uint64(initial)
	var carry uint64
	for len(b) >= 32 {
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b[0:]), 0)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b[8:]), carry)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b[16:]), carry)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b[24:]), carry)
		// Cannot overflow: a carry out leaving acc == 2^64-1 needs acc and
		// the word both 2^64-1 and a carry in, which by induction never
		// happens starting from a zero carry.
		acc += carry
		b = b[32:]
	}
	for len(b) >= 8 {
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b), 0)
		acc += carry
		b = b[8:]
	}
	for len(b) >= 2 {
		acc, carry = bits.Add64(acc, uint64(binary.BigEndian.Uint16(b)), 0)
		acc += carry
		b = b[2:]
	}
	if len(b) == 1 {
		acc, carry = bits.Add64(acc, uint64(b[0])<<8, 0)
		acc += carry
	}
	return fold64(acc)
}

// fold64 folds a 64-bit ones' complement accumulator to 16 bits with
// end-around carries. 2^16 ≡ 1 (mod 2^16-1), so every 16-bit lane adds in.
func fold64(acc uint64) uint16 {
	s := (acc >> 32) + (acc & 0xffffffff) // <= 2^33-2
	s = (s >> 16) + (s & 0xffff)          // <= 2^17+2^16
	s = (s >> 16) + (s & 0xffff)          // <= 2^16+1
	s = (s >> 16) + (s & 0xffff)          // <= 2^16-1
	return uint16(s)
}

// ChecksumCombine returns the ones' complement sum of a and b.
func ChecksumCombine(a, b uint16) uint16 {
	s := uint32(a) + uint32(b)
	return uint16(s + s>>16)
}

// InternetChecksum returns the value to store in a checksum field covering b
// (with the field itself zeroed): the complement of the ones' complement
// sum of b. Verifying a header that already holds its checksum with
// InternetChecksum yields 0.
func InternetChecksum(b []byte) uint16 { return ^Checksum(b, 0) }

// PseudoHeaderChecksum returns the ones' complement sum of the IPv4
// pseudo-header (RFC 793 section 3.1) used by TCP and UDP checksums: source
// and destination address, protocol and the transport segment length.
func PseudoHeaderChecksum(protocol uint8, src, dst uint32, length uint16) uint16 {
	s := uint64(src>>16) + uint64(src&0xffff) + uint64(dst>>16) + uint64(dst&0xffff) +
		uint64(protocol) + uint64(length)
	return fold64(s)
}

// UpdateChecksum16 returns the checksum field value hc after a 16-bit word
// covered by it changes from old to new, per RFC 1624 equation 3:
// HC' = ~(~HC + ~m + m'). The word must lie at an even offset from the start
// of the checksummed data. The result equals a full recomputation except
// when all data other than the checksum field is zero, which no IPv4, TCP
// or ICMP header is (RFC 1624 section 3).
func UpdateChecksum16(hc, old, new uint16) uint16 {
	s := uint32(^hc) + uint32(^old) + uint32(new) // <= 3*(2^16-1)
	s = (s >> 16) + (s & 0xffff)
	s = (s >> 16) + (s & 0xffff)
	return ^uint16(s)
}

// UpdateChecksum32 returns the checksum field value hc after a 32-bit field
// covered by it changes from old to new (RFC 1624 applied to both 16-bit
// halves). The field must lie at an even offset from the start of the
// checksummed data. The caveat of [UpdateChecksum16] applies.
func UpdateChecksum32(hc uint16, old, new uint32) uint16 {
	s := uint32(^hc) + (^old >> 16) + (^old & 0xffff) + (new >> 16) + (new & 0xffff) // <= 5*(2^16-1)
	s = (s >> 16) + (s & 0xffff)
	s = (s >> 16) + (s & 0xffff)
	return ^uint16(s)
}

// PseudoHeaderChecksum6 returns the ones' complement sum of the IPv6
// pseudo-header (RFC 8200 section 8.1) that TCP, UDP and ICMPv6 checksums
// cover: source and destination address, the upper-layer packet length (32
// bits) and the next header value of the upper-layer protocol (not of any
// extension header before it).
func PseudoHeaderChecksum6(protocol uint8, src, dst [IPv6AddressLen]byte, length uint32) uint16 {
	be := binary.BigEndian
	var acc, carry uint64
	acc, carry = bits.Add64(be.Uint64(src[:8]), be.Uint64(src[8:]), 0)
	acc, carry = bits.Add64(acc, be.Uint64(dst[:8]), carry)
	acc, carry = bits.Add64(acc, be.Uint64(dst[8:]), carry)
	acc, carry = bits.Add64(acc, uint64(length)+uint64(protocol), carry)
	acc += carry // cannot overflow: see Checksum
	return fold64(acc)
}

// addrSum6 returns the ones' complement sum of the eight 16-bit words of an
// IPv6 address given as its two big-endian 64-bit halves, folded to 16 bits.
func addrSum6(hi, lo uint64) uint16 {
	s, c := bits.Add64(hi, lo, 0)
	return fold64(s + c) // s + c cannot overflow: s is at most 2^64-2 when c is 1
}

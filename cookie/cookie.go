// Package cookie computes the keyed hash that makes probe sequence numbers
// stateless SYN cookies: the scanner puts Sum(flow) in the sequence number of
// each probe, and a reply is accepted only if it acknowledges that number for
// the same flow. No per-probe state is kept, and replies that were not
// provoked by this scan (or were forged without the key) are dropped.
//
// The hash is SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast
// short-input PRF", 2012) of the flow tuple, truncated to 32 bits: a 12-byte
// message for IPv4 ([Key.Sum]), a 36-byte one for IPv6 ([Key.SumIPv6]), under
// the same key. SipHash takes the message length into its last block, so the
// two families' messages are distinct inputs to the PRF (an IPv4 flow and
// the IPv4-mapped IPv6 flow of the same addresses included): their cookies
// are unrelated.
package cookie

import (
	"encoding/binary"
	"math/bits"
	"net/netip"

	"github.com/fastscan/fastscan/splitmix"
)

// Key is a 128-bit SipHash key. The zero value is a valid, but fixed and so
// predictable, key.
type Key struct {
	k0, k1 uint64
}

// NewKey derives a key from seed with the SplitMix64 generator
// ([splitmix.Next]). The engine passes a random seed for every scan unless
// the user fixed one with --seed, in which case cookies are reproducible
// across runs.
func NewKey(seed uint64) Key {
	state := seed
	k0 := splitmix.Next(&state)
	k1 := splitmix.Next(&state)
	return Key{k0: k0, k1: k1}
}

// KeyFromBytes returns the key whose 16 bytes are b, read as two
// little-endian 64-bit words as the SipHash specification does.
func KeyFromBytes(b [16]byte) Key {
	return Key{
		k0: binary.LittleEndian.Uint64(b[0:8]),
		k1: binary.LittleEndian.Uint64(b[8:16]),
	}
}

// Sum returns the cookie of one probe's flow: the low 32 bits of SipHash-2-4
// under k of the 12-byte message srcIP, dstIP, srcPort, dstPort, each in
// network byte order (as the fields appear on the wire). Addresses are host
// order numeric values (198.19.0.1 is 0xC6130001). Sum does not allocate.
func (k Key) Sum(srcIP, dstIP uint32, srcPort, dstPort uint16) uint32 {
	return uint32(k.Sum64(srcIP, dstIP, srcPort, dstPort))
}

// Sum64 is Sum with all 64 bits of the SipHash-2-4 output, for cookies wider than
// a TCP sequence number (UDP source ports and transaction ids together).
func (k Key) Sum64(srcIP, dstIP uint32, srcPort, dstPort uint16) uint64 {
	// The message words as SipHash reads them: little-endian loads of the
	// big-endian wire bytes. The final word carries the length, 12, in its
	// top byte.
	m0 := uint64(bits.ReverseBytes32(srcIP)) | uint64(bits.ReverseBytes32(dstIP))<<32
	m1 := uint64(bits.ReverseBytes16(srcPort)) | uint64(bits.ReverseBytes16(dstPort))<<16 | 12<<56

	v0 := k.k0 ^ initV0
	v1 := k.k1 ^ initV1
	v2 := k.k0 ^ initV2
	v3 := k.k1 ^ initV3

	v3 ^= m0
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= m0

	v3 ^= m1
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= m1

	v2 ^= 0xff
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	return v0 ^ v1 ^ v2 ^ v3
}

// SumIPv6 returns the cookie of one IPv6 probe's flow: the low 32 bits of
// SipHash-2-4 under k of the 36-byte message srcIP, dstIP, srcPort, dstPort,
// each in network byte order (the addresses as their 16 bytes, as
// [netip.Addr.As16] gives them). SumIPv6 does not allocate.
func (k Key) SumIPv6(srcIP, dstIP [16]byte, srcPort, dstPort uint16) uint32 {
	return uint32(k.Sum64IPv6(srcIP, dstIP, srcPort, dstPort))
}

// Sum64IPv6 is SumIPv6 with all 64 bits of the SipHash-2-4 output (UDP source
// ports and transaction ids together, as [Key.Sum64]).
func (k Key) Sum64IPv6(srcIP, dstIP [16]byte, srcPort, dstPort uint16) uint64 {
	le := binary.LittleEndian
	// Four full words of addresses, then the last block: the ports and the
	// length, 36, in the top byte.
	m4 := uint64(bits.ReverseBytes16(srcPort)) | uint64(bits.ReverseBytes16(dstPort))<<16 | 36<<56

	v0 := k.k0 ^ initV0
	v1 := k.k1 ^ initV1
	v2 := k.k0 ^ initV2
	v3 := k.k1 ^ initV3
	for _, m := range [5]uint64{le.Uint64(srcIP[:8]), le.Uint64(srcIP[8:]), le.Uint64(dstIP[:8]), le.Uint64(dstIP[8:]), m4} {
		v3 ^= m
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
		v0 ^= m
	}
	v2 ^= 0xff
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	return v0 ^ v1 ^ v2 ^ v3
}

// SumAddr returns the cookie of a flow of either family: [Key.Sum] when both
// addresses are IPv4 ([netip.Addr.Is4]), [Key.SumIPv6] of their 16-byte forms
// otherwise. It does not allocate.
func (k Key) SumAddr(srcIP, dstIP netip.Addr, srcPort, dstPort uint16) uint32 {
	return uint32(k.Sum64Addr(srcIP, dstIP, srcPort, dstPort))
}

// Sum64Addr is SumAddr with all 64 bits: [Key.Sum64] or [Key.Sum64IPv6].
func (k Key) Sum64Addr(srcIP, dstIP netip.Addr, srcPort, dstPort uint16) uint64 {
	if srcIP.Is4() && dstIP.Is4() {
		s, d := srcIP.As4(), dstIP.As4()
		return k.Sum64(binary.BigEndian.Uint32(s[:]), binary.BigEndian.Uint32(d[:]), srcPort, dstPort)
	}
	return k.Sum64IPv6(srcIP.As16(), dstIP.As16(), srcPort, dstPort)
}

// The SipHash initialisation constants: "somepseudorandomlygeneratedbytes".
const (
	initV0 = 0x736f6d6570736575
	initV1 = 0x646f72616e646f6d
	initV2 = 0x6c7967656e657261
	initV3 = 0x7465646279746573
)

// sipRound is one SipRound of the SipHash state.
func sipRound(v0, v1, v2, v3 uint64) (uint64, uint64, uint64, uint64) {
	v0 += v1
	v1 = bits.RotateLeft64(v1, 13)
	v1 ^= v0
	v0 = bits.RotateLeft64(v0, 32)
	v2 += v3
	v3 = bits.RotateLeft64(v3, 16)
	v3 ^= v2
	v0 += v3
	v3 = bits.RotateLeft64(v3, 21)
	v3 ^= v0
	v2 += v1
	v1 = bits.RotateLeft64(v1, 17)
	v1 ^= v2
	v2 = bits.RotateLeft64(v2, 32)
	return v0, v1, v2, v3
}

// sum64 is SipHash-2-4 of an arbitrary message under k: the general form of
// which Sum is the fixed 12-byte special case.
func (k Key) sum64(msg []byte) uint64 {
	v0 := k.k0 ^ initV0
	v1 := k.k1 ^ initV1
	v2 := k.k0 ^ initV2
	v3 := k.k1 ^ initV3

	n := len(msg)
	for ; len(msg) >= 8; msg = msg[8:] {
		m := binary.LittleEndian.Uint64(msg)
		v3 ^= m
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
		v0 ^= m
	}
	// The last block: the 0 to 7 remaining bytes, little-endian, and the
	// message length modulo 256 in the top byte.
	last := uint64(n) << 56
	for i, c := range msg {
		last |= uint64(c) << (8 * i)
	}
	v3 ^= last
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= last

	v2 ^= 0xff
	for range 4 {
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	}
	return v0 ^ v1 ^ v2 ^ v3
}

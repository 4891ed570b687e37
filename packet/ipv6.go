package packet

import "encoding/binary"

// IPv6 header field offsets and sizes (RFC 8200 section 3).
const (
	IPv6VersionTCFlowOffset = 0 // version (4 bits), traffic class (8), flow label (20)
	IPv6PayloadLenOffset    = 4
	IPv6NextHeaderOffset    = 6
	IPv6HopLimitOffset      = 7
	IPv6SrcAddrOffset       = 8
	IPv6DstAddrOffset       = 24
	IPv6HeaderLen           = 40 // the fixed header; extension headers follow it
	IPv6AddressLen          = 16
	IPv6Version             = 6
	IPv6FlowLabelMask       = 0xfffff // the flow label: the low 20 bits of the first word
)

// EtherTypeIPv6 is the EtherType of Internet Protocol version 6.
const EtherTypeIPv6 uint16 = 0x86dd

// IPv6 next header values the scanner knows besides [ProtocolTCP] and
// [ProtocolUDP]: the extension headers of RFC 8200 section 4 (and those of
// later RFCs that share their format), ICMPv6 and "no next header".
const (
	IPv6HopByHop        uint8 = 0   // Hop-by-Hop Options (RFC 8200 section 4.3)
	IPv6Routing         uint8 = 43  // Routing (RFC 8200 section 4.4)
	IPv6Fragment        uint8 = 44  // Fragment (RFC 8200 section 4.5)
	IPv6ESP             uint8 = 50  // Encapsulating Security Payload (RFC 4303): opaque
	IPv6AH              uint8 = 51  // Authentication Header (RFC 4302)
	ProtocolICMPv6      uint8 = 58  // ICMPv6 (RFC 4443)
	IPv6NoNextHeader    uint8 = 59  // nothing follows (RFC 8200 section 4.7)
	IPv6DestinationOpts uint8 = 60  // Destination Options (RFC 8200 section 4.6)
	IPv6Mobility        uint8 = 135 // Mobility header (RFC 6275), generic extension header format
	IPv6HIP             uint8 = 139 // Host Identity Protocol (RFC 7401), generic format
	IPv6Shim6           uint8 = 140 // Shim6 (RFC 5533), generic format
	IPv6Experimental1   uint8 = 253 // experimentation (RFC 3692, RFC 4727), generic format
	IPv6Experimental2   uint8 = 254 // experimentation (RFC 3692, RFC 4727), generic format
)

// Fragment header layout (RFC 8200 section 4.5).
const (
	IPv6FragmentHeaderLen    = 8
	ipv6FragOffsetFlagOffset = 2      // fragment offset (13 bits, 8-byte units) and the M flag
	ipv6FragMoreFragments    = 0x0001 // M flag in the offset/flags word
	ipv6FragOffsetMask       = 0xfff8 // fragment offset, already in bytes when masked
)

// MaxIPv6ExtensionHeaders bounds the extension headers [IPv6.Upper] walks
// before it gives up: RFC 8200 orders at most about six in a packet, and
// nothing the scanner sends or expects back carries more than one or two.
const MaxIPv6ExtensionHeaders = 8

// IPv6 is a view over an IPv6 fixed header and the rest of its packet.
type IPv6 []byte

// IsValid reports whether the view holds an IPv6 header: at least 40 bytes,
// version 6, and a payload length that fits in the view. The view may be
// longer than the packet (link-layer padding). A jumbogram (payload length 0
// with a Jumbo Payload option, RFC 2675) is taken as its payload length says:
// empty.
func (b IPv6) IsValid() bool {
	return len(b) >= IPv6HeaderLen && b.Version() == IPv6Version &&
		IPv6HeaderLen+int(b.PayloadLength()) <= len(b)
}

// Version returns the IP version field.
func (b IPv6) Version() uint8 { return b[IPv6VersionTCFlowOffset] >> 4 }

// TrafficClass returns the traffic class (DSCP and ECN) byte.
func (b IPv6) TrafficClass() uint8 {
	return uint8(binary.BigEndian.Uint16(b[IPv6VersionTCFlowOffset:]) >> 4)
}

// FlowLabel returns the 20-bit flow label.
func (b IPv6) FlowLabel() uint32 {
	return binary.BigEndian.Uint32(b[IPv6VersionTCFlowOffset:]) & IPv6FlowLabelMask
}

// PayloadLength returns the length in bytes of what follows the fixed
// header, extension headers included.
func (b IPv6) PayloadLength() uint16 { return binary.BigEndian.Uint16(b[IPv6PayloadLenOffset:]) }

// NextHeader returns the type of the header after the fixed header: an
// extension header or the upper-layer protocol.
func (b IPv6) NextHeader() uint8 { return b[IPv6NextHeaderOffset] }

// HopLimit returns the hop limit (IPv4's TTL).
func (b IPv6) HopLimit() uint8 { return b[IPv6HopLimitOffset] }

// SourceAddress returns the source address.
func (b IPv6) SourceAddress() [IPv6AddressLen]byte {
	return [IPv6AddressLen]byte(b[IPv6SrcAddrOffset:])
}

// DestinationAddress returns the destination address.
func (b IPv6) DestinationAddress() [IPv6AddressLen]byte {
	return [IPv6AddressLen]byte(b[IPv6DstAddrOffset:])
}

// Payload returns the bytes after the fixed header up to the payload length:
// extension headers and the upper-layer packet. The view must be valid.
func (b IPv6) Payload() []byte { return b[IPv6HeaderLen : IPv6HeaderLen+int(b.PayloadLength())] }

// SetVersionTrafficClassFlowLabel sets the first word: version 6, the
// traffic class and the low 20 bits of flowLabel.
func (b IPv6) SetVersionTrafficClassFlowLabel(tc uint8, flowLabel uint32) {
	binary.BigEndian.PutUint32(b[IPv6VersionTCFlowOffset:],
		IPv6Version<<28|uint32(tc)<<20|flowLabel&IPv6FlowLabelMask)
}

// SetPayloadLength sets the payload length field.
func (b IPv6) SetPayloadLength(n uint16) { binary.BigEndian.PutUint16(b[IPv6PayloadLenOffset:], n) }

// SetNextHeader sets the next header field.
func (b IPv6) SetNextHeader(nh uint8) { b[IPv6NextHeaderOffset] = nh }

// SetHopLimit sets the hop limit.
func (b IPv6) SetHopLimit(h uint8) { b[IPv6HopLimitOffset] = h }

// SetSourceAddress sets the source address.
func (b IPv6) SetSourceAddress(a [IPv6AddressLen]byte) {
	*(*[IPv6AddressLen]byte)(b[IPv6SrcAddrOffset:]) = a
}

// SetDestinationAddress sets the destination address.
func (b IPv6) SetDestinationAddress(a [IPv6AddressLen]byte) {
	*(*[IPv6AddressLen]byte)(b[IPv6DstAddrOffset:]) = a
}

// IPv6Upper locates the upper-layer header of an IPv6 packet: what
// [IPv6.Upper] finds after the extension headers.
type IPv6Upper struct {
	// Protocol is the upper-layer protocol number (TCP, UDP, ICMPv6, ...).
	Protocol uint8
	// Offset is where its header starts, counted from the start of the IPv6
	// fixed header.
	Offset int
	// Fragment reports that a Fragment header was crossed; FragmentOffset
	// (bytes) and MoreFragments are its fields. FragmentOffset 0 with
	// MoreFragments false is an atomic fragment (RFC 6946): a whole packet.
	Fragment       bool
	FragmentOffset int
	MoreFragments  bool
}

// Upper walks the extension header chain of the packet b (b ends where the
// packet does, or where a quote of it is cut short) from the fixed header's
// next header, and returns where the upper-layer header starts.
//
// Hop-by-Hop, Routing, Destination Options and the other headers of the
// generic format (RFC 8200 section 4; RFC 7045) are skipped by their length
// field; a Fragment header is recorded and skipped, but the walk stops there
// with ok false for a non-first fragment (its first bytes are not an
// upper-layer header). ok is false too for a chain that leaves b, for more
// than [MaxIPv6ExtensionHeaders] extension headers, for ESP and AH (what
// follows is opaque or not worth trusting) and for No Next Header. The
// upper-layer header itself is not checked: Offset may equal len(b).
//
// b must hold the fixed header ([IPv6HeaderLen] bytes). Upper does not
// allocate.
func (b IPv6) Upper() (u IPv6Upper, ok bool) {
	u.Protocol, u.Offset, u.FragmentOffset, u.Fragment, u.MoreFragments, ok = b.upper()
	return u, ok
}

// upper is Upper with its results in registers (the struct costs the reply
// parser a measurable share of its time).
func (b IPv6) upper() (proto uint8, off, fragOff int, frag, more, ok bool) {
	nh := b.NextHeader()
	off = IPv6HeaderLen
	for range MaxIPv6ExtensionHeaders + 1 {
		switch nh {
		case IPv6HopByHop, IPv6Routing, IPv6DestinationOpts, IPv6Mobility, IPv6HIP, IPv6Shim6,
			IPv6Experimental1, IPv6Experimental2:
			// Next header, header extension length in 8-byte units not
			// counting the first 8 bytes.
			if off+2 > len(b) {
				return 0, 0, 0, frag, more, false
			}
			nh = b[off]
			off += 8 + 8*int(b[off+1])
			if off > len(b) {
				return 0, 0, 0, frag, more, false
			}
		case IPv6Fragment:
			if off+IPv6FragmentHeaderLen > len(b) || frag {
				return 0, 0, 0, frag, more, false // truncated, or a second Fragment header
			}
			w := binary.BigEndian.Uint16(b[off+ipv6FragOffsetFlagOffset:])
			frag, fragOff, more = true, int(w&ipv6FragOffsetMask), w&ipv6FragMoreFragments != 0
			if fragOff != 0 {
				return 0, 0, fragOff, frag, more, false
			}
			nh = b[off]
			off += IPv6FragmentHeaderLen
		case IPv6ESP, IPv6AH, IPv6NoNextHeader:
			return 0, 0, fragOff, frag, more, false
		default:
			return nh, off, fragOff, frag, more, true
		}
	}
	return 0, 0, fragOff, frag, more, false
}

package packet

import "encoding/binary"

// ICMPv6 header field offsets and sizes (RFC 4443 section 2.1).
const (
	ICMPv6TypeOffset     = 0
	ICMPv6CodeOffset     = 1
	ICMPv6ChecksumOffset = 2
	// ICMPv6HeaderLen is the length of the ICMPv6 header, including the 4
	// type-specific bytes (unused for destination unreachable, the MTU for
	// packet too big, the pointer for parameter problem). An error message
	// quotes the invoking packet after them.
	ICMPv6HeaderLen = 8
)

// ICMPv6 message types (RFC 4443, RFC 4861).
const (
	ICMPv6DestinationUnreachable uint8 = 1
	ICMPv6PacketTooBig           uint8 = 2
	ICMPv6TimeExceeded           uint8 = 3
	ICMPv6ParameterProblem       uint8 = 4
	ICMPv6EchoRequest            uint8 = 128
	ICMPv6EchoReply              uint8 = 129
	ICMPv6RouterSolicitation     uint8 = 133
	ICMPv6RouterAdvertisement    uint8 = 134
	ICMPv6NeighborSolicitation   uint8 = 135
	ICMPv6NeighborAdvertisement  uint8 = 136
)

// ICMPv6 destination unreachable codes (RFC 4443 section 3.1, RFC 6550,
// RFC 8883). nmap names the reasons: 0 no-route, 1 and 5 admin-prohibited,
// 2 beyond-scope, 3 host-unreach, 4 port-unreach, 6 reject-route; all of them
// make a port filtered, except port unreachable from the target itself for a
// UDP probe, which makes it closed.
const (
	ICMPv6NoRoute            uint8 = 0 // no route to destination
	ICMPv6AdminProhibited    uint8 = 1 // communication administratively prohibited
	ICMPv6BeyondScope        uint8 = 2 // beyond scope of source address
	ICMPv6AddressUnreachable uint8 = 3 // address unreachable (neighbour discovery failed)
	ICMPv6PortUnreachable    uint8 = 4 // port unreachable
	ICMPv6SourcePolicyFailed uint8 = 5 // source address failed ingress/egress policy
	ICMPv6RejectRoute        uint8 = 6 // reject route to destination
	ICMPv6SourceRoutingError uint8 = 7 // error in source routing header (RFC 6550)
	ICMPv6HeadersTooLong     uint8 = 8 // headers too long (RFC 8883)
)

// ICMPv6 is a view over an ICMPv6 message.
type ICMPv6 []byte

// IsValid reports whether the view is long enough for the ICMPv6 header.
func (b ICMPv6) IsValid() bool { return len(b) >= ICMPv6HeaderLen }

// Type returns the message type.
func (b ICMPv6) Type() uint8 { return b[ICMPv6TypeOffset] }

// Code returns the message code.
func (b ICMPv6) Code() uint8 { return b[ICMPv6CodeOffset] }

// Checksum returns the checksum field.
func (b ICMPv6) Checksum() uint16 { return binary.BigEndian.Uint16(b[ICMPv6ChecksumOffset:]) }

// Payload returns the bytes after the 8-byte header; for error messages,
// as much of the invoking packet as was quoted, from its IPv6 header on.
func (b ICMPv6) Payload() []byte { return b[ICMPv6HeaderLen:] }

// SetType sets the message type.
func (b ICMPv6) SetType(t uint8) { b[ICMPv6TypeOffset] = t }

// SetCode sets the message code.
func (b ICMPv6) SetCode(c uint8) { b[ICMPv6CodeOffset] = c }

// SetChecksum sets the checksum field.
func (b ICMPv6) SetChecksum(c uint16) { binary.BigEndian.PutUint16(b[ICMPv6ChecksumOffset:], c) }

// CalculateChecksum returns the checksum the message b (exactly the message)
// should carry when sent from src to dst: unlike ICMPv4's, it covers the IPv6
// pseudo-header (RFC 4443 section 2.3). The checksum field is taken as zero.
func (b ICMPv6) CalculateChecksum(src, dst [IPv6AddressLen]byte) uint16 {
	s := PseudoHeaderChecksum6(ProtocolICMPv6, src, dst, uint32(len(b)))
	s = Checksum(b[:ICMPv6ChecksumOffset], s)
	return ^Checksum(b[ICMPv6ChecksumOffset+2:], s)
}

// IsChecksumValid reports whether the checksum field of the message b
// (exactly the message) is correct for a packet from src to dst.
func (b ICMPv6) IsChecksumValid(src, dst [IPv6AddressLen]byte) bool {
	return ^Checksum(b, PseudoHeaderChecksum6(ProtocolICMPv6, src, dst, uint32(len(b)))) == 0
}

package packet

import "encoding/binary"

// ICMPv4 header field offsets and sizes (RFC 792).
const (
	ICMPv4TypeOffset     = 0
	ICMPv4CodeOffset     = 1
	ICMPv4ChecksumOffset = 2
	// ICMPv4HeaderLen is the length of the ICMPv4 header, including the
	// 4 type-specific bytes (unused for destination unreachable).
	ICMPv4HeaderLen = 8
	// ICMPv4QuotedTransportLen is the number of bytes of the offending
	// datagram's payload an ICMPv4 error is guaranteed to quote after its
	// IP header.
	ICMPv4QuotedTransportLen = 8
)

// ICMPv4 message types used by the scanner.
const (
	ICMPv4EchoReply              uint8 = 0
	ICMPv4DestinationUnreachable uint8 = 3
	ICMPv4Echo                   uint8 = 8
	ICMPv4TimeExceeded           uint8 = 11
)

// ICMPv4 destination unreachable codes (RFC 792, RFC 1122, RFC 1812).
const (
	ICMPv4NetUnreachable          uint8 = 0
	ICMPv4HostUnreachable         uint8 = 1
	ICMPv4ProtocolUnreachable     uint8 = 2
	ICMPv4PortUnreachable         uint8 = 3
	ICMPv4FragmentationNeeded     uint8 = 4
	ICMPv4SourceRouteFailed       uint8 = 5
	ICMPv4NetUnknown              uint8 = 6
	ICMPv4HostUnknown             uint8 = 7
	ICMPv4SourceHostIsolated      uint8 = 8
	ICMPv4NetProhibited           uint8 = 9
	ICMPv4HostProhibited          uint8 = 10
	ICMPv4NetUnreachableForTOS    uint8 = 11
	ICMPv4HostUnreachableForTOS   uint8 = 12
	ICMPv4CommunicationProhibited uint8 = 13
	ICMPv4HostPrecedenceViolation uint8 = 14
	ICMPv4PrecedenceCutoff        uint8 = 15
)

// ICMPv4 is a view over an ICMPv4 message.
type ICMPv4 []byte

// IsValid reports whether the view is long enough for the ICMPv4 header.
func (b ICMPv4) IsValid() bool { return len(b) >= ICMPv4HeaderLen }

// Type returns the message type.
func (b ICMPv4) Type() uint8 { return b[ICMPv4TypeOffset] }

// Code returns the message code.
func (b ICMPv4) Code() uint8 { return b[ICMPv4CodeOffset] }

// Checksum returns the checksum field.
func (b ICMPv4) Checksum() uint16 { return binary.BigEndian.Uint16(b[ICMPv4ChecksumOffset:]) }

// Payload returns the bytes after the 8-byte header; for error messages,
// the quoted IP header and the start of its payload.
func (b ICMPv4) Payload() []byte { return b[ICMPv4HeaderLen:] }

// SetType sets the message type.
func (b ICMPv4) SetType(t uint8) { b[ICMPv4TypeOffset] = t }

// SetCode sets the message code.
func (b ICMPv4) SetCode(c uint8) { b[ICMPv4CodeOffset] = c }

// SetChecksum sets the checksum field.
func (b ICMPv4) SetChecksum(c uint16) { binary.BigEndian.PutUint16(b[ICMPv4ChecksumOffset:], c) }

// CalculateChecksum returns the checksum the message b (exactly the
// message) should carry, computed with the checksum field taken as zero.
func (b ICMPv4) CalculateChecksum() uint16 {
	s := Checksum(b[:ICMPv4ChecksumOffset], 0)
	return ^Checksum(b[ICMPv4ChecksumOffset+2:], s)
}

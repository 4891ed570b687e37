package packet

import "encoding/binary"

// UDP header field offsets (RFC 768).
const (
	UDPSrcPortOffset  = 0
	UDPDstPortOffset  = 2
	UDPLengthOffset   = 4
	UDPChecksumOffset = 6
	UDPHeaderLen      = 8
)

// UDP is a view over a UDP header and its payload.
type UDP []byte

// IsValid reports whether the view holds a UDP header whose length field covers
// at least the header and fits in the view.
func (b UDP) IsValid() bool {
	if len(b) < UDPHeaderLen {
		return false
	}
	l := int(b.Length())
	return l >= UDPHeaderLen && l <= len(b)
}

// SourcePort returns the source port.
func (b UDP) SourcePort() uint16 { return binary.BigEndian.Uint16(b[UDPSrcPortOffset:]) }

// DestinationPort returns the destination port.
func (b UDP) DestinationPort() uint16 { return binary.BigEndian.Uint16(b[UDPDstPortOffset:]) }

// Length returns the length field: header and payload, in bytes.
func (b UDP) Length() uint16 { return binary.BigEndian.Uint16(b[UDPLengthOffset:]) }

// Checksum returns the checksum field (0: none was computed).
func (b UDP) Checksum() uint16 { return binary.BigEndian.Uint16(b[UDPChecksumOffset:]) }

// Payload returns the payload, as far as the length field says (call IsValid first).
func (b UDP) Payload() []byte { return b[UDPHeaderLen:b.Length()] }

// SetSourcePort sets the source port.
func (b UDP) SetSourcePort(p uint16) { binary.BigEndian.PutUint16(b[UDPSrcPortOffset:], p) }

// SetDestinationPort sets the destination port.
func (b UDP) SetDestinationPort(p uint16) { binary.BigEndian.PutUint16(b[UDPDstPortOffset:], p) }

// SetChecksum sets the checksum field.
func (b UDP) SetChecksum(c uint16) { binary.BigEndian.PutUint16(b[UDPChecksumOffset:], c) }

// CalculateChecksum computes the UDP checksum of the datagram (header and payload as
// far as the length field says) from src to dst, with the checksum field taken as
// zero. A result of zero is returned as 0xffff, as RFC 768 requires on the wire.
func (b UDP) CalculateChecksum(src, dst uint32) uint16 {
	l := b.Length()
	sum := PseudoHeaderChecksum(ProtocolUDP, src, dst, l)
	sum = Checksum(b[:UDPChecksumOffset], sum)
	sum = Checksum(b[UDPHeaderLen:l], sum)
	if c := ^sum; c != 0 {
		return c
	}
	return 0xffff
}

// CalculateChecksum6 computes the UDP checksum of the datagram (header and
// payload as far as the length field says) sent over IPv6 from src to dst
// (RFC 8200 section 8.1 pseudo-header), with the checksum field taken as
// zero. Over IPv6 the checksum is mandatory; a result of zero is returned as
// 0xffff.
func (b UDP) CalculateChecksum6(src, dst [IPv6AddressLen]byte) uint16 {
	l := b.Length()
	sum := PseudoHeaderChecksum6(ProtocolUDP, src, dst, uint32(l))
	sum = Checksum(b[:UDPChecksumOffset], sum)
	sum = Checksum(b[UDPHeaderLen:l], sum)
	if c := ^sum; c != 0 {
		return c
	}
	return 0xffff
}

package packet

import "encoding/binary"

// TCP header field offsets (RFC 9293).
const (
	TCPSrcPortOffset     = 0
	TCPDstPortOffset     = 2
	TCPSeqNumOffset      = 4
	TCPAckNumOffset      = 8
	TCPDataOffsetOffset  = 12
	TCPFlagsOffset       = 13
	TCPWindowOffset      = 14
	TCPChecksumOffset    = 16
	TCPUrgentPtrOffset   = 18
	TCPMinimumHeaderLen  = 20 // header without options
	TCPMaximumHeaderLen  = 60 // data offset 15
	TCPOptionMSS         = 2  // kind of the maximum segment size option
	TCPOptionMSSLen      = 4  // length of the maximum segment size option
	TCPOptionEndOfList   = 0  // kind of the end-of-option-list option
	TCPOptionNoOperation = 1  // kind of the no-operation (padding) option
)

// TCP flags, as found in the byte at [TCPFlagsOffset].
const (
	TCPFlagFIN uint8 = 1 << iota
	TCPFlagSYN
	TCPFlagRST
	TCPFlagPSH
	TCPFlagACK
	TCPFlagURG
	TCPFlagECE
	TCPFlagCWR
)

// TCP is a view over a TCP header and its payload.
type TCP []byte

// IsValid reports whether the view holds a full TCP header: at least 20
// bytes and a data offset that is at least 5 words and fits in the view.
func (b TCP) IsValid() bool {
	if len(b) < TCPMinimumHeaderLen {
		return false
	}
	hl := b.DataOffset()
	return hl >= TCPMinimumHeaderLen && hl <= len(b)
}

// SourcePort returns the source port.
func (b TCP) SourcePort() uint16 { return binary.BigEndian.Uint16(b[TCPSrcPortOffset:]) }

// DestinationPort returns the destination port.
func (b TCP) DestinationPort() uint16 { return binary.BigEndian.Uint16(b[TCPDstPortOffset:]) }

// SequenceNumber returns the sequence number.
func (b TCP) SequenceNumber() uint32 { return binary.BigEndian.Uint32(b[TCPSeqNumOffset:]) }

// AckNumber returns the acknowledgment number.
func (b TCP) AckNumber() uint32 { return binary.BigEndian.Uint32(b[TCPAckNumOffset:]) }

// DataOffset returns the header length in bytes (data offset * 4).
func (b TCP) DataOffset() int { return int(b[TCPDataOffsetOffset]>>4) * 4 }

// Flags returns the flag byte (see [TCPFlagSYN] and friends).
func (b TCP) Flags() uint8 { return b[TCPFlagsOffset] }

// WindowSize returns the receive window.
func (b TCP) WindowSize() uint16 { return binary.BigEndian.Uint16(b[TCPWindowOffset:]) }

// Checksum returns the checksum field.
func (b TCP) Checksum() uint16 { return binary.BigEndian.Uint16(b[TCPChecksumOffset:]) }

// UrgentPointer returns the urgent pointer.
func (b TCP) UrgentPointer() uint16 { return binary.BigEndian.Uint16(b[TCPUrgentPtrOffset:]) }

// Options returns the option bytes between the fixed header and the data.
// The view must be valid.
func (b TCP) Options() []byte { return b[TCPMinimumHeaderLen:b.DataOffset()] }

// CalculateChecksum returns the checksum the segment b (header and data,
// exactly the segment) should carry when sent from src to dst, computed with
// the checksum field taken as zero.
func (b TCP) CalculateChecksum(src, dst uint32) uint16 {
	s := PseudoHeaderChecksum(ProtocolTCP, src, dst, uint16(len(b)))
	s = Checksum(b[:TCPChecksumOffset], s)
	s = Checksum(b[TCPChecksumOffset+2:], s)
	return ^s
}

// IsChecksumValid reports whether the checksum field of the segment b
// (exactly the segment) is correct for a packet from src to dst.
func (b TCP) IsChecksumValid(src, dst uint32) bool {
	return ^Checksum(b, PseudoHeaderChecksum(ProtocolTCP, src, dst, uint16(len(b)))) == 0
}

// SetSourcePort sets the source port.
func (b TCP) SetSourcePort(p uint16) { binary.BigEndian.PutUint16(b[TCPSrcPortOffset:], p) }

// SetDestinationPort sets the destination port.
func (b TCP) SetDestinationPort(p uint16) { binary.BigEndian.PutUint16(b[TCPDstPortOffset:], p) }

// SetSequenceNumber sets the sequence number.
func (b TCP) SetSequenceNumber(n uint32) { binary.BigEndian.PutUint32(b[TCPSeqNumOffset:], n) }

// SetAckNumber sets the acknowledgment number.
func (b TCP) SetAckNumber(n uint32) { binary.BigEndian.PutUint32(b[TCPAckNumOffset:], n) }

// SetFlags sets the flag byte.
func (b TCP) SetFlags(f uint8) { b[TCPFlagsOffset] = f }

// SetChecksum sets the checksum field.
func (b TCP) SetChecksum(c uint16) { binary.BigEndian.PutUint16(b[TCPChecksumOffset:], c) }

// CalculateChecksum6 returns the checksum the segment b (header and data,
// exactly the segment) should carry when sent over IPv6 from src to dst
// (RFC 8200 section 8.1 pseudo-header), computed with the checksum field
// taken as zero.
func (b TCP) CalculateChecksum6(src, dst [IPv6AddressLen]byte) uint16 {
	s := PseudoHeaderChecksum6(ProtocolTCP, src, dst, uint32(len(b)))
	s = Checksum(b[:TCPChecksumOffset], s)
	s = Checksum(b[TCPChecksumOffset+2:], s)
	return ^s
}

// IsChecksumValid6 reports whether the checksum field of the segment b
// (exactly the segment) is correct for an IPv6 packet from src to dst.
func (b TCP) IsChecksumValid6(src, dst [IPv6AddressLen]byte) bool {
	return ^Checksum(b, PseudoHeaderChecksum6(ProtocolTCP, src, dst, uint32(len(b)))) == 0
}

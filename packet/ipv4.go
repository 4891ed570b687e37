package packet

import "encoding/binary"

// IPv4 header field offsets (RFC 791).
const (
	IPv4VersionIHLOffset   = 0
	IPv4TOSOffset          = 1
	IPv4TotalLenOffset     = 2
	IPv4IDOffset           = 4
	IPv4FlagsFragOffset    = 6
	IPv4TTLOffset          = 8
	IPv4ProtocolOffset     = 9
	IPv4ChecksumOffset     = 10
	IPv4SrcAddrOffset      = 12
	IPv4DstAddrOffset      = 16
	IPv4MinimumHeaderLen   = 20 // header without options
	IPv4MaximumHeaderLen   = 60 // IHL 15
	IPv4AddressLen         = 4
	IPv4Version            = 4
	IPv4FlagDontFragment   = 0x4000 // DF bit in the flags/fragment-offset word
	IPv4FlagMoreFragments  = 0x2000 // MF bit in the flags/fragment-offset word
	IPv4FragmentOffsetMask = 0x1fff // fragment offset, in 8-byte units
)

// IP protocol numbers used by the scanner.
const (
	ProtocolICMP uint8 = 1
	ProtocolTCP  uint8 = 6
	ProtocolUDP  uint8 = 17
)

// IPv4 is a view over an IPv4 header and the rest of its packet.
type IPv4 []byte

// IsValid reports whether the view holds a well-formed IPv4 header: version
// 4, a header length of at least 20 bytes, and a total length that covers
// the header and fits in the view. The view may be longer than the total
// length (link-layer padding).
func (b IPv4) IsValid() bool {
	if len(b) < IPv4MinimumHeaderLen || b.Version() != IPv4Version {
		return false
	}
	hl := b.HeaderLength()
	tl := int(b.TotalLength())
	return hl >= IPv4MinimumHeaderLen && hl <= tl && tl <= len(b)
}

// Version returns the IP version field.
func (b IPv4) Version() uint8 { return b[IPv4VersionIHLOffset] >> 4 }

// HeaderLength returns the header length in bytes (IHL * 4).
func (b IPv4) HeaderLength() int { return int(b[IPv4VersionIHLOffset]&0x0f) * 4 }

// TOS returns the type-of-service (DSCP and ECN) byte.
func (b IPv4) TOS() uint8 { return b[IPv4TOSOffset] }

// TotalLength returns the length of the packet (header and payload) in bytes.
func (b IPv4) TotalLength() uint16 { return binary.BigEndian.Uint16(b[IPv4TotalLenOffset:]) }

// ID returns the identification field.
func (b IPv4) ID() uint16 { return binary.BigEndian.Uint16(b[IPv4IDOffset:]) }

// FlagsFragmentOffset returns the raw flags and fragment offset word.
func (b IPv4) FlagsFragmentOffset() uint16 {
	return binary.BigEndian.Uint16(b[IPv4FlagsFragOffset:])
}

// DontFragment reports whether the DF flag is set.
func (b IPv4) DontFragment() bool { return b.FlagsFragmentOffset()&IPv4FlagDontFragment != 0 }

// MoreFragments reports whether the MF flag is set.
func (b IPv4) MoreFragments() bool { return b.FlagsFragmentOffset()&IPv4FlagMoreFragments != 0 }

// FragmentOffset returns the fragment offset in bytes.
func (b IPv4) FragmentOffset() int {
	return int(b.FlagsFragmentOffset()&IPv4FragmentOffsetMask) * 8
}

// IsFragment reports whether the packet is a fragment: the MF flag is set or
// the fragment offset is not zero.
func (b IPv4) IsFragment() bool {
	return b.FlagsFragmentOffset()&(IPv4FlagMoreFragments|IPv4FragmentOffsetMask) != 0
}

// TTL returns the time-to-live field.
func (b IPv4) TTL() uint8 { return b[IPv4TTLOffset] }

// Protocol returns the protocol number of the payload.
func (b IPv4) Protocol() uint8 { return b[IPv4ProtocolOffset] }

// Checksum returns the header checksum field.
func (b IPv4) Checksum() uint16 { return binary.BigEndian.Uint16(b[IPv4ChecksumOffset:]) }

// SourceAddress returns the source address.
func (b IPv4) SourceAddress() uint32 { return binary.BigEndian.Uint32(b[IPv4SrcAddrOffset:]) }

// DestinationAddress returns the destination address.
func (b IPv4) DestinationAddress() uint32 {
	return binary.BigEndian.Uint32(b[IPv4DstAddrOffset:])
}

// Payload returns the bytes after the header up to the total length. The
// view must be valid.
func (b IPv4) Payload() []byte { return b[b.HeaderLength():b.TotalLength()] }

// CalculateChecksum returns the checksum the header should carry, computed
// over the header with the checksum field taken as zero.
func (b IPv4) CalculateChecksum() uint16 {
	hl := b.HeaderLength()
	s := Checksum(b[:IPv4ChecksumOffset], 0)
	s = Checksum(b[IPv4ChecksumOffset+2:hl], s)
	return ^s
}

// IsChecksumValid reports whether the header checksum field is correct.
func (b IPv4) IsChecksumValid() bool {
	return InternetChecksum(b[:b.HeaderLength()]) == 0
}

// SetTotalLength sets the total length field.
func (b IPv4) SetTotalLength(n uint16) { binary.BigEndian.PutUint16(b[IPv4TotalLenOffset:], n) }

// SetID sets the identification field.
func (b IPv4) SetID(id uint16) { binary.BigEndian.PutUint16(b[IPv4IDOffset:], id) }

// SetTTL sets the time-to-live field.
func (b IPv4) SetTTL(ttl uint8) { b[IPv4TTLOffset] = ttl }

// SetChecksum sets the header checksum field.
func (b IPv4) SetChecksum(c uint16) { binary.BigEndian.PutUint16(b[IPv4ChecksumOffset:], c) }

// SetSourceAddress sets the source address.
func (b IPv4) SetSourceAddress(a uint32) { binary.BigEndian.PutUint32(b[IPv4SrcAddrOffset:], a) }

// SetDestinationAddress sets the destination address.
func (b IPv4) SetDestinationAddress(a uint32) {
	binary.BigEndian.PutUint32(b[IPv4DstAddrOffset:], a)
}

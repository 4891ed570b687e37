package packet

import "encoding/binary"

// Ethernet header field offsets and sizes.
const (
	EthernetDstOffset  = 0  // destination MAC address
	EthernetSrcOffset  = 6  // source MAC address
	EthernetTypeOffset = 12 // EtherType
	// EthernetHeaderLen is the length of an Ethernet II header without a VLAN tag.
	EthernetHeaderLen = 14
	// MACLen is the length of an Ethernet MAC address.
	MACLen = 6
)

// EtherType values used by the scanner.
const (
	EtherTypeIPv4 uint16 = 0x0800 // Internet Protocol version 4
	EtherTypeARP  uint16 = 0x0806 // Address Resolution Protocol
)

// Ethernet is a view over an Ethernet II header (without VLAN tag) followed
// by its payload.
type Ethernet []byte

// IsValid reports whether the view is long enough to hold an Ethernet header.
func (e Ethernet) IsValid() bool { return len(e) >= EthernetHeaderLen }

// DestinationAddress returns the destination MAC address.
func (e Ethernet) DestinationAddress() [MACLen]byte {
	return [MACLen]byte(e[EthernetDstOffset : EthernetDstOffset+MACLen])
}

// SourceAddress returns the source MAC address.
func (e Ethernet) SourceAddress() [MACLen]byte {
	return [MACLen]byte(e[EthernetSrcOffset : EthernetSrcOffset+MACLen])
}

// Type returns the EtherType.
func (e Ethernet) Type() uint16 { return binary.BigEndian.Uint16(e[EthernetTypeOffset:]) }

// Payload returns the bytes after the Ethernet header.
func (e Ethernet) Payload() []byte { return e[EthernetHeaderLen:] }

// SetDestinationAddress sets the destination MAC address.
func (e Ethernet) SetDestinationAddress(mac [MACLen]byte) {
	copy(e[EthernetDstOffset:EthernetDstOffset+MACLen], mac[:])
}

// SetSourceAddress sets the source MAC address.
func (e Ethernet) SetSourceAddress(mac [MACLen]byte) {
	copy(e[EthernetSrcOffset:EthernetSrcOffset+MACLen], mac[:])
}

// SetType sets the EtherType.
func (e Ethernet) SetType(t uint16) { binary.BigEndian.PutUint16(e[EthernetTypeOffset:], t) }

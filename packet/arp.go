package packet

import "encoding/binary"

// ARP field offsets for Ethernet/IPv4 ARP (RFC 826), relative to the start
// of the ARP header.
const (
	ARPHardwareTypeOffset    = 0
	ARPProtocolTypeOffset    = 2
	ARPHardwareLenOffset     = 4
	ARPProtocolLenOffset     = 5
	ARPOperationOffset       = 6
	ARPSenderHardwareOffset  = 8
	ARPSenderProtocolOffset  = 14
	ARPTargetHardwareOffset  = 18
	ARPTargetProtocolOffset  = 24
	ARPEthernetIPv4HeaderLen = 28 // length of an Ethernet/IPv4 ARP packet
	// ARPFrameLen is the length of an Ethernet frame carrying an
	// Ethernet/IPv4 ARP packet, without padding.
	ARPFrameLen = EthernetHeaderLen + ARPEthernetIPv4HeaderLen
)

// ARP constants.
const (
	ARPHardwareEthernet uint16 = 1 // hardware type Ethernet
	ARPRequest          uint16 = 1 // operation: request
	ARPReply            uint16 = 2 // operation: reply
)

// ARP is a view over an ARP packet. Accessors assume Ethernet hardware
// addresses and IPv4 protocol addresses; check [ARP.IsEthernetIPv4] first.
type ARP []byte

// IsValid reports whether the view is long enough for an Ethernet/IPv4 ARP packet.
func (a ARP) IsValid() bool { return len(a) >= ARPEthernetIPv4HeaderLen }

// HardwareType returns the hardware address space.
func (a ARP) HardwareType() uint16 { return binary.BigEndian.Uint16(a[ARPHardwareTypeOffset:]) }

// ProtocolType returns the protocol address space (an EtherType).
func (a ARP) ProtocolType() uint16 { return binary.BigEndian.Uint16(a[ARPProtocolTypeOffset:]) }

// HardwareLen returns the length of a hardware address.
func (a ARP) HardwareLen() uint8 { return a[ARPHardwareLenOffset] }

// ProtocolLen returns the length of a protocol address.
func (a ARP) ProtocolLen() uint8 { return a[ARPProtocolLenOffset] }

// IsEthernetIPv4 reports whether the packet maps IPv4 addresses to Ethernet
// MAC addresses, the only kind the other accessors understand.
func (a ARP) IsEthernetIPv4() bool {
	return a.HardwareType() == ARPHardwareEthernet && a.ProtocolType() == EtherTypeIPv4 &&
		a.HardwareLen() == MACLen && a.ProtocolLen() == 4
}

// Operation returns the operation code ([ARPRequest] or [ARPReply]).
func (a ARP) Operation() uint16 { return binary.BigEndian.Uint16(a[ARPOperationOffset:]) }

// SenderHardwareAddress returns the sender's MAC address.
func (a ARP) SenderHardwareAddress() [MACLen]byte {
	return [MACLen]byte(a[ARPSenderHardwareOffset : ARPSenderHardwareOffset+MACLen])
}

// SenderProtocolAddress returns the sender's IPv4 address.
func (a ARP) SenderProtocolAddress() uint32 {
	return binary.BigEndian.Uint32(a[ARPSenderProtocolOffset:])
}

// TargetHardwareAddress returns the target's MAC address.
func (a ARP) TargetHardwareAddress() [MACLen]byte {
	return [MACLen]byte(a[ARPTargetHardwareOffset : ARPTargetHardwareOffset+MACLen])
}

// TargetProtocolAddress returns the target's IPv4 address.
func (a ARP) TargetProtocolAddress() uint32 {
	return binary.BigEndian.Uint32(a[ARPTargetProtocolOffset:])
}

// Encode writes an Ethernet/IPv4 ARP packet with the given fields.
func (a ARP) Encode(op uint16, senderMAC [MACLen]byte, senderIP uint32, targetMAC [MACLen]byte, targetIP uint32) {
	binary.BigEndian.PutUint16(a[ARPHardwareTypeOffset:], ARPHardwareEthernet)
	binary.BigEndian.PutUint16(a[ARPProtocolTypeOffset:], EtherTypeIPv4)
	a[ARPHardwareLenOffset] = MACLen
	a[ARPProtocolLenOffset] = 4
	binary.BigEndian.PutUint16(a[ARPOperationOffset:], op)
	copy(a[ARPSenderHardwareOffset:], senderMAC[:])
	binary.BigEndian.PutUint32(a[ARPSenderProtocolOffset:], senderIP)
	copy(a[ARPTargetHardwareOffset:], targetMAC[:])
	binary.BigEndian.PutUint32(a[ARPTargetProtocolOffset:], targetIP)
}

// PutARPRequest writes into dst a broadcast Ethernet frame carrying an ARP
// request asking who has targetIP, sent by srcMAC/srcIP, and returns its
// length, [ARPFrameLen] (42). It returns 0 if dst is shorter than that.
// Callers that need the 60-byte Ethernet minimum can pad; the kernel does so
// for AF_PACKET sockets.
func PutARPRequest(dst []byte, srcMAC [MACLen]byte, srcIP, targetIP uint32) int {
	if len(dst) < ARPFrameLen {
		return 0
	}
	eth := Ethernet(dst[:ARPFrameLen])
	eth.SetDestinationAddress([MACLen]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	eth.SetSourceAddress(srcMAC)
	eth.SetType(EtherTypeARP)
	ARP(eth.Payload()).Encode(ARPRequest, srcMAC, srcIP, [MACLen]byte{}, targetIP)
	return ARPFrameLen
}

// ParseARPReply reports the sender's IPv4 and MAC address if frame (starting
// at the Ethernet header) is an Ethernet/IPv4 ARP reply. Trailing padding is
// ignored.
func ParseARPReply(frame []byte) (senderIP uint32, senderMAC [MACLen]byte, ok bool) {
	eth := Ethernet(frame)
	if len(frame) < ARPFrameLen || eth.Type() != EtherTypeARP {
		return 0, [MACLen]byte{}, false
	}
	a := ARP(eth.Payload())
	if !a.IsEthernetIPv4() || a.Operation() != ARPReply {
		return 0, [MACLen]byte{}, false
	}
	return a.SenderProtocolAddress(), a.SenderHardwareAddress(), true
}

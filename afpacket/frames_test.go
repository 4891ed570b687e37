package afpacket_test

import (
	"encoding/binary"
)

// frameSpec describes a test frame: Ethernet + IPv4 (20 bytes) + a 40-byte
// TCP-like header (74 bytes in all), or a 42-byte ARP frame when arp is set.
type frameSpec struct {
	dst, src      [6]byte
	srcIP, dstIP  uint32
	proto         uint8
	srcPort, port uint16
	fragOffset    uint16 // in 8-byte units
	arp           bool
	vlan          uint16 // when not 0, an 802.1Q tag with this VLAN id follows the MACs (78 bytes in all)
	tag           uint32 // written as the TCP sequence number, to tell frames apart
}

const testFrameLen = 74

// put writes the frame into b and returns its length.
func (f frameSpec) put(b []byte) int {
	copy(b[0:6], f.dst[:])
	copy(b[6:12], f.src[:])
	if f.arp {
		binary.BigEndian.PutUint16(b[12:], 0x0806)
		a := b[14:42]
		binary.BigEndian.PutUint16(a[0:], 1)      // Ethernet
		binary.BigEndian.PutUint16(a[2:], 0x0800) // IPv4
		a[4], a[5] = 6, 4
		binary.BigEndian.PutUint16(a[6:], 1) // request
		copy(a[8:14], f.src[:])
		binary.BigEndian.PutUint32(a[14:], f.srcIP)
		clear(a[18:24])
		binary.BigEndian.PutUint32(a[24:], f.dstIP)
		return 42
	}
	binary.BigEndian.PutUint16(b[12:], 0x0800)
	ip := b[14:34]
	ip[0] = 0x45
	ip[1] = 0
	binary.BigEndian.PutUint16(ip[2:], testFrameLen-14)
	binary.BigEndian.PutUint16(ip[4:], 1)
	binary.BigEndian.PutUint16(ip[6:], f.fragOffset&0x1fff)
	ip[8] = 64
	ip[9] = f.proto
	binary.BigEndian.PutUint16(ip[10:], 0)
	binary.BigEndian.PutUint32(ip[12:], f.srcIP)
	binary.BigEndian.PutUint32(ip[16:], f.dstIP)
	binary.BigEndian.PutUint16(ip[10:], ipChecksum(ip))
	tcp := b[34:74]
	clear(tcp)
	binary.BigEndian.PutUint16(tcp[0:], f.srcPort)
	binary.BigEndian.PutUint16(tcp[2:], f.port)
	binary.BigEndian.PutUint32(tcp[4:], f.tag)
	tcp[12] = 10 << 4
	tcp[13] = 0x02 // SYN
	binary.BigEndian.PutUint16(tcp[14:], 1024)
	if f.vlan != 0 {
		copy(b[16:testFrameLen+4], b[12:testFrameLen])
		binary.BigEndian.PutUint16(b[12:], 0x8100)
		binary.BigEndian.PutUint16(b[14:], f.vlan&0xfff)
		return testFrameLen + 4
	}
	return testFrameLen
}

func ipChecksum(h []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(h); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// tagOf extracts the tag written by put, or 0 for frames too short.
func tagOf(frame []byte) uint32 {
	off := 38
	if len(frame) >= 14 && binary.BigEndian.Uint16(frame[12:]) == 0x8100 {
		off += 4
	}
	if len(frame) < off+4 {
		return 0
	}
	return binary.BigEndian.Uint32(frame[off:])
}

package packettest

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Flow6 is the addressing of an IPv6 probe and its reply, named from the
// scanner's side: Local is the scanner, Target the probed host.
type Flow6 struct {
	LocalMAC, TargetMAC   [6]byte
	LocalIP, TargetIP     netip.Addr
	LocalPort, TargetPort uint16
}

// ExtensionHeader is an IPv6 extension header to insert into a frame (see
// [WithExtensionHeaders]). Type is its next-header value (0 hop-by-hop, 43
// routing, 44 fragment, 60 destination options, 51 AH, ...); Body is what
// follows its next-header byte. For every type but fragment (8 bytes in all)
// and AH (4-byte units), Body follows a length byte and is padded with zeros
// (Pad1 options) to a multiple of 8 bytes with them; Fragment's Body is the
// 7 bytes after the next-header byte (reserved, offset and flags, id).
type ExtensionHeader struct {
	Type uint8
	Body []byte
}

// Fragment returns a Fragment extension header with the given offset (bytes,
// a multiple of 8) and M flag.
func Fragment(offset int, more bool, id uint32) ExtensionHeader {
	b := make([]byte, 7)
	w := uint16(offset) &^ 7
	if more {
		w |= 1
	}
	binary.BigEndian.PutUint16(b[1:], w)
	binary.BigEndian.PutUint32(b[3:], id)
	return ExtensionHeader{Type: 44, Body: b}
}

// encode returns the header's bytes with next as its next header.
func (h ExtensionHeader) encode(next uint8) []byte {
	switch h.Type {
	case 44:
		return append([]byte{next}, h.Body...)
	case 51: // AH: payload length in 4-byte units, minus 2
		n := (2 + len(h.Body) + 3) &^ 3
		b := make([]byte, n)
		b[0], b[1] = next, byte(n/4-2)
		copy(b[2:], h.Body)
		return b
	}
	n := (2 + len(h.Body) + 7) &^ 7
	b := make([]byte, n)
	b[0], b[1] = next, byte(n/8-1)
	copy(b[2:], h.Body)
	return b
}

// WithExtensionHeaders returns a copy of frame (Ethernet and IPv6, starting
// at the Ethernet header) with hdrs inserted between the IPv6 fixed header
// at offset ipAt and what followed it, in order, the next-header chain and
// the payload length fixed. Transport checksums stay valid: the IPv6
// pseudo-header does not cover extension headers.
func WithExtensionHeaders(tb testing.TB, frame []byte, ipAt int, hdrs ...ExtensionHeader) []byte {
	tb.Helper()
	if len(frame) < ipAt+40 || frame[ipAt]>>4 != 6 {
		tb.Fatalf("packettest: no IPv6 header at %d: % x", ipAt, frame)
	}
	ip := frame[ipAt : ipAt+40]
	next := ip[6]
	var ext []byte
	for i := len(hdrs) - 1; i >= 0; i-- {
		ext = append(hdrs[i].encode(next), ext...)
		next = hdrs[i].Type
	}
	out := append([]byte(nil), frame[:ipAt+40]...)
	out[ipAt+6] = next
	binary.BigEndian.PutUint16(out[ipAt+4:], binary.BigEndian.Uint16(ip[4:])+uint16(len(ext)))
	out = append(out, ext...)
	return append(out, frame[ipAt+40:]...)
}

// Segment6 describes a TCP segment sent over IPv6 by the target to the scanner.
type Segment6 struct {
	Flow6
	Seq, Ack uint32
	Flags    uint8  // TCP flag byte: FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, ...
	HopLimit uint8  // 0 means 64
	Window   uint16 // 0 means 65535 for SYN-ACKs, 0 otherwise
	// Padding appends zero bytes after the IPv6 packet, as some links deliver them.
	Padding int
	// Payload is carried after the TCP header.
	Payload []byte
}

// TCP6 returns an Ethernet frame carrying s from the target to the scanner
// over IPv6, with correct lengths and checksum.
func TCP6(tb testing.TB, s Segment6) []byte {
	tb.Helper()
	win := s.Window
	if win == 0 && s.Flags&0x12 == 0x12 {
		win = 65535
	}
	eth, ip := headers6(s.Flow6, layers.IPProtocolTCP, s.HopLimit)
	tcp := &layers.TCP{
		SrcPort: layers.TCPPort(s.TargetPort),
		DstPort: layers.TCPPort(s.LocalPort),
		Seq:     s.Seq,
		Ack:     s.Ack,
		FIN:     s.Flags&0x01 != 0,
		SYN:     s.Flags&0x02 != 0,
		RST:     s.Flags&0x04 != 0,
		PSH:     s.Flags&0x08 != 0,
		ACK:     s.Flags&0x10 != 0,
		URG:     s.Flags&0x20 != 0,
		ECE:     s.Flags&0x40 != 0,
		CWR:     s.Flags&0x80 != 0,
		Window:  win,
	}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		tb.Fatalf("packettest: %v", err)
	}
	return serialize(tb, s.Padding, eth, ip, tcp, gopacket.Payload(s.Payload))
}

// SYNACK6 returns the SYN-ACK the target of f sends over IPv6 to acknowledge
// sequence number ack-1.
func SYNACK6(tb testing.TB, f Flow6, ack uint32) []byte {
	tb.Helper()
	return TCP6(tb, Segment6{Flow6: f, Seq: 0x7a11e000, Ack: ack, Flags: 0x12})
}

// RST6 returns the RST+ACK the target of f sends over IPv6 for a closed port,
// acknowledging sequence number ack-1.
func RST6(tb testing.TB, f Flow6, ack uint32) []byte {
	tb.Helper()
	return TCP6(tb, Segment6{Flow6: f, Ack: ack, Flags: 0x14})
}

// UDP6 returns an Ethernet frame carrying a UDP datagram with payload from the
// target of f (its TargetPort) to the scanner (its LocalPort) over IPv6, with
// correct lengths and checksum.
func UDP6(tb testing.TB, f Flow6, payload []byte) []byte {
	tb.Helper()
	eth, ip := headers6(f, layers.IPProtocolUDP, 0)
	udp := &layers.UDP{SrcPort: layers.UDPPort(f.TargetPort), DstPort: layers.UDPPort(f.LocalPort)}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		tb.Fatalf("packettest: %v", err)
	}
	return serialize(tb, 0, eth, ip, udp, gopacket.Payload(payload))
}

func headers6(f Flow6, proto layers.IPProtocol, hop uint8) (*layers.Ethernet, *layers.IPv6) {
	if hop == 0 {
		hop = 64
	}
	eth := &layers.Ethernet{
		SrcMAC:       net.HardwareAddr(f.TargetMAC[:]),
		DstMAC:       net.HardwareAddr(f.LocalMAC[:]),
		EthernetType: layers.EthernetTypeIPv6,
	}
	ip := &layers.IPv6{
		Version:    6,
		NextHeader: proto,
		HopLimit:   hop,
		SrcIP:      ip16(f.TargetIP),
		DstIP:      ip16(f.LocalIP),
	}
	return eth, ip
}

func ip16(a netip.Addr) net.IP {
	b := a.As16()
	return net.IP(b[:])
}

// Error6 describes an ICMPv6 error message about an IPv6 probe.
type Error6 struct {
	// Probe is the offending probe frame (TCP or UDP over IPv6), starting at its
	// Ethernet header.
	Probe []byte
	// From is the source address of the error (a router, or the target); the
	// zero Addr means the probe's destination.
	From       netip.Addr
	Type, Code uint8
	HopLimit   uint8 // 0 means 64
	// QuoteLen is how many bytes of the probe's IPv6 packet are quoted; 0
	// means all of it (RFC 4443: as much as fits in 1280 bytes). It is capped
	// at the packet's length.
	QuoteLen int
}

// ICMPv6 returns an Ethernet frame carrying e to the probe's sender, with
// correct lengths and checksum (over the IPv6 pseudo-header). The Ethernet
// addresses are the probe's, swapped.
func ICMPv6(tb testing.TB, e Error6) []byte {
	tb.Helper()
	p := gopacket.NewPacket(e.Probe, layers.LayerTypeEthernet, gopacket.Default)
	peth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	pip, _ := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	if peth == nil || pip == nil {
		tb.Fatalf("packettest: not an Ethernet/IPv6 frame: % x", e.Probe)
	}
	packet := e.Probe[14 : 14+40+int(pip.Length)]
	quote := len(packet)
	if e.QuoteLen > 0 {
		quote = min(e.QuoteLen, quote)
	}
	from := e.From
	if !from.IsValid() {
		from = netip.AddrFrom16([16]byte(pip.DstIP.To16()))
	}
	hop := e.HopLimit
	if hop == 0 {
		hop = 64
	}
	eth := &layers.Ethernet{SrcMAC: peth.DstMAC, DstMAC: peth.SrcMAC, EthernetType: layers.EthernetTypeIPv6}
	ip := &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolICMPv6, HopLimit: hop, SrcIP: ip16(from), DstIP: pip.SrcIP}
	icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(e.Type, e.Code)}
	if err := icmp.SetNetworkLayerForChecksum(ip); err != nil {
		tb.Fatalf("packettest: %v", err)
	}
	// The 4 bytes after the checksum (unused, MTU or pointer), then the quote.
	body := append(make([]byte, 4), packet[:quote]...)
	return serialize(tb, 0, eth, ip, icmp, gopacket.Payload(body))
}

// ICMPv6Unreachable returns the ICMPv6 destination unreachable error with the
// given code that from sends about probe (the zero Addr means the probe's
// destination), quoting the whole probe.
func ICMPv6Unreachable(tb testing.TB, probe []byte, from netip.Addr, code uint8) []byte {
	tb.Helper()
	return ICMPv6(tb, Error6{Probe: probe, From: from, Type: 1, Code: code})
}

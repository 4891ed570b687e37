// Package packettest forges frames for tests of code that consumes packets:
// the SYN-ACK, RST and ICMP destination unreachable replies a scanned host
// or a router would send. Frames are built with gopacket, independently of
// package packet's own encoders, and start at the Ethernet header.
package packettest

import (
	"encoding/binary"
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Flow is the addressing of a probe and its reply, named from the scanner's
// side: Local is the scanner, Target the probed host.
type Flow struct {
	LocalMAC, TargetMAC   [6]byte
	LocalIP, TargetIP     uint32
	LocalPort, TargetPort uint16
}

// FlowOf decodes the addressing of a probe frame (Ethernet, IPv4, TCP) sent
// by the scanner. It fails the test if probe is not such a frame.
func FlowOf(tb testing.TB, probe []byte) Flow {
	tb.Helper()
	eth, ip, tcp := decodeProbe(tb, probe)
	return Flow{
		LocalMAC:   [6]byte(eth.SrcMAC),
		TargetMAC:  [6]byte(eth.DstMAC),
		LocalIP:    binary.BigEndian.Uint32(ip.SrcIP.To4()),
		TargetIP:   binary.BigEndian.Uint32(ip.DstIP.To4()),
		LocalPort:  uint16(tcp.SrcPort),
		TargetPort: uint16(tcp.DstPort),
	}
}

// SeqOf returns the TCP sequence number of a probe frame. It fails the test
// if probe is not an Ethernet/IPv4/TCP frame.
func SeqOf(tb testing.TB, probe []byte) uint32 {
	tb.Helper()
	_, _, tcp := decodeProbe(tb, probe)
	return tcp.Seq
}

func decodeProbe(tb testing.TB, probe []byte) (*layers.Ethernet, *layers.IPv4, *layers.TCP) {
	tb.Helper()
	p := gopacket.NewPacket(probe, layers.LayerTypeEthernet, gopacket.Default)
	eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if eth == nil || ip == nil || tcp == nil {
		tb.Fatalf("packettest: not an Ethernet/IPv4/TCP frame: % x", probe)
	}
	return eth, ip, tcp
}

// decodeIPProbe decodes the Ethernet and IPv4 headers of a probe of any transport.
func decodeIPProbe(tb testing.TB, probe []byte) (*layers.Ethernet, *layers.IPv4) {
	tb.Helper()
	p := gopacket.NewPacket(probe, layers.LayerTypeEthernet, gopacket.Default)
	eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	if eth == nil || ip == nil {
		tb.Fatalf("packettest: not an Ethernet/IPv4 frame: % x", probe)
	}
	return eth, ip
}

// Segment describes a TCP segment sent by the target to the scanner.
type Segment struct {
	Flow
	Seq, Ack uint32
	Flags    uint8  // TCP flag byte: FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, ...
	TTL      uint8  // 0 means 64
	Window   uint16 // 0 means 65535 for SYN-ACKs, 0 otherwise
	IPID     uint16
	// IPOptionsLen adds that many bytes of no-operation IPv4 options
	// (rounded up to a multiple of 4), making the header length exceed 20.
	IPOptionsLen int
	// Padding appends zero bytes after the IPv4 datagram, beyond the
	// Ethernet minimum gopacket pads to, as some links deliver them.
	Padding int
	// Payload is carried after the TCP header.
	Payload []byte
}

// TCP returns an Ethernet frame carrying s from the target to the scanner,
// with correct lengths and checksums.
func TCP(tb testing.TB, s Segment) []byte {
	tb.Helper()
	ttl := s.TTL
	if ttl == 0 {
		ttl = 64
	}
	win := s.Window
	if win == 0 && s.Flags&0x12 == 0x12 {
		win = 65535
	}
	eth := &layers.Ethernet{
		SrcMAC:       net.HardwareAddr(s.TargetMAC[:]),
		DstMAC:       net.HardwareAddr(s.LocalMAC[:]),
		EthernetType: layers.EthernetTypeIPv4,
	}
	ip := &layers.IPv4{
		Version:  4,
		Id:       s.IPID,
		Flags:    layers.IPv4DontFragment,
		TTL:      ttl,
		Protocol: layers.IPProtocolTCP,
		SrcIP:    addr(s.TargetIP),
		DstIP:    addr(s.LocalIP),
		Options:  nopOptions(s.IPOptionsLen),
	}
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

// SYNACK returns the SYN-ACK the target of f sends to acknowledge sequence
// number ack-1: an open port's answer to a probe whose sequence number is
// ack-1.
func SYNACK(tb testing.TB, f Flow, ack uint32) []byte {
	tb.Helper()
	return TCP(tb, Segment{Flow: f, Seq: 0x7a11e000, Ack: ack, Flags: 0x12})
}

// RST returns the RST+ACK the target of f sends for a closed port,
// acknowledging sequence number ack-1.
func RST(tb testing.TB, f Flow, ack uint32) []byte {
	tb.Helper()
	return TCP(tb, Segment{Flow: f, Ack: ack, Flags: 0x14})
}

// UDP returns an Ethernet frame carrying a UDP datagram with payload from the
// target of f (its TargetPort) to the scanner (its LocalPort), with correct
// lengths and checksums: an answer to a UDP probe, or a forgery of one.
func UDP(tb testing.TB, f Flow, payload []byte) []byte {
	tb.Helper()
	eth := &layers.Ethernet{
		SrcMAC:       net.HardwareAddr(f.TargetMAC[:]),
		DstMAC:       net.HardwareAddr(f.LocalMAC[:]),
		EthernetType: layers.EthernetTypeIPv4,
	}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: addr(f.TargetIP), DstIP: addr(f.LocalIP)}
	udp := &layers.UDP{SrcPort: layers.UDPPort(f.TargetPort), DstPort: layers.UDPPort(f.LocalPort)}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		tb.Fatalf("packettest: %v", err)
	}
	return serialize(tb, 0, eth, ip, udp, gopacket.Payload(payload))
}

// Error describes an ICMPv4 error message about a probe.
type Error struct {
	// Probe is the offending probe frame (TCP or UDP), starting at its Ethernet header.
	Probe []byte
	// From is the source address of the error (a router, or the target);
	// 0 means the probe's destination.
	From       uint32
	Type, Code uint8
	TTL        uint8 // 0 means 64
	// QuoteLen is how many bytes of the probe's IPv4 datagram are quoted;
	// 0 means its header and the first 8 bytes of TCP, the minimum of
	// RFC 792. It is capped at the datagram's length.
	QuoteLen int
}

// ICMP returns an Ethernet frame carrying e to the probe's sender, with
// correct lengths and checksums. The Ethernet addresses are the probe's,
// swapped.
func ICMP(tb testing.TB, e Error) []byte {
	tb.Helper()
	peth, pip := decodeIPProbe(tb, e.Probe)
	datagram := e.Probe[14 : 14+int(pip.Length)]
	quote := e.QuoteLen
	if quote == 0 {
		quote = int(pip.IHL)*4 + 8
	}
	quote = min(quote, len(datagram))
	from := e.From
	if from == 0 {
		from = binary.BigEndian.Uint32(pip.DstIP.To4())
	}
	ttl := e.TTL
	if ttl == 0 {
		ttl = 64
	}
	eth := &layers.Ethernet{
		SrcMAC:       peth.DstMAC,
		DstMAC:       peth.SrcMAC,
		EthernetType: layers.EthernetTypeIPv4,
	}
	ip := &layers.IPv4{
		Version:  4,
		TTL:      ttl,
		Protocol: layers.IPProtocolICMPv4,
		SrcIP:    addr(from),
		DstIP:    pip.SrcIP,
	}
	icmp := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(e.Type, e.Code)}
	return serialize(tb, 0, eth, ip, icmp, gopacket.Payload(datagram[:quote]))
}

// ICMPUnreachable returns the ICMP destination unreachable error with the
// given code that from sends about probe (0 means the probe's destination),
// quoting the probe's IPv4 header and first 8 bytes of TCP.
func ICMPUnreachable(tb testing.TB, probe []byte, from uint32, code uint8) []byte {
	tb.Helper()
	return ICMP(tb, Error{Probe: probe, From: from, Type: 3, Code: code})
}

func serialize(tb testing.TB, padding int, ls ...gopacket.SerializableLayer) []byte {
	tb.Helper()
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		tb.Fatalf("packettest: serialize: %v", err)
	}
	return append(buf.Bytes(), make([]byte, padding)...)
}

func nopOptions(n int) []layers.IPv4Option {
	if n <= 0 {
		return nil
	}
	n = (n + 3) &^ 3
	opts := make([]layers.IPv4Option, n)
	for i := range opts {
		opts[i] = layers.IPv4Option{OptionType: 1, OptionLength: 1}
	}
	return opts
}

func addr(a uint32) net.IP {
	return net.IPv4(byte(a>>24), byte(a>>16), byte(a>>8), byte(a)).To4()
}

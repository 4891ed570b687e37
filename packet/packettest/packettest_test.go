package packettest_test

import (
	"encoding/binary"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/fastscan/fastscan/packet/packettest"
)

var flow = packettest.Flow{
	LocalMAC:   [6]byte{0x02, 0, 0, 0, 0, 1},
	TargetMAC:  [6]byte{0x02, 0, 0, 0, 0, 2},
	LocalIP:    0xC6120001,
	TargetIP:   0xC6130002,
	LocalPort:  50000,
	TargetPort: 22,
}

// ones is an independent ones' complement sum.
func ones(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

func decode(t *testing.T, frame []byte) gopacket.Packet {
	t.Helper()
	p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	if el := p.ErrorLayer(); el != nil {
		t.Fatalf("decode: %v", el.Error())
	}
	return p
}

func checkTCP(t *testing.T, frame []byte, wantAck uint32, syn, rst bool) {
	t.Helper()
	p := decode(t, frame)
	eth := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	ip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	tcp := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if [6]byte(eth.SrcMAC) != flow.TargetMAC || [6]byte(eth.DstMAC) != flow.LocalMAC {
		t.Errorf("MACs %v > %v", eth.SrcMAC, eth.DstMAC)
	}
	if binary.BigEndian.Uint32(ip.SrcIP) != flow.TargetIP || binary.BigEndian.Uint32(ip.DstIP) != flow.LocalIP {
		t.Errorf("IPs %v > %v", ip.SrcIP, ip.DstIP)
	}
	if uint16(tcp.SrcPort) != flow.TargetPort || uint16(tcp.DstPort) != flow.LocalPort {
		t.Errorf("ports %d > %d", tcp.SrcPort, tcp.DstPort)
	}
	if tcp.Ack != wantAck || !tcp.ACK || tcp.SYN != syn || tcp.RST != rst {
		t.Errorf("tcp ack %#x flags %+v", tcp.Ack, tcp)
	}
	hl := int(ip.IHL) * 4
	if ones(frame[14:14+hl]) != 0xffff {
		t.Error("IPv4 checksum does not verify")
	}
	seg := frame[14+hl : 14+int(ip.Length)]
	ph := append(append(append([]byte{}, ip.SrcIP...), ip.DstIP...), 0, 6, byte(len(seg)>>8), byte(len(seg)))
	if ones(append(ph, seg...)) != 0xffff {
		t.Error("TCP checksum does not verify")
	}
}

func TestSYNACKAndRST(t *testing.T) {
	checkTCP(t, packettest.SYNACK(t, flow, 0xdeadbeef), 0xdeadbeef, true, false)
	checkTCP(t, packettest.RST(t, flow, 7), 7, false, true)
}

func TestTCPOptionsAndPadding(t *testing.T) {
	f := packettest.TCP(t, packettest.Segment{Flow: flow, Ack: 1, Flags: 0x12, IPOptionsLen: 5, Padding: 33})
	p := decode(t, f)
	ip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	if ip.IHL != 7 { // 5 bytes of options round up to 8
		t.Fatalf("IHL = %d, want 7", ip.IHL)
	}
	// 62 bytes before padding: above the Ethernet minimum, so gopacket adds none.
	if want := 14 + int(ip.Length) + 33; len(f) != want {
		t.Fatalf("frame length %d, want %d", len(f), want)
	}
	checkTCP(t, f, 1, true, false)
}

func TestFlowOfAndICMP(t *testing.T) {
	// A probe as the scanner would send it: Local -> Target.
	rev := packettest.Flow{
		LocalMAC: flow.TargetMAC, TargetMAC: flow.LocalMAC, LocalIP: flow.TargetIP, TargetIP: flow.LocalIP,
		LocalPort: flow.TargetPort, TargetPort: flow.LocalPort,
	}
	probe := packettest.TCP(t, packettest.Segment{Flow: rev, Seq: 0x55667788, Flags: 0x02})
	if got := packettest.FlowOf(t, probe); got != flow {
		t.Fatalf("FlowOf = %+v, want %+v", got, flow)
	}
	if got := packettest.SeqOf(t, probe); got != 0x55667788 {
		t.Fatalf("SeqOf = %#x", got)
	}

	const router = 0xC612FE01
	f := packettest.ICMPUnreachable(t, probe, router, 13)
	p := decode(t, f)
	eth := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	ip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	ic := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	if [6]byte(eth.DstMAC) != flow.LocalMAC || [6]byte(eth.SrcMAC) != flow.TargetMAC {
		t.Errorf("MACs %v > %v", eth.SrcMAC, eth.DstMAC)
	}
	if binary.BigEndian.Uint32(ip.SrcIP) != router || binary.BigEndian.Uint32(ip.DstIP) != flow.LocalIP ||
		ip.Protocol != layers.IPProtocolICMPv4 {
		t.Errorf("outer IPv4 %v > %v proto %v", ip.SrcIP, ip.DstIP, ip.Protocol)
	}
	if ic.TypeCode.Type() != 3 || ic.TypeCode.Code() != 13 {
		t.Errorf("type/code %v", ic.TypeCode)
	}
	icmpBytes := f[34 : 14+int(ip.Length)]
	if ones(icmpBytes) != 0xffff {
		t.Error("ICMP checksum does not verify")
	}
	quoted := icmpBytes[8:]
	if len(quoted) != 28 || string(quoted) != string(probe[14:42]) {
		t.Errorf("quoted % x, want % x", quoted, probe[14:42])
	}
	if got := packettest.ICMP(t, packettest.Error{Probe: probe, Type: 3, QuoteLen: 9999}); len(got) < 14+20+8+40 {
		t.Errorf("full quote frame only %d bytes", len(got))
	}
}

// TestUDP: the datagram goes from the target's port to the scanner's, with the
// payload and a checksum that sums to all ones over the pseudo-header.
func TestUDP(t *testing.T) {
	payload := []byte("answer")
	frame := packettest.UDP(t, flow, payload)
	p := decode(t, frame)
	ip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	udp := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
	if binary.BigEndian.Uint32(ip.SrcIP) != flow.TargetIP || binary.BigEndian.Uint32(ip.DstIP) != flow.LocalIP ||
		uint16(udp.SrcPort) != flow.TargetPort || uint16(udp.DstPort) != flow.LocalPort || string(udp.Payload) != "answer" {
		t.Fatalf("datagram %v:%d > %v:%d %q", ip.SrcIP, udp.SrcPort, ip.DstIP, udp.DstPort, udp.Payload)
	}
	seg := frame[14+20 : 14+int(ip.Length)]
	pseudo := append(append(append([]byte{}, ip.SrcIP...), ip.DstIP...), 0, 17, byte(len(seg)>>8), byte(len(seg)))
	if sum := ones(append(pseudo, seg...)); sum != 0xffff {
		t.Errorf("UDP checksum does not verify: sum %#04x", sum)
	}
}

package packet_test

import (
	"encoding/binary"
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/fastscan/fastscan/packet"
)

// gopacketTCPFrame builds a frame with every field set to a distinct value.
func gopacketTCPFrame(t *testing.T) (*layers.Ethernet, *layers.IPv4, *layers.TCP, []byte) {
	t.Helper()
	eth := &layers.Ethernet{
		SrcMAC:       net.HardwareAddr{0x02, 0x11, 0x22, 0x33, 0x44, 0x55},
		DstMAC:       net.HardwareAddr{0x02, 0x66, 0x77, 0x88, 0x99, 0xaa},
		EthernetType: layers.EthernetTypeIPv4,
	}
	ip := &layers.IPv4{
		Version: 4, TOS: 0xb8, Id: 0xbeef, Flags: layers.IPv4MoreFragments, FragOffset: 0x123,
		TTL: 42, Protocol: layers.IPProtocolTCP,
		SrcIP: net.IP{198, 18, 1, 2}, DstIP: net.IP{198, 19, 3, 4},
		Options: []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}},
	}
	tcp := &layers.TCP{
		SrcPort: 1234, DstPort: 80, Seq: 0x01020304, Ack: 0xa0b0c0d0,
		SYN: true, ACK: true, ECE: true, Window: 29200, Urgent: 0x55aa,
		Options: []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}}},
	}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ip, tcp, gopacket.Payload("payload!"))
	if err != nil {
		t.Fatal(err)
	}
	return eth, ip, tcp, buf.Bytes()
}

func TestViewsAgreeWithGopacket(t *testing.T) {
	eth, ip, tcp, frame := gopacketTCPFrame(t)

	e := packet.Ethernet(frame)
	if !e.IsValid() || e.DestinationAddress() != [6]byte(eth.DstMAC) || e.SourceAddress() != [6]byte(eth.SrcMAC) ||
		e.Type() != packet.EtherTypeIPv4 {
		t.Fatalf("Ethernet view: dst %v src %v type %#x", e.DestinationAddress(), e.SourceAddress(), e.Type())
	}

	v := packet.IPv4(e.Payload())
	if !v.IsValid() {
		t.Fatal("IPv4 view invalid")
	}
	checks := []struct {
		name      string
		got, want uint64
	}{
		{"Version", uint64(v.Version()), 4},
		{"HeaderLength", uint64(v.HeaderLength()), 24},
		{"TOS", uint64(v.TOS()), uint64(ip.TOS)},
		{"TotalLength", uint64(v.TotalLength()), uint64(ip.Length)},
		{"ID", uint64(v.ID()), uint64(ip.Id)},
		{"FragmentOffset", uint64(v.FragmentOffset()), uint64(ip.FragOffset) * 8},
		{"TTL", uint64(v.TTL()), uint64(ip.TTL)},
		{"Protocol", uint64(v.Protocol()), uint64(ip.Protocol)},
		{"Checksum", uint64(v.Checksum()), uint64(ip.Checksum)},
		{"CalculateChecksum", uint64(v.CalculateChecksum()), uint64(ip.Checksum)},
		{"SourceAddress", uint64(v.SourceAddress()), uint64(binary.BigEndian.Uint32(ip.SrcIP))},
		{"DestinationAddress", uint64(v.DestinationAddress()), uint64(binary.BigEndian.Uint32(ip.DstIP))},
		{"PayloadLen", uint64(len(v.Payload())), uint64(ip.Length) - 24},
	}
	if !v.MoreFragments() || v.DontFragment() || !v.IsFragment() || !v.IsChecksumValid() {
		t.Errorf("flags: MF %v DF %v fragment %v checksum ok %v", v.MoreFragments(), v.DontFragment(), v.IsFragment(), v.IsChecksumValid())
	}

	s := packet.TCP(v.Payload())
	if !s.IsValid() {
		t.Fatal("TCP view invalid")
	}
	src, dst := v.SourceAddress(), v.DestinationAddress()
	checks = append(checks, []struct {
		name      string
		got, want uint64
	}{
		{"SourcePort", uint64(s.SourcePort()), uint64(tcp.SrcPort)},
		{"DestinationPort", uint64(s.DestinationPort()), uint64(tcp.DstPort)},
		{"SequenceNumber", uint64(s.SequenceNumber()), uint64(tcp.Seq)},
		{"AckNumber", uint64(s.AckNumber()), uint64(tcp.Ack)},
		{"DataOffset", uint64(s.DataOffset()), 24},
		{"Flags", uint64(s.Flags()), uint64(packet.TCPFlagSYN | packet.TCPFlagACK | packet.TCPFlagECE)},
		{"WindowSize", uint64(s.WindowSize()), uint64(tcp.Window)},
		{"UrgentPointer", uint64(s.UrgentPointer()), uint64(tcp.Urgent)},
		{"Checksum", uint64(s.Checksum()), uint64(tcp.Checksum)},
		{"CalculateChecksum", uint64(s.CalculateChecksum(src, dst)), uint64(tcp.Checksum)},
		{"OptionsLen", uint64(len(s.Options())), 4},
	}...)
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %#x, want %#x", c.name, c.got, c.want)
		}
	}
	if !s.IsChecksumValid(src, dst) || s.IsChecksumValid(src, dst+1) {
		t.Error("TCP IsChecksumValid does not depend correctly on the pseudo-header")
	}
}

func TestViewSettersRoundTrip(t *testing.T) {
	_, _, _, frame := gopacketTCPFrame(t)
	v := packet.IPv4(frame[packet.EthernetHeaderLen:])
	v.SetID(0x1357)
	v.SetTTL(9)
	v.SetSourceAddress(0x0a000001)
	v.SetDestinationAddress(0x0a000002)
	v.SetChecksum(v.CalculateChecksum())
	s := packet.TCP(v.Payload())
	s.SetSourcePort(1)
	s.SetDestinationPort(2)
	s.SetSequenceNumber(3)
	s.SetAckNumber(4)
	s.SetFlags(packet.TCPFlagRST)
	s.SetChecksum(s.CalculateChecksum(0x0a000001, 0x0a000002))

	p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	ip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	if ip.Id != 0x1357 || ip.TTL != 9 || !ip.SrcIP.Equal(net.IP{10, 0, 0, 1}) || !ip.DstIP.Equal(net.IP{10, 0, 0, 2}) {
		t.Fatalf("ipv4 after setters: %+v", ip)
	}
	if refSum(frame[14:38]) != 0xffff {
		t.Fatal("IPv4 checksum after SetChecksum(CalculateChecksum()) does not verify")
	}
	// The IPv4 packet is a fragment, so gopacket does not decode TCP; check by hand.
	seg := v.Payload()
	if binary.BigEndian.Uint16(seg[0:]) != 1 || binary.BigEndian.Uint16(seg[2:]) != 2 ||
		binary.BigEndian.Uint32(seg[4:]) != 3 || binary.BigEndian.Uint32(seg[8:]) != 4 || seg[13] != 0x04 {
		t.Fatalf("tcp after setters: % x", seg[:20])
	}
	if !refTCPChecksumOK(net.IP{10, 0, 0, 1}, net.IP{10, 0, 0, 2}, seg) {
		t.Fatal("TCP checksum after SetChecksum(CalculateChecksum()) does not verify")
	}
}

func TestTCPFlagValues(t *testing.T) {
	// RFC 9293 section 3.1: CWR ECE URG ACK PSH RST SYN FIN, high bit to low.
	got := []uint8{packet.TCPFlagFIN, packet.TCPFlagSYN, packet.TCPFlagRST, packet.TCPFlagPSH,
		packet.TCPFlagACK, packet.TCPFlagURG, packet.TCPFlagECE, packet.TCPFlagCWR}
	want := []uint8{0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("flag %d = %#x, want %#x", i, got[i], want[i])
		}
	}
}

func TestICMPv4View(t *testing.T) {
	ic := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 10)}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true}, ic,
		gopacket.Payload([]byte{0x45, 1, 2, 3, 4, 5, 6, 7, 8})); err != nil {
		t.Fatal(err)
	}
	m := packet.ICMPv4(buf.Bytes())
	if !m.IsValid() || m.Type() != 3 || m.Code() != 10 || m.Checksum() != ic.Checksum ||
		m.CalculateChecksum() != ic.Checksum || len(m.Payload()) != 9 || m.Payload()[0] != 0x45 {
		t.Fatalf("ICMPv4 view: type %d code %d checksum %#x calc %#x, gopacket %#x",
			m.Type(), m.Code(), m.Checksum(), m.CalculateChecksum(), ic.Checksum)
	}
	m.SetType(11)
	m.SetCode(1)
	m.SetChecksum(m.CalculateChecksum())
	if m.Type() != 11 || m.Code() != 1 || refSum(m) != 0xffff {
		t.Fatal("ICMPv4 setters")
	}
	if packet.ICMPv4(make([]byte, 7)).IsValid() {
		t.Fatal("7-byte ICMPv4 view reported valid")
	}
}

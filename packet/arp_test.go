package packet_test

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/fastscan/fastscan/packet"
)

func ip4(v uint32) net.IP {
	b := make(net.IP, 4)
	binary.BigEndian.PutUint32(b, v)
	return b
}

func TestPutARPRequestDecodesWithGopacket(t *testing.T) {
	srcMAC := [6]byte{0x02, 0x00, 0x5e, 0x10, 0x20, 0x30}
	const srcIP, targetIP = 0xC6120001, 0xC61200FE // 198.18.0.1, 198.18.0.254
	buf := make([]byte, 64)
	for i := range buf {
		buf[i] = 0xAA // detect bytes the function forgets to write
	}
	n := packet.PutARPRequest(buf, srcMAC, srcIP, targetIP)
	if n != 42 {
		t.Fatalf("PutARPRequest returned %d, want 42", n)
	}
	if buf[42] != 0xAA {
		t.Fatalf("PutARPRequest wrote past the frame")
	}
	p := gopacket.NewPacket(buf[:n], layers.LayerTypeEthernet, gopacket.Default)
	if el := p.ErrorLayer(); el != nil {
		t.Fatalf("gopacket decode error: %v", el.Error())
	}
	eth := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	if !bytes.Equal(eth.DstMAC, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}) {
		t.Errorf("dst MAC = %v, want broadcast", eth.DstMAC)
	}
	if !bytes.Equal(eth.SrcMAC, srcMAC[:]) {
		t.Errorf("src MAC = %v, want %v", eth.SrcMAC, net.HardwareAddr(srcMAC[:]))
	}
	if eth.EthernetType != layers.EthernetTypeARP {
		t.Errorf("EtherType = %v, want ARP", eth.EthernetType)
	}
	arpL, ok := p.Layer(layers.LayerTypeARP).(*layers.ARP)
	if !ok {
		t.Fatal("no ARP layer")
	}
	if arpL.AddrType != layers.LinkTypeEthernet || arpL.Protocol != layers.EthernetTypeIPv4 ||
		arpL.HwAddressSize != 6 || arpL.ProtAddressSize != 4 {
		t.Errorf("ARP header = %+v, want Ethernet/IPv4", arpL)
	}
	if arpL.Operation != layers.ARPRequest {
		t.Errorf("operation = %d, want request", arpL.Operation)
	}
	if !bytes.Equal(arpL.SourceHwAddress, srcMAC[:]) || !net.IP(arpL.SourceProtAddress).Equal(ip4(srcIP)) {
		t.Errorf("sender = %v/%v", net.HardwareAddr(arpL.SourceHwAddress), net.IP(arpL.SourceProtAddress))
	}
	if !bytes.Equal(arpL.DstHwAddress, make([]byte, 6)) || !net.IP(arpL.DstProtAddress).Equal(ip4(targetIP)) {
		t.Errorf("target = %v/%v", net.HardwareAddr(arpL.DstHwAddress), net.IP(arpL.DstProtAddress))
	}
}

func TestPutARPRequestShortBuffer(t *testing.T) {
	if n := packet.PutARPRequest(make([]byte, 41), [6]byte{}, 1, 2); n != 0 {
		t.Fatalf("PutARPRequest into 41 bytes returned %d, want 0", n)
	}
}

// gopacketARP serialises an ARP frame with gopacket, independent of package packet.
func gopacketARP(t *testing.T, op uint16, senderMAC [6]byte, senderIP uint32, targetMAC [6]byte, targetIP uint32, pad int) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: senderMAC[:], DstMAC: targetMAC[:], EthernetType: layers.EthernetTypeARP}
	a := &layers.ARP{
		AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
		HwAddressSize: 6, ProtAddressSize: 4, Operation: op,
		SourceHwAddress: senderMAC[:], SourceProtAddress: ip4(senderIP),
		DstHwAddress: targetMAC[:], DstProtAddress: ip4(targetIP),
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{}, eth, a, gopacket.Payload(make([]byte, pad))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestParseARPReply(t *testing.T) {
	sender := [6]byte{0x02, 1, 2, 3, 4, 5}
	us := [6]byte{0x02, 9, 8, 7, 6, 5}
	const senderIP, ourIP = 0xC6130007, 0xC6130001

	for _, pad := range []int{0, 18} {
		frame := gopacketARP(t, layers.ARPReply, sender, senderIP, us, ourIP, pad)
		ip, mac, ok := packet.ParseARPReply(frame)
		if !ok || ip != senderIP || mac != sender {
			t.Errorf("pad %d: ParseARPReply = %#x %v %v, want %#x %v true", pad, ip, mac, ok, uint32(senderIP), sender)
		}
	}

	request := gopacketARP(t, layers.ARPRequest, sender, senderIP, us, ourIP, 0)
	if _, _, ok := packet.ParseARPReply(request); ok {
		t.Error("ParseARPReply accepted a request")
	}
	reply := gopacketARP(t, layers.ARPReply, sender, senderIP, us, ourIP, 0)
	// gopacket pads frames to the 60-byte Ethernet minimum; the ARP packet ends at 42.
	for n := 0; n < 42; n++ {
		if _, _, ok := packet.ParseARPReply(reply[:n]); ok {
			t.Errorf("ParseARPReply accepted a frame truncated to %d bytes", n)
		}
	}
	notEthernet := bytes.Clone(reply)
	notEthernet[14+1] = 6 // hardware type 6 (IEEE 802)
	if _, _, ok := packet.ParseARPReply(notEthernet); ok {
		t.Error("ParseARPReply accepted hardware type 6")
	}
	notIPv4 := bytes.Clone(reply)
	notIPv4[14+2], notIPv4[14+3] = 0x86, 0xdd
	if _, _, ok := packet.ParseARPReply(notIPv4); ok {
		t.Error("ParseARPReply accepted protocol type IPv6")
	}
	notARP := bytes.Clone(reply)
	notARP[12], notARP[13] = 0x08, 0x00
	if _, _, ok := packet.ParseARPReply(notARP); ok {
		t.Error("ParseARPReply accepted EtherType IPv4")
	}
}

func TestARPRoundTrip(t *testing.T) {
	// A request we write, turned into a reply by the target, parses back.
	buf := make([]byte, packet.ARPFrameLen)
	us := [6]byte{0x02, 0, 0, 0, 0, 1}
	them := [6]byte{0x02, 0, 0, 0, 0, 2}
	packet.PutARPRequest(buf, us, 0xC6120001, 0xC6120002)
	a := packet.ARP(packet.Ethernet(buf).Payload())
	a.Encode(packet.ARPReply, them, a.TargetProtocolAddress(), a.SenderHardwareAddress(), a.SenderProtocolAddress())
	ip, mac, ok := packet.ParseARPReply(buf)
	if !ok || ip != 0xC6120002 || mac != them {
		t.Fatalf("ParseARPReply = %#x %v %v", ip, mac, ok)
	}
}

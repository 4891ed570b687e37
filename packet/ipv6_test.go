package packet_test

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/fastscan/fastscan/packet"
	"github.com/fastscan/fastscan/packet/packettest"
)

// Addresses of the IPv6 tests: RFC 5180's benchmarking prefix, as the lab uses.
var (
	local6  = netip.MustParseAddr("2001:2::1")
	target6 = netip.MustParseAddr("2001:2:0:1::a0b")
	router6 = netip.MustParseAddr("2001:2:0:ff::1")
)

var testFlow6 = packettest.Flow6{
	LocalMAC:   [6]byte{0x02, 0, 0, 0, 0, 0x01},
	TargetMAC:  [6]byte{0x02, 0, 0, 0, 0, 0x02},
	LocalIP:    local6,
	TargetIP:   target6,
	LocalPort:  40000,
	TargetPort: 443,
}

// refPseudo6 is the IPv6 pseudo-header of RFC 8200 section 8.1 laid out byte
// by byte: source, destination, 32-bit upper-layer length, three zero bytes
// and the next header.
func refPseudo6(src, dst [16]byte, length uint32, nh uint8) []byte {
	b := append(append([]byte(nil), src[:]...), dst[:]...)
	b = binary.BigEndian.AppendUint32(b, length)
	return append(b, 0, 0, 0, nh)
}

// refChecksumOK6 verifies an upper-layer checksum over IPv6 with the naive
// reference sum over the hand-built pseudo-header and the upper-layer packet.
func refChecksumOK6(src, dst [16]byte, nh uint8, upper []byte) bool {
	return refSum(append(refPseudo6(src, dst, uint32(len(upper)), nh), upper...)) == 0xffff
}

func randAddr6(r *rand.Rand) [16]byte {
	var a [16]byte
	binary.BigEndian.PutUint64(a[:8], r.Uint64())
	binary.BigEndian.PutUint64(a[8:], r.Uint64())
	return a
}

func TestPseudoHeaderChecksum6(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for i := range 20000 {
		src, dst := randAddr6(r), randAddr6(r)
		length, nh := r.Uint32(), uint8(r.Uint32())
		switch i {
		case 0:
			src, dst, length, nh = [16]byte{}, [16]byte{}, 0, 0
		case 1:
			for j := range 16 {
				src[j], dst[j] = 0xff, 0xff
			}
			length, nh = 0xffffffff, 0xff
		}
		want := refSum(refPseudo6(src, dst, length, nh))
		if got := packet.PseudoHeaderChecksum6(nh, src, dst, length); got != want && !(got == 0xffff && want == 0 || got == 0 && want == 0xffff) {
			t.Fatalf("PseudoHeaderChecksum6(%d, %x, %x, %d) = %#04x, reference %#04x", nh, src, dst, length, got, want)
		}
	}
}

// gopacketTCP6Frame builds an IPv6 TCP frame with every field set to a distinct value.
func gopacketTCP6Frame(t *testing.T) (*layers.IPv6, *layers.TCP, []byte) {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 1, 2, 3, 4, 5}, DstMAC: net.HardwareAddr{2, 6, 7, 8, 9, 10}, EthernetType: layers.EthernetTypeIPv6}
	ip := &layers.IPv6{
		Version: 6, TrafficClass: 0xb8, FlowLabel: 0xabcde, NextHeader: layers.IPProtocolTCP, HopLimit: 42,
		SrcIP: net.ParseIP("2001:2::1:2"), DstIP: net.ParseIP("2001:2:0:3::4"),
	}
	tcp := &layers.TCP{SrcPort: 1234, DstPort: 80, Seq: 0x01020304, Ack: 0xa0b0c0d0, SYN: true, ACK: true, Window: 29200}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ip, tcp, gopacket.Payload("payload!")); err != nil {
		t.Fatal(err)
	}
	return ip, tcp, buf.Bytes()
}

func TestIPv6ViewAgreesWithGopacket(t *testing.T) {
	ip, tcp, frame := gopacketTCP6Frame(t)
	if packet.Ethernet(frame).Type() != packet.EtherTypeIPv6 {
		t.Fatalf("EtherType %#x", packet.Ethernet(frame).Type())
	}
	v := packet.IPv6(frame[14:])
	if !v.IsValid() {
		t.Fatal("IPv6 view invalid")
	}
	if v.Version() != 6 || v.TrafficClass() != ip.TrafficClass || v.FlowLabel() != ip.FlowLabel ||
		v.PayloadLength() != ip.Length || v.NextHeader() != uint8(ip.NextHeader) || v.HopLimit() != ip.HopLimit ||
		v.SourceAddress() != [16]byte(ip.SrcIP.To16()) || v.DestinationAddress() != [16]byte(ip.DstIP.To16()) {
		t.Fatalf("IPv6 view fields differ from gopacket's %+v", ip)
	}
	if !bytes.Equal(v.Payload(), frame[54:]) {
		t.Fatal("Payload is not the bytes after the header")
	}
	seg := packet.TCP(v.Payload())
	if seg.CalculateChecksum6(v.SourceAddress(), v.DestinationAddress()) != tcp.Checksum ||
		!seg.IsChecksumValid6(v.SourceAddress(), v.DestinationAddress()) {
		t.Fatalf("TCP checksum over IPv6: computed %#04x, gopacket %#04x", seg.CalculateChecksum6(v.SourceAddress(), v.DestinationAddress()), tcp.Checksum)
	}
	// The setters write what the getters read, and what gopacket decodes.
	f := bytes.Clone(frame)
	w := packet.IPv6(f[14:])
	src, dst := netip.MustParseAddr("2001:2::aa").As16(), netip.MustParseAddr("2001:2::bb").As16()
	w.SetVersionTrafficClassFlowLabel(0x12, 0xfffff3)
	w.SetHopLimit(7)
	w.SetSourceAddress(src)
	w.SetDestinationAddress(dst)
	w.SetNextHeader(59)
	w.SetPayloadLength(3)
	if w.Version() != 6 || w.TrafficClass() != 0x12 || w.FlowLabel() != 0xffff3 || w.HopLimit() != 7 ||
		w.SourceAddress() != src || w.DestinationAddress() != dst || w.NextHeader() != 59 || w.PayloadLength() != 3 {
		t.Fatal("setters and getters disagree")
	}
	p := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
	g := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	if g.TrafficClass != 0x12 || g.FlowLabel != 0xffff3 || g.HopLimit != 7 || !g.SrcIP.Equal(src[:]) || !g.DstIP.Equal(dst[:]) {
		t.Fatalf("gopacket reads %+v", g)
	}
	for _, bad := range [][]byte{frame[14:53], setByte(frame[14:], 0, 0x45), setByte(frame[14:], 5, 0xff)} {
		if packet.IPv6(bad).IsValid() {
			t.Errorf("IsValid accepts % x", bad[:min(len(bad), 8)])
		}
	}
}

func setByte(b []byte, i int, v byte) []byte {
	c := bytes.Clone(b)
	c[i] = v
	return c
}

func TestICMPv6View(t *testing.T) {
	probe := testProbe6(t)
	frame := packettest.ICMPv6Unreachable(t, probe, router6, packet.ICMPv6AdminProhibited)
	ip := packet.IPv6(frame[14:])
	m := packet.ICMPv6(ip.Payload())
	if !m.IsValid() || m.Type() != packet.ICMPv6DestinationUnreachable || m.Code() != packet.ICMPv6AdminProhibited {
		t.Fatalf("ICMPv6 view: type %d code %d", m.Type(), m.Code())
	}
	src, dst := ip.SourceAddress(), ip.DestinationAddress()
	if !m.IsChecksumValid(src, dst) || m.CalculateChecksum(src, dst) != m.Checksum() {
		t.Fatalf("ICMPv6 checksum %#04x, computed %#04x", m.Checksum(), m.CalculateChecksum(src, dst))
	}
	if !refChecksumOK6(src, dst, packet.ProtocolICMPv6, m) {
		t.Fatal("gopacket's ICMPv6 checksum does not verify by the reference sum")
	}
	if !bytes.Equal(m.Payload(), probe[14:]) {
		t.Fatal("the quote is not the probe")
	}
	w := packet.ICMPv6(bytes.Clone(m))
	w.SetType(2)
	w.SetCode(9)
	w.SetChecksum(0x1234)
	if w.Type() != 2 || w.Code() != 9 || w.Checksum() != 0x1234 || w.IsChecksumValid(src, dst) {
		t.Fatal("ICMPv6 setters")
	}
}

// ext builds a generic-format extension header of type typ with n bytes of body.
func ext(typ uint8, n int) packettest.ExtensionHeader {
	return packettest.ExtensionHeader{Type: typ, Body: bytes.Repeat([]byte{0}, n)}
}

// routing0 is a Routing header of type 0 with no segments left (RFC 8200:
// ignored by the receiver), 22 bytes of body.
var routing0 = packettest.ExtensionHeader{Type: 43, Body: append([]byte{0, 0}, make([]byte, 20)...)}

func TestIPv6UpperChains(t *testing.T) {
	base := packettest.SYNACK6(t, testFlow6, 1)
	tests := []struct {
		name       string
		hdrs       []packettest.ExtensionHeader
		ok         bool
		frag, more bool
		gopacket   bool // gopacket decodes the chain too: its TCP layer must be where Upper says
	}{
		{"none", nil, true, false, false, true},
		{"hop-by-hop", []packettest.ExtensionHeader{ext(0, 4)}, true, false, false, true},
		{"destination options, long", []packettest.ExtensionHeader{ext(60, 200)}, true, false, false, true},
		{"routing", []packettest.ExtensionHeader{routing0}, true, false, false, true},
		{"hbh routing dst", []packettest.ExtensionHeader{ext(0, 6), routing0, ext(60, 14)}, true, false, false, true},
		{"atomic fragment", []packettest.ExtensionHeader{packettest.Fragment(0, false, 7)}, true, true, false, false},
		{"first fragment", []packettest.ExtensionHeader{ext(0, 6), packettest.Fragment(0, true, 7)}, true, true, true, false},
		{"non-first fragment", []packettest.ExtensionHeader{packettest.Fragment(1448, false, 7)}, false, true, false, false},
		{"two fragment headers", []packettest.ExtensionHeader{packettest.Fragment(0, false, 7), packettest.Fragment(0, false, 8)}, false, true, false, false},
		{"mobility hip shim6 experimental", []packettest.ExtensionHeader{ext(135, 6), ext(139, 6), ext(140, 6), ext(253, 6), ext(254, 6)}, true, false, false, false},
		{"eight", []packettest.ExtensionHeader{ext(0, 6), ext(60, 6), ext(60, 6), ext(60, 6), ext(60, 6), ext(60, 6), ext(60, 6), ext(60, 6)}, true, false, false, true},
		{"nine", []packettest.ExtensionHeader{ext(0, 6), ext(60, 6), ext(60, 6), ext(60, 6), ext(60, 6), ext(60, 6), ext(60, 6), ext(60, 6), ext(60, 6)}, false, false, false, false},
		{"esp", []packettest.ExtensionHeader{ext(50, 30)}, false, false, false, false},
		{"ah", []packettest.ExtensionHeader{{Type: 51, Body: make([]byte, 14)}}, false, false, false, false},
		{"hbh then ah", []packettest.ExtensionHeader{ext(0, 6), {Type: 51, Body: make([]byte, 14)}}, false, false, false, false},
		{"no next header", []packettest.ExtensionHeader{ext(59, 6)}, false, false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frame := packettest.WithExtensionHeaders(t, base, 14, tt.hdrs...)
			ip := packet.IPv6(frame[14:])
			if !ip.IsValid() {
				t.Fatal("invalid IPv6 header")
			}
			ip = ip[:40+int(ip.PayloadLength())]
			u, ok := ip.Upper()
			if ok != tt.ok || u.Fragment != tt.frag || u.MoreFragments != tt.more {
				t.Fatalf("Upper = %+v, %v; want ok %v fragment %v more %v", u, ok, tt.ok, tt.frag, tt.more)
			}
			if !ok {
				return
			}
			wantOff := 40
			for _, h := range tt.hdrs {
				if h.Type == 44 {
					wantOff += 8
				} else {
					wantOff += (2 + len(h.Body) + 7) &^ 7
				}
			}
			if u.Protocol != packet.ProtocolTCP || u.Offset != wantOff {
				t.Fatalf("Upper = %+v, want TCP at %d", u, wantOff)
			}
			if tcp := packet.TCP(ip[u.Offset:]); tcp.SourcePort() != testFlow6.TargetPort || tcp.AckNumber() != 1 {
				t.Fatalf("not the TCP header at %d", u.Offset)
			}
			if tt.gopacket {
				p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
				tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
				if tcp == nil || !bytes.Equal(tcp.Contents, frame[14+u.Offset:14+u.Offset+len(tcp.Contents)]) {
					t.Fatalf("gopacket finds TCP elsewhere: %v", p)
				}
			}
			// Every cut of the chain short of the upper-layer header fails.
			for n := 40; n < u.Offset; n++ {
				if u2, ok := ip[:n].Upper(); ok && u2.Offset > n {
					t.Fatalf("cut at %d: Upper = %+v beyond the cut", n, u2)
				} else if ok {
					t.Fatalf("cut at %d inside the chain (upper at %d): ok", n, u.Offset)
				}
			}
		})
	}
}

func TestIPv6UpperLengthOverflow(t *testing.T) {
	// A header extension length of 255 (2048 bytes) in a short packet.
	base := packettest.SYNACK6(t, testFlow6, 1)
	frame := packettest.WithExtensionHeaders(t, base, 14, ext(0, 6))
	frame[14+41] = 0xff
	if u, ok := packet.IPv6(frame[14:]).Upper(); ok {
		t.Fatalf("Upper = %+v past the packet", u)
	}
}

// testProbe6 returns a probe from the IPv6 SYN template for testFlow6, with
// sequence number 0xC0FFEE01.
func testProbe6(t testing.TB) []byte {
	t.Helper()
	tmpl, err := packet.NewSYN6Template(packet.SYN6Params{SrcMAC: testFlow6.LocalMAC, DstMAC: testFlow6.TargetMAC, SrcIP: testFlow6.LocalIP})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, tmpl.Len())
	tmpl.Put(buf, nil, testFlow6.TargetIP, testFlow6.TargetPort, testFlow6.LocalPort, 0xC0FFEE01, 0xC0FFEE01)
	return buf
}

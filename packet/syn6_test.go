package packet_test

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/fastscan/fastscan/packet"
)

// reserialize6 decodes an Ethernet/IPv6/(TCP|UDP) frame with gopacket and
// serializes the decoded layers again with gopacket's own checksums: a frame
// with correct checksums comes back byte for byte.
func reserialize6(t *testing.T, frame []byte) []byte {
	t.Helper()
	p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	if el := p.ErrorLayer(); el != nil && p.Layer(layers.LayerTypeTCP) == nil && p.Layer(layers.LayerTypeUDP) == nil {
		t.Fatalf("decode: %v", el.Error()) // (an application layer gopacket fails to decode is no matter)
	}
	eth := *p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	ip := *p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	ls := []gopacket.SerializableLayer{&eth, &ip}
	switch {
	case p.Layer(layers.LayerTypeTCP) != nil:
		tcp := *p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if err := tcp.SetNetworkLayerForChecksum(&ip); err != nil {
			t.Fatal(err)
		}
		ls = append(ls, &tcp, gopacket.Payload(tcp.Payload))
	case p.Layer(layers.LayerTypeUDP) != nil:
		udp := *p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if err := udp.SetNetworkLayerForChecksum(&ip); err != nil {
			t.Fatal(err)
		}
		ls = append(ls, &udp, gopacket.Payload(udp.Payload))
	default:
		t.Fatalf("neither TCP nor UDP: %v", p)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func addrFrom(a [16]byte) netip.Addr { return netip.AddrFrom16(a) }

func TestSYN6TemplatePut(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	params := []packet.SYN6Params{
		{SrcMAC: [6]byte{0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee}, DstMAC: [6]byte{0x02, 1, 2, 3, 4, 5}, SrcIP: local6},
		{SrcMAC: [6]byte{0x02, 9, 9, 9, 9, 9}, DstMAC: [6]byte{0x33, 0x33, 0, 0, 0, 1},
			SrcIP: netip.MustParseAddr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), HopLimit: 255, TrafficClass: 0xb8, Window: 65535, MSS: 1220},
		{SrcIP: netip.IPv6Loopback()}, // ::1, lo's zero MACs
		{SrcIP: netip.IPv6Unspecified()},
	}
	for _, p := range params {
		tmpl, err := packet.NewSYN6Template(p)
		if err != nil {
			t.Fatal(err)
		}
		wantHop, wantWin, wantMSS := p.HopLimit, p.Window, p.MSS
		if wantHop == 0 {
			wantHop = 64
		}
		if wantWin == 0 {
			wantWin = 1024
		}
		if wantMSS == 0 {
			wantMSS = 1440
		}
		buf := make([]byte, 128)
		for i := range 5000 {
			dst := randAddr6(r)
			dstPort, srcPort, seq, flow := uint16(r.Uint32()), uint16(r.Uint32()), r.Uint32(), r.Uint32()
			switch i {
			case 0:
				dst, dstPort, srcPort, seq, flow = [16]byte{}, 0, 0, 0, 0
			case 1:
				dst, dstPort, srcPort, seq, flow = [16]byte(bytes.Repeat([]byte{0xff}, 16)), 0xffff, 0xffff, 0xffffffff, 0xffffffff
			}
			var dstMAC *[6]byte
			wantMAC := p.DstMAC
			if i%2 == 1 {
				m := [6]byte{0x02, byte(i), byte(i >> 8), 1, 2, 3}
				dstMAC, wantMAC = &m, m
			}
			for j := range buf {
				buf[j] = 0xA5
			}
			n := tmpl.Put(buf, dstMAC, addrFrom(dst), dstPort, srcPort, seq, flow)
			if n != tmpl.Len() || n != 78 {
				t.Fatalf("Put returned %d, Len %d", n, tmpl.Len())
			}
			if buf[n] != 0xA5 {
				t.Fatal("Put wrote past its length")
			}
			frame := buf[:n]
			if again := reserialize6(t, frame); !bytes.Equal(again, frame) {
				t.Fatalf("frame differs from gopacket's re-encoding:\n% x\n% x", frame, again)
			}
			pkt := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
			eth := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
			ip := pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
			tcp := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
			src := p.SrcIP.As16()
			if !bytes.Equal(eth.DstMAC, wantMAC[:]) || !bytes.Equal(eth.SrcMAC, p.SrcMAC[:]) || eth.EthernetType != layers.EthernetTypeIPv6 {
				t.Fatalf("ethernet = %v > %v %v", eth.SrcMAC, eth.DstMAC, eth.EthernetType)
			}
			if ip.Version != 6 || ip.TrafficClass != p.TrafficClass || ip.FlowLabel != flow&0xfffff || ip.Length != 24 ||
				ip.NextHeader != layers.IPProtocolTCP || ip.HopLimit != wantHop ||
				!bytes.Equal(ip.SrcIP, src[:]) || !bytes.Equal(ip.DstIP, dst[:]) {
				t.Fatalf("ipv6 header = %+v", ip)
			}
			if uint16(tcp.SrcPort) != srcPort || uint16(tcp.DstPort) != dstPort || tcp.Seq != seq || tcp.Ack != 0 ||
				!tcp.SYN || tcp.ACK || tcp.RST || tcp.FIN || tcp.Window != wantWin {
				t.Fatalf("tcp = %+v", tcp)
			}
			if len(tcp.Options) != 1 || tcp.Options[0].OptionType != layers.TCPOptionKindMSS ||
				binary.BigEndian.Uint16(tcp.Options[0].OptionData) != wantMSS {
				t.Fatalf("tcp options = %v", tcp.Options)
			}
			if !refChecksumOK6(src, dst, 6, frame[54:78]) || !packet.TCP(frame[54:78]).IsChecksumValid6(src, dst) {
				t.Fatalf("TCP checksum %#04x does not verify", tcp.Checksum)
			}
		}
	}
}

func TestSYN6TemplateRejects(t *testing.T) {
	for _, a := range []netip.Addr{{}, netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("::ffff:198.18.0.1"), netip.MustParseAddr("fe80::1%eth0")} {
		if _, err := packet.NewSYN6Template(packet.SYN6Params{SrcIP: a}); err == nil {
			t.Errorf("NewSYN6Template accepts source %v", a)
		}
		if _, err := packet.NewUDP6Template(packet.UDP6Params{SrcIP: a}); err == nil {
			t.Errorf("NewUDP6Template accepts source %v", a)
		}
	}
	tmpl, err := packet.NewSYN6Template(packet.SYN6Params{SrcIP: local6})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 128)
	if n := tmpl.Put(buf[:packet.SYN6FrameLen-1], nil, target6, 1, 2, 3, 4); n != 0 {
		t.Errorf("Put into a short buffer returned %d", n)
	}
	for _, a := range []netip.Addr{{}, netip.MustParseAddr("198.18.0.1")} {
		if n := tmpl.Put(buf, nil, a, 1, 2, 3, 4); n != 0 {
			t.Errorf("Put to %v returned %d", a, n)
		}
	}
}

func TestSYN6TemplatePutAllocs(t *testing.T) {
	tmpl, err := packet.NewSYN6Template(packet.SYN6Params{SrcIP: local6})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, tmpl.Len())
	mac := [6]byte{2, 0, 0, 0, 0, 3}
	var i uint32
	if a := testing.AllocsPerRun(1000, func() {
		i++
		tmpl.Put(buf, &mac, target6, uint16(i), 40000, i, i)
	}); a != 0 {
		t.Fatalf("Put allocates %v times", a)
	}
}

func TestUDP6TemplatePut(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	payloads := []struct {
		payload []byte
		off, n  int
	}{
		{nil, 0, 0},
		{[]byte{0xab}, 0, 0},
		{bytes.Repeat([]byte{0x5a}, 48), 40, 8}, // NTP-like: transmit timestamp at 40
		{bytes.Repeat([]byte{0x11}, 33), 0, 2},  // DNS-like: id at 0, odd length
		{bytes.Repeat([]byte{0x22}, 40), 13, 4}, // cookie at an odd offset
		{bytes.Repeat([]byte{0x33}, packet.MaxUDPPayload), 501, 8},
	}
	for _, pl := range payloads {
		p := packet.UDP6Params{
			SrcMAC: [6]byte{2, 0, 0, 0, 0, 1}, DstMAC: [6]byte{2, 0, 0, 0, 0, 2}, SrcIP: local6, HopLimit: 9,
			DstPort: 7, Payload: pl.payload, CookieOffset: pl.off, CookieLen: pl.n,
		}
		tmpl, err := packet.NewUDP6Template(p)
		if err != nil {
			t.Fatal(err)
		}
		if tmpl.Len() != 14+40+8+len(pl.payload) {
			t.Fatalf("payload of %d bytes: Len %d", len(pl.payload), tmpl.Len())
		}
		buf := make([]byte, 1024)
		for range 2000 {
			dst := randAddr6(r)
			sport, cookie, flow := uint16(r.Uint32()), r.Uint64(), r.Uint32()
			n := tmpl.Put(buf, nil, addrFrom(dst), sport, cookie, flow)
			if n != tmpl.Len() {
				t.Fatalf("Put returned %d", n)
			}
			frame := buf[:n]
			if again := reserialize6(t, frame); !bytes.Equal(again, frame) {
				t.Fatalf("payload %d/%d: frame differs from gopacket's re-encoding:\n% x\n% x", pl.off, pl.n, frame, again)
			}
			pkt := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
			ip := pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
			udp := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
			if !bytes.Equal(ip.DstIP, dst[:]) || ip.FlowLabel != flow&0xfffff || ip.HopLimit != 9 ||
				uint16(udp.SrcPort) != sport || udp.DstPort != 7 || int(udp.Length) != 8+len(pl.payload) {
				t.Fatalf("fields: %+v %+v", ip, udp)
			}
			src := local6.As16()
			if !refChecksumOK6(src, dst, 17, frame[54:]) || udp.Checksum == 0 {
				t.Fatalf("UDP checksum %#04x does not verify", udp.Checksum)
			}
			want := bytes.Clone(pl.payload)
			for k := 0; k < pl.n; k++ {
				want[pl.off+k] = byte(cookie >> (8 * (pl.n - 1 - k)))
			}
			if !bytes.Equal(udp.Payload, want) {
				t.Fatalf("payload % x, want % x", udp.Payload, want)
			}
		}
	}
}

// TestUDP6TemplateZeroChecksum finds, by search over source ports, a probe
// whose checksum computes to zero, which must go out as 0xffff (RFC 8200
// section 8.1: a zero UDP checksum over IPv6 is invalid).
func TestUDP6TemplateZeroChecksum(t *testing.T) {
	tmpl, err := packet.NewUDP6Template(packet.UDP6Params{SrcIP: local6, DstPort: 53, Payload: []byte{1, 2, 3, 4}})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 128)
	seen := false
	for sport := range 1 << 16 {
		n := tmpl.Put(buf, nil, target6, uint16(sport), 0, 0)
		c := binary.BigEndian.Uint16(buf[54+6:])
		if c == 0 {
			t.Fatalf("source port %d: zero UDP checksum sent", sport)
		}
		if c == 0xffff {
			seen = true
			if !refChecksumOK6(local6.As16(), target6.As16(), 17, buf[54:n]) {
				t.Fatalf("source port %d: 0xffff does not verify", sport)
			}
		}
	}
	if !seen {
		t.Fatal("no source port gives a computed zero: the case is not exercised")
	}
}

func TestUDP6TemplateRejects(t *testing.T) {
	for _, p := range []packet.UDP6Params{
		{SrcIP: local6, Payload: make([]byte, packet.MaxUDPPayload+1)},
		{SrcIP: local6, Payload: make([]byte, 4), CookieOffset: 2, CookieLen: 4},
		{SrcIP: local6, Payload: make([]byte, 16), CookieLen: 9},
		{SrcIP: local6, Payload: make([]byte, 16), CookieOffset: -1, CookieLen: 2},
	} {
		if _, err := packet.NewUDP6Template(p); err == nil {
			t.Errorf("NewUDP6Template(%d bytes, cookie %d+%d) accepted", len(p.Payload), p.CookieOffset, p.CookieLen)
		}
	}
	tmpl, err := packet.NewUDP6Template(packet.UDP6Params{SrcIP: local6, DstPort: 7, Payload: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 128)
	if n := tmpl.Put(buf[:tmpl.Len()-1], nil, target6, 1, 2, 3); n != 0 {
		t.Errorf("Put into a short buffer returned %d", n)
	}
	if n := tmpl.Put(buf, nil, netip.MustParseAddr("198.18.0.1"), 1, 2, 3); n != 0 {
		t.Errorf("Put to an IPv4 address returned %d", n)
	}
}

func TestUDP6TemplatePutAllocs(t *testing.T) {
	tmpl, err := packet.NewUDP6Template(packet.UDP6Params{SrcIP: local6, DstPort: 123, Payload: make([]byte, 48), CookieOffset: 40, CookieLen: 8})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 256)
	mac := [6]byte{1}
	if n := testing.AllocsPerRun(1000, func() { tmpl.Put(buf, &mac, target6, 61000, 42, 7) }); n != 0 {
		t.Fatalf("Put allocates %v times", n)
	}
}

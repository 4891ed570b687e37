package packet_test

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/fastscan/fastscan/packet"
	"github.com/fastscan/fastscan/packet/packettest"
)

var testFlow = packettest.Flow{
	LocalMAC:   [6]byte{0x02, 0, 0, 0, 0, 0x01},
	TargetMAC:  [6]byte{0x02, 0, 0, 0, 0, 0x02},
	LocalIP:    0xC6120001, // 198.18.0.1
	TargetIP:   0xC6130A0B, // 198.19.10.11
	LocalPort:  40000,
	TargetPort: 443,
}

func parse(t testing.TB, frame []byte) (packet.Reply, bool) {
	t.Helper()
	r := packet.Reply{Kind: 99, TargetIP: 0xdeadbeef} // stale values must be overwritten
	ok := packet.ParseReply(frame, &r)
	return r, ok
}

func TestParseReplyTCP(t *testing.T) {
	const ack = 0x10000000
	tests := []struct {
		name  string
		seg   packettest.Segment
		want  packet.ReplyKind
		match bool
	}{
		{"syn-ack", packettest.Segment{Ack: ack, Flags: 0x12}, packet.ReplySYNACK, true},
		{"rst-ack", packettest.Segment{Ack: ack, Flags: 0x14}, packet.ReplyRST, true},
		{"syn-ack with ip options", packettest.Segment{Ack: ack, Flags: 0x12, IPOptionsLen: 12}, packet.ReplySYNACK, true},
		{"rst-ack with max ip options", packettest.Segment{Ack: ack, Flags: 0x14, IPOptionsLen: 40}, packet.ReplyRST, true},
		{"syn-ack with padding", packettest.Segment{Ack: ack, Flags: 0x12, Padding: 30}, packet.ReplySYNACK, true},
		{"syn-ack with ece and payload", packettest.Segment{Ack: ack, Flags: 0x52, Payload: []byte("hi")}, packet.ReplySYNACK, true},
		{"ack zero wraps", packettest.Segment{Ack: 0, Flags: 0x12}, packet.ReplySYNACK, true},
		{"syn-rst-ack counts as rst", packettest.Segment{Ack: ack, Flags: 0x16}, packet.ReplyRST, true},
		{"bare syn", packettest.Segment{Ack: ack, Flags: 0x02}, 0, false},
		{"rst without ack", packettest.Segment{Ack: ack, Flags: 0x04}, 0, false},
		{"bare ack", packettest.Segment{Ack: ack, Flags: 0x10}, 0, false},
		{"fin-ack", packettest.Segment{Ack: ack, Flags: 0x11}, 0, false},
		{"psh-ack", packettest.Segment{Ack: ack, Flags: 0x18}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.seg.Flow = testFlow
			tt.seg.TTL = 57
			r, ok := parse(t, packettest.TCP(t, tt.seg))
			if ok != tt.match {
				t.Fatalf("ParseReply = %v, want %v (%+v)", ok, tt.match, r)
			}
			if !ok {
				return
			}
			want := packet.Reply{
				Kind:       tt.want,
				TargetIP:   testFlow.TargetIP,
				TargetPort: testFlow.TargetPort,
				LocalIP:    testFlow.LocalIP,
				LocalPort:  testFlow.LocalPort,
				Cookie:     tt.seg.Ack - 1,
				From:       testFlow.TargetIP,
				TTL:        57,
				Proto:      packet.ProtocolTCP,
			}
			if r != want {
				t.Fatalf("reply = %+v\nwant    %+v", r, want)
			}
		})
	}
}

// setIPv4Byte changes a byte of the outer IPv4 header (the parser does not
// verify checksums, so the checksum is left alone).
func setIPv4Byte(frame []byte, off int, v byte) []byte {
	f := bytes.Clone(frame)
	f[14+off] = v
	return f
}

func TestParseReplyRejectsMalformed(t *testing.T) {
	synack := packettest.SYNACK(t, testFlow, 1000)
	if _, ok := parse(t, synack); !ok {
		t.Fatal("baseline SYN-ACK rejected")
	}
	withOpts := packettest.TCP(t, packettest.Segment{Flow: testFlow, Ack: 5, Flags: 0x12, IPOptionsLen: 8})
	tests := []struct {
		name  string
		frame []byte
	}{
		{"empty", nil},
		{"ethernet only", synack[:14]},
		{"arp ethertype", func() []byte { f := bytes.Clone(synack); f[12], f[13] = 0x08, 0x06; return f }()},
		{"ipv6 ethertype", func() []byte { f := bytes.Clone(synack); f[12], f[13] = 0x86, 0xdd; return f }()},
		{"version 6", setIPv4Byte(synack, 0, 0x65)},
		{"ihl 4", setIPv4Byte(synack, 0, 0x44)},
		{"ihl 0", setIPv4Byte(synack, 0, 0x40)},
		{"ihl 15 beyond packet", setIPv4Byte(synack, 0, 0x4f)},
		{"total length too big", setIPv4Byte(synack, 3, 0xff)},
		{"total length below header", setIPv4Byte(setIPv4Byte(synack, 2, 0), 3, 19)},
		{"total length cuts tcp", setIPv4Byte(setIPv4Byte(synack, 2, 0), 3, 39)},
		{"more fragments", setIPv4Byte(synack, 6, 0x20)},
		{"fragment offset", setIPv4Byte(setIPv4Byte(synack, 6, 0x00), 7, 0x01)},
		{"fragment offset high bits", setIPv4Byte(synack, 6, 0x5f)},
		{"udp", setIPv4Byte(synack, 9, 17)},
		{"tcp data offset 4", func() []byte { f := bytes.Clone(synack); f[34+12] = 0x40; return f }()},
		{"tcp data offset 15", func() []byte { f := bytes.Clone(synack); f[34+12] = 0xf0; return f }()},
		{"ip options, ihl claims none", func() []byte { f := bytes.Clone(withOpts); f[14] = 0x45; return f }()},
	}
	for _, tt := range tests {
		if r, ok := parse(t, tt.frame); ok {
			t.Errorf("%s: ParseReply accepted %+v", tt.name, r)
		}
	}
}

func TestParseReplyTruncated(t *testing.T) {
	probe := testProbe(t)
	frames := map[string][]byte{
		"syn-ack":         packettest.SYNACK(t, testFlow, 77),
		"syn-ack options": packettest.TCP(t, packettest.Segment{Flow: testFlow, Ack: 5, Flags: 0x12, IPOptionsLen: 16}),
		"rst":             packettest.RST(t, testFlow, 77),
		"icmp":            packettest.ICMPUnreachable(t, probe, 0, 3),
	}
	for name, f := range frames {
		ipLen := int(binary.BigEndian.Uint16(f[16:]))
		if _, ok := parse(t, f); !ok {
			t.Fatalf("%s: baseline rejected", name)
		}
		for n := 0; n < 14+ipLen; n++ {
			if r, ok := parse(t, f[:n]); ok {
				t.Errorf("%s truncated to %d of %d bytes: accepted %+v", name, n, 14+ipLen, r)
			}
		}
	}
}

// testProbe returns a probe from the SYN template for testFlow.
func testProbe(t testing.TB) []byte {
	t.Helper()
	tmpl, err := packet.NewSYNTemplate(packet.SYNParams{
		SrcMAC: testFlow.LocalMAC, DstMAC: testFlow.TargetMAC, SrcIP: testFlow.LocalIP,
	})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, tmpl.Len())
	tmpl.Put(buf, nil, testFlow.TargetIP, testFlow.TargetPort, testFlow.LocalPort, 0xC0FFEE01, 1)
	return buf
}

func TestParseReplyICMPUnreachable(t *testing.T) {
	probe := testProbe(t)
	const router = 0xC612FE01 // 198.18.254.1
	for code := range uint8(16) {
		for _, from := range []uint32{router, 0} {
			frame := packettest.ICMP(t, packettest.Error{Probe: probe, From: from, Type: 3, Code: code, TTL: 250})
			r, ok := parse(t, frame)
			if !ok {
				t.Fatalf("code %d: rejected", code)
			}
			wantFrom := from
			if from == 0 {
				wantFrom = testFlow.TargetIP
			}
			want := packet.Reply{
				Kind:       packet.ReplyICMPUnreachable,
				TargetIP:   testFlow.TargetIP,
				TargetPort: testFlow.TargetPort,
				LocalIP:    testFlow.LocalIP,
				LocalPort:  testFlow.LocalPort,
				Cookie:     0xC0FFEE01,
				From:       wantFrom,
				TTL:        250,
				ICMPType:   3,
				ICMPCode:   code,
				Proto:      packet.ProtocolTCP,
			}
			if r != want {
				t.Fatalf("code %d: reply = %+v\nwant %+v", code, r, want)
			}
		}
	}
	// Linux quotes the whole probe; padding after the outer datagram too.
	full := packettest.ICMP(t, packettest.Error{Probe: probe, Type: 3, Code: 13, QuoteLen: 1500})
	if r, ok := parse(t, append(bytes.Clone(full), make([]byte, 20)...)); !ok || r.Cookie != 0xC0FFEE01 {
		t.Fatalf("full quote: %v %+v", ok, r)
	}
}

func TestParseReplyICMPQuotedIPOptions(t *testing.T) {
	// A probe whose IPv4 header carries options: build it with the forger,
	// sending from "target" = us.
	rev := packettest.Flow{
		LocalMAC: testFlow.TargetMAC, TargetMAC: testFlow.LocalMAC,
		LocalIP: testFlow.TargetIP, TargetIP: testFlow.LocalIP,
		LocalPort: testFlow.TargetPort, TargetPort: testFlow.LocalPort,
	}
	probe := packettest.TCP(t, packettest.Segment{Flow: rev, Seq: 0xabcdef01, Flags: 0x02, IPOptionsLen: 8})
	frame := packettest.ICMPUnreachable(t, probe, 0xC612FE01, 1)
	r, ok := parse(t, frame)
	if !ok || r.Cookie != 0xabcdef01 || r.TargetPort != testFlow.TargetPort || r.LocalPort != testFlow.LocalPort ||
		r.TargetIP != testFlow.TargetIP || r.LocalIP != testFlow.LocalIP {
		t.Fatalf("ParseReply = %v %+v", ok, r)
	}
}

func TestParseReplyICMPRejects(t *testing.T) {
	probe := testProbe(t)
	good := packettest.ICMPUnreachable(t, probe, 0, 3)
	const quoted = 14 + 20 + 8 // start of the quoted IPv4 header
	tests := []struct {
		name  string
		frame []byte
	}{
		{"code 16", packettest.ICMP(t, packettest.Error{Probe: probe, Type: 3, Code: 16})},
		{"time exceeded", packettest.ICMP(t, packettest.Error{Probe: probe, Type: 11, Code: 0})},
		{"echo reply", packettest.ICMP(t, packettest.Error{Probe: probe, Type: 0, Code: 0})},
		{"quote too short", packettest.ICMP(t, packettest.Error{Probe: probe, Type: 3, Code: 3, QuoteLen: 27})},
		{"quote header only", packettest.ICMP(t, packettest.Error{Probe: probe, Type: 3, Code: 3, QuoteLen: 20})},
		{"quoted icmp", func() []byte { f := bytes.Clone(good); f[quoted+9] = 1; return f }()},
		{"quoted version 6", func() []byte { f := bytes.Clone(good); f[quoted] = 0x65; return f }()},
		{"quoted ihl 4", func() []byte { f := bytes.Clone(good); f[quoted] = 0x44; return f }()},
		{"quoted ihl beyond quote", func() []byte { f := bytes.Clone(good); f[quoted] = 0x47; return f }()},
		{"quoted fragment offset", func() []byte { f := bytes.Clone(good); f[quoted+7] = 1; return f }()},
		{"outer fragment", setIPv4Byte(good, 6, 0x20)},
		{"icmp header truncated by total length", setIPv4Byte(setIPv4Byte(good, 2, 0), 3, 27)},
	}
	for _, tt := range tests {
		if r, ok := parse(t, tt.frame); ok {
			t.Errorf("%s: ParseReply accepted %+v", tt.name, r)
		}
	}
}

func TestParseReplyRandomGarbage(t *testing.T) {
	// Random bytes behind a plausible IPv4 start must never panic.
	r := rand.New(rand.NewPCG(13, 14))
	var reply packet.Reply
	for range 200000 {
		f := make([]byte, r.IntN(120))
		for i := range f {
			f[i] = byte(r.Uint32())
		}
		if len(f) > 15 {
			f[12], f[13], f[14] = 0x08, 0x00, 0x40|byte(r.IntN(16))
			if len(f) > 23 {
				f[23] = []byte{1, 6}[r.IntN(2)]
			}
			if len(f) > 21 {
				f[20], f[21] = 0, 0
			}
		}
		packet.ParseReply(f, &reply)
	}
}

func TestParseReplyAllocs(t *testing.T) {
	synack := packettest.SYNACK(t, testFlow, 1000)
	icmp := packettest.ICMPUnreachable(t, testProbe(t), 0, 3)
	var r packet.Reply
	if a := testing.AllocsPerRun(1000, func() {
		packet.ParseReply(synack, &r)
		packet.ParseReply(icmp, &r)
	}); a != 0 {
		t.Fatalf("ParseReply allocates %v times", a)
	}
}

func TestReplyKindString(t *testing.T) {
	for k, want := range map[packet.ReplyKind]string{
		packet.ReplyNone: "none", packet.ReplySYNACK: "syn-ack", packet.ReplyRST: "rst",
		packet.ReplyICMPUnreachable: "icmp-unreachable", 200: "unknown",
	} {
		if got := k.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", k, got, want)
		}
	}
}

func FuzzParseReply(f *testing.F) {
	probe := testProbe(f)
	f.Add(packettest.SYNACK(f, testFlow, 1))
	f.Add(packettest.RST(f, testFlow, 0))
	f.Add(packettest.TCP(f, packettest.Segment{Flow: testFlow, Ack: 9, Flags: 0x12, IPOptionsLen: 40, Padding: 4}))
	f.Add(packettest.ICMPUnreachable(f, probe, 0xC612FE01, 3))
	f.Add(packettest.ICMP(f, packettest.Error{Probe: probe, Type: 3, Code: 13, QuoteLen: 1500}))
	f.Add(probe)
	f.Add([]byte{})
	// UDP: a service's answer, and ICMP errors quoting a UDP probe briefly and in full.
	uprobe := udpProbe(f, []byte{0xab, 0xcd, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Add(udpAnswer(f, []byte("an answer")))
	f.Add(udpAnswer(f, nil))
	f.Add(packettest.ICMPUnreachable(f, uprobe, 0, 3))
	f.Add(packettest.ICMPUnreachable(f, uprobe, 0xC612FE01, 13))
	f.Add(packettest.ICMP(f, packettest.Error{Probe: uprobe, Type: 3, Code: 3, QuoteLen: 1500}))
	f.Add(uprobe)
	// VLAN-tagged (802.1Q, and 802.1ad QinQ) replies, which ParseReply must not
	// mistake for untagged ones.
	f.Add(vlanTagged(f, packettest.SYNACK(f, testFlow, 1), layers.EthernetTypeDot1Q))
	f.Add(vlanTagged(f, udpAnswer(f, []byte("tagged")), layers.EthernetTypeDot1Q))
	f.Add(vlanTagged(f, vlanTagged(f, packettest.RST(f, testFlow, 1), layers.EthernetTypeDot1Q), layers.EthernetTypeQinQ))
	// Real traffic recorded in the lab, if any.
	for _, frame := range pcapFrames(f, "../testdata/*.pcap", "../testdata/*/*.pcap") {
		f.Add(frame)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		var r packet.Reply
		orig := bytes.Clone(frame)
		ok := packet.ParseReply(frame, &r)
		if !bytes.Equal(orig, frame) {
			t.Fatal("ParseReply modified its input")
		}
		if !ok {
			return
		}
		if r.IPv6 {
			t.Fatalf("ParseReply accepted an IPv6 frame: % x", frame)
		}
		// Accepted frames satisfy the documented invariants.
		ip := packet.IPv4(frame[14:])
		if !ip.IsValid() || ip.IsFragment() {
			t.Fatalf("accepted invalid or fragmented IPv4: % x", frame)
		}
		if r.From != ip.SourceAddress() || r.TTL != ip.TTL() {
			t.Fatalf("From/TTL %#x/%d do not match the outer header", r.From, r.TTL)
		}
		switch r.Kind {
		case packet.ReplySYNACK, packet.ReplyRST:
			tcp := packet.TCP(ip.Payload())
			if ip.Protocol() != packet.ProtocolTCP || tcp.Flags()&packet.TCPFlagACK == 0 {
				t.Fatalf("accepted TCP reply without ACK: % x", frame)
			}
			if r.Cookie+1 != tcp.AckNumber() || r.TargetIP != r.From {
				t.Fatalf("inconsistent TCP reply %+v", r)
			}
		case packet.ReplyICMPUnreachable:
			if ip.Protocol() != packet.ProtocolICMP || r.ICMPType != 3 || r.ICMPCode > 15 ||
				(r.Proto != packet.ProtocolTCP && r.Proto != packet.ProtocolUDP) {
				t.Fatalf("inconsistent ICMP reply %+v", r)
			}
			if r.Proto == packet.ProtocolTCP && r.PayloadLength != 0 {
				t.Fatalf("ICMP error quoting TCP with a payload: %+v", r)
			}
		case packet.ReplyUDP:
			udp := packet.UDP(ip.Payload())
			if ip.Protocol() != packet.ProtocolUDP || r.Proto != packet.ProtocolUDP || r.TargetIP != r.From ||
				r.TargetPort != udp.SourcePort() || r.LocalPort != udp.DestinationPort() ||
				r.PayloadLength != int(udp.Length())-8 {
				t.Fatalf("inconsistent UDP reply %+v", r)
			}
		default:
			t.Fatalf("accepted with kind %v", r.Kind)
		}
		// The payload lies inside the IPv4 datagram, never in link-layer padding.
		if r.PayloadLength < 0 || r.PayloadLength > 0 && (r.PayloadOffset < 14+ip.HeaderLength() ||
			r.PayloadOffset+r.PayloadLength > 14+int(ip.TotalLength())) {
			t.Fatalf("payload [%d, +%d) outside the datagram of %d bytes", r.PayloadOffset, r.PayloadLength, ip.TotalLength())
		}
		_ = r.Payload(frame)
	})
}

// udpAnswer builds a UDP datagram from 198.19.0.5:53 to 198.18.0.1:61000 with
// payload: the answer to udpProbe.
func udpAnswer(tb testing.TB, payload []byte) []byte {
	tb.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 61, Protocol: layers.IPProtocolUDP, SrcIP: net.IP{198, 19, 0, 5}, DstIP: net.IP{198, 18, 0, 1}}
	udp := &layers.UDP{SrcPort: 53, DstPort: 61000}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		tb.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, udp, gopacket.Payload(payload)); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// vlanTagged returns frame with a VLAN tag of the given TPID (802.1Q or
// 802.1ad) inserted after the MAC addresses, as a trunk port delivers it.
func vlanTagged(tb testing.TB, frame []byte, tpid layers.EthernetType) []byte {
	tb.Helper()
	tag := []byte{byte(tpid >> 8), byte(tpid), 0x20, 0x64} // priority 1, VLAN 100
	return append(append(bytes.Clone(frame[:12]), tag...), frame[12:]...)
}

// pcapFrames returns the frames of every Ethernet capture (pcap or pcapng)
// matching one of patterns; missing files yield none, unreadable ones are
// skipped.
func pcapFrames(tb testing.TB, patterns ...string) [][]byte {
	tb.Helper()
	var names []string
	for _, p := range patterns {
		m, _ := filepath.Glob(p)
		names = append(names, m...)
	}
	var frames [][]byte
	for _, name := range names {
		data, err := os.ReadFile(name)
		if err != nil {
			tb.Logf("seed capture %s: %v", name, err)
			continue
		}
		var (
			src interface {
				ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
			}
			linkType layers.LinkType
		)
		if r, err := pcapgo.NewReader(bytes.NewReader(data)); err == nil {
			src, linkType = r, r.LinkType()
		} else if r, err := pcapgo.NewNgReader(bytes.NewReader(data), pcapgo.DefaultNgReaderOptions); err == nil {
			src, linkType = r, r.LinkType()
		} else {
			tb.Logf("seed capture %s: neither pcap nor pcapng", name)
			continue
		}
		if linkType != layers.LinkTypeEthernet {
			tb.Logf("seed capture %s: link type %v, not Ethernet", name, linkType)
			continue
		}
		for {
			frame, _, err := src.ReadPacketData()
			if err != nil {
				break
			}
			frames = append(frames, bytes.Clone(frame))
		}
		tb.Logf("seed capture %s: %d frames so far", name, len(frames))
	}
	return frames
}

// udpProbe builds a UDP probe from 198.18.0.1:61000 to 198.19.0.5:53 with payload.
func udpProbe(t testing.TB, payload []byte) []byte {
	t.Helper()
	tmpl, err := packet.NewUDPTemplate(packet.UDPParams{SrcIP: 0xC6120001, DstPort: 53, Payload: payload})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 256)
	return buf[:tmpl.Put(buf, nil, 0xC6130005, 61000, 0, 1)]
}

func TestParseReplyUDP(t *testing.T) {
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 61, Protocol: layers.IPProtocolUDP, SrcIP: net.IP{198, 19, 0, 5}, DstIP: net.IP{198, 18, 0, 1}}
	udp := &layers.UDP{SrcPort: 53, DstPort: 61000}
	udp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	answer := []byte("an answer")
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, udp, gopacket.Payload(answer)); err != nil {
		t.Fatal(err)
	}
	frame := append(buf.Bytes(), 0, 0, 0, 0) // link-layer padding is not payload
	var r packet.Reply
	if !packet.ParseReply(frame, &r) {
		t.Fatal("UDP reply rejected")
	}
	if r.Kind != packet.ReplyUDP || r.Proto != packet.ProtocolUDP || r.TargetIP != 0xC6130005 || r.TargetPort != 53 ||
		r.LocalIP != 0xC6120001 || r.LocalPort != 61000 || r.TTL != 61 || string(r.Payload(frame)) != string(answer) {
		t.Fatalf("reply %+v payload %q", r, r.Payload(frame))
	}
	for n := 0; n < 14+20+8+len(answer); n++ {
		if packet.ParseReply(frame[:n], &r) {
			t.Fatalf("truncated to %d bytes: accepted", n)
		}
	}
}

func TestParseReplyICMPQuotingUDP(t *testing.T) {
	probe := udpProbe(t, []byte{0xab, 0xcd, 1, 2, 3})
	for _, quote := range []int{28, 30, 33} {
		frame := packettest.ICMP(t, packettest.Error{Probe: probe, From: 0xC6130005, Type: 3, Code: 3, QuoteLen: quote})
		var r packet.Reply
		if !packet.ParseReply(frame, &r) {
			t.Fatalf("quote %d: rejected", quote)
		}
		if r.Kind != packet.ReplyICMPUnreachable || r.Proto != packet.ProtocolUDP || r.TargetIP != 0xC6130005 ||
			r.TargetPort != 53 || r.LocalPort != 61000 || r.ICMPCode != 3 {
			t.Fatalf("quote %d: reply %+v", quote, r)
		}
		want := []byte{0xab, 0xcd, 1, 2, 3}[:quote-28]
		if got := r.Payload(frame); !bytes.Equal(got, want) {
			t.Fatalf("quote %d: quoted payload % x, want % x", quote, got, want)
		}
	}
}

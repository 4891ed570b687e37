package packet_test

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/fastscan/fastscan/cookie"
	"github.com/fastscan/fastscan/packet"
	"github.com/fastscan/fastscan/packet/packettest"
)

func parse6(t testing.TB, frame []byte) (packet.Reply, bool) {
	t.Helper()
	// Stale values, of the other family too, must be overwritten.
	r := packet.Reply{Kind: 99, TargetIP: 0xdeadbeef, LocalIP: 1, From: 2, Target6: [16]byte{1}, PayloadOffset: 5}
	ok := packet.ParseReplyAny(frame, &r)
	return r, ok
}

func TestParseReply6TCP(t *testing.T) {
	const ack = 0x10000000
	tests := []struct {
		name  string
		seg   packettest.Segment6
		hdrs  []packettest.ExtensionHeader
		want  packet.ReplyKind
		match bool
	}{
		{"syn-ack", packettest.Segment6{Ack: ack, Flags: 0x12}, nil, packet.ReplySYNACK, true},
		{"rst-ack", packettest.Segment6{Ack: ack, Flags: 0x14}, nil, packet.ReplyRST, true},
		{"syn-ack with padding", packettest.Segment6{Ack: ack, Flags: 0x12, Padding: 30}, nil, packet.ReplySYNACK, true},
		{"syn-ack with payload", packettest.Segment6{Ack: ack, Flags: 0x52, Payload: []byte("hi")}, nil, packet.ReplySYNACK, true},
		{"ack zero wraps", packettest.Segment6{Ack: 0, Flags: 0x12}, nil, packet.ReplySYNACK, true},
		{"syn-rst-ack counts as rst", packettest.Segment6{Ack: ack, Flags: 0x16}, nil, packet.ReplyRST, true},
		{"syn-ack after hbh, routing, dstopts", packettest.Segment6{Ack: ack, Flags: 0x12},
			[]packettest.ExtensionHeader{ext(0, 6), routing0, ext(60, 30)}, packet.ReplySYNACK, true},
		{"rst in an atomic fragment", packettest.Segment6{Ack: ack, Flags: 0x14},
			[]packettest.ExtensionHeader{packettest.Fragment(0, false, 1)}, packet.ReplyRST, true},
		{"first fragment", packettest.Segment6{Ack: ack, Flags: 0x12},
			[]packettest.ExtensionHeader{packettest.Fragment(0, true, 1)}, 0, false},
		{"non-first fragment", packettest.Segment6{Ack: ack, Flags: 0x12},
			[]packettest.ExtensionHeader{packettest.Fragment(8, false, 1)}, 0, false},
		{"behind esp", packettest.Segment6{Ack: ack, Flags: 0x12}, []packettest.ExtensionHeader{ext(50, 14)}, 0, false},
		{"behind ah", packettest.Segment6{Ack: ack, Flags: 0x12}, []packettest.ExtensionHeader{{Type: 51, Body: make([]byte, 14)}}, 0, false},
		{"bare syn", packettest.Segment6{Ack: ack, Flags: 0x02}, nil, 0, false},
		{"rst without ack", packettest.Segment6{Ack: ack, Flags: 0x04}, nil, 0, false},
		{"bare ack", packettest.Segment6{Ack: ack, Flags: 0x10}, nil, 0, false},
		{"fin-ack", packettest.Segment6{Ack: ack, Flags: 0x11}, nil, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.seg.Flow6 = testFlow6
			tt.seg.HopLimit = 57
			frame := packettest.WithExtensionHeaders(t, packettest.TCP6(t, tt.seg), 14, tt.hdrs...)
			r, ok := parse6(t, frame)
			if ok != tt.match {
				t.Fatalf("ParseReply = %v, want %v (%+v)", ok, tt.match, r)
			}
			if !ok {
				return
			}
			want := packet.Reply{
				Kind:       tt.want,
				TargetPort: testFlow6.TargetPort,
				LocalPort:  testFlow6.LocalPort,
				Cookie:     tt.seg.Ack - 1,
				TTL:        57,
				Proto:      packet.ProtocolTCP,
				IPv6:       true,
				Target6:    testFlow6.TargetIP.As16(),
				Local6:     testFlow6.LocalIP.As16(),
				From6:      testFlow6.TargetIP.As16(),
			}
			if tt.want == packet.ReplySYNACK {
				want.Seq = 0 // TCP6 leaves Seq as given: zero here
			}
			if r != want {
				t.Fatalf("reply = %+v\nwant    %+v", r, want)
			}
			if r.TargetAddr() != testFlow6.TargetIP || r.LocalAddr() != testFlow6.LocalIP || r.FromAddr() != testFlow6.TargetIP || !r.FromTarget() {
				t.Fatalf("addresses %v %v %v", r.TargetAddr(), r.LocalAddr(), r.FromAddr())
			}
		})
	}
}

func TestParseReply6UDP(t *testing.T) {
	answer := []byte("an answer")
	for _, hdrs := range [][]packettest.ExtensionHeader{nil, {ext(60, 6)}} {
		frame := packettest.WithExtensionHeaders(t, packettest.UDP6(t, testFlow6, answer), 14, hdrs...)
		frame = append(frame, 0, 0, 0, 0) // link-layer padding is not payload
		r, ok := parse6(t, frame)
		if !ok {
			t.Fatal("UDP reply rejected")
		}
		if r.Kind != packet.ReplyUDP || r.Proto != packet.ProtocolUDP || !r.IPv6 || r.TargetAddr() != target6 ||
			r.TargetPort != testFlow6.TargetPort || r.LocalAddr() != local6 || r.LocalPort != testFlow6.LocalPort ||
			r.TTL != 64 || r.TargetIP != 0 || r.LocalIP != 0 || r.From != 0 || !bytes.Equal(r.Payload(frame), answer) {
			t.Fatalf("reply %+v payload %q", r, r.Payload(frame))
		}
		for n := 0; n < len(frame)-4; n++ {
			if r, ok := parse6(t, frame[:n]); ok {
				t.Fatalf("truncated to %d bytes: accepted %+v", n, r)
			}
		}
	}
}

// udpProbe6 builds an IPv6 UDP probe from local6:61000 to target6:53 with payload.
func udpProbe6(t testing.TB, payload []byte) []byte {
	t.Helper()
	tmpl, err := packet.NewUDP6Template(packet.UDP6Params{SrcIP: local6, DstPort: 53, Payload: payload})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1024)
	return buf[:tmpl.Put(buf, nil, target6, 61000, 0, 1)]
}

func TestParseReply6ICMPUnreachable(t *testing.T) {
	probe := testProbe6(t)
	for code := range uint8(9) {
		for _, from := range []netip.Addr{router6, {}} {
			frame := packettest.ICMPv6(t, packettest.Error6{Probe: probe, From: from, Type: 1, Code: code, HopLimit: 250})
			r, ok := parse6(t, frame)
			if !ok {
				t.Fatalf("code %d: rejected", code)
			}
			wantFrom := from
			if !from.IsValid() {
				wantFrom = target6
			}
			want := packet.Reply{
				Kind:       packet.ReplyICMPUnreachable,
				TargetPort: testFlow6.TargetPort,
				LocalPort:  testFlow6.LocalPort,
				Cookie:     0xC0FFEE01,
				TTL:        250,
				ICMPType:   1,
				ICMPCode:   code,
				Proto:      packet.ProtocolTCP,
				IPv6:       true,
				Target6:    target6.As16(),
				Local6:     local6.As16(),
				From6:      wantFrom.As16(),
			}
			if r != want {
				t.Fatalf("code %d: reply = %+v\nwant %+v", code, r, want)
			}
			if r.FromTarget() != (wantFrom == target6) || r.FromAddr() != wantFrom {
				t.Fatalf("code %d: from %v, FromTarget %v", code, r.FromAddr(), r.FromTarget())
			}
		}
	}
	// The shortest quote that holds the ports and the sequence number: the
	// IPv6 header and 8 bytes of TCP. One byte less is refused.
	if r, ok := parse6(t, packettest.ICMPv6(t, packettest.Error6{Probe: probe, Type: 1, Code: 1, QuoteLen: 48})); !ok || r.Cookie != 0xC0FFEE01 {
		t.Fatalf("quote of 48 bytes: %v %+v", ok, r)
	}
	if r, ok := parse6(t, packettest.ICMPv6(t, packettest.Error6{Probe: probe, Type: 1, Code: 1, QuoteLen: 47})); ok {
		t.Fatalf("quote of 47 bytes accepted: %+v", r)
	}
}

func TestParseReply6ICMPQuotingUDP(t *testing.T) {
	payload := []byte{0xab, 0xcd, 1, 2, 3}
	probe := udpProbe6(t, payload)
	for _, quote := range []int{48, 50, 53, 0} {
		frame := packettest.ICMPv6(t, packettest.Error6{Probe: probe, Type: 1, Code: 4, QuoteLen: quote})
		r, ok := parse6(t, frame)
		if !ok {
			t.Fatalf("quote %d: rejected", quote)
		}
		if r.Kind != packet.ReplyICMPUnreachable || r.Proto != packet.ProtocolUDP || r.TargetAddr() != target6 ||
			r.TargetPort != 53 || r.LocalPort != 61000 || r.ICMPCode != packet.ICMPv6PortUnreachable || r.Cookie != 0 {
			t.Fatalf("quote %d: reply %+v", quote, r)
		}
		n := 5
		if quote != 0 {
			n = quote - 48
		}
		if got := r.Payload(frame); !bytes.Equal(got, payload[:n]) {
			t.Fatalf("quote %d: quoted payload % x, want % x", quote, got, payload[:n])
		}
	}
}

func TestParseReply6ICMPExtensionHeaders(t *testing.T) {
	probe := testProbe6(t)
	for _, tt := range []struct {
		name          string
		outer, quoted []packettest.ExtensionHeader
		ok            bool
	}{
		{"both plain", nil, nil, true},
		{"outer hbh", []packettest.ExtensionHeader{ext(0, 6)}, nil, true},
		{"quoted dstopts and routing", nil, []packettest.ExtensionHeader{ext(60, 14), routing0}, true},
		{"both", []packettest.ExtensionHeader{ext(0, 6), ext(60, 6)}, []packettest.ExtensionHeader{ext(0, 22)}, true},
		{"quoted first fragment", nil, []packettest.ExtensionHeader{packettest.Fragment(0, true, 9)}, true},
		{"quoted non-first fragment", nil, []packettest.ExtensionHeader{packettest.Fragment(1232, false, 9)}, false},
		{"quoted esp", nil, []packettest.ExtensionHeader{ext(50, 14)}, false},
		{"outer non-first fragment", []packettest.ExtensionHeader{packettest.Fragment(16, false, 9)}, nil, false},
	} {
		q := packettest.WithExtensionHeaders(t, probe, 14, tt.quoted...)
		frame := packettest.WithExtensionHeaders(t, packettest.ICMPv6Unreachable(t, q, router6, 3), 14, tt.outer...)
		r, ok := parse6(t, frame)
		if ok != tt.ok {
			t.Fatalf("%s: ParseReply = %v, want %v (%+v)", tt.name, ok, tt.ok, r)
		}
		if ok && (r.Cookie != 0xC0FFEE01 || r.TargetAddr() != target6 || r.LocalAddr() != local6 || r.FromAddr() != router6 ||
			r.TargetPort != testFlow6.TargetPort || r.LocalPort != testFlow6.LocalPort || r.ICMPCode != 3) {
			t.Fatalf("%s: reply %+v", tt.name, r)
		}
	}
}

func TestParseReply6ICMPRejects(t *testing.T) {
	probe := testProbe6(t)
	good := packettest.ICMPv6Unreachable(t, probe, router6, 1)
	const quoted = 14 + 40 + 8 // start of the quoted IPv6 header
	for _, tt := range []struct {
		name  string
		frame []byte
	}{
		{"code 9", packettest.ICMPv6(t, packettest.Error6{Probe: probe, Type: 1, Code: 9})},
		{"packet too big", packettest.ICMPv6(t, packettest.Error6{Probe: probe, Type: 2})},
		{"time exceeded", packettest.ICMPv6(t, packettest.Error6{Probe: probe, Type: 3})},
		{"parameter problem", packettest.ICMPv6(t, packettest.Error6{Probe: probe, Type: 4, Code: 1})},
		{"echo reply", packettest.ICMPv6(t, packettest.Error6{Probe: probe, Type: 129})},
		{"quote header only", packettest.ICMPv6(t, packettest.Error6{Probe: probe, Type: 1, Code: 3, QuoteLen: 40})},
		{"quoted icmpv6", setByte(good, quoted+6, 58)},
		{"quoted no next header", setByte(good, quoted+6, 59)},
		{"quoted version 4", setByte(good, quoted, 0x45)},
		{"icmp header cut by payload length", func() []byte {
			f := bytes.Clone(good)
			binary.BigEndian.PutUint16(f[18:], 7)
			return f
		}()},
	} {
		if r, ok := parse6(t, tt.frame); ok {
			t.Errorf("%s: ParseReply accepted %+v", tt.name, r)
		}
	}
}

func TestParseReply6Truncated(t *testing.T) {
	probe := testProbe6(t)
	frames := map[string][]byte{
		"syn-ack":      packettest.SYNACK6(t, testFlow6, 77),
		"rst with hbh": packettest.WithExtensionHeaders(t, packettest.RST6(t, testFlow6, 77), 14, ext(0, 14)),
		"icmpv6":       packettest.ICMPv6(t, packettest.Error6{Probe: probe, Type: 1, Code: 4, QuoteLen: 48}),
		"udp":          packettest.UDP6(t, testFlow6, []byte("x")),
	}
	for name, f := range frames {
		if _, ok := parse6(t, f); !ok {
			t.Fatalf("%s: baseline rejected", name)
		}
		for n := range len(f) {
			if r, ok := parse6(t, f[:n]); ok {
				t.Errorf("%s truncated to %d of %d bytes: accepted %+v", name, n, len(f), r)
			}
		}
		// A payload length that claims one byte less than the packet holds.
		g := bytes.Clone(f)
		binary.BigEndian.PutUint16(g[18:], binary.BigEndian.Uint16(g[18:])-1)
		if name != "icmpv6" { // an ICMPv6 error with a shorter quote is still one
			if r, ok := parse6(t, g); ok && r.Kind != packet.ReplyUDP {
				t.Errorf("%s with payload length short by one: accepted %+v", name, r)
			}
		}
	}
}

// TestTemplateReplyRoundTrip6 sends probes from the IPv6 templates to random
// targets, forges the target's or a router's answers with gopacket, and
// checks that the parsed reply gives back the probe's flow and its cookie
// (keyed SipHash over the 128-bit addresses), as the engine will check it.
func TestTemplateReplyRoundTrip6(t *testing.T) {
	key := cookie.NewKey(0x5eed)
	syn, err := packet.NewSYN6Template(packet.SYN6Params{SrcMAC: testFlow6.LocalMAC, DstMAC: testFlow6.TargetMAC, SrcIP: local6})
	if err != nil {
		t.Fatal(err)
	}
	udp, err := packet.NewUDP6Template(packet.UDP6Params{SrcIP: local6, DstPort: 123, Payload: make([]byte, 48), CookieOffset: 40, CookieLen: 8})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(51, 52))
	buf := make([]byte, 256)
	for range 300 {
		dst := netip.AddrFrom16(randAddr6(rng))
		dport, sport := uint16(rng.Uint32()), uint16(rng.Uint32())
		seq := key.SumIPv6(local6.As16(), dst.As16(), sport, dport)
		probe := bytes.Clone(buf[:syn.Put(buf, nil, dst, dport, sport, seq, seq)])
		f := packettest.Flow6{LocalMAC: testFlow6.LocalMAC, TargetMAC: testFlow6.TargetMAC, LocalIP: local6, TargetIP: dst, LocalPort: sport, TargetPort: dport}
		for _, frame := range [][]byte{
			packettest.SYNACK6(t, f, seq+1),
			packettest.RST6(t, f, seq+1),
			packettest.ICMPv6Unreachable(t, probe, router6, packet.ICMPv6AdminProhibited),
		} {
			var r packet.Reply
			if !packet.ParseReplyAny(frame, &r) {
				t.Fatalf("rejected % x", frame)
			}
			if r.TargetAddr() != dst || r.TargetPort != dport || r.LocalAddr() != local6 || r.LocalPort != sport ||
				key.SumIPv6(r.Local6, r.Target6, r.LocalPort, r.TargetPort) != r.Cookie ||
				key.SumAddr(r.LocalAddr(), r.TargetAddr(), r.LocalPort, r.TargetPort) != r.Cookie {
				t.Fatalf("reply %+v does not match the probe to %v:%d from port %d", r, dst, dport, sport)
			}
		}
		// UDP: the cookie's 64 bits in the payload, quoted back by ICMPv6.
		c := key.Sum64IPv6(local6.As16(), dst.As16(), sport, 123)
		uprobe := bytes.Clone(buf[:udp.Put(buf, nil, dst, sport, c, uint32(c))])
		var r packet.Reply
		if !packet.ParseReplyAny(packettest.ICMPv6Unreachable(t, uprobe, netip.Addr{}, packet.ICMPv6PortUnreachable), &r) {
			t.Fatal("ICMPv6 about a UDP probe rejected")
		}
		frame := packettest.ICMPv6Unreachable(t, uprobe, netip.Addr{}, packet.ICMPv6PortUnreachable)
		packet.ParseReplyAny(frame, &r)
		if !r.FromTarget() || r.TargetPort != 123 || r.LocalPort != sport ||
			binary.BigEndian.Uint64(r.Payload(frame)[40:48]) != key.Sum64IPv6(r.Local6, r.Target6, r.LocalPort, r.TargetPort) {
			t.Fatalf("UDP quote: %+v", r)
		}
	}
}

func TestParseReply6Allocs(t *testing.T) {
	synack := packettest.WithExtensionHeaders(t, packettest.SYNACK6(t, testFlow6, 1000), 14, ext(0, 6))
	icmp := packettest.ICMPv6Unreachable(t, testProbe6(t), router6, 1)
	udp := packettest.UDP6(t, testFlow6, []byte("x"))
	var r packet.Reply
	var sink netip.Addr
	if a := testing.AllocsPerRun(1000, func() {
		packet.ParseReplyAny(synack, &r)
		packet.ParseReplyAny(icmp, &r)
		packet.ParseReplyAny(udp, &r)
		sink = r.TargetAddr()
	}); a != 0 {
		t.Fatalf("ParseReply allocates %v times", a)
	}
	_ = sink
}

// TestParseReplyIPv4Only: ParseReply keeps refusing IPv6 frames, so callers
// that read only the IPv4 fields (TargetIP 0 for an IPv6 reply) never see one;
// ParseReplyAny takes both and parses IPv4 exactly as ParseReply does.
func TestParseReplyIPv4Only(t *testing.T) {
	probe := testProbe6(t)
	for name, f := range map[string][]byte{
		"syn-ack": packettest.SYNACK6(t, testFlow6, 1),
		"rst":     packettest.RST6(t, testFlow6, 1),
		"udp":     packettest.UDP6(t, testFlow6, []byte("x")),
		"icmpv6":  packettest.ICMPv6Unreachable(t, probe, router6, 1),
	} {
		var r packet.Reply
		if packet.ParseReply(f, &r) {
			t.Errorf("%s: ParseReply accepted an IPv6 frame: %+v", name, r)
		}
		if !packet.ParseReplyAny(f, &r) || !r.IPv6 {
			t.Errorf("%s: ParseReplyAny rejected it", name)
		}
	}
	v4 := [][]byte{
		packettest.SYNACK(t, testFlow, 5), packettest.RST(t, testFlow, 5), udpAnswer(t, []byte("a")),
		packettest.ICMPUnreachable(t, testProbe(t), 0xC612FE01, 13), udpProbe(t, []byte{1}),
	}
	rng := rand.New(rand.NewPCG(61, 62))
	for range 2000 {
		f := bytes.Clone(v4[rng.IntN(len(v4))])
		f[14+rng.IntN(len(f)-14)] ^= byte(rng.Uint32())
		var a, b packet.Reply
		okA, okB := packet.ParseReply(f, &a), packet.ParseReplyAny(f, &b)
		if okA != okB || okA && a != b {
			t.Fatalf("ParseReply %v %+v, ParseReplyAny %v %+v", okA, a, okB, b)
		}
	}
}

// TestParseReplyFamiliesAlternate: one scratch Reply used for IPv6 then IPv4
// replies (as the engine's receiver does) carries nothing of one into the other.
func TestParseReplyFamiliesAlternate(t *testing.T) {
	v6 := packettest.ICMPv6Unreachable(t, udpProbe6(t, []byte{1, 2, 3}), router6, 4)
	v4 := packettest.SYNACK(t, testFlow, 1000)
	var r packet.Reply
	if !packet.ParseReplyAny(v6, &r) || !r.IPv6 {
		t.Fatal("IPv6 reply rejected")
	}
	if !packet.ParseReplyAny(v4, &r) {
		t.Fatal("IPv4 reply rejected")
	}
	want := packet.Reply{Kind: packet.ReplySYNACK, TargetIP: testFlow.TargetIP, TargetPort: testFlow.TargetPort,
		LocalIP: testFlow.LocalIP, LocalPort: testFlow.LocalPort, Cookie: 999, Seq: 0x7a11e000, From: testFlow.TargetIP,
		TTL: 64, Proto: packet.ProtocolTCP}
	if r != want {
		t.Fatalf("IPv4 reply after an IPv6 one: %+v\nwant %+v", r, want)
	}
	if r.TargetAddr() != netip.MustParseAddr("198.19.10.11") || r.LocalAddr() != netip.MustParseAddr("198.18.0.1") || !r.FromTarget() {
		t.Fatalf("IPv4 addresses %v %v", r.TargetAddr(), r.LocalAddr())
	}
}

func TestParseReply6RandomGarbage(t *testing.T) {
	// Random bytes behind a plausible IPv6 start, with random extension header
	// types and lengths, must never panic.
	r := rand.New(rand.NewPCG(53, 54))
	nhs := []byte{0, 43, 44, 60, 50, 51, 59, 6, 17, 58, 135}
	var reply packet.Reply
	for range 200000 {
		f := make([]byte, 14+r.IntN(160))
		for i := range f {
			f[i] = byte(r.Uint32())
		}
		f[12], f[13] = 0x86, 0xdd
		if len(f) > 14+40 {
			f[14] = 0x60
			binary.BigEndian.PutUint16(f[18:], uint16(r.IntN(len(f)-14-40+1)))
			f[20] = nhs[r.IntN(len(nhs))]
			for i := 54; i+1 < len(f); i += 8 {
				f[i], f[i+1] = nhs[r.IntN(len(nhs))], byte(r.IntN(3))
			}
		}
		packet.ParseReplyAny(f, &reply)
	}
}

func FuzzParseReply6(f *testing.F) {
	probe := testProbe6(f)
	uprobe := udpProbe6(f, []byte{0xab, 0xcd, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Add(packettest.SYNACK6(f, testFlow6, 1))
	f.Add(packettest.RST6(f, testFlow6, 0))
	f.Add(packettest.TCP6(f, packettest.Segment6{Flow6: testFlow6, Ack: 9, Flags: 0x12, Padding: 4}))
	f.Add(packettest.WithExtensionHeaders(f, packettest.SYNACK6(f, testFlow6, 1), 14, ext(0, 6), routing0, packettest.Fragment(0, false, 3), ext(60, 6)))
	f.Add(packettest.WithExtensionHeaders(f, packettest.SYNACK6(f, testFlow6, 1), 14, packettest.Fragment(8, true, 3)))
	f.Add(packettest.UDP6(f, testFlow6, []byte("an answer")))
	f.Add(packettest.UDP6(f, testFlow6, nil))
	f.Add(packettest.ICMPv6Unreachable(f, probe, router6, 1))
	f.Add(packettest.ICMPv6Unreachable(f, uprobe, netip.Addr{}, 4))
	f.Add(packettest.ICMPv6(f, packettest.Error6{Probe: uprobe, Type: 1, Code: 4, QuoteLen: 50}))
	f.Add(packettest.ICMPv6Unreachable(f, packettest.WithExtensionHeaders(f, probe, 14, ext(60, 6)), router6, 3))
	f.Add(probe)
	f.Add(uprobe)
	// IPv4 frames too: the fuzzer may turn one family into the other.
	f.Add(packettest.SYNACK(f, testFlow, 1))
	f.Add(packettest.ICMPUnreachable(f, testProbe(f), 0, 3))
	f.Fuzz(func(t *testing.T, frame []byte) {
		var r packet.Reply
		orig := bytes.Clone(frame)
		ok := packet.ParseReplyAny(frame, &r)
		if !bytes.Equal(orig, frame) {
			t.Fatal("ParseReplyAny modified its input")
		}
		// IPv4 frames: exactly what ParseReply says; IPv6 frames: never ParseReply's.
		var r4 packet.Reply
		ok4 := packet.ParseReply(frame, &r4)
		if ok && r.IPv6 && ok4 || !(ok && r.IPv6) && (ok4 != ok || ok && r4 != r) {
			t.Fatalf("ParseReplyAny %v %+v, ParseReply %v %+v", ok, r, ok4, r4)
		}
		if !ok || !r.IPv6 {
			return
		}
		checkReply6(t, frame, &r)
	})
}

// checkReply6 checks an accepted IPv6 reply against the documented invariants,
// and against gopacket's decoding where gopacket decodes the frame.
func checkReply6(t *testing.T, frame []byte, r *packet.Reply) {
	t.Helper()
	if packet.Ethernet(frame).Type() != packet.EtherTypeIPv6 {
		t.Fatalf("IPv6 reply from EtherType %#x", packet.Ethernet(frame).Type())
	}
	ip := packet.IPv6(frame[14:])
	if !ip.IsValid() {
		t.Fatalf("accepted an invalid IPv6 header: % x", frame)
	}
	end := 14 + 40 + int(ip.PayloadLength())
	ip = ip[:40+int(ip.PayloadLength())]
	u, ok := ip.Upper()
	if !ok || u.MoreFragments || u.FragmentOffset != 0 {
		t.Fatalf("accepted a chain Upper refuses or a fragment: %+v %v", u, ok)
	}
	if r.From6 != ip.SourceAddress() || r.TTL != ip.HopLimit() || r.TargetIP != 0 || r.LocalIP != 0 || r.From != 0 {
		t.Fatalf("From/TTL/IPv4 fields do not match the outer header: %+v", r)
	}
	switch r.Kind {
	case packet.ReplySYNACK, packet.ReplyRST:
		tcp := packet.TCP(ip[u.Offset:])
		if u.Protocol != packet.ProtocolTCP || tcp.Flags()&packet.TCPFlagACK == 0 || r.Cookie+1 != tcp.AckNumber() ||
			r.Target6 != r.From6 || r.Local6 != ip.DestinationAddress() || r.TargetPort != tcp.SourcePort() {
			t.Fatalf("inconsistent TCP reply %+v", r)
		}
	case packet.ReplyICMPUnreachable:
		m := packet.ICMPv6(ip[u.Offset:])
		if u.Protocol != packet.ProtocolICMPv6 || r.ICMPType != 1 || r.ICMPCode > 8 || m.Code() != r.ICMPCode ||
			(r.Proto != packet.ProtocolTCP && r.Proto != packet.ProtocolUDP) {
			t.Fatalf("inconsistent ICMPv6 reply %+v", r)
		}
		q := packet.IPv6(m.Payload())
		if r.Target6 != q.DestinationAddress() || r.Local6 != q.SourceAddress() {
			t.Fatalf("addresses are not the quoted packet's: %+v", r)
		}
		if r.Proto == packet.ProtocolTCP && r.PayloadLength != 0 {
			t.Fatalf("ICMPv6 error quoting TCP with a payload: %+v", r)
		}
	case packet.ReplyUDP:
		udp := packet.UDP(ip[u.Offset:])
		if u.Protocol != packet.ProtocolUDP || r.Proto != packet.ProtocolUDP || r.Target6 != r.From6 ||
			r.TargetPort != udp.SourcePort() || r.LocalPort != udp.DestinationPort() || r.PayloadLength != int(udp.Length())-8 {
			t.Fatalf("inconsistent UDP reply %+v", r)
		}
	default:
		t.Fatalf("accepted with kind %v", r.Kind)
	}
	// The payload lies inside the IPv6 packet, after the headers, never in padding.
	if r.PayloadLength < 0 || r.PayloadLength > 0 && (r.PayloadOffset < 14+u.Offset+8 || r.PayloadOffset+r.PayloadLength > end) {
		t.Fatalf("payload [%d, +%d) outside the packet ending at %d", r.PayloadOffset, r.PayloadLength, end)
	}
	_ = r.Payload(frame)
	// gopacket, decoding the same frame, finds the same transport ports where
	// it decodes the chain at all (it knows hop-by-hop, routing, fragment and
	// destination options).
	p := gopacket.NewPacket(frame[:end], layers.LayerTypeEthernet, gopacket.NoCopy)
	switch r.Kind {
	case packet.ReplySYNACK, packet.ReplyRST:
		if tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP); tcp != nil && !u.Fragment &&
			(uint16(tcp.SrcPort) != r.TargetPort || uint16(tcp.DstPort) != r.LocalPort || tcp.Ack != r.Cookie+1) {
			t.Fatalf("gopacket decodes %v:%v ack %d, ParseReply %+v", tcp.SrcPort, tcp.DstPort, tcp.Ack, r)
		}
	case packet.ReplyUDP:
		if udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP); udp != nil && !u.Fragment &&
			(uint16(udp.SrcPort) != r.TargetPort || uint16(udp.DstPort) != r.LocalPort) {
			t.Fatalf("gopacket decodes %v:%v, ParseReply %+v", udp.SrcPort, udp.DstPort, r)
		}
	}
}

// FuzzIPv6Upper walks arbitrary extension header chains: Upper never reads
// past its view, and what it reports is a walk of the chain.
func FuzzIPv6Upper(f *testing.F) {
	base := packettest.SYNACK6(f, testFlow6, 1)[14:]
	f.Add(base)
	f.Add(packettest.WithExtensionHeaders(f, packettest.SYNACK6(f, testFlow6, 1), 14, ext(0, 6), routing0, ext(60, 100))[14:])
	f.Add(packettest.WithExtensionHeaders(f, packettest.SYNACK6(f, testFlow6, 1), 14, packettest.Fragment(0, true, 1), ext(135, 6))[14:])
	f.Add(packettest.WithExtensionHeaders(f, packettest.SYNACK6(f, testFlow6, 1), 14, ext(0, 6), ext(51, 6))[14:])
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 40 {
			return
		}
		u, ok := packet.IPv6(b).Upper()
		if !ok {
			return
		}
		if u.Offset < 40 || u.Offset > len(b) || u.FragmentOffset != 0 {
			t.Fatalf("Upper = %+v for %d bytes", u, len(b))
		}
		// Walk again, naively: every header before Offset is an extension
		// header whose length lands exactly on the next.
		nh, off, n := b[6], 40, 0
		for off < u.Offset {
			n++
			switch nh {
			case 44:
				nh, off = b[off], off+8
			case 0, 43, 60, 135, 139, 140, 253, 254:
				nh, off = b[off], off+8+8*int(b[off+1])
			default:
				t.Fatalf("header %d at %d before the upper layer at %d", nh, off, u.Offset)
			}
		}
		if off != u.Offset || nh != u.Protocol || n > packet.MaxIPv6ExtensionHeaders {
			t.Fatalf("naive walk ends at %d with %d after %d headers; Upper says %+v", off, nh, n, u)
		}
		switch nh {
		case 0, 43, 44, 60, 135, 139, 140, 253, 254, 50, 51, 59:
			t.Fatalf("upper-layer protocol %d is an extension header", nh)
		}
	})
}

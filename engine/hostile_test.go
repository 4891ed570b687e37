package engine

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/fastscan/fastscan/packet"
	"github.com/fastscan/fastscan/packet/packettest"
	"github.com/fastscan/fastscan/result"
	"github.com/fastscan/fastscan/target"
)

// The hostile tests feed handle() frames a scanner meets on a real network, or
// that a peer forges: truncated and malformed headers, fragments, tags, ICMP errors
// about other people's traffic, replies to nobody, floods and wrong cookies. None may
// panic and none may produce a verdict it should not. The frames are bytes only;
// nothing is sent.

const (
	hostileT1 = 0xC6130001 // 198.19.0.1 .. .3: targets of hostileScanner
	hostileT2 = 0xC6130002
	hostileT3 = 0xC6130003
	// hostileRouter sends ICMP errors on the way to the targets.
	hostileRouter = 0xC612FE01 // 198.18.254.1
)

// hostileScanner returns a scanner for 198.19.0.0/30 x TCP {22, 80} and UDP
// {53 (DNS), 123 (NTP)}, showing every state, with a plan that sends from
// 198.18.0.1 and the UDP probes built, ready for handle() without any socket.
func hostileScanner(tb testing.TB) *Scanner {
	tb.Helper()
	targets, err := target.ParseTargets([]string{"198.19.0.0/30"}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tcp, udp, err := target.ParseProtoPorts("T:22,80,U:53,123", false)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := New(Config{Targets: targets, Ports: tcp, UDPPorts: udp, Rate: 1000, Seed: 11,
		Show: result.StateSet(0).With(result.Closed).With(result.Filtered)})
	if err != nil {
		tb.Fatal(err)
	}
	s.plan = &plan{srcIP: testLocalIP, onFirst: 1}
	if err := s.prepareReplay(); err != nil {
		tb.Fatal(err)
	}
	return s
}

// synProbe builds a SYN probe from local:sport to ip:port with sequence number seq,
// as the SYN template writes it.
func synProbe(tb testing.TB, local, ip uint32, port, sport uint16, seq uint32) []byte {
	tb.Helper()
	tmpl, err := packet.NewSYNTemplate(packet.SYNParams{SrcIP: local, SrcMAC: [6]byte{2, 0, 0, 0, 0, 1}, DstMAC: [6]byte{2, 0, 0, 0, 0, 2}})
	if err != nil {
		tb.Fatal(err)
	}
	buf := make([]byte, tmpl.Len())
	return buf[:tmpl.Put(buf, nil, ip, port, sport, seq, 1)]
}

// scanProbe is the SYN probe s sends to ip:port from testSport, with its cookie.
func scanProbe(tb testing.TB, s *Scanner, ip uint32, port uint16) []byte {
	tb.Helper()
	return synProbe(tb, testLocalIP, ip, port, testSport, s.key.Sum(testLocalIP, ip, testSport, port))
}

// flowTo is the addressing of a TCP reply from ip:port to local:sport.
func flowTo(local uint32, sport uint16, ip uint32, port uint16) packettest.Flow {
	return packettest.Flow{
		LocalMAC: [6]byte{2, 0, 0, 0, 0, 1}, TargetMAC: [6]byte{2, 0, 0, 0, 0, 2},
		LocalIP: local, TargetIP: ip, LocalPort: sport, TargetPort: port,
	}
}

// genuineSYNACK is the SYN-ACK ip:port sends to s's probe from testSport.
func genuineSYNACK(tb testing.TB, s *Scanner, ip uint32, port uint16) []byte {
	tb.Helper()
	return packettest.SYNACK(tb, flowTo(testLocalIP, testSport, ip, port), s.key.Sum(testLocalIP, ip, testSport, port)+1)
}

// udpScanProbe is the UDP probe s sends to ip:port (a UDP port of the scan), and
// its source port.
func udpScanProbe(tb testing.TB, s *Scanner, ip uint32, port uint16) ([]byte, uint16) {
	tb.Helper()
	ui, ok := s.cfg.UDPPorts.Index(port)
	if !ok {
		tb.Fatalf("UDP port %d is not scanned", port)
	}
	p := s.byProto[packet.ProtocolUDP].probe
	t := ProbeTarget{Addr: uint32ToAddr(ip), PortIndex: ui}
	buf := make([]byte, p.FrameLen())
	return buf[:p.Put(buf, &t)], p.SourcePort(&t)
}

// udpAnswer is the datagram the probed service sends back to probe (a UDP probe
// frame) from its port to dstPort, carrying payload.
func udpAnswer(tb testing.TB, probe []byte, payload []byte, dstPort uint16) []byte {
	tb.Helper()
	ip := packet.IPv4(probe[14:])
	udp := packet.UDP(ip.Payload())
	reth := &layers.Ethernet{SrcMAC: probe[0:6], DstMAC: probe[6:12], EthernetType: layers.EthernetTypeIPv4}
	rip := &layers.IPv4{Version: 4, TTL: 60, Protocol: layers.IPProtocolUDP,
		SrcIP: net.IP(bytes.Clone(probe[14+16 : 14+20])), DstIP: net.IP(bytes.Clone(probe[14+12 : 14+16]))}
	rudp := &layers.UDP{SrcPort: layers.UDPPort(udp.DestinationPort()), DstPort: layers.UDPPort(dstPort)}
	if err := rudp.SetNetworkLayerForChecksum(rip); err != nil {
		tb.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		reth, rip, rudp, gopacket.Payload(payload)); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// dnsAnswerTo is a DNS response to the query a UDP probe frame carries: the same
// id and question with QR set.
func dnsAnswerTo(probe []byte) []byte {
	answer := bytes.Clone(probe[14+20+8:])
	answer[2] |= 0x80
	return answer
}

// ntpAnswerTo is an NTP server packet answering the request a UDP probe frame
// carries: mode 4, and the request's transmit timestamp as origin timestamp.
func ntpAnswerTo(probe []byte) []byte {
	req := probe[14+20+8:]
	answer := make([]byte, 48)
	answer[0] = 0x24 // version 4, mode 4 (server)
	answer[1] = 2    // stratum
	copy(answer[24:32], req[40:48])
	return answer
}

// genuineFrames returns one valid reply of every kind for s, each about a different
// (target, port), and the verdict each must produce.
func genuineFrames(tb testing.TB, s *Scanner) ([][]byte, []result.Result) {
	tb.Helper()
	dns, dnsPort := udpScanProbe(tb, s, hostileT1, 53)
	ntp, ntpPort := udpScanProbe(tb, s, hostileT2, 123)
	closedUDP, closedPort := udpScanProbe(tb, s, hostileT3, 53)
	frames := [][]byte{
		genuineSYNACK(tb, s, hostileT1, 22),
		packettest.RST(tb, flowTo(testLocalIP, testSport, hostileT1, 80), s.key.Sum(testLocalIP, hostileT1, testSport, 80)+1),
		packettest.ICMPUnreachable(tb, scanProbe(tb, s, hostileT2, 22), hostileRouter, 13),
		udpAnswer(tb, dns, dnsAnswerTo(dns), dnsPort),
		udpAnswer(tb, ntp, ntpAnswerTo(ntp), ntpPort),
		packettest.ICMP(tb, packettest.Error{Probe: closedUDP, Type: 3, Code: 3, QuoteLen: 1500}),
	}
	want := []result.Result{
		{IP: uint32ToAddr(hostileT1), Port: 22, Proto: result.TCP, State: result.Open, Reason: result.ReasonSYNACK, TTL: 64, SourcePort: testSport},
		{IP: uint32ToAddr(hostileT1), Port: 80, Proto: result.TCP, State: result.Closed, Reason: result.ReasonReset, TTL: 64, SourcePort: testSport},
		{IP: uint32ToAddr(hostileT2), Port: 22, Proto: result.TCP, State: result.Filtered, Reason: result.ReasonAdminProhibited, TTL: 64, SourcePort: testSport},
		{IP: uint32ToAddr(hostileT1), Port: 53, Proto: result.UDP, State: result.Open, Reason: result.ReasonUDPResponse, TTL: 60, SourcePort: dnsPort},
		{IP: uint32ToAddr(hostileT2), Port: 123, Proto: result.UDP, State: result.Open, Reason: result.ReasonUDPResponse, TTL: 60, SourcePort: ntpPort},
		{IP: uint32ToAddr(hostileT3), Port: 53, Proto: result.UDP, State: result.Closed, Reason: result.ReasonPortUnreachable, TTL: 64, SourcePort: closedPort},
	}
	for i := range want {
		want[i].SourceIP = uint32ToAddr(testLocalIP)
	}
	return frames, want
}

// feed hands frame to s.handle as the receive ring would: a slice whose capacity
// ends with the frame, so that reading past its end panics instead of reading
// stale bytes. It fails the test if handle modifies the frame.
func feed(tb testing.TB, s *Scanner, frame []byte, tsNanos int64) {
	tb.Helper()
	f := bytes.Clone(frame)
	f = f[:len(f):len(f)]
	s.handle(f, tsNanos)
	if !bytes.Equal(f, frame) {
		tb.Fatalf("handle modified the frame")
	}
}

// expectNothing fails the test if s produced a verdict or marked a target answered.
func expectNothing(tb testing.TB, s *Scanner, what string) {
	tb.Helper()
	if got := received(s); len(got) != 0 {
		tb.Errorf("%s: produced %+v", what, got)
	}
	if n := s.answered.Load(); n != 0 {
		tb.Fatalf("%s: %d targets marked answered", what, n)
	}
}

// expectGenuine feeds the genuine replies and checks each gives its verdict, once:
// whatever came before did not poison the table.
func expectGenuine(t *testing.T, s *Scanner) {
	t.Helper()
	frames, want := genuineFrames(t, s)
	for i, f := range frames {
		feed(t, s, f, 0)
		got := received(s)
		if len(got) != 1 || got[0] != want[i] {
			t.Errorf("genuine reply %d: got %+v, want %+v", i, got, want[i])
		}
	}
}

// withIPv4 returns frame with its outer IPv4 header changed by fn (offsets from
// the IPv4 header); the checksum is recomputed, so only the change is wrong.
func withIPv4(frame []byte, fn func(ip []byte)) []byte {
	f := bytes.Clone(frame)
	fn(f[14:])
	fixIPv4Checksum(f[14:])
	return f
}

func fixIPv4Checksum(ip []byte) {
	hl := min(int(ip[0]&0x0f)*4, len(ip))
	if hl < 20 {
		hl = 20
	}
	ip[10], ip[11] = 0, 0
	binary.BigEndian.PutUint16(ip[10:], packet.InternetChecksum(ip[:hl]))
}

// withIPOptions returns frame (Ethernet, IPv4 without options, ...) with n bytes
// (a multiple of 4) of no-operation options added to the IPv4 header, lengths and
// checksum fixed; any link-layer padding is dropped.
func withIPOptions(frame []byte, n int) []byte {
	tl := int(binary.BigEndian.Uint16(frame[16:]))
	f := append(bytes.Clone(frame[:34]), bytes.Repeat([]byte{1}, n)...)
	f = append(f, frame[34:14+tl]...)
	f[14] = 0x40 | byte((20+n)/4)
	binary.BigEndian.PutUint16(f[16:], uint16(tl+n))
	fixIPv4Checksum(f[14:])
	return f
}

// tagged returns frame with a VLAN tag of protocol tpid after the MAC addresses.
func tagged(frame []byte, tpid uint16, vid uint16) []byte {
	tag := binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, tpid), vid)
	return append(append(bytes.Clone(frame[:12]), tag...), frame[12:]...)
}

func TestHostileTruncated(t *testing.T) {
	s := hostileScanner(t)
	frames, _ := genuineFrames(t, s)
	for i, f := range frames {
		end := 14 + int(binary.BigEndian.Uint16(f[16:])) // the datagram's end, before padding
		for n := range end {
			feed(t, s, f[:n], 1)
		}
		expectNothing(t, s, fmt.Sprintf("genuine reply %d truncated", i))
	}
	if s.replies.Load() != 0 || s.invalid.Load() != 0 {
		t.Errorf("truncated frames counted: replies %d invalid %d", s.replies.Load(), s.invalid.Load())
	}
	expectGenuine(t, s)
}

func TestHostileIHL(t *testing.T) {
	s := hostileScanner(t)
	frames, _ := genuineFrames(t, s)
	for i, f := range frames {
		for ihl := range byte(16) {
			if ihl == 5 {
				continue
			}
			// IHL below 5; above 5 the header runs into the transport header, or
			// past the end of the datagram (IHL 15 is 60 bytes).
			feed(t, s, withIPv4(f, func(ip []byte) { ip[0] = 0x40 | ihl }), 1)
			// The same on a frame cut right after the IPv4 header.
			feed(t, s, withIPv4(f, func(ip []byte) { ip[0] = 0x40 | ihl })[:34], 1)
		}
		expectNothing(t, s, fmt.Sprintf("IHL of reply %d", i))
	}
	// ICMP errors whose quoted header has a bad IHL: below 5, or past the quote.
	quoting := packettest.ICMPUnreachable(t, scanProbe(t, s, hostileT1, 22), hostileRouter, 13)
	const quoted = 14 + 20 + 8
	for ihl := range byte(16) {
		if ihl == 5 {
			continue
		}
		f := bytes.Clone(quoting)
		f[quoted] = 0x40 | ihl
		feed(t, s, f, 1)
	}
	expectNothing(t, s, "quoted IHL")
	expectGenuine(t, s)
}

// TestHostileIPOptions: options in a reply's IPv4 header, or in the header an ICMP
// error quotes, move everything after them; the verdict must still be the right one.
func TestHostileIPOptions(t *testing.T) {
	for _, n := range []int{4, 12, 40} {
		s := hostileScanner(t)
		frames, want := genuineFrames(t, s)
		for i, f := range frames {
			feed(t, s, withIPOptions(f, n), 0)
			if got := received(s); len(got) != 1 || got[0] != want[i] {
				t.Errorf("%d bytes of options, reply %d: got %+v, want %+v", n, i, got, want[i])
			}
		}
		// A quoted probe with options (a middlebox added them on the way).
		probe := withIPOptions(scanProbe(t, s, hostileT3, 80), n)
		feed(t, s, packettest.ICMPUnreachable(t, probe, hostileRouter, 10), 0)
		if got := received(s); len(got) != 1 || got[0].IP != uint32ToAddr(hostileT3) || got[0].Port != 80 || got[0].Reason != result.ReasonHostProhibited {
			t.Errorf("%d bytes of options in the quote: got %+v", n, got)
		}
		// An IHL that claims options the header does not have.
		s2 := hostileScanner(t)
		withOpts := withIPOptions(genuineSYNACK(t, s2, hostileT1, 22), n)
		feed(t, s2, withIPv4(withOpts, func(ip []byte) { ip[0] = 0x45 }), 0)
		expectNothing(t, s2, "options behind IHL 5")
	}
}

func TestHostileFragments(t *testing.T) {
	s := hostileScanner(t)
	frames, _ := genuineFrames(t, s)
	for i, f := range frames {
		for name, flags := range map[string]uint16{
			"first fragment (MF)":        0x2000,
			"MF with DF":                 0x6000,
			"middle fragment":            0x2000 | 185,
			"last fragment":              1,
			"largest offset":             0x1fff,
			"reserved bit and MF":        0xa000,
			"last fragment, offset 1480": 185,
		} {
			feed(t, s, withIPv4(f, func(ip []byte) { binary.BigEndian.PutUint16(ip[6:], flags) }), 1)
			expectNothing(t, s, fmt.Sprintf("%s of reply %d", name, i))
		}
	}
	// An ICMP error quoting a non-first fragment: what follows the header is not
	// a TCP or UDP header at all.
	f := packettest.ICMPUnreachable(t, scanProbe(t, s, hostileT1, 22), hostileRouter, 13)
	const quoted = 14 + 20 + 8
	binary.BigEndian.PutUint16(f[quoted+6:], 0x2000|1)
	feed(t, s, f, 1)
	expectNothing(t, s, "ICMP quoting a fragment")
	// The reserved ("evil") bit and DF alone are not fragmentation.
	s2 := hostileScanner(t)
	frames, want := genuineFrames(t, s2)
	for i, f := range frames {
		feed(t, s2, withIPv4(f, func(ip []byte) { binary.BigEndian.PutUint16(ip[6:], 0xc000) }), 0)
		if got := received(s2); len(got) != 1 || got[0] != want[i] {
			t.Errorf("reply %d with DF and the reserved bit: got %+v, want %+v", i, got, want[i])
		}
	}
}

// TestHostileVLAN: the receive ring delivers frames with their 802.1Q tag stripped
// into the ring's metadata (the kernel untags before packet sockets see a frame),
// so a tag in the frame's bytes is a foreign or double-tagged frame, not ours.
func TestHostileVLAN(t *testing.T) {
	s := hostileScanner(t)
	frames, _ := genuineFrames(t, s)
	for i, f := range frames {
		feed(t, s, tagged(f, 0x8100, 100), 1)
		feed(t, s, tagged(tagged(f, 0x8100, 100), 0x88a8, 200), 1)
		feed(t, s, tagged(f, 0x9100, 100), 1)
		feed(t, s, tagged(f, 0x8100, 0)[:18], 1) // a tag and nothing after it
		expectNothing(t, s, fmt.Sprintf("tagged reply %d", i))
	}
	if s.invalid.Load() != 0 || s.replies.Load() != 0 {
		t.Errorf("tagged frames counted: invalid %d replies %d", s.invalid.Load(), s.replies.Load())
	}
	expectGenuine(t, s)
}

func TestHostileICMPQuotes(t *testing.T) {
	s := hostileScanner(t)
	good := scanProbe(t, s, hostileT1, 22)
	dnsProbe, _ := udpScanProbe(t, s, hostileT1, 53)
	cases := map[string][]byte{}
	// Quotes too short to hold the ports (and, for TCP, the sequence number).
	for _, q := range []int{1, 8, 19, 20, 21, 24, 27} {
		cases[fmt.Sprintf("TCP quote of %d bytes", q)] =
			packettest.ICMP(t, packettest.Error{Probe: good, From: hostileRouter, Type: 3, Code: 13, QuoteLen: q})
		cases[fmt.Sprintf("UDP quote of %d bytes", q)] =
			packettest.ICMP(t, packettest.Error{Probe: dnsProbe, From: hostileRouter, Type: 3, Code: 3, QuoteLen: q})
	}
	// Probes we never sent, each with the cookie our key would give them, so
	// only the address and port checks stand in the way.
	seq := func(local, ip uint32, sport, port uint16) uint32 { return s.key.Sum(local, ip, sport, port) }
	for name, p := range map[string]struct {
		local, ip   uint32
		sport, port uint16
	}{
		"never targeted":         {testLocalIP, 0x0A010203, testSport, 22},
		"just outside the scan":  {testLocalIP, 0xC6130004, testSport, 22},
		"network below the scan": {testLocalIP, 0xC612FFFF, testSport, 22},
		"source port 1000":       {testLocalIP, hostileT1, 1000, 22},
		"source port below":      {testLocalIP, hostileT1, DefaultSourcePortLo - 1, 22},
		"source port 0":          {testLocalIP, hostileT1, 0, 22},
		"another local address":  {0xC6120002, hostileT1, testSport, 22},
		"port not scanned":       {testLocalIP, hostileT1, testSport, 443},
		"port 0":                 {testLocalIP, hostileT1, testSport, 0},
		"UDP-only port over TCP": {testLocalIP, hostileT1, testSport, 53},
	} {
		probe := synProbe(t, p.local, p.ip, p.port, p.sport, seq(p.local, p.ip, p.sport, p.port))
		cases["quoting a probe "+name] = packettest.ICMPUnreachable(t, probe, hostileRouter, 13)
	}
	// Foreign protocols in the quote: ICMP, GRE, and a TCP probe relabelled UDP.
	for name, proto := range map[string]byte{"icmp": 1, "gre": 47, "udp": 17, "sctp": 132} {
		f := packettest.ICMPUnreachable(t, good, hostileRouter, 13)
		f[14+20+8+9] = proto
		cases["quoted protocol "+name] = f
	}
	// Other ICMP types quoting a valid probe.
	for name, typ := range map[string]uint8{"echo reply": 0, "source quench": 4, "redirect": 5, "time exceeded": 11, "parameter problem": 12} {
		cases[name] = packettest.ICMP(t, packettest.Error{Probe: good, From: hostileRouter, Type: typ, Code: 0})
		cases[name+" about UDP"] = packettest.ICMP(t, packettest.Error{Probe: dnsProbe, From: hostileRouter, Type: typ, Code: 0})
	}
	// A valid quote whose sequence number is not the cookie.
	other := synProbe(t, testLocalIP, hostileT1, 22, testSport, seq(testLocalIP, hostileT1, testSport, 22)^1)
	cases["quoted seq off by one bit"] = packettest.ICMPUnreachable(t, other, hostileRouter, 13)
	for name, f := range cases {
		feed(t, s, f, 1)
		expectNothing(t, s, name)
	}
	if s.invalid.Load() != 1 {
		t.Errorf("invalid = %d, want 1 (the wrong quoted sequence number only)", s.invalid.Load())
	}
	expectGenuine(t, s)
}

// TestHostileICMPCodes: only the destination unreachable codes that mean filtering
// (or, for UDP, port unreachable: closed) give a verdict.
func TestHostileICMPCodes(t *testing.T) {
	for _, code := range []uint8{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 128, 255} {
		s := hostileScanner(t)
		udp, _ := udpScanProbe(t, s, hostileT2, 123)
		feed(t, s, packettest.ICMPUnreachable(t, scanProbe(t, s, hostileT1, 22), hostileRouter, code), 1)
		feed(t, s, packettest.ICMPUnreachable(t, udp, hostileRouter, code), 1)
		got := received(s)
		reason, filtering := result.ICMPUnreachableReason(code)
		if !filtering || code > 15 {
			if len(got) != 0 {
				t.Errorf("code %d: produced %+v", code, got)
			}
			continue
		}
		wantUDP := result.Filtered
		if code == 3 {
			wantUDP = result.Closed
		}
		if len(got) != 2 || got[0].State != result.Filtered || got[0].Reason != reason ||
			got[1].State != wantUDP || got[1].Reason != reason {
			t.Errorf("code %d: got %+v, want TCP filtered and UDP %v, reason %v", code, got, wantUDP, reason)
		}
	}
}

// TestHostileStrangers: replies from addresses that were never targets, each with
// the cookie our key would have given a probe to them.
func TestHostileStrangers(t *testing.T) {
	s := hostileScanner(t)
	for _, ip := range []uint32{0xC6130004, 0xC612FFFF, 0x0A000001, 0, 0xFFFFFFFF, testLocalIP, hostileRouter} {
		flow := flowTo(testLocalIP, testSport, ip, 22)
		feed(t, s, packettest.SYNACK(t, flow, s.key.Sum(testLocalIP, ip, testSport, 22)+1), 1)
		feed(t, s, packettest.RST(t, flow, s.key.Sum(testLocalIP, ip, testSport, 22)+1), 1)
		// A DNS answer with the source port and id a probe to ip would have had.
		dns, sport := udpScanProbe(t, s, ip, 53)
		feed(t, s, udpAnswer(t, dns, dnsAnswerTo(dns), sport), 1)
		// An ICMP error from the stranger about a probe to a real target.
		feed(t, s, packettest.ICMPUnreachable(t, scanProbe(t, s, hostileT1, 22), ip, 13), 1)
		// It is the router's word that counts, not who says it; that one was
		// genuine, so the table is marked: reset for the next stranger.
		if got := received(s); len(got) != 1 || got[0].IP != uint32ToAddr(hostileT1) || got[0].Port != 22 {
			t.Fatalf("ICMP error from %#x about a real probe: %+v", ip, got)
		}
		s = hostileScanner(t)
	}
	s = hostileScanner(t)
	for _, ip := range []uint32{0xC6130004, 0x0A000001, 0xFFFFFFFF} {
		flow := flowTo(testLocalIP, testSport, ip, 22)
		feed(t, s, packettest.SYNACK(t, flow, s.key.Sum(testLocalIP, ip, testSport, 22)+1), 1)
	}
	expectNothing(t, s, "strangers")
	if s.replies.Load() != 0 || s.invalid.Load() != 0 {
		t.Errorf("strangers counted: replies %d invalid %d", s.replies.Load(), s.invalid.Load())
	}
	expectGenuine(t, s)
}

// TestHostileForeignPorts: replies to ports we never sent from, and from ports or
// protocols we never probed.
func TestHostileForeignPorts(t *testing.T) {
	s := hostileScanner(t)
	synack := func(local uint32, sport uint16, ip uint32, port uint16) []byte {
		return packettest.SYNACK(t, flowTo(local, sport, ip, port), s.key.Sum(local, ip, sport, port)+1)
	}
	for name, f := range map[string][]byte{
		// Valid cookies, but the port is not one we send from.
		"to port 80":              synack(testLocalIP, 80, hostileT1, 22),
		"to port 1000":            synack(testLocalIP, 1000, hostileT1, 22),
		"to port below the range": synack(testLocalIP, DefaultSourcePortLo-1, hostileT1, 22),
		"to port 0":               synack(testLocalIP, 0, hostileT1, 22),
		"to another address":      synack(0xC6120002, testSport, hostileT1, 22),
		// From ports and protocols we did not probe.
		"from port 443":      synack(testLocalIP, testSport, hostileT1, 443),
		"from port 0":        synack(testLocalIP, testSport, hostileT1, 0),
		"TCP from UDP port":  synack(testLocalIP, testSport, hostileT1, 53),
		"TCP from UDP port2": synack(testLocalIP, testSport, hostileT1, 123),
	} {
		feed(t, s, f, 1)
		expectNothing(t, s, name)
	}
	if s.invalid.Load() != 0 {
		t.Errorf("invalid = %d: the port checks come before the cookie", s.invalid.Load())
	}
	// UDP: a datagram from a TCP-only port, and answers to source ports in our
	// range that are not the probe's.
	dns, sport := udpScanProbe(t, s, hostileT1, 53)
	answer := dnsAnswerTo(dns)
	fromTCPPort := udpAnswer(t, dns, answer, sport)
	binary.BigEndian.PutUint16(fromTCPPort[14+20:], 22)
	feed(t, s, fromTCPPort, 1)
	expectNothing(t, s, "UDP from a TCP-only port")
	for _, p := range []uint16{sport + 1, sport - 1, DefaultSourcePortLo, DefaultSourcePortHi} {
		if p == sport || p < DefaultSourcePortLo {
			continue
		}
		feed(t, s, udpAnswer(t, dns, answer, p), 1)
		expectNothing(t, s, "UDP answer to another source port")
	}
	if s.invalid.Load() == 0 {
		t.Error("UDP answers to the wrong source port not counted invalid")
	}
	expectGenuine(t, s)
}

func TestHostileSYNACKFlood(t *testing.T) {
	s := hostileScanner(t)
	f := genuineSYNACK(t, s, hostileT1, 22)
	const flood = 10000
	for i := range flood {
		s.handle(f, int64(i))
	}
	got := received(s)
	if len(got) != 1 || got[0].IP != uint32ToAddr(hostileT1) || got[0].Port != 22 || got[0].State != result.Open || got[0].TimeNanos != 0 {
		t.Fatalf("%d duplicate SYN-ACKs gave %+v, want the first one's verdict only", flood, got)
	}
	if s.duplicates.Load() != flood-1 || s.replies.Load() != flood || s.answered.Load() != 1 || s.open.Load() != 1 || s.invalid.Load() != 0 {
		t.Errorf("counters: duplicates %d replies %d answered %d open %d invalid %d",
			s.duplicates.Load(), s.replies.Load(), s.answered.Load(), s.open.Load(), s.invalid.Load())
	}
	// A later RST for the same target changes nothing: the first answer stands.
	feed(t, s, packettest.RST(t, flowTo(testLocalIP, testSport, hostileT1, 22), s.key.Sum(testLocalIP, hostileT1, testSport, 22)+1), flood)
	if got := received(s); len(got) != 0 || s.closed.Load() != 0 || s.duplicates.Load() != flood {
		t.Errorf("RST after the SYN-ACK: %+v, closed %d, duplicates %d", got, s.closed.Load(), s.duplicates.Load())
	}
}

func TestHostileWrongAck(t *testing.T) {
	s := hostileScanner(t)
	flow := flowTo(testLocalIP, testSport, hostileT1, 80)
	cookie := s.key.Sum(testLocalIP, hostileT1, testSport, 80)
	var fed uint64
	for _, ack := range []uint32{cookie, cookie + 2, 0, 1, (cookie + 1) ^ 0x80000000, cookie + 1 + 1<<16, ^(cookie + 1)} {
		if ack == cookie+1 {
			continue
		}
		feed(t, s, packettest.RST(t, flow, ack), 1)
		feed(t, s, packettest.SYNACK(t, flow, ack), 1)
		fed += 2
	}
	expectNothing(t, s, "wrong acks")
	if got, want := s.invalid.Load(), fed; got != want {
		t.Errorf("invalid = %d, want %d", got, want)
	}
	// The right ack without the ACK flag is not a reply either (a bare RST or SYN).
	feed(t, s, packettest.TCP(t, packettest.Segment{Flow: flow, Ack: cookie + 1, Flags: 0x04}), 1)
	feed(t, s, packettest.TCP(t, packettest.Segment{Flow: flow, Ack: cookie + 1, Flags: 0x02}), 1)
	expectNothing(t, s, "right ack, no ACK flag")
	expectGenuine(t, s)
}

func TestHostileUDPWrongID(t *testing.T) {
	s := hostileScanner(t)
	dns, dnsPort := udpScanProbe(t, s, hostileT1, 53)
	ntp, ntpPort := udpScanProbe(t, s, hostileT2, 123)
	var frames [][]byte
	for _, flip := range []struct {
		at  int
		xor byte
	}{{0, 0x01}, {0, 0x80}, {1, 0x01}, {1, 0xff}} {
		a := dnsAnswerTo(dns)
		a[flip.at] ^= flip.xor
		frames = append(frames, udpAnswer(t, dns, a, dnsPort))
	}
	// The right id in a packet that is not a DNS response: the query reflected back.
	frames = append(frames, udpAnswer(t, dns, dns[14+20+8:], dnsPort))
	for _, at := range []int{24, 31} {
		a := ntpAnswerTo(ntp)
		a[at] ^= 1
		frames = append(frames, udpAnswer(t, ntp, a, ntpPort))
	}
	// An ICMP error quoting the whole DNS probe, with its id changed.
	q := bytes.Clone(dns)
	q[14+20+8] ^= 0x40
	frames = append(frames, packettest.ICMP(t, packettest.Error{Probe: q, Type: 3, Code: 3, QuoteLen: 1500}))
	for i, f := range frames {
		feed(t, s, f, 1)
		expectNothing(t, s, fmt.Sprintf("wrong UDP id %d", i))
	}
	if got, want := s.invalid.Load(), uint64(len(frames)); got != want {
		t.Errorf("invalid = %d, want %d", got, want)
	}
	expectGenuine(t, s)
}

package engine

import (
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/fastscan/fastscan/packet"
	"github.com/fastscan/fastscan/packet/packettest"
	"github.com/fastscan/fastscan/result"
	"github.com/fastscan/fastscan/target"
)

const (
	testLocalIP = 0xC6120001 // 198.18.0.1
	testSport   = 61234
)

// newTestScanner returns a scanner for 198.19.0.0/30 x {22, 80} with a plan that sends
// from 198.18.0.1, ready for handle() without any socket.
func newTestScanner(t *testing.T, show result.StateSet) *Scanner {
	t.Helper()
	targets, err := target.ParseTargets([]string{"198.19.0.0/30"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ports, err := target.ParsePorts("22,80")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Targets: targets, Ports: ports, Rate: 1000, Seed: 7, Show: show})
	if err != nil {
		t.Fatal(err)
	}
	s.plan = &plan{srcIP: testLocalIP, onFirst: 1}
	if err := s.prepareReplay(); err != nil {
		t.Fatal(err)
	}
	return s
}

// probe builds the probe frame the scanner sends to ip:port from testSport.
func probe(t *testing.T, s *Scanner, ip uint32, port uint16) []byte {
	t.Helper()
	tmpl, err := packet.NewSYNTemplate(packet.SYNParams{SrcIP: testLocalIP, SrcMAC: [6]byte{2, 0, 0, 0, 0, 1}, DstMAC: [6]byte{2, 0, 0, 0, 0, 2}})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 128)
	n := tmpl.Put(buf, nil, ip, port, testSport, s.key.Sum(testLocalIP, ip, testSport, port), 1)
	return buf[:n]
}

func received(s *Scanner) []result.Result {
	var out []result.Result
	for {
		select {
		case r := <-s.results:
			out = append(out, r)
		default:
			return out
		}
	}
}

func TestHandleVerdicts(t *testing.T) {
	s := newTestScanner(t, result.StateSet(0).With(result.Closed).With(result.Filtered))
	open := probe(t, s, 0xC6130001, 22)
	closed := probe(t, s, 0xC6130001, 80)
	filtered := probe(t, s, 0xC6130002, 22)

	s.handle(packettest.SYNACK(t, packettest.FlowOf(t, open), packettest.SeqOf(t, open)+1), 1)
	s.handle(packettest.RST(t, packettest.FlowOf(t, closed), packettest.SeqOf(t, closed)+1), 2)
	s.handle(packettest.ICMPUnreachable(t, filtered, 0xC6120002, 13), 3)
	// Answers again (a SYN-ACK retransmission): no second verdict.
	s.handle(packettest.SYNACK(t, packettest.FlowOf(t, open), packettest.SeqOf(t, open)+1), 4)

	got := received(s)
	want := []result.Result{
		{IP: uint32ToAddr(0xC6130001), Port: 22, Proto: result.TCP, State: result.Open, Reason: result.ReasonSYNACK, TTL: 64, TimeNanos: 1, SourceIP: uint32ToAddr(testLocalIP), SourcePort: testSport},
		{IP: uint32ToAddr(0xC6130001), Port: 80, Proto: result.TCP, State: result.Closed, Reason: result.ReasonReset, TTL: 64, TimeNanos: 2, SourceIP: uint32ToAddr(testLocalIP), SourcePort: testSport},
		{IP: uint32ToAddr(0xC6130002), Port: 22, Proto: result.TCP, State: result.Filtered, Reason: result.ReasonAdminProhibited, TTL: 64, TimeNanos: 3, SourceIP: uint32ToAddr(testLocalIP), SourcePort: testSport},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d verdicts %+v, want %d", len(got), got, len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("verdict %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if s.duplicates.Load() != 1 || s.answered.Load() != 3 || s.open.Load() != 1 || s.closed.Load() != 1 || s.filtered.Load() != 1 {
		t.Errorf("counters: dup %d answered %d open %d closed %d filtered %d", s.duplicates.Load(), s.answered.Load(), s.open.Load(), s.closed.Load(), s.filtered.Load())
	}
}

// TestHandleRejectsForgeries feeds replies that must never produce a verdict.
func TestHandleRejectsForgeries(t *testing.T) {
	s := newTestScanner(t, result.StateSet(0).With(result.Closed).With(result.Filtered))
	p := probe(t, s, 0xC6130001, 22)
	f := packettest.FlowOf(t, p)
	seq := packettest.SeqOf(t, p)

	wrongAck := packettest.SYNACK(t, f, seq+2)
	wrongPort := f
	wrongPort.LocalPort = testSport + 1 // the cookie covers the source port
	otherTarget := f
	otherTarget.TargetIP = 0xC6130003 // in the scan, but the cookie was for .1
	notOurs := f
	notOurs.LocalIP = 0xC6120009
	outOfRange := f
	outOfRange.LocalPort = 1000
	notScanned := f
	notScanned.TargetPort = 443

	for name, frame := range map[string][]byte{
		"wrong ack":         wrongAck,
		"wrong local port":  packettest.SYNACK(t, wrongPort, seq+1),
		"other target":      packettest.SYNACK(t, otherTarget, seq+1),
		"not our address":   packettest.SYNACK(t, notOurs, seq+1),
		"port out of range": packettest.SYNACK(t, outOfRange, seq+1),
		"port not scanned":  packettest.RST(t, notScanned, seq+1),
		"icmp code 4":       packettest.ICMPUnreachable(t, p, 0xC6120002, 4),
		"garbage":           []byte("not a frame at all"),
	} {
		s.handle(frame, 1)
		if got := received(s); len(got) != 0 {
			t.Errorf("%s: produced %+v", name, got)
		}
	}
	if s.answered.Load() != 0 {
		t.Fatalf("forged replies marked %d targets answered", s.answered.Load())
	}
	if s.invalid.Load() < 3 {
		t.Errorf("invalid = %d, want the cookie mismatches counted", s.invalid.Load())
	}
	// The genuine answer still counts after all that.
	s.handle(packettest.SYNACK(t, f, seq+1), 2)
	if got := received(s); len(got) != 1 || got[0].State != result.Open {
		t.Fatalf("genuine SYN-ACK after forgeries: %+v", got)
	}
}

func TestHandleShowsOnlyRequestedStates(t *testing.T) {
	s := newTestScanner(t, 0) // open only
	closed := probe(t, s, 0xC6130001, 80)
	s.handle(packettest.RST(t, packettest.FlowOf(t, closed), packettest.SeqOf(t, closed)+1), 1)
	if got := received(s); len(got) != 0 {
		t.Fatalf("closed port shown without --show closed: %+v", got)
	}
	if s.closed.Load() != 1 {
		t.Fatalf("closed port not counted")
	}
}

func TestHandleAllocatesNothing(t *testing.T) {
	s := newTestScanner(t, 0)
	p := probe(t, s, 0xC6130001, 80)
	frame := packettest.RST(t, packettest.FlowOf(t, p), packettest.SeqOf(t, p)+1)
	if n := testing.AllocsPerRun(1000, func() { s.handle(frame, 1) }); n != 0 {
		t.Fatalf("handle allocates %v times per reply", n)
	}
}

// udpReply builds the datagram a service sends back to probe (a UDP probe frame)
// with payload.
func udpReply(t *testing.T, probe []byte, payload []byte, dstPort uint16) []byte {
	t.Helper()
	p := gopacket.NewPacket(probe, layers.LayerTypeEthernet, gopacket.Default)
	eth := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	ip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	udp := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
	reth := &layers.Ethernet{SrcMAC: eth.DstMAC, DstMAC: eth.SrcMAC, EthernetType: layers.EthernetTypeIPv4}
	rip := &layers.IPv4{Version: 4, TTL: 60, Protocol: layers.IPProtocolUDP, SrcIP: ip.DstIP, DstIP: ip.SrcIP}
	rudp := &layers.UDP{SrcPort: udp.DstPort, DstPort: layers.UDPPort(dstPort)}
	rudp.SetNetworkLayerForChecksum(rip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, reth, rip, rudp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestHandleUDP: a DNS answer echoing the probe's id is open; the same answer with
// another id, or to another source port, is rejected; ICMP port unreachable quoting
// the probe is closed.
func TestHandleUDP(t *testing.T) {
	targets, _ := target.ParseTargets([]string{"198.19.0.0/30"}, nil)
	udpPorts, _ := target.ParsePorts("53,9")
	s, err := New(Config{Targets: targets, UDPPorts: udpPorts, Rate: 1000, Seed: 7,
		Show: result.StateSet(0).With(result.Closed).With(result.Filtered)})
	if err != nil {
		t.Fatal(err)
	}
	s.plan = &plan{srcIP: testLocalIP, onFirst: 1}
	if err := s.prepareReplay(); err != nil {
		t.Fatal(err)
	}
	probe := func(ip uint32, ui int) ([]byte, uint16) {
		return udpScanProbe(t, s, ip, s.cfg.UDPPorts.At(ui))
	}
	i53, _ := udpPorts.Index(53)
	i9, _ := udpPorts.Index(9)
	dns, sport := probe(0xC6130001, i53)
	query := dns[14+20+8:]
	answer := append([]byte(nil), query...)
	answer[2] |= 0x80 // QR: a response, same id and question
	forged := append([]byte(nil), answer...)
	forged[0] ^= 0xff // another id

	s.handle(udpReply(t, dns, forged, sport), 1)
	s.handle(udpReply(t, dns, answer, sport+1), 2)
	if got := received(s); len(got) != 0 || s.invalid.Load() != 2 {
		t.Fatalf("forged answers gave %+v, invalid %d", got, s.invalid.Load())
	}
	s.handle(udpReply(t, dns, answer, sport), 3)
	discard, _ := probe(0xC6130002, i9) // no service: an empty datagram
	s.handle(packettest.ICMPUnreachable(t, discard, 0, 3), 4)
	got := received(s)
	if len(got) != 2 ||
		got[0] != (result.Result{IP: uint32ToAddr(0xC6130001), Port: 53, Proto: result.UDP, State: result.Open, Reason: result.ReasonUDPResponse, TTL: 60, TimeNanos: 3, SourceIP: uint32ToAddr(testLocalIP), SourcePort: sport}) ||
		got[1].Port != 9 || got[1].State != result.Closed || got[1].Reason != result.ReasonPortUnreachable {
		t.Fatalf("verdicts %+v", got)
	}
	frame := udpReply(t, dns, answer, sport)
	if n := testing.AllocsPerRun(100, func() { s.handle(frame, 5) }); n != 0 {
		t.Errorf("handling a UDP reply allocates %v times", n)
	}
}

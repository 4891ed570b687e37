package linktest_test

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/fastscan/fastscan/link"
	"github.com/fastscan/fastscan/link/linktest"
	"github.com/fastscan/fastscan/packet"
	"github.com/fastscan/fastscan/udpprobe"
)

var (
	localMAC  = [6]byte{0x02, 0, 0, 0, 0, 1}
	routerMAC = [6]byte{0x02, 0, 0, 0, 0, 0xfe}
	localIP   = netip.MustParseAddr("198.18.0.1")
	routerIP  = netip.MustParseAddr("198.18.0.254")
	targetIP  = netip.MustParseAddr("198.19.0.7")
)

const (
	frameLen  = 128
	localPort = 40000
)

func u32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func cfg(batch int) link.Config {
	return link.Config{
		LocalIP: localIP, SourcePortLo: localPort, SourcePortHi: localPort + 999,
		Protocols: []uint8{packet.ProtocolTCP, packet.ProtocolUDP}, Batch: batch, FrameLen: frameLen,
	}
}

func synTemplate(t *testing.T) *packet.SYNTemplate {
	t.Helper()
	tpl, err := packet.NewSYNTemplate(packet.SYNParams{SrcMAC: localMAC, DstMAC: routerMAC, SrcIP: u32(localIP)})
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

func dnsTemplate(t *testing.T) (*packet.UDPTemplate, udpprobe.Probe) {
	t.Helper()
	p := udpprobe.ForPort(53)
	tpl, err := packet.NewUDPTemplate(packet.UDPParams{
		SrcMAC: localMAC, DstMAC: routerMAC, SrcIP: u32(localIP), DstPort: 53,
		Payload: []byte(p.Payload), CookieOffset: p.CookieOffset, CookieLen: p.CookieLen,
	})
	if err != nil {
		t.Fatal(err)
	}
	return tpl, p
}

func open(t *testing.T, nw *linktest.Network, batch int) link.Link {
	t.Helper()
	var opener link.Opener = nw.Open
	l, err := opener(cfg(batch))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// sendSYN writes a SYN probe to dst:port with sequence number seq and commits it.
func sendSYN(t *testing.T, l link.Transmitter, tpl *packet.SYNTemplate, dst netip.Addr, port uint16, seq uint32) {
	t.Helper()
	buf := l.Next()
	if buf == nil {
		t.Fatal("Next returned nil")
	}
	l.Commit(tpl.Put(buf, nil, u32(dst), port, localPort, seq, 1))
}

func flush(t *testing.T, l link.Transmitter, want int) {
	t.Helper()
	n, err := l.Flush()
	if err != nil || n != want {
		t.Fatalf("Flush() = %d, %v, want %d, nil", n, err, want)
	}
}

type got struct {
	frame []byte
	ts    int64
}

// collect polls l until it has want frames or a second passes.
func collect(t *testing.T, l link.Link, want int) []got {
	t.Helper()
	var out []got
	deadline := time.Now().Add(time.Second)
	for len(out) < want && time.Now().Before(deadline) {
		if err := l.Poll(10*time.Millisecond, func(f []byte, ts int64) {
			out = append(out, got{append([]byte(nil), f...), ts})
		}); err != nil {
			t.Fatal(err)
		}
	}
	if len(out) != want {
		t.Fatalf("got %d frames, want %d", len(out), want)
	}
	return out
}

// pollNone polls once for d and fails if anything arrives.
func pollNone(t *testing.T, l link.Link, d time.Duration) {
	t.Helper()
	if err := l.Poll(d, func(f []byte, ts int64) { t.Errorf("unexpected frame % x", f) }); err != nil {
		t.Fatal(err)
	}
}

func parse(t *testing.T, frame []byte) packet.Reply {
	t.Helper()
	var r packet.Reply
	if !packet.ParseReply(frame, &r) {
		t.Fatalf("ParseReply rejects % x", frame)
	}
	if !packet.IPv4(frame[packet.EthernetHeaderLen:]).IsChecksumValid() {
		t.Errorf("bad IPv4 checksum in % x", frame)
	}
	ip := packet.IPv4(frame[packet.EthernetHeaderLen:])
	switch ip.Protocol() {
	case packet.ProtocolTCP:
		if !packet.TCP(ip.Payload()).IsChecksumValid(ip.SourceAddress(), ip.DestinationAddress()) {
			t.Errorf("bad TCP checksum in % x", frame)
		}
	case packet.ProtocolUDP:
		if packet.UDP(ip.Payload()).CalculateChecksum(ip.SourceAddress(), ip.DestinationAddress()) != packet.UDP(ip.Payload()).Checksum() {
			t.Errorf("bad UDP checksum in % x", frame)
		}
	case packet.ProtocolICMP:
		if c := packet.ICMPv4(ip.Payload()); c.CalculateChecksum() != c.Checksum() {
			t.Errorf("bad ICMP checksum in % x", frame)
		}
	}
	e := packet.Ethernet(frame)
	if e.DestinationAddress() != localMAC || e.SourceAddress() != routerMAC {
		t.Errorf("MACs dst %x src %x, want %x %x", e.DestinationAddress(), e.SourceAddress(), localMAC, routerMAC)
	}
	if r.LocalIP != u32(localIP) || r.LocalPort != localPort {
		t.Errorf("reply to %08x:%d, want %08x:%d", r.LocalIP, r.LocalPort, u32(localIP), localPort)
	}
	return r
}

func TestReplyKinds(t *testing.T) {
	model := func(dst netip.Addr, proto uint8, port uint16) linktest.Answer {
		if dst != targetIP {
			t.Errorf("model asked about %v", dst)
		}
		switch {
		case proto == packet.ProtocolTCP && port == 22:
			return linktest.Answer{Kind: linktest.SYNACK, TTL: 55}
		case proto == packet.ProtocolTCP && port == 23:
			return linktest.Answer{Kind: linktest.RST}
		case proto == packet.ProtocolTCP && port == 24:
			return linktest.Answer{Kind: linktest.ICMPUnreachable, ICMPCode: packet.ICMPv4CommunicationProhibited, ICMPFrom: routerIP}
		case proto == packet.ProtocolUDP && port == 53:
			return linktest.Answer{Kind: linktest.UDPReply, Payload: func(req []byte) []byte {
				resp := append([]byte(nil), req...)
				resp[2] |= 0x80 // QR: a response echoing the id
				return resp
			}}
		case proto == packet.ProtocolUDP && port == 54:
			return linktest.Answer{Kind: linktest.ICMPUnreachable, ICMPCode: packet.ICMPv4PortUnreachable, Quote: 1000}
		}
		return linktest.Answer{}
	}
	nw := linktest.New(linktest.Options{Model: model})
	l := open(t, nw, 16)
	syn := synTemplate(t)
	dns, dnsProbe := dnsTemplate(t)
	seqs := map[uint16]uint32{22: 0x11111111, 23: 0xffffffff, 24: 0x33333333, 25: 0x44444444}
	for _, port := range []uint16{22, 23, 24, 25} {
		sendSYN(t, l, syn, targetIP, port, seqs[port])
	}
	const cookie = 0xabcdef0123456789
	l.Commit(dns.Put(l.Next(), nil, u32(targetIP), localPort, cookie, 2))
	// The same request to port 54, patched: a UDP template is per port.
	buf := l.Next()
	n := dns.Put(buf, nil, u32(targetIP), localPort, cookie, 3)
	udp := packet.UDP(buf[packet.EthernetHeaderLen+packet.IPv4MinimumHeaderLen:])
	udp.SetDestinationPort(54)
	l.Commit(n)
	flush(t, l, 6)

	byPort := map[uint16]packet.Reply{}
	frames := map[uint16][]byte{}
	for _, g := range collect(t, l, 5) {
		r := parse(t, g.frame)
		if r.TargetIP != u32(targetIP) {
			t.Errorf("TargetIP %08x", r.TargetIP)
		}
		byPort[r.TargetPort] = r
		frames[r.TargetPort] = g.frame
	}
	pollNone(t, l, 0)

	if r := byPort[22]; r.Kind != packet.ReplySYNACK || r.Cookie != seqs[22] || r.From != u32(targetIP) || r.TTL != 55 {
		t.Errorf("port 22: %+v", r)
	}
	if r := byPort[23]; r.Kind != packet.ReplyRST || r.Cookie != seqs[23] || r.Seq != 0 || r.TTL != 64 {
		t.Errorf("port 23: %+v", r)
	}
	if r := byPort[24]; r.Kind != packet.ReplyICMPUnreachable || r.Proto != packet.ProtocolTCP || r.Cookie != seqs[24] ||
		r.ICMPType != 3 || r.ICMPCode != packet.ICMPv4CommunicationProhibited || r.From != u32(routerIP) {
		t.Errorf("port 24: %+v", r)
	}
	if _, ok := byPort[25]; ok {
		t.Error("a silent port answered")
	}
	r := byPort[53]
	if r.Kind != packet.ReplyUDP || r.Proto != packet.ProtocolUDP || !udpprobe.Match(53, r.Payload(frames[53]), cookie) {
		t.Errorf("port 53: %+v, payload % x", r, r.Payload(frames[53]))
	}
	r = byPort[54]
	if r.Kind != packet.ReplyICMPUnreachable || r.Proto != packet.ProtocolUDP || r.ICMPCode != packet.ICMPv4PortUnreachable ||
		r.From != u32(targetIP) || r.PayloadLength != len(dnsProbe.Payload) {
		t.Errorf("port 54: %+v", r)
	}

	if nw.Sent() != 6 {
		t.Errorf("Sent() = %d, want 6", nw.Sent())
	}
	ps := nw.Probes()
	if len(ps) != 6 || ps[0].DstPort != 22 || ps[0].Seq != seqs[22] || ps[0].Answer != linktest.SYNACK ||
		ps[3].Answer != linktest.Silent || ps[4].Proto != packet.ProtocolUDP || len(ps[4].Payload) != len(dnsProbe.Payload) ||
		ps[5].DstPort != 54 || ps[5].SrcPort != localPort {
		t.Errorf("Probes() = %+v", ps)
	}
	if packets, drops, err := l.Stats(); packets != 5 || drops != 0 || err != nil {
		t.Errorf("Stats() = %d, %d, %v", packets, drops, err)
	}
}

func TestICMPQuoteMinimum(t *testing.T) {
	nw := linktest.New(linktest.Options{Model: func(netip.Addr, uint8, uint16) linktest.Answer {
		return linktest.Answer{Kind: linktest.ICMPUnreachable, ICMPCode: packet.ICMPv4HostUnreachable, ICMPFrom: routerIP}
	}})
	l := open(t, nw, 4)
	dns, _ := dnsTemplate(t)
	l.Commit(dns.Put(l.Next(), nil, u32(targetIP), localPort, 7, 0))
	flush(t, l, 1)
	r := parse(t, collect(t, l, 1)[0].frame)
	if r.Kind != packet.ReplyICMPUnreachable || r.ICMPCode != packet.ICMPv4HostUnreachable || r.TargetPort != 53 ||
		r.From != u32(routerIP) || r.PayloadLength != 0 {
		t.Errorf("%+v", r)
	}
}

func allOpen(netip.Addr, uint8, uint16) linktest.Answer {
	return linktest.Answer{Kind: linktest.SYNACK}
}

func TestLoss(t *testing.T) {
	var mu sync.Mutex
	var asked []uint64
	nw := linktest.New(linktest.Options{Model: allOpen, Loss: func(n uint64, dst netip.Addr, proto uint8, port uint16) bool {
		mu.Lock()
		asked = append(asked, n)
		mu.Unlock()
		return n%2 == 0
	}})
	l := open(t, nw, 8)
	syn := synTemplate(t)
	for i := range 8 {
		sendSYN(t, l, syn, targetIP, uint16(1000+i), uint32(i))
	}
	flush(t, l, 8)
	for _, g := range collect(t, l, 4) {
		if r := parse(t, g.frame); r.Cookie%2 != 1 || r.TargetPort != uint16(1000+r.Cookie) {
			t.Errorf("reply to a lost probe: %+v", r)
		}
	}
	pollNone(t, l, 20*time.Millisecond)
	for i, p := range nw.Probes() {
		if p.Lost != (i%2 == 0) {
			t.Errorf("probe %d: Lost %v", i, p.Lost)
		}
	}
	if len(asked) != 8 || asked[7] != 7 {
		t.Errorf("Loss asked about %v", asked)
	}
}

// clock is a manual clock.
type clock struct {
	mu   sync.Mutex
	t    time.Time
	tick time.Duration // added after every reading
}

func newClock() *clock { return &clock{t: time.Unix(1_700_000_000, 0)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.t
	c.t = c.t.Add(c.tick)
	return t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestDelayFakeClock(t *testing.T) {
	c := newClock()
	const delay = 300 * time.Millisecond
	nw := linktest.New(linktest.Options{Model: allOpen, Delay: delay, Now: c.Now})
	l := open(t, nw, 4)
	sendSYN(t, l, synTemplate(t), targetIP, 80, 1)
	flushedAt := c.Now()
	flush(t, l, 1)
	pollNone(t, l, 0)
	c.Advance(delay - time.Nanosecond)
	pollNone(t, l, 5*time.Millisecond)
	c.Advance(time.Nanosecond)
	g := collect(t, l, 1)
	if want := flushedAt.Add(delay).UnixNano(); g[0].ts != want {
		t.Errorf("ts %d, want the due time %d", g[0].ts, want)
	}
}

func TestDelayRealClock(t *testing.T) {
	const delay = 80 * time.Millisecond
	nw := linktest.New(linktest.Options{Model: allOpen, Delay: delay})
	l := open(t, nw, 4)
	sendSYN(t, l, synTemplate(t), targetIP, 80, 1)
	flushed := time.Now() // before Flush: the reply is due delay after Flush's own clock reading
	flush(t, l, 1)
	pollNone(t, l, 10*time.Millisecond)
	var ts int64
	if err := l.Poll(5*time.Second, func(f []byte, tsNanos int64) { ts = tsNanos }); err != nil {
		t.Fatal(err)
	}
	returned := time.Since(flushed)
	if ts == 0 {
		t.Fatal("nothing delivered")
	}
	if returned < delay || returned > 3*time.Second {
		t.Errorf("Poll returned %v after the flush, want about %v", returned, delay)
	}
	if time.Now().UnixNano() < ts {
		t.Errorf("delivered before its timestamp %d", ts)
	}
}

func TestPollTimeout(t *testing.T) {
	l := open(t, linktest.New(linktest.Options{}), 4)
	start := time.Now()
	pollNone(t, l, 50*time.Millisecond)
	if d := time.Since(start); d < 50*time.Millisecond || d > 2*time.Second {
		t.Errorf("Poll(50ms) took %v", d)
	}
	start = time.Now()
	pollNone(t, l, 0)
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("Poll(0) took %v", d)
	}
}

func TestPollWakesOnFlush(t *testing.T) {
	nw := linktest.New(linktest.Options{Model: allOpen})
	l := open(t, nw, 4)
	syn := synTemplate(t)
	done := make(chan time.Duration)
	go func() {
		start := time.Now()
		n := 0
		l.Poll(10*time.Second, func([]byte, int64) { n++ })
		if n != 1 {
			t.Errorf("Poll delivered %d frames", n)
		}
		done <- time.Since(start)
	}()
	time.Sleep(20 * time.Millisecond)
	sendSYN(t, l, syn, targetIP, 80, 1)
	flush(t, l, 1)
	if d := <-done; d > 5*time.Second {
		t.Errorf("Poll returned after %v", d)
	}
}

func TestDuplicatesAndReorder(t *testing.T) {
	nw := linktest.New(linktest.Options{Model: allOpen, Duplicates: 2, Reorder: true})
	l := open(t, nw, 4)
	syn := synTemplate(t)
	for i := range 3 {
		sendSYN(t, l, syn, targetIP, uint16(100+i), uint32(i))
	}
	flush(t, l, 3)
	var cookies []uint32
	for _, g := range collect(t, l, 9) {
		cookies = append(cookies, parse(t, g.frame).Cookie)
	}
	want := []uint32{2, 2, 2, 1, 1, 1, 0, 0, 0}
	for i := range want {
		if cookies[i] != want[i] {
			t.Fatalf("cookies in delivery order %v, want %v", cookies, want)
		}
	}
}

func TestEarlyTimestamps(t *testing.T) {
	c := newClock()
	c.tick = time.Microsecond
	nw := linktest.New(linktest.Options{Model: allOpen, Early: true, Now: c.Now})
	l := open(t, nw, 4)
	sendSYN(t, l, synTemplate(t), targetIP, 80, 1)
	sendSYN(t, l, synTemplate(t), targetIP, 81, 2)
	flush(t, l, 2)
	flushReturned := c.Now().UnixNano()
	for _, g := range collect(t, l, 2) {
		if g.ts >= flushReturned {
			t.Errorf("ts %d not before the Flush returned (%d)", g.ts, flushReturned)
		}
	}
	ps := nw.Probes()
	if len(ps) != 2 || !ps[0].Committed.Before(ps[1].Committed) {
		t.Errorf("commit times %+v", ps)
	}
}

func TestBatchFull(t *testing.T) {
	l := open(t, linktest.New(linktest.Options{}), 2)
	syn := synTemplate(t)
	for i := range 2 {
		buf := l.Next()
		if len(buf) != frameLen {
			t.Fatalf("Next() %d bytes, want %d", len(buf), frameLen)
		}
		l.Commit(syn.Put(buf, nil, u32(targetIP), uint16(i+1), localPort, 0, 0))
	}
	if buf := l.Next(); buf != nil {
		t.Fatal("Next() with a full batch is not nil")
	}
	flush(t, l, 2)
	if l.Next() == nil {
		t.Fatal("Next() after Flush is nil")
	}
}

func TestCommitErrors(t *testing.T) {
	nw := linktest.New(linktest.Options{Model: allOpen})
	l := open(t, nw, 4)
	syn := synTemplate(t)
	sendSYN(t, l, syn, targetIP, 80, 1)
	l.Next()
	l.Commit(0)
	if n, err := l.Flush(); err == nil || n != 1 {
		t.Fatalf("Flush() after Commit(0) = %d, %v, want 1 and an error", n, err)
	}
	l.Next()
	l.Commit(frameLen + 1)
	if _, err := l.Flush(); err == nil {
		t.Fatal("Flush() after Commit(FrameLen+1) did not fail")
	}
	l.Commit(syn.Len()) // no Next
	if _, err := l.Flush(); err == nil {
		t.Fatal("Flush() after Commit without Next did not fail")
	}
	sendSYN(t, l, syn, targetIP, 81, 2)
	flush(t, l, 1) // the errors are gone
	collect(t, l, 2)
	if nw.Sent() != 2 {
		t.Errorf("Sent() = %d", nw.Sent())
	}
}

func TestFlushErr(t *testing.T) {
	boom := errors.New("boom")
	nw := linktest.New(linktest.Options{Model: allOpen, FlushErr: func(n uint64, frames int) (int, error) {
		if n == 1 {
			return 1, boom
		}
		return 0, nil
	}})
	l := open(t, nw, 4)
	syn := synTemplate(t)
	sendSYN(t, l, syn, targetIP, 80, 1)
	flush(t, l, 1)
	sendSYN(t, l, syn, targetIP, 81, 2)
	sendSYN(t, l, syn, targetIP, 82, 3)
	if n, err := l.Flush(); n != 1 || !errors.Is(err, boom) {
		t.Fatalf("Flush() = %d, %v, want 1, boom", n, err)
	}
	for _, g := range collect(t, l, 2) {
		if r := parse(t, g.frame); r.TargetPort == 82 {
			t.Error("a frame not sent was answered")
		}
	}
	if nw.Sent() != 2 {
		t.Errorf("Sent() = %d, want 2", nw.Sent())
	}
	if l.Next() == nil {
		t.Error("the batch was not emptied by the failed Flush")
	}
}

func TestPollErr(t *testing.T) {
	boom := errors.New("boom")
	l := open(t, linktest.New(linktest.Options{PollErr: func(n uint64) error {
		if n == 1 {
			return boom
		}
		return nil
	}}), 4)
	pollNone(t, l, 0)
	if err := l.Poll(0, func([]byte, int64) {}); !errors.Is(err, boom) {
		t.Fatalf("Poll() = %v", err)
	}
	pollNone(t, l, 0)
}

func TestInject(t *testing.T) {
	nw := linktest.New(linktest.Options{})
	forged := []byte("before open")
	nw.Inject(forged)
	forged[0] = 'X' // Inject copied it
	l := open(t, nw, 4)
	if g := collect(t, l, 1); string(g[0].frame) != "before open" {
		t.Errorf("got %q", g[0].frame)
	}
	nw.Inject([]byte("after"))
	if g := collect(t, l, 1); string(g[0].frame) != "after" {
		t.Errorf("got %q", g[0].frame)
	}
}

func TestFrameOverwrittenAfterFn(t *testing.T) {
	nw := linktest.New(linktest.Options{})
	l := open(t, nw, 4)
	nw.Inject([]byte("frame"))
	var kept []byte
	l.Poll(time.Second, func(f []byte, _ int64) { kept = f })
	if string(kept) == "frame" {
		t.Error("the frame was not overwritten after fn returned")
	}
}

func TestClose(t *testing.T) {
	nw := linktest.New(linktest.Options{Model: allOpen})
	l, err := nw.Open(cfg(4))
	if err != nil {
		t.Fatal(err)
	}
	polled := make(chan error)
	go func() { polled <- l.Poll(10*time.Second, func([]byte, int64) {}) }()
	time.Sleep(20 * time.Millisecond)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-polled:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Poll under way returned %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end a Poll under way")
	}
	if l.Next() != nil {
		t.Error("Next after Close is not nil")
	}
	if _, err := l.Flush(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Flush after Close: %v", err)
	}
	if err := l.Poll(0, func([]byte, int64) {}); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Poll after Close: %v", err)
	}
	if _, _, err := l.Stats(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Stats after Close: %v", err)
	}
	if err := l.Close(); err == nil {
		t.Error("second Close succeeded")
	}
}

func TestOpenRejects(t *testing.T) {
	nw := linktest.New(linktest.Options{})
	for _, c := range []link.Config{{Batch: 0, FrameLen: 64}, {Batch: 4, FrameLen: 0}} {
		if _, err := nw.Open(c); err == nil {
			t.Errorf("Open(%+v) succeeded", c)
		}
	}
	l := open(t, nw, 7)
	_ = l
	if cs := nw.Configs(); len(cs) != 1 || cs[0].Batch != 7 || cs[0].LocalIP != localIP {
		t.Errorf("Configs() = %+v", cs)
	}
}

// TestConcurrent sends from one goroutine and polls from another, as the engine
// does, with delay, loss and duplicates; run it with -race.
func TestConcurrent(t *testing.T) {
	const probes = 5000
	nw := linktest.New(linktest.Options{
		Model:      allOpen,
		Loss:       func(n uint64, _ netip.Addr, _ uint8, _ uint16) bool { return n%10 == 3 },
		Delay:      time.Millisecond,
		Duplicates: 1,
	})
	l := open(t, nw, 64)
	syn := synTemplate(t)
	want := 2 * (probes - probes/10)
	seen := make(chan int)
	go func() {
		n := 0
		deadline := time.Now().Add(10 * time.Second)
		for n < want && time.Now().Before(deadline) {
			if err := l.Poll(5*time.Millisecond, func(f []byte, _ int64) {
				var r packet.Reply
				if packet.ParseReply(f, &r) && r.Kind == packet.ReplySYNACK {
					n++
				}
			}); err != nil {
				t.Error(err)
				break
			}
			_, _, _ = l.Stats()
		}
		seen <- n
	}()
	for i := 0; i < probes; {
		buf := l.Next()
		if buf == nil {
			if _, err := l.Flush(); err != nil {
				t.Fatal(err)
			}
			continue
		}
		l.Commit(syn.Put(buf, nil, u32(targetIP)+uint32(i), 80, localPort, uint32(i), 0))
		i++
	}
	if _, err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := <-seen; n != want {
		t.Errorf("received %d replies, want %d", n, want)
	}
	if nw.Sent() != probes {
		t.Errorf("Sent() = %d", nw.Sent())
	}
}

func TestPollSeesFakeClockAdvance(t *testing.T) {
	c := newClock()
	nw := linktest.New(linktest.Options{Model: allOpen, Delay: time.Hour, Now: c.Now})
	l := open(t, nw, 4)
	sendSYN(t, l, synTemplate(t), targetIP, 80, 1)
	flush(t, l, 1)
	go func() {
		time.Sleep(20 * time.Millisecond)
		c.Advance(time.Hour)
	}()
	start := time.Now()
	n := 0
	if err := l.Poll(10*time.Second, func([]byte, int64) { n++ }); err != nil || n != 1 {
		t.Fatalf("Poll: %v, %d frames", err, n)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Poll noticed the clock after %v", d)
	}
}

// TestNewTransmitter: frames sent by extra transmitters, from goroutines of their
// own, are answered to the link's Poll; each has its own batch; a closed
// transmitter, or one of a closed link, sends nothing more.
func TestNewTransmitter(t *testing.T) {
	nw := linktest.New(linktest.Options{Model: func(netip.Addr, uint8, uint16) linktest.Answer {
		return linktest.Answer{Kind: linktest.SYNACK}
	}})
	l := open(t, nw, 2)
	syn := synTemplate(t)
	txs := []link.Transmitter{l}
	for range 3 {
		tx, err := l.NewTransmitter()
		if err != nil {
			t.Fatal(err)
		}
		txs = append(txs, tx)
	}
	var wg sync.WaitGroup
	for i, tx := range txs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range 2 {
				buf := tx.Next()
				if buf == nil {
					t.Errorf("transmitter %d: Next returned nil before its batch was full", i)
					return
				}
				tx.Commit(syn.Put(buf, nil, u32(targetIP), uint16(100+10*i+k), localPort, uint32(i), 1))
			}
			if tx.Next() != nil {
				t.Errorf("transmitter %d lends a buffer past its batch of 2", i)
			}
			if n, err := tx.Flush(); n != 2 || err != nil {
				t.Errorf("transmitter %d: Flush() = %d, %v, want 2, nil", i, n, err)
			}
		}()
	}
	wg.Wait()
	ports := map[uint16]bool{}
	for _, g := range collect(t, l, 8) {
		ports[parse(t, g.frame).TargetPort] = true
	}
	for i := range txs {
		for k := range 2 {
			if !ports[uint16(100+10*i+k)] {
				t.Errorf("no reply to transmitter %d's probe %d", i, k)
			}
		}
	}
	if err := txs[1].Close(); err != nil {
		t.Fatal(err)
	}
	if txs[1].Next() != nil {
		t.Error("a closed transmitter lends a buffer")
	}
	if _, err := txs[1].Flush(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Flush of a closed transmitter: %v, want net.ErrClosed", err)
	}
	if nw.Sent() != 8 || len(nw.Configs()) != 1 {
		t.Errorf("Sent %d, links %d, want 8 frames from 1 link", nw.Sent(), len(nw.Configs()))
	}
	l.Close()
	if _, err := txs[2].Flush(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Flush of a transmitter of a closed link: %v, want net.ErrClosed", err)
	}
	if _, err := l.NewTransmitter(); err == nil {
		t.Error("NewTransmitter of a closed link succeeded")
	}
}

// TestRateLimit: the policer lets a burst of RateBurst probes through at once,
// then RateLimit per second of the Now clock, and drops the rest (recorded Lost,
// counted by RateLimited, never answered).
func TestRateLimit(t *testing.T) {
	c := newClock()
	nw := linktest.New(linktest.Options{Model: allOpen, Now: c.Now, RateLimit: 100, RateBurst: 3})
	l := open(t, nw, 16)
	syn := synTemplate(t)
	send := func(n int) {
		for i := range n {
			sendSYN(t, l, syn, targetIP, uint16(1000+i), uint32(i))
		}
		flush(t, l, n)
	}
	send(10) // at one instant: the burst
	collect(t, l, 3)
	c.Advance(50 * time.Millisecond) // 5 tokens, but the bucket holds 3
	send(10)
	collect(t, l, 3)
	c.Advance(20 * time.Millisecond) // 2 tokens
	send(10)
	collect(t, l, 2)
	pollNone(t, l, 20*time.Millisecond)
	if got := nw.RateLimited(); got != 30-8 {
		t.Errorf("RateLimited() = %d, want %d", got, 30-8)
	}
	lost := 0
	for _, p := range nw.Probes() {
		if p.Lost {
			lost++
		}
	}
	if lost != 22 {
		t.Errorf("%d probes recorded lost, want 22", lost)
	}
}

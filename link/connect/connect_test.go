package connect_test

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fastscan/fastscan/link"
	"github.com/fastscan/fastscan/link/connect"
	"github.com/fastscan/fastscan/link/connect/connecttest"
	"github.com/fastscan/fastscan/packet"
)

var (
	src    = netip.MustParseAddr("198.18.0.1")
	router = netip.MustParseAddr("198.18.0.254")
)

// synTemplate is the engine's SYN probe template from src.
func synTemplate(t testing.TB, from netip.Addr) *packet.SYNTemplate {
	t.Helper()
	tmpl, err := packet.NewSYNTemplate(packet.SYNParams{SrcMAC: [6]byte{2, 0, 0, 0, 0, 1}, DstMAC: [6]byte{2, 0, 0, 0, 0, 2}, SrcIP: u32(from)})
	if err != nil {
		t.Fatal(err)
	}
	return tmpl
}

func u32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// seqOf is the cookie the tests give the probe to dst.
func seqOf(dst netip.AddrPort) uint32 { return u32(dst.Addr())*2654435761 ^ uint32(dst.Port())<<7 }

// sportOf is the source port the tests give the probe to dst.
func sportOf(dst netip.AddrPort) uint16 { return 61000 + dst.Port()%4000 }

// scan sends one SYN frame per destination through l on a goroutine of its own
// and polls (pausing pause between polls) until every destination has a reply
// or deadline passes; it returns the replies parsed, by destination, and the
// send side's error.
func scan(t *testing.T, l *connect.Link, from netip.Addr, dsts []netip.AddrPort, deadline, pause time.Duration) (map[netip.AddrPort]packet.Reply, error) {
	t.Helper()
	tmpl := synTemplate(t, from)
	sendErr := make(chan error, 1)
	go func() {
		for _, d := range dsts {
			buf := l.Next()
			if buf == nil {
				if _, err := l.Flush(); err != nil {
					sendErr <- err
					return
				}
				if buf = l.Next(); buf == nil {
					sendErr <- errors.New("no buffer after a flush")
					return
				}
			}
			l.Commit(tmpl.Put(buf, nil, u32(d.Addr()), d.Port(), sportOf(d), seqOf(d), 0))
		}
		_, err := l.Flush()
		sendErr <- err
	}()
	got := map[netip.AddrPort]packet.Reply{}
	end := time.Now().Add(deadline)
	var err error
	sent := false
	for len(got) < len(dsts) && time.Now().Before(end) {
		time.Sleep(pause)
		if !sent {
			select {
			case err = <-sendErr:
				sent = true
			default:
			}
		}
		if err := l.Poll(5*time.Millisecond, func(frame []byte, _ int64) {
			var r packet.Reply
			if !packet.ParseReply(frame, &r) {
				t.Errorf("reply frame %x does not parse", frame)
				return
			}
			d := netip.AddrPortFrom(addr(r.TargetIP), r.TargetPort)
			if _, dup := got[d]; dup {
				t.Errorf("two replies for %v", d)
			}
			if r.Cookie != seqOf(d) || r.LocalPort != sportOf(d) || r.LocalIP != u32(from) {
				t.Errorf("reply for %v: cookie %08x port %d local %v, want %08x %d %v", d, r.Cookie, r.LocalPort, addr(r.LocalIP), seqOf(d), sportOf(d), from)
			}
			got[d] = r
		}); err != nil {
			t.Fatal(err)
		}
	}
	if !sent {
		err = <-sendErr
	}
	return got, err
}

func addr(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func linkConfig(from netip.Addr, batch int) link.Config {
	return link.Config{LocalIP: from, Batch: batch, FrameLen: packet.SYNFrameLen, Protocols: []uint8{packet.ProtocolTCP}}
}

// TestReplies: every outcome becomes the frame a SYN scan would receive for the
// probe - parsed by packet.ParseReply with the probe's addresses, ports and
// cookie, valid checksums - and the outcomes that stand for no reply give none.
func TestReplies(t *testing.T) {
	dsts := []netip.AddrPort{}
	outcomes := map[netip.AddrPort]connecttest.Answer{}
	add := func(a connecttest.Answer) netip.AddrPort {
		d := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 19, 0, byte(len(dsts) + 1)}), uint16(20+len(dsts)))
		dsts = append(dsts, d)
		outcomes[d] = a
		return d
	}
	conn := add(connecttest.Answer{Outcome: connect.Outcome{Kind: connect.Connected}})
	refused := add(connecttest.Answer{Outcome: connect.Outcome{Kind: connect.Refused}, Delay: time.Millisecond})
	prohibited := add(connecttest.Answer{Outcome: connect.Outcome{Kind: connect.Unreachable, ICMPType: 3, ICMPCode: 13, From: router}})
	noRoute := add(connecttest.Answer{Outcome: connect.Outcome{Kind: connect.Failed, Errno: syscall.ENETUNREACH}, AtOnce: true})
	firewall := add(connecttest.Answer{Outcome: connect.Outcome{Kind: connect.Failed, Errno: syscall.EPERM}})
	timedOut := add(connecttest.Answer{Outcome: connect.Outcome{Kind: connect.Failed, Errno: syscall.ETIMEDOUT}})
	silent := add(connecttest.Answer{Silent: true})

	sys := connecttest.New(func(d netip.AddrPort, _ int) connecttest.Answer { return outcomes[d] })
	l, err := connect.Open(linkConfig(src, 4), connect.Options{Sys: sys, Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got, err := scan(t, l, src, dsts, 400*time.Millisecond, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := map[netip.AddrPort]struct {
		kind packet.ReplyKind
		code uint8
		from netip.Addr
	}{
		conn:       {packet.ReplySYNACK, 0, conn.Addr()},
		refused:    {packet.ReplyRST, 0, refused.Addr()},
		prohibited: {packet.ReplyICMPUnreachable, 13, router},
		noRoute:    {packet.ReplyICMPUnreachable, 0, src},
		firewall:   {packet.ReplyICMPUnreachable, 13, src},
	}
	for d, w := range want {
		r, ok := got[d]
		if !ok {
			t.Errorf("%v: no reply", d)
			continue
		}
		if r.Kind != w.kind || r.ICMPCode != w.code || addr(r.From) != w.from || r.TTL != 0 {
			t.Errorf("%v: %v code %d from %v ttl %d, want %v code %d from %v ttl 0", d, r.Kind, r.ICMPCode, addr(r.From), r.TTL, w.kind, w.code, w.from)
		}
	}
	for _, d := range []netip.AddrPort{timedOut, silent} {
		if r, ok := got[d]; ok {
			t.Errorf("%v: reply %v, want none", d, r.Kind)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d replies, want %d", len(got), len(want))
	}
	// The silent connection is abandoned after the timeout.
	deadline := time.Now().Add(time.Second)
	for sys.Stats().Aborted == 0 && time.Now().Before(deadline) {
		l.Poll(5*time.Millisecond, func([]byte, int64) {})
	}
	if st := sys.Stats(); st.Aborted != 1 || st.Open != 0 || l.TimedOut() != 1 {
		t.Errorf("%+v, link timed out %d: want the silent connection abandoned", st, l.TimedOut())
	}
}

// TestReplyChecksums: the reply frames carry valid IPv4, TCP and ICMP checksums.
func TestReplyChecksums(t *testing.T) {
	for _, o := range []connect.Outcome{{Kind: connect.Connected}, {Kind: connect.Refused}, {Kind: connect.Unreachable, ICMPType: 3, ICMPCode: 10, From: router}} {
		sys := connecttest.New(func(netip.AddrPort, int) connecttest.Answer { return connecttest.Answer{Outcome: o} })
		l, err := connect.Open(linkConfig(src, 1), connect.Options{Sys: sys})
		if err != nil {
			t.Fatal(err)
		}
		tmpl := synTemplate(t, src)
		l.Commit(tmpl.Put(l.Next(), nil, u32(router), 80, 61000, 12345, 0))
		if _, err := l.Flush(); err != nil {
			t.Fatal(err)
		}
		n := 0
		for n == 0 {
			l.Poll(5*time.Millisecond, func(frame []byte, _ int64) {
				n++
				ip := packet.IPv4(frame[packet.EthernetHeaderLen:])
				if !ip.IsChecksumValid() {
					t.Errorf("%v: bad IPv4 checksum", o.Kind)
				}
				switch ip.Protocol() {
				case packet.ProtocolTCP:
					if !packet.TCP(ip.Payload()).IsChecksumValid(ip.SourceAddress(), ip.DestinationAddress()) {
						t.Errorf("%v: bad TCP checksum", o.Kind)
					}
				case packet.ProtocolICMP:
					if packet.InternetChecksum(ip.Payload()) != 0 {
						t.Errorf("%v: bad ICMP checksum", o.Kind)
					}
				}
			})
		}
		l.Close()
	}
}

// TestNextWaitsForSlots: with every slot in flight, Next returns nil while the
// batch holds frames (so the sender flushes them), waits for a slot when it
// holds none, and never lets more connections be in flight than the bound.
func TestNextWaitsForSlots(t *testing.T) {
	sys := connecttest.New(func(netip.AddrPort, int) connecttest.Answer {
		return connecttest.Answer{Outcome: connect.Outcome{Kind: connect.Refused}, Delay: 30 * time.Millisecond}
	})
	l, err := connect.Open(linkConfig(src, 64), connect.Options{Sys: sys, Parallelism: connect.MinParallelism})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	tmpl := synTemplate(t, src)
	for i := range connect.MinParallelism {
		buf := l.Next()
		if buf == nil {
			t.Fatalf("Next %d: nil with slots free", i)
		}
		l.Commit(tmpl.Put(buf, nil, u32(router), uint16(i+1), 61000, 1, 0))
	}
	if l.Next() != nil {
		t.Fatal("Next gave a buffer beyond the parallelism while the batch holds frames")
	}
	if n, err := l.Flush(); n != connect.MinParallelism || err != nil {
		t.Fatalf("Flush: %d, %v", n, err)
	}
	// No slot free now: Next waits until Poll has ended a connection.
	start := time.Now()
	done := make(chan []byte)
	go func() { done <- l.Next() }()
	replies := 0
	var buf []byte
	for buf == nil {
		select {
		case buf = <-done:
		default:
			l.Poll(time.Millisecond, func([]byte, int64) { replies++ })
		}
	}
	if el := time.Since(start); el < 20*time.Millisecond || replies == 0 {
		t.Errorf("Next returned after %v with %d replies: it should wait for a connection to end (30 ms)", el, replies)
	}
	if st := sys.Stats(); st.MaxOpen != connect.MinParallelism {
		t.Errorf("%d open at most, want %d", st.MaxOpen, connect.MinParallelism)
	}
}

// TestParallelism: the bound leaves the rest of the process an eighth of the
// open-file limit, at least 64 descriptors, and refuses a limit too low.
func TestParallelism(t *testing.T) {
	for _, tc := range []struct {
		requested int
		soft      uint64
		want      int
		err       bool
	}{
		{1024, 1024, 896, false},
		{500, 1024, 500, false},
		{1024, 256, 192, false},
		{10000, 1 << 20, 10000, false},
		{1 << 20, 1 << 30, connect.MaxParallelism, false},
		{1024, 80, 16, false},
		{1024, 79, 0, true},
		{1024, 20, 0, true},
		{0, 1024, 1, false},
	} {
		got, err := connect.Parallelism(tc.requested, tc.soft)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("Parallelism(%d, %d) = %d, %v; want %d, error %v", tc.requested, tc.soft, got, err, tc.want, tc.err)
		}
	}
}

// listen opens n TCP listeners on 127.0.0.1 and returns their ports.
func listen(t *testing.T, n int) []uint16 {
	t.Helper()
	var ports []uint16
	for range n {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		ports = append(ports, uint16(ln.Addr().(*net.TCPAddr).Port))
	}
	return ports
}

// closedPorts returns n ports of 127.0.0.1 nothing listens on: each bound,
// then released at once (another process could take one meanwhile; unlikely
// in a test).
func closedPorts(t *testing.T, n int) []uint16 {
	t.Helper()
	seen := map[uint16]bool{}
	var ports []uint16
	for len(ports) < n {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := uint16(ln.Addr().(*net.TCPAddr).Port)
		ln.Close()
		if !seen[p] {
			seen[p] = true
			ports = append(ports, p)
		}
	}
	return ports
}

// TestLoopbackKernel scans this host's loopback through the kernel (no root
// needed): listening ports are open (SYN-ACK), the others closed (reset), and
// every socket is closed again.
func TestLoopbackKernel(t *testing.T) {
	testLoopback(t, 200, 200, 0, 0)
}

// testLoopback scans nOpen listening and nClosed closed ports of 127.0.0.1,
// asking for parallelism connections at once and pausing between polls (a
// slow receiver: the connections decided pile up in flight up to the bound).
func testLoopback(t *testing.T, nOpen, nClosed, parallelism int, pause time.Duration) {
	lo := netip.MustParseAddr("127.0.0.1")
	open, closed := listen(t, nOpen), closedPorts(t, nClosed)
	var dsts []netip.AddrPort
	isOpen := map[netip.AddrPort]bool{}
	for _, p := range open {
		d := netip.AddrPortFrom(lo, p)
		dsts, isOpen[d] = append(dsts, d), true
	}
	for _, p := range closed {
		dsts = append(dsts, netip.AddrPortFrom(lo, p))
	}
	fdsBefore := openFDs(t)
	l, err := connect.Open(linkConfig(lo, 32), connect.Options{Parallelism: parallelism})
	if err != nil {
		t.Fatal(err)
	}
	if parallelism > 0 {
		t.Logf("parallelism %d asked, %d allowed", parallelism, l.Parallelism())
	}
	defer func() {
		if n := l.ShortOf(); n > 0 {
			t.Errorf("%d connections were short of descriptors or ports (EMFILE, EADDRNOTAVAIL)", n)
		}
	}()
	got, err := scan(t, l, lo, dsts, 20*time.Second, pause)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	for _, d := range dsts {
		r, ok := got[d]
		want := packet.ReplyRST
		if isOpen[d] {
			want = packet.ReplySYNACK
		}
		if !ok || r.Kind != want {
			t.Errorf("%v: %v (replied %v), want %v", d, r.Kind, ok, want)
		}
	}
	if after := openFDs(t); after > fdsBefore {
		t.Errorf("%d descriptors open after the scan, %d before", after, fdsBefore)
	}
}

func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}

// TestOpenFileLimit runs a loopback scan of 2,000 ports asking for 10,000
// connections at once in a process whose open-file limit is 256 (soft and
// hard, so it cannot be raised), with a receiver slow enough that decided
// connections pile up in flight: the link keeps to 192 connections and the
// scan is exact, with no "too many open files". The limit is set in a child
// process (this test binary again), which cannot raise it back.
func TestOpenFileLimit(t *testing.T) {
	if v := os.Getenv("CONNECT_TEST_NOFILE"); v != "" {
		n, _ := strconv.ParseUint(v, 10, 64)
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: n, Max: n}); err != nil {
			t.Fatal(err)
		}
		got, soft, err := connect.Limit(10000)
		if err != nil || soft != n || got != 192 {
			t.Fatalf("Limit(10000) = %d, %d, %v; want 192 under a limit of %d", got, soft, err, n)
		}
		testLoopback(t, 40, 1960, 10000, 5*time.Millisecond)
		return
	}
	if testing.Short() {
		t.Skip("short")
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestOpenFileLimit$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "CONNECT_TEST_NOFILE=256")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	t.Logf("child:\n%s", out)
}

// TestLoopbackNoSelfConnect scans 8,000 ports of 127.0.0.1 inside the kernel's
// local port range, where connect(2) to a closed port sometimes connects the
// socket to itself (TCP simultaneous open, when the kernel picks that port as
// the local one; about one probe in 5,000 here): no port is open unless
// something listens on it.
func TestLoopbackNoSelfConnect(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		t.Skip(err)
	}
	var lo, hi int
	if _, err := fmt.Sscan(string(b), &lo, &hi); err != nil || hi-lo < 8000 {
		t.Skipf("local port range %q", b)
	}
	l, err := connect.Open(linkConfig(netip.MustParseAddr("127.0.0.1"), 64), connect.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var dsts []netip.AddrPort
	for p := lo; p < lo+8000; p++ {
		dsts = append(dsts, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(p)))
	}
	got, err := scan(t, l, netip.MustParseAddr("127.0.0.1"), dsts, 30*time.Second, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(dsts) {
		t.Errorf("%d replies for %d ports", len(got), len(dsts))
	}
	for d, r := range got {
		if r.Kind != packet.ReplySYNACK {
			continue
		}
		// Another process may listen there: then a connection from another
		// local port succeeds too.
		c, err := net.DialTimeout("tcp4", d.String(), time.Second)
		if err != nil {
			t.Errorf("%v reported open, but %v", d, err)
			continue
		}
		if c.LocalAddr().String() == c.RemoteAddr().String() {
			t.Errorf("%v reported open: the check connected to itself too", d)
		}
		c.Close()
	}
}

// TestLoopbackResetAfterHandshake: a service that accepts and resets at once
// (SO_LINGER 0) completed the handshake, so its port is open, even when the
// reset arrives before the link looks at the socket (SO_ERROR is then
// ECONNRESET, or EPIPE after a FIN, not 0). A receiver pausing between polls
// makes that the usual case.
func TestLoopbackResetAfterHandshake(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	var dsts []netip.AddrPort
	for range 20 {
		ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.AcceptTCP()
				if err != nil {
					return
				}
				c.SetLinger(0)
				c.Close()
			}
		}()
		dsts = append(dsts, netip.AddrPortFrom(lo, uint16(ln.Addr().(*net.TCPAddr).Port)))
	}
	l, err := connect.Open(linkConfig(lo, 32), connect.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got, err := scan(t, l, lo, dsts, 10*time.Second, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dsts {
		if r, ok := got[d]; !ok || r.Kind != packet.ReplySYNACK {
			t.Errorf("%v: %v (replied %v), want a SYN-ACK: the handshake completed", d, r.Kind, ok)
		}
	}
}

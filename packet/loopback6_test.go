package packet_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"golang.org/x/sys/unix"

	"github.com/fastscan/fastscan/afpacket/afpackettest"
	"github.com/fastscan/fastscan/citest"
	"github.com/fastscan/fastscan/cookie"
	"github.com/fastscan/fastscan/packet"
)

// loopbackFixture is the capture TestLoopback6KernelAnswers writes when
// FASTSCAN_WRITE_FIXTURES=1: probes from the IPv6 templates to ::1 and the
// Linux kernel's answers, read back by TestLoopback6Fixture without root.
const loopbackFixture = "../testdata/ipv6/loopback.pcap"

// loopbackProbe is one probe of the loopback test and what must answer it.
type loopbackProbe struct {
	name      string
	frame     []byte
	sport     uint16
	dport     uint16
	want      packet.ReplyKind // ReplyNone: nothing may answer
	cookie    uint32           // for TCP: the sequence number the answer must acknowledge
	udpCookie uint64           // for UDP: the cookie bytes in the payload
}

// TestLoopback6KernelAnswers sends probes stamped from the IPv6 templates to
// ::1 in a fresh network namespace and checks the kernel's answers with
// ParseReply: a SYN-ACK from a listening port and a reset from a closed one
// acknowledging the cookie, a UDP responder that received the probe's payload
// with its cookie, and an ICMPv6 port unreachable quoting the probe to a closed
// UDP port. The kernel verifies the TCP and UDP checksums of what it receives
// (a SYN with a checksum off by one is the control: nothing answers it), so an
// answer is an independent check of the templates' checksums. Both ways the
// link layer may send to ::1 are tried: injecting the Ethernet frame on lo
// with AF_PACKET, and the IPv6 packet after it through a raw IPv6 socket
// (IPPROTO_RAW, header included), as afpacket.IPTransmitter does for IPv4.
func TestLoopback6KernelAnswers(t *testing.T) {
	citest.RequireRoot(t)
	ns := afpackettest.NewNetns(t) // lo up, IPv6 off: turned back on below
	if err := ns.Run(func() error {
		for _, k := range []string{"all", "default", "lo"} {
			if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+k+"/disable_ipv6", []byte("0"), 0); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatalf("enabling IPv6 in %s: %v", ns.Name, err)
	}
	if !bytes.Contains([]byte(ns.IP(t, "-6", "addr", "show", "dev", "lo")), []byte("::1/128")) {
		ns.IP(t, "-6", "addr", "add", "::1/128", "dev", "lo", "nodad")
	}

	var (
		tcpOpen   net.Listener
		udpOpen   net.PacketConn
		closedTCP uint16
		closedUDP uint16
		rx, rawFd int
	)
	if err := ns.Run(func() error {
		var err error
		if tcpOpen, err = net.Listen("tcp6", "[::1]:0"); err != nil {
			return err
		}
		if udpOpen, err = net.ListenPacket("udp6", "[::1]:0"); err != nil {
			return err
		}
		// Free ports, closed again: nothing listens there.
		l, err := net.Listen("tcp6", "[::1]:0")
		if err != nil {
			return err
		}
		closedTCP = uint16(l.Addr().(*net.TCPAddr).Port)
		l.Close()
		u, err := net.ListenPacket("udp6", "[::1]:0")
		if err != nil {
			return err
		}
		closedUDP = uint16(u.LocalAddr().(*net.UDPAddr).Port)
		u.Close()
		if rx, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL))); err != nil {
			return fmt.Errorf("AF_PACKET socket: %w", err)
		}
		lo, err := net.InterfaceByName("lo")
		if err != nil {
			return err
		}
		if err := unix.Bind(rx, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: lo.Index}); err != nil {
			return fmt.Errorf("binding to lo: %w", err)
		}
		if rawFd, err = unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW); err != nil {
			return fmt.Errorf("raw IPv6 socket: %w", err)
		}
		return nil
	}); err != nil {
		t.Fatalf("sockets in %s: %v", ns.Name, err)
	}
	defer tcpOpen.Close()
	defer udpOpen.Close()
	defer unix.Close(rx)
	defer unix.Close(rawFd)
	openTCP := uint16(tcpOpen.Addr().(*net.TCPAddr).Port)
	openUDP := uint16(udpOpen.LocalAddr().(*net.UDPAddr).Port)

	// The UDP responder answers each datagram with "pong" and reports what it got.
	got := make(chan []byte, 16)
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := udpOpen.ReadFrom(buf)
			if err != nil {
				close(got)
				return
			}
			got <- bytes.Clone(buf[:n])
			udpOpen.WriteTo([]byte("pong"), from)
		}
	}()

	lo6 := netip.IPv6Loopback()
	key := cookie.NewKey(0x10071)
	syn, err := packet.NewSYN6Template(packet.SYN6Params{SrcIP: lo6})
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte("fastscan probe .cookie!.")
	udp := func(dport uint16) *packet.UDP6Template {
		u, err := packet.NewUDP6Template(packet.UDP6Params{SrcIP: lo6, DstPort: dport, Payload: payload, CookieOffset: 15, CookieLen: 8})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	for m, method := range []string{"AF_PACKET on lo", "raw IPv6 socket"} {
		t.Run(method, func(t *testing.T) {
			base := uint16(41000 + 100*m)
			var probes []loopbackProbe
			addSYN := func(name string, sport, dport uint16, want packet.ReplyKind, corrupt bool) {
				seq := key.SumIPv6(lo6.As16(), lo6.As16(), sport, dport)
				f := make([]byte, syn.Len())
				syn.Put(f, nil, lo6, dport, sport, seq, seq)
				if corrupt {
					f[14+40+16]++ // the TCP checksum, off by one
				}
				probes = append(probes, loopbackProbe{name: name, frame: f, sport: sport, dport: dport, want: want, cookie: seq})
			}
			addUDP := func(name string, sport, dport uint16, want packet.ReplyKind) {
				c := key.Sum64IPv6(lo6.As16(), lo6.As16(), sport, dport)
				tm := udp(dport)
				f := make([]byte, tm.Len())
				tm.Put(f, nil, lo6, sport, c, uint32(c))
				probes = append(probes, loopbackProbe{name: name, frame: f, sport: sport, dport: dport, want: want, udpCookie: c})
			}
			addSYN("syn to an open port", base+1, openTCP, packet.ReplySYNACK, false)
			addSYN("syn to a closed port", base+2, closedTCP, packet.ReplyRST, false)
			addSYN("syn with a bad checksum", base+3, openTCP, packet.ReplyNone, true)
			addUDP("udp to an open port", base+4, openUDP, packet.ReplyUDP)
			addUDP("udp to a closed port", base+5, closedUDP, packet.ReplyICMPUnreachable)

			for _, p := range probes {
				var err error
				if m == 0 {
					err = unix.Sendto(rx, p.frame, 0, &unix.SockaddrLinklayer{Ifindex: 1, Protocol: htons(unix.ETH_P_IPV6)})
				} else {
					err = unix.Sendto(rawFd, p.frame[14:], 0, &unix.SockaddrInet6{Addr: lo6.As16()})
				}
				if err != nil {
					t.Fatalf("%s: send: %v", p.name, err)
				}
			}
			answers := receiveAnswers(t, rx, probes, 3*time.Second)
			for _, p := range probes {
				a, ok := answers[p.sport]
				switch {
				case p.want == packet.ReplyNone && ok:
					t.Errorf("%s: answered (%v): the kernel took a bad checksum, or the test is wrong", p.name, a.r.Kind)
				case p.want == packet.ReplyNone:
				case !ok:
					t.Errorf("%s: no answer", p.name)
				case a.r.Kind != p.want:
					t.Errorf("%s: answered %v, want %v", p.name, a.r.Kind, p.want)
				case a.r.TargetAddr() != lo6 || a.r.LocalAddr() != lo6 || !a.r.FromTarget():
					t.Errorf("%s: addresses %v %v %v", p.name, a.r.TargetAddr(), a.r.LocalAddr(), a.r.FromAddr())
				case a.r.Kind == packet.ReplySYNACK || a.r.Kind == packet.ReplyRST:
					if a.r.Cookie != p.cookie || key.SumAddr(a.r.LocalAddr(), a.r.TargetAddr(), a.r.LocalPort, a.r.TargetPort) != a.r.Cookie {
						t.Errorf("%s: acknowledges %#x, the cookie is %#x", p.name, a.r.Cookie+1, p.cookie)
					}
				case a.r.Kind == packet.ReplyUDP:
					if string(a.r.Payload(a.frame)) != "pong" {
						t.Errorf("%s: reply payload %q", p.name, a.r.Payload(a.frame))
					}
				case a.r.Kind == packet.ReplyICMPUnreachable:
					q := a.r.Payload(a.frame)
					if a.r.ICMPCode != packet.ICMPv6PortUnreachable || len(q) != len(payload) ||
						binary.BigEndian.Uint64(q[15:]) != p.udpCookie {
						t.Errorf("%s: ICMPv6 code %d quoting % x", p.name, a.r.ICMPCode, q)
					}
				}
				if a.frame != nil {
					t.Logf("%s: %v, %d bytes", p.name, a.r.Kind, len(a.frame))
				}
			}
			// The responder received the probe's payload, cookie included: the
			// kernel accepted the UDP checksum.
			select {
			case d := <-got:
				want := bytes.Clone(payload)
				binary.BigEndian.PutUint64(want[15:], key.Sum64IPv6(lo6.As16(), lo6.As16(), base+4, openUDP))
				if !bytes.Equal(d, want) {
					t.Errorf("the UDP responder received %q, want %q", d, want)
				}
			case <-time.After(time.Second):
				t.Error("the UDP responder received nothing")
			}
			if m == 0 && os.Getenv("FASTSCAN_WRITE_FIXTURES") == "1" {
				writeFixture(t, probes, answers)
			}
		})
	}
}

type loopbackAnswer struct {
	r     packet.Reply
	frame []byte
}

// receiveAnswers reads lo until every probe that wants an answer has one and
// then 200 ms more (for the control), or until the deadline. Answers are keyed
// by the probe's source port; the probes themselves, seen on lo too, are not
// answers (their ports are the other way round).
func receiveAnswers(t *testing.T, fd int, probes []loopbackProbe, timeout time.Duration) map[uint16]loopbackAnswer {
	t.Helper()
	byPort := map[uint16]loopbackProbe{}
	pending := 0
	for _, p := range probes {
		byPort[p.sport] = p
		if p.want != packet.ReplyNone {
			pending++
		}
	}
	answers := map[uint16]loopbackAnswer{}
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 65536)
	for time.Now().Before(deadline) {
		if settle := time.Now().Add(200 * time.Millisecond); pending == 0 && settle.Before(deadline) {
			deadline = settle
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if n, err := unix.Poll(fds, 50); err != nil && !errors.Is(err, unix.EINTR) {
			t.Fatalf("poll: %v", err)
		} else if n <= 0 {
			continue
		}
		n, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT)
		if err != nil {
			continue
		}
		frame := bytes.Clone(buf[:n])
		var r packet.Reply
		if !packet.ParseReplyAny(frame, &r) || !r.IPv6 {
			continue
		}
		p, ok := byPort[r.LocalPort]
		if !ok || r.TargetPort != p.dport {
			continue
		}
		if _, dup := answers[p.sport]; !dup {
			answers[p.sport] = loopbackAnswer{r: r, frame: frame}
			if p.want != packet.ReplyNone {
				pending--
			}
		}
	}
	return answers
}

// writeFixture writes the probes that were answered and their answers, in
// order, as an Ethernet pcap.
func writeFixture(t *testing.T, probes []loopbackProbe, answers map[uint16]loopbackAnswer) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(loopbackFixture), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(loopbackFixture)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65536, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	for _, p := range probes {
		a, ok := answers[p.sport]
		if !ok {
			continue
		}
		for _, fr := range [][]byte{p.frame, a.frame} {
			ts = ts.Add(time.Millisecond)
			if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(fr), Length: len(fr)}, fr); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Logf("wrote %s", loopbackFixture)
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// TestLoopback6Fixture reads the capture of TestLoopback6KernelAnswers (Linux's
// own answers to the IPv6 templates' probes on ::1) without root: each answer
// parses, matches its probe and carries the probe's cookie.
func TestLoopback6Fixture(t *testing.T) {
	data, err := os.ReadFile(loopbackFixture)
	if err != nil {
		t.Fatalf("%v (regenerate as root: FASTSCAN_WRITE_FIXTURES=1 go test -run TestLoopback6KernelAnswers ./packet/)", err)
	}
	rd, err := pcapgo.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	key := cookie.NewKey(0x10071)
	kinds := map[packet.ReplyKind]int{}
	for {
		probe, _, err := rd.ReadPacketData()
		if err != nil {
			break
		}
		answer, _, err := rd.ReadPacketData()
		if err != nil {
			t.Fatal("a probe without its answer")
		}
		pk := gopacket.NewPacket(probe, layers.LayerTypeEthernet, gopacket.Default)
		var sport, dport uint16
		var r packet.Reply
		if !packet.ParseReplyAny(answer, &r) || !r.IPv6 {
			t.Fatalf("answer rejected: % x", answer)
		}
		kinds[r.Kind]++
		switch {
		case pk.Layer(layers.LayerTypeTCP) != nil:
			tcp := pk.Layer(layers.LayerTypeTCP).(*layers.TCP)
			sport, dport = uint16(tcp.SrcPort), uint16(tcp.DstPort)
			if r.Cookie != tcp.Seq || key.SumAddr(r.LocalAddr(), r.TargetAddr(), r.LocalPort, r.TargetPort) != r.Cookie {
				t.Errorf("%v acknowledges %#x, probe seq %#x", r.Kind, r.Cookie+1, tcp.Seq)
			}
		case pk.Layer(layers.LayerTypeUDP) != nil:
			udp := pk.Layer(layers.LayerTypeUDP).(*layers.UDP)
			sport, dport = uint16(udp.SrcPort), uint16(udp.DstPort)
			c := key.Sum64IPv6(r.Local6, r.Target6, r.LocalPort, r.TargetPort)
			if binary.BigEndian.Uint64(udp.Payload[15:]) != c {
				t.Errorf("UDP probe without its cookie")
			}
			if r.Kind == packet.ReplyICMPUnreachable && !bytes.Equal(r.Payload(answer), udp.Payload) {
				t.Errorf("ICMPv6 quotes % x, the probe's payload is % x", r.Payload(answer), udp.Payload)
			}
		default:
			t.Fatalf("probe neither TCP nor UDP: %v", pk)
		}
		if r.LocalPort != sport || r.TargetPort != dport || r.TargetAddr() != netip.IPv6Loopback() {
			t.Errorf("%v for %v:%d from port %d, probe %d -> %d", r.Kind, r.TargetAddr(), r.TargetPort, r.LocalPort, sport, dport)
		}
	}
	for _, k := range []packet.ReplyKind{packet.ReplySYNACK, packet.ReplyRST, packet.ReplyUDP, packet.ReplyICMPUnreachable} {
		if kinds[k] != 1 {
			t.Errorf("%d answers of kind %v in the fixture, want 1", kinds[k], k)
		}
	}
}

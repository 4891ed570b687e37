package link_test

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/fastscan/fastscan/afpacket"
	"github.com/fastscan/fastscan/afpacket/afpackettest"
	"github.com/fastscan/fastscan/citest"
	"github.com/fastscan/fastscan/link"
)

var (
	scannerIP = netip.MustParseAddr("198.18.0.1")
	targetIP  = netip.MustParseAddr("198.18.0.2")
	otherIP   = netip.MustParseAddr("198.18.0.3")
)

const (
	portLo, portHi = 40000, 40999
	frameLen       = 128
)

// frame describes a test frame, built with gopacket.
type frame struct {
	srcMAC, dstMAC   [6]byte
	srcIP, dstIP     netip.Addr
	proto            layers.IPProtocol // TCP, UDP or ICMPv4
	srcPort, dstPort uint16
	seq              uint32 // TCP sequence number, UDP payload, ICMP id+seq: tells frames apart
	syn, ack, rst    bool
}

func (f frame) bytes(tb testing.TB) []byte {
	tb.Helper()
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: f.proto, Flags: layers.IPv4DontFragment,
		SrcIP: f.srcIP.AsSlice(), DstIP: f.dstIP.AsSlice()}
	l := []gopacket.SerializableLayer{
		&layers.Ethernet{SrcMAC: f.srcMAC[:], DstMAC: f.dstMAC[:], EthernetType: layers.EthernetTypeIPv4}, ip,
	}
	switch f.proto {
	case layers.IPProtocolTCP:
		tcp := &layers.TCP{SrcPort: layers.TCPPort(f.srcPort), DstPort: layers.TCPPort(f.dstPort), Seq: f.seq,
			SYN: f.syn, ACK: f.ack, RST: f.rst, Window: 1024}
		if f.ack {
			tcp.Ack = 1
		}
		tcp.SetNetworkLayerForChecksum(ip)
		l = append(l, tcp)
	case layers.IPProtocolUDP:
		udp := &layers.UDP{SrcPort: layers.UDPPort(f.srcPort), DstPort: layers.UDPPort(f.dstPort)}
		udp.SetNetworkLayerForChecksum(ip)
		l = append(l, udp, gopacket.Payload([]byte{byte(f.seq >> 24), byte(f.seq >> 16), byte(f.seq >> 8), byte(f.seq)}))
	case layers.IPProtocolICMPv4:
		l = append(l, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoReply, 0),
			Id: uint16(f.seq >> 16), Seq: uint16(f.seq)})
	default:
		tb.Fatalf("protocol %v not supported by the test", f.proto)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, l...); err != nil {
		tb.Fatalf("serialize %+v: %v", f, err)
	}
	return buf.Bytes()
}

// interfaceIn returns the interface name of namespace n.
func interfaceIn(t *testing.T, n *afpackettest.Netns, name string) net.Interface {
	t.Helper()
	var ifc *net.Interface
	err := n.Run(func() (err error) {
		ifc, err = net.InterfaceByName(name)
		return err
	})
	if err != nil {
		t.Fatalf("interface %s in %s: %v", name, n.Name, err)
	}
	return *ifc
}

// openLink opens an AF_PACKET link inside namespace n, closed by t.Cleanup.
func openLink(t *testing.T, n *afpackettest.Netns, cfg link.Config) link.Link {
	t.Helper()
	var l link.Link
	err := n.Run(func() (err error) {
		l, err = link.OpenAFPacket(cfg)
		return err
	})
	if err != nil {
		t.Fatalf("OpenAFPacket: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return l
}

// sendAll sends frames through l in batches, checking that a batch holds
// exactly batch frames, and returns how many batches it took.
func sendAll(t *testing.T, l link.Transmitter, batch int, frames [][]byte) int {
	t.Helper()
	batches := 0
	for len(frames) > 0 {
		n := 0
		for ; n < len(frames); n++ {
			buf := l.Next()
			if buf == nil {
				break
			}
			if len(buf) < frameLen {
				t.Fatalf("Next returned %d bytes, want at least %d", len(buf), frameLen)
			}
			l.Commit(copy(buf, frames[n]))
		}
		if n < len(frames) && n != batch {
			t.Fatalf("Next returned nil after %d frames, batch is %d", n, batch)
		}
		if n == batch && l.Next() != nil {
			t.Fatalf("Next returned a buffer beyond the batch of %d", batch)
		}
		sent, err := l.Flush()
		if err != nil || sent != n {
			t.Fatalf("Flush = %d, %v; want %d, nil", sent, err, n)
		}
		frames = frames[n:]
		batches++
	}
	return batches
}

// receive calls poll until want frames arrived or 3 s passed, then for settle
// longer to catch frames that should not arrive, and returns copies of them all.
func receive(t *testing.T, poll func(time.Duration, func([]byte, int64)) error, want int, settle time.Duration) [][]byte {
	t.Helper()
	var got [][]byte
	fn := func(b []byte, _ int64) { got = append(got, bytes.Clone(b)) }
	for deadline := time.Now().Add(3 * time.Second); len(got) < want && time.Now().Before(deadline); {
		if err := poll(20*time.Millisecond, fn); err != nil {
			t.Fatalf("Poll: %v", err)
		}
	}
	for end := time.Now().Add(settle); time.Now().Before(end); {
		if err := poll(10*time.Millisecond, fn); err != nil {
			t.Fatalf("Poll: %v", err)
		}
	}
	return got
}

// sameFrames reports the differences between the frames got and want, in order.
func sameFrames(t *testing.T, what string, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d frames, want %d", what, len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		// The kernel pads short frames on some paths; compare the frame sent.
		if !bytes.Equal(got[i][:min(len(got[i]), len(want[i]))], want[i]) || len(got[i]) < len(want[i]) {
			t.Errorf("%s: frame %d is\n% x\nwant\n% x", what, i, got[i], want[i])
		}
	}
}

func TestAFPacketSendsAndReceivesThroughVeth(t *testing.T) {
	citest.RequireRoot(t)
	for _, txRing := range []bool{false, true} {
		name := "sendmmsg"
		if txRing {
			name = "txring"
		}
		t.Run(name, func(t *testing.T) {
			pair := afpackettest.NewVethPair(t)
			const batch = 8
			l := openLink(t, pair.A.Netns, link.Config{
				Interface:    interfaceIn(t, pair.A.Netns, pair.A.Name),
				LocalIP:      scannerIP,
				SourcePortLo: portLo, SourcePortHi: portHi,
				Protocols: []uint8{unix.IPPROTO_TCP, unix.IPPROTO_UDP},
				Batch:     batch,
				FrameLen:  frameLen,
				TxRing:    txRing,
			})
			// The peer: a ring that sees everything, and a transmitter for replies.
			var peer *afpacket.Ring
			var peerTx afpacket.Transmitter
			err := pair.B.Netns.Run(func() (err error) {
				if peer, err = afpacket.NewRing(pair.B.Index, afpacket.RingConfig{BlockTimeout: time.Millisecond}); err != nil {
					return err
				}
				peerTx, err = afpacket.NewMmsgTransmitter(pair.B.Index, 32, frameLen)
				return err
			})
			if err != nil {
				t.Fatalf("peer sockets: %v", err)
			}
			t.Cleanup(func() { peer.Close(); peerTx.Close() })

			// Probes: 20 SYNs, in batches of 8, 8 and 4.
			var probes [][]byte
			for i := range 20 {
				probes = append(probes, frame{srcMAC: pair.A.MAC, dstMAC: pair.B.MAC, srcIP: scannerIP, dstIP: targetIP,
					proto: layers.IPProtocolTCP, srcPort: portLo + uint16(i), dstPort: 80, seq: uint32(1000 + i), syn: true}.bytes(t))
			}
			if n := sendAll(t, l, batch, probes); n != 3 {
				t.Errorf("20 frames took %d batches of %d", n, batch)
			}
			sameFrames(t, "peer received", receive(t, peer.Poll, len(probes), 50*time.Millisecond), probes)

			// Filling and flushing a batch allocates nothing.
			allocs := testing.AllocsPerRun(20, func() {
				for buf := l.Next(); buf != nil; buf = l.Next() {
					l.Commit(copy(buf, probes[0]))
				}
				if _, err := l.Flush(); err != nil {
					t.Fatalf("Flush: %v", err)
				}
			})
			if allocs != 0 {
				t.Errorf("a batch allocates %v times, want 0", allocs)
			}
			receive(t, peer.Poll, 21*batch, 20*time.Millisecond) // drain the peer's ring

			// Another transmitter of the link (a second sender's) sends on its own.
			var tx link.Transmitter
			if err := pair.A.Netns.Run(func() (err error) { tx, err = l.NewTransmitter(); return err }); err != nil {
				t.Fatalf("NewTransmitter: %v", err)
			}
			var more [][]byte
			for i := range batch + 2 {
				more = append(more, frame{srcMAC: pair.A.MAC, dstMAC: pair.B.MAC, srcIP: scannerIP, dstIP: targetIP,
					proto: layers.IPProtocolTCP, srcPort: portLo + uint16(i), dstPort: 81, seq: uint32(5000 + i), syn: true}.bytes(t))
			}
			if n := sendAll(t, tx, batch, more); n != 2 {
				t.Errorf("%d frames took %d batches of %d on the extra transmitter", len(more), n, batch)
			}
			sameFrames(t, "peer received from the extra transmitter", receive(t, peer.Poll, len(more), 50*time.Millisecond), more)
			if err := tx.Close(); err != nil {
				t.Errorf("closing the extra transmitter: %v", err)
			}

			// Replies: only those to the scanner's address and ports, and ICMP, pass.
			reply := func(seq uint32, edit func(*frame)) []byte {
				f := frame{srcMAC: pair.B.MAC, dstMAC: pair.A.MAC, srcIP: targetIP, dstIP: scannerIP,
					proto: layers.IPProtocolTCP, srcPort: 80, dstPort: portLo, seq: seq, syn: true, ack: true}
				edit(&f)
				return f.bytes(t)
			}
			pass := [][]byte{
				reply(1, func(f *frame) {}),
				reply(2, func(f *frame) { f.dstPort = portHi; f.syn = false; f.rst = true }),
				reply(3, func(f *frame) { f.proto = layers.IPProtocolUDP; f.srcPort = 53; f.dstPort = portLo + 7 }),
				reply(4, func(f *frame) { f.proto = layers.IPProtocolICMPv4 }),
			}
			drop := [][]byte{
				reply(101, func(f *frame) { f.dstPort = portLo - 1 }),
				reply(102, func(f *frame) { f.dstPort = portHi + 1 }),
				reply(103, func(f *frame) { f.dstIP = otherIP }),
				reply(104, func(f *frame) { f.proto = layers.IPProtocolUDP; f.dstPort = 53 }),
				reply(105, func(f *frame) { f.proto = layers.IPProtocolICMPv4; f.dstIP = otherIP }),
			}
			var replies [][]byte
			for i := range max(len(pass), len(drop)) {
				if i < len(drop) {
					replies = append(replies, drop[i])
				}
				if i < len(pass) {
					replies = append(replies, pass[i])
				}
			}
			for _, r := range replies {
				peerTx.Commit(copy(peerTx.Next(), r))
			}
			if sent, err := peerTx.Flush(); err != nil || sent != len(replies) {
				t.Fatalf("peer Flush = %d, %v; want %d, nil", sent, err, len(replies))
			}
			sameFrames(t, "link polled", receive(t, l.Poll, len(pass), 50*time.Millisecond), pass)
			packets, drops, err := l.Stats()
			if err != nil || packets != uint64(len(pass)) || drops != 0 {
				t.Errorf("Stats = %d, %d, %v; want %d, 0, nil", packets, drops, err, len(pass))
			}
		})
	}
}

func TestAFPacketLoopbackThroughRawIP(t *testing.T) {
	citest.RequireRoot(t)
	ns := afpackettest.NewNetns(t)
	lo := interfaceIn(t, ns, "lo")
	local := netip.MustParseAddr("127.0.0.1")
	l := openLink(t, ns, link.Config{
		Interface:    lo,
		Loopback:     true,
		LocalIP:      local,
		SourcePortLo: portLo, SourcePortHi: portHi,
		Protocols: []uint8{unix.IPPROTO_TCP, unix.IPPROTO_UDP},
		Batch:     4,
		FrameLen:  frameLen,
		TxRing:    true, // ignored: loopback always sends through the raw IP socket
	})
	// A SYN to a closed port: the kernel answers with a RST to our source port.
	// The SYN itself also comes back in on lo, but to a port outside the range.
	syn := frame{srcIP: local, dstIP: local, proto: layers.IPProtocolTCP, srcPort: portLo + 5, dstPort: 9, seq: 77, syn: true}.bytes(t)
	sendAll(t, l, 4, [][]byte{syn})
	got := receive(t, l.Poll, 1, 50*time.Millisecond)
	if len(got) != 1 {
		t.Fatalf("polled %d frames, want the RST only", len(got))
	}
	p := gopacket.NewPacket(got[0], layers.LayerTypeEthernet, gopacket.Default)
	tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if tcp == nil || !tcp.RST || tcp.SrcPort != 9 || tcp.DstPort != portLo+5 || tcp.Ack != 78 {
		t.Errorf("polled %v, want a RST from port 9 to %d acknowledging 78", p, portLo+5)
	}
}

func TestOpenAFPacketErrors(t *testing.T) {
	good := link.Config{
		Interface: net.Interface{Index: 1, Name: "lo"}, LocalIP: scannerIP,
		SourcePortLo: portLo, SourcePortHi: portHi, Protocols: []uint8{6}, Batch: 8, FrameLen: frameLen,
	}
	cases := []struct {
		name string
		edit func(*link.Config)
	}{
		{"IPv6 local address", func(c *link.Config) { c.LocalIP = netip.MustParseAddr("2001:db8::1") }},
		{"no local address", func(c *link.Config) { c.LocalIP = netip.Addr{} }},
		{"empty port range", func(c *link.Config) { c.SourcePortLo, c.SourcePortHi = 2, 1 }},
		{"no batch", func(c *link.Config) { c.Batch = 0 }},
		{"no frame length", func(c *link.Config) { c.FrameLen = 0 }},
		{"no interface", func(c *link.Config) { c.Interface = net.Interface{Name: "ghost0"} }},
	}
	for _, c := range cases {
		cfg := good
		cfg.Interface.Name = "test0"
		c.edit(&cfg)
		l, err := link.OpenAFPacket(cfg)
		if err == nil {
			l.Close()
			t.Errorf("%s: OpenAFPacket succeeded", c.name)
			continue
		}
		if !strings.Contains(err.Error(), cfg.Interface.Name) {
			t.Errorf("%s: error %q does not name the interface %s", c.name, err, cfg.Interface.Name)
		}
	}
}

func TestAFPacketCommitZeroPanics(t *testing.T) {
	citest.RequireRoot(t)
	ns := afpackettest.NewNetns(t)
	l := openLink(t, ns, link.Config{
		Interface: interfaceIn(t, ns, "lo"), LocalIP: scannerIP,
		SourcePortLo: portLo, SourcePortHi: portHi, Batch: 2, FrameLen: frameLen,
	})
	l.Next()
	defer func() {
		if recover() == nil {
			t.Error("Commit(0) did not panic")
		}
	}()
	l.Commit(0)
}

// Opening a link in a namespace without the interface fails with the kernel's
// error wrapped.
func TestOpenAFPacketWrapsErrors(t *testing.T) {
	citest.RequireRoot(t)
	ns := afpackettest.NewNetns(t)
	err := ns.Run(func() error {
		_, err := link.OpenAFPacket(link.Config{
			Interface: net.Interface{Index: 999, Name: "ghost0"}, LocalIP: scannerIP,
			SourcePortLo: portLo, SourcePortHi: portHi, Batch: 2, FrameLen: frameLen,
		})
		return err
	})
	if !errors.Is(err, unix.ENODEV) || !strings.Contains(err.Error(), "opening the receive ring on ghost0") {
		t.Errorf("OpenAFPacket on a missing interface: %v; want ENODEV, wrapped, naming ghost0", err)
	}
}

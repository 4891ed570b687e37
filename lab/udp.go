package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// udpRcvBuf is the receive buffer of every UDP responder socket: room for a
// burst of tens of thousands of probes while the serving goroutines catch up.
const udpRcvBuf = 16 << 20

// udpWorkers is how many goroutines serve each UDP responder socket.
func udpWorkers() int { return min(runtime.NumCPU(), 4) }

// udpMaxDatagram is the largest UDP payload (over IPv6, without jumbograms;
// over IPv4 it is 65507).
const udpMaxDatagram = 65527

// udpErrorPause is how long a serving goroutine waits after a read error
// other than the socket being closed, so that it cannot spin.
const udpErrorPause = time.Millisecond

// startResponders opens the UDP responder sockets: AnyIPUDPPorts bound to
// 0.0.0.0 and to :: in R (answering for the whole AnyIP ranges and R's own
// addresses), and each LAN host's UDPPorts bound to its two addresses.
func (l *Lab) startResponders(context.Context) error {
	t := l.truth
	var wild []endpoint
	for _, p := range t.AnyIPUDPPorts {
		wild = append(wild, endpoint{netip.IPv4Unspecified(), p}, endpoint{netip.IPv6Unspecified(), p})
	}
	if err := l.respondIn(l.RemoteNS(), wild); err != nil {
		return err
	}
	for i, h := range t.Hosts {
		var eps []endpoint
		for _, p := range h.UDPPorts {
			eps = append(eps, endpoint{h.Addr, p}, endpoint{h.Addr6, p})
		}
		if err := l.respondIn(l.HostNS(i), eps); err != nil {
			return err
		}
	}
	return nil
}

// respondIn opens a UDP responder on each of eps inside ns and starts the
// goroutines that serve them until Down.
func (l *Lab) respondIn(ns string, eps []endpoint) error {
	var conns []*net.UDPConn
	var answers []answerFunc
	err := l.Do(ns, func() error {
		for _, ep := range eps {
			answer, ok := udpAnswerer(ep.port)
			if !ok {
				return fmt.Errorf("lab: no UDP responder for port %d", ep.port)
			}
			c, err := listenUDP(ep.addr, ep.port)
			if err != nil {
				return fmt.Errorf("lab: UDP responder in %s: %w", ns, err)
			}
			l.mu.Lock()
			l.udp = append(l.udp, c)
			l.mu.Unlock()
			conns = append(conns, c)
			answers = append(answers, answer)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i, c := range conns {
		// IP_PKTINFO (IPV6_RECVPKTINFO): every datagram reports the address
		// it was sent to, and each reply names that address as its source.
		if eps[i].addr.Is6() {
			pc := ipv6.NewPacketConn(c)
			if err := pc.SetControlMessage(ipv6.FlagDst, true); err != nil {
				return fmt.Errorf("lab: IPV6_RECVPKTINFO on UDP responder in %s: %w", ns, err)
			}
			for range udpWorkers() {
				l.serving.Go(func() { serveUDP6(pc, answers[i]) })
			}
			continue
		}
		pc := ipv4.NewPacketConn(c)
		if err := pc.SetControlMessage(ipv4.FlagDst, true); err != nil {
			return fmt.Errorf("lab: IP_PKTINFO on UDP responder in %s: %w", ns, err)
		}
		for range udpWorkers() {
			l.serving.Go(func() { serveUDP(pc, answers[i]) })
		}
	}
	return nil
}

// listenUDP opens a UDP socket bound to addr:port (IPv4 or IPv6) in the
// current thread's namespace and hands it to the Go runtime's poller.
// IP_FREEBIND (IPV6_FREEBIND) lets it bind any address.
func listenUDP(addr netip.Addr, port uint16) (*net.UDPConn, error) {
	ap := netip.AddrPortFrom(addr, port)
	fd, err := boundSocket(unix.SOCK_DGRAM, addr, port, func(fd int) error {
		return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, udpRcvBuf)
	})
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), fmt.Sprintf("udp %v", ap))
	c, err := net.FilePacketConn(f) // duplicates the descriptor
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("FilePacketConn %v: %w", ap, err)
	}
	uc, ok := c.(*net.UDPConn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("FilePacketConn %v: %T is not a UDP connection", ap, c)
	}
	return uc, nil
}

// serveUDP answers the datagrams arriving on pc with answer until pc is
// closed. Each reply leaves from the address and port the request was sent
// to (IP_PKTINFO), so a responder bound to 0.0.0.0 answers for every AnyIP
// address it receives.
func serveUDP(pc *ipv4.PacketConn, answer answerFunc) {
	serveDatagrams(answer, func(buf []byte) (int, netip.Addr, func([]byte), error) {
		n, cm, src, err := pc.ReadFrom(buf)
		if err != nil || cm == nil || cm.Dst == nil {
			return n, netip.Addr{}, func(reply []byte) { _, _ = pc.WriteTo(reply, nil, src) }, err
		}
		local, _ := netip.AddrFromSlice(cm.Dst.To4())
		wcm := &ipv4.ControlMessage{Src: cm.Dst}
		return n, local, func(reply []byte) { _, _ = pc.WriteTo(reply, wcm, src) }, nil
	})
}

// serveUDP6 is serveUDP for an IPv6 responder (IPV6_PKTINFO).
func serveUDP6(pc *ipv6.PacketConn, answer answerFunc) {
	serveDatagrams(answer, func(buf []byte) (int, netip.Addr, func([]byte), error) {
		n, cm, src, err := pc.ReadFrom(buf)
		if err != nil || cm == nil || cm.Dst == nil {
			return n, netip.Addr{}, func(reply []byte) { _, _ = pc.WriteTo(reply, nil, src) }, err
		}
		local, _ := netip.AddrFromSlice(cm.Dst.To16())
		wcm := &ipv6.ControlMessage{Src: cm.Dst}
		return n, local, func(reply []byte) { _, _ = pc.WriteTo(reply, wcm, src) }, nil
	})
}

// serveDatagrams is the responder loop of both families: read a datagram
// (with the local address it arrived on and a way to answer from there),
// answer it, until the connection is closed. A failed send is a lost reply,
// as on a real network.
func serveDatagrams(answer answerFunc, read func(buf []byte) (n int, local netip.Addr, reply func([]byte), err error)) {
	buf := make([]byte, udpMaxDatagram)
	out := make([]byte, 0, 1500)
	for {
		n, local, send, err := read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(udpErrorPause)
			continue
		}
		if reply := answer(buf[:n], local, time.Now(), out[:0]); reply != nil {
			send(reply)
		}
	}
}

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
	"golang.org/x/sys/unix"
)

// udpRcvBuf is the receive buffer of every UDP responder socket: room for a
// burst of tens of thousands of probes while the serving goroutines catch up.
const udpRcvBuf = 16 << 20

// udpWorkers is how many goroutines serve each UDP responder socket.
func udpWorkers() int { return min(runtime.NumCPU(), 4) }

// udpMaxDatagram is the largest UDP payload over IPv4.
const udpMaxDatagram = 65507

// udpErrorPause is how long a serving goroutine waits after a read error
// other than the socket being closed, so that it cannot spin.
const udpErrorPause = time.Millisecond

// startResponders opens the UDP responder sockets: AnyIPUDPPorts bound to
// 0.0.0.0 in R (answering for the whole AnyIP range and R's own
// addresses), and each LAN host's UDPPorts bound to its address.
func (l *Lab) startResponders(context.Context) error {
	t := l.truth
	var wild []endpoint
	for _, p := range t.AnyIPUDPPorts {
		wild = append(wild, endpoint{port: p})
	}
	if err := l.respondIn(l.RemoteNS(), wild); err != nil {
		return err
	}
	for i, h := range t.Hosts {
		var eps []endpoint
		for _, p := range h.UDPPorts {
			eps = append(eps, endpoint{addr: h.Addr.As4(), port: p})
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
	var conns []*ipv4.PacketConn
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
			conns = append(conns, ipv4.NewPacketConn(c))
			answers = append(answers, answer)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i, pc := range conns {
		// IP_PKTINFO: every datagram reports the address it was sent to, and
		// each reply names that address as its source.
		if err := pc.SetControlMessage(ipv4.FlagDst, true); err != nil {
			return fmt.Errorf("lab: IP_PKTINFO on UDP responder in %s: %w", ns, err)
		}
		for range udpWorkers() {
			l.serving.Go(func() { serveUDP(pc, answers[i]) })
		}
	}
	return nil
}

// listenUDP opens a UDP socket bound to addr:port in the current thread's
// namespace and hands it to the Go runtime's poller. IP_FREEBIND lets it
// bind any address.
func listenUDP(addr [4]byte, port uint16) (*net.UDPConn, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	fail := func(what string, err error) (*net.UDPConn, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("%s %v:%d: %w", what, net.IP(addr[:]), port, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fail("SO_REUSEADDR", err)
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_FREEBIND, 1); err != nil {
		return fail("IP_FREEBIND", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, udpRcvBuf); err != nil {
		return fail("SO_RCVBUFFORCE", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: int(port), Addr: addr}); err != nil {
		return fail("bind", err)
	}
	f := os.NewFile(uintptr(fd), fmt.Sprintf("udp %v:%d", net.IP(addr[:]), port))
	c, err := net.FilePacketConn(f) // duplicates the descriptor
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("FilePacketConn %v:%d: %w", net.IP(addr[:]), port, err)
	}
	uc, ok := c.(*net.UDPConn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("FilePacketConn %v:%d: %T is not a UDP connection", net.IP(addr[:]), port, c)
	}
	return uc, nil
}

// serveUDP answers the datagrams arriving on pc with answer until pc is
// closed. Each reply leaves from the address and port the request was sent
// to (IP_PKTINFO), so a responder bound to 0.0.0.0 answers for every AnyIP
// address it receives.
func serveUDP(pc *ipv4.PacketConn, answer answerFunc) {
	buf := make([]byte, udpMaxDatagram)
	out := make([]byte, 0, 1500)
	for {
		n, cm, src, err := pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(udpErrorPause)
			continue
		}
		var local netip.Addr
		var wcm *ipv4.ControlMessage
		if cm != nil && cm.Dst != nil {
			local, _ = netip.AddrFromSlice(cm.Dst.To4())
			wcm = &ipv4.ControlMessage{Src: cm.Dst}
		}
		if reply := answer(buf[:n], local, time.Now(), out[:0]); reply != nil {
			// A failed send is a lost reply, as on a real network.
			_, _ = pc.WriteTo(reply, wcm, src)
		}
	}
}

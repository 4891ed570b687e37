package route

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// maxFramesPerReceive bounds the frames one receive call drains, so a flood
// of ARP traffic cannot stall the request schedule.
const maxFramesPerReceive = 256

// Resolve finds the MAC addresses of ips on the interface ifc. Addresses in
// the kernel's neighbour table are taken from there; for the others Resolve
// broadcasts its own ARP requests from srcIP (and ifc's MAC), at most rate
// per second (rate <= 0: no limit), with ResolveARP's retries on timeouts
// adapted to the round trips measured, each at most maxWait (0: the default).
//
// The map holds the addresses found; the others are absent. The family of
// srcIP chooses the protocol: with an IPv4 srcIP, Resolve resolves the IPv4
// addresses of ips with ARP; with an IPv6 srcIP (an address of ifc, global
// or link-local), the IPv6 addresses of ips with NDP (the kernel's neighbour
// cache, then OpenNDP and ResolveNDP: neighbour solicitations at most rate
// per second). Addresses of the other family are never found, and neither
// are hosts that do not answer. When ctx ends first, Resolve returns what
// it found so far together with ctx's error.
func Resolve(ctx context.Context, ifc net.Interface, srcIP netip.Addr, ips []netip.Addr, rate int, maxWait time.Duration) (map[netip.Addr][6]byte, error) {
	if isIPv6(srcIP.WithZone("")) {
		return resolveWith(ctx, ifc, srcIP, ips, rate, maxWait, OpenNDP, KnownNDP, ResolveNDP)
	}
	return resolveWith(ctx, ifc, srcIP, ips, rate, maxWait, OpenARP, Known, ResolveARP)
}

// resolveWith is Resolve's one sequence for both protocols: open the socket,
// take what the kernel's neighbour table already knows (known), then ask for
// the rest (resolve).
func resolveWith(ctx context.Context, ifc net.Interface, srcIP netip.Addr, ips []netip.Addr, rate int, maxWait time.Duration,
	open func(net.Interface) (ARPConn, error),
	known func(ARPConn, []netip.Addr, map[netip.Addr][6]byte) ([]netip.Addr, error),
	resolve func(context.Context, ARPConn, []netip.Addr, ARPOptions, func(netip.Addr, [6]byte)) (ARPStats, error),
) (map[netip.Addr][6]byte, error) {
	found := make(map[netip.Addr][6]byte, len(ips))
	c, err := open(ifc)
	if err != nil {
		return found, err
	}
	defer c.Close()
	todo, err := known(c, ips, found)
	if err != nil || len(todo) == 0 {
		return found, err
	}
	o := ARPOptions{SrcIP: srcIP, Rate: rate, MaxTimeout: maxWait}
	copy(o.SrcMAC[:], ifc.HardwareAddr)
	_, err = resolve(ctx, c, todo, o, func(ip netip.Addr, mac [6]byte) { found[ip] = mac })
	if err != nil {
		return found, fmt.Errorf("route: resolving on %q: %w", ifc.Name, err)
	}
	return found, nil
}

// Known puts the addresses of ips that c's neighbour table knows into found and
// returns the others (IPv4 only, each once), in their order.
func Known(c ARPConn, ips []netip.Addr, found map[netip.Addr][6]byte) ([]netip.Addr, error) {
	return knownOf(c, ips, found, func(ip netip.Addr) (netip.Addr, bool) { return ip, ip.Is4() })
}

// knownOf is Known and KnownNDP: wants normalises an address of ips and says
// whether it is of the protocol's family.
func knownOf(c ARPConn, ips []netip.Addr, found map[netip.Addr][6]byte, wants func(netip.Addr) (netip.Addr, bool)) ([]netip.Addr, error) {
	table, err := c.Neighbors()
	if err != nil {
		return nil, err
	}
	seen := make(map[netip.Addr]bool, len(ips))
	var todo []netip.Addr
	for _, ip := range ips {
		ip, ok := wants(ip)
		if !ok || seen[ip] {
			continue
		}
		seen[ip] = true
		if mac, ok := table[ip]; ok {
			found[ip] = mac
		} else {
			todo = append(todo, ip)
		}
	}
	return todo, nil
}

// OpenARP opens an AF_PACKET socket that sends and receives ARP frames on ifc
// (CAP_NET_RAW), for ResolveARP; its Neighbors reads the kernel's neighbour table
// of ifc.
func OpenARP(ifc net.Interface) (ARPConn, error) {
	if len(ifc.HardwareAddr) != 6 {
		return nil, fmt.Errorf("route: interface %q has no Ethernet address to ARP from", ifc.Name)
	}
	a, err := openARPSocket(ifc.Index)
	if err != nil {
		return nil, err
	}
	return a, nil
}

// arpSocket is an AF_PACKET socket that sends and receives ARP frames on one
// interface.
type arpSocket struct {
	fd      int
	ifindex int
	buf     []byte
}

func openARPSocket(ifindex int) (*arpSocket, error) {
	proto := htons(unix.ETH_P_ARP)
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(proto))
	if err != nil {
		return nil, fmt.Errorf("route: ARP socket: %w", err)
	}
	// Our own broadcasts would otherwise loop back to us.
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("route: ARP socket PACKET_IGNORE_OUTGOING: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifindex}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("route: bind ARP socket to interface %d: %w", ifindex, err)
	}
	return &arpSocket{fd: fd, ifindex: ifindex, buf: make([]byte, 1600)}, nil
}

// Close implements ARPConn.
func (a *arpSocket) Close() error { return unix.Close(a.fd) }

// Now implements ARPConn: the wall clock.
func (a *arpSocket) Now() time.Time { return time.Now() }

// Neighbors implements ARPConn: the kernel's neighbour table of the interface.
func (a *arpSocket) Neighbors() (map[netip.Addr][6]byte, error) {
	return neighbors(a.ifindex, false)
}

// Send implements ARPConn, retrying briefly while the socket's buffer is full.
func (a *arpSocket) Send(frame []byte) error {
	for range 100 {
		_, err := unix.Write(a.fd, frame)
		if err != unix.EINTR && err != unix.EAGAIN && err != unix.ENOBUFS {
			return err
		}
		time.Sleep(time.Millisecond)
	}
	return unix.ENOBUFS
}

// Receive implements ARPConn: it waits up to timeout (ppoll, to the
// microsecond) and drains the ARP frames queued.
func (a *arpSocket) Receive(timeout time.Duration, fn func(frame []byte)) error {
	ts := unix.NsecToTimespec(max(timeout, 0).Nanoseconds())
	pfd := [1]unix.PollFd{{Fd: int32(a.fd), Events: unix.POLLIN}}
	if _, err := unix.Ppoll(pfd[:], &ts, nil); err != nil && err != unix.EINTR {
		return err
	}
	for range maxFramesPerReceive {
		n, _, err := unix.Recvfrom(a.fd, a.buf, unix.MSG_DONTWAIT)
		if err == unix.EAGAIN || err == unix.EINTR {
			return nil
		}
		if err != nil {
			return err
		}
		fn(a.buf[:n])
	}
	return nil
}

// htons converts a 16-bit value to network byte order.
func htons(v uint16) uint16 { return v<<8 | v>>8 }

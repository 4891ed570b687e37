package route

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fastscan/fastscan/packet"
)

// resolvePollInterval bounds how long Resolve sleeps between checks of its
// context.
const resolvePollInterval = 50 * time.Millisecond

// maxFramesPerReceive bounds the frames one receive call drains, so a flood
// of ARP traffic cannot stall the request schedule.
const maxFramesPerReceive = 256

// Resolve finds the MAC addresses of ips on the interface ifc. Addresses in
// the kernel's neighbour table are taken from there; for the others Resolve
// broadcasts its own ARP requests from srcIP (and ifc's MAC), at most rate
// per second (rate <= 0: no limit), and collects the replies until all
// addresses are known or wait has passed since the last request.
//
// The map holds the addresses found; the others are absent. Only IPv4 is
// supported: srcIP must be an IPv4 address, and other addresses in ips are
// never found. When ctx ends first, Resolve returns what it found so far
// together with ctx's error.
func Resolve(ctx context.Context, ifc net.Interface, srcIP netip.Addr, ips []netip.Addr, rate int, wait time.Duration) (map[netip.Addr][6]byte, error) {
	found := make(map[netip.Addr][6]byte, len(ips))
	table, err := neighbors(ifc.Index)
	if err != nil {
		return found, err
	}
	wanted := make(map[netip.Addr]bool, len(ips))
	var todo []netip.Addr
	for _, ip := range ips {
		if !ip.Is4() {
			continue
		}
		if mac, ok := table[addrToUint32(ip)]; ok {
			found[ip] = mac
		} else if !wanted[ip] {
			wanted[ip] = true
			todo = append(todo, ip)
		}
	}
	if len(todo) == 0 {
		return found, nil
	}
	if !srcIP.Is4() {
		return found, fmt.Errorf("route: ARP on %q from %v: only IPv4 is supported", ifc.Name, srcIP)
	}
	if len(ifc.HardwareAddr) != 6 {
		return found, fmt.Errorf("route: interface %q has no Ethernet address to ARP from", ifc.Name)
	}
	var srcMAC [6]byte
	copy(srcMAC[:], ifc.HardwareAddr)

	a, err := openARPSocket(ifc.Index)
	if err != nil {
		return found, err
	}
	defer a.close()

	var interval time.Duration
	if rate > 0 {
		interval = time.Second / time.Duration(rate)
	}
	frame := make([]byte, packet.ARPFrameLen)
	next := 0              // index into todo of the next request
	nextSend := time.Now() // when it may go out
	var lastSent time.Time // when the latest request went out
	for len(wanted) > 0 {
		if err := ctx.Err(); err != nil {
			return found, fmt.Errorf("route: resolving on %q: %w", ifc.Name, err)
		}
		now := time.Now()
		for next < len(todo) && !now.Before(nextSend) {
			ip := todo[next]
			next++
			if !wanted[ip] {
				continue
			}
			n := packet.PutARPRequest(frame, srcMAC, addrToUint32(srcIP), addrToUint32(ip))
			if err := a.send(frame[:n]); err != nil {
				return found, fmt.Errorf("route: ARP request for %v on %q: %w", ip, ifc.Name, err)
			}
			lastSent = now
			nextSend = nextSend.Add(interval)
		}
		until := nextSend
		if next == len(todo) {
			until = lastSent.Add(wait)
			if !now.Before(until) {
				break
			}
		}
		if err := a.receive(min(until.Sub(now), resolvePollInterval), func(v uint32, mac [6]byte) {
			if ip := uint32ToAddr(v); wanted[ip] {
				delete(wanted, ip)
				found[ip] = mac
			}
		}); err != nil {
			return found, fmt.Errorf("route: ARP replies on %q: %w", ifc.Name, err)
		}
	}
	return found, nil
}

// arpSocket is an AF_PACKET socket that sends and receives ARP frames on one
// interface.
type arpSocket struct {
	fd  int
	buf []byte
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
	return &arpSocket{fd: fd, buf: make([]byte, 1600)}, nil
}

func (a *arpSocket) close() { unix.Close(a.fd) }

func (a *arpSocket) send(frame []byte) error {
	for range 100 {
		_, err := unix.Write(a.fd, frame)
		if err != unix.EINTR && err != unix.EAGAIN && err != unix.ENOBUFS {
			return err
		}
		time.Sleep(time.Millisecond)
	}
	return unix.ENOBUFS
}

// receive waits up to timeout for frames and calls fn for every ARP reply
// among those queued.
func (a *arpSocket) receive(timeout time.Duration, fn func(ip uint32, mac [6]byte)) error {
	ms := int((timeout + time.Millisecond - 1) / time.Millisecond)
	pfd := [1]unix.PollFd{{Fd: int32(a.fd), Events: unix.POLLIN}}
	if _, err := unix.Poll(pfd[:], max(ms, 0)); err != nil && err != unix.EINTR {
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
		if ip, mac, ok := packet.ParseARPReply(a.buf[:n]); ok {
			fn(ip, mac)
		}
	}
	return nil
}

// htons converts a 16-bit value to network byte order.
func htons(v uint16) uint16 { return v<<8 | v>>8 }

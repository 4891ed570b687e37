package lab

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// A LAN host with Host.ARPDelay set answers ARP late: its kernel does not answer
// ARP requests at all (arp_ignore=8, "reply for no local address"), and a
// responder of the lab's, on an AF_PACKET socket opened in the host's namespace,
// answers each request for the host's address ARPDelay after it arrived. netem
// would do the same on a real queue, but is not available on every kernel. The
// host's kernel still resolves the scanner itself (its own requests are
// answered), so its TCP and UDP answers are those of any other LAN host.

// lateARPPoll bounds a responder's wait, so that it sees the lab going down.
const lateARPPoll = 20 * time.Millisecond

// ARP frame layout (Ethernet + RFC 826 for Ethernet/IPv4): independent of
// fastscan's packet package, as the rest of the lab's truth.
const (
	ethTypeARP     = 0x0806
	arpFrameLen    = 14 + 28
	arpOpRequest   = 1
	arpOpReply     = 2
	arpOffOp       = 14 + 6
	arpOffSHA      = 14 + 8
	arpOffSPA      = 14 + 14
	arpOffTHA      = 14 + 18
	arpOffTPA      = 14 + 24
	ethPARPNetwork = 0x0608 // htons(ETH_P_ARP)
)

// startLateARP starts the late ARP responder of every LAN host with an ARPDelay
// (their kernels were told not to answer ARP: setSysctls), and its late NDP
// responder (latendp.go).
func (l *Lab) startLateARP(ctx context.Context) error {
	for i, h := range l.truth.Hosts {
		if h.ARPDelay <= 0 {
			continue
		}
		var fd int
		err := l.Do(l.HostNS(i), func() error {
			ifindex, err := ifIndex(HostIface)
			if err != nil {
				return err
			}
			fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, ethPARPNetwork)
			if err != nil {
				return fmt.Errorf("lab: ARP responder socket: %w", err)
			}
			if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: ethPARPNetwork, Ifindex: ifindex}); err != nil {
				unix.Close(fd)
				return fmt.Errorf("lab: bind ARP responder: %w", err)
			}
			return nil
		})
		if err != nil {
			return err
		}
		l.mu.Lock()
		if l.stopARP == nil {
			l.stopARP = make(chan struct{})
		}
		stop := l.stopARP
		l.mu.Unlock()
		l.serving.Go(func() { serveLateARP(fd, h, stop) })
		if err := l.startLateNDP(ctx, i, stop); err != nil {
			return err
		}
	}
	return nil
}

// ifIndex is the index of the interface name in the current thread's namespace.
func ifIndex(name string) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("lab: socket: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return 0, fmt.Errorf("lab: interface %s: %w", name, err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifr); err != nil {
		return 0, fmt.Errorf("lab: index of %s: %w", name, err)
	}
	return int(ifr.Uint32()), nil
}

// lateReply is an ARP reply waiting for its time.
type lateReply struct {
	due   time.Time
	frame [arpFrameLen]byte
}

// serveLateARP answers every ARP request for h's address on fd h.ARPDelay after
// it arrived, until stop is closed; it closes fd.
func serveLateARP(fd int, h Host, stop <-chan struct{}) {
	defer unix.Close(fd)
	var queue []lateReply
	buf := make([]byte, 1600)
	addr := h.Addr.As4()
	for {
		select {
		case <-stop:
			return
		default:
		}
		wait := lateARPPoll
		if len(queue) > 0 {
			wait = max(min(wait, time.Until(queue[0].due)), 0)
		}
		ts := unix.NsecToTimespec(wait.Nanoseconds())
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if _, err := unix.Ppoll(pfd, &ts, nil); err != nil && err != unix.EINTR {
			return
		}
		for {
			n, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT)
			if err != nil {
				break
			}
			if r, ok := arpReplyTo(buf[:n], h.MAC, addr); ok {
				queue = append(queue, lateReply{due: time.Now().Add(h.ARPDelay), frame: r})
			}
		}
		for len(queue) > 0 && !time.Now().Before(queue[0].due) {
			unix.Write(fd, queue[0].frame[:]) // a lost reply is a lost reply: the asker retries
			queue = queue[1:]
		}
	}
}

// arpReplyTo returns the reply to frame if it is an Ethernet/IPv4 ARP request for
// addr, answered by mac.
func arpReplyTo(frame []byte, mac [6]byte, addr [4]byte) (reply [arpFrameLen]byte, ok bool) {
	be := binary.BigEndian
	if len(frame) < arpFrameLen || be.Uint16(frame[12:]) != ethTypeARP ||
		be.Uint16(frame[14:]) != 1 || be.Uint16(frame[16:]) != 0x0800 || frame[18] != 6 || frame[19] != 4 ||
		be.Uint16(frame[arpOffOp:]) != arpOpRequest || [4]byte(frame[arpOffTPA:arpOffTPA+4]) != addr {
		return reply, false
	}
	asker := [6]byte(frame[arpOffSHA : arpOffSHA+6])
	copy(reply[0:6], asker[:])
	copy(reply[6:12], mac[:])
	be.PutUint16(reply[12:], ethTypeARP)
	be.PutUint16(reply[14:], 1)
	be.PutUint16(reply[16:], 0x0800)
	reply[18], reply[19] = 6, 4
	be.PutUint16(reply[arpOffOp:], arpOpReply)
	copy(reply[arpOffSHA:], mac[:])
	copy(reply[arpOffSPA:], addr[:])
	copy(reply[arpOffTHA:], asker[:])
	copy(reply[arpOffTPA:], frame[arpOffSPA:arpOffSPA+4])
	return reply, true
}

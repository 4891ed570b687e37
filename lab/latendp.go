package lab

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// A LAN host with Host.ARPDelay set also answers IPv6 neighbour
// solicitations late: an nftables rule in its namespace drops every
// neighbour solicitation on input, so its kernel answers none (it still
// resolves others itself: its own solicitations and the advertisements
// they get pass), and a responder of the lab's, on an AF_PACKET socket in
// its namespace (which sees frames before nftables does), answers each
// solicitation for Addr6 ARPDelay after it arrived with a solicited
// neighbour advertisement carrying the host's MAC. Written from RFC 4861,
// independent of fastscan's own NDP code.

// Frame layout of Ethernet + IPv6 + ICMPv6 neighbour discovery.
const (
	ethTypeIPv6    = 0x86dd
	ethPIPv6       = 0xdd86 // htons(ETH_P_IPV6)
	ip6HeaderLen   = 40
	ip6OffNextHdr  = 14 + 6
	ip6OffHopLimit = 14 + 7
	ip6OffSrc      = 14 + 8
	ip6OffDst      = 14 + 24
	icmp6Off       = 14 + ip6HeaderLen
	icmp6TypeNS    = 135
	icmp6TypeNA    = 136
	protoICMPv6    = 58
	ndMsgLen       = 24 // type, code, checksum, flags/reserved, target
	ndOptLLLen     = 8  // a link-layer address option for Ethernet
	ndOptSourceLL  = 1
	ndOptTargetLL  = 2
	naFrameLen     = icmp6Off + ndMsgLen + ndOptLLLen
	naFlags        = 0x60 // solicited and override
)

// lateNDPTable is the nftables table that silences a late host's kernel.
const lateNDPTable = "fastlab_latendp"

// startLateNDP starts the late NDP responder of LAN host i: the nftables rule
// that keeps its kernel from answering, and the goroutine that answers instead.
func (l *Lab) startLateNDP(ctx context.Context, i int, stop <-chan struct{}) error {
	h := l.truth.Hosts[i]
	rules := fmt.Sprintf(`table ip6 %s {
	chain input {
		type filter hook input priority 0; policy accept;
		icmpv6 type nd-neighbor-solicit drop
	}
}
`, lateNDPTable)
	if err := runTool(ctx, []byte(rules), "ip", "netns", "exec", l.HostNS(i), "nft", "-f", "-"); err != nil {
		return fmt.Errorf("lab: silencing NDP on %v: %w", h.Addr6, err)
	}
	var fd int
	err := l.Do(l.HostNS(i), func() error {
		ifindex, err := ifIndex(HostIface)
		if err != nil {
			return err
		}
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, ethPIPv6)
		if err != nil {
			return fmt.Errorf("lab: NDP responder socket: %w", err)
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: ethPIPv6, Ifindex: ifindex}); err != nil {
			unix.Close(fd)
			return fmt.Errorf("lab: bind NDP responder: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	l.serving.Go(func() { serveLateNDP(fd, h, stop) })
	return nil
}

// lateAdvert is a neighbour advertisement waiting for its time.
type lateAdvert struct {
	due   time.Time
	frame [naFrameLen]byte
}

// serveLateNDP answers every neighbour solicitation for h.Addr6 on fd
// h.ARPDelay after it arrived, until stop is closed; it closes fd.
func serveLateNDP(fd int, h Host, stop <-chan struct{}) {
	defer unix.Close(fd)
	var queue []lateAdvert
	buf := make([]byte, 1600)
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
			if a, ok := advertTo(buf[:n], h.MAC, h.Addr6); ok {
				queue = append(queue, lateAdvert{due: time.Now().Add(h.ARPDelay), frame: a})
			}
		}
		for len(queue) > 0 && !time.Now().Before(queue[0].due) {
			unix.Write(fd, queue[0].frame[:]) // a lost answer is a lost answer: the asker retries
			queue = queue[1:]
		}
	}
}

// advertTo returns the solicited neighbour advertisement that answers frame
// if it is a valid neighbour solicitation for addr (RFC 4861 section 7.1.1:
// hop limit 255, code 0, a correct checksum; not duplicate address
// detection, whose unspecified source gets no unicast answer), sent by mac.
func advertTo(frame []byte, mac [6]byte, addr netip.Addr) (na [naFrameLen]byte, ok bool) {
	be := binary.BigEndian
	if len(frame) < icmp6Off+ndMsgLen || be.Uint16(frame[12:]) != ethTypeIPv6 || frame[14]>>4 != 6 ||
		frame[ip6OffNextHdr] != protoICMPv6 || frame[ip6OffHopLimit] != 255 {
		return na, false
	}
	plen := int(be.Uint16(frame[18:]))
	if plen < ndMsgLen || icmp6Off+plen > len(frame) {
		return na, false
	}
	msg := frame[icmp6Off : icmp6Off+plen]
	target := addr.As16()
	if msg[0] != icmp6TypeNS || msg[1] != 0 || [16]byte(msg[8:24]) != target ||
		icmp6Sum(frame[ip6OffSrc:ip6OffSrc+16], frame[ip6OffDst:ip6OffDst+16], msg) != 0 {
		return na, false
	}
	src := netip.AddrFrom16([16]byte(frame[ip6OffSrc : ip6OffSrc+16]))
	if src.IsUnspecified() {
		return na, false
	}
	// The asker's MAC: its source link-layer address option, else the
	// frame's Ethernet source.
	asker := [6]byte(frame[6:12])
	for opts := msg[ndMsgLen:]; len(opts) >= 2 && opts[1] != 0 && int(opts[1])*8 <= len(opts); opts = opts[int(opts[1])*8:] {
		if opts[0] == ndOptSourceLL && opts[1] == 1 {
			asker = [6]byte(opts[2:8])
		}
	}
	copy(na[0:6], asker[:])
	copy(na[6:12], mac[:])
	be.PutUint16(na[12:], ethTypeIPv6)
	be.PutUint32(na[14:], 6<<28)
	be.PutUint16(na[18:], ndMsgLen+ndOptLLLen)
	na[ip6OffNextHdr], na[ip6OffHopLimit] = protoICMPv6, 255
	copy(na[ip6OffSrc:], target[:])
	copy(na[ip6OffDst:], src.AsSlice())
	a := na[icmp6Off:]
	a[0] = icmp6TypeNA
	a[4] = naFlags
	copy(a[8:24], target[:])
	a[24], a[25] = ndOptTargetLL, 1
	copy(a[26:32], mac[:])
	be.PutUint16(a[2:], icmp6Sum(na[ip6OffSrc:ip6OffSrc+16], na[ip6OffDst:ip6OffDst+16], a))
	return na, true
}

// icmp6Sum is the Internet checksum over the IPv6 pseudo-header (src, dst,
// the length of msg, next header 58) and msg: 0 when msg's checksum field is
// right, the value to put there when it holds 0.
func icmp6Sum(src, dst, msg []byte) uint16 {
	var sum uint32
	add := func(b []byte) {
		for ; len(b) >= 2; b = b[2:] {
			sum += uint32(binary.BigEndian.Uint16(b))
		}
		if len(b) == 1 {
			sum += uint32(b[0]) << 8
		}
	}
	add(src)
	add(dst)
	sum += uint32(len(msg)) + protoICMPv6
	add(msg)
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

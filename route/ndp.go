package route

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"

	"github.com/mdlayher/ndp"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// NDPConn is a link that carries IPv6 neighbour discovery frames (RFC 4861):
// ResolveNDP's only contact with the network and with time. It has ARPConn's
// methods with IPv6 meaning: Send transmits one Ethernet frame (a neighbour
// solicitation), Receive delivers Ethernet frames (neighbour advertisements
// among them), Neighbors returns the IPv6 neighbours the link already knows
// (the kernel's neighbour cache). OpenNDP returns the real one; tests may
// build their own from frames made and read with NeighborSolicitation,
// ParseNeighborSolicitation, NeighborAdvertisement and
// ParseNeighborAdvertisement. An NDPConn is used by one goroutine at a time.
type NDPConn = ARPConn

// NDPOptions set how ResolveNDP asks; the same fields as for ARP, with SrcIP
// an IPv6 address of the interface (global or link-local).
type NDPOptions = ARPOptions

// NDPStats is what one ResolveNDP did (Requests counts solicitations).
type NDPStats = ARPStats

// Sizes of the NDP frames this package builds: Ethernet (14) + IPv6 (40) +
// ICMPv6 neighbour solicitation or advertisement (24) + one link-layer
// address option (8).
const (
	NDPFrameLen = ethLen + ipv6Len + ndpMsgLen + ndpLLOptLen
	ethLen      = 14
	ipv6Len     = 40
	ndpMsgLen   = 24
	ndpLLOptLen = 8
)

// NDP constants (RFC 4861, RFC 4443).
const (
	ethTypeIPv6      = 0x86dd
	protoICMPv6      = 58
	ndpHopLimit      = 255 // every NDP message; a receiver drops others
	icmpv6NS         = 135
	icmpv6NA         = 136
	offIPv6NextHdr   = ethLen + 6
	offIPv6HopLimit  = ethLen + 7
	offIPv6Src       = ethLen + 8
	offIPv6Dst       = ethLen + 24
	offICMPv6        = ethLen + ipv6Len
	ndpAdvertFlagSol = 0x40 // the solicited flag (S) of a neighbour advertisement
)

// ResolveNDP finds the MAC addresses of ips (IPv6; others are ignored) by
// sending neighbour solicitations (to each address's solicited-node
// multicast group, from o.SrcIP and o.SrcMAC, with a source link-layer
// address option) on c at most o.Rate per second, and calls found, from the
// calling goroutine, as soon as each address's first neighbour
// advertisement arrives. The schedule is ResolveARP's: pipelined requests,
// retries first, timeouts adapted to the round trips measured, up to
// o.Retries more solicitations for an address that is silent (three in all,
// as the kernel's MAX_MULTICAST_SOLICIT). An address still silent after its
// last timeout is not found: the host does not answer NDP (NDPStats.Silent
// counts them). It does not look at c.Neighbors (see KnownNDP).
func ResolveNDP(ctx context.Context, c NDPConn, ips []netip.Addr, o NDPOptions, found func(ip netip.Addr, mac [6]byte)) (NDPStats, error) {
	src := o.SrcIP.WithZone("")
	p := solicitProto{
		name:     "NDP",
		frameLen: NDPFrameLen,
		wants:    isIPv6,
		put: func(frame []byte, target netip.Addr) int {
			return NeighborSolicitation(frame, o.SrcMAC, src, target)
		},
		parse: ParseNeighborAdvertisement,
	}
	if !isIPv6(src) {
		p.err = fmt.Errorf("route: NDP from %v: not an IPv6 address", o.SrcIP)
	}
	return solicit(ctx, c, ips, o, p, found)
}

// isIPv6 reports whether a is an IPv6 address (not IPv4, not IPv4-mapped).
func isIPv6(a netip.Addr) bool { return a.Is6() && !a.Is4In6() }

// KnownNDP puts the IPv6 addresses of ips that c's neighbour cache knows
// into found and returns the other IPv6 addresses (each once, without
// zone), in their order.
func KnownNDP(c NDPConn, ips []netip.Addr, found map[netip.Addr][6]byte) ([]netip.Addr, error) {
	return knownOf(c, ips, found, func(ip netip.Addr) (netip.Addr, bool) {
		ip = ip.WithZone("")
		return ip, isIPv6(ip)
	})
}

// SolicitedNodeMulticast returns the solicited-node multicast address of
// target (ff02::1:ffXX:XXXX, RFC 4291) and its Ethernet group address
// (33:33:ff:XX:XX:XX, RFC 2464).
func SolicitedNodeMulticast(target netip.Addr) (netip.Addr, [6]byte) {
	t := target.As16()
	ip := [16]byte{0: 0xff, 1: 0x02, 11: 0x01, 12: 0xff, 13: t[13], 14: t[14], 15: t[15]}
	return netip.AddrFrom16(ip), [6]byte{0x33, 0x33, 0xff, t[13], t[14], t[15]}
}

// NeighborSolicitation writes into frame (at least NDPFrameLen bytes) an
// Ethernet frame holding a neighbour solicitation for target from srcIP and
// srcMAC to target's solicited-node multicast group, hop limit 255, with a
// source link-layer address option, and returns its length (0 if frame is
// too short or an address is not IPv6). The ICMPv6 message is made by
// github.com/mdlayher/ndp.
func NeighborSolicitation(frame []byte, srcMAC [6]byte, srcIP, target netip.Addr) int {
	dstIP, dstMAC := SolicitedNodeMulticast(target)
	msg := &ndp.NeighborSolicitation{
		TargetAddress: target.WithZone(""),
		Options:       []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: net.HardwareAddr(srcMAC[:])}},
	}
	return putNDP(frame, srcMAC, dstMAC, srcIP, dstIP, msg)
}

// NeighborAdvertisement writes into frame (at least NDPFrameLen bytes) the
// solicited neighbour advertisement a host with address target and MAC mac
// sends to the soliciting dstIP and dstMAC (solicited and override flags
// set, a target link-layer address option), and returns its length (0 on
// bad input). For tests that answer ResolveNDP.
func NeighborAdvertisement(frame []byte, mac, dstMAC [6]byte, target, dstIP netip.Addr) int {
	msg := &ndp.NeighborAdvertisement{
		Solicited:     true,
		Override:      true,
		TargetAddress: target.WithZone(""),
		Options:       []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: net.HardwareAddr(mac[:])}},
	}
	return putNDP(frame, mac, dstMAC, target, dstIP, msg)
}

// putNDP writes Ethernet + IPv6 + the NDP message m (its ICMPv6 checksum
// computed over the pseudo-header) into frame.
func putNDP(frame []byte, srcMAC, dstMAC [6]byte, srcIP, dstIP netip.Addr, m ndp.Message) int {
	srcIP, dstIP = srcIP.WithZone(""), dstIP.WithZone("")
	if !isIPv6(srcIP) || !isIPv6(dstIP) {
		return 0
	}
	icmp, err := ndp.MarshalMessageChecksum(m, srcIP, dstIP)
	if err != nil || len(frame) < ethLen+ipv6Len+len(icmp) {
		return 0
	}
	copy(frame[0:6], dstMAC[:])
	copy(frame[6:12], srcMAC[:])
	binary.BigEndian.PutUint16(frame[12:], ethTypeIPv6)
	ip := frame[ethLen : ethLen+ipv6Len]
	binary.BigEndian.PutUint32(ip[0:], 6<<28) // version 6, traffic class 0, flow label 0
	binary.BigEndian.PutUint16(ip[4:], uint16(len(icmp)))
	ip[6], ip[7] = protoICMPv6, ndpHopLimit
	s, d := srcIP.As16(), dstIP.As16()
	copy(ip[8:24], s[:])
	copy(ip[24:40], d[:])
	copy(frame[offICMPv6:], icmp)
	return offICMPv6 + len(icmp)
}

// ndpMessage checks that frame is an Ethernet + IPv6 frame carrying, right
// after the IPv6 header, an ICMPv6 message of type typ with code 0, hop
// limit 255 and a correct checksum, and returns the message and the IPv6
// source.
func ndpMessage(frame []byte, typ byte) (msg []byte, src netip.Addr, ok bool) {
	if len(frame) < offICMPv6+ndpMsgLen || binary.BigEndian.Uint16(frame[12:]) != ethTypeIPv6 ||
		frame[ethLen]>>4 != 6 || frame[offIPv6NextHdr] != protoICMPv6 || frame[offIPv6HopLimit] != ndpHopLimit {
		return nil, src, false
	}
	plen := int(binary.BigEndian.Uint16(frame[ethLen+4:]))
	if plen < ndpMsgLen || offICMPv6+plen > len(frame) {
		return nil, src, false
	}
	msg = frame[offICMPv6 : offICMPv6+plen]
	if msg[0] != typ || msg[1] != 0 || icmpv6Checksum(frame[offIPv6Src:offIPv6Src+16], frame[offIPv6Dst:offIPv6Dst+16], msg) != 0 {
		return nil, src, false
	}
	return msg, netip.AddrFrom16([16]byte(frame[offIPv6Src : offIPv6Src+16])), true
}

// ParseNeighborAdvertisement reads a neighbour advertisement frame (as
// NDPConn.Receive delivers it): the target address it advertises and its
// MAC, from the target link-layer address option, or the frame's Ethernet
// source when the advertisement has none. ok is false for anything else,
// including a wrong hop limit, code or checksum.
func ParseNeighborAdvertisement(frame []byte) (target netip.Addr, mac [6]byte, ok bool) {
	b, _, ok := ndpMessage(frame, icmpv6NA)
	if !ok {
		return target, mac, false
	}
	m, err := ndp.ParseMessage(b)
	if err != nil {
		return target, mac, false
	}
	na, isNA := m.(*ndp.NeighborAdvertisement)
	if !isNA || na.TargetAddress.IsMulticast() {
		return target, mac, false
	}
	copy(mac[:], frame[6:12])
	for _, o := range na.Options {
		if lla, isLLA := o.(*ndp.LinkLayerAddress); isLLA && lla.Direction == ndp.Target && len(lla.Addr) == 6 {
			copy(mac[:], lla.Addr)
		}
	}
	return na.TargetAddress.WithZone(""), mac, true
}

// ParseNeighborSolicitation reads a neighbour solicitation frame: the
// target it asks for, and the asker's IPv6 source address and MAC (from the
// source link-layer address option, or the Ethernet source). For tests
// that answer ResolveNDP.
func ParseNeighborSolicitation(frame []byte) (target, srcIP netip.Addr, srcMAC [6]byte, ok bool) {
	b, src, ok := ndpMessage(frame, icmpv6NS)
	if !ok {
		return target, src, srcMAC, false
	}
	m, err := ndp.ParseMessage(b)
	if err != nil {
		return target, src, srcMAC, false
	}
	ns, isNS := m.(*ndp.NeighborSolicitation)
	if !isNS {
		return target, src, srcMAC, false
	}
	copy(srcMAC[:], frame[6:12])
	for _, o := range ns.Options {
		if lla, isLLA := o.(*ndp.LinkLayerAddress); isLLA && lla.Direction == ndp.Source && len(lla.Addr) == 6 {
			copy(srcMAC[:], lla.Addr)
		}
	}
	return ns.TargetAddress.WithZone(""), src, srcMAC, true
}

// icmpv6Checksum is the Internet checksum of the IPv6 pseudo-header (src,
// dst, length of msg, next header 58) and msg: 0 when msg's own checksum
// field is right.
func icmpv6Checksum(src, dst, msg []byte) uint16 {
	var sum uint32
	add := func(b []byte) {
		for len(b) >= 2 {
			sum += uint32(b[0])<<8 | uint32(b[1])
			b = b[2:]
		}
		if len(b) == 1 {
			sum += uint32(b[0]) << 8
		}
	}
	add(src)
	add(dst)
	sum += uint32(len(msg)>>16) + uint32(len(msg)&0xffff) + protoICMPv6
	add(msg)
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// OpenNDP opens an AF_PACKET socket on ifc (CAP_NET_RAW) that sends
// Ethernet frames and receives only ICMPv6 neighbour advertisements (a
// classic-BPF filter in the kernel: no other IPv6 traffic reaches it), for
// ResolveNDP; its Neighbors reads the kernel's IPv6 neighbour cache of ifc.
// Its own solicitations do not loop back to it.
func OpenNDP(ifc net.Interface) (NDPConn, error) {
	if len(ifc.HardwareAddr) != 6 {
		return nil, fmt.Errorf("route: interface %q has no Ethernet address to solicit from", ifc.Name)
	}
	filter, err := ndpFilter()
	if err != nil {
		return nil, err
	}
	proto := htons(ethTypeIPv6)
	// Protocol 0 until the filter is in place, so that nothing unfiltered
	// queues up before it.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("route: NDP socket: %w", err)
	}
	fail := func(what string, err error) (NDPConn, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("route: NDP socket %s: %w", what, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); err != nil {
		return fail("PACKET_IGNORE_OUTGOING", err)
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog); err != nil {
		return fail("SO_ATTACH_FILTER", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifc.Index}); err != nil {
		return fail(fmt.Sprintf("bind to interface %q", ifc.Name), err)
	}
	return &ndpSocket{arpSocket{fd: fd, ifindex: ifc.Index, buf: make([]byte, 1600)}}, nil
}

// ndpFilter accepts IPv6 frames whose next header is ICMPv6 and whose
// ICMPv6 type is neighbour advertisement (no extension headers: NDP
// messages carry none), and drops everything else.
func ndpFilter() ([]unix.SockFilter, error) {
	raw, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadAbsolute{Off: 12, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: ethTypeIPv6, SkipTrue: 5},
		bpf.LoadAbsolute{Off: offIPv6NextHdr, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: protoICMPv6, SkipTrue: 3},
		bpf.LoadAbsolute{Off: offICMPv6, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: icmpv6NA, SkipTrue: 1},
		bpf.RetConstant{Val: 0xffff},
		bpf.RetConstant{Val: 0},
	})
	if err != nil {
		return nil, fmt.Errorf("route: NDP filter: %w", err)
	}
	out := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		out[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	return out, nil
}

// ndpSocket is arpSocket with the IPv6 neighbour cache.
type ndpSocket struct{ arpSocket }

// Neighbors implements NDPConn: the kernel's IPv6 neighbour cache of the
// interface.
func (s *ndpSocket) Neighbors() (map[netip.Addr][6]byte, error) {
	return neighbors(s.ifindex, true)
}

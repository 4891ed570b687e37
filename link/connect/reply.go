package connect

import (
	"encoding/binary"
	"syscall"

	"github.com/fastscan/fastscan/packet"
)

// Offsets into a probe frame's head (slot.head) and a reply frame.
const (
	ipOff    = packet.EthernetHeaderLen
	tcpOff   = ipOff + packet.IPv4MinimumHeaderLen
	icmpOff  = ipOff + packet.IPv4MinimumHeaderLen
	quoteLen = packet.IPv4MinimumHeaderLen + packet.ICMPv4QuotedTransportLen

	tcpReplyLen  = tcpOff + packet.TCPMinimumHeaderLen
	icmpReplyLen = icmpOff + packet.ICMPv4HeaderLen + quoteLen
	replyLen     = max(tcpReplyLen, icmpReplyLen)
)

// FailedICMPCode is the ICMP destination-unreachable code a reply stands for
// when the kernel ended a connection with errno and no ICMP message: no route
// (ENETUNREACH: net unreachable, 0), no neighbour (EHOSTUNREACH, EHOSTDOWN:
// host unreachable, 1), forbidden by a local firewall or policy (EACCES, EPERM:
// administratively prohibited, 13). ok is false for any other errno: no reply,
// the connection's silence decides.
func FailedICMPCode(errno syscall.Errno) (code uint8, ok bool) {
	switch errno {
	case syscall.ENETUNREACH:
		return 0, true
	case syscall.EHOSTUNREACH, syscall.EHOSTDOWN:
		return 1, true
	case syscall.EACCES, syscall.EPERM:
		return 13, true
	}
	return 0, false
}

// putReply writes into dst the frame a SYN scan would have received for the
// probe whose frame starts with head, given how its connection ended, and
// returns its length; 0 for an outcome that stands for no reply. The frame is
// addressed to the probe's source address and port and acknowledges (or, an
// ICMP error, quotes) its sequence number; its TTL is 0, no reply having been
// seen. It allocates nothing.
func putReply(dst []byte, head *[headLen]byte, o *Outcome) int {
	// Ethernet: back to where the probe came from.
	copy(dst[0:6], head[6:12])
	copy(dst[6:12], head[0:6])
	binary.BigEndian.PutUint16(dst[12:], packet.EtherTypeIPv4)
	probeSrc := head[ipOff+packet.IPv4SrcAddrOffset : ipOff+packet.IPv4SrcAddrOffset+4]
	probeDst := head[ipOff+packet.IPv4DstAddrOffset : ipOff+packet.IPv4DstAddrOffset+4]

	switch o.Kind {
	case Connected, Refused:
		flags := packet.TCPFlagSYN | packet.TCPFlagACK
		if o.Kind == Refused {
			flags = packet.TCPFlagRST | packet.TCPFlagACK
		}
		putIPv4(dst[ipOff:], tcpReplyLen-ipOff, packet.ProtocolTCP, probeDst, probeSrc)
		t := dst[tcpOff:tcpReplyLen]
		clear(t)
		copy(t[0:2], head[tcpOff+2:tcpOff+4]) // source port: the probed port
		copy(t[2:4], head[tcpOff:tcpOff+2])   // destination port: the probe's source port
		seq := binary.BigEndian.Uint32(head[tcpOff+4:])
		binary.BigEndian.PutUint32(t[8:], seq+1) // acknowledges the probe's SYN
		t[12] = 5 << 4
		t[13] = flags
		pseudo := packet.PseudoHeaderChecksum(packet.ProtocolTCP, binary.BigEndian.Uint32(probeDst), binary.BigEndian.Uint32(probeSrc), uint16(len(t)))
		binary.BigEndian.PutUint16(t[16:], ^packet.Checksum(t, pseudo))
		return tcpReplyLen

	case Unreachable, Failed:
		typ, code := o.ICMPType, o.ICMPCode
		if o.Kind == Failed {
			c, ok := FailedICMPCode(o.Errno)
			if !ok {
				return 0
			}
			typ, code = packet.ICMPv4DestinationUnreachable, c
		}
		from := probeSrc // this host said so
		var f [4]byte
		if o.Kind == Unreachable && o.From.Is4() {
			f = o.From.As4()
			from = f[:]
		}
		putIPv4(dst[ipOff:], icmpReplyLen-ipOff, packet.ProtocolICMP, from, probeSrc)
		m := dst[icmpOff:icmpReplyLen]
		clear(m[:packet.ICMPv4HeaderLen])
		m[0], m[1] = typ, code
		copy(m[packet.ICMPv4HeaderLen:], head[ipOff:ipOff+quoteLen])
		binary.BigEndian.PutUint16(m[2:], packet.InternetChecksum(m))
		return icmpReplyLen
	}
	return 0
}

// putIPv4 writes a 20-byte IPv4 header with its checksum; TTL 0.
func putIPv4(b []byte, total int, proto uint8, src, dst []byte) {
	h := b[:packet.IPv4MinimumHeaderLen]
	clear(h)
	h[0] = packet.IPv4Version<<4 | packet.IPv4MinimumHeaderLen/4
	binary.BigEndian.PutUint16(h[packet.IPv4TotalLenOffset:], uint16(total))
	binary.BigEndian.PutUint16(h[packet.IPv4FlagsFragOffset:], packet.IPv4FlagDontFragment)
	h[packet.IPv4ProtocolOffset] = proto
	copy(h[packet.IPv4SrcAddrOffset:], src)
	copy(h[packet.IPv4DstAddrOffset:], dst)
	binary.BigEndian.PutUint16(h[packet.IPv4ChecksumOffset:], packet.InternetChecksum(h))
}

package packet

import "net/netip"

// ReplyKind classifies a reply to a probe: TCP SYN or UDP.
type ReplyKind uint8

// Reply kinds reported by [ParseReply] and [ParseReplyAny].
const (
	// ReplyNone is the zero value: not a reply.
	ReplyNone ReplyKind = iota
	// ReplySYNACK is a TCP segment with SYN and ACK set: the port is open.
	ReplySYNACK
	// ReplyRST is a TCP segment with RST and ACK set: the port is closed.
	ReplyRST
	// ReplyICMPUnreachable is an ICMPv4 destination unreachable error
	// quoting a TCP or UDP probe: the port or host is filtered, unreachable,
	// or (port unreachable for UDP) closed.
	ReplyICMPUnreachable
	// ReplyUDP is a UDP datagram: the probed UDP port answered.
	ReplyUDP
)

// String returns a short lower-case name of the kind.
func (k ReplyKind) String() string {
	switch k {
	case ReplyNone:
		return "none"
	case ReplySYNACK:
		return "syn-ack"
	case ReplyRST:
		return "rst"
	case ReplyICMPUnreachable:
		return "icmp-unreachable"
	case ReplyUDP:
		return "udp"
	}
	return "unknown"
}

// Reply is what [ParseReply] and [ParseReplyAny] extract from a candidate
// reply frame. The
// addresses of an IPv4 reply are in TargetIP, LocalIP and From; those of an
// IPv6 reply (IPv6 true) in Target6, Local6 and From6, the IPv4 fields then
// being zero. TargetAddr, LocalAddr and FromAddr give either as a
// [netip.Addr].
type Reply struct {
	Kind       ReplyKind
	TargetIP   uint32 // the probed address: IPv4 source of a TCP reply, quoted destination of an ICMP error
	TargetPort uint16 // the probed port
	LocalIP    uint32 // our address the probe was sent from
	LocalPort  uint16 // our source port of the probe
	Cookie     uint32 // the probe's sequence number: ack-1 of a TCP reply, quoted seq of ICMP
	Seq        uint32 // a TCP reply's own sequence number (0 in a RST answering a SYN, RFC 793)
	From       uint32 // IPv4 source of the reply packet (a router for ICMP)
	TTL        uint8  // TTL of the reply's IPv4 header, or hop limit of its IPv6 header
	// ICMPType and ICMPCode are, for ReplyICMPUnreachable, the ICMPv4 type and
	// code, or for an IPv6 reply the ICMPv6 ones (type 1, codes
	// ICMPv6NoRoute to ICMPv6HeadersTooLong), which mean other things.
	ICMPType uint8
	ICMPCode uint8
	// Proto is the transport protocol of the probe: ProtocolTCP or ProtocolUDP.
	Proto uint8
	// IPv6 reports an IPv6 reply: its addresses are Target6, Local6 and From6.
	IPv6 bool
	// PayloadOffset and PayloadLength locate in the frame, for ReplyUDP, the
	// datagram's payload, and for an ICMP error about a UDP probe, as much of the
	// probe's payload as was quoted (see Payload).
	PayloadOffset, PayloadLength int
	// Target6, Local6 and From6 are TargetIP, LocalIP and From of an IPv6
	// reply (IPv6 true); zero for an IPv4 reply.
	Target6, Local6, From6 [IPv6AddressLen]byte
}

// TargetAddr returns the probed address (TargetIP or Target6). It does not
// allocate.
func (r *Reply) TargetAddr() netip.Addr {
	if r.IPv6 {
		return netip.AddrFrom16(r.Target6)
	}
	return addrFrom4(r.TargetIP)
}

// LocalAddr returns our address the probe was sent from (LocalIP or Local6).
func (r *Reply) LocalAddr() netip.Addr {
	if r.IPv6 {
		return netip.AddrFrom16(r.Local6)
	}
	return addrFrom4(r.LocalIP)
}

// FromAddr returns the source address of the reply packet (From or From6).
func (r *Reply) FromAddr() netip.Addr {
	if r.IPv6 {
		return netip.AddrFrom16(r.From6)
	}
	return addrFrom4(r.From)
}

// FromTarget reports whether the reply came from the probed address itself
// (not from a router on the way).
func (r *Reply) FromTarget() bool {
	if r.IPv6 {
		return r.From6 == r.Target6
	}
	return r.From == r.TargetIP
}

func addrFrom4(a uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)})
}

// Payload returns the payload r locates in frame, the frame r was parsed from.
func (r *Reply) Payload(frame []byte) []byte {
	return frame[r.PayloadOffset : r.PayloadOffset+r.PayloadLength]
}

// ParseReply decodes frame, which starts at an Ethernet header, into r and
// reports whether it is a well-formed candidate reply to an IPv4 TCP SYN or
// UDP probe:
//
//   - an unfragmented IPv4 packet carrying a TCP segment with ACK and either
//     SYN ([ReplySYNACK]) or RST ([ReplyRST]) set; Cookie is the
//     acknowledgment number minus one; a segment with both SYN and RST
//     counts as RST;
//   - an unfragmented IPv4 packet carrying a UDP datagram ([ReplyUDP]); its
//     payload is located by PayloadOffset and PayloadLength;
//   - an unfragmented IPv4 packet carrying an ICMPv4 destination
//     unreachable error (codes 0 to 15) that quotes an IPv4 header with
//     protocol TCP or UDP and at least the first 8 bytes of its transport
//     header ([ReplyICMPUnreachable]); Proto says which, and for UDP the
//     quoted part of the probe's payload is located as for a datagram.
//
// IPv6 frames are refused: [ParseReplyAny] takes both families, for callers
// that look at [Reply.IPv6].
//
// Checksums are not verified; the caller authenticates replies with the
// cookie. Link-layer padding after the IP packet is ignored. On false, r is
// left in an unspecified state. ParseReply does not allocate and does not
// panic on any input.
func ParseReply(frame []byte, r *Reply) bool {
	if len(frame) < EthernetHeaderLen+IPv4MinimumHeaderLen || Ethernet(frame).Type() != EtherTypeIPv4 {
		return false
	}
	return parseReply4(frame, r)
}

// ParseReplyAny is [ParseReply] for either family. An IPv4 frame is parsed as
// ParseReply does; an IPv6 frame (r.IPv6 set, addresses in Target6, Local6
// and From6, hop limit in TTL) is a candidate reply when it carries the same
// three things over IPv6, the ICMP error being an ICMPv6 destination
// unreachable (type 1, codes 0 to 8, ICMPType and ICMPCode being ICMPv6's)
// quoting an IPv6 packet. Extension headers are skipped, in the reply and in
// the quoted packet, as [IPv6.Upper] does; the reply must not be a fragment
// (an atomic fragment is whole), the quoted packet not a non-first fragment.
// It does not allocate and does not panic on any input.
func ParseReplyAny(frame []byte, r *Reply) bool {
	if len(frame) < EthernetHeaderLen+IPv4MinimumHeaderLen {
		return false
	}
	switch Ethernet(frame).Type() {
	case EtherTypeIPv4:
		return parseReply4(frame, r)
	case EtherTypeIPv6:
		return parseReply6(frame, r)
	}
	return false
}

// parseReply4 is ParseReply for a frame whose EtherType is IPv4.
func parseReply4(frame []byte, r *Reply) bool {
	ip := IPv4(frame[EthernetHeaderLen:])
	if !ip.IsValid() || ip.IsFragment() {
		return false
	}
	payload := ip.Payload()
	switch ip.Protocol() {
	case ProtocolTCP:
		return parseTCPReply(ip, TCP(payload), r)
	case ProtocolICMP:
		return parseICMPReply(ip, ICMPv4(payload), r)
	case ProtocolUDP:
		return parseUDPReply(ip, UDP(payload), r)
	}
	return false
}

func parseUDPReply(ip IPv4, udp UDP, r *Reply) bool {
	if !udp.IsValid() {
		return false
	}
	src := ip.SourceAddress()
	r.set4(ReplyUDP, ProtocolUDP, src, ip.DestinationAddress(), src, udp.SourcePort(), udp.DestinationPort(), ip.TTL())
	// The payload follows the IPv4 and UDP headers.
	r.PayloadOffset = EthernetHeaderLen + ip.HeaderLength() + UDPHeaderLen
	r.PayloadLength = int(udp.Length()) - UDPHeaderLen
	return true
}

// set4 stores the fields every IPv4 reply has and zeroes the others. It
// writes them one by one: a composite literal would build the whole Reply
// (112 bytes) on the stack and copy it, measurably slower per reply. The IPv6
// addresses are zero already unless r held an IPv6 reply.
func (r *Reply) set4(kind ReplyKind, proto uint8, target, local, from uint32, targetPort, localPort uint16, ttl uint8) {
	if r.IPv6 {
		*r = Reply{}
	}
	r.Kind, r.Proto, r.TTL = kind, proto, ttl
	r.TargetIP, r.LocalIP, r.From = target, local, from
	r.TargetPort, r.LocalPort = targetPort, localPort
	r.Cookie, r.Seq = 0, 0
	r.ICMPType, r.ICMPCode = 0, 0
	r.PayloadOffset, r.PayloadLength = 0, 0
}

func parseTCPReply(ip IPv4, tcp TCP, r *Reply) bool {
	if !tcp.IsValid() {
		return false
	}
	var kind ReplyKind
	switch f := tcp.Flags(); {
	case f&TCPFlagACK == 0:
		return false
	case f&TCPFlagRST != 0:
		kind = ReplyRST
	case f&TCPFlagSYN != 0:
		kind = ReplySYNACK
	default:
		return false
	}
	src := ip.SourceAddress()
	r.set4(kind, ProtocolTCP, src, ip.DestinationAddress(), src, tcp.SourcePort(), tcp.DestinationPort(), ip.TTL())
	r.Cookie = tcp.AckNumber() - 1
	r.Seq = tcp.SequenceNumber()
	return true
}

// maxUnreachableCode is the highest destination unreachable code assigned
// (RFC 1812 section 5.2.7.1).
const maxUnreachableCode = ICMPv4PrecedenceCutoff

func parseICMPReply(ip IPv4, icmp ICMPv4, r *Reply) bool {
	if !icmp.IsValid() || icmp.Type() != ICMPv4DestinationUnreachable || icmp.Code() > maxUnreachableCode {
		return false
	}
	// The quoted datagram is truncated, so only its header is checked, not
	// its total length.
	quoted := IPv4(icmp.Payload())
	if len(quoted) < IPv4MinimumHeaderLen || quoted.Version() != IPv4Version {
		return false
	}
	hl := quoted.HeaderLength()
	proto := quoted.Protocol()
	if hl < IPv4MinimumHeaderLen || len(quoted) < hl+ICMPv4QuotedTransportLen ||
		(proto != ProtocolTCP && proto != ProtocolUDP) || quoted.FragmentOffset() != 0 {
		return false
	}
	// Both TCP and UDP start with the source and destination ports.
	tcp := TCP(quoted[hl:])
	r.set4(ReplyICMPUnreachable, proto, quoted.DestinationAddress(), quoted.SourceAddress(), ip.SourceAddress(),
		tcp.DestinationPort(), tcp.SourcePort(), ip.TTL())
	r.ICMPType, r.ICMPCode = icmp.Type(), icmp.Code()
	if proto == ProtocolTCP {
		r.Cookie = tcp.SequenceNumber()
	} else if len(quoted) > hl+UDPHeaderLen {
		r.PayloadOffset = EthernetHeaderLen + ip.HeaderLength() + ICMPv4HeaderLen + hl + UDPHeaderLen
		r.PayloadLength = len(quoted) - hl - UDPHeaderLen
	}
	return true
}

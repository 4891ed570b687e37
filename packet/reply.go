package packet

// ReplyKind classifies a reply to a probe: TCP SYN or UDP.
type ReplyKind uint8

// Reply kinds reported by [ParseReply].
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

// Reply is what [ParseReply] extracts from a candidate reply frame.
type Reply struct {
	Kind       ReplyKind
	TargetIP   uint32 // the probed address: IPv4 source of a TCP reply, quoted destination of an ICMP error
	TargetPort uint16 // the probed port
	LocalIP    uint32 // our address the probe was sent from
	LocalPort  uint16 // our source port of the probe
	Cookie     uint32 // the probe's sequence number: ack-1 of a TCP reply, quoted seq of ICMP
	Seq        uint32 // a TCP reply's own sequence number (0 in a RST answering a SYN, RFC 793)
	From       uint32 // IPv4 source of the reply packet (a router for ICMP)
	TTL        uint8  // TTL of the reply's IPv4 header
	ICMPType   uint8  // ICMP type, for ReplyICMPUnreachable
	ICMPCode   uint8  // ICMP code, for ReplyICMPUnreachable
	// Proto is the transport protocol of the probe: ProtocolTCP or ProtocolUDP.
	Proto uint8
	// PayloadOffset and PayloadLength locate in the frame, for ReplyUDP, the
	// datagram's payload, and for an ICMP error about a UDP probe, as much of the
	// probe's payload as was quoted (see Payload).
	PayloadOffset, PayloadLength int
}

// Payload returns the payload r locates in frame, the frame r was parsed from.
func (r *Reply) Payload(frame []byte) []byte {
	return frame[r.PayloadOffset : r.PayloadOffset+r.PayloadLength]
}

// ParseReply decodes frame, which starts at an Ethernet header, into r and
// reports whether it is a well-formed candidate reply to a TCP SYN or UDP probe:
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
// Checksums are not verified; the caller authenticates replies with the
// cookie. Link-layer padding after the IPv4 total length is ignored. On
// false, r is left in an unspecified state. ParseReply does not allocate and
// does not panic on any input.
func ParseReply(frame []byte, r *Reply) bool {
	if len(frame) < EthernetHeaderLen+IPv4MinimumHeaderLen || Ethernet(frame).Type() != EtherTypeIPv4 {
		return false
	}
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
	*r = Reply{
		Kind:       ReplyUDP,
		TargetIP:   src,
		TargetPort: udp.SourcePort(),
		LocalIP:    ip.DestinationAddress(),
		LocalPort:  udp.DestinationPort(),
		From:       src,
		TTL:        ip.TTL(),
		Proto:      ProtocolUDP,
		// The payload follows the IPv4 and UDP headers.
		PayloadOffset: EthernetHeaderLen + ip.HeaderLength() + UDPHeaderLen,
		PayloadLength: int(udp.Length()) - UDPHeaderLen,
	}
	return true
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
	*r = Reply{
		Kind:       kind,
		TargetIP:   src,
		TargetPort: tcp.SourcePort(),
		LocalIP:    ip.DestinationAddress(),
		LocalPort:  tcp.DestinationPort(),
		Cookie:     tcp.AckNumber() - 1,
		Seq:        tcp.SequenceNumber(),
		From:       src,
		TTL:        ip.TTL(),
		Proto:      ProtocolTCP,
	}
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
	*r = Reply{
		Kind:       ReplyICMPUnreachable,
		TargetIP:   quoted.DestinationAddress(),
		TargetPort: tcp.DestinationPort(),
		LocalIP:    quoted.SourceAddress(),
		LocalPort:  tcp.SourcePort(),
		From:       ip.SourceAddress(),
		TTL:        ip.TTL(),
		ICMPType:   icmp.Type(),
		ICMPCode:   icmp.Code(),
		Proto:      proto,
	}
	if proto == ProtocolTCP {
		r.Cookie = tcp.SequenceNumber()
	} else if len(quoted) > hl+UDPHeaderLen {
		r.PayloadOffset = EthernetHeaderLen + ip.HeaderLength() + ICMPv4HeaderLen + hl + UDPHeaderLen
		r.PayloadLength = len(quoted) - hl - UDPHeaderLen
	}
	return true
}

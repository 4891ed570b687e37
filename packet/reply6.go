package packet

// parseReply6 is ParseReply for a frame whose EtherType is IPv6.
func parseReply6(frame []byte, r *Reply) bool {
	ip := IPv6(frame[EthernetHeaderLen:])
	if !ip.IsValid() {
		return false
	}
	ip = ip[:IPv6HeaderLen+int(ip.PayloadLength())] // link-layer padding off
	u, ok := ip.Upper()
	if !ok || u.MoreFragments {
		return false // a non-first fragment, or a first one: not a whole packet
	}
	l4 := ip[u.Offset:]
	switch u.Protocol {
	case ProtocolTCP:
		return parseTCPReply6(ip, TCP(l4), r)
	case ProtocolUDP:
		return parseUDPReply6(ip, UDP(l4), u.Offset, r)
	case ProtocolICMPv6:
		return parseICMPv6Reply(ip, ICMPv6(l4), u.Offset, r)
	}
	return false
}

func parseTCPReply6(ip IPv6, tcp TCP, r *Reply) bool {
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
		TargetPort: tcp.SourcePort(),
		LocalPort:  tcp.DestinationPort(),
		Cookie:     tcp.AckNumber() - 1,
		Seq:        tcp.SequenceNumber(),
		TTL:        ip.HopLimit(),
		Proto:      ProtocolTCP,
		IPv6:       true,
		Target6:    src,
		Local6:     ip.DestinationAddress(),
		From6:      src,
	}
	return true
}

// parseUDPReply6 parses the datagram udp found at offset at of the IPv6 packet ip.
func parseUDPReply6(ip IPv6, udp UDP, at int, r *Reply) bool {
	if !udp.IsValid() {
		return false
	}
	src := ip.SourceAddress()
	*r = Reply{
		Kind:          ReplyUDP,
		TargetPort:    udp.SourcePort(),
		LocalPort:     udp.DestinationPort(),
		TTL:           ip.HopLimit(),
		Proto:         ProtocolUDP,
		IPv6:          true,
		PayloadOffset: EthernetHeaderLen + at + UDPHeaderLen,
		PayloadLength: int(udp.Length()) - UDPHeaderLen,
		Target6:       src,
		Local6:        ip.DestinationAddress(),
		From6:         src,
	}
	return true
}

// parseICMPv6Reply parses the ICMPv6 message icmp found at offset at of the
// IPv6 packet ip: a destination unreachable error quoting a TCP or UDP probe.
func parseICMPv6Reply(ip IPv6, icmp ICMPv6, at int, r *Reply) bool {
	if !icmp.IsValid() || icmp.Type() != ICMPv6DestinationUnreachable || icmp.Code() > ICMPv6HeadersTooLong {
		return false
	}
	// The quoted packet may be cut anywhere (RFC 4443 section 2.4 (c): as much
	// as fits in the minimum MTU), so its payload length is not checked: the
	// chain is walked within what was quoted.
	quoted := IPv6(icmp.Payload())
	if len(quoted) < IPv6HeaderLen || quoted.Version() != IPv6Version {
		return false
	}
	q, ok := quoted.Upper()
	if !ok || (q.Protocol != ProtocolTCP && q.Protocol != ProtocolUDP) || len(quoted) < q.Offset+UDPHeaderLen {
		return false
	}
	// Both TCP and UDP start with the source and destination ports; the first 8
	// bytes hold TCP's sequence number too.
	tcp := TCP(quoted[q.Offset:])
	*r = Reply{
		Kind:       ReplyICMPUnreachable,
		TargetPort: tcp.DestinationPort(),
		LocalPort:  tcp.SourcePort(),
		TTL:        ip.HopLimit(),
		ICMPType:   icmp.Type(),
		ICMPCode:   icmp.Code(),
		Proto:      q.Protocol,
		IPv6:       true,
		Target6:    quoted.DestinationAddress(),
		Local6:     quoted.SourceAddress(),
		From6:      ip.SourceAddress(),
	}
	if q.Protocol == ProtocolTCP {
		r.Cookie = tcp.SequenceNumber()
	} else if n := len(quoted) - q.Offset - UDPHeaderLen; n > 0 {
		// The quoted datagram's payload, no further than its length field says
		// when that is sane (the quote holds nothing after the probe anyway).
		if l := int(UDP(quoted[q.Offset:]).Length()) - UDPHeaderLen; l >= 0 && l < n {
			n = l
		}
		if n > 0 {
			r.PayloadOffset = EthernetHeaderLen + at + ICMPv6HeaderLen + q.Offset + UDPHeaderLen
			r.PayloadLength = n
		}
	}
	return true
}

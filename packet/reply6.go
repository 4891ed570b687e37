package packet

// parseReply6 is ParseReply for a frame whose EtherType is IPv6.
func parseReply6(frame []byte, r *Reply) bool {
	ip := IPv6(frame[EthernetHeaderLen:])
	if !ip.IsValid() {
		return false
	}
	ip = ip[:IPv6HeaderLen+int(ip.PayloadLength())] // link-layer padding off
	proto, off := ip.NextHeader(), IPv6HeaderLen
	if proto != ProtocolTCP && proto != ProtocolUDP && proto != ProtocolICMPv6 {
		var ok, more bool
		proto, off, _, _, more, ok = ip.upper()
		if !ok || more {
			return false // a non-first fragment, or a first one: not a whole packet
		}
	}
	l4 := ip[off:]
	switch proto {
	case ProtocolTCP:
		return parseTCPReply6(ip, TCP(l4), r)
	case ProtocolUDP:
		return parseUDPReply6(ip, UDP(l4), off, r)
	case ProtocolICMPv6:
		return parseICMPv6Reply(ip, ICMPv6(l4), off, r)
	}
	return false
}

// set6 stores the fields every IPv6 reply has and zeroes the others, one by
// one (see set4): target, local and from start with the 16 bytes of the
// addresses to copy (in ip, or in the packet an ICMPv6 error quotes).
func (r *Reply) set6(kind ReplyKind, proto uint8, ip IPv6, target, local, from []byte, targetPort, localPort uint16) {
	r.Kind, r.Proto, r.TTL, r.IPv6 = kind, proto, ip.HopLimit(), true
	r.TargetIP, r.LocalIP, r.From = 0, 0, 0
	r.TargetPort, r.LocalPort = targetPort, localPort
	r.Cookie, r.Seq = 0, 0
	r.ICMPType, r.ICMPCode = 0, 0
	r.PayloadOffset, r.PayloadLength = 0, 0
	r.Target6 = [IPv6AddressLen]byte(target)
	r.Local6 = [IPv6AddressLen]byte(local)
	r.From6 = [IPv6AddressLen]byte(from)
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
	src := ip[IPv6SrcAddrOffset:]
	r.set6(kind, ProtocolTCP, ip, src, ip[IPv6DstAddrOffset:], src, tcp.SourcePort(), tcp.DestinationPort())
	r.Cookie = tcp.AckNumber() - 1
	r.Seq = tcp.SequenceNumber()
	return true
}

// parseUDPReply6 parses the datagram udp found at offset at of the IPv6 packet ip.
func parseUDPReply6(ip IPv6, udp UDP, at int, r *Reply) bool {
	if !udp.IsValid() {
		return false
	}
	src := ip[IPv6SrcAddrOffset:]
	r.set6(ReplyUDP, ProtocolUDP, ip, src, ip[IPv6DstAddrOffset:], src, udp.SourcePort(), udp.DestinationPort())
	r.PayloadOffset = EthernetHeaderLen + at + UDPHeaderLen
	r.PayloadLength = int(udp.Length()) - UDPHeaderLen
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
	proto, qoff, _, _, _, ok := quoted.upper()
	if !ok || (proto != ProtocolTCP && proto != ProtocolUDP) || len(quoted) < qoff+UDPHeaderLen {
		return false
	}
	// Both TCP and UDP start with the source and destination ports; the first 8
	// bytes hold TCP's sequence number too.
	tcp := TCP(quoted[qoff:])
	r.set6(ReplyICMPUnreachable, proto, ip, quoted[IPv6DstAddrOffset:], quoted[IPv6SrcAddrOffset:], ip[IPv6SrcAddrOffset:],
		tcp.DestinationPort(), tcp.SourcePort())
	r.ICMPType, r.ICMPCode = icmp.Type(), icmp.Code()
	if proto == ProtocolTCP {
		r.Cookie = tcp.SequenceNumber()
	} else if n := len(quoted) - qoff - UDPHeaderLen; n > 0 {
		// The quoted datagram's payload, no further than its length field says
		// when that is sane (the quote holds nothing after the probe anyway).
		if l := int(UDP(quoted[qoff:]).Length()) - UDPHeaderLen; l >= 0 && l < n {
			n = l
		}
		if n > 0 {
			r.PayloadOffset = EthernetHeaderLen + at + ICMPv6HeaderLen + qoff + UDPHeaderLen
			r.PayloadLength = n
		}
	}
	return true
}

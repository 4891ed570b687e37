package udpprobe

// IsMessage reports whether reply, the payload of a UDP datagram from port,
// looks like a message of the protocol the port's probe speaks at all - a
// request, a response or an error, whatever it echoes - as opposed to
// something else entirely (a service on port 53 answering "pong"). It is the
// line between a reply that must echo the probe's cookie to count (a message
// of the protocol that does not echo it is forged or stale) and one that
// answers the probe without speaking its protocol, which proves the port open
// as any reply does. Ports whose probe has no cookie field return false.
// The checks are only those of each protocol's fixed header. IsMessage does
// not allocate.
func IsMessage(port uint16, reply []byte) bool {
	b := reply
	switch port {
	case 53, 137, 5353: // DNS, NetBIOS name service, mDNS: a 12-byte header with a defined opcode
		return len(b) >= 12 && b[2]>>3&0x0f <= 6 && b[2]>>3&0x0f != 3
	case 111: // ONC RPC: XID, then msg_type CALL (0) or REPLY (1)
		return len(b) >= 8 && be32(b[4:]) <= 1
	case 123: // NTP: 48-byte header, version 1 to 4
		return len(b) >= 48 && b[0]>>3&0x07 >= 1 && b[0]>>3&0x07 <= 4
	case 161: // SNMP: a BER SEQUENCE
		return len(b) >= 2 && b[0] == 0x30
	case 500: // IKE: 28-byte header, major version 1 or 2
		return len(b) >= 28 && (b[17]>>4 == 1 || b[17]>>4 == 2)
	case 5060: // SIP: a status line or a request line naming SIP/2.0
		line, _ := cutLine(b)
		return hasPrefix(line, "SIP/2.0 ") || (len(line) > 8 && equalFold(line[len(line)-8:], " SIP/2.0"))
	case 5683: // CoAP: version 1 in a 4-byte header, the token, a defined code; an
		// empty message (code 0.00: the bare ACK or reset an endpoint may answer
		// with) carries no token to echo, so it answers as a foreign reply does
		return len(b) >= 4 && b[0]>>6 == 1 && b[0]&0x0f <= 8 && len(b) >= 4+int(b[0]&0x0f) && b[1] != 0 && coapCode(b[1])
	case 11211: // memcached UDP frame header: reserved field zero
		return len(b) >= 8 && be16(b[6:]) == 0
	}
	return false
}

// coapCode reports whether c is a code of a class RFC 7252 section 12.1
// defines: empty or a method (class 0), a response (classes 2, 4 and 5).
func coapCode(c byte) bool {
	switch class, detail := c>>5, c&0x1f; class {
	case 0:
		return detail <= 7
	case 2, 4, 5:
		return true
	}
	return false
}

package udpprobe

// The reply parsers of ReplyCookie, one per protocol. Each checks the reply
// only as far as it must to be sure the echoed field is where it reads it,
// reads nothing out of bounds, and does not allocate.

// dnsReply reads the ID of a DNS (RFC 1035 section 4.1.1), Multicast DNS
// (RFC 6762 section 18) or NetBIOS name service (RFC 1002 section 4.2.1.1,
// the same header layout) response: a header with QR (R) set and opcode 0
// (QUERY), whatever its RCODE.
func dnsReply(b []byte) (uint64, bool) {
	const headerLen = 12
	if len(b) < headerLen || b[2]&0x80 == 0 || b[2]>>3&0x0f != 0 {
		return 0, false
	}
	return be16(b), true
}

// ntpReply reads the origin timestamp of an NTP server (mode 4) packet, the
// client's transmit timestamp copied back (RFC 5905 sections 7.3 and 9.2).
func ntpReply(b []byte) (uint64, bool) {
	const headerLen, originAt = 48, 24
	if len(b) < headerLen {
		return 0, false
	}
	version, mode := b[0]>>3&0x07, b[0]&0x07
	if mode != 4 || version < 1 || version > 4 {
		return 0, false
	}
	return be64(b[originAt:]), true
}

// rpcReply reads the XID of an ONC RPC reply message (RFC 5531 section 9):
// msg_type REPLY, then either MSG_ACCEPTED with a verifier of at most 400
// bytes and a known accept_stat, or MSG_DENIED with a known reject_stat.
func rpcReply(b []byte) (uint64, bool) {
	const (
		msgReply     = 1
		msgAccepted  = 0
		msgDenied    = 1
		maxAuthBytes = 400
		maxAccept    = 5 // SYSTEM_ERR
		maxReject    = 1 // AUTH_ERROR
	)
	if len(b) < 12 || be32(b[4:]) != msgReply {
		return 0, false
	}
	switch be32(b[8:]) {
	case msgAccepted:
		if len(b) < 20 {
			return 0, false
		}
		n := be32(b[16:]) // verifier body length
		if n > maxAuthBytes {
			return 0, false
		}
		at := 20 + int(n+3)&^3 // XDR pads opaque data to four bytes
		if len(b) < at+4 || be32(b[at:]) > maxAccept {
			return 0, false
		}
	case msgDenied:
		if len(b) < 16 || be32(b[12:]) > maxReject {
			return 0, false
		}
	default:
		return 0, false
	}
	return be32(b), true
}

// snmpReply reads the low three bytes of the request-id of an SNMP message
// carrying a Response-PDU (RFC 3416 section 3), whose first byte must be the
// probe's fixed snmpRequestIDHigh. The BER is walked, not assumed: any
// definite length form is accepted.
func snmpReply(b []byte) (uint64, bool) {
	const (
		tagInteger     = 0x02
		tagOctetString = 0x04
		tagSequence    = 0x30
		tagResponse    = 0xa2 // Response-PDU: [2] IMPLICIT, constructed
	)
	tag, msg, _, ok := berNext(b)
	if !ok || tag != tagSequence {
		return 0, false
	}
	tag, version, msg, ok := berNext(msg)
	if !ok || tag != tagInteger || len(version) != 1 || version[0] > 1 {
		return 0, false // not version-1 (0) or version-2c (1)
	}
	tag, _, msg, ok = berNext(msg)
	if !ok || tag != tagOctetString {
		return 0, false // community
	}
	tag, pdu, _, ok := berNext(msg)
	if !ok || tag != tagResponse {
		return 0, false
	}
	tag, id, _, ok := berNext(pdu)
	if !ok || tag != tagInteger || len(id) == 0 || len(id) > 5 {
		return 0, false
	}
	// The value, sign-extended from its first byte (an agent may encode it
	// with more bytes than needed): it must be 0x40 followed by the cookie.
	v := int64(int8(id[0]))
	for _, c := range id[1:] {
		v = v<<8 | int64(c)
	}
	if v>>24 != snmpRequestIDHigh {
		return 0, false
	}
	return uint64(v) & 0xffffff, true
}

// berNext splits b into the tag and contents of its first BER element
// (X.690 section 8.1) and the bytes after it. It accepts only single-byte
// tags and definite lengths of at most three length bytes, which covers any
// SNMP message that fits in a datagram.
func berNext(b []byte) (tag byte, content, rest []byte, ok bool) {
	if len(b) < 2 || b[0]&0x1f == 0x1f {
		return 0, nil, nil, false
	}
	tag, n, b := b[0], int(b[1]), b[2:]
	if n >= 0x80 {
		k := n & 0x7f
		if k == 0 || k > 3 || len(b) < k {
			return 0, nil, nil, false // indefinite, or too long for a datagram
		}
		n = 0
		for _, c := range b[:k] {
			n = n<<8 | int(c)
		}
		b = b[k:]
	}
	if n > len(b) {
		return 0, nil, nil, false
	}
	return tag, b[:n], b[n:], true
}

// ikeReply reads the cookie bytes of the initiator SPI of an IKE message
// (RFC 7296 section 3.1): an IKEv2 IKE_SA_INIT response, or any IKEv1
// (RFC 2408 section 3.1) message, as an IKEv1-only peer may answer with a
// notification; the SPI must start with the probe's fixed prefix.
func ikeReply(b []byte) (uint64, bool) {
	const (
		headerLen     = 28
		exchangeInit  = 34 // IKE_SA_INIT
		flagsResponse = 0x20
	)
	if len(b) < headerLen || string(b[:len(ikeSPIPrefix)]) != ikeSPIPrefix {
		return 0, false
	}
	if n := be32(b[24:]); n < headerLen || n > uint64(len(b)) {
		return 0, false
	}
	switch b[17] >> 4 {
	case 2:
		if b[18] != exchangeInit || b[19]&flagsResponse == 0 {
			return 0, false
		}
	case 1:
	default:
		return 0, false
	}
	return be64(b) & (1<<48 - 1), true
}

// coapReply reads the token of a CoAP response (RFC 7252 section 3): version
// 1, the probe's four-byte token, a response code (class 2, 4 or 5), and,
// when it is piggybacked in an ACK, the probe's Message ID. Empty ACK and
// Reset messages carry no token and so give no cookie.
func coapReply(b []byte) (uint64, bool) {
	const typeACK = 2
	if len(b) < 8 || b[0]>>6 != 1 || b[0]&0x0f != 4 {
		return 0, false
	}
	switch b[1] >> 5 {
	case 2, 4, 5:
	default:
		return 0, false
	}
	if b[0]>>4&0x03 == typeACK && string(b[2:4]) != coapMessageID {
		return 0, false
	}
	return be32(b[4:]), true
}

// memcachedReply reads the request ID of a memcached UDP frame header (a
// sequence number below the datagram count, the reserved field zero). The
// first datagram of a reply must start with an answer to "stats": a STAT
// line, END, or one of the error lines of memcached's protocol.txt; this
// also tells a reply from the request itself, whose header looks the same.
func memcachedReply(b []byte) (uint64, bool) {
	const headerLen = 8
	if len(b) < headerLen || be16(b[2:]) >= be16(b[4:]) || be16(b[6:]) != 0 {
		return 0, false
	}
	if be16(b[2:]) == 0 {
		body := b[headerLen:]
		if !hasPrefix(body, "STAT ") && !hasPrefix(body, "END\r\n") && !hasPrefix(body, "ERROR") &&
			!hasPrefix(body, "CLIENT_ERROR ") && !hasPrefix(body, "SERVER_ERROR ") {
			return 0, false
		}
	}
	return be16(b), true
}

// sipReply reads the hexadecimal cookie of the branch parameter of the
// topmost Via header field of a SIP response (RFC 3261 sections 7.2 and
// 20.42), in its long or compact ("v") form. Header names and the branch's
// magic cookie are matched regardless of case; the digits are returned in
// lower case, as Wire writes them. Folded header lines are not unfolded.
func sipReply(b []byte) (uint64, bool) {
	line, b := cutLine(b)
	// Status-Line: SIP-Version SP Status-Code SP Reason-Phrase
	const version = "SIP/2.0 "
	if len(line) < len(version)+4 || !equalFold(line[:len(version)], version) ||
		!isDigit(line[8]) || !isDigit(line[9]) || !isDigit(line[10]) || line[11] != ' ' {
		return 0, false
	}
	for len(b) > 0 {
		line, b = cutLine(b)
		if len(line) == 0 {
			break // end of the header fields
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue // continuation of a folded line
		}
		name, value, ok := cut(line, ':')
		if !ok {
			return 0, false
		}
		if name = trimSpace(name); equalFold(name, "via") || equalFold(name, "v") {
			return viaBranch(value)
		}
	}
	return 0, false
}

// viaBranch reads the cookie in the branch parameter of the first value of
// a Via header field.
func viaBranch(v []byte) (uint64, bool) {
	if first, _, ok := cut(v, ','); ok {
		v = first
	}
	_, params, _ := cut(v, ';') // skip sent-protocol and sent-by
	for len(params) > 0 {
		var param []byte
		param, params, _ = cut(params, ';')
		name, value, _ := cut(param, '=')
		if !equalFold(trimSpace(name), "branch") {
			continue
		}
		value = trimSpace(value)
		if len(value) != len(sipBranchPrefix)+sipCookieLen || !equalFold(value[:len(sipBranchPrefix)], sipBranchPrefix) {
			return 0, false
		}
		var w uint64
		for _, c := range value[len(sipBranchPrefix):] {
			switch {
			case '0' <= c && c <= '9', 'a' <= c && c <= 'f':
			case 'A' <= c && c <= 'F':
				c += 'a' - 'A'
			default:
				return 0, false
			}
			w = w<<8 | uint64(c)
		}
		return w, true
	}
	return 0, false
}

// cutLine splits b after its first line feed, returning the line without
// its terminator (CRLF, or a bare LF) and the rest.
func cutLine(b []byte) (line, rest []byte) {
	line, rest, _ = cut(b, '\n')
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, rest
}

// cut slices b around the first instance of sep, as bytes.Cut does for a
// single byte; without sep it returns b, nil, false.
func cut(b []byte, sep byte) (before, after []byte, found bool) {
	for i, c := range b {
		if c == sep {
			return b[:i], b[i+1:], true
		}
	}
	return b, nil, false
}

// trimSpace removes leading and trailing spaces and tabs.
func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// equalFold reports whether b and s are equal, ignoring ASCII case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		t := s[i]
		if 'A' <= t && t <= 'Z' {
			t += 'a' - 'A'
		}
		if c != t {
			return false
		}
	}
	return true
}

// hasPrefix reports whether b begins with s.
func hasPrefix(b []byte, s string) bool {
	return len(b) >= len(s) && string(b[:len(s)]) == s
}

// isDigit reports whether c is an ASCII decimal digit.
func isDigit(c byte) bool { return '0' <= c && c <= '9' }

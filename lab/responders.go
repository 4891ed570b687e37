package lab

import (
	"encoding/binary"
	"net/netip"
	"time"
)

// The lab's UDP responders answer well-formed requests of one protocol each
// and drop everything else. They are written from the RFCs: DNS (RFC 1035),
// NTP (RFC 5905) and SNMP v1/v2c (RFC 1157, RFC 3416) with BER (X.690).
// Each answer function appends its reply to out[:0] and returns it, or
// returns nil when the request gets no answer. None of them panics on any
// input (see the fuzz tests).

// answerFunc is the message handler of one UDP responder: req is the
// datagram, local the address it was sent to (the reply's source), now the
// time it arrived.
type answerFunc func(req []byte, local netip.Addr, now time.Time, out []byte) []byte

// Well-known UDP ports of the lab's responders.
const (
	portDNS  = 53
	portNTP  = 123
	portSNMP = 161
)

// udpAnswerer returns the responder for a UDP port, if the lab has one.
func udpAnswerer(port uint16) (answerFunc, bool) {
	switch port {
	case portDNS:
		return answerDNS, true
	case portNTP:
		return answerNTP, true
	case portSNMP:
		return answerSNMP, true
	}
	return nil, false
}

// UDPService returns the protocol of the lab's UDP responder on port:
// "dns" (53), "ntp" (123) or "snmp" (161); "" when the lab has no responder
// for that port. Truth's UDP ports only use ports with a responder.
//
// The DNS responder answers a standard query (opcode 0, one question,
// optionally one additional record such as an EDNS OPT) with an
// authoritative NOERROR response that copies the id, the RD bit and the
// question; it holds one answer record for A/IN (the probed IPv4 address),
// AAAA/IN (the probed IPv6 address) and
// TXT in class IN or CH (the string "fastscan lab"), none for other types.
// Other opcodes get a header-only NOTIMP response. The NTP responder answers a client request
// (mode 3, version 1-4, at least 48 bytes) with a stratum-1 server reply
// (mode 4) whose origin timestamp is the request's transmit timestamp. The
// SNMP responder answers a v1 or v2c GetRequest (any community) with a
// GetResponse carrying the same request-id, community and variable names:
// sysDescr.0, sysUpTime.0 and sysName.0 have values; other names are
// noSuchObject (v2c) or make the response a noSuchName error (v1).
func UDPService(port uint16) string {
	switch port {
	case portDNS:
		return "dns"
	case portNTP:
		return "ntp"
	case portSNMP:
		return "snmp"
	}
	return ""
}

// DNS (RFC 1035).

const (
	dnsHeaderLen  = 12
	dnsFlagQR     = 0x8000
	dnsFlagAA     = 0x0400
	dnsFlagRD     = 0x0100
	dnsRcodeNI    = 4 // NOTIMP
	dnsTypeA      = 1
	dnsTypeAAAA   = 28
	dnsTypeTXT    = 16
	dnsTypeOPT    = 41
	dnsClassIN    = 1
	dnsClassCH    = 3
	dnsTTL        = 60
	dnsMaxName    = 255
	dnsMaxLabel   = 63
	dnsNamePtrQ   = 0xc000 | dnsHeaderLen // compression pointer to the question's name
	dnsTXTContent = "fastscan lab"
)

// answerDNS answers a DNS query; see UDPService.
func answerDNS(req []byte, local netip.Addr, _ time.Time, out []byte) []byte {
	if len(req) < dnsHeaderLen {
		return nil
	}
	flags := binary.BigEndian.Uint16(req[2:])
	if flags&dnsFlagQR != 0 {
		return nil // a response, not a query
	}
	opcode := (flags >> 11) & 0xf
	qd := binary.BigEndian.Uint16(req[4:])
	an := binary.BigEndian.Uint16(req[6:])
	ns := binary.BigEndian.Uint16(req[8:])
	ar := binary.BigEndian.Uint16(req[10:])
	// The whole message must parse and end exactly after its records.
	off := dnsHeaderLen
	qEnd := -1
	for range qd {
		end, ok := dnsSkipName(req, off, false)
		if !ok || end+4 > len(req) {
			return nil
		}
		off = end + 4
		if qEnd < 0 {
			qEnd = off
		}
	}
	for i := range int(an) + int(ns) + int(ar) {
		end, ok := dnsSkipName(req, off, true)
		if !ok || end+10 > len(req) {
			return nil
		}
		rdlen := int(binary.BigEndian.Uint16(req[end+8:]))
		if end+10+rdlen > len(req) {
			return nil
		}
		if i >= int(an)+int(ns) && (binary.BigEndian.Uint16(req[end:]) != dnsTypeOPT || !dnsOptionsOK(req[end+10:end+10+rdlen])) {
			return nil // a query's only additional record is EDNS's OPT (RFC 6891)
		}
		off = end + 10 + rdlen
	}
	if off != len(req) {
		return nil
	}
	out = append(out[:0], req[0], req[1])
	if opcode != 0 {
		// Not implemented: a header-only response (RFC 1035 section 4.1.1).
		out = binary.BigEndian.AppendUint16(out, dnsFlagQR|opcode<<11|flags&dnsFlagRD|dnsRcodeNI)
		return append(out, 0, 0, 0, 0, 0, 0, 0, 0)
	}
	if qd != 1 || an != 0 || ns != 0 || ar > 1 {
		return nil
	}
	question := req[dnsHeaderLen:qEnd]
	qtype := binary.BigEndian.Uint16(req[qEnd-4:])
	qclass := binary.BigEndian.Uint16(req[qEnd-2:])
	var rdata []byte
	switch {
	case qtype == dnsTypeA && qclass == dnsClassIN && local.Is4():
		a := local.As4()
		rdata = a[:]
	case qtype == dnsTypeAAAA && qclass == dnsClassIN && local.Is6():
		a := local.As16()
		rdata = a[:]
	case qtype == dnsTypeTXT && (qclass == dnsClassIN || qclass == dnsClassCH):
		rdata = append([]byte{byte(len(dnsTXTContent))}, dnsTXTContent...)
	}
	answers := uint16(0)
	if rdata != nil {
		answers = 1
	}
	out = binary.BigEndian.AppendUint16(out, dnsFlagQR|dnsFlagAA|flags&dnsFlagRD) // NOERROR
	out = binary.BigEndian.AppendUint16(out, 1)
	out = binary.BigEndian.AppendUint16(out, answers)
	out = append(out, 0, 0, 0, 0) // no authority, no additional records
	out = append(out, question...)
	if rdata != nil {
		out = binary.BigEndian.AppendUint16(out, dnsNamePtrQ)
		out = binary.BigEndian.AppendUint16(out, qtype)
		out = binary.BigEndian.AppendUint16(out, qclass)
		out = binary.BigEndian.AppendUint32(out, dnsTTL)
		out = binary.BigEndian.AppendUint16(out, uint16(len(rdata)))
		out = append(out, rdata...)
	}
	return out
}

// dnsOptionsOK reports whether rdata is a well-formed sequence of EDNS options:
// code, length, and that many bytes, exactly filling it (RFC 6891 section 6.1.2).
func dnsOptionsOK(rdata []byte) bool {
	for len(rdata) > 0 {
		if len(rdata) < 4 {
			return false
		}
		n := 4 + int(binary.BigEndian.Uint16(rdata[2:]))
		if n > len(rdata) {
			return false
		}
		rdata = rdata[n:]
	}
	return true
}

// dnsSkipName checks the domain name at msg[off:] and returns the offset
// just after it. Compression pointers are allowed only when ptrOK, and only
// pointing backwards (they are not followed).
func dnsSkipName(msg []byte, off int, ptrOK bool) (int, bool) {
	nameLen := 0
	for off < len(msg) {
		l := int(msg[off])
		switch {
		case l == 0:
			return off + 1, nameLen+1 <= dnsMaxName
		case l&0xc0 == 0xc0:
			if !ptrOK || off+2 > len(msg) {
				return 0, false
			}
			target := int(binary.BigEndian.Uint16(msg[off:]) & 0x3fff)
			return off + 2, target >= dnsHeaderLen && target < off
		case l > dnsMaxLabel:
			return 0, false // 0x40 and 0x80 label types are not in use
		}
		nameLen += l + 1
		if nameLen > dnsMaxName {
			return 0, false
		}
		off += 1 + l
	}
	return 0, false
}

// NTP (RFC 5905).

const (
	ntpPacketLen   = 48
	ntpModeClient  = 3
	ntpModeServer  = 4
	ntpStratum     = 1
	ntpPrecision   = 0xec // -20: about a microsecond
	ntpUnixToNTP   = 2208988800
	ntpRefID       = "LAB\x00"
	ntpOffOrigin   = 24
	ntpOffReceive  = 32
	ntpOffTransmit = 40
)

// answerNTP answers an NTP client request; see UDPService.
func answerNTP(req []byte, _ netip.Addr, now time.Time, out []byte) []byte {
	// 48 bytes, optionally followed by extension fields and a MAC, all in
	// 32-bit words.
	if len(req) < ntpPacketLen || len(req)%4 != 0 {
		return nil
	}
	version := req[0] >> 3 & 7
	if req[0]&7 != ntpModeClient || version < 1 || version > 4 {
		return nil
	}
	ts := ntpTime(now)
	out = append(out[:0], version<<3|ntpModeServer, ntpStratum, req[2], ntpPrecision)
	out = append(out, 0, 0, 0, 0) // root delay
	out = append(out, 0, 0, 0, 1) // root dispersion: 2^-16 s
	out = append(out, ntpRefID...)
	out = binary.BigEndian.AppendUint64(out, ts) // reference: the clock is always fresh
	out = append(out, req[ntpOffTransmit:ntpOffTransmit+8]...)
	out = binary.BigEndian.AppendUint64(out, ts) // receive
	out = binary.BigEndian.AppendUint64(out, ts) // transmit
	return out
}

// ntpTime is t as a 64-bit NTP timestamp (seconds since 1900 and a binary
// fraction; the era wraps in 2036 as the format does).
func ntpTime(t time.Time) uint64 {
	secs := uint64(t.Unix()+ntpUnixToNTP) & 0xffffffff
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	return secs<<32 | frac
}

// SNMP v1/v2c (RFC 1157, RFC 3416) with BER (X.690) definite lengths.

const (
	berInteger     = 0x02
	berOctetString = 0x04
	berNull        = 0x05
	berOID         = 0x06
	berSequence    = 0x30
	berTimeTicks   = 0x43 // [APPLICATION 3]
	snmpGetRequest = 0xa0 // [0] GetRequest-PDU
	snmpResponse   = 0xa2 // [2] GetResponse-PDU / Response-PDU
	snmpNoSuchObj  = 0x80 // [0] noSuchObject (v2c)
	snmpV1         = 0
	snmpV2c        = 1
	snmpNoSuchName = 2 // v1 error-status
	snmpMaxBinds   = 32
	snmpSysDescr   = "fastscan lab SNMP responder"
	snmpSysName    = "fastlab"
)

// OIDs the SNMP responder knows, BER-encoded (contents only).
const (
	oidSysDescr  = "\x2b\x06\x01\x02\x01\x01\x01\x00" // 1.3.6.1.2.1.1.1.0
	oidSysUpTime = "\x2b\x06\x01\x02\x01\x01\x03\x00" // 1.3.6.1.2.1.1.3.0
	oidSysName   = "\x2b\x06\x01\x02\x01\x01\x05\x00" // 1.3.6.1.2.1.1.5.0
)

// berReadTLV splits one BER element off b: its tag, its contents and the
// bytes after it. Only single-byte tags and definite lengths of up to four
// bytes are accepted, as SNMP uses.
func berReadTLV(b []byte) (tag byte, body, rest []byte, ok bool) {
	if len(b) < 2 || b[0]&0x1f == 0x1f {
		return 0, nil, nil, false
	}
	tag, l, off := b[0], int(b[1]), 2
	if l&0x80 != 0 {
		n := l & 0x7f
		if n == 0 || n > 4 || len(b) < 2+n {
			return 0, nil, nil, false // indefinite or absurd length
		}
		l = 0
		for _, c := range b[2 : 2+n] {
			l = l<<8 | int(c)
		}
		off += n
	}
	if l < 0 || l > len(b)-off {
		return 0, nil, nil, false
	}
	return tag, b[off : off+l], b[off+l:], true
}

// berAppendTLV appends one BER element with a definite, minimal length;
// its contents are the concatenation of body.
func berAppendTLV(out []byte, tag byte, body ...[]byte) []byte {
	n := 0
	for _, b := range body {
		n += len(b)
	}
	out = append(out, tag)
	if n < 0x80 {
		out = append(out, byte(n))
	} else {
		var l [4]byte
		binary.BigEndian.PutUint32(l[:], uint32(n))
		i := 0
		for i < 3 && l[i] == 0 {
			i++
		}
		out = append(out, 0x80|byte(4-i))
		out = append(out, l[i:]...)
	}
	for _, b := range body {
		out = append(out, b...)
	}
	return out
}

// berUnsigned is the minimal INTEGER contents of the non-negative v: no
// superfluous leading zero byte, and one when the top bit would make it
// negative (X.690 section 8.3).
func berUnsigned(v uint32) []byte {
	var b [5]byte
	binary.BigEndian.PutUint32(b[1:], v)
	i := 0
	for i < 4 && b[i] == 0 && b[i+1]&0x80 == 0 {
		i++
	}
	return append([]byte(nil), b[i:]...)
}

// berValidInteger reports whether body is the contents of an INTEGER of at
// most size bytes.
func berValidInteger(body []byte, size int) bool {
	return len(body) >= 1 && len(body) <= size
}

// berValidOID reports whether body is well-formed OID contents: at least
// one subidentifier, and the last one complete.
func berValidOID(body []byte) bool {
	return len(body) >= 1 && len(body) <= 128 && body[len(body)-1]&0x80 == 0
}

// answerSNMP answers an SNMP v1/v2c GetRequest; see UDPService.
func answerSNMP(req []byte, _ netip.Addr, now time.Time, out []byte) []byte {
	tag, msg, rest, ok := berReadTLV(req)
	if !ok || tag != berSequence || len(rest) != 0 {
		return nil
	}
	tag, version, msg, ok := berReadTLV(msg)
	if !ok || tag != berInteger || len(version) != 1 || (version[0] != snmpV1 && version[0] != snmpV2c) {
		return nil
	}
	tag, community, msg, ok := berReadTLV(msg)
	if !ok || tag != berOctetString {
		return nil
	}
	tag, pdu, rest, ok := berReadTLV(msg)
	if !ok || tag != snmpGetRequest || len(rest) != 0 {
		return nil
	}
	// request-id, error-status, error-index, variable-bindings.
	var ints [3][]byte
	for i := range ints {
		if tag, ints[i], pdu, ok = berReadTLV(pdu); !ok || tag != berInteger || !berValidInteger(ints[i], 4) {
			return nil
		}
	}
	tag, binds, rest, ok := berReadTLV(pdu)
	if !ok || tag != berSequence || len(rest) != 0 {
		return nil
	}
	var names [][]byte
	for len(binds) > 0 {
		var bind, name []byte
		if tag, bind, binds, ok = berReadTLV(binds); !ok || tag != berSequence || len(names) == snmpMaxBinds {
			return nil
		}
		if tag, name, bind, ok = berReadTLV(bind); !ok || tag != berOID || !berValidOID(name) {
			return nil
		}
		if _, _, rest, ok = berReadTLV(bind); !ok || len(rest) != 0 {
			return nil
		}
		names = append(names, name)
	}

	errStatus, errIndex := 0, 0
	var list []byte
	for i, name := range names {
		value := snmpValue(name, now)
		if value == nil {
			if version[0] == snmpV2c {
				value = []byte{snmpNoSuchObj, 0}
			} else if errStatus == 0 {
				errStatus, errIndex = snmpNoSuchName, i+1
			}
		}
		if value == nil {
			value = []byte{berNull, 0}
		}
		list = berAppendTLV(list, berSequence, berAppendTLV(nil, berOID, name), value)
	}
	if errStatus != 0 {
		// A v1 error response returns the variable bindings as requested.
		list = list[:0]
		for _, name := range names {
			list = berAppendTLV(list, berSequence, berAppendTLV(nil, berOID, name), []byte{berNull, 0})
		}
	}
	body := berAppendTLV(nil, berInteger, ints[0])
	body = berAppendTLV(body, berInteger, []byte{byte(errStatus)})
	body = berAppendTLV(body, berInteger, []byte{byte(errIndex)})
	body = berAppendTLV(body, berSequence, list)
	return berAppendTLV(out[:0], berSequence,
		berAppendTLV(nil, berInteger, version),
		berAppendTLV(nil, berOctetString, community),
		berAppendTLV(nil, snmpResponse, body))
}

// snmpValue is the BER-encoded value of a known OID, or nil.
func snmpValue(oid []byte, now time.Time) []byte {
	switch string(oid) {
	case oidSysDescr:
		return berAppendTLV(nil, berOctetString, []byte(snmpSysDescr))
	case oidSysName:
		return berAppendTLV(nil, berOctetString, []byte(snmpSysName))
	case oidSysUpTime:
		// Hundredths of a second within the current day: a valid TimeTicks
		// that needs no state.
		ticks := uint32(now.UnixMilli() / 10 % (24 * 3600 * 100))
		return berAppendTLV(nil, berTimeTicks, berUnsigned(ticks))
	}
	return nil
}

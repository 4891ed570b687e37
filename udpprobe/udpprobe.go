// Package udpprobe holds the first datagram fastscan sends to a UDP port: a
// valid request of the service registered on that port (DNS, NTP, SNMP, ...),
// or nothing for ports it does not know, and the stateless cookie carried in
// those requests.
//
// A closed UDP port answers with an ICMP port unreachable whatever is sent to
// it, but an open one usually stays silent unless it is sent a request its
// service understands. Each request here is written from the protocol's
// specification so that a conforming server answers it.
//
// Most of these protocols echo a request identifier in their replies (the DNS
// ID, the NTP transmit timestamp, the SNMP request-id, the RPC XID, the SIP
// Via branch, ...). The scanner puts a keyed hash of the probe's flow there,
// its cookie, and accepts a reply only if it echoes the cookie of its flow,
// without keeping any state per probe:
//
//	p := udpprobe.ForPort(port)
//	n := p.Put(buf, cookie) // send buf[:n]
//	...
//	if udpprobe.Match(port, reply, cookie) { /* an answer to our probe */ }
//
// Nothing in this package sends or receives packets.
package udpprobe

import "encoding/binary"

// Probe is the request template of one UDP service. Probes are small values:
// copy them freely. The zero Probe, like the one ForPort returns for a port
// with no known service, has an empty payload and no cookie.
type Probe struct {
	// Name is the service's usual short name ("dns", "ntp", "snmp", ...);
	// empty for ports without a probe.
	Name string
	// Port is the UDP port the probe is sent to.
	Port uint16
	// Payload is the request, with the cookie field holding Wire(0). It is a
	// string so that the templates are constants: immutable, shared and free
	// to return.
	Payload string
	// CookieOffset and CookieLen locate the cookie field in Payload: Put writes
	// the low CookieLen bytes of Wire(cookie) there, most significant first.
	// CookieLen is 0 when the protocol echoes nothing (TFTP, SSDP, unknown
	// ports), and never more than 8.
	CookieOffset, CookieLen int
	// CookieHex reports that the field holds the cookie as CookieLen
	// lower-case hexadecimal digits (4*CookieLen bits) rather than as
	// CookieLen bytes, for text protocols (SIP).
	CookieHex bool
}

// hexDigits maps a nibble to its lower-case hexadecimal digit.
const hexDigits = "0123456789abcdef"

// Bits returns how many bits of a cookie the probe carries: 8*CookieLen for
// binary fields, 4*CookieLen for hexadecimal ones, 0 without a cookie.
func (p Probe) Bits() int {
	if p.CookieHex {
		return 4 * p.CookieLen
	}
	return 8 * p.CookieLen
}

// Wire returns the cookie field's content for cookie, as a number whose low
// CookieLen bytes, most significant first, are the field's bytes: the low
// CookieLen bytes of cookie for binary fields, the ASCII codes of the low
// 4*CookieLen bits of cookie in lower-case hexadecimal when CookieHex is set,
// and 0 for probes without a cookie.
//
// Wire is also the value ReplyCookie returns for a reply that echoes the
// probe Put(dst, cookie) wrote, so a reply matches when
// ReplyCookie(p.Port, reply) returns p.Wire(cookie). A probe template that
// patches the field itself (packet.UDPTemplate) is given Wire(cookie).
func (p Probe) Wire(cookie uint64) uint64 {
	if p.CookieHex {
		var w uint64
		for shift := 4 * (p.CookieLen - 1); shift >= 0; shift -= 4 {
			w = w<<8 | uint64(hexDigits[cookie>>uint(shift)&0xf])
		}
		return w
	}
	if p.CookieLen >= 8 {
		return cookie
	}
	return cookie & (1<<(8*uint(p.CookieLen)) - 1)
}

// Put writes the request into dst with Wire(cookie) in the cookie field and
// returns its length, len(p.Payload). Like binary.BigEndian.PutUint64, it
// panics if dst is too short. Put does not allocate.
func (p Probe) Put(dst []byte, cookie uint64) int {
	n := copy(dst[:len(p.Payload)], p.Payload)
	field := dst[p.CookieOffset : p.CookieOffset+p.CookieLen]
	w := p.Wire(cookie)
	for i := len(field) - 1; i >= 0; i-- {
		field[i] = byte(w)
		w >>= 8
	}
	return n
}

// ForPort returns the probe for a UDP destination port: the request of the
// service registered on it, or a Probe with only Port set, whose payload is
// empty, for a port without one. ForPort does not allocate.
func ForPort(port uint16) Probe {
	switch port {
	case 53:
		return dnsProbe()
	case 69:
		return tftpProbe()
	case 111:
		return portmapProbe()
	case 123:
		return ntpProbe()
	case 137:
		return netbiosProbe()
	case 161:
		return snmpProbe()
	case 500:
		return ikeProbe()
	case 1900:
		return ssdpProbe()
	case 5060:
		return sipProbe()
	case 5353:
		return mdnsProbe()
	case 5683:
		return coapProbe()
	case 11211:
		return memcachedProbe()
	}
	return Probe{Port: port}
}

// knownPorts returns the ports with a service probe, in ascending order.
func knownPorts() [12]uint16 {
	return [...]uint16{53, 69, 111, 123, 137, 161, 500, 1900, 5060, 5353, 5683, 11211}
}

// All returns every service probe, in ascending port order, in a new slice.
func All() []Probe {
	ports := knownPorts()
	all := make([]Probe, len(ports))
	for i, port := range ports {
		all[i] = ForPort(port)
	}
	return all
}

// Names returns the names of every service probe, in ascending port order,
// in a new slice.
func Names() []string {
	ports := knownPorts()
	names := make([]string, len(ports))
	for i, port := range ports {
		names[i] = ForPort(port).Name
	}
	return names
}

// ReplyCookie returns the cookie field echoed in reply, the payload of a UDP
// datagram that came from port, as Wire would write it (see Probe.Wire). It
// checks that reply is a well-formed response of the port's service up to
// the echoed field, and reports ok false when it is not, when the echo is
// incomplete, when the probe's fixed bytes around the field are not echoed
// as sent, or when the service echoes nothing of the request (TFTP, which
// answers from another port anyway, SSDP, and ports without a probe); cookie
// is then 0. ReplyCookie never panics and does not allocate.
func ReplyCookie(port uint16, reply []byte) (cookie uint64, ok bool) {
	switch port {
	case 53, 137, 5353: // DNS, NetBIOS and mDNS share the header layout
		return dnsReply(reply)
	case 111:
		return rpcReply(reply)
	case 123:
		return ntpReply(reply)
	case 161:
		return snmpReply(reply)
	case 500:
		return ikeReply(reply)
	case 5060:
		return sipReply(reply)
	case 5683:
		return coapReply(reply)
	case 11211:
		return memcachedReply(reply)
	}
	return 0, false
}

// Match reports whether reply, the payload of a UDP datagram from port,
// answers the probe ForPort(port).Put wrote with cookie. It does not
// allocate.
func Match(port uint16, reply []byte, cookie uint64) bool {
	got, ok := ReplyCookie(port, reply)
	return ok && got == ForPort(port).Wire(cookie)
}

// be16, be32 and be64 read big-endian numbers; callers check lengths.
func be16(b []byte) uint64 { return uint64(binary.BigEndian.Uint16(b)) }
func be32(b []byte) uint64 { return uint64(binary.BigEndian.Uint32(b)) }
func be64(b []byte) uint64 { return binary.BigEndian.Uint64(b) }

package udpprobe_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/fastscan/fastscan/udpprobe"
)

// replyCase is a realistic answer of a service to fastscan's request,
// built from the request the way the service's server builds it.
type replyCase struct {
	name  string
	port  uint16
	build func(t testing.TB, req []byte) []byte
	// minLen is the length below which a truncated reply no longer holds
	// the whole echo, so ReplyCookie must fail; 0 means the whole reply
	// (its length fields make any truncation malformed).
	minLen func(reply []byte) int
}

func fixedLen(n int) func([]byte) int { return func([]byte) int { return n } }

func replyCases() []replyCase {
	return []replyCase{
		{"dns version", 53, dnsVersionReply, fixedLen(12)},
		{"dns refused", 53, dnsRefusedReply, fixedLen(12)},
		{"mdns legacy unicast", 5353, mdnsReply, fixedLen(12)},
		{"ntp server", 123, ntpServerReply, fixedLen(48)},
		{"ntp kiss-o'-death", 123, ntpKoDReply, fixedLen(48)},
		{"snmp get-response", 161, snmpGetResponse, nil},
		{"netbios node status", 137, netbiosNodeStatusReply, fixedLen(12)},
		{"memcached stats", 11211, memcachedStatsReply, fixedLen(8 + len("STAT "))},
		{"memcached second datagram", 11211, memcachedSecondDatagram, fixedLen(8)},
		{"ike sa_init response", 500, ikeSAInitResponse, nil},
		{"ike no proposal chosen", 500, ikeNoProposalChosen, nil},
		{"ikev1 invalid major version", 500, ikev1Notification, nil},
		{"rpc accepted", 111, rpcAccepted, fixedLen(24)},
		{"rpc accepted with verifier", 111, rpcAcceptedVerifier, fixedLen(32)},
		{"rpc denied", 111, rpcDenied, fixedLen(16)},
		{"sip 200", 5060, sipOK, sipMinLen},
		{"sip compact 404", 5060, sipCompactNotFound, sipMinLen},
		{"coap piggybacked", 5683, coapPiggybacked, fixedLen(8)},
		{"coap separate", 5683, coapSeparate, fixedLen(8)},
		{"coap not found", 5683, coapNotFound, fixedLen(8)},
	}
}

func TestReplyCookieRoundTrip(t *testing.T) {
	for _, rc := range replyCases() {
		t.Run(rc.name, func(t *testing.T) {
			p := udpprobe.ForPort(rc.port)
			for _, cookie := range testCookies {
				reply := rc.build(t, put(t, p, cookie))
				got, ok := udpprobe.ReplyCookie(rc.port, reply)
				if !ok || got != p.Wire(cookie) {
					t.Fatalf("cookie %#x: ReplyCookie = %#x, %v; want %#x, true\nreply %q", cookie, got, ok, p.Wire(cookie), reply)
				}
				if !udpprobe.Match(rc.port, reply, cookie) {
					t.Errorf("cookie %#x: Match false", cookie)
				}
				if udpprobe.Match(rc.port, reply, cookie^1) || udpprobe.Match(rc.port, reply, cookie^1<<15) {
					t.Errorf("cookie %#x: Match true for another cookie", cookie)
				}
				minLen := len(reply)
				if rc.minLen != nil {
					minLen = rc.minLen(reply)
				}
				if minLen > len(reply) {
					t.Fatalf("minLen %d of a %d-byte reply", minLen, len(reply))
				}
				for n := range minLen {
					if c, ok := udpprobe.ReplyCookie(rc.port, reply[:n]); ok {
						t.Errorf("reply truncated to %d of %d bytes: ReplyCookie = %#x, true", n, len(reply), c)
					}
				}
			}
		})
	}
}

// TestRequestIsNotReply: a request reflected back (by a UDP echo service or
// a misconfigured host) must not count as an answer.
func TestRequestIsNotReply(t *testing.T) {
	for _, p := range udpprobe.All() {
		for _, cookie := range testCookies {
			if c, ok := udpprobe.ReplyCookie(p.Port, put(t, p, cookie)); ok {
				t.Errorf("%s: the request itself gives cookie %#x", p.Name, c)
			}
		}
	}
}

// mutate returns a copy of b changed by f.
func mutate(b []byte, f func(b []byte) []byte) []byte {
	return f(append([]byte(nil), b...))
}

func TestReplyCookieRejects(t *testing.T) {
	const cookie = 0x0123456789abcdef
	valid := map[string][]byte{}
	for _, rc := range replyCases() {
		valid[rc.name] = rc.build(t, put(t, udpprobe.ForPort(rc.port), cookie))
	}
	be := binary.BigEndian
	set := func(at int, v ...byte) func([]byte) []byte {
		return func(b []byte) []byte { copy(b[at:], v); return b }
	}
	replace := func(old, new string) func([]byte) []byte {
		return func(b []byte) []byte { return bytes.Replace(b, []byte(old), []byte(new), 1) }
	}
	branch := fmt.Sprintf("z9hG4bK%08x", cookie&0xffffffff)
	tests := []struct {
		name  string
		port  uint16
		reply []byte
	}{
		{"empty", 53, nil},
		{"dns short header", 53, valid["dns version"][:11]},
		{"dns opcode status", 53, mutate(valid["dns version"], set(2, 0x80|2<<3))},
		{"dns query bit clear", 53, mutate(valid["dns version"], set(2, 0x04))},
		{"mdns query", 5353, mutate(valid["mdns legacy unicast"], set(2, 0))},
		{"ntp client mode", 123, mutate(valid["ntp server"], set(0, 4<<3|3))},
		{"ntp broadcast mode", 123, mutate(valid["ntp server"], set(0, 4<<3|5))},
		{"ntp version 0", 123, mutate(valid["ntp server"], set(0, 0<<3|4))},
		{"ntp version 5", 123, mutate(valid["ntp server"], set(0, 5<<3|4))},
		{"snmp request-id high byte", 161, snmpWith(t, 161, cookie, func(id []byte) []byte { id[0] = 0x41; return id })},
		{"snmp request-id too long", 161, snmpWith(t, 161, cookie, func(id []byte) []byte { return append([]byte{0, 0}, id...) })},
		{"snmp request-id empty", 161, snmpWith(t, 161, cookie, func([]byte) []byte { return nil })},
		{"snmp get-request", 161, mutate(valid["snmp get-response"], replace("\xa2", "\xa0"))},
		{"snmp trap", 161, mutate(valid["snmp get-response"], replace("\xa2", "\xa7"))},
		{"snmp version 3", 161, mutate(valid["snmp get-response"], replace("\x02\x01\x01", "\x02\x01\x03"))},
		{"snmp not a sequence", 161, mutate(valid["snmp get-response"], set(0, 0x31))},
		{"snmp indefinite length", 161, mutate(valid["snmp get-response"], func(b []byte) []byte { return append([]byte{0x30, 0x80}, b[4:]...) })},
		{"snmp high tag number", 161, mutate(valid["snmp get-response"], set(0, 0x3f))},
		{"snmp overlong length", 161, mutate(valid["snmp get-response"], func(b []byte) []byte { return append([]byte{0x30, 0x84, 0, 0, 0, byte(len(b) - 3)}, b[3:]...) })},
		{"netbios request", 137, mutate(valid["netbios node status"], set(2, 0x04, 0x00))},
		{"memcached reserved", 11211, mutate(valid["memcached stats"], set(6, 0, 1))},
		{"memcached sequence past total", 11211, mutate(valid["memcached second datagram"], set(2, 0, 2))},
		{"memcached no datagrams", 11211, mutate(valid["memcached stats"], set(4, 0, 0))},
		{"memcached unknown answer", 11211, mutate(valid["memcached stats"], set(8, 'H', 'T', 'T', 'P', '/'))},
		{"ike foreign spi", 500, mutate(valid["ike no proposal chosen"], set(0, 'x'))},
		{"ike request flags", 500, mutate(valid["ike no proposal chosen"], set(19, 0x08))},
		{"ike other exchange", 500, mutate(valid["ike no proposal chosen"], set(18, 35))},
		{"ike version 3", 500, mutate(valid["ike no proposal chosen"], set(17, 0x30))},
		{"ike length short", 500, mutate(valid["ike no proposal chosen"], set(24, 0, 0, 0, 27))},
		{"ike length long", 500, mutate(valid["ike no proposal chosen"], func(b []byte) []byte { be.PutUint32(b[24:], uint32(len(b)+1)); return b })},
		{"rpc call", 111, mutate(valid["rpc accepted"], set(4, 0, 0, 0, 0))},
		{"rpc reply_stat 2", 111, mutate(valid["rpc accepted"], set(8, 0, 0, 0, 2))},
		{"rpc accept_stat 6", 111, mutate(valid["rpc accepted"], set(20, 0, 0, 0, 6))},
		{"rpc verifier too long", 111, mutate(valid["rpc accepted"], func(b []byte) []byte {
			be.PutUint32(b[16:], 401)
			return append(b, make([]byte, 404)...)
		})},
		{"rpc verifier past the end", 111, mutate(valid["rpc accepted with verifier"], set(16, 0, 0, 0, 12))},
		{"rpc reject_stat 2", 111, mutate(valid["rpc denied"], set(12, 0, 0, 0, 2))},
		{"sip request", 5060, mutate(valid["sip 200"], replace("SIP/2.0 200 OK", "OPTIONS sip:x SIP/2.0"))},
		{"sip bad status code", 5060, mutate(valid["sip 200"], replace("SIP/2.0 200 OK", "SIP/2.0 2x0 OK"))},
		{"sip four-digit status", 5060, mutate(valid["sip 200"], replace("SIP/2.0 200 OK", "SIP/2.0 2000 OK"))},
		{"sip short branch", 5060, mutate(valid["sip 200"], replace(branch, branch[:len(branch)-1]))},
		{"sip long branch", 5060, mutate(valid["sip 200"], replace(branch, branch+"0"))},
		{"sip branch not hex", 5060, mutate(valid["sip 200"], replace(branch, branch[:len(branch)-1]+"g"))},
		{"sip branch without magic cookie", 5060, mutate(valid["sip 200"], replace("z9hG4bK", "z9hG4bX"))},
		{"sip no branch", 5060, mutate(valid["sip 200"], replace(";branch=", ";xbranch="))},
		{"sip no via", 5060, mutate(valid["sip 200"], replace("Via:", "Xia:"))},
		{"sip header without colon", 5060, mutate(valid["sip 200"], replace("Via:", "Via"))},
		{"sip foreign via first", 5060, mutate(valid["sip 200"], replace("Via:", "Via: SIP/2.0/UDP proxy.example;branch=z9hG4bK776asdhds\r\nVia:"))},
		{"sip foreign via value first", 5060, mutate(valid["sip 200"], replace("Via: ", "Via: SIP/2.0/UDP proxy.example;branch=z9hG4bK776asdhds, "))},
		{"coap empty ack", 5683, mutate(valid["coap piggybacked"], func(b []byte) []byte { return []byte{0x60, 0, b[2], b[3]} })},
		{"coap reset", 5683, mutate(valid["coap piggybacked"], func(b []byte) []byte { return []byte{0x70, 0, b[2], b[3]} })},
		{"coap version 2", 5683, mutate(valid["coap piggybacked"], set(0, 0xa4))},
		{"coap other token length", 5683, mutate(valid["coap piggybacked"], set(0, 0x65))},
		{"coap ack with another message id", 5683, mutate(valid["coap piggybacked"], set(2, 0x12, 0x34))},
		{"coap request code", 5683, mutate(valid["coap piggybacked"], set(1, 0x01))},
		{"coap code class 3", 5683, mutate(valid["coap piggybacked"], set(1, 0x61))},
		{"tftp error", 69, []byte("\x00\x05\x00\x01File not found\x00")},
		{"ssdp response", 1900, []byte("HTTP/1.1 200 OK\r\nST: upnp:rootdevice\r\n\r\n")},
		{"garbage on an unknown port", 4444, []byte("\x01\x23\x45\x67\x89\xab\xcd\xef")},
	}
	for _, tt := range tests {
		if c, ok := udpprobe.ReplyCookie(tt.port, tt.reply); ok || c != 0 {
			t.Errorf("%s: ReplyCookie = %#x, %v; want 0, false\n%q", tt.name, c, ok, tt.reply)
		}
	}
}

// TestSIPTopmostVia: only the topmost Via is the probe's; one added by a
// proxy in front of it is read, and does not match.
func TestSIPTopmostVia(t *testing.T) {
	const cookie = 0x89abcdef
	reply := sipOK(t, put(t, udpprobe.ForPort(5060), cookie))
	for _, extra := range []string{
		"Via: SIP/2.0/UDP proxy.example;branch=z9hG4bK00000001\r\nVia:",
		"Via: SIP/2.0/UDP proxy.example;branch=z9hG4bK00000001, ",
	} {
		r := bytes.Replace(reply, []byte("Via: "), []byte(extra), 1)
		if c, ok := udpprobe.ReplyCookie(5060, r); !ok || c != 0x3030303030303031 {
			t.Errorf("ReplyCookie = %#x, %v; want the first Via's 00000001", c, ok)
		}
		if udpprobe.Match(5060, r, cookie) {
			t.Errorf("Match true with a foreign topmost Via:\n%q", r)
		}
	}
}

// --- DNS, mDNS, NetBIOS ---

func decodeDNS(t testing.TB, req []byte) *layers.DNS {
	t.Helper()
	var d layers.DNS
	if err := d.DecodeFromBytes(req, gopacket.NilDecodeFeedback); err != nil {
		t.Fatalf("request: %v", err)
	}
	return &d
}

func serialize(t testing.TB, l gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, l); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// dnsVersionReply is a name server's answer to version.bind CH TXT.
func dnsVersionReply(t testing.TB, req []byte) []byte {
	q := decodeDNS(t, req)
	r := &layers.DNS{
		ID: q.ID, QR: true, OpCode: layers.DNSOpCodeQuery, AA: true,
		Questions: q.Questions,
		Answers: []layers.DNSResourceRecord{{
			Name: []byte("version.bind"), Type: layers.DNSTypeTXT, Class: layers.DNSClassCH,
			TXTs: [][]byte{[]byte("9.18.28-1~deb12u2-Debian")},
		}},
	}
	return serialize(t, r)
}

// dnsRefusedReply is a resolver refusing the question.
func dnsRefusedReply(t testing.TB, req []byte) []byte {
	q := decodeDNS(t, req)
	r := &layers.DNS{ID: q.ID, QR: true, RD: q.RD, RA: true, ResponseCode: layers.DNSResponseCodeRefused, Questions: q.Questions}
	return serialize(t, r)
}

// mdnsReply is a legacy unicast response (RFC 6762 section 6.7): the query
// ID and question repeated, one service type.
func mdnsReply(t testing.TB, req []byte) []byte {
	q := decodeDNS(t, req)
	question := q.Questions[0]
	question.Class = layers.DNSClassIN
	r := &layers.DNS{
		ID: q.ID, QR: true, AA: true,
		Questions: []layers.DNSQuestion{question},
		Answers: []layers.DNSResourceRecord{{
			Name: question.Name, Type: layers.DNSTypePTR, Class: layers.DNSClassIN, TTL: 10,
			PTR: []byte("_http._tcp.local"),
		}},
	}
	return serialize(t, r)
}

// netbiosNodeStatusReply is a NODE STATUS RESPONSE (RFC 1002 section
// 4.2.18) with two names and the statistics.
func netbiosNodeStatusReply(_ testing.TB, req []byte) []byte {
	b := append([]byte(nil), req[:2]...)              // NAME_TRN_ID
	b = append(b, 0x84, 0x00, 0, 0, 0, 1, 0, 0, 0, 0) // R, AA; QD 0, AN 1, NS 0, AR 0
	b = append(b, req[12:46]...)                      // RR_NAME: the question's
	b = append(b, 0x00, 0x21, 0x00, 0x01)             // NBSTAT, IN
	b = append(b, 0, 0, 0, 0)                         // TTL
	rdata := []byte{2}                                // NUM_NAMES
	for _, n := range []struct {
		name   string
		suffix byte
		flags  uint16
	}{{"FASTLAB", 0x00, 0x0400}, {"WORKGROUP", 0x00, 0x8400}} {
		rdata = append(rdata, fmt.Sprintf("%-15s", n.name)...)
		rdata = append(rdata, n.suffix, byte(n.flags>>8), byte(n.flags))
	}
	stats := make([]byte, 46)
	copy(stats, []byte{0x02, 0x42, 0xc6, 0x13, 0x00, 0x05}) // unit ID (MAC)
	rdata = append(rdata, stats...)
	b = append(b, byte(len(rdata)>>8), byte(len(rdata)))
	return append(b, rdata...)
}

// --- NTP ---

func decodeNTP(t testing.TB, req []byte) *layers.NTP {
	t.Helper()
	var n layers.NTP
	if err := n.DecodeFromBytes(req, gopacket.NilDecodeFeedback); err != nil {
		t.Fatalf("request: %v", err)
	}
	return &n
}

// ntpServerReply is a stratum 2 server's answer (RFC 5905 section 9.2).
func ntpServerReply(t testing.TB, req []byte) []byte {
	q := decodeNTP(t, req)
	const now = layers.NTPTimestamp(0xed2a6b1c_8f5c28f6)
	r := &layers.NTP{
		LeapIndicator: 0, Version: q.Version, Mode: 4, Stratum: 2, Poll: q.Poll, Precision: -24,
		RootDelay: 0x0000_0a3d, RootDispersion: 0x0000_1a2b, ReferenceID: 0xc0000201,
		ReferenceTimestamp: now - 1<<32*64,
		OriginTimestamp:    q.TransmitTimestamp,
		ReceiveTimestamp:   now,
		TransmitTimestamp:  now + 0x1000,
	}
	return serialize(t, r)
}

// ntpKoDReply is a RATE kiss-o'-death packet (RFC 5905 section 7.4).
func ntpKoDReply(t testing.TB, req []byte) []byte {
	q := decodeNTP(t, req)
	r := &layers.NTP{Version: 4, Mode: 4, Stratum: 0, ReferenceID: 0x52415445, OriginTimestamp: q.TransmitTimestamp}
	return serialize(t, r)
}

// --- SNMP ---

// tlv encodes one BER element, with a long-form length when needed.
func tlv(tag byte, content ...[]byte) []byte {
	c := bytes.Join(content, nil)
	var length []byte
	switch n := len(c); {
	case n < 0x80:
		length = []byte{byte(n)}
	case n < 0x100:
		length = []byte{0x81, byte(n)}
	default:
		length = []byte{0x82, byte(n >> 8), byte(n)}
	}
	return append(append([]byte{tag}, length...), c...)
}

// berMinInt encodes v as a minimal two's complement INTEGER's contents.
func berMinInt(v int64) []byte {
	b := binary.BigEndian.AppendUint64(nil, uint64(v))
	for len(b) > 1 && (b[0] == 0 && b[1]&0x80 == 0 || b[0] == 0xff && b[1]&0x80 != 0) {
		b = b[1:]
	}
	return b
}

// snmpRequestID returns the request-id of an SNMP request, decoded.
func snmpRequestID(t testing.TB, req []byte) int64 {
	top, err := parseBER(req)
	if err != nil || len(top) != 1 || len(top[0].children) != 3 || len(top[0].children[2].children) != 4 {
		t.Fatalf("request: %v %x", err, req)
	}
	c := top[0].children[2].children[0].content
	v := int64(int8(c[0]))
	for _, b := range c[1:] {
		v = v<<8 | int64(b)
	}
	return v
}

// snmpGetResponse is an agent's Response-PDU for sysDescr.0, long enough
// for long-form lengths.
func snmpGetResponse(t testing.TB, req []byte) []byte {
	return snmpResponse(berMinInt(snmpRequestID(t, req)))
}

// snmpResponse builds a v2c Response-PDU with the given request-id contents.
func snmpResponse(id []byte) []byte {
	descr := "Linux fastlab 6.12.0-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.12.9-1 (2025-01-12) x86_64 " +
		"- Net-SNMP agent in the fastscan lab, with a description long enough to need long-form BER lengths"
	return tlv(0x30,
		tlv(0x02, []byte{1}),
		tlv(0x04, []byte("public")),
		tlv(0xa2,
			tlv(0x02, id),
			tlv(0x02, []byte{0}),
			tlv(0x02, []byte{0}),
			tlv(0x30, tlv(0x30,
				tlv(0x06, []byte{0x2b, 6, 1, 2, 1, 1, 1, 0}),
				tlv(0x04, []byte(descr)))),
		))
}

// snmpWith is the response to the probe of cookie with its request-id
// contents changed by f.
func snmpWith(t testing.TB, port uint16, cookie uint64, f func(id []byte) []byte) []byte {
	return snmpResponse(f(berMinInt(snmpRequestID(t, put(t, udpprobe.ForPort(port), cookie)))))
}

// --- memcached ---

func memcachedStatsReply(_ testing.TB, req []byte) []byte {
	b := append([]byte(nil), req[:2]...)
	b = append(b, 0, 0, 0, 1, 0, 0)
	return append(b, "STAT pid 2741\r\nSTAT uptime 86400\r\nSTAT version 1.6.21\r\nEND\r\n"...)
}

func memcachedSecondDatagram(_ testing.TB, req []byte) []byte {
	b := append([]byte(nil), req[:2]...)
	b = append(b, 0, 1, 0, 2, 0, 0)
	return append(b, "_items 0\r\nEND\r\n"...)
}

// --- IKE ---

// ikeHeader is an IKE header answering req, for a message of total bytes.
func ikeHeader(req []byte, next, version, exchange, flags byte, total int) []byte {
	h := append([]byte(nil), req[:8]...)                          // initiator SPI, echoed
	h = append(h, 0x5e, 0x1f, 0x7a, 0x03, 0x91, 0xc4, 0x2b, 0xd8) // responder SPI
	h = append(h, next, version, exchange, flags, 0, 0, 0, 0)
	return binary.BigEndian.AppendUint32(h, uint32(total))
}

// ikeSAInitResponse accepts the proposal: SA, KE and Nonce of its own.
func ikeSAInitResponse(_ testing.TB, req []byte) []byte {
	body := append([]byte(nil), req[28:]...) // same payload shapes: SA, KE, Nonce
	for i := 28 + 48 + 8 - 28; i < len(body); i++ {
		body[i] ^= 0x5a // responder's own KE data and nonce
	}
	return append(ikeHeader(req, 33, 0x20, 34, 0x20, 28+len(body)), body...)
}

// ikeNoProposalChosen is the error notification of RFC 7296 section 2.21.1.
func ikeNoProposalChosen(_ testing.TB, req []byte) []byte {
	notify := []byte{0, 0, 0, 8, 0, 0, 0, 14} // last, length 8, protocol 0, SPI size 0, NO_PROPOSAL_CHOSEN
	h := ikeHeader(req, 41, 0x20, 34, 0x20, 28+len(notify))
	copy(h[8:16], make([]byte, 8)) // no responder SPI for a refusal
	return append(h, notify...)
}

// ikev1Notification is an IKEv1 informational exchange (RFC 2408 sections
// 3.14 and 4.8) carrying INVALID-MAJOR-VERSION.
func ikev1Notification(_ testing.TB, req []byte) []byte {
	notify := []byte{0, 0, 0, 12, 0, 0, 0, 1, 1, 0, 0, 5} // last, length 12, DOI IPsec, protocol ISAKMP, SPI size 0, type 5
	return append(ikeHeader(req, 11, 0x10, 5, 0, 28+len(notify)), notify...)
}

// --- ONC RPC ---

func rpcAccepted(_ testing.TB, req []byte) []byte {
	b := append([]byte(nil), req[:4]...)
	return append(b, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0) // REPLY, ACCEPTED, AUTH_NONE, SUCCESS
}

func rpcAcceptedVerifier(_ testing.TB, req []byte) []byte {
	b := append([]byte(nil), req[:4]...)
	b = append(b, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 6) // REPLY, ACCEPTED, AUTH_SHORT, 6 bytes
	b = append(b, 1, 2, 3, 4, 5, 6, 0, 0)                         // padded to 8
	return append(b, 0, 0, 0, 1)                                  // PROG_UNAVAIL
}

func rpcDenied(_ testing.TB, req []byte) []byte {
	b := append([]byte(nil), req[:4]...)
	return append(b, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 5) // REPLY, DENIED, AUTH_ERROR, AUTH_TOOWEAK
}

// --- SIP ---

func sipRequestVia(t testing.TB, req []byte) string {
	s := layers.NewSIP()
	if err := s.DecodeFromBytes(req, gopacket.NilDecodeFeedback); err != nil {
		t.Fatalf("request: %v", err)
	}
	return s.GetFirstHeader("via")
}

// sipOK answers OPTIONS as a UA does (RFC 3261 sections 8.2.6 and 11.2),
// with the received and rport parameters a server adds (RFC 3581).
func sipOK(t testing.TB, req []byte) []byte {
	via := strings.Replace(sipRequestVia(t, req), ";rport", ";rport=40123;received=198.51.100.7", 1)
	return []byte("SIP/2.0 200 OK\r\n" +
		"Via: " + via + "\r\n" +
		"From: <sip:fastscan@fastscan.invalid>;tag=fastscan\r\n" +
		"To: <sip:fastscan.invalid>;tag=as5e1f7a03\r\n" +
		"Call-ID: fastscan-udp-probe@fastscan.invalid\r\n" +
		"CSeq: 1 OPTIONS\r\n" +
		"Allow: INVITE, ACK, CANCEL, OPTIONS, BYE\r\n" +
		"Accept: application/sdp\r\n" +
		"User-Agent: lab-pbx\r\n" +
		"Content-Length: 0\r\n\r\n")
}

// sipCompactNotFound uses compact header names, spaces around the
// parameters' equals signs and upper-case digits, all legal (RFC 3261
// sections 7.3.3 and 25.1).
func sipCompactNotFound(t testing.TB, req []byte) []byte {
	via := sipRequestVia(t, req)
	at := strings.Index(via, "z9hG4bK") + len("z9hG4bK")
	via = strings.Replace(via[:at], ";branch=", " ; BRANCH = ", 1) + strings.ToUpper(via[at:at+8]) + " " + via[at+8:]
	return []byte("SIP/2.0 404 Not Found\r\n" +
		"f: <sip:fastscan@fastscan.invalid>;tag=fastscan\r\n" +
		"t: <sip:fastscan.invalid>;tag=1c2d\r\n" +
		"i: fastscan-udp-probe@fastscan.invalid\r\n" +
		"v: " + via + "\r\n" +
		"CSeq: 1 OPTIONS\r\n" +
		"l: 0\r\n\r\n")
}

// sipMinLen is the end of the branch's digits.
func sipMinLen(reply []byte) int {
	return bytes.Index(bytes.ToLower(reply), []byte("z9hg4bk")) + len("z9hG4bK") + 8
}

// --- CoAP ---

// coapPiggybacked is an ACK carrying 2.05 Content with the link format.
func coapPiggybacked(_ testing.TB, req []byte) []byte {
	b := []byte{0x64, 0x45, req[2], req[3]} // ACK, TKL 4, 2.05, Message ID echoed
	b = append(b, req[4:8]...)              // token echoed
	b = append(b, 0xc1, 40, 0xff)           // Content-Format: application/link-format; payload
	return append(b, `</sensors/temp>;rt="temperature-c";if="sensor"`...)
}

// coapSeparate is a separate response (RFC 7252 section 5.2.2): NON, a new
// Message ID, the request's token.
func coapSeparate(_ testing.TB, req []byte) []byte {
	b := []byte{0x54, 0x45, 0x9c, 0x1e}
	b = append(b, req[4:8]...)
	return append(b, 0xc1, 40, 0xff, '<', '/', '>')
}

// coapNotFound is a piggybacked 4.04.
func coapNotFound(_ testing.TB, req []byte) []byte {
	return append([]byte{0x64, 0x84, req[2], req[3]}, req[4:8]...)
}

// --- fuzzing and allocations ---

func FuzzReplyCookie(f *testing.F) {
	for _, rc := range replyCases() {
		for _, cookie := range testCookies {
			f.Add(rc.port, rc.build(f, put(f, udpprobe.ForPort(rc.port), cookie)))
		}
	}
	for _, p := range udpprobe.All() {
		f.Add(p.Port, []byte(p.Payload))
	}
	f.Fuzz(func(t *testing.T, port uint16, reply []byte) {
		c, ok := udpprobe.ReplyCookie(port, reply)
		if !ok {
			if c != 0 {
				t.Errorf("ReplyCookie = %#x, false", c)
			}
			return
		}
		p := udpprobe.ForPort(port)
		if p.CookieLen == 0 {
			t.Fatalf("port %d has no cookie, ReplyCookie = %#x, true", port, c)
		}
		if p.CookieLen < 8 && c>>(8*p.CookieLen) != 0 {
			t.Errorf("%s: ReplyCookie = %#x, wider than %d bytes", p.Name, c, p.CookieLen)
		}
		// Every cookie ReplyCookie returns is one Wire can produce, and
		// Match agrees with it.
		cookie := c
		if p.CookieHex {
			s := string(binary.BigEndian.AppendUint64(nil, c)[8-p.CookieLen:])
			v, err := strconv.ParseUint(s, 16, 64)
			if err != nil || strings.ToLower(s) != s {
				t.Fatalf("%s: ReplyCookie = %q, not lower-case hex", p.Name, s)
			}
			cookie = v
		}
		if p.Wire(cookie) != c || !udpprobe.Match(port, reply, cookie) {
			t.Errorf("%s: ReplyCookie = %#x but Match(%#x) false", p.Name, c, cookie)
		}
	})
}

func TestZeroAllocs(t *testing.T) {
	buf := make([]byte, 1500)
	for _, p := range udpprobe.All() {
		port := p.Port
		if n := testing.AllocsPerRun(100, func() { udpprobe.ForPort(port).Put(buf, 0x0123456789abcdef) }); n != 0 {
			t.Errorf("%s: ForPort and Put: %v allocations", p.Name, n)
		}
	}
	for _, rc := range replyCases() {
		reply := rc.build(t, put(t, udpprobe.ForPort(rc.port), 42))
		port := rc.port
		if n := testing.AllocsPerRun(100, func() {
			udpprobe.ReplyCookie(port, reply)
			udpprobe.Match(port, reply, 42)
		}); n != 0 {
			t.Errorf("%s: ReplyCookie and Match: %v allocations", rc.name, n)
		}
	}
}

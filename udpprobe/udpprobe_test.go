package udpprobe_test

import (
	"bufio"
	"bytes"
	"crypto/ecdh"
	"encoding/binary"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/fastscan/fastscan/udpprobe"
)

// testCookies exercise every byte of a cookie field with distinct values,
// all zeros and all ones.
var testCookies = []uint64{0, 1, 0x0123456789abcdef, 0xfedcba9876543210, 0x00000000deadbeef, ^uint64(0)}

// put returns a fresh buffer holding p's request with cookie.
func put(t testing.TB, p udpprobe.Probe, cookie uint64) []byte {
	t.Helper()
	buf := make([]byte, len(p.Payload))
	if n := p.Put(buf, cookie); n != len(p.Payload) {
		t.Fatalf("%s: Put returned %d, want %d", p.Name, n, len(p.Payload))
	}
	return buf
}

// fieldBytes returns the CookieLen bytes of w, most significant first.
func fieldBytes(p udpprobe.Probe, w uint64) []byte {
	b := make([]byte, p.CookieLen)
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = byte(w)
		w >>= 8
	}
	return b
}

func TestAll(t *testing.T) {
	all := udpprobe.All()
	wantPorts := []uint16{53, 69, 111, 123, 137, 161, 500, 1900, 5060, 5353, 5683, 11211}
	var ports []uint16
	names := map[string]bool{}
	for _, p := range all {
		ports = append(ports, p.Port)
		if p.Name == "" || names[p.Name] {
			t.Errorf("port %d: empty or duplicate name %q", p.Port, p.Name)
		}
		names[p.Name] = true
		if got := udpprobe.ForPort(p.Port); got != p {
			t.Errorf("ForPort(%d) = %+v, All has %+v", p.Port, got, p)
		}
		if p.Payload == "" {
			t.Errorf("%s: empty payload", p.Name)
		}
		// The packet package's UDP template takes at most 512 bytes and a
		// cookie of at most 8 bytes inside the payload.
		if len(p.Payload) > 512 {
			t.Errorf("%s: %d-byte payload", p.Name, len(p.Payload))
		}
		if p.CookieLen < 0 || p.CookieLen > 8 || p.CookieOffset < 0 || p.CookieOffset+p.CookieLen > len(p.Payload) {
			t.Errorf("%s: cookie field [%d, +%d) outside the %d-byte payload", p.Name, p.CookieOffset, p.CookieLen, len(p.Payload))
		}
		// The template's field holds Wire(0).
		if got, want := p.Payload[p.CookieOffset:p.CookieOffset+p.CookieLen], string(fieldBytes(p, p.Wire(0))); got != want {
			t.Errorf("%s: template field %q, want Wire(0) %q", p.Name, got, want)
		}
	}
	if !slices.Equal(ports, wantPorts) {
		t.Errorf("All ports = %v, want %v", ports, wantPorts)
	}
	wantNames := []string{"dns", "tftp", "portmap", "ntp", "netbios-ns", "snmp", "ike", "ssdp", "sip", "mdns", "coap", "memcached"}
	if got := udpprobe.Names(); !slices.Equal(got, wantNames) {
		t.Errorf("Names() = %v, want %v", got, wantNames)
	}
	// The slices are the caller's.
	all[0].Name = "changed"
	udpprobe.Names()[0] = "changed"
	if udpprobe.All()[0].Name != "dns" || udpprobe.Names()[0] != "dns" {
		t.Error("All or Names returned shared slices")
	}
}

func TestForPortUnknown(t *testing.T) {
	for _, port := range []uint16{0, 1, 80, 443, 5354, 65535} {
		p := udpprobe.ForPort(port)
		if p != (udpprobe.Probe{Port: port}) {
			t.Errorf("ForPort(%d) = %+v, want only Port set", port, p)
		}
		if n := p.Put(nil, 0x1234); n != 0 {
			t.Errorf("ForPort(%d).Put = %d, want 0", port, n)
		}
		if p.Wire(0x1234) != 0 || p.Bits() != 0 {
			t.Errorf("ForPort(%d): Wire %#x, Bits %d, want 0", port, p.Wire(0x1234), p.Bits())
		}
		if c, ok := udpprobe.ReplyCookie(port, []byte("\x12\x34 anything")); ok {
			t.Errorf("ReplyCookie(%d) = %#x, true for a port without a probe", port, c)
		}
	}
}

func TestWire(t *testing.T) {
	tests := []struct {
		p      udpprobe.Probe
		cookie uint64
		want   uint64
		bits   int
	}{
		{udpprobe.Probe{CookieLen: 2}, 0x0123456789abcdef, 0xcdef, 16},
		{udpprobe.Probe{CookieLen: 3}, 0x0123456789abcdef, 0xabcdef, 24},
		{udpprobe.Probe{CookieLen: 8}, 0x0123456789abcdef, 0x0123456789abcdef, 64},
		{udpprobe.Probe{CookieLen: 0}, 0x0123456789abcdef, 0, 0},
		{udpprobe.Probe{CookieLen: 8, CookieHex: true}, 0x0123456789abcdef, 0x3839616263646566, 32}, // "89abcdef"
		{udpprobe.Probe{CookieLen: 2, CookieHex: true}, 0x0a, 0x3061, 8},                            // "0a"
	}
	for _, tt := range tests {
		if got := tt.p.Wire(tt.cookie); got != tt.want {
			t.Errorf("%+v.Wire(%#x) = %#x, want %#x", tt.p, tt.cookie, got, tt.want)
		}
		if got := tt.p.Bits(); got != tt.bits {
			t.Errorf("%+v.Bits() = %d, want %d", tt.p, got, tt.bits)
		}
	}
}

// TestPutOnlyField checks that Put writes the payload, Wire(cookie) in the
// cookie field and nothing else: not a byte of the template outside the
// field, not a byte of dst past the payload.
func TestPutOnlyField(t *testing.T) {
	for _, p := range udpprobe.All() {
		for _, cookie := range testCookies {
			buf := bytes.Repeat([]byte{0xa5}, len(p.Payload)+16)
			n := p.Put(buf, cookie)
			if n != len(p.Payload) {
				t.Fatalf("%s: Put = %d, want %d", p.Name, n, len(p.Payload))
			}
			want := []byte(p.Payload)
			copy(want[p.CookieOffset:], fieldBytes(p, p.Wire(cookie)))
			if !bytes.Equal(buf[:n], want) {
				t.Errorf("%s, cookie %#x:\n got %q\nwant %q", p.Name, cookie, buf[:n], want)
			}
			if !bytes.Equal(buf[n:], bytes.Repeat([]byte{0xa5}, 16)) {
				t.Errorf("%s: Put wrote past the payload", p.Name)
			}
		}
		if p.CookieLen > 0 && bytes.Equal(put(t, p, 0x0123456789abcdef), put(t, p, 0xfedcba9876543210)) {
			t.Errorf("%s: different cookies give the same probe", p.Name)
		}
	}
}

func TestPutShortBuffer(t *testing.T) {
	p := udpprobe.ForPort(53)
	defer func() {
		if recover() == nil {
			t.Error("Put into a short buffer did not panic")
		}
	}()
	p.Put(make([]byte, len(p.Payload)-1), 1)
}

// TestRequests decodes every request, checks the fields its specification
// requires, and that the cookie is in the field meant to carry it.
func TestRequests(t *testing.T) {
	checks := map[string]func(t *testing.T, msg []byte, cookie uint64){
		"dns":        checkDNSRequest,
		"mdns":       checkMDNSRequest,
		"ntp":        checkNTPRequest,
		"snmp":       checkSNMPRequest,
		"netbios-ns": checkNetBIOSRequest,
		"ssdp":       checkSSDPRequest,
		"memcached":  checkMemcachedRequest,
		"ike":        checkIKERequest,
		"tftp":       checkTFTPRequest,
		"portmap":    checkPortmapRequest,
		"sip":        checkSIPRequest,
		"coap":       checkCoAPRequest,
	}
	for _, p := range udpprobe.All() {
		check, ok := checks[p.Name]
		if !ok {
			t.Errorf("no check for %s", p.Name)
			continue
		}
		t.Run(p.Name, func(t *testing.T) {
			for _, cookie := range testCookies {
				check(t, put(t, p, cookie), cookie)
			}
		})
	}
}

// dnsQuestionLen is the wire length of the question of name, type and class.
func dnsQuestionLen(name string) int { return len(name) + 2 + 4 }

func checkDNSRequest(t *testing.T, msg []byte, cookie uint64) {
	var d layers.DNS
	if err := d.DecodeFromBytes(msg, gopacket.NilDecodeFeedback); err != nil {
		t.Fatalf("layers.DNS: %v", err)
	}
	if d.ID != uint16(cookie) {
		t.Errorf("ID %#x, want %#x", d.ID, uint16(cookie))
	}
	if d.QR || d.OpCode != layers.DNSOpCodeQuery || d.TC || d.RD || d.ANCount+d.NSCount+d.ARCount != 0 || len(d.Questions) != 1 {
		t.Fatalf("not a plain one-question query: %+v", d)
	}
	q := d.Questions[0]
	if string(q.Name) != "version.bind" || q.Type != layers.DNSTypeTXT || q.Class != layers.DNSClassCH {
		t.Errorf("question %s %v %v, want version.bind TXT CH", q.Name, q.Type, q.Class)
	}
	if want := 12 + dnsQuestionLen("version.bind"); len(msg) != want {
		t.Errorf("%d bytes, want %d", len(msg), want)
	}
}

func checkMDNSRequest(t *testing.T, msg []byte, cookie uint64) {
	var d layers.DNS
	if err := d.DecodeFromBytes(msg, gopacket.NilDecodeFeedback); err != nil {
		t.Fatalf("layers.DNS: %v", err)
	}
	if d.ID != uint16(cookie) {
		t.Errorf("ID %#x, want %#x", d.ID, uint16(cookie))
	}
	if d.QR || d.OpCode != layers.DNSOpCodeQuery || d.ANCount+d.NSCount+d.ARCount != 0 || len(d.Questions) != 1 {
		t.Fatalf("not a plain one-question query: %+v", d)
	}
	q := d.Questions[0]
	// RFC 6762 section 5.4: the top bit of the class asks for a unicast response.
	if string(q.Name) != "_services._dns-sd._udp.local" || q.Type != layers.DNSTypePTR || q.Class != 0x8000|layers.DNSClassIN {
		t.Errorf("question %s %v %#x, want _services._dns-sd._udp.local PTR IN with the QU bit", q.Name, q.Type, uint16(q.Class))
	}
	if want := 12 + dnsQuestionLen("_services._dns-sd._udp.local"); len(msg) != want {
		t.Errorf("%d bytes, want %d", len(msg), want)
	}
}

func checkNTPRequest(t *testing.T, msg []byte, cookie uint64) {
	var n layers.NTP
	if err := n.DecodeFromBytes(msg, gopacket.NilDecodeFeedback); err != nil {
		t.Fatalf("layers.NTP: %v", err)
	}
	if len(msg) != 48 || n.Version != 4 || n.Mode != 3 || n.LeapIndicator != 0 {
		t.Errorf("%d bytes, version %d, mode %d, LI %d: want a 48-byte version 4 client (mode 3) packet", len(msg), n.Version, n.Mode, n.LeapIndicator)
	}
	if uint64(n.TransmitTimestamp) != cookie {
		t.Errorf("transmit timestamp %#x, want the cookie %#x", uint64(n.TransmitTimestamp), cookie)
	}
	if n.OriginTimestamp != 0 || n.ReceiveTimestamp != 0 || n.ReferenceTimestamp != 0 {
		t.Error("timestamps other than transmit are set")
	}
}

// ber is one element of a BER encoding, decoded by the test's own walker.
type ber struct {
	tag      byte
	content  []byte
	children []ber // for constructed tags
}

// parseBER decodes every element of b (X.690 section 8.1: one-byte tags,
// definite lengths, short or long form).
func parseBER(b []byte) ([]ber, error) {
	var out []ber
	for len(b) > 0 {
		if len(b) < 2 {
			return nil, fmt.Errorf("truncated element %x", b)
		}
		e := ber{tag: b[0]}
		n, hdr := int(b[1]), 2
		if n&0x80 != 0 {
			k := n & 0x7f
			if k == 0 || k > 4 || len(b) < 2+k {
				return nil, fmt.Errorf("bad length in %x", b)
			}
			n = 0
			for _, c := range b[2 : 2+k] {
				n = n<<8 | int(c)
			}
			hdr += k
		}
		if len(b) < hdr+n {
			return nil, fmt.Errorf("element of %d bytes in %d", n, len(b)-hdr)
		}
		e.content = b[hdr : hdr+n]
		if e.tag&0x20 != 0 {
			var err error
			if e.children, err = parseBER(e.content); err != nil {
				return nil, err
			}
		}
		out = append(out, e)
		b = b[hdr+n:]
	}
	return out, nil
}

// berInt decodes an INTEGER's contents, which X.690 section 8.3.2 requires
// to be minimal.
func berInt(t *testing.T, e ber) int64 {
	t.Helper()
	c := e.content
	if e.tag != 0x02 || len(c) == 0 || len(c) > 8 {
		t.Fatalf("not an INTEGER: %x %x", e.tag, c)
	}
	if len(c) > 1 && (c[0] == 0 && c[1]&0x80 == 0 || c[0] == 0xff && c[1]&0x80 != 0) {
		t.Errorf("INTEGER %x not minimally encoded", c)
	}
	v := int64(int8(c[0]))
	for _, b := range c[1:] {
		v = v<<8 | int64(b)
	}
	return v
}

// berOID decodes an OBJECT IDENTIFIER's contents (X.690 section 8.19): base
// 128 subidentifiers, the first one holding the first two arcs (below 80).
func berOID(c []byte) string {
	var arcs []string
	v := 0
	for _, b := range c {
		v = v<<7 | int(b&0x7f)
		if b&0x80 != 0 {
			continue
		}
		if len(arcs) == 0 {
			arcs = append(arcs, fmt.Sprint(v/40), fmt.Sprint(v%40))
		} else {
			arcs = append(arcs, fmt.Sprint(v))
		}
		v = 0
	}
	return strings.Join(arcs, ".")
}

func checkSNMPRequest(t *testing.T, msg []byte, cookie uint64) {
	top, err := parseBER(msg)
	if err != nil {
		t.Fatal(err)
	}
	if len(top) != 1 || top[0].tag != 0x30 || len(top[0].children) != 3 {
		t.Fatalf("not one Message SEQUENCE of 3 elements: %x", msg)
	}
	m := top[0].children
	if v := berInt(t, m[0]); v != 1 {
		t.Errorf("version %d, want 1 (version-2c)", v)
	}
	if m[1].tag != 0x04 || string(m[1].content) != "public" {
		t.Errorf("community %x %q, want OCTET STRING public", m[1].tag, m[1].content)
	}
	pdu := m[2]
	if pdu.tag != 0xa0 || len(pdu.children) != 4 {
		t.Fatalf("PDU tag %#x with %d elements, want GetRequest-PDU (0xa0) of 4", pdu.tag, len(pdu.children))
	}
	id := berInt(t, pdu.children[0])
	if want := int64(0x40000000 | cookie&0xffffff); id != want {
		t.Errorf("request-id %#x, want %#x", id, want)
	}
	if berInt(t, pdu.children[1]) != 0 || berInt(t, pdu.children[2]) != 0 {
		t.Error("error-status or error-index not 0")
	}
	vbl := pdu.children[3]
	if vbl.tag != 0x30 || len(vbl.children) != 1 || vbl.children[0].tag != 0x30 || len(vbl.children[0].children) != 2 {
		t.Fatalf("variable-bindings: want one VarBind")
	}
	name, value := vbl.children[0].children[0], vbl.children[0].children[1]
	if name.tag != 0x06 || berOID(name.content) != "1.3.6.1.2.1.1.1.0" {
		t.Errorf("name %#x %s, want OID 1.3.6.1.2.1.1.1.0", name.tag, berOID(name.content))
	}
	if value.tag != 0x05 || len(value.content) != 0 {
		t.Errorf("value %#x %x, want NULL", value.tag, value.content)
	}
}

// decodeNetBIOSName undoes RFC 1001 section 14.1's first-level encoding.
func decodeNetBIOSName(enc []byte) ([]byte, error) {
	if len(enc) != 32 {
		return nil, fmt.Errorf("encoded name of %d bytes", len(enc))
	}
	name := make([]byte, 16)
	for i := range name {
		hi, lo := enc[2*i]-'A', enc[2*i+1]-'A'
		if hi > 15 || lo > 15 {
			return nil, fmt.Errorf("bad half-byte in %q", enc)
		}
		name[i] = hi<<4 | lo
	}
	return name, nil
}

func checkNetBIOSRequest(t *testing.T, msg []byte, cookie uint64) {
	be := binary.BigEndian
	if len(msg) != 50 {
		t.Fatalf("%d bytes, want 12 header + 34 name + 4", len(msg))
	}
	if id := be.Uint16(msg); id != uint16(cookie) {
		t.Errorf("NAME_TRN_ID %#x, want %#x", id, uint16(cookie))
	}
	// RFC 1002 section 4.2.17: R 0, OPCODE 0, NM_FLAGS 0, RCODE 0, one question.
	if flags := be.Uint16(msg[2:]); flags != 0 {
		t.Errorf("flags %#x, want 0", flags)
	}
	if qd, rest := be.Uint16(msg[4:]), msg[6:12]; qd != 1 || !bytes.Equal(rest, make([]byte, 6)) {
		t.Errorf("QDCOUNT %d, other counts %x", qd, rest)
	}
	if msg[12] != 32 || msg[45] != 0 {
		t.Fatalf("name labels %d, %d: want one of 32 bytes then the root", msg[12], msg[45])
	}
	name, err := decodeNetBIOSName(msg[13:45])
	if err != nil {
		t.Fatal(err)
	}
	if want := append([]byte{'*'}, make([]byte, 15)...); !bytes.Equal(name, want) {
		t.Errorf("name %q, want %q", name, want)
	}
	if typ, class := be.Uint16(msg[46:]), be.Uint16(msg[48:]); typ != 0x21 || class != 1 {
		t.Errorf("QUESTION_TYPE %#x, QUESTION_CLASS %#x, want NBSTAT (0x21) IN (1)", typ, class)
	}
}

func checkSSDPRequest(t *testing.T, msg []byte, _ uint64) {
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(msg)))
	if err != nil {
		t.Fatalf("not an HTTP/1.1 request: %v", err)
	}
	if req.Method != "M-SEARCH" || req.RequestURI != "*" || req.Proto != "HTTP/1.1" {
		t.Errorf("request line %s %s %s", req.Method, req.RequestURI, req.Proto)
	}
	want := map[string]string{"Man": `"ssdp:discover"`, "St": "ssdp:all", "Mx": "1"}
	for k, v := range want {
		if got := req.Header.Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	if req.Host != "239.255.255.250:1900" {
		t.Errorf("HOST %q", req.Host)
	}
	if !bytes.HasSuffix(msg, []byte("\r\n\r\n")) {
		t.Error("no empty line at the end")
	}
}

func checkMemcachedRequest(t *testing.T, msg []byte, cookie uint64) {
	be := binary.BigEndian
	if len(msg) < 8 {
		t.Fatalf("%d bytes", len(msg))
	}
	id, seq, total, reserved := be.Uint16(msg), be.Uint16(msg[2:]), be.Uint16(msg[4:]), be.Uint16(msg[6:])
	if id != uint16(cookie) || seq != 0 || total != 1 || reserved != 0 {
		t.Errorf("frame header id %#x seq %d total %d reserved %d, want id %#x 0 1 0", id, seq, total, reserved, uint16(cookie))
	}
	if string(msg[8:]) != "stats\r\n" {
		t.Errorf("command %q", msg[8:])
	}
}

func checkIKERequest(t *testing.T, msg []byte, cookie uint64) {
	be := binary.BigEndian
	if len(msg) < 28 {
		t.Fatalf("%d bytes", len(msg))
	}
	spiI := msg[:8]
	if want := append([]byte("fs"), fieldBytes(udpprobe.Probe{CookieLen: 6}, cookie)...); !bytes.Equal(spiI, want) {
		t.Errorf("initiator SPI %x, want %x", spiI, want)
	}
	if bytes.Equal(spiI, make([]byte, 8)) {
		t.Error("initiator SPI is zero (RFC 7296 section 3.1)")
	}
	if !bytes.Equal(msg[8:16], make([]byte, 8)) {
		t.Errorf("responder SPI %x, want 0", msg[8:16])
	}
	if msg[17] != 0x20 || msg[18] != 34 || msg[19] != 0x08 || be.Uint32(msg[20:]) != 0 {
		t.Errorf("version %#x exchange %d flags %#x message ID %d, want 0x20 34 (IKE_SA_INIT) 0x08 (I) 0", msg[17], msg[18], msg[19], be.Uint32(msg[20:]))
	}
	if n := be.Uint32(msg[24:]); int(n) != len(msg) {
		t.Errorf("length %d, message %d bytes", n, len(msg))
	}
	// The payload chain.
	payloads := map[byte][]byte{}
	var order []byte
	next, b := msg[16], msg[28:]
	for next != 0 {
		if len(b) < 4 {
			t.Fatalf("payload %d truncated", next)
		}
		n := int(be.Uint16(b[2:]))
		if n < 4 || n > len(b) || b[1] != 0 {
			t.Fatalf("payload %d: length %d of %d, flags %#x", next, n, len(b), b[1])
		}
		payloads[next] = b[4:n]
		order = append(order, next)
		next, b = b[0], b[n:]
	}
	if len(b) != 0 {
		t.Errorf("%d bytes after the last payload", len(b))
	}
	if !bytes.Equal(order, []byte{33, 34, 40}) {
		t.Fatalf("payloads %v, want SA (33), KE (34), Nonce (40)", order)
	}
	// SA: one proposal for IKE with one transform of each required type.
	sa := payloads[33]
	if len(sa) < 8 || sa[0] != 0 || int(be.Uint16(sa[2:])) != len(sa) {
		t.Fatalf("SA: want one last proposal filling the payload: %x", sa)
	}
	if sa[4] != 1 || sa[5] != 1 || sa[6] != 0 {
		t.Errorf("proposal num %d protocol %d SPI size %d, want 1 1 (IKE) 0", sa[4], sa[5], sa[6])
	}
	transforms := map[byte]uint16{}
	tb := sa[8:]
	for i := 0; i < int(sa[7]); i++ {
		if len(tb) < 8 {
			t.Fatalf("transform %d truncated", i)
		}
		n := int(be.Uint16(tb[2:]))
		last := i == int(sa[7])-1
		if n < 8 || n > len(tb) || (tb[0] == 0) != last || (tb[0] != 0 && tb[0] != 3) {
			t.Fatalf("transform %d: %x", i, tb)
		}
		transforms[tb[4]] = be.Uint16(tb[6:])
		if tb[4] == 1 { // ENCR_AES_CBC needs its Key Length attribute (RFC 7296 section 3.3.5)
			if n != 12 || be.Uint16(tb[8:]) != 0x800e || be.Uint16(tb[10:]) != 128 {
				t.Errorf("ENCR transform without a 128-bit Key Length attribute: %x", tb[:n])
			}
		}
		tb = tb[n:]
	}
	if len(tb) != 0 {
		t.Errorf("%d bytes after the transforms", len(tb))
	}
	want := map[byte]uint16{1: 12, 2: 5, 3: 12, 4: 19}
	if fmt.Sprint(transforms) != fmt.Sprint(want) {
		t.Errorf("transforms %v, want %v", transforms, want)
	}
	// KE: group 19, whose public value is a point on P-256 (RFC 5903 section 7).
	ke := payloads[34]
	if len(ke) != 4+64 || be.Uint16(ke) != 19 || be.Uint16(ke[2:]) != 0 {
		t.Fatalf("KE %x: want group 19 with 64 bytes", ke)
	}
	if _, err := ecdh.P256().NewPublicKey(append([]byte{4}, ke[4:]...)); err != nil {
		t.Errorf("KE data is not a P-256 point: %v", err)
	}
	// Nonce: 16 to 256 bytes (RFC 7296 section 3.9), at least half of the
	// PRF's 32-byte key (section 2.10).
	if n := len(payloads[40]); n < 16 || n > 256 {
		t.Errorf("nonce of %d bytes", n)
	}
}

func checkTFTPRequest(t *testing.T, msg []byte, _ uint64) {
	if len(msg) < 4 || binary.BigEndian.Uint16(msg) != 1 {
		t.Fatalf("not an RRQ: %q", msg)
	}
	parts := bytes.Split(msg[2:], []byte{0})
	if len(parts) != 3 || len(parts[2]) != 0 {
		t.Fatalf("want filename NUL mode NUL: %q", msg[2:])
	}
	if len(parts[0]) == 0 || !strings.EqualFold(string(parts[1]), "octet") {
		t.Errorf("filename %q mode %q", parts[0], parts[1])
	}
}

func checkPortmapRequest(t *testing.T, msg []byte, cookie uint64) {
	if len(msg) != 40 {
		t.Fatalf("%d bytes, want 10 XDR words", len(msg))
	}
	var w [10]uint32
	for i := range w {
		w[i] = binary.BigEndian.Uint32(msg[4*i:])
	}
	// xid, CALL, rpcvers 2, PMAP_PROG, PMAP_VERS, PMAPPROC_NULL, AUTH_NONE cred and verf.
	want := [10]uint32{uint32(cookie), 0, 2, 100000, 2, 0, 0, 0, 0, 0}
	if w != want {
		t.Errorf("words %v, want %v", w, want)
	}
}

func checkSIPRequest(t *testing.T, msg []byte, cookie uint64) {
	s := layers.NewSIP()
	if err := s.DecodeFromBytes(msg, gopacket.NilDecodeFeedback); err != nil {
		t.Fatalf("layers.SIP: %v", err)
	}
	if s.IsResponse || s.Method != layers.SIPMethodOptions || s.Version != layers.SIPVersion2 || !strings.HasPrefix(s.RequestURI, "sip:") {
		t.Errorf("request line: %v %q %v", s.Method, s.RequestURI, s.Version)
	}
	if len(s.Payload()) != 0 {
		t.Errorf("body %q", s.Payload())
	}
	// RFC 3261 section 8.1.1: the header fields every request must have.
	for _, h := range []string{"via", "max-forwards", "from", "to", "call-id", "cseq", "content-length"} {
		if len(s.GetHeader(h)) != 1 {
			t.Errorf("%d %s header fields, want 1", len(s.GetHeader(h)), h)
		}
	}
	if s.GetCSeq() != 1 || s.GetFirstHeader("cseq") != "1 OPTIONS" || s.GetFirstHeader("max-forwards") != "70" || s.GetContentLength() != 0 {
		t.Errorf("CSeq %q Max-Forwards %q Content-Length %d", s.GetFirstHeader("cseq"), s.GetFirstHeader("max-forwards"), s.GetContentLength())
	}
	if !strings.Contains(s.GetFrom(), ";tag=") {
		t.Errorf("From %q without a tag", s.GetFrom())
	}
	via := s.GetFirstHeader("via")
	wantBranch := fmt.Sprintf(";branch=z9hG4bK%08x;", uint32(cookie))
	if !strings.HasPrefix(via, "SIP/2.0/UDP ") || !strings.Contains(via, wantBranch) || !strings.HasSuffix(via, ";rport") {
		t.Errorf("Via %q, want SIP/2.0/UDP with %s and rport", via, wantBranch)
	}
	if !bytes.HasSuffix(msg, []byte("\r\n\r\n")) {
		t.Error("no empty line at the end")
	}
}

func checkCoAPRequest(t *testing.T, msg []byte, cookie uint64) {
	if len(msg) < 4 {
		t.Fatalf("%d bytes", len(msg))
	}
	ver, typ, tkl, code := msg[0]>>6, msg[0]>>4&3, int(msg[0]&0x0f), msg[1]
	if ver != 1 || typ != 0 || code != 0x01 || tkl > 8 || len(msg) < 4+tkl {
		t.Fatalf("version %d type %d TKL %d code %#x: want 1, 0 (CON), <= 8, 0.01 (GET)", ver, typ, tkl, code)
	}
	if tkl != 4 || binary.BigEndian.Uint32(msg[4:]) != uint32(cookie) {
		t.Errorf("token %x, want the cookie's low 4 bytes %08x", msg[4:4+tkl], uint32(cookie))
	}
	// Options (RFC 7252 section 3.1): deltas and lengths below 13 here.
	var path []string
	number, b := 0, msg[4+tkl:]
	for len(b) > 0 {
		if b[0] == 0xff {
			t.Fatal("a payload marker in a GET")
		}
		delta, n := int(b[0]>>4), int(b[0]&0x0f)
		if delta > 12 || n > 12 || len(b) < 1+n {
			t.Fatalf("option %x", b)
		}
		number += delta
		if number != 11 {
			t.Errorf("option %d, want only Uri-Path (11)", number)
		}
		path = append(path, string(b[1:1+n]))
		b = b[1+n:]
	}
	if got := "/" + strings.Join(path, "/"); got != "/.well-known/core" {
		t.Errorf("Uri-Path %q", got)
	}
}

// TestDocTable keeps docs/udp-probes.md in step with the probes: a row per
// service with its port, name, size, cookie offset and bits.
func TestDocTable(t *testing.T) {
	doc, err := os.ReadFile("../docs/udp-probes.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for _, line := range strings.Split(string(doc), "\n") {
		if cells := strings.Split(line, " | "); len(cells) == 6 {
			rows[strings.TrimPrefix(cells[0], "| ")] = line
		}
	}
	for _, p := range udpprobe.All() {
		row, ok := rows[strconv.Itoa(int(p.Port))]
		if !ok {
			t.Errorf("%s: no row for port %d", p.Name, p.Port)
			continue
		}
		want := []string{" | " + p.Name + " | ", fmt.Sprintf("(%d B)", len(p.Payload)), fmt.Sprintf(" | %d | ", p.Bits())}
		if p.CookieLen > 0 {
			want = append(want, fmt.Sprintf("(%d)", p.CookieOffset))
		}
		for _, w := range want {
			if !strings.Contains(row, w) {
				t.Errorf("%s: row %q lacks %q", p.Name, row, w)
			}
		}
	}
}

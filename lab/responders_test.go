package lab_test

import (
	"bytes"
	"encoding/asn1"
	"encoding/binary"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/fastscan/fastscan/lab"
	"github.com/fastscan/fastscan/udpprobe"
)

var testNow = time.Date(2025, 11, 22, 12, 0, 0, 500_000_000, time.UTC)

func TestUDPServiceNames(t *testing.T) {
	want := map[uint16]string{53: "dns", 123: "ntp", 161: "snmp", 22: "", 0: "", 162: ""}
	for port, name := range want {
		if got := lab.UDPService(port); got != name {
			t.Errorf("UDPService(%d) = %q, want %q", port, got, name)
		}
	}
	if lab.AnswerUDP(22, dnsQuery(1, "x", layers.DNSTypeA, layers.DNSClassIN), addr("198.19.0.1"), testNow) != nil {
		t.Error("port 22 has a UDP responder")
	}
	tr := lab.DefaultTruth()
	ports := append([]uint16(nil), tr.AnyIPUDPPorts...)
	for _, h := range tr.Hosts {
		ports = append(ports, h.UDPPorts...)
	}
	for _, p := range ports {
		if lab.UDPService(p) == "" {
			t.Errorf("truth has UDP port %d open, but the lab has no responder for it", p)
		}
	}
}

func TestDNSResponder(t *testing.T) {
	local := addr("198.19.7.9")
	t.Run("A gets the probed address", func(t *testing.T) {
		q := dnsQuery(0xbeef, "www.example.lab", layers.DNSTypeA, layers.DNSClassIN)
		r, err := checkDNSReply(q, lab.AnswerUDP(53, q, local, testNow))
		if err != nil {
			t.Fatal(err)
		}
		if !r.AA || r.ResponseCode != layers.DNSResponseCodeNoErr || len(r.Answers) != 1 || len(r.Authorities)+len(r.Additionals) != 0 {
			t.Fatalf("reply AA=%v rcode=%v answers=%d, want an authoritative NOERROR with one answer", r.AA, r.ResponseCode, len(r.Answers))
		}
		a := r.Answers[0]
		if string(a.Name) != "www.example.lab" || a.Type != layers.DNSTypeA || a.Class != layers.DNSClassIN || !a.IP.Equal(local.AsSlice()) {
			t.Errorf("answer %s %v %v %v, want www.example.lab A IN %v", a.Name, a.Type, a.Class, a.IP, local)
		}
	})
	t.Run("TXT, also in CHAOS and with EDNS", func(t *testing.T) {
		for _, q := range [][]byte{
			dnsQuery(1, "version.bind", layers.DNSTypeTXT, layers.DNSClassCH),
			withEDNS(dnsQuery(2, "a.b.c", layers.DNSTypeTXT, layers.DNSClassIN)),
		} {
			r, err := checkDNSReply(q, lab.AnswerUDP(53, q, local, testNow))
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Answers) != 1 || r.Answers[0].Type != layers.DNSTypeTXT || len(r.Answers[0].TXTs) != 1 || string(r.Answers[0].TXTs[0]) != "fastscan lab" {
				t.Errorf("answers %+v, want one TXT \"fastscan lab\"", r.Answers)
			}
		}
	})
	t.Run("other types get an empty NOERROR", func(t *testing.T) {
		for _, qt := range []layers.DNSType{layers.DNSTypeAAAA, layers.DNSTypeMX, layers.DNSTypeNS} {
			q := dnsQuery(7, "fastscan.lab", qt, layers.DNSClassIN)
			r, err := checkDNSReply(q, lab.AnswerUDP(53, q, local, testNow))
			if err != nil {
				t.Fatal(err)
			}
			if r.ResponseCode != layers.DNSResponseCodeNoErr || len(r.Answers) != 0 {
				t.Errorf("%v: rcode %v with %d answers, want NOERROR without answers", qt, r.ResponseCode, len(r.Answers))
			}
		}
	})
	t.Run("root name", func(t *testing.T) {
		q := []byte{0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1} // . NS IN
		r := lab.AnswerUDP(53, q, local, testNow)
		if len(r) != len(q) || r[0] != 0x12 || r[1] != 0x34 || r[2]&0x80 == 0 || !bytes.Equal(r[12:], q[12:]) {
			t.Errorf("reply % x to a root NS query", r)
		}
	})
	t.Run("other opcodes get NOTIMP", func(t *testing.T) {
		status := []byte{0xab, 0xcd, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0} // opcode 2 (STATUS)
		r := lab.AnswerUDP(53, status, local, testNow)
		want := []byte{0xab, 0xcd, 0x90, 0x04, 0, 0, 0, 0, 0, 0, 0, 0}
		if !bytes.Equal(r, want) {
			t.Errorf("reply to STATUS % x, want % x", r, want)
		}
	})
	t.Run("malformed gets nothing", func(t *testing.T) {
		good := dnsQuery(9, "host.fastscan.lab", layers.DNSTypeA, layers.DNSClassIN)
		set := func(i int, v byte) []byte { b := bytes.Clone(good); b[i] = v; return b }
		bad := map[string][]byte{
			"empty":            {},
			"short header":     good[:11],
			"header only":      good[:12],
			"response":         set(2, good[2]|0x80),
			"two questions":    set(5, 2),
			"no question":      set(5, 0),
			"answer count":     set(7, 1),
			"authority count":  set(9, 1),
			"2 additional":     set(11, 2),
			"label too long":   set(12, 64),
			"pointer in qname": set(12, 0xc0),
			"trailing garbage": append(bytes.Clone(good), 0),
			"missing OPT":      set(11, 1),
			"long name": func() []byte {
				q := []byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0}
				for range 5 {
					q = append(q, 63)
					q = append(q, bytes.Repeat([]byte{'a'}, 63)...)
				}
				return append(q, 0, 0, 1, 0, 1)
			}(),
		}
		for i := range len(good) - 1 {
			bad["prefix "+strconv.Itoa(i)] = good[:i]
		}
		for name, req := range bad {
			if r := lab.AnswerUDP(53, req, local, testNow); r != nil {
				t.Errorf("%s: answered % x", name, r)
			}
		}
	})
}

func TestNTPResponder(t *testing.T) {
	for _, version := range []uint8{1, 2, 3, 4} {
		xmt := uint64(0xeb12_3456_789a_bcde) + uint64(version)
		r := lab.AnswerUDP(123, ntpRequest(version, xmt), netip.Addr{}, time.Now())
		if err := checkNTPReply(r, version, xmt, time.Now()); err != nil {
			t.Errorf("version %d: %v", version, err)
		}
	}
	// The timestamps are the clock's: seconds since 1900 and a fraction.
	r := lab.AnswerUDP(123, ntpRequest(4, 1), netip.Addr{}, testNow)
	if got, want := binary.BigEndian.Uint64(r[40:]), uint64(testNow.Unix()+2208988800)<<32|1<<31; got != want {
		t.Errorf("transmit timestamp %#x, want %#x", got, want)
	}
	// With a MAC (key id + 16-byte digest) it is still a request.
	withMAC := append(ntpRequest(3, 42), make([]byte, 20)...)
	if err := checkNTPReply(lab.AnswerUDP(123, withMAC, netip.Addr{}, time.Now()), 3, 42, time.Now()); err != nil {
		t.Errorf("request with MAC: %v", err)
	}

	set0 := func(b byte) []byte { req := ntpRequest(4, 7); req[0] = b; return req }
	bad := map[string][]byte{
		"empty":        {},
		"47 bytes":     ntpRequest(4, 7)[:47],
		"odd length":   append(ntpRequest(4, 7), 0),
		"server mode":  set0(4<<3 | 4),
		"symmetric":    set0(4<<3 | 1),
		"control":      set0(2<<3 | 6),
		"private":      set0(2<<3 | 7),
		"version 0":    set0(0<<3 | 3),
		"version 5":    set0(5<<3 | 3),
		"zeros":        make([]byte, 48),
		"broadcast":    set0(4<<3 | 5),
		"leap, mode 0": set0(3 << 6),
	}
	for name, req := range bad {
		if r := lab.AnswerUDP(123, req, netip.Addr{}, testNow); r != nil {
			t.Errorf("%s: answered % x", name, r)
		}
	}
}

func TestSNMPResponder(t *testing.T) {
	for _, c := range []struct {
		version   int
		community string
		id        int32
	}{{0, "public", 1}, {1, "public", 0}, {1, "private", -1}, {0, "", 2147483647}, {1, "x", -2147483648}, {0, "public", 128}} {
		req := snmpGet(c.version, c.community, c.id, oidSysDescr(), oidSysUpTime(), oidSysName())
		p, err := decodeSNMPReply(lab.AnswerUDP(161, req, netip.Addr{}, testNow), c.version, c.community, c.id)
		if err != nil {
			t.Errorf("%+v: %v", c, err)
			continue
		}
		if p.ErrorStatus != 0 || p.ErrorIndex != 0 || len(p.VarBinds) != 3 {
			t.Errorf("%+v: error %d/%d with %d bindings, want 0/0 with 3", c, p.ErrorStatus, p.ErrorIndex, len(p.VarBinds))
			continue
		}
		for i, want := range []struct {
			oid      asn1.ObjectIdentifier
			class    int
			tag      int
			nonEmpty bool
		}{{oidSysDescr(), asn1.ClassUniversal, asn1.TagOctetString, true}, {oidSysUpTime(), asn1.ClassApplication, 3, true}, {oidSysName(), asn1.ClassUniversal, asn1.TagOctetString, true}} {
			vb := p.VarBinds[i]
			if !vb.Name.Equal(want.oid) || vb.Value.Class != want.class || vb.Value.Tag != want.tag || len(vb.Value.Bytes) == 0 {
				t.Errorf("%+v: binding %d = %v class %d tag %d % x, want %v class %d tag %d", c, i, vb.Name, vb.Value.Class, vb.Value.Tag, vb.Value.Bytes, want.oid, want.class, want.tag)
			}
		}
	}

	t.Run("unknown names", func(t *testing.T) {
		// v2c: noSuchObject per binding, no error.
		req := snmpGet(1, "public", 77, oidSysDescr(), oidUnknown())
		p, err := decodeSNMPReply(lab.AnswerUDP(161, req, netip.Addr{}, testNow), 1, "public", 77)
		if err != nil {
			t.Fatal(err)
		}
		if v := p.VarBinds[1].Value; p.ErrorStatus != 0 || v.Class != asn1.ClassContextSpecific || v.Tag != 0 || len(v.Bytes) != 0 || !p.VarBinds[1].Name.Equal(oidUnknown()) {
			t.Errorf("v2c unknown name: error %d, binding %+v; want noSuchObject", p.ErrorStatus, p.VarBinds[1])
		}
		// v1: noSuchName naming the first unknown binding, bindings as asked.
		req = snmpGet(0, "public", 78, oidSysDescr(), oidUnknown(), oidUnknown())
		p, err = decodeSNMPReply(lab.AnswerUDP(161, req, netip.Addr{}, testNow), 0, "public", 78)
		if err != nil {
			t.Fatal(err)
		}
		if p.ErrorStatus != 2 || p.ErrorIndex != 2 || len(p.VarBinds) != 3 {
			t.Errorf("v1 unknown name: error %d index %d with %d bindings, want noSuchName(2) at 2 with 3", p.ErrorStatus, p.ErrorIndex, len(p.VarBinds))
		}
		for _, vb := range p.VarBinds {
			if vb.Value.Tag != asn1.TagNull {
				t.Errorf("v1 error response binding %v has value tag %d, want NULL as requested", vb.Name, vb.Value.Tag)
			}
		}
	})

	t.Run("long community and many bindings use long lengths", func(t *testing.T) {
		community := string(bytes.Repeat([]byte{'c'}, 300))
		oids := make([]asn1.ObjectIdentifier, 20)
		for i := range oids {
			oids[i] = oidSysDescr()
		}
		p, err := decodeSNMPReply(lab.AnswerUDP(161, snmpGet(1, community, 5, oids...), netip.Addr{}, testNow), 1, community, 5)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.VarBinds) != 20 {
			t.Errorf("%d bindings, want 20", len(p.VarBinds))
		}
	})

	good := snmpGet(1, "public", 4242, oidSysDescr())
	set := func(i int, v byte) []byte { b := bytes.Clone(good); b[i] = v; return b }
	bad := map[string][]byte{
		"empty":            {},
		"v3":               snmpGet(3, "public", 1, oidSysDescr()),
		"version 2":        snmpGet(2, "public", 1, oidSysDescr()),
		"GetNext":          snmpEncode(1, "public", 0xa1, snmpPDU{RequestID: 1, VarBinds: []snmpVarBind{{oidSysDescr(), asn1.NullRawValue}}}),
		"Response":         snmpEncode(1, "public", 0xa2, snmpPDU{RequestID: 1, VarBinds: []snmpVarBind{{oidSysDescr(), asn1.NullRawValue}}}),
		"Trap":             snmpEncode(1, "public", 0xa7, snmpPDU{RequestID: 1}),
		"not a sequence":   set(0, 0x31),
		"indefinite":       set(1, 0x80),
		"trailing garbage": append(bytes.Clone(good), 0),
		"too many binds": snmpGet(1, "public", 1, func() []asn1.ObjectIdentifier {
			o := make([]asn1.ObjectIdentifier, 33)
			for i := range o {
				o[i] = oidSysName()
			}
			return o
		}()...),
	}
	for i := range len(good) - 1 {
		bad["prefix "+strconv.Itoa(i)] = good[:i]
	}
	for name, req := range bad {
		if r := lab.AnswerUDP(161, req, netip.Addr{}, testNow); r != nil {
			t.Errorf("%s: answered % x", name, r)
		}
	}
}

// FuzzUDPResponders feeds arbitrary datagrams to every responder: none may
// panic, and every answer must be a well-formed reply of its protocol.
func FuzzUDPResponders(f *testing.F) {
	f.Add(dnsQuery(1, "a.b", layers.DNSTypeA, layers.DNSClassIN))
	f.Add(withEDNS(dnsQuery(2, "fastscan.lab", layers.DNSTypeTXT, layers.DNSClassIN)))
	f.Add([]byte{0xab, 0xcd, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add(ntpRequest(4, 99))
	f.Add(snmpGet(0, "public", 1, oidSysDescr(), oidUnknown()))
	f.Add(snmpGet(1, "public", -7, oidSysName()))
	f.Add([]byte{})
	f.Add([]byte{0x30, 0x84, 0xff, 0xff, 0xff, 0xff})
	local := addr("198.19.1.2")
	f.Fuzz(func(t *testing.T, req []byte) {
		if r := lab.AnswerUDP(53, req, local, testNow); r != nil {
			var q layers.DNS
			if err := q.DecodeFromBytes(req, gopacket.NilDecodeFeedback); err != nil {
				// gopacket is stricter than RFC 1035 in places; where it cannot read
				// the query, the answer must still decode on its own.
				var a layers.DNS
				if err := a.DecodeFromBytes(r, gopacket.NilDecodeFeedback); err != nil {
					t.Errorf("DNS answer % x to % x does not decode: %v", r, req, err)
				}
			} else if _, err := checkDNSReply(req, r); err != nil && r[3]&0x0f != 4 {
				t.Errorf("DNS answer to % x is malformed: %v", req, err)
			}
			if r[0] != req[0] || r[1] != req[1] {
				t.Errorf("DNS answer to % x does not copy the id", req)
			}
		}
		if r := lab.AnswerUDP(123, req, local, testNow); r != nil {
			if len(r) != 48 || r[0]&7 != 4 || !bytes.Equal(r[24:32], req[40:48]) {
				t.Errorf("NTP answer % x to % x is malformed", r, req)
			}
		}
		if r := lab.AnswerUDP(161, req, local, testNow); r != nil {
			var m snmpMessage
			if rest, err := asn1.Unmarshal(r, &m); err != nil || len(rest) != 0 || m.PDU.Tag != 2 {
				t.Errorf("SNMP answer % x to % x is malformed: %v", r, req, err)
			}
		}
	})
}

// TestRespondersAnswerScannerProbes: the requests fastscan's UDP scan sends
// (package udpprobe) are answered by the lab's responder on their port, and
// the scan's reply matching accepts the answer as one to its own probe.
func TestRespondersAnswerScannerProbes(t *testing.T) {
	local := addr("198.19.3.4")
	for _, probe := range udpprobe.All() {
		buf := make([]byte, 2048)
		for _, cookie := range []uint64{0, 1, 0xdead_beef_cafe_f00d, 0x7f_ffff, 0xffff_ffff_ffff_ffff} {
			req := buf[:probe.Put(buf, cookie)]
			reply := lab.AnswerUDP(probe.Port, req, local, testNow)
			if lab.UDPService(probe.Port) == "" {
				if reply != nil {
					t.Errorf("%s probe to port %d without a lab responder got an answer", probe.Name, probe.Port)
				}
				continue
			}
			if reply == nil {
				t.Errorf("%s probe (cookie %#x) to port %d got no answer", probe.Name, cookie, probe.Port)
				continue
			}
			if !udpprobe.Match(probe.Port, reply, cookie) {
				t.Errorf("%s probe (cookie %#x): the scanner does not match the answer % x", probe.Name, cookie, reply)
			}
		}
	}
}

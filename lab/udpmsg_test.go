package lab_test

// Requests and reply checks for the lab's UDP responders, built and parsed
// with independent code (gopacket's DNS and NTP layers, encoding/asn1 for
// SNMP), so that the tests do not check the responders against themselves.

import (
	"bytes"
	"encoding/asn1"
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// dnsQuery is a standard query with one question and RD set.
func dnsQuery(id uint16, name string, qtype layers.DNSType, qclass layers.DNSClass) []byte {
	d := &layers.DNS{
		ID: id, RD: true, OpCode: layers.DNSOpCodeQuery,
		Questions: []layers.DNSQuestion{{Name: []byte(name), Type: qtype, Class: qclass}},
	}
	buf := gopacket.NewSerializeBuffer()
	if err := d.SerializeTo(buf, gopacket.SerializeOptions{FixLengths: true}); err != nil {
		panic(err) // a bug in the test's own input
	}
	return bytes.Clone(buf.Bytes())
}

// withEDNS adds an EDNS(0) OPT record (RFC 6891) to a query.
func withEDNS(q []byte) []byte {
	q = bytes.Clone(q)
	binary.BigEndian.PutUint16(q[10:], 1)
	return append(q, 0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0) // root, OPT, 4096, ttl 0, rdlen 0
}

// checkDNSReply checks that reply answers query (decoded by gopacket) and
// returns the decoded reply.
func checkDNSReply(query, reply []byte) (*layers.DNS, error) {
	var q, r layers.DNS
	if err := q.DecodeFromBytes(query, gopacket.NilDecodeFeedback); err != nil {
		return nil, fmt.Errorf("decode query: %w", err)
	}
	if err := r.DecodeFromBytes(reply, gopacket.NilDecodeFeedback); err != nil {
		return nil, fmt.Errorf("decode reply % x: %w", reply, err)
	}
	switch {
	case !r.QR:
		return nil, fmt.Errorf("reply has QR clear")
	case r.ID != q.ID:
		return nil, fmt.Errorf("reply id %#04x, query id %#04x", r.ID, q.ID)
	case r.RD != q.RD:
		return nil, fmt.Errorf("reply RD %v, query RD %v", r.RD, q.RD)
	case r.OpCode != q.OpCode:
		return nil, fmt.Errorf("reply opcode %v, query opcode %v", r.OpCode, q.OpCode)
	case len(r.Questions) != len(q.Questions):
		return nil, fmt.Errorf("reply has %d questions, query %d", len(r.Questions), len(q.Questions))
	}
	for i := range q.Questions {
		a, b := q.Questions[i], r.Questions[i]
		if !bytes.Equal(a.Name, b.Name) || a.Type != b.Type || a.Class != b.Class {
			return nil, fmt.Errorf("reply question %s/%v/%v, query %s/%v/%v", b.Name, b.Type, b.Class, a.Name, a.Type, a.Class)
		}
	}
	return &r, nil
}

// ntpRequest is an NTP client request (mode 3) with transmit timestamp xmt.
func ntpRequest(version uint8, xmt uint64) []byte {
	b := make([]byte, 48)
	b[0] = version<<3 | 3
	b[2] = 6 // poll 64 s
	binary.BigEndian.PutUint64(b[40:], xmt)
	return b
}

// checkNTPReply checks an NTP server reply to a request with the given
// version and transmit timestamp, sent at about sent.
func checkNTPReply(reply []byte, version uint8, xmt uint64, sent time.Time) error {
	if len(reply) != 48 {
		return fmt.Errorf("reply is %d bytes, want 48", len(reply))
	}
	var r layers.NTP
	if err := r.DecodeFromBytes(reply, gopacket.NilDecodeFeedback); err != nil {
		return fmt.Errorf("decode reply: %w", err)
	}
	if r.Mode != 4 || r.Version != layers.NTPVersion(version) || r.LeapIndicator != 0 || r.Stratum != 1 {
		return fmt.Errorf("reply mode %d version %d leap %d stratum %d, want 4/%d/0/1", r.Mode, r.Version, r.LeapIndicator, r.Stratum, version)
	}
	if got := binary.BigEndian.Uint64(reply[24:]); got != xmt {
		return fmt.Errorf("origin timestamp (offset 24) %#x, want the request's transmit timestamp %#x", got, xmt)
	}
	// The server's clock is the test's clock: receive and transmit times
	// must be within a few seconds of when the request was sent.
	for name, ts := range map[string]layers.NTPTimestamp{"receive": r.ReceiveTimestamp, "transmit": r.TransmitTimestamp} {
		secs := int64(ts>>32) - 2208988800
		if d := time.Unix(secs, 0).Sub(sent); d < -2*time.Second || d > 5*time.Second {
			return fmt.Errorf("%s timestamp %v is %v away from the request", name, time.Unix(secs, 0), d)
		}
	}
	return nil
}

// snmpVarBind is one SNMP variable binding.
type snmpVarBind struct {
	Name  asn1.ObjectIdentifier
	Value asn1.RawValue
}

// snmpPDU is the body of a GetRequest or GetResponse PDU.
type snmpPDU struct {
	RequestID   int32
	ErrorStatus int
	ErrorIndex  int
	VarBinds    []snmpVarBind
}

// snmpMessage is an SNMP v1/v2c message with its PDU still encoded.
type snmpMessage struct {
	Version   int
	Community []byte
	PDU       asn1.RawValue
}

// OIDs used by the tests (functions, so that no test can change them).
func oidSysDescr() asn1.ObjectIdentifier  { return asn1.ObjectIdentifier{1, 3, 6, 1, 2, 1, 1, 1, 0} }
func oidSysUpTime() asn1.ObjectIdentifier { return asn1.ObjectIdentifier{1, 3, 6, 1, 2, 1, 1, 3, 0} }
func oidSysName() asn1.ObjectIdentifier   { return asn1.ObjectIdentifier{1, 3, 6, 1, 2, 1, 1, 5, 0} }
func oidUnknown() asn1.ObjectIdentifier   { return asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1, 0} }

// snmpGet is a v1 (version 0) or v2c (version 1) GetRequest for oids with
// NULL values.
func snmpGet(version int, community string, requestID int32, oids ...asn1.ObjectIdentifier) []byte {
	pdu := snmpPDU{RequestID: requestID}
	for _, o := range oids {
		pdu.VarBinds = append(pdu.VarBinds, snmpVarBind{Name: o, Value: asn1.NullRawValue})
	}
	return snmpEncode(version, community, 0xa0, pdu)
}

// snmpEncode encodes a message whose PDU has the given tag byte.
func snmpEncode(version int, community string, pduTag byte, pdu snmpPDU) []byte {
	body, err := asn1.Marshal(pdu)
	if err != nil {
		panic(err)
	}
	body[0] = pduTag // implicit [n] tag instead of SEQUENCE
	msg, err := asn1.Marshal(snmpMessage{Version: version, Community: []byte(community), PDU: asn1.RawValue{FullBytes: body}})
	if err != nil {
		panic(err)
	}
	return msg
}

// decodeSNMPReply decodes a GetResponse and checks that it answers a
// request with the given version, community and request-id.
func decodeSNMPReply(reply []byte, version int, community string, requestID int32) (snmpPDU, error) {
	var m snmpMessage
	rest, err := asn1.Unmarshal(reply, &m)
	if err != nil || len(rest) != 0 {
		return snmpPDU{}, fmt.Errorf("decode reply % x: %v (%d bytes left)", reply, err, len(rest))
	}
	if m.Version != version || string(m.Community) != community {
		return snmpPDU{}, fmt.Errorf("reply version %d community %q, want %d %q", m.Version, m.Community, version, community)
	}
	if m.PDU.Class != asn1.ClassContextSpecific || m.PDU.Tag != 2 || !m.PDU.IsCompound {
		return snmpPDU{}, fmt.Errorf("reply PDU class %d tag %d, want a GetResponse [2]", m.PDU.Class, m.PDU.Tag)
	}
	body := bytes.Clone(m.PDU.FullBytes)
	body[0] = 0x30
	var p snmpPDU
	if rest, err := asn1.Unmarshal(body, &p); err != nil || len(rest) != 0 {
		return snmpPDU{}, fmt.Errorf("decode reply PDU: %v (%d bytes left)", err, len(rest))
	}
	if p.RequestID != requestID {
		return snmpPDU{}, fmt.Errorf("reply request-id %d, want %d", p.RequestID, requestID)
	}
	return p, nil
}

// udpRequest is a well-formed request for one of the lab's UDP services and
// a check of its reply, which must come from local.
type udpRequest struct {
	name  string
	req   []byte
	check func(reply []byte, local netip.Addr) error
}

// serviceRequest returns a well-formed request for the lab service on
// port (53, 123 or 161), distinct per seq.
func serviceRequest(port uint16, seq int) udpRequest {
	switch port {
	case 53:
		q := dnsQuery(uint16(0x4000+seq), "probe.fastscan.lab", layers.DNSTypeA, layers.DNSClassIN)
		return udpRequest{"dns", q, func(reply []byte, local netip.Addr) error {
			r, err := checkDNSReply(q, reply)
			if err != nil {
				return err
			}
			if r.ResponseCode != layers.DNSResponseCodeNoErr || len(r.Answers) != 1 {
				return fmt.Errorf("rcode %v with %d answers, want NOERROR with 1", r.ResponseCode, len(r.Answers))
			}
			if a, ok := netip.AddrFromSlice(r.Answers[0].IP.To4()); !ok || a != local {
				return fmt.Errorf("A record %v, want the probed address %v", r.Answers[0].IP, local)
			}
			return nil
		}}
	case 123:
		xmt := uint64(0xe000_0000_0000_0000) | uint64(seq)<<8 | 0x5a
		sent := time.Now()
		return udpRequest{"ntp", ntpRequest(4, xmt), func(reply []byte, _ netip.Addr) error {
			return checkNTPReply(reply, 4, xmt, sent)
		}}
	case 161:
		id := int32(0x10000 + seq)
		return udpRequest{"snmp", snmpGet(1, "public", id, oidSysDescr()), func(reply []byte, _ netip.Addr) error {
			p, err := decodeSNMPReply(reply, 1, "public", id)
			if err != nil {
				return err
			}
			if p.ErrorStatus != 0 || len(p.VarBinds) != 1 || !p.VarBinds[0].Name.Equal(oidSysDescr()) || p.VarBinds[0].Value.Tag != asn1.TagOctetString {
				return fmt.Errorf("reply %+v, want sysDescr.0 as an OCTET STRING", p)
			}
			return nil
		}}
	}
	panic(fmt.Sprintf("no lab UDP service on port %d", port))
}

package output

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/netip"
	"strconv"
	"time"

	"github.com/fastscan/fastscan/registry"
	"github.com/fastscan/fastscan/result"
)

// ECSVersion is the Elastic Common Schema version the ECS lines follow.
const ECSVersion = "8.11.0"

// ECS writes one Elastic Common Schema 8.x document per line and result, with nested
// objects only (no dotted keys), ready for Elasticsearch or any SIEM that speaks ECS:
//
//	{"@timestamp":"…","ecs":{"version":"8.11.0"},"event":{"kind":"state","category":["network"],
//	 "type":["info"],"action":"port-open","module":"fastscan","dataset":"fastscan.scan","id":"…"},
//	 "destination":{"ip":"198.19.0.5","port":22},"source":{"ip":"198.18.0.1","port":61000},
//	 "network":{"transport":"tcp","type":"ipv4","iana_number":"6"},"observer":{…},
//	 "related":{"ip":["198.19.0.5","198.18.0.1"]},"message":"198.19.0.5:22/tcp open (syn-ack)",
//	 "fastscan":{"state":"open","reason":"syn-ack","ttl":64,"service":"ssh","port_class":"system","scan_id":"…"}}
//
// With service identification (Result.Service, -sV) a document adds ECS's service
// object (name, version) and, for a port that spoke TLS, its tls object:
// version and version_protocol ("1.3", "tls"), established, cipher,
// next_protocol (ALPN), server.hash.sha256 (upper case) and server.x509
// (subject.common_name, alternative_names, issuer.distinguished_name,
// not_before, not_after); fastscan's own fields go under fastscan:
// service_method, product, info, banner, starttls, service_error:
//
//	"service":{"name":"http","version":"1.22.1"},"tls":{"version":"1.3","version_protocol":"tls","established":true,
//	 "cipher":"TLS_AES_128_GCM_SHA256","next_protocol":"http/1.1","server":{"hash":{"sha256":"0123…"},
//	 "x509":{"subject":{"common_name":["web.lab"]},"alternative_names":["web.lab"],"issuer":{"distinguished_name":"CN=lab CA"},
//	 "not_before":"…","not_after":"…"}}},"fastscan":{…,"service":"http","service_method":"probed",…,"product":"nginx"}
//
// event.id is derived from the scan id, address, port and protocol, so ingesting the
// same file twice does not duplicate documents.
//
// After the results, at Close, one more document for every host End flagged as
// answering SYN-ACK on (nearly) every TCP port probed (a SYN proxy or tarpit):
// a host event (category host, action host-open-everywhere) with the host in
// host.ip, the counts under fastscan (record host-note, note open-everywhere),
// and observer.ip when a result of the host's address family named the scanner's
// source address (as every result of a probed host does):
//
//	{"@timestamp":"…","ecs":{"version":"8.11.0"},"event":{"kind":"state","category":["host"],"type":["info"],
//	 "action":"host-open-everywhere","module":"fastscan","dataset":"fastscan.scan","id":"…"},
//	 "host":{"ip":["198.18.1.90"]},"related":{"ip":["198.18.1.90"]},
//	 "message":"198.18.1.90: SYN-ACK on 64 of 64 TCP ports probed: a SYN proxy or tarpit?",
//	 "fastscan":{"record":"host-note","note":"open-everywhere","syn_acks":64,"probed":64,"scan_id":"…"},"observer":{…}}
//
// The layout of both kinds of document is described by the JSON Schema in
// output/schema/ecs.schema.json.
type ECS struct {
	lineWriter
	scan Scan
	// notes are the hosts End flagged, written at Close.
	notes []result.OpenEverywhere
	// source4 and source6 are the first source addresses of each family the
	// results named: the observer.ip of the notes.
	source4, source6 netip.Addr
}

// NewECS returns an ECS writer on w for the scan s.
func NewECS(w io.Writer, services *registry.Registry, s Scan) *ECS {
	return &ECS{lineWriter: newLineWriter(w, services), scan: s}
}

// Write writes r as one ECS document.
func (e *ECS) Write(r *result.Result) error {
	e.keepSource(r.SourceIP)
	e.line = append(e.appendLine(e.line[:0], r), '\n')
	return e.flushLine()
}

// appendLine appends r as one JSON object, without a line break.
func (e *ECS) appendLine(b []byte, r *result.Result) []byte {
	b = append(b, `{"@timestamp":"`...)
	b = time.Unix(0, r.TimeNanos).UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","ecs":{"version":"`+ECSVersion+`"},"event":{"kind":"state","category":["network"],"type":["info"],"action":"`...)
	b = append(b, ecsAction(r.State)...)
	b = append(b, `","module":"fastscan","dataset":"fastscan.scan","id":"`...)
	b = e.appendEventID(b, r)
	b = append(b, `"},"destination":{"ip":"`...)
	b = appendAddr(b, r.IP)
	b = append(b, `","port":`...)
	b = strconv.AppendUint(b, uint64(r.Port), 10)
	b = append(b, `},"source":{"ip":"`...)
	b = appendAddr(b, r.SourceIP)
	b = append(b, `","port":`...)
	b = strconv.AppendUint(b, uint64(r.SourcePort), 10)
	b = append(b, `},"network":{"transport":"`...)
	b = append(b, r.Proto.String()...)
	b = append(b, `","type":"`...)
	b = append(b, ipType(r.IP)...)
	b = append(b, `","iana_number":"`...)
	if r.Proto == result.UDP {
		b = append(b, "17"...)
	} else {
		b = append(b, "6"...)
	}
	b = append(b, `"},"observer":{"hostname":`...)
	b = appendJSONString(b, e.scan.Hostname)
	b = append(b, `,"ip":["`...)
	b = appendAddr(b, r.SourceIP)
	b = append(b, `"],"type":"scanner","vendor":"fastscan","product":"fastscan","version":`...)
	b = appendJSONString(b, e.scan.Version)
	b = append(b, `},"related":{"ip":["`...)
	b = appendAddr(b, r.IP)
	b = append(b, `","`...)
	b = appendAddr(b, r.SourceIP)
	b = append(b, `"]},"message":"`...)
	b = appendHostPort(b, r.IP)
	b = strconv.AppendUint(b, uint64(r.Port), 10)
	b = append(b, '/')
	b = append(b, r.Proto.String()...)
	b = append(b, ' ')
	b = append(b, r.State.String()...)
	b = append(b, " ("...)
	b = append(b, r.Reason.String()...)
	b = append(b, `)",`...)
	b = appendECSService(b, r.Service, e.service(r))
	b = append(b, `"fastscan":{`...)
	b = e.appendVerdict(b, r, false)
	b = append(b, `,"scan_id":`...)
	b = appendJSONString(b, e.scan.ID)
	if s := r.Service; s != nil {
		b = appendJSONMember(b, "product", s.Product)
		b = appendJSONMember(b, "info", s.Info)
		b = appendJSONMember(b, "banner", s.Banner)
		if s.StartTLS {
			b = append(b, `,"starttls":true`...)
		}
		b = appendJSONMember(b, "service_error", s.Error)
	}
	return append(b, "}}"...)
}

// appendECSService appends the ECS objects of service identification, each
// followed by a comma: service (name, the name fastscan.service has too: the
// registry's, or "unknown", where nothing recognisable answered on a port it
// names nothing; and version) and tls (the handshake and the server's
// certificate, in ECS's tls.* and tls.server.x509.* fields). Nothing when s is
// nil. The scanner's own fields (method, product, info, banner, starttls,
// error) go under fastscan.
func appendECSService(b []byte, s *result.Service, name string) []byte {
	if s == nil {
		return b
	}
	b = append(b, `"service":{"name":`...)
	b = appendJSONString(b, name)
	b = appendJSONMember(b, "version", s.Version)
	b = append(b, "},"...)
	t := s.TLS
	if t == nil {
		return b
	}
	b = append(b, `"tls":{`...)
	n := len(b)
	if proto, version, ok := ecsTLSVersion(t.Version); ok {
		b = appendJSONMember(b, "version", version)
		b = appendJSONMember(b, "version_protocol", proto)
	}
	if t.Version != "" {
		b = append(b, `,"established":true`...)
	}
	b = appendJSONMember(b, "cipher", t.CipherSuite)
	b = appendJSONMember(b, "next_protocol", t.ALPN)
	hasX509 := t.SubjectCN != "" || len(t.SANs) > 0 || t.Issuer != "" || !t.NotBefore.IsZero() || !t.NotAfter.IsZero()
	if t.SHA256 != "" || hasX509 {
		b = append(b, `,"server":{`...)
		m := len(b)
		if t.SHA256 != "" {
			// ECS asks for hashes in upper case.
			b = append(b, `,"hash":{"sha256":"`...)
			for i := 0; i < len(t.SHA256); i++ {
				c := t.SHA256[i]
				switch {
				case 'a' <= c && c <= 'z':
					c -= 'a' - 'A'
				case c < 0x20 || c == '"' || c == '\\' || c >= 0x80:
					c = '?' // not hex: keep the document valid JSON
				}
				b = append(b, c)
			}
			b = append(b, `"}`...)
		}
		if hasX509 {
			b = append(b, `,"x509":{`...)
			k := len(b)
			if t.SubjectCN != "" {
				b = append(b, `,"subject":{"common_name":[`...)
				b = appendJSONString(b, t.SubjectCN)
				b = append(b, "]}"...)
			}
			if len(t.SANs) > 0 {
				b = append(b, `,"alternative_names":`...)
				b = appendJSONStrings(b, t.SANs)
			}
			if t.Issuer != "" {
				b = append(b, `,"issuer":{"distinguished_name":`...)
				b = appendJSONString(b, t.Issuer)
				b = append(b, '}')
			}
			b = appendJSONTime(b, "not_before", t.NotBefore)
			b = appendJSONTime(b, "not_after", t.NotAfter)
			b = closeObject(b, k)
		}
		b = closeObject(b, m)
	}
	b = closeObject(b, n)
	return append(b, ',')
}

// closeObject closes the JSON object whose members, each written with a
// leading comma, start at b[start:]: it drops the first member's comma.
func closeObject(b []byte, start int) []byte {
	if len(b) > start {
		b = append(b[:start], b[start+1:]...)
	}
	return append(b, '}')
}

// ecsTLSVersion splits a TLS version as crypto/tls names it ("TLS 1.3",
// "SSLv3") into ECS's tls.version_protocol ("tls", "ssl") and tls.version
// ("1.3", "3.0"); ok is false for anything else.
func ecsTLSVersion(v string) (proto, version string, ok bool) {
	switch v {
	case "TLS 1.0":
		return "tls", "1.0", true
	case "TLS 1.1":
		return "tls", "1.1", true
	case "TLS 1.2":
		return "tls", "1.2", true
	case "TLS 1.3":
		return "tls", "1.3", true
	case "SSLv3", "SSL 3.0":
		return "ssl", "3.0", true
	}
	return "", "", false
}

// appendEventID appends a stable id for the finding: the first 16 bytes of the
// SHA-256 of scan id, address (its 4 bytes for IPv4), port and protocol, in hex.
func (e *ECS) appendEventID(b []byte, r *result.Result) []byte {
	var in [64]byte
	k := copy(in[:40], e.scan.ID)
	in[k] = '|'
	k++
	if r.IP.Is4() {
		ip := r.IP.As4()
		k += copy(in[k:], ip[:])
	} else {
		ip := r.IP.As16()
		k += copy(in[k:], ip[:])
	}
	in[k], in[k+1], in[k+2] = byte(r.Port>>8), byte(r.Port), byte(r.Proto)
	sum := sha256.Sum256(in[:k+3])
	return hex.AppendEncode(b, sum[:16])
}

// ipType is ECS's network.type of an address: ipv4 or ipv6.
func ipType(a netip.Addr) string {
	if a.Is6() && !a.Is4In6() {
		return "ipv6"
	}
	return "ipv4"
}

// appendHostPort appends a, bracketed when IPv6, and the colon before a port
// ([2001:db8::1]:22, as RFC 3986 and net.JoinHostPort write it).
func appendHostPort(b []byte, a netip.Addr) []byte {
	if a.Is6() && !a.Is4In6() {
		b = append(b, '[')
		b = appendAddr(b, a)
		return append(b, "]:"...)
	}
	b = appendAddr(b, a)
	return append(b, ':')
}

// ecsAction is event.action for a state: port-open, port-closed, port-filtered,
// port-open-filtered.
func ecsAction(s result.State) string {
	switch s {
	case result.Open:
		return "port-open"
	case result.Closed:
		return "port-closed"
	case result.OpenFiltered:
		return "port-open-filtered"
	}
	return "port-filtered"
}

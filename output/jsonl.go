package output

import (
	"io"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/fastscan/fastscan/registry"
	"github.com/fastscan/fastscan/result"
)

// SchemaVersion is the version of the JSON lines layout, written in every line as
// schema_version. It changes only when a key is renamed, removed or changes meaning.
// Version 2 added service_method to every result, and the keys of service
// identification (-sV): product, version, info, banner, starttls, tls and
// service_error; service became the name of what answered when -sV probed it.
// fastscan merge reads versions 1 and 2.
const SchemaVersion = 2

// JSONL writes one JSON object per line and result:
//
//	{"schema_version":2,"ip":"198.19.0.5","port":22,"proto":"tcp","state":"open","reason":"syn-ack","ttl":64,"service":"ssh","service_method":"table","port_class":"system","timestamp":"2026-11-22T11:00:00.123456789Z"}
//
// The service is the port's first assigned name in the registry ("unknown" where it
// has none), and service_method "table" says so; port_class is its RFC 6335 class:
// system, user or dynamic.
//
// A result with service identification (Result.Service, -sV) names the service
// that answered, with service_method "probed" (else the registry's name, "table"),
// and adds what was learnt, each key only when it has a value, before the
// timestamp: product, version, info, banner (the first bytes the port sent, as
// escaped and bounded by service identification), starttls (true), tls (the
// handshake and the server's certificate: version, cipher_suite, alpn,
// subject_cn, sans, issuer, not_before, not_after, sha256) and service_error:
//
//	{"schema_version":2,"ip":"198.19.0.5","port":443,"proto":"tcp","state":"open","reason":"syn-ack","ttl":64,"service":"http","service_method":"probed","port_class":"system","product":"nginx","version":"1.22.1","banner":"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\n","tls":{"version":"TLS 1.3","cipher_suite":"TLS_AES_128_GCM_SHA256","alpn":"http/1.1","subject_cn":"web.lab","sans":["web.lab"],"issuer":"CN=lab CA","not_before":"2026-11-01T00:00:00Z","not_after":"2027-11-01T00:00:00Z","sha256":"9f…"},"timestamp":"2026-11-22T11:00:00.123456789Z"}
//
// A writer made for a shard of a scan (NewJSONLScan with Scan.Shards set, as
// fastscan's outputs are when --shard, --shards or a scheduler's environment
// shards the scan) starts with one scan record, the only line with a "record" key:
//
//	{"schema_version":2,"record":"scan","scan_id":"3f6c0e9a1b2d4c5e8f7a6b5c4d3e2f10","shard":0,"shards":4,"fastscan_version":"0.1.0","start":"2026-11-22T11:00:00Z"}
//
// scan_id is the same in every shard (and run) of one scan; shard/shards say which
// part of it the file holds, so that fastscan merge can refuse files of different
// scans and find missing or repeated shards, also of shards with no result. An
// unsharded scan writes results only, as before shards existed. The layout is described by the JSON Schema in
// output/schema/jsonl.schema.json.
type JSONL struct {
	lineWriter
}

// NewJSONL returns a JSONL writer on w that names services from services (nil: the
// built-in registry), with no scan record.
func NewJSONL(w io.Writer, services *registry.Registry) *JSONL {
	return &JSONL{newLineWriter(w, services)}
}

// NewJSONLScan is NewJSONL with the scan record of scan as its first line when
// scan is a shard (scan.Shards above 0).
func NewJSONLScan(w io.Writer, services *registry.Registry, scan Scan) *JSONL {
	j := NewJSONL(w, services)
	if scan.Shards > 0 {
		j.header = string(AppendScanRecord(nil, scan))
	}
	return j
}

// AppendScanRecord appends the JSON lines scan record of scan, with its line break.
func AppendScanRecord(b []byte, scan Scan) []byte {
	b = append(b, `{"schema_version":`...)
	b = strconv.AppendInt(b, SchemaVersion, 10)
	b = append(b, `,"record":"scan","scan_id":`...)
	b = appendJSONString(b, scan.ID)
	b = append(b, `,"shard":`...)
	b = strconv.AppendInt(b, int64(scan.Shard), 10)
	b = append(b, `,"shards":`...)
	b = strconv.AppendInt(b, int64(max(scan.Shards, 1)), 10)
	b = append(b, `,"fastscan_version":`...)
	b = appendJSONString(b, scan.Version)
	b = append(b, `,"start":"`...)
	b = scan.Start.UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, "\"}\n"...)
}

// Write writes r as one JSON line.
func (j *JSONL) Write(r *result.Result) error {
	j.line = append(j.appendLine(j.line[:0], r), '\n')
	return j.flushLine()
}

// appendLine appends r as one JSON object, without a line break.
func (j *JSONL) appendLine(b []byte, r *result.Result) []byte {
	b = append(b, `{"schema_version":`...)
	b = strconv.AppendInt(b, SchemaVersion, 10)
	b = append(b, `,"ip":"`...)
	b = appendAddr(b, r.IP)
	b = append(b, `","port":`...)
	b = strconv.AppendUint(b, uint64(r.Port), 10)
	b = append(b, `,"proto":"`...)
	b = append(b, r.Proto.String()...)
	b = append(b, `",`...)
	b = j.appendVerdict(b, r, true)
	b = appendServiceJSON(b, r.Service)
	b = append(b, `,"timestamp":"`...)
	b = time.Unix(0, r.TimeNanos).UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, "\"}"...)
}

// appendJSONString appends s as a JSON string. Service names come from a registry
// file the user chose, and banners, products and certificate names from the
// scanned hosts, so quotes, backslashes and control characters are escaped, and
// a byte that is not part of valid UTF-8 becomes U+FFFD (as encoding/json
// writes it), so that the line stays valid JSON whatever s holds.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, `\ufffd`...)
			} else {
				b = append(b, s[i:i+size]...)
			}
			i += size
			continue
		default:
			b = append(b, c)
		}
		i++
	}
	return append(b, '"')
}

// appendVerdict appends the verdict's JSON members, shared by the JSON lines and the
// fastscan object of ECS: "state", "reason", "ttl", "service", "service_method"
// (always when method, else only with Result.Service), "port_class".
func (lw *lineWriter) appendVerdict(b []byte, r *result.Result, method bool) []byte {
	b = append(b, `"state":"`...)
	b = append(b, r.State.String()...)
	b = append(b, `","reason":"`...)
	b = append(b, r.Reason.String()...)
	b = append(b, `","ttl":`...)
	b = strconv.AppendUint(b, uint64(r.TTL), 10)
	b = append(b, `,"service":`...)
	b = appendJSONString(b, lw.service(r))
	if method || r.Service != nil {
		b = append(b, `,"service_method":`...)
		b = appendJSONString(b, serviceMethod(r))
	}
	b = append(b, `,"port_class":"`...)
	b = append(b, registry.ClassOf(r.Port).String()...)
	return append(b, '"')
}

// appendServiceJSON appends the JSON lines members of service identification, each
// only when it has a value: "product", "version", "info", "banner", "starttls",
// "tls" and "service_error". Nothing when s is nil.
func appendServiceJSON(b []byte, s *result.Service) []byte {
	if s == nil {
		return b
	}
	b = appendJSONMember(b, "product", s.Product)
	b = appendJSONMember(b, "version", s.Version)
	b = appendJSONMember(b, "info", s.Info)
	b = appendJSONMember(b, "banner", s.Banner)
	if s.StartTLS {
		b = append(b, `,"starttls":true`...)
	}
	if t := s.TLS; t != nil {
		b = append(b, `,"tls":{`...)
		n := len(b)
		b = appendJSONMember(b, "version", t.Version)
		b = appendJSONMember(b, "cipher_suite", t.CipherSuite)
		b = appendJSONMember(b, "alpn", t.ALPN)
		b = appendJSONMember(b, "subject_cn", t.SubjectCN)
		if len(t.SANs) > 0 {
			b = append(b, `,"sans":`...)
			b = appendJSONStrings(b, t.SANs)
		}
		b = appendJSONMember(b, "issuer", t.Issuer)
		b = appendJSONTime(b, "not_before", t.NotBefore)
		b = appendJSONTime(b, "not_after", t.NotAfter)
		b = appendJSONMember(b, "sha256", t.SHA256)
		b = closeObject(b, n)
	}
	return appendJSONMember(b, "service_error", s.Error)
}

// serviceMethod is how r's service was named: Result.Service's Method, else
// "table" (the port registry's name).
func serviceMethod(r *result.Result) string {
	if r.Service != nil && r.Service.Method != "" {
		return r.Service.Method
	}
	return "table"
}

// appendJSONMember appends ,"key":value when value is not empty.
func appendJSONMember(b []byte, key, value string) []byte {
	if value == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return appendJSONString(b, value)
}

// appendJSONTime appends ,"key":"RFC 3339 time in UTC" when t is not zero.
func appendJSONTime(b []byte, key string, t time.Time) []byte {
	if t.IsZero() {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, `":"`...)
	b = t.UTC().AppendFormat(b, time.RFC3339)
	return append(b, '"')
}

// appendJSONStrings appends ss as a JSON array of strings.
func appendJSONStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s)
	}
	return append(b, ']')
}

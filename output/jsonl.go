package output

import (
	"io"
	"strconv"
	"time"

	"github.com/fastscan/fastscan/registry"
	"github.com/fastscan/fastscan/result"
)

// SchemaVersion is the version of the JSON lines layout, written in every line as
// schema_version. It changes only when a key is renamed, removed or changes meaning.
const SchemaVersion = 1

// JSONL writes one JSON object per line and result:
//
//	{"schema_version":1,"ip":"198.19.0.5","port":22,"proto":"tcp","state":"open","reason":"syn-ack","ttl":64,"service":"ssh","port_class":"system","timestamp":"2026-11-22T11:00:00.123456789Z"}
//
// The service is the port's first assigned name in the registry ("unknown" where it
// has none); port_class is its RFC 6335 class: system, user or dynamic.
//
// A writer made for a shard of a scan (NewJSONLScan with Scan.Shards set, as
// fastscan's outputs are when --shard, --shards or a scheduler's environment
// shards the scan) starts with one scan record, a line with a "record" key:
//
//	{"schema_version":1,"record":"scan","scan_id":"3f6c0e9a1b2d4c5e8f7a6b5c4d3e2f10","shard":0,"shards":4,"fastscan_version":"0.1.0","start":"2026-11-22T11:00:00Z"}
//
// scan_id is the same in every shard (and run) of one scan; shard/shards say which
// part of it the file holds, so that fastscan merge can refuse files of different
// scans and find missing or repeated shards, also of shards with no result. An
// unsharded scan writes no scan record, as before shards existed. After the results
// come the host-note records End asks for (openeverywhere.go). The layout is described by the JSON Schema in
// output/schema/jsonl.schema.json.
type JSONL struct {
	lineWriter
	notes []result.OpenEverywhere // host-note records for Close (openeverywhere.go)
}

// NewJSONL returns a JSONL writer on w that names services from services (nil: the
// built-in registry), with no scan record.
func NewJSONL(w io.Writer, services *registry.Registry) *JSONL {
	return &JSONL{lineWriter: newLineWriter(w, services)}
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
	b = j.appendVerdict(b, r)
	b = append(b, `,"timestamp":"`...)
	b = time.Unix(0, r.TimeNanos).UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, "\"}"...)
}

// appendJSONString appends s as a JSON string. Service names come from a registry
// file the user chose, so quotes, backslashes and control characters are escaped.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// appendVerdict appends the verdict's JSON members, shared by the JSON lines and the
// fastscan object of ECS: "state", "reason", "ttl", "service", "port_class".
func (lw *lineWriter) appendVerdict(b []byte, r *result.Result) []byte {
	b = append(b, `"state":"`...)
	b = append(b, r.State.String()...)
	b = append(b, `","reason":"`...)
	b = append(b, r.Reason.String()...)
	b = append(b, `","ttl":`...)
	b = strconv.AppendUint(b, uint64(r.TTL), 10)
	b = append(b, `,"service":`...)
	b = appendJSONString(b, lw.service(r))
	b = append(b, `,"port_class":"`...)
	b = append(b, registry.ClassOf(r.Port).String()...)
	return append(b, '"')
}

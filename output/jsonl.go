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
// has none); port_class is its RFC 6335 class: system, user or dynamic. The layout is
// described by the JSON Schema in output/schema/jsonl.schema.json.
type JSONL struct {
	lineWriter
}

// NewJSONL returns a JSONL writer on w that names services from services (nil: the
// built-in registry).
func NewJSONL(w io.Writer, services *registry.Registry) *JSONL {
	return &JSONL{newLineWriter(w, services)}
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

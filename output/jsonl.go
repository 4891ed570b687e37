package output

import (
	"io"
	"strconv"
	"time"

	"github.com/fastscan/fastscan/result"
)

// JSONL writes one JSON object per line and result:
//
//	{"ip":"198.19.0.5","port":22,"proto":"tcp","state":"open","reason":"syn-ack","ttl":64,"timestamp":"2026-11-22T11:00:00.123456789Z"}
//
// Every value it writes is an address, a number or a fixed name, so nothing needs escaping.
type JSONL struct {
	lineWriter
}

// NewJSONL returns a JSONL writer on w.
func NewJSONL(w io.Writer) *JSONL { return &JSONL{newLineWriter(w)} }

// Write writes r as one JSON line.
func (j *JSONL) Write(r *result.Result) error {
	b := j.line[:0]
	b = append(b, `{"ip":"`...)
	b = appendIPv4(b, r.IP)
	b = append(b, `","port":`...)
	b = strconv.AppendUint(b, uint64(r.Port), 10)
	b = append(b, `,"proto":"`...)
	b = append(b, r.Proto.String()...)
	b = append(b, `","state":"`...)
	b = append(b, r.State.String()...)
	b = append(b, `","reason":"`...)
	b = append(b, r.Reason.String()...)
	b = append(b, `","ttl":`...)
	b = strconv.AppendUint(b, uint64(r.TTL), 10)
	b = append(b, `,"timestamp":"`...)
	b = time.Unix(0, r.TimeNanos).UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, "\"}\n"...)
	j.line = b
	return j.flushLine()
}

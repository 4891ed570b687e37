package output

import (
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/fastscan/fastscan/registry"
	"github.com/fastscan/fastscan/result"
)

// csvHeader is the CSV header row, naming the fields in the order CSV writes them.
const csvHeader = "ip,port,proto,state,reason,ttl,service,port_class,timestamp,product,version\r\n"

// CSV writes comma-separated values (RFC 4180) with a header row, one row per result,
// for spreadsheets:
//
//	ip,port,proto,state,reason,ttl,service,port_class,timestamp,product,version
//	198.19.0.5,22,tcp,open,syn-ack,64,ssh,system,2026-11-22T11:00:00.123456789Z,OpenSSH,9.2p1
//
// product and version are what service identification (-sV) learnt of the
// port, empty without it; they came last (after timestamp) so that readers
// that take the first nine columns by position read the same.
type CSV struct {
	lineWriter
}

// NewCSV returns a CSV writer on w that names services from services (nil: the
// built-in registry).
func NewCSV(w io.Writer, services *registry.Registry) *CSV {
	c := &CSV{newLineWriter(w, services)}
	c.header = csvHeader
	return c
}

// Write writes r as one row.
func (c *CSV) Write(r *result.Result) error {
	b := c.line[:0]
	b = appendAddr(b, r.IP)
	b = append(b, ',')
	b = strconv.AppendUint(b, uint64(r.Port), 10)
	b = append(b, ',')
	b = append(b, r.Proto.String()...)
	b = append(b, ',')
	b = append(b, r.State.String()...)
	b = append(b, ',')
	b = append(b, r.Reason.String()...)
	b = append(b, ',')
	b = strconv.AppendUint(b, uint64(r.TTL), 10)
	b = append(b, ',')
	b = appendCSVField(b, c.service(r))
	b = append(b, ',')
	b = append(b, registry.ClassOf(r.Port).String()...)
	b = append(b, ',')
	b = time.Unix(0, r.TimeNanos).UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, ',')
	if r.Service != nil {
		b = appendCSVField(b, r.Service.Product)
		b = append(b, ',')
		b = appendCSVField(b, r.Service.Version)
	} else {
		b = append(b, ',')
	}
	b = append(b, "\r\n"...)
	c.line = b
	return c.flushLine()
}

// appendCSVField appends s, quoted as RFC 4180 requires when it holds a comma, a
// quote or a line break (service names come from a registry file the user chose,
// products and versions from scanned hosts).
func appendCSVField(b []byte, s string) []byte {
	if !strings.ContainsAny(s, ",\"\r\n") {
		return append(b, s...)
	}
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			b = append(b, '"')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}

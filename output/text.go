package output

import (
	"io"
	"net/netip"
	"strconv"

	"github.com/fastscan/fastscan/registry"
	"github.com/fastscan/fastscan/result"
)

// Text writes one aligned line per result, for people: address, port, state,
// service name, and what decided the state:
//
//	198.19.0.5      22/tcp    open          ssh          syn-ack ttl 64
type Text struct {
	lineWriter
}

// NewText returns a Text writer on w that names services from services (nil: the
// built-in registry).
func NewText(w io.Writer, services *registry.Registry) *Text {
	return &Text{newLineWriter(w, services)}
}

// Write writes r as one line.
func (t *Text) Write(r *result.Result) error {
	b := t.line[:0]
	n := len(b)
	b = appendAddr(b, r.IP)
	b = pad(b, n+16)
	n = len(b)
	b = strconv.AppendUint(b, uint64(r.Port), 10)
	b = append(b, '/')
	b = append(b, r.Proto.String()...)
	b = pad(b, n+10)
	n = len(b)
	b = append(b, r.State.String()...)
	b = pad(b, n+14)
	n = len(b)
	b = append(b, t.service(r)...)
	b = pad(b, n+13)
	b = append(b, r.Reason.String()...)
	if r.TTL != 0 {
		b = append(b, " ttl "...)
		b = strconv.AppendUint(b, uint64(r.TTL), 10)
	}
	b = append(b, '\n')
	t.line = b
	return t.flushLine()
}

// pad appends spaces up to column col, and always at least one.
func pad(b []byte, col int) []byte {
	b = append(b, ' ')
	for len(b) < col {
		b = append(b, ' ')
	}
	return b
}

// appendAddr appends the text form of a (dotted quad for IPv4) without allocating.
// The zero Addr, an address not known, is written as 0.0.0.0, so that every
// format keeps a well-formed address field.
func appendAddr(b []byte, a netip.Addr) []byte {
	if !a.IsValid() {
		return append(b, "0.0.0.0"...)
	}
	return a.AppendTo(b)
}

// appendVersionText appends what service identification learnt of a service's
// product as nmap's normal output words it: product, version and, in
// parentheses, the extra info ("OpenSSH 9.2p1 Debian 2+deb12u3 (protocol 2.0)");
// nothing when it learnt none of them.
func appendVersionText(b []byte, s *result.Service) []byte {
	n := len(b)
	for _, f := range [...]string{s.Product, s.Version} {
		if f != "" {
			if len(b) > n {
				b = append(b, ' ')
			}
			b = append(b, f...)
		}
	}
	if s.Info != "" {
		if len(b) > n {
			b = append(b, ' ')
		}
		b = append(b, '(')
		b = append(b, s.Info...)
		b = append(b, ')')
	}
	return b
}

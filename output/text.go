package output

import (
	"io"
	"net/netip"
	"strconv"
	"unicode/utf8"

	"github.com/fastscan/fastscan/registry"
	"github.com/fastscan/fastscan/result"
)

// Text writes one aligned line per result, for people: address, port, state,
// service name, and what decided the state:
//
//	198.19.0.5      22/tcp    open          ssh          syn-ack ttl 64
//
// With service identification (-sV) the service is the protocol that answered
// (ssl/http for HTTP inside TLS, as nmap writes it), and product, version and
// extra info follow at the end of the line, so that the fields before them stay
// where scripts split them:
//
//	198.19.0.5      22/tcp    open          ssh          syn-ack ttl 64  OpenSSH 9.2p1 (Debian-2+deb12u10)
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
	b = t.appendServiceName(b, r)
	b = pad(b, n+13)
	b = append(b, r.Reason.String()...)
	if r.TTL != 0 {
		b = append(b, " ttl "...)
		b = strconv.AppendUint(b, uint64(r.TTL), 10)
	}
	if s := r.Service; s != nil && (s.Product != "" || s.Version != "" || s.Info != "") {
		b = append(b, "  "...)
		b = appendVersionText(b, s)
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

// appendServiceName appends r's service name for people: the registry's, or
// what service identification named, with "ssl/" before a protocol spoken
// inside TLS (ssl/http), as nmap's normal output writes it.
func (lw *lineWriter) appendServiceName(b []byte, r *result.Result) []byte {
	name := lw.service(r)
	if s := r.Service; s != nil && s.TLS != nil && name != "ssl" && name != "tls" {
		b = append(b, "ssl/"...)
	}
	return appendTextField(b, name)
}

// appendVersionText appends what service identification learnt of a service's
// product as nmap's normal output words it: product, version and, in
// parentheses, the extra info ("OpenSSH 9.2p1 (Debian-2+deb12u10)");
// nothing when it learnt none of them. Text goes to terminals: see
// appendTextField.
func appendVersionText(b []byte, s *result.Service) []byte {
	n := len(b)
	for _, f := range [...]string{s.Product, s.Version} {
		if f != "" {
			if len(b) > n {
				b = append(b, ' ')
			}
			b = appendTextField(b, f)
		}
	}
	if s.Info != "" {
		if len(b) > n {
			b = append(b, ' ')
		}
		b = append(b, '(')
		b = appendTextField(b, s.Info)
		b = append(b, ')')
	}
	return b
}

// appendTextField appends s for a terminal and a one-line record: control
// characters (C0, DEL and C1, which could move the cursor or start an escape
// sequence) and bytes that are not valid UTF-8 become '?', so that a scanned
// host's strings cannot break the line or drive the terminal.
func appendTextField(b []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				c = '?'
			}
			b = append(b, c)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r >= 0x80 && r < 0xa0 {
			b = append(b, '?')
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return b
}

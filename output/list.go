package output

import (
	"io"
	"strconv"

	"github.com/fastscan/fastscan/registry"
	"github.com/fastscan/fastscan/result"
)

// List writes masscan's list layout, one result per line between a header and an
// end comment:
//
//	#fastscan
//	open tcp 22 198.19.0.5 1795345200
//	# end
//
// The last field is the time of the verdict in Unix seconds. A port whose
// service identification (-sV) read a banner is followed by masscan's banner
// line: the service's name, then the banner (as escaped by identification;
// any control byte left is written \xNN, so it stays one line):
//
//	banner tcp 22 198.19.0.5 1795345200 ssh SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n
type List struct {
	lineWriter
}

// NewList returns a List writer on w.
func NewList(w io.Writer, services *registry.Registry) *List {
	l := &List{newLineWriter(w, services)}
	l.header, l.footer = "#fastscan\n", "# end\n"
	return l
}

// Write writes r as one line.
func (l *List) Write(r *result.Result) error {
	b := l.line[:0]
	b = append(b, r.State.String()...)
	b = append(b, ' ')
	b = append(b, r.Proto.String()...)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(r.Port), 10)
	b = append(b, ' ')
	b = appendAddr(b, r.IP)
	b = append(b, ' ')
	b = strconv.AppendInt(b, r.TimeNanos/1e9, 10)
	b = append(b, '\n')
	if s := r.Service; s != nil && s.Banner != "" {
		b = append(b, "banner "...)
		b = append(b, r.Proto.String()...)
		b = append(b, ' ')
		b = strconv.AppendUint(b, uint64(r.Port), 10)
		b = append(b, ' ')
		b = appendAddr(b, r.IP)
		b = append(b, ' ')
		b = strconv.AppendInt(b, r.TimeNanos/1e9, 10)
		b = append(b, ' ')
		b = appendListField(b, l.service(r), true)
		b = append(b, ' ')
		b = appendListField(b, s.Banner, false)
		b = append(b, '\n')
	}
	l.line = b
	return l.flushLine()
}

// appendListField appends s on one line: control bytes (and spaces, when word,
// for the one-word service name) as \xNN.
func appendListField(b []byte, s string, word bool) []byte {
	const hex = "0123456789abcdef"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f || word && c == ' ' {
			b = append(b, '\\', 'x', hex[c>>4], hex[c&0xf])
			continue
		}
		b = append(b, c)
	}
	return b
}

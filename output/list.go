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
// The last field is the time of the verdict in Unix seconds.
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
	l.line = b
	return l.flushLine()
}

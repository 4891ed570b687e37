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
	started bool
}

// NewList returns a List writer on w.
func NewList(w io.Writer, services *registry.Registry) *List {
	return &List{lineWriter: newLineWriter(w, services)}
}

// Write writes r as one line, after the header if it is the first.
func (l *List) Write(r *result.Result) error {
	b := l.line[:0]
	if !l.started {
		b = append(b, "#fastscan\n"...)
		l.started = true
	}
	b = append(b, r.State.String()...)
	b = append(b, ' ')
	b = append(b, r.Proto.String()...)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(r.Port), 10)
	b = append(b, ' ')
	b = appendIPv4(b, r.IP)
	b = append(b, ' ')
	b = strconv.AppendInt(b, r.TimeNanos/1e9, 10)
	b = append(b, '\n')
	l.line = b
	return l.flushLine()
}

// Close writes the header if nothing was written, then the end comment, and flushes.
func (l *List) Close() error {
	b := l.line[:0]
	if !l.started {
		b = append(b, "#fastscan\n"...)
		l.started = true
	}
	l.line = append(b, "# end\n"...)
	if err := l.flushLine(); err != nil {
		return err
	}
	return l.lineWriter.Close()
}

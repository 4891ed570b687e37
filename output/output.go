// Package output writes scan results in the formats users consume: readable text for a
// terminal and JSON lines for SIEMs and scripts. Every format is a Writer; writers
// format into a reused buffer, so writing a result allocates nothing.
package output

import (
	"io"

	"github.com/fastscan/fastscan/registry"
	"github.com/fastscan/fastscan/result"
)

// Writer receives results one at a time and writes them in its format.
// A Writer is not safe for concurrent use; the engine calls it from one goroutine,
// and a caller that flushes from another (a ticker) must hold a lock around every call.
//
// Writers write whole records only: each result's line (or, for nmap XML and
// grepable, each host's element) goes into a buffer, and the buffer is written with
// one write of whole records when it holds FlushSize bytes, on Flush and on Close.
// After a failed write a regular file is cut back to its last whole record, and the
// writer returns the same error from then on.
type Writer interface {
	// Write formats one result into the buffer, writing the buffer when it is full.
	Write(r *result.Result) error
	// Flush writes everything buffered (and the header, if not yet written), so
	// that the destination holds every result written so far as whole records.
	// The caller flushes periodically (fastscan: every 500 ms).
	Flush() error
	// Close writes anything buffered and the footer. It does not close the
	// underlying io.Writer.
	Close() error
}

// Options are what writers need besides their destination.
type Options struct {
	// Services names the services of results; nil means the built-in registry.
	Services *registry.Registry
	// Scan describes the scan, for formats with a header (XML).
	Scan Scan
}

// lineWriter is what the formats share: a buffered destination, a reused line
// buffer, the registry that names services, and an optional header written before
// the first line and footer written at Close (a header is written even when there
// are no lines).
type lineWriter struct {
	out            *sink
	line           []byte
	services       *registry.Registry
	header, footer string
	started        bool
}

func newLineWriter(w io.Writer, services *registry.Registry) lineWriter {
	if services == nil {
		services = registry.Default()
	}
	return lineWriter{out: newSink(w), line: make([]byte, 0, 256), services: services}
}

// unknownService is the service name of a port the registry has no name for.
const unknownService = "unknown"

// registryProto is the registry's name for a result's protocol.
func registryProto(p result.Proto) registry.Proto {
	if p == result.UDP {
		return registry.UDP
	}
	return registry.TCP
}

// service returns the name of r's service: what service identification named it
// (Result.Service), else the first assigned service name of r's port, or
// unknownService.
func (lw *lineWriter) service(r *result.Result) string {
	if r.Service != nil && r.Service.Name != "" {
		return r.Service.Name
	}
	if name := lw.services.Name(r.Port, registryProto(r.Proto)); name != "" {
		return name
	}
	return unknownService
}

func (lw *lineWriter) flushLine() error {
	if err := lw.start(); err != nil {
		return err
	}
	if err := lw.out.record(lw.line); err != nil {
		return writeError("results", err)
	}
	return nil
}

// start writes the header once.
func (lw *lineWriter) start() error {
	if lw.started {
		return nil
	}
	lw.started = true
	if err := lw.out.recordString(lw.header); err != nil {
		return writeError("header", err)
	}
	return nil
}

// Flush writes the header, if not yet written, and every buffered line.
func (lw *lineWriter) Flush() error {
	if err := lw.start(); err != nil {
		return err
	}
	if err := lw.out.flush(); err != nil {
		return writeError("results", err)
	}
	return nil
}

// Close writes the header if no line was written, then the footer, and flushes.
func (lw *lineWriter) Close() error {
	if err := lw.start(); err != nil {
		return err
	}
	if err := lw.out.recordString(lw.footer); err != nil {
		return writeError("footer", err)
	}
	if err := lw.out.flush(); err != nil {
		return writeError("results", err)
	}
	return nil
}

// Multi returns a Writer that writes every result to each of ws in turn.
func Multi(ws ...Writer) Writer { return multi(ws) }

type multi []Writer

// Write writes r to every writer, stopping at the first error.
func (m multi) Write(r *result.Result) error {
	for _, w := range m {
		if err := w.Write(r); err != nil {
			return err
		}
	}
	return nil
}

// Flush flushes every writer and returns the first error.
func (m multi) Flush() error {
	var first error
	for _, w := range m {
		if err := w.Flush(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Close closes every writer and returns the first error.
func (m multi) Close() error {
	var first error
	for _, w := range m {
		if err := w.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

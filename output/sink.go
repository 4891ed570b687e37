package output

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// FlushSize is the buffer size at which a writer writes its records without waiting
// for Flush.
const FlushSize = 64 << 10

// sink is the destination of one writer: it collects whole records and writes them
// with one write(2) of whole records only, when FlushSize bytes are buffered or on
// flush, so that a file never holds part of a record, even after SIGKILL (a kernel
// that cuts a multi-page write at a page boundary when the process is killed inside
// the system call is the one exception). When a write fails part way (a full disk),
// a regular file is cut back to the length it had before it, so it again ends with
// a whole record. An error is sticky: the sink writes nothing more after it.
type sink struct {
	w   io.Writer
	buf []byte
	f   truncater // a regular file: cut back after a partial write
	err error
	n   int64 // bytes of whole records written so far
}

// truncater is the part of *os.File that cuts a file back.
type truncater interface {
	Seek(offset int64, whence int) (int64, error)
	Truncate(size int64) error
}

func newSink(w io.Writer) *sink {
	s := &sink{w: w, buf: make([]byte, 0, FlushSize+4<<10)}
	switch f := w.(type) {
	case *os.File:
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			s.f = f
		}
	case truncater:
		s.f = f
	}
	return s
}

// record appends one whole record and writes the buffer if it is full.
func (s *sink) record(b []byte) error {
	if s.err != nil {
		return s.err
	}
	s.buf = append(s.buf, b...)
	if len(s.buf) >= FlushSize {
		return s.flush()
	}
	return nil
}

// recordString is record for a string.
func (s *sink) recordString(b string) error {
	if s.err != nil {
		return s.err
	}
	s.buf = append(s.buf, b...)
	if len(s.buf) >= FlushSize {
		return s.flush()
	}
	return nil
}

// flush writes every buffered record with one write.
func (s *sink) flush() error {
	if s.err != nil {
		return s.err
	}
	if len(s.buf) == 0 {
		return nil
	}
	pos := int64(-1)
	if s.f != nil {
		if p, err := s.f.Seek(0, io.SeekCurrent); err == nil {
			pos = p
		}
	}
	n, err := s.w.Write(s.buf)
	if err == nil && n < len(s.buf) {
		err = io.ErrShortWrite
	}
	if err != nil {
		if n > 0 && pos >= 0 {
			// Part of the buffer reached the file: cut it off again.
			if terr := s.f.Truncate(pos); terr == nil {
				s.f.Seek(pos, io.SeekStart)
			}
		}
		s.err = err
		return err
	}
	s.n += int64(len(s.buf))
	s.buf = s.buf[:0]
	return nil
}

// written is the number of bytes of whole records the sink has written: its
// destination grew by exactly that much (a failed write was cut back).
func (s *sink) written() int64 { return s.n }

// writeError is the error of a failed write: the operating system's reason without
// the file name, which the caller knows better (and which is "/dev/stdout" or
// nothing for standard output).
func writeError(what string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("writing %s: %w", what, err)
}

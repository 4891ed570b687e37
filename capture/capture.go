// Package capture reads recorded traffic, pcap or pcapng files, as a stream of
// Ethernet frames with their timestamps: the source fastscan's replay mode feeds to
// the same reply pipeline the live receive ring feeds.
package capture

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// Source yields recorded frames in capture order.
type Source interface {
	// Next returns the next frame and when it was captured (Unix nanoseconds), or
	// io.EOF after the last. The frame is valid until the next call.
	Next() (frame []byte, tsNanos int64, err error)
}

// File is a Source reading a pcap or pcapng file.
type File struct {
	f    *os.File
	next func() ([]byte, int64, error)
}

// pcapng's section header block type, the first four bytes of every pcapng file.
var pcapngMagic = []byte{0x0a, 0x0d, 0x0d, 0x0a}

// Open opens a pcap or pcapng file of Ethernet frames (told apart by their first
// bytes).
func Open(name string) (*File, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("opening capture: %w", err)
	}
	src, err := newFile(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("reading capture %s: %w", name, err)
	}
	return src, nil
}

func newFile(f *os.File) (*File, error) {
	br := bufio.NewReaderSize(f, 1<<16)
	magic, err := br.Peek(4)
	if err != nil {
		return nil, fmt.Errorf("not a pcap or pcapng file: %w", err)
	}
	var lt layers.LinkType
	src := &File{f: f}
	if bytes.Equal(magic, pcapngMagic) {
		r, err := pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			return nil, fmt.Errorf("not a valid pcapng file: %w", err)
		}
		lt = r.LinkType()
		src.next = func() ([]byte, int64, error) {
			data, ci, err := r.ReadPacketData()
			return data, ci.Timestamp.UnixNano(), err
		}
	} else {
		r, err := pcapgo.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("not a pcap or pcapng file: %w", err)
		}
		lt = r.LinkType()
		src.next = func() ([]byte, int64, error) {
			data, ci, err := r.ReadPacketData()
			return data, ci.Timestamp.UnixNano(), err
		}
	}
	if lt != layers.LinkTypeEthernet {
		return nil, fmt.Errorf("link type %v: only Ethernet captures can be replayed", lt)
	}
	return src, nil
}

// Next implements Source.
func (s *File) Next() ([]byte, int64, error) {
	data, ts, err := s.next()
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, 0, fmt.Errorf("capture ends in the middle of a packet: %w", err)
	}
	return data, ts, err
}

// Close closes the file.
func (s *File) Close() error { return s.f.Close() }

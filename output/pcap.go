package output

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// Pcap sizes.
const (
	// PcapSnapLen is the longest part of a reply kept: headers and a little more.
	PcapSnapLen = 256
	// pcapSlots is how many replies may wait for the writer before further ones are
	// dropped (and counted).
	pcapSlots = 8192
)

// Pcap writes the replies the receiver accepted to a pcap file (libpcap format,
// Ethernet link type, microsecond timestamps) that tcpdump and Wireshark read.
//
// Capture is called on the receiver's hot path: it copies the frame into one of a
// fixed set of preallocated slots and returns at once, allocating nothing; a
// goroutine writes the slots out. When the writer falls behind and every slot is
// taken, the reply is not recorded and Dropped counts it.
type Pcap struct {
	sink    *sink          // whole packets only, as the other outputs write records
	stage   bytes.Buffer   // one packet (record header and data) as pcapgo writes it
	pw      *pcapgo.Writer // writes into stage
	slots   [pcapSlots][PcapSnapLen]byte
	free    chan int
	full    chan pcapEntry
	dropped atomic.Uint64
	done    sync.WaitGroup
	err     error // first write error, read after done
	once    sync.Once
}

type pcapEntry struct {
	slot, n, length int
	ts              int64
}

// pcapFlushInterval is how often the writer writes the packets it holds while
// replies keep coming: at most this long after a reply, it is in the file.
const pcapFlushInterval = 500 * time.Millisecond

// NewPcap writes the pcap file header to w and starts the writer. Packets reach w
// whole, in one write of whole packets each time (see sink), at least every half
// second, so that after SIGKILL the file holds only whole packets.
func NewPcap(w io.Writer) (*Pcap, error) {
	p := newPcap(w)
	if err := p.pw.WriteFileHeader(PcapSnapLen, layers.LinkTypeEthernet); err != nil {
		return nil, fmt.Errorf("writing pcap header: %w", err)
	}
	if err := p.commit(); err != nil {
		return nil, fmt.Errorf("writing pcap header: %w", err)
	}
	p.start()
	return p, nil
}

// ContinuePcap is NewPcap for a file that already holds a pcap header and whole
// packets (a resumed scan's, cut back with PcapWholeLength): it writes no header.
func ContinuePcap(w io.Writer) *Pcap {
	p := newPcap(w)
	p.start()
	return p
}

// newPcap makes a Pcap writing to w, not started.
func newPcap(w io.Writer) *Pcap {
	p := &Pcap{sink: newSink(w), free: make(chan int, pcapSlots), full: make(chan pcapEntry, pcapSlots)}
	p.pw = pcapgo.NewWriter(&p.stage)
	return p
}

// start starts the writer.
func (p *Pcap) start() {
	for i := range pcapSlots {
		p.free <- i
	}
	p.done.Add(1)
	go p.write()
}

// PcapWholeLength reads a pcap file as Pcap writes it (Ethernet, microsecond
// timestamps, either byte order) and returns the length of its header and whole
// packets: what is left of a file whose writer was killed or ran out of space
// once cut back to that length. A file that is not such a pcap is an error.
func PcapWholeLength(r io.Reader) (int64, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var hdr [24]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return 0, fmt.Errorf("not a pcap file: %w", err)
	}
	var order binary.ByteOrder
	switch {
	case binary.LittleEndian.Uint32(hdr[:]) == 0xa1b2c3d4:
		order = binary.LittleEndian
	case binary.BigEndian.Uint32(hdr[:]) == 0xa1b2c3d4:
		order = binary.BigEndian
	default:
		return 0, errors.New("not a pcap file (or not one with microsecond timestamps)")
	}
	if lt := order.Uint32(hdr[20:]); lt != uint32(layers.LinkTypeEthernet) {
		return 0, fmt.Errorf("a pcap file of link type %d, not Ethernet", lt)
	}
	snap := order.Uint32(hdr[16:])
	n := int64(len(hdr))
	var rec [16]byte
	for {
		if _, err := io.ReadFull(br, rec[:]); err != nil {
			return n, nil // the end, or a cut record header
		}
		incl := order.Uint32(rec[8:])
		if incl > snap || incl > order.Uint32(rec[12:]) {
			return n, nil // not a record Pcap wrote: what follows is cut off
		}
		if _, err := br.Discard(int(incl)); err != nil {
			return n, nil // a cut packet
		}
		n += int64(len(rec)) + int64(incl)
	}
}

// Capture records one frame received at tsNanos. It does not keep frame.
func (p *Pcap) Capture(frame []byte, tsNanos int64) {
	select {
	case slot := <-p.free:
		n := copy(p.slots[slot][:], frame)
		p.full <- pcapEntry{slot: slot, n: n, length: len(frame), ts: tsNanos}
	default:
		p.dropped.Add(1)
	}
}

// Dropped returns how many replies were not recorded because the writer fell behind.
func (p *Pcap) Dropped() uint64 { return p.dropped.Load() }

// commit hands the staged bytes to the sink as one record.
func (p *Pcap) commit() error {
	err := p.sink.record(p.stage.Bytes())
	p.stage.Reset()
	return err
}

func (p *Pcap) write() {
	defer p.done.Done()
	tick := time.NewTicker(pcapFlushInterval)
	defer tick.Stop()
	for {
		select {
		case e, ok := <-p.full:
			if !ok {
				return
			}
			if p.err == nil {
				ci := gopacket.CaptureInfo{Timestamp: time.Unix(0, e.ts), CaptureLength: e.n, Length: e.length}
				err := p.pw.WritePacket(ci, p.slots[e.slot][:e.n])
				if err == nil {
					err = p.commit()
				}
				if err != nil {
					p.err = fmt.Errorf("writing pcap: %w", err)
				}
			}
			p.free <- e.slot
		case <-tick.C:
			if p.err == nil {
				if err := p.sink.flush(); err != nil {
					p.err = fmt.Errorf("writing pcap: %w", err)
				}
			}
		}
	}
}

// Close writes every recorded reply and flushes the file. Capture must not be called
// after Close.
func (p *Pcap) Close() error {
	p.once.Do(func() { close(p.full) })
	p.done.Wait()
	if p.err != nil {
		return p.err
	}
	if err := p.sink.flush(); err != nil {
		return fmt.Errorf("writing pcap: %w", err)
	}
	return nil
}

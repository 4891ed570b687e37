package output

import (
	"bufio"
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
	bw      *bufio.Writer
	pw      *pcapgo.Writer
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

// NewPcap writes the pcap file header to w and starts the writer.
func NewPcap(w io.Writer) (*Pcap, error) {
	p := &Pcap{bw: bufio.NewWriterSize(w, 256<<10), free: make(chan int, pcapSlots), full: make(chan pcapEntry, pcapSlots)}
	p.pw = pcapgo.NewWriter(p.bw)
	if err := p.pw.WriteFileHeader(PcapSnapLen, layers.LinkTypeEthernet); err != nil {
		return nil, fmt.Errorf("writing pcap header: %w", err)
	}
	for i := range pcapSlots {
		p.free <- i
	}
	p.done.Add(1)
	go p.write()
	return p, nil
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

func (p *Pcap) write() {
	defer p.done.Done()
	for e := range p.full {
		if p.err == nil {
			ci := gopacket.CaptureInfo{Timestamp: time.Unix(0, e.ts), CaptureLength: e.n, Length: e.length}
			if err := p.pw.WritePacket(ci, p.slots[e.slot][:e.n]); err != nil {
				p.err = fmt.Errorf("writing pcap: %w", err)
			}
		}
		p.free <- e.slot
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
	if err := p.bw.Flush(); err != nil {
		return fmt.Errorf("writing pcap: %w", err)
	}
	return nil
}

package output

import (
	"bytes"
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
	p := &Pcap{sink: newSink(w), free: make(chan int, pcapSlots), full: make(chan pcapEntry, pcapSlots)}
	p.pw = pcapgo.NewWriter(&p.stage)
	if err := p.pw.WriteFileHeader(PcapSnapLen, layers.LinkTypeEthernet); err != nil {
		return nil, fmt.Errorf("writing pcap header: %w", err)
	}
	if err := p.commit(); err != nil {
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

package link

import (
	"fmt"
	"time"

	"github.com/fastscan/fastscan/afpacket"
)

// The receive ring and transmit ring of an AF_PACKET link.
const (
	// ringBlockTimeout is how long the kernel holds a partly filled ring block before
	// handing it over: the receiver's added latency at low reply rates.
	ringBlockTimeout = 2 * time.Millisecond
	// ringBlockSize is the size of one receive ring block: 1 MiB.
	ringBlockSize = 1 << 20
	// ringBlocks is the number of 1 MiB blocks of the receive ring: room for about
	// 200,000 replies, a second of replies at full speed if the receiver is starved.
	ringBlocks = 32
	// txRingFrames is the number of frame slots of a PACKET_TX_RING (at least one
	// batch): room for the batch being filled while the device drains earlier ones.
	txRingFrames = 4096
)

var _ Opener = OpenAFPacket

// OpenAFPacket opens the AF_PACKET link of a scan: a TPACKET_V3 receive ring on
// cfg.Interface with afpacket.ReplyFilterDual(cfg.LocalIP, cfg.LocalIP6,
// cfg.SourcePortLo, cfg.SourcePortHi, cfg.Protocols), and a transmitter: a raw IP socket for
// loopback (afpacket.NewIPTransmitter), PACKET_TX_RING when cfg.TxRing, sendmmsg
// otherwise; batch cfg.Batch, frames of cfg.FrameLen bytes.
//
// The sockets belong to the network namespace of the calling thread. It needs
// CAP_NET_RAW. cfg.LocalIP must be IPv4 and cfg.LocalIP6 IPv6 (either may be
// the zero Addr, not both).
func OpenAFPacket(cfg Config) (Link, error) {
	name := cfg.Interface.Name
	if cfg.Batch <= 0 || cfg.FrameLen <= 0 {
		return nil, fmt.Errorf("opening the link on %s: invalid batch %d or frame length %d", name, cfg.Batch, cfg.FrameLen)
	}
	filter, err := afpacket.ReplyFilterDual(cfg.LocalIP, cfg.LocalIP6, cfg.SourcePortLo, cfg.SourcePortHi, cfg.Protocols)
	if err != nil {
		return nil, fmt.Errorf("building the receive filter for %s: %w", name, err)
	}
	ring, err := afpacket.NewRing(cfg.Interface.Index, afpacket.RingConfig{
		BlockSize:    ringBlockSize,
		NumBlocks:    ringBlocks,
		BlockTimeout: ringBlockTimeout,
		Filter:       filter,
	})
	if err != nil {
		return nil, fmt.Errorf("opening the receive ring on %s: %w", name, err)
	}
	tx, err := openTransmitter(cfg)
	if err != nil {
		ring.Close()
		return nil, err
	}
	return &afpacketLink{boundedTx: tx, cfg: cfg, ring: ring}, nil
}

// openTransmitter opens the transmitter cfg asks for: a raw IP socket for
// loopback, PACKET_TX_RING when cfg.TxRing, sendmmsg otherwise.
func openTransmitter(cfg Config) (*boundedTx, error) {
	var (
		tx  afpacket.Transmitter
		err error
	)
	switch {
	case cfg.Loopback:
		tx, err = afpacket.NewIPTransmitter(cfg.Batch, cfg.FrameLen)
	case cfg.TxRing:
		tx, err = afpacket.NewRingTransmitter(cfg.Interface.Index, max(txRingFrames, cfg.Batch), cfg.FrameLen)
	default:
		tx, err = afpacket.NewMmsgTransmitter(cfg.Interface.Index, cfg.Batch, cfg.FrameLen)
	}
	if err != nil {
		return nil, fmt.Errorf("opening the transmit socket on %s: %w", cfg.Interface.Name, err)
	}
	return &boundedTx{name: cfg.Interface.Name, tx: tx, batch: cfg.Batch}, nil
}

// afpacketLink is the Link OpenAFPacket returns: an afpacket Ring and a
// transmitter. Nothing on the send path allocates, errors aside.
type afpacketLink struct {
	*boundedTx
	cfg  Config
	ring *afpacket.Ring
}

// boundedTx is a Transmitter on an afpacket.Transmitter, with the batch bounded
// at Config.Batch frames whatever the transmitter holds (a PACKET_TX_RING holds
// txRingFrames). A Commit without a buffer lent by Next is ignored.
type boundedTx struct {
	name      string // the interface, for errors
	tx        afpacket.Transmitter
	batch     int
	committed int  // frames committed since the last Flush
	lent      bool // Next returned a buffer that Commit has not taken yet
}

// Next implements Transmitter.
func (l *boundedTx) Next() []byte {
	if l.committed >= l.batch {
		return nil
	}
	buf := l.tx.Next()
	l.lent = buf != nil
	return buf
}

// Commit implements Transmitter. It panics if n is not above 0 or longer than the buffer.
func (l *boundedTx) Commit(n int) {
	if n <= 0 {
		panic(fmt.Sprintf("link: Commit(%d): a frame is at least one byte long", n))
	}
	if !l.lent {
		return
	}
	l.tx.Commit(n)
	l.lent = false
	l.committed++
}

// Flush implements Transmitter.
func (l *boundedTx) Flush() (int, error) {
	l.committed, l.lent = 0, false
	sent, err := l.tx.Flush()
	if err != nil {
		return sent, fmt.Errorf("sending on %s: %w", l.name, err)
	}
	return sent, nil
}

// Close implements Transmitter.
func (l *boundedTx) Close() error {
	if err := l.tx.Close(); err != nil {
		return fmt.Errorf("closing the transmit socket on %s: %w", l.name, err)
	}
	return nil
}

// NewTransmitter implements Link: another socket of the link's kind on its
// interface. Its frames leave like the link's own, so the replies reach the
// link's receive ring.
func (l *afpacketLink) NewTransmitter() (Transmitter, error) {
	return openTransmitter(l.cfg)
}

// Poll implements Link.
func (l *afpacketLink) Poll(timeout time.Duration, fn func(frame []byte, tsNanos int64)) error {
	return l.ring.Poll(timeout, fn)
}

// Stats implements Link.
func (l *afpacketLink) Stats() (packets, drops uint64, err error) {
	return l.ring.Stats()
}

// Close implements Link: it closes the transmitter and the ring and returns the
// first error.
func (l *afpacketLink) Close() error {
	txErr := l.boundedTx.Close()
	ringErr := l.ring.Close()
	if txErr != nil {
		return txErr
	}
	if ringErr != nil {
		return fmt.Errorf("closing the receive ring on %s: %w", l.cfg.Interface.Name, ringErr)
	}
	return nil
}

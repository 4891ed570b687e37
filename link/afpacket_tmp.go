package link

import (
	"fmt"
	"time"

	"github.com/fastscan/fastscan/afpacket"
)

// OpenAFPacket (temporary) opens the AF_PACKET link of a scan.
func OpenAFPacket(cfg Config) (Link, error) {
	ring, err := afpacket.NewRing(cfg.Interface.Index, afpacket.RingConfig{
		BlockTimeout: 2 * time.Millisecond,
		NumBlocks:    32,
		Filter:       afpacket.ReplyFilter(addr4(cfg), cfg.SourcePortLo, cfg.SourcePortHi),
	})
	if err != nil {
		return nil, fmt.Errorf("opening the receive ring on %s: %w", cfg.Interface.Name, err)
	}
	var tx afpacket.Transmitter
	switch {
	case cfg.Loopback:
		tx, err = afpacket.NewIPTransmitter(cfg.Batch, cfg.FrameLen)
	case cfg.TxRing:
		tx, err = afpacket.NewRingTransmitter(cfg.Interface.Index, 4096, cfg.FrameLen)
	default:
		tx, err = afpacket.NewMmsgTransmitter(cfg.Interface.Index, cfg.Batch, cfg.FrameLen)
	}
	if err != nil {
		ring.Close()
		return nil, fmt.Errorf("opening the transmit socket on %s: %w", cfg.Interface.Name, err)
	}
	return &afLink{Transmitter: tx, ring: ring}, nil
}

func addr4(cfg Config) uint32 {
	b := cfg.LocalIP.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

type afLink struct {
	afpacket.Transmitter
	ring *afpacket.Ring
}

func (l *afLink) Poll(timeout time.Duration, fn func([]byte, int64)) error {
	return l.ring.Poll(timeout, fn)
}
func (l *afLink) Stats() (uint64, uint64, error) { return l.ring.Stats() }
func (l *afLink) Close() error {
	err := l.Transmitter.Close()
	if e := l.ring.Close(); err == nil {
		err = e
	}
	return err
}

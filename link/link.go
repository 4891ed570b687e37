// Package link is the seam between the scan engine and the network: a Link sends
// probe frames in batches and hands back the frames that arrive. The engine knows
// nothing of sockets; it writes Ethernet frames into the buffers a Link lends it and
// reads Ethernet frames from Poll.
//
// Implementations: AF_PACKET (a TPACKET_V3 receive ring and sendmmsg or a
// PACKET_TX_RING, see OpenAFPacket), the same ring with a raw IP socket for
// loopback targets, and package linktest's in-memory network that answers probes
// from a ground-truth model, for tests that run without root.
package link

import (
	"net"
	"net/netip"
	"time"
)

// Transmitter is the send side of a link: frames written into the buffers it
// lends, sent in batches. It is used by one goroutine.
type Transmitter interface {
	// Next returns a buffer of at least Config.FrameLen bytes for the next frame of
	// the batch, or nil when the batch is full and must be flushed first.
	Next() []byte
	// Commit says that the frame just filled in the buffer from Next is n bytes long.
	// n must be above 0: a probe that cannot be written is an error before the scan.
	Commit(n int)
	// Flush sends the frames committed since the last Flush and returns how many
	// left. Frames not sent are dropped from the batch and reported by the error.
	Flush() (sent int, err error)
	// Close releases the transmitter's socket and buffers.
	Close() error
}

// Link sends frames in batches and delivers received frames.
//
// The send side (Next, Commit, Flush) is used by one goroutine and Poll by one
// other; each Transmitter opened by NewTransmitter is one more send side, used by
// a goroutine of its own. Stats may be called from any goroutine; Close is called
// once, after every side stopped and every extra Transmitter was closed.
type Link interface {
	// Next, Commit and Flush are the link's own send side, as a Transmitter's.
	Next() []byte
	Commit(n int)
	Flush() (sent int, err error)
	// Poll waits up to timeout for received frames and calls fn for each, with its
	// arrival time in Unix nanoseconds (the kernel's timestamp where there is one).
	// fn must not keep frame after it returns. Poll returns nil when the timeout
	// passes with nothing received.
	Poll(timeout time.Duration, fn func(frame []byte, tsNanos int64)) error
	// Stats returns how many frames the receive side accepted and how many it had
	// to drop for lack of room, since the link was opened.
	Stats() (packets, drops uint64, err error)
	// NewTransmitter opens one more send side on the link's interface, of the same
	// kind, batch and frame length as the link's own, for another sending
	// goroutine: it shares no buffer or socket with the link's send side or with
	// other transmitters, and the replies to its frames arrive on this link's
	// Poll. The caller closes it before the link.
	NewTransmitter() (Transmitter, error)
	// Close releases the link's sockets and buffers.
	Close() error
}

// Config is what opening a Link needs to know about the scan.
type Config struct {
	// Interface is the interface probes leave by and replies arrive on.
	Interface net.Interface
	// Loopback is true when the targets are this host's own addresses: frames leave
	// through the kernel's IP output path instead of the wire.
	Loopback bool
	// LocalIP is the scanner's IPv4 address: replies are addressed to it. Not
	// valid when the scan has no IPv4 target.
	LocalIP netip.Addr
	// LocalIP6 is the scanner's IPv6 address, for the scan's IPv6 targets; not
	// valid when it has none.
	LocalIP6 netip.Addr
	// SourcePortLo and SourcePortHi bound the scanner's source ports: replies of the
	// probed protocols are accepted only to these ports.
	SourcePortLo, SourcePortHi uint16
	// Protocols are the IP protocol numbers of the probes' replies (6 for TCP, 17
	// for UDP): the receive side passes those to our ports, and ICMP errors.
	Protocols []uint8
	// Batch is how many frames Next lends before a Flush is needed.
	Batch int
	// FrameLen is the longest frame any probe writes.
	FrameLen int
	// TxRing asks an AF_PACKET link to transmit through PACKET_TX_RING instead of
	// sendmmsg.
	TxRing bool
}

// Opener opens the Link of a scan.
type Opener func(Config) (Link, error)

package afpacket

import (
	"encoding/binary"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Header lengths IPTransmitter relies on: the Ethernet header it strips and the
// IPv4 header it reads the destination and length from.
const (
	ethernetHeaderLen = 14
	ipv4HeaderLen     = 20
)

// IPTransmitter is a [Transmitter] for the loopback interface. Frames written to
// it start at the Ethernet header like any other; it strips that header and sends
// the IPv4 packet through a raw IP socket (IPPROTO_RAW, header included) with
// sendmmsg(2).
//
// It exists because Linux drops packets with loopback addresses that arrive on lo
// from an AF_PACKET socket: without a route attached, they are routed as input
// and refused as martians (unless net.ipv4.conf.lo.route_localnet is set). A raw IP
// socket hands them to the kernel's output path instead, like any local sender, and
// the replies still come back on lo where the receive ring sees them.
type IPTransmitter struct {
	mmsgBatch
	addrs []unix.RawSockaddrInet4
}

var _ Transmitter = (*IPTransmitter)(nil)

// NewIPTransmitter opens a raw IPv4 socket that sends up to batch frames of at most
// maxFrame bytes (Ethernet header included) per Flush.
func NewIPTransmitter(batch, maxFrame int) (*IPTransmitter, error) {
	if batch <= 0 || maxFrame <= ethernetHeaderLen+ipv4HeaderLen {
		return nil, fmt.Errorf("afpacket: invalid batch %d or frame size %d", batch, maxFrame)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err != nil {
		return nil, fmt.Errorf("afpacket: raw IPv4 socket: %w", err)
	}
	t := &IPTransmitter{
		mmsgBatch: newMmsgBatch(fd, batch, maxFrame, ethernetHeaderLen, "sendmmsg (raw IP)"),
		addrs:     make([]unix.RawSockaddrInet4, batch),
	}
	for i := range t.msgs {
		t.addrs[i].Family = unix.AF_INET
		t.msgs[i].Hdr.Name = (*byte)(unsafe.Pointer(&t.addrs[i]))
		t.msgs[i].Hdr.Namelen = unix.SizeofSockaddrInet4
	}
	return t, nil
}

// Commit implements [Transmitter]. The frame must hold an IPv4 header after its
// Ethernet header; the destination address is taken from it, and its total length
// bounds what is sent (Ethernet padding is not).
func (t *IPTransmitter) Commit(n int) {
	if !t.accept(n) || n < ethernetHeaderLen+ipv4HeaderLen {
		return
	}
	ip := t.bufs[t.n*t.maxFrame+ethernetHeaderLen:]
	copy(t.addrs[t.n].Addr[:], ip[16:20])
	t.iovs[t.n].SetLen(min(int(binary.BigEndian.Uint16(ip[2:4])), n-ethernetHeaderLen))
	t.n++
}

package afpacket

import (
	"encoding/binary"
	"fmt"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ethernetHeaderLen is the length of the Ethernet header IPTransmitter strips.
const ethernetHeaderLen = 14

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
	fd       int
	maxFrame int
	bufs     []byte
	msgs     []unix.Mmsghdr
	iovs     []unix.Iovec
	addrs    []unix.RawSockaddrInet4
	n        int
}

var _ Transmitter = (*IPTransmitter)(nil)

// NewIPTransmitter opens a raw IPv4 socket that sends up to batch frames of at most
// maxFrame bytes (Ethernet header included) per Flush.
func NewIPTransmitter(batch, maxFrame int) (*IPTransmitter, error) {
	if batch <= 0 || maxFrame <= ethernetHeaderLen {
		return nil, fmt.Errorf("afpacket: invalid batch %d or frame size %d", batch, maxFrame)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err != nil {
		return nil, fmt.Errorf("afpacket: raw IPv4 socket: %w", err)
	}
	t := &IPTransmitter{
		fd:       fd,
		maxFrame: maxFrame,
		bufs:     make([]byte, batch*maxFrame),
		msgs:     make([]unix.Mmsghdr, batch),
		iovs:     make([]unix.Iovec, batch),
		addrs:    make([]unix.RawSockaddrInet4, batch),
	}
	for i := range t.msgs {
		t.iovs[i].Base = &t.bufs[i*maxFrame+ethernetHeaderLen]
		t.addrs[i].Family = unix.AF_INET
		h := &t.msgs[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&t.addrs[i]))
		h.Namelen = unix.SizeofSockaddrInet4
		h.Iov = &t.iovs[i]
		h.SetIovlen(1)
	}
	return t, nil
}

// Next implements [Transmitter].
func (t *IPTransmitter) Next() []byte {
	if t.n == len(t.msgs) {
		return nil
	}
	off := t.n * t.maxFrame
	return t.bufs[off : off+t.maxFrame : off+t.maxFrame]
}

// Commit implements [Transmitter]. The frame must hold an IPv4 header after its
// Ethernet header; the destination address is taken from it.
func (t *IPTransmitter) Commit(n int) {
	if n < 0 || n > t.maxFrame {
		panic(fmt.Sprintf("afpacket: Commit(%d) outside [0, %d]", n, t.maxFrame))
	}
	if n <= ethernetHeaderLen+20 || t.n == len(t.msgs) {
		return
	}
	off := t.n * t.maxFrame
	// The IPv4 destination address is at offset 16 of the IPv4 header.
	copy(t.addrs[t.n].Addr[:], t.bufs[off+ethernetHeaderLen+16:off+ethernetHeaderLen+20])
	// The IPv4 total length bounds the packet: Ethernet padding is not sent.
	l := int(binary.BigEndian.Uint16(t.bufs[off+ethernetHeaderLen+2:]))
	t.iovs[t.n].SetLen(min(l, n-ethernetHeaderLen))
	t.n++
}

// Flush implements [Transmitter].
func (t *IPTransmitter) Flush() (int, error) {
	sent, retries := 0, 0
	for sent < t.n {
		r, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(t.fd),
			uintptr(unsafe.Pointer(&t.msgs[sent])), uintptr(t.n-sent), 0, 0, 0)
		if errno == 0 {
			sent += int(r)
			continue
		}
		if temporaryErrno(errno) && retries < maxRetries {
			retries++
			if errno != unix.EINTR {
				time.Sleep(retryPause)
			}
			continue
		}
		total := t.n
		t.n = 0
		return sent, fmt.Errorf("afpacket: sendmmsg (raw IP): %d of %d packets sent: %w", sent, total, errno)
	}
	t.n = 0
	return sent, nil
}

// Close implements [Transmitter].
func (t *IPTransmitter) Close() error {
	if err := unix.Close(t.fd); err != nil {
		return fmt.Errorf("afpacket: close: %w", err)
	}
	return nil
}

package afpacket

import (
	"fmt"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// MmsgTransmitter is a [Transmitter] that sends each batch with as few
// sendmmsg(2) calls as possible. The message headers, I/O vectors and frame
// buffers are allocated once, so building and flushing a batch allocates
// nothing.
type MmsgTransmitter struct {
	fd       int
	maxFrame int
	bufs     []byte         // batch frames of maxFrame bytes, back to back
	msgs     []unix.Mmsghdr // one message per frame, pointing at iovs[i]
	iovs     []unix.Iovec   // one vector per frame, pointing into bufs
	addr     unix.RawSockaddrLinklayer
	n        int // committed frames
}

var _ Transmitter = (*MmsgTransmitter)(nil)

// NewMmsgTransmitter opens a transmit-only AF_PACKET socket bound to the
// interface ifindex that sends up to batch frames of at most maxFrame bytes
// per Flush, with the default [TxOptions].
func NewMmsgTransmitter(ifindex, batch, maxFrame int) (Transmitter, error) {
	return NewMmsgTransmitterOptions(ifindex, batch, maxFrame, TxOptions{})
}

// NewMmsgTransmitterOptions is [NewMmsgTransmitter] with explicit socket
// options.
func NewMmsgTransmitterOptions(ifindex, batch, maxFrame int, o TxOptions) (*MmsgTransmitter, error) {
	if batch <= 0 || maxFrame <= 0 {
		return nil, fmt.Errorf("afpacket: invalid batch %d or frame size %d", batch, maxFrame)
	}
	fd, err := openTxSocket(ifindex, o)
	if err != nil {
		return nil, err
	}
	t := &MmsgTransmitter{
		fd:       fd,
		maxFrame: maxFrame,
		bufs:     make([]byte, batch*maxFrame),
		msgs:     make([]unix.Mmsghdr, batch),
		iovs:     make([]unix.Iovec, batch),
		addr: unix.RawSockaddrLinklayer{
			Family:  unix.AF_PACKET,
			Ifindex: int32(ifindex),
		},
	}
	for i := range t.msgs {
		t.iovs[i].Base = &t.bufs[i*maxFrame]
		h := &t.msgs[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&t.addr))
		h.Namelen = unix.SizeofSockaddrLinklayer
		h.Iov = &t.iovs[i]
		h.SetIovlen(1)
	}
	return t, nil
}

// Next implements [Transmitter].
func (t *MmsgTransmitter) Next() []byte {
	if t.n == len(t.msgs) {
		return nil
	}
	off := t.n * t.maxFrame
	return t.bufs[off : off+t.maxFrame : off+t.maxFrame]
}

// Commit implements [Transmitter].
func (t *MmsgTransmitter) Commit(n int) {
	if n < 0 || n > t.maxFrame {
		panic(fmt.Sprintf("afpacket: Commit(%d) outside [0, %d]", n, t.maxFrame))
	}
	if n == 0 || t.n == len(t.msgs) {
		return
	}
	t.iovs[t.n].SetLen(n)
	t.n++
}

// Flush implements [Transmitter].
func (t *MmsgTransmitter) Flush() (int, error) {
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
		return sent, fmt.Errorf("afpacket: sendmmsg: %d of %d frames sent: %w", sent, total, errno)
	}
	t.n = 0
	return sent, nil
}

// Close implements [Transmitter].
func (t *MmsgTransmitter) Close() error {
	if err := unix.Close(t.fd); err != nil {
		return fmt.Errorf("afpacket: close: %w", err)
	}
	return nil
}

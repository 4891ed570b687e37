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
	mmsgBatch
	addr unix.RawSockaddrLinklayer
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
		mmsgBatch: newMmsgBatch(fd, batch, maxFrame, 0, "sendmmsg"),
		addr: unix.RawSockaddrLinklayer{
			Family:  unix.AF_PACKET,
			Ifindex: int32(ifindex),
		},
	}
	for i := range t.msgs {
		t.msgs[i].Hdr.Name = (*byte)(unsafe.Pointer(&t.addr))
		t.msgs[i].Hdr.Namelen = unix.SizeofSockaddrLinklayer
	}
	return t, nil
}

// Commit implements [Transmitter].
func (t *MmsgTransmitter) Commit(n int) {
	if t.accept(n) {
		t.iovs[t.n].SetLen(n)
		t.n++
	}
}

// mmsgBatch is what the sendmmsg(2) transmitters share: a socket, the frame
// buffers of one batch, one message header and I/O vector per frame, and the
// flush loop. Frames are maxFrame bytes apart; each I/O vector starts skip bytes
// into its frame.
type mmsgBatch struct {
	fd       int
	maxFrame int
	bufs     []byte         // batch frames of maxFrame bytes, back to back
	msgs     []unix.Mmsghdr // one message per frame, pointing at iovs[i]
	iovs     []unix.Iovec   // one vector per frame, pointing into bufs
	n        int            // committed frames
	what     string         // the system call, for errors
}

func newMmsgBatch(fd, batch, maxFrame, skip int, what string) mmsgBatch {
	b := mmsgBatch{
		fd:       fd,
		maxFrame: maxFrame,
		bufs:     make([]byte, batch*maxFrame),
		msgs:     make([]unix.Mmsghdr, batch),
		iovs:     make([]unix.Iovec, batch),
		what:     what,
	}
	for i := range b.msgs {
		b.iovs[i].Base = &b.bufs[i*maxFrame+skip]
		b.msgs[i].Hdr.Iov = &b.iovs[i]
		b.msgs[i].Hdr.SetIovlen(1)
	}
	return b
}

// Next implements [Transmitter].
func (b *mmsgBatch) Next() []byte {
	if b.n == len(b.msgs) {
		return nil
	}
	off := b.n * b.maxFrame
	return b.bufs[off : off+b.maxFrame : off+b.maxFrame]
}

// accept checks a Commit(n): it panics for a length outside the buffer and
// reports whether the frame is to be kept (not empty, and the batch not full).
func (b *mmsgBatch) accept(n int) bool {
	if n < 0 || n > b.maxFrame {
		panic(fmt.Sprintf("afpacket: Commit(%d) outside [0, %d]", n, b.maxFrame))
	}
	return n > 0 && b.n < len(b.msgs)
}

// Flush implements [Transmitter].
func (b *mmsgBatch) Flush() (int, error) {
	sent, retries := 0, 0
	for sent < b.n {
		r, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(b.fd),
			uintptr(unsafe.Pointer(&b.msgs[sent])), uintptr(b.n-sent), 0, 0, 0)
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
		total := b.n
		b.n = 0
		return sent, fmt.Errorf("afpacket: %s: %d of %d frames sent: %w", b.what, sent, total, errno)
	}
	b.n = 0
	return sent, nil
}

// Close implements [Transmitter].
func (b *mmsgBatch) Close() error {
	if err := unix.Close(b.fd); err != nil {
		return fmt.Errorf("afpacket: close: %w", err)
	}
	return nil
}

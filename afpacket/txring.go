package afpacket

import (
	"fmt"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	// tpacketAlignment is TPACKET_ALIGNMENT: ring frames and the data in
	// them are aligned to 16 bytes.
	tpacketAlignment = 16
	// tx2DataOffset is where a TPACKET_V2 transmit frame's data starts:
	// TPACKET2_HDRLEN - sizeof(struct sockaddr_ll), that is the aligned
	// tpacket2_hdr.
	tx2DataOffset = (unix.SizeofTpacket2Hdr + tpacketAlignment - 1) &^ (tpacketAlignment - 1)
	// txRingBlockTarget is the block size a transmit ring aims for; blocks
	// are whole pages holding whole frames.
	txRingBlockTarget = 64 << 10
	// txWaitPoll and txWaitPolls bound how long Next waits for the kernel
	// to free a slot of a full ring: txWaitPolls polls of txWaitPoll each.
	txWaitPoll  = 10 * time.Millisecond
	txWaitPolls = 100
)

// RingTransmitter is a [Transmitter] over a memory-mapped PACKET_TX_RING
// (TPACKET_V2). Frames are written straight into the ring shared with the
// kernel, marked ready, and sent by one send(2) per Flush. The kernel frees a
// slot once the device is done with its frame; when the next slot is still
// busy, Next ends the batch (or, on an empty batch, waits for it).
type RingTransmitter struct {
	fd        int
	ring      []byte // the mapping
	frameSize int    // slot size, header included
	perBlock  int    // slots per block
	blockSize int
	slots     int
	maxFrame  int
	batch     int   // frames per batch: the size asked for
	head      int   // next slot to fill
	pending   int   // slots marked TP_STATUS_SEND_REQUEST since the last Flush
	filling   bool  // Next returned the head slot and Commit has not run yet
	stalled   error // set when Next gave up waiting for a slot; returned by Flush
}

var _ Transmitter = (*RingTransmitter)(nil)

// NewRingTransmitter opens a transmit-only AF_PACKET socket bound to the
// interface ifindex with a PACKET_TX_RING of at least frames slots for
// frames of at most maxFrame bytes, with the default [TxOptions]. A batch
// holds up to frames frames.
func NewRingTransmitter(ifindex, frames, maxFrame int) (Transmitter, error) {
	return NewRingTransmitterOptions(ifindex, frames, maxFrame, TxOptions{})
}

// NewRingTransmitterOptions is [NewRingTransmitter] with explicit socket
// options.
func NewRingTransmitterOptions(ifindex, frames, maxFrame int, o TxOptions) (*RingTransmitter, error) {
	if frames <= 0 || maxFrame <= 0 {
		return nil, fmt.Errorf("afpacket: invalid ring size %d or frame size %d", frames, maxFrame)
	}
	page := os.Getpagesize()
	frameSize := alignUp(tx2DataOffset+maxFrame, tpacketAlignment)
	perBlock := max(1, txRingBlockTarget/frameSize)
	blockSize := alignUp(perBlock*frameSize, page)
	perBlock = blockSize / frameSize
	blocks := (frames + perBlock - 1) / perBlock
	req := unix.TpacketReq{
		Block_size: uint32(blockSize),
		Block_nr:   uint32(blocks),
		Frame_size: uint32(frameSize),
		Frame_nr:   uint32(perBlock * blocks),
	}

	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("afpacket: socket: %w", err)
	}
	t := &RingTransmitter{fd: fd, frameSize: frameSize, perBlock: perBlock, blockSize: blockSize,
		slots: perBlock * blocks, maxFrame: maxFrame, batch: frames}
	if err := t.setup(ifindex, req, o); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

func (t *RingTransmitter) setup(ifindex int, req unix.TpacketReq, o TxOptions) error {
	if err := unix.SetsockoptInt(t.fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V2); err != nil {
		return fmt.Errorf("afpacket: setsockopt PACKET_VERSION: %w", err)
	}
	// With PACKET_LOSS the kernel skips a malformed frame instead of
	// stopping the ring at it.
	if err := unix.SetsockoptInt(t.fd, unix.SOL_PACKET, unix.PACKET_LOSS, 1); err != nil {
		return fmt.Errorf("afpacket: setsockopt PACKET_LOSS: %w", err)
	}
	if err := unix.SetsockoptTpacketReq(t.fd, unix.SOL_PACKET, unix.PACKET_TX_RING, &req); err != nil {
		return fmt.Errorf("afpacket: setsockopt PACKET_TX_RING %+v: %w", req, err)
	}
	ring, err := unix.Mmap(t.fd, 0, int(req.Block_size*req.Block_nr), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("afpacket: mmap transmit ring: %w", err)
	}
	t.ring = ring
	return configureTxSocket(t.fd, ifindex, o)
}

// slot returns the offset of slot i in the mapping.
func (t *RingTransmitter) slot(i int) int {
	return (i/t.perBlock)*t.blockSize + (i%t.perBlock)*t.frameSize
}

// header returns the tpacket2_hdr of slot i.
func (t *RingTransmitter) header(i int) *unix.Tpacket2Hdr {
	return (*unix.Tpacket2Hdr)(unsafe.Pointer(&t.ring[t.slot(i)]))
}

// Next implements [Transmitter].
func (t *RingTransmitter) Next() []byte {
	if t.pending == t.batch || t.stalled != nil {
		return nil
	}
	h := t.header(t.head)
	if atomic.LoadUint32(&h.Status) != unix.TP_STATUS_AVAILABLE {
		if t.pending > 0 {
			return nil // end the batch; Flush kicks the kernel
		}
		if err := t.waitAvailable(h); err != nil {
			t.stalled = err
			return nil
		}
	}
	t.filling = true
	off := t.slot(t.head) + tx2DataOffset
	return t.ring[off : off+t.maxFrame : off+t.maxFrame]
}

// waitAvailable waits, bounded, until the kernel hands slot h back.
func (t *RingTransmitter) waitAvailable(h *unix.Tpacket2Hdr) error {
	pfd := [1]unix.PollFd{{Fd: int32(t.fd), Events: unix.POLLOUT}}
	for range txWaitPolls {
		if atomic.LoadUint32(&h.Status) == unix.TP_STATUS_AVAILABLE {
			return nil
		}
		if _, err := unix.Poll(pfd[:], int(txWaitPoll/time.Millisecond)); err != nil && err != unix.EINTR {
			return fmt.Errorf("afpacket: poll transmit ring: %w", err)
		}
	}
	if atomic.LoadUint32(&h.Status) == unix.TP_STATUS_AVAILABLE {
		return nil
	}
	return fmt.Errorf("afpacket: transmit ring slot still busy after %v", txWaitPoll*txWaitPolls)
}

// Commit implements [Transmitter].
func (t *RingTransmitter) Commit(n int) {
	if n < 0 || n > t.maxFrame {
		panic(fmt.Sprintf("afpacket: Commit(%d) outside [0, %d]", n, t.maxFrame))
	}
	if n == 0 || !t.filling {
		return
	}
	t.filling = false
	h := t.header(t.head)
	h.Len = uint32(n)
	atomic.StoreUint32(&h.Status, unix.TP_STATUS_SEND_REQUEST)
	t.head = (t.head + 1) % t.slots
	t.pending++
}

// Flush implements [Transmitter].
func (t *RingTransmitter) Flush() (int, error) {
	t.filling = false
	if err := t.stalled; err != nil {
		t.stalled = nil
		if t.pending == 0 {
			return 0, err
		}
	}
	if t.pending == 0 {
		return 0, nil
	}
	total := t.pending
	var errno unix.Errno
	for retries := 0; retries <= maxRetries; retries++ {
		_, _, errno = unix.Syscall6(unix.SYS_SENDTO, uintptr(t.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
		if errno == 0 {
			if !t.lastRequested() {
				t.pending = 0
				return total, nil
			}
			errno = unix.ENOBUFS // the kernel stopped early: the queue is full
		} else if !temporaryErrno(errno) {
			break
		}
		if errno != unix.EINTR {
			time.Sleep(retryPause)
		}
	}
	sent := t.revokeUnsent()
	return sent, fmt.Errorf("afpacket: send on transmit ring: %d of %d frames sent: %w", sent, total, errno)
}

// lastRequested reports whether the batch's last slot still waits for the
// kernel. The kernel takes slots in order, so if it took the last one it
// took them all.
func (t *RingTransmitter) lastRequested() bool {
	last := (t.head - 1 + t.slots) % t.slots
	return atomic.LoadUint32(&t.header(last).Status) == unix.TP_STATUS_SEND_REQUEST
}

// revokeUnsent empties the batch: it takes back the slots the kernel did not
// take, from the first of them on, and rewinds head to it so that head keeps
// matching the kernel's own position in the ring. It returns how many frames
// the kernel took.
func (t *RingTransmitter) revokeUnsent() int {
	first := (t.head - t.pending + t.slots) % t.slots
	sent := 0
	for sent < t.pending && atomic.LoadUint32(&t.header((first+sent)%t.slots).Status) != unix.TP_STATUS_SEND_REQUEST {
		sent++
	}
	for i := sent; i < t.pending; i++ {
		atomic.StoreUint32(&t.header((first+i)%t.slots).Status, unix.TP_STATUS_AVAILABLE)
	}
	t.head = (first + sent) % t.slots
	t.pending = 0
	return sent
}

// Close implements [Transmitter].
func (t *RingTransmitter) Close() error {
	var err error
	if t.ring != nil {
		if e := unix.Munmap(t.ring); e != nil {
			err = fmt.Errorf("afpacket: munmap transmit ring: %w", e)
		}
		t.ring = nil
	}
	if e := unix.Close(t.fd); e != nil && err == nil {
		err = fmt.Errorf("afpacket: close: %w", e)
	}
	return err
}

func alignUp(n, a int) int { return (n + a - 1) / a * a }

package afpacket

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Defaults for the zero fields of a [RingConfig].
const (
	// DefaultBlockSize is the default ring block size: 1 MiB.
	DefaultBlockSize = 1 << 20
	// DefaultNumBlocks is the default number of ring blocks.
	DefaultNumBlocks = 8
	// DefaultFrameSize is the default nominal frame slot size.
	DefaultFrameSize = 2048
	// DefaultBlockTimeout is the default time after which the kernel
	// hands over a block that is not full.
	DefaultBlockTimeout = 10 * time.Millisecond
)

// Offsets inside a TPACKET_V3 block: struct tpacket_block_desc starts with
// version and offset_to_priv, then the tpacket_hdr_v1 whose first field is
// block_status.
const blockHeaderOffset = 8

// RingConfig sizes a [Ring]. Zero fields take the defaults.
type RingConfig struct {
	// BlockSize is the size of one ring block in bytes, a multiple of the
	// page size (default DefaultBlockSize). The kernel fills a block with
	// many frames and hands it over whole.
	BlockSize int
	// NumBlocks is the number of blocks (default DefaultNumBlocks).
	NumBlocks int
	// FrameSize is the nominal frame slot size the kernel validates the
	// ring geometry with, a multiple of 16 (default DefaultFrameSize).
	// TPACKET_V3 packs frames tightly, so it does not limit packet sizes
	// beyond BlockSize.
	FrameSize int
	// BlockTimeout is how long the kernel waits before handing over a
	// block that is not full (default DefaultBlockTimeout, at least 1 ms).
	BlockTimeout time.Duration
	// Filter is the classic BPF program deciding which packets enter the
	// ring, such as one from [ReplyFilter]. nil accepts every packet.
	Filter []unix.SockFilter
}

// Ring receives frames from one interface through a memory-mapped
// TPACKET_V3 ring. Frames the host itself transmits are not seen
// (PACKET_IGNORE_OUTGOING).
//
// Poll must be called from one goroutine at a time; Stats may be called
// concurrently with Poll. Close must not race with Poll: stop the polling
// goroutine first.
type Ring struct {
	fd        int
	ring      []byte
	blockSize int
	numBlocks int
	next      int // the block to look at next

	mu      sync.Mutex // guards packets and drops
	packets uint64
	drops   uint64
}

// NewRing opens an AF_PACKET socket bound to the interface ifindex with a
// TPACKET_V3 receive ring configured by cfg.
//
// The socket starts with a filter that drops everything, is bound, drained
// and only then given cfg.Filter, so no packet the filter would reject is
// ever delivered.
func NewRing(ifindex int, cfg RingConfig) (*Ring, error) {
	if ifindex <= 0 {
		return nil, fmt.Errorf("afpacket: invalid interface index %d", ifindex)
	}
	cfg = cfg.withDefaults()
	page := os.Getpagesize()
	if cfg.BlockSize%page != 0 || cfg.FrameSize%tpacketAlignment != 0 || cfg.FrameSize > cfg.BlockSize {
		return nil, fmt.Errorf("afpacket: invalid ring geometry: block size %d (page %d), frame size %d",
			cfg.BlockSize, page, cfg.FrameSize)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("afpacket: socket: %w", err)
	}
	r := &Ring{fd: fd, blockSize: cfg.BlockSize, numBlocks: cfg.NumBlocks}
	if err := r.setup(ifindex, cfg); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

func (cfg RingConfig) withDefaults() RingConfig {
	if cfg.BlockSize <= 0 {
		cfg.BlockSize = DefaultBlockSize
	}
	if cfg.NumBlocks <= 0 {
		cfg.NumBlocks = DefaultNumBlocks
	}
	if cfg.FrameSize <= 0 {
		cfg.FrameSize = DefaultFrameSize
	}
	if cfg.BlockTimeout <= 0 {
		cfg.BlockTimeout = DefaultBlockTimeout
	}
	return cfg
}

func (r *Ring) setup(ifindex int, cfg RingConfig) error {
	drop := returnFilter(0)
	if err := attachFilter(r.fd, drop[:]); err != nil {
		return err
	}
	if err := unix.SetsockoptInt(r.fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return fmt.Errorf("afpacket: setsockopt PACKET_VERSION: %w", err)
	}
	req := unix.TpacketReq3{
		Block_size:     uint32(cfg.BlockSize),
		Block_nr:       uint32(cfg.NumBlocks),
		Frame_size:     uint32(cfg.FrameSize),
		Frame_nr:       uint32(cfg.BlockSize / cfg.FrameSize * cfg.NumBlocks),
		Retire_blk_tov: uint32(max(1, (cfg.BlockTimeout+time.Millisecond-1)/time.Millisecond)),
	}
	if err := unix.SetsockoptTpacketReq3(r.fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return fmt.Errorf("afpacket: setsockopt PACKET_RX_RING %+v: %w", req, err)
	}
	ring, err := unix.Mmap(r.fd, 0, cfg.BlockSize*cfg.NumBlocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("afpacket: mmap receive ring: %w", err)
	}
	r.ring = ring
	if err := unix.SetsockoptInt(r.fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); err != nil {
		return fmt.Errorf("afpacket: setsockopt PACKET_IGNORE_OUTGOING: %w", err)
	}
	addr := unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}
	if err := unix.Bind(r.fd, &addr); err != nil {
		return fmt.Errorf("afpacket: bind to interface %d: %w", ifindex, err)
	}
	// Nothing can have passed the drop-all filter, but hand back any block
	// anyway so the ring starts empty, then reset the counters.
	for i := range r.numBlocks {
		atomic.StoreUint32(r.blockStatus(i), unix.TP_STATUS_KERNEL)
	}
	if _, err := unix.GetsockoptTpacketStatsV3(r.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS); err != nil {
		return fmt.Errorf("afpacket: getsockopt PACKET_STATISTICS: %w", err)
	}
	filter := cfg.Filter
	if filter == nil {
		all := returnFilter(bpfAcceptLength)
		filter = all[:]
	}
	return attachFilter(r.fd, filter)
}

// attachFilter installs prog on fd, replacing any previous filter.
func attachFilter(fd int, prog []unix.SockFilter) error {
	if len(prog) == 0 {
		return fmt.Errorf("afpacket: empty BPF program")
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog); err != nil {
		return fmt.Errorf("afpacket: attach %d-instruction BPF filter: %w", len(prog), err)
	}
	return nil
}

// blockStatus returns the block_status word of block i.
func (r *Ring) blockStatus(i int) *uint32 {
	return &r.header(i).Block_status
}

func (r *Ring) header(i int) *unix.TpacketHdrV1 {
	return (*unix.TpacketHdrV1)(unsafe.Pointer(&r.ring[i*r.blockSize+blockHeaderOffset]))
}

// Poll waits up to timeout for the kernel to hand over a block, then calls
// fn for every frame of every block ready, in arrival order, and returns
// the blocks to the kernel. frame starts at the Ethernet header and tsNanos
// is the kernel's receive time in nanoseconds since the Unix epoch. fn must
// not keep frame (or anything sliced from it) after it returns.
//
// Poll returns nil when the timeout passes with nothing received; a
// timeout <= 0 only checks for ready blocks. Keep timeout short (tens of
// milliseconds) so the caller can notice it has to stop.
func (r *Ring) Poll(timeout time.Duration, fn func(frame []byte, tsNanos int64)) error {
	if atomic.LoadUint32(r.blockStatus(r.next))&unix.TP_STATUS_USER == 0 {
		ready, err := r.wait(timeout)
		if err != nil || !ready {
			return err
		}
	}
	for range r.numBlocks {
		status := r.blockStatus(r.next)
		if atomic.LoadUint32(status)&unix.TP_STATUS_USER == 0 {
			break
		}
		r.walk(r.next, fn)
		atomic.StoreUint32(status, unix.TP_STATUS_KERNEL)
		r.next = (r.next + 1) % r.numBlocks
	}
	return nil
}

// wait polls the socket until the next block is ready or timeout passes.
func (r *Ring) wait(timeout time.Duration) (bool, error) {
	deadline := time.Now().Add(timeout)
	pfd := [1]unix.PollFd{{Fd: int32(r.fd), Events: unix.POLLIN | unix.POLLERR}}
	for {
		ms := 0
		if left := time.Until(deadline); left > 0 {
			ms = int((left + time.Millisecond - 1) / time.Millisecond)
		}
		_, err := unix.Poll(pfd[:], ms)
		if err != nil && err != unix.EINTR {
			return false, fmt.Errorf("afpacket: poll receive ring: %w", err)
		}
		if pfd[0].Revents&unix.POLLERR != 0 {
			soErr, err := unix.GetsockoptInt(r.fd, unix.SOL_SOCKET, unix.SO_ERROR)
			if err != nil {
				return false, fmt.Errorf("afpacket: receive ring socket error: %w", err)
			}
			if soErr != 0 {
				return false, fmt.Errorf("afpacket: receive ring socket error: %w", unix.Errno(soErr))
			}
		}
		if atomic.LoadUint32(r.blockStatus(r.next))&unix.TP_STATUS_USER != 0 {
			return true, nil
		}
		if ms == 0 {
			return false, nil
		}
	}
}

// walk calls fn for each frame of block i.
func (r *Ring) walk(i int, fn func(frame []byte, tsNanos int64)) {
	base := i * r.blockSize
	h := r.header(i)
	off := base + int(h.Offset_to_first_pkt)
	for range h.Num_pkts {
		p := (*unix.Tpacket3Hdr)(unsafe.Pointer(&r.ring[off]))
		start := off + int(p.Mac)
		end := start + int(p.Snaplen)
		fn(r.ring[start:end:end], int64(p.Sec)*1e9+int64(p.Nsec))
		if p.Next_offset == 0 {
			break
		}
		off += int(p.Next_offset)
	}
}

// Stats returns how many packets passed the filter since the ring was
// opened (including the dropped ones) and how many of them were dropped
// because the ring was full. The kernel resets its counters on every read;
// Stats accumulates them.
func (r *Ring) Stats() (packets, drops uint64, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, err := unix.GetsockoptTpacketStatsV3(r.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return r.packets, r.drops, fmt.Errorf("afpacket: getsockopt PACKET_STATISTICS: %w", err)
	}
	r.packets += uint64(st.Packets)
	r.drops += uint64(st.Drops)
	return r.packets, r.drops, nil
}

// Close unmaps the ring and closes the socket. It must not be called while
// Poll runs.
func (r *Ring) Close() error {
	var err error
	if r.ring != nil {
		if e := unix.Munmap(r.ring); e != nil {
			err = fmt.Errorf("afpacket: munmap receive ring: %w", e)
		}
		r.ring = nil
	}
	if e := unix.Close(r.fd); e != nil && err == nil {
		err = fmt.Errorf("afpacket: close: %w", e)
	}
	return err
}

package afpacket_test

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fastscan/fastscan/afpacket"
	"github.com/fastscan/fastscan/afpacket/afpackettest"
	"github.com/fastscan/fastscan/citest"
)

// openRing opens a Ring on l, closed by t.Cleanup.
func openRing(t *testing.T, l afpackettest.Link, cfg afpacket.RingConfig) *afpacket.Ring {
	t.Helper()
	var r *afpacket.Ring
	err := l.Netns.Run(func() (err error) {
		r, err = afpacket.NewRing(l.Index, cfg)
		return err
	})
	if err != nil {
		t.Fatalf("NewRing: %v", err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r
}

// replyFilter returns afpacket.ReplyFilter for TCP and UDP replies to the IPv4
// address local (in host order) and ports [lo, hi].
func replyFilter(t *testing.T, local uint32, lo, hi uint16) []unix.SockFilter {
	t.Helper()
	var a [4]byte
	binary.BigEndian.PutUint32(a[:], local)
	prog, err := afpacket.ReplyFilter(netip.AddrFrom4(a), lo, hi, []uint8{unix.IPPROTO_TCP, unix.IPPROTO_UDP})
	if err != nil {
		t.Fatalf("ReplyFilter: %v", err)
	}
	return prog
}

// send transmits frames from tx in batches and fails t on any error.
func send(t *testing.T, tx afpacket.Transmitter, frames []frameSpec) {
	t.Helper()
	for len(frames) > 0 {
		n := 0
		for buf := tx.Next(); buf != nil && n < len(frames); buf = tx.Next() {
			tx.Commit(frames[n].put(buf))
			n++
		}
		sent, err := tx.Flush()
		if err != nil || sent != n {
			t.Fatalf("Flush = %d, %v; want %d, nil", sent, err, n)
		}
		frames = frames[n:]
	}
}

// collect polls r until want frames were seen or timeout passed, then keeps
// polling for settle to catch frames that should not be there. It returns
// how often each tag was seen.
func collect(t *testing.T, r *afpacket.Ring, want int, timeout, settle time.Duration) map[uint32]int {
	t.Helper()
	seen := map[uint32]int{}
	count := 0
	fn := func(frame []byte, _ int64) {
		if len(frame) >= 14 && binary.BigEndian.Uint16(frame[12:]) == 0x8100 {
			t.Errorf("frame %d arrived with its 802.1Q tag", tagOf(frame))
		}
		seen[tagOf(frame)]++
		count++
	}
	deadline := time.Now().Add(timeout)
	for count < want && time.Now().Before(deadline) {
		if err := r.Poll(20*time.Millisecond, fn); err != nil {
			t.Fatalf("Poll: %v", err)
		}
	}
	for end := time.Now().Add(settle); time.Now().Before(end); {
		if err := r.Poll(10*time.Millisecond, fn); err != nil {
			t.Fatalf("Poll: %v", err)
		}
	}
	return seen
}

func TestRingDeliversExactlyWhatReplyFilterAccepts(t *testing.T) {
	citest.RequireRoot(t)
	pair := afpackettest.NewVethPair(t)
	const local, remote = 0xC6120002, 0xC6120001
	ring := openRing(t, pair.B, afpacket.RingConfig{Filter: replyFilter(t, local, 1000, 2000)})
	tx := transmitters(t, pair.A, 16)["mmsg"]

	base := frameSpec{dst: pair.B.MAC, src: pair.A.MAC, srcIP: remote, dstIP: local, proto: unix.IPPROTO_TCP, srcPort: 80}
	with := func(tag uint32, edit func(*frameSpec)) frameSpec {
		f := base
		f.tag = tag
		edit(&f)
		return f
	}
	matching := []frameSpec{
		with(1, func(f *frameSpec) { f.port = 1000 }),
		with(2, func(f *frameSpec) { f.port = 1500 }),
		with(3, func(f *frameSpec) { f.port = 2000 }),
		with(4, func(f *frameSpec) { f.proto = unix.IPPROTO_ICMP }),
		with(5, func(f *frameSpec) { f.port = 1500; f.proto = unix.IPPROTO_UDP }),
		// Linux takes the 802.1Q tag off a frame before packet sockets see it
		// (the ring keeps it as metadata), so the filter judges the untagged
		// frame: it must match as such, and arrive untagged.
		with(6, func(f *frameSpec) { f.port = 1500; f.vlan = 7 }),
		with(7, func(f *frameSpec) { f.proto = unix.IPPROTO_ICMP; f.vlan = 7 }),
	}
	other := []frameSpec{
		with(101, func(f *frameSpec) { f.port = 1500; f.dstIP = local + 1 }),
		with(102, func(f *frameSpec) { f.port = 999 }),
		with(103, func(f *frameSpec) { f.port = 2001 }),
		with(104, func(f *frameSpec) { f.port = 2001; f.proto = unix.IPPROTO_UDP }),
		with(108, func(f *frameSpec) { f.port = 1500; f.proto = unix.IPPROTO_GRE }),
		with(105, func(f *frameSpec) { f.arp = true }),
		with(106, func(f *frameSpec) { f.port = 1500; f.fragOffset = 1 }),
		with(107, func(f *frameSpec) { f.proto = unix.IPPROTO_ICMP; f.dstIP = local + 1 }),
		with(109, func(f *frameSpec) { f.port = 999; f.vlan = 7 }),
		with(111, func(f *frameSpec) { f.port = 1500; f.proto = unix.IPPROTO_SCTP }),
		with(112, func(f *frameSpec) { f.port = 1500; f.proto = unix.IPPROTO_UDP; f.fragOffset = 1 }),
	}
	// Interleave, so that a filter passing everything after some point
	// would be caught.
	var frames []frameSpec
	for i := range max(len(matching), len(other)) {
		if i < len(other) {
			frames = append(frames, other[i])
		}
		if i < len(matching) {
			frames = append(frames, matching[i])
		}
	}
	send(t, tx, frames)

	seen := collect(t, ring, len(matching), 3*time.Second, 50*time.Millisecond)
	for _, f := range matching {
		if seen[f.tag] != 1 {
			t.Errorf("matching frame %d seen %d times, want once", f.tag, seen[f.tag])
		}
		delete(seen, f.tag)
	}
	for tag, n := range seen {
		t.Errorf("frame with tag %d (%#x) passed the filter %d times", tag, tag, n)
	}
	packets, drops, err := ring.Stats()
	if err != nil || packets != uint64(len(matching)) || drops != 0 {
		t.Errorf("Stats = %d, %d, %v; want %d, 0, nil", packets, drops, err, len(matching))
	}
}

func TestRingIgnoresOwnTransmissionsAndTimestamps(t *testing.T) {
	citest.RequireRoot(t)
	pair := afpackettest.NewVethPair(t)
	own := openRing(t, pair.A, afpacket.RingConfig{}) // no filter: everything
	peer := openRing(t, pair.B, afpacket.RingConfig{})
	tx := transmitters(t, pair.A, 8)["ring"]

	before := time.Now().UnixNano()
	var frames []frameSpec
	for i := range 20 {
		frames = append(frames, frameSpec{dst: pair.B.MAC, src: pair.A.MAC, proto: unix.IPPROTO_TCP, tag: uint32(i + 1)})
	}
	send(t, tx, frames)

	got := 0
	deadline := time.Now().Add(3 * time.Second)
	for got < len(frames) && time.Now().Before(deadline) {
		err := peer.Poll(20*time.Millisecond, func(frame []byte, ts int64) {
			if len(frame) != testFrameLen {
				t.Errorf("frame of %d bytes, want %d", len(frame), testFrameLen)
			}
			if tag := tagOf(frame); tag != uint32(got+1) {
				t.Errorf("frame %d has tag %d: out of order", got+1, tag)
			}
			if after := time.Now().UnixNano(); ts < before || ts > after {
				t.Errorf("timestamp %d outside [%d, %d]", ts, before, after)
			}
			got++
		})
		if err != nil {
			t.Fatalf("Poll: %v", err)
		}
	}
	if got != len(frames) {
		t.Errorf("peer received %d frames, want %d", got, len(frames))
	}
	if seen := collect(t, own, 0, 0, 50*time.Millisecond); len(seen) != 0 {
		t.Errorf("sender's own ring saw its outgoing frames: %v", seen)
	}
}

func TestRingPollTimesOut(t *testing.T) {
	citest.RequireRoot(t)
	pair := afpackettest.NewVethPair(t)
	ring := openRing(t, pair.B, afpacket.RingConfig{Filter: replyFilter(t, 1, 1, 1)})
	start := time.Now()
	err := ring.Poll(30*time.Millisecond, func([]byte, int64) { t.Error("fn called on an idle interface") })
	if err != nil {
		t.Fatalf("Poll: %v", err)
	}
	if d := time.Since(start); d < 25*time.Millisecond || d > time.Second {
		t.Errorf("Poll(30ms) returned after %v", d)
	}
	if err := ring.Poll(0, func([]byte, int64) { t.Error("fn called") }); err != nil {
		t.Errorf("Poll(0): %v", err)
	}
}

func TestRingStatsCountDropsCumulatively(t *testing.T) {
	citest.RequireRoot(t)
	pair := afpackettest.NewVethPair(t)
	// Two one-page blocks hold a few dozen frames; nobody polls, so the
	// rest must be counted as drops.
	ring := openRing(t, pair.B, afpacket.RingConfig{BlockSize: 4096, NumBlocks: 2, FrameSize: 128, BlockTimeout: time.Millisecond})
	tx := transmitters(t, pair.A, 50)["mmsg"]
	const total = 500
	frames := make([]frameSpec, total)
	for i := range frames {
		frames[i] = frameSpec{dst: pair.B.MAC, src: pair.A.MAC, proto: unix.IPPROTO_TCP, tag: uint32(i + 1)}
	}
	send(t, tx, frames)

	var packets, drops uint64
	for deadline := time.Now().Add(3 * time.Second); packets < total && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
		var err error
		if packets, drops, err = ring.Stats(); err != nil {
			t.Fatalf("Stats: %v", err)
		}
	}
	if packets != total {
		t.Errorf("Stats packets = %d, want %d", packets, total)
	}
	if drops == 0 || drops >= total {
		t.Errorf("Stats drops = %d, want some but not all of %d", drops, total)
	}
	delivered := 0
	collectFn := func([]byte, int64) { delivered++ }
	for range 5 {
		if err := ring.Poll(5*time.Millisecond, collectFn); err != nil {
			t.Fatalf("Poll: %v", err)
		}
	}
	if uint64(delivered) != total-drops {
		t.Errorf("delivered %d frames, want packets-drops = %d", delivered, total-drops)
	}
	p2, d2, err := ring.Stats()
	if err != nil || p2 != packets || d2 != drops {
		t.Errorf("second Stats = %d, %d, %v; want the same cumulative %d, %d", p2, d2, err, packets, drops)
	}
}

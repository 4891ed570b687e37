package afpacket_test

import (
	"fmt"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fastscan/fastscan/afpacket"
	"github.com/fastscan/fastscan/afpacket/afpackettest"
	"github.com/fastscan/fastscan/citest"
)

// openRawReceiver opens a plain AF_PACKET socket on l that sees every frame
// arriving there.
func openRawReceiver(t *testing.T, l afpackettest.Link) int {
	t.Helper()
	var fd int
	err := l.Netns.Run(func() error {
		var err error
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: l.Index})
	})
	if err != nil {
		t.Fatalf("receiver socket: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// receiveTags reads frames from fd until want tagged frames arrived or the
// deadline passed, and returns the tags seen (ignoring untagged frames).
func receiveTags(t *testing.T, fd int, want int, timeout time.Duration) map[uint32]int {
	t.Helper()
	seen := map[uint32]int{}
	buf := make([]byte, 2048)
	deadline := time.Now().Add(timeout)
	count := 0
	for count < want && time.Now().Before(deadline) {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(pfd, 50); err != nil && err != unix.EINTR {
			t.Fatalf("poll: %v", err)
		}
		for {
			n, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT)
			if err != nil {
				break
			}
			if tag := tagOf(buf[:n]); tag != 0 {
				seen[tag]++
				count++
			}
		}
	}
	return seen
}

// transmitters opens each Transmitter implementation on l.
func transmitters(t *testing.T, l afpackettest.Link, batch int) map[string]afpacket.Transmitter {
	t.Helper()
	out := map[string]afpacket.Transmitter{}
	err := l.Netns.Run(func() error {
		m, err := afpacket.NewMmsgTransmitter(l.Index, batch, 128)
		if err != nil {
			return err
		}
		out["mmsg"] = m
		r, err := afpacket.NewRingTransmitter(l.Index, batch, 128)
		if err != nil {
			m.Close()
			return err
		}
		out["ring"] = r
		return nil
	})
	if err != nil {
		t.Fatalf("open transmitters: %v", err)
	}
	for _, tx := range out {
		t.Cleanup(func() { tx.Close() })
	}
	return out
}

func TestTransmittersDeliverEveryFrame(t *testing.T) {
	citest.RequireRoot(t)
	pair := afpackettest.NewVethPair(t)
	const batch = 16
	for name, tx := range transmitters(t, pair.A, batch) {
		t.Run(name, func(t *testing.T) {
			rx := openRawReceiver(t, pair.B)
			const batches = 5
			tag := uint32(1)
			for b := 0; b < batches; b++ {
				filled := 0
				for buf := tx.Next(); buf != nil; buf = tx.Next() {
					f := frameSpec{dst: pair.B.MAC, src: pair.A.MAC, srcIP: 0xC6120001, dstIP: 0xC6120002,
						proto: unix.IPPROTO_TCP, srcPort: 40000, port: 80, tag: tag}
					tag++
					tx.Commit(f.put(buf))
					filled++
				}
				if filled < batch {
					t.Fatalf("batch %d: Next gave %d buffers, want at least %d", b, filled, batch)
				}
				n, err := tx.Flush()
				if err != nil || n != filled {
					t.Fatalf("Flush = %d, %v; want %d, nil", n, err, filled)
				}
			}
			total := int(tag - 1)
			seen := receiveTags(t, rx, total, 5*time.Second)
			for i := 1; i <= total; i++ {
				if seen[uint32(i)] != 1 {
					t.Errorf("frame %d received %d times, want once", i, seen[uint32(i)])
				}
			}
			if n, err := tx.Flush(); n != 0 || err != nil {
				t.Errorf("empty Flush = %d, %v; want 0, nil", n, err)
			}
		})
	}
}

func TestTransmitterCommitZeroDiscards(t *testing.T) {
	citest.RequireRoot(t)
	pair := afpackettest.NewVethPair(t)
	for name, tx := range transmitters(t, pair.A, 4) {
		t.Run(name, func(t *testing.T) {
			rx := openRawReceiver(t, pair.B)
			f := frameSpec{dst: pair.B.MAC, src: pair.A.MAC, proto: unix.IPPROTO_TCP, tag: 7}
			f.put(tx.Next())
			tx.Commit(0) // discarded
			f.tag = 8
			tx.Commit(f.put(tx.Next()))
			if n, err := tx.Flush(); n != 1 || err != nil {
				t.Fatalf("Flush = %d, %v; want 1, nil", n, err)
			}
			seen := receiveTags(t, rx, 2, 500*time.Millisecond)
			if fmt.Sprint(seen) != "map[8:1]" {
				t.Errorf("received tags %v, want only 8 once", seen)
			}
		})
	}
}

func TestTransmitterCommitTooLongPanics(t *testing.T) {
	citest.RequireRoot(t)
	pair := afpackettest.NewVethPair(t)
	for name, tx := range transmitters(t, pair.A, 4) {
		t.Run(name, func(t *testing.T) {
			buf := tx.Next()
			defer func() {
				if recover() == nil {
					t.Errorf("Commit(%d) with a %d-byte buffer did not panic", len(buf)+1, len(buf))
				}
			}()
			tx.Commit(len(buf) + 1)
		})
	}
}

// Many batches wrap the transmit ring several times; every frame must still
// arrive exactly once, in order.
func TestTransmittersWrapAround(t *testing.T) {
	citest.RequireRoot(t)
	pair := afpackettest.NewVethPair(t)
	for name, tx := range transmitters(t, pair.A, 32) {
		t.Run(name, func(t *testing.T) {
			ring := openRing(t, pair.B, afpacket.RingConfig{BlockTimeout: time.Millisecond})
			const total = 3000
			next := uint32(1)
			received := 0
			check := func(frame []byte, _ int64) {
				received++
				if tag := tagOf(frame); tag != uint32(received) {
					t.Fatalf("frame %d has tag %d", received, tag)
				}
			}
			for next <= total {
				n := 0
				for buf := tx.Next(); buf != nil && next <= total; buf = tx.Next() {
					f := frameSpec{dst: pair.B.MAC, src: pair.A.MAC, proto: unix.IPPROTO_TCP, tag: next}
					tx.Commit(f.put(buf))
					next++
					n++
				}
				if sent, err := tx.Flush(); err != nil || sent != n {
					t.Fatalf("Flush = %d, %v; want %d, nil", sent, err, n)
				}
				if err := ring.Poll(0, check); err != nil {
					t.Fatalf("Poll: %v", err)
				}
			}
			for deadline := time.Now().Add(3 * time.Second); received < total && time.Now().Before(deadline); {
				if err := ring.Poll(10*time.Millisecond, check); err != nil {
					t.Fatalf("Poll: %v", err)
				}
			}
			if _, drops, _ := ring.Stats(); received != total || drops != 0 {
				t.Errorf("received %d of %d frames, %d dropped", received, total, drops)
			}
		})
	}
}

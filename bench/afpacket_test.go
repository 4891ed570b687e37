package bench

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/fastscan/fastscan/afpacket"
	"github.com/fastscan/fastscan/afpacket/afpackettest"
	"github.com/fastscan/fastscan/citest"
)

const (
	afpacketBatch    = 64
	afpacketFrameLen = 74 // Ethernet + IPv4 + TCP with 20 bytes of options
	afpacketMaxFrame = 128
)

// synLikeFrame returns a 74-byte Ethernet/IPv4/TCP SYN frame from src to
// dst. Checksums are not filled in: the frames are only counted.
func synLikeFrame(dst, src [6]byte) []byte {
	f := make([]byte, afpacketFrameLen)
	copy(f[0:], dst[:])
	copy(f[6:], src[:])
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	f[14] = 0x45
	binary.BigEndian.PutUint16(f[16:], afpacketFrameLen-14)
	f[22], f[23] = 64, 6
	binary.BigEndian.PutUint32(f[26:], 0xC6120001)
	binary.BigEndian.PutUint32(f[30:], 0xC6120002)
	binary.BigEndian.PutUint16(f[34:], 40000)
	binary.BigEndian.PutUint16(f[36:], 80)
	f[46] = 10 << 4
	f[47] = 0x02
	return f
}

// fillAndFlush writes one batch of frames (each with its own sequence
// number) into tx and flushes it.
func fillAndFlush(b *testing.B, tx afpacket.Transmitter, frame []byte, seq *uint32) int {
	n := 0
	for buf := tx.Next(); buf != nil && n < afpacketBatch; buf = tx.Next() {
		copy(buf, frame)
		binary.BigEndian.PutUint32(buf[38:], *seq)
		*seq++
		tx.Commit(afpacketFrameLen)
		n++
	}
	sent, err := tx.Flush()
	if err != nil {
		b.Fatalf("Flush: %v", err)
	}
	return sent
}

// BenchmarkAfpacketTransmit sends 64-frame batches of 74-byte frames on a
// veth pair whose peer sits in a namespace with no addresses (the frames are
// dropped there), with each Transmitter, with and without
// PACKET_QDISC_BYPASS. One op is one batch.
func BenchmarkAfpacketTransmit(b *testing.B) {
	citest.RequireRoot(b)
	pair := afpackettest.NewVethPair(b)
	frame := synLikeFrame(pair.B.MAC, pair.A.MAC)
	open := map[string]func(o afpacket.TxOptions) (afpacket.Transmitter, error){
		"mmsg": func(o afpacket.TxOptions) (afpacket.Transmitter, error) {
			return afpacket.NewMmsgTransmitterOptions(pair.A.Index, afpacketBatch, afpacketMaxFrame, o)
		},
		"ring": func(o afpacket.TxOptions) (afpacket.Transmitter, error) {
			// Four batches of ring, so the kernel can drain one while the
			// next is filled.
			return afpacket.NewRingTransmitterOptions(pair.A.Index, 4*afpacketBatch, afpacketMaxFrame, o)
		},
	}
	for _, name := range []string{"mmsg", "ring"} {
		for _, bypass := range []bool{false, true} {
			label := name
			if bypass {
				label += "-qdisc-bypass"
			}
			var tx afpacket.Transmitter
			err := pair.A.Netns.Run(func() (err error) {
				tx, err = open[name](afpacket.TxOptions{QdiscBypass: bypass})
				return err
			})
			if err != nil {
				b.Fatalf("open %s: %v", label, err)
			}
			b.Run(label, func(b *testing.B) {
				b.ReportAllocs()
				var seq uint32
				frames := 0
				for b.Loop() {
					frames += fillAndFlush(b, tx, frame, &seq)
				}
				b.ReportMetric(float64(frames)/b.Elapsed().Seconds(), "frames/s")
			})
			tx.Close()
		}
	}
}

// BenchmarkAfpacketRingPoll sends 16 batches of 64 frames across a veth
// pair and polls them out of the receiving TPACKET_V3 ring (1 ms block
// timeout). One op is 1024 frames sent and received; allocations cover both
// ends, so 0 allocs/op means 0 per frame.
func BenchmarkAfpacketRingPoll(b *testing.B) {
	citest.RequireRoot(b)
	pair := afpackettest.NewVethPair(b)
	frame := synLikeFrame(pair.B.MAC, pair.A.MAC)
	var tx afpacket.Transmitter
	var ring *afpacket.Ring
	if err := pair.A.Netns.Run(func() (err error) {
		tx, err = afpacket.NewMmsgTransmitter(pair.A.Index, afpacketBatch, afpacketMaxFrame)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { tx.Close() })
	filter, err := afpacket.ReplyFilter(netip.MustParseAddr("198.18.0.2"), 1, 65535, []uint8{6, 17})
	if err != nil {
		b.Fatal(err)
	}
	if err := pair.B.Netns.Run(func() (err error) {
		ring, err = afpacket.NewRing(pair.B.Index, afpacket.RingConfig{
			Filter:       filter,
			BlockTimeout: time.Millisecond,
		})
		return err
	}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ring.Close() })

	received := 0
	var bytes int
	fn := func(f []byte, _ int64) {
		received++
		bytes += len(f)
	}
	var seq uint32
	b.ReportAllocs()
	for b.Loop() {
		want := received
		for range 16 {
			want += fillAndFlush(b, tx, frame, &seq)
		}
		for deadline := time.Now().Add(time.Second); received < want; {
			if err := ring.Poll(5*time.Millisecond, fn); err != nil {
				b.Fatal(err)
			}
			if time.Now().After(deadline) {
				b.Fatalf("received %d of %d frames", received, want)
			}
		}
	}
	b.ReportMetric(float64(received)/b.Elapsed().Seconds(), "frames/s")
}

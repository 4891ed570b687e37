package bench

import (
	"math/bits"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/RoaringBitmap/roaring/v2/roaring64"

	"github.com/fastscan/fastscan/engine"
)

// answerSet is what the engine's target table does, for comparing implementations
// side by side in one run: engine.Table (the one the engine uses), the plain bitmap
// it replaced (one bit per target), and roaring bitmaps behind sharded locks (the
// obvious alternative).
type answerSet interface {
	Mark(i uint64) bool
	Answered(i uint64) bool
}

var answerSets = []struct {
	name string
	make func(n uint64) answerSet
}{
	{"table", func(n uint64) answerSet { t, _ := engine.NewTable(n); return t }},
	{"bitmap", func(n uint64) answerSet { return &bitmapSet{words: make([]uint64, (n+63)/64)} }},
	{"roaring", func(uint64) answerSet { return &roaringSet{} }},
}

// bitmapSet is the engine's table before it followed the answers: one bit per target.
type bitmapSet struct{ words []uint64 }

func (t *bitmapSet) Mark(i uint64) bool {
	bit := uint64(1) << (i & 63)
	return atomic.OrUint64(&t.words[i>>6], bit)&bit == 0
}

func (t *bitmapSet) Answered(i uint64) bool {
	return atomic.LoadUint64(&t.words[i>>6])&(uint64(1)<<(i&63)) != 0
}

// roaringSet is 64 roaring64 bitmaps, each behind its own read-write lock, chosen by
// bits of the leaf (index / 65536).
type roaringSet struct {
	shards [64]struct {
		mu sync.RWMutex
		b  *roaring64.Bitmap
		_  [40]byte
	}
}

func (r *roaringSet) shard(i uint64) int {
	return int(bits.RotateLeft64((i>>16)*0x9E3779B97F4A7C15, 6) & 63)
}

func (r *roaringSet) Mark(i uint64) bool {
	s := &r.shards[r.shard(i)]
	s.mu.Lock()
	if s.b == nil {
		s.b = roaring64.New()
	}
	first := s.b.CheckedAdd(i)
	s.mu.Unlock()
	return first
}

func (r *roaringSet) Answered(i uint64) bool {
	s := &r.shards[r.shard(i)]
	s.mu.RLock()
	ok := s.b != nil && s.b.Contains(i)
	s.mu.RUnlock()
	return ok
}

// BenchmarkTableMark measures the receive path's target-table update per reply, at
// scattered indexes: over a /16 x 16-port scan (1,048,576 targets, every one
// answered in the end: dense) and over a /16 x 4096-port scan (2^28 targets, one
// answer in 256: sparse leaves).
func BenchmarkTableMark(b *testing.B) {
	for _, w := range []struct {
		name string
		bits uint
		mask uint64
	}{{"dense", 20, 1<<20 - 1}, {"sparse", 28, (1<<28 - 1) &^ 255}} {
		for _, impl := range answerSets {
			b.Run(w.name+"/"+impl.name, func(b *testing.B) {
				tab := impl.make(1 << w.bits)
				b.ReportAllocs()
				idx := uint64(0)
				for b.Loop() {
					idx = (idx + 0x9E3779B1) & w.mask
					tab.Mark(idx)
				}
			})
		}
	}
}

// BenchmarkTableAnswered measures the retry pass's check of one target: in a table
// of 1,048,576 targets a third of them answered (dense leaves), and in one of 2^28
// with one answer in 256 (sparse leaves).
func BenchmarkTableAnswered(b *testing.B) {
	for _, w := range []struct {
		name string
		bits uint
		step uint64
	}{{"dense", 20, 3}, {"sparse", 28, 256}} {
		for _, impl := range answerSets {
			b.Run(w.name+"/"+impl.name, func(b *testing.B) {
				n := uint64(1) << w.bits
				tab := impl.make(n)
				for i := uint64(0); i < n; i += w.step {
					tab.Mark(i)
				}
				b.ReportAllocs()
				idx := uint64(0)
				hits := 0
				for b.Loop() {
					idx = (idx + 0x9E3779B1) & (n - 1)
					if tab.Answered(idx) {
						hits++
					}
				}
				_ = hits
			})
		}
	}
}

// BenchmarkTableAnsweredWhileMarking is BenchmarkTableAnswered/dense with another
// goroutine marking targets all the while: the sender reading while the receiver
// writes.
func BenchmarkTableAnsweredWhileMarking(b *testing.B) {
	for _, impl := range answerSets {
		b.Run(impl.name, func(b *testing.B) {
			const n = 1 << 20
			tab := impl.make(n)
			stop := make(chan struct{})
			done := make(chan struct{})
			go func() {
				defer close(done)
				idx := uint64(0)
				for {
					select {
					case <-stop:
						return
					default:
					}
					for range 1024 {
						idx = (idx + 0x51ED27) & (n - 1)
						tab.Mark(idx)
					}
				}
			}()
			b.ReportAllocs()
			idx := uint64(0)
			hits := 0
			for b.Loop() {
				idx = (idx + 0x9E3779B1) & (n - 1)
				if tab.Answered(idx) {
					hits++
				}
			}
			close(stop)
			<-done
			_ = hits
		})
	}
}

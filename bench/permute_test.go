package bench

import (
	"testing"

	"github.com/fastscan/fastscan/permute"
)

// BenchmarkPermutationAt measures one scan-order lookup (per probe) over a
// domain of 2^24 targets x 700 ports; the network's domain (2^34) is 1.46
// times as large, so about a third of the lookups walk the cycle again.
func BenchmarkPermutationAt(b *testing.B) {
	const n = 1 << 24 * 700
	p := permute.New(n, 0x5eed)
	var sink uint64
	b.ReportAllocs()
	for i := uint64(0); b.Loop(); i++ {
		sink += p.At(i)
	}
	_ = sink
}

// BenchmarkPermutationAtPow2 is At over a power-of-two domain (no cycle
// walking): the cost of one pass of the Feistel network.
func BenchmarkPermutationAtPow2(b *testing.B) {
	p := permute.New(1<<32, 0x5eed)
	var sink uint64
	b.ReportAllocs()
	for i := uint64(0); b.Loop(); i++ {
		sink += p.At(i)
	}
	_ = sink
}

package bench

import (
	"testing"

	"github.com/fastscan/fastscan/engine"
)

// BenchmarkTableMark measures the receive path's target-table update: one atomic OR
// per reply, at scattered indexes over a /16 x 16-port table.
func BenchmarkTableMark(b *testing.B) {
	const n = 1 << 20
	tab, err := engine.NewTable(n)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	idx := uint64(0)
	for b.Loop() {
		idx = (idx + 0x9E3779B1) & (n - 1)
		tab.Mark(idx)
	}
}

// BenchmarkTableAnswered measures the retry pass's check of one target.
func BenchmarkTableAnswered(b *testing.B) {
	const n = 1 << 20
	tab, err := engine.NewTable(n)
	if err != nil {
		b.Fatal(err)
	}
	for i := uint64(0); i < n; i += 3 {
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
}

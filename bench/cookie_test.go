package bench

import (
	"testing"

	"github.com/fastscan/fastscan/cookie"
)

// BenchmarkCookieSum measures one SYN cookie (per probe and per reply).
func BenchmarkCookieSum(b *testing.B) {
	k := cookie.NewKey(0x5eed)
	var sink uint32
	b.ReportAllocs()
	for i := uint32(0); b.Loop(); i++ {
		sink += k.Sum(0xC6130001, 0xC6120000+i, 40000+uint16(i&0x3ff), uint16(i))
	}
	_ = sink
}

package bench

import (
	"net/netip"
	"testing"

	"github.com/fastscan/fastscan/target"
)

// benchTargetSet returns a set of 1024 disjoint /28 blocks.
func benchTargetSet(b *testing.B) target.Set {
	b.Helper()
	ranges := make([]target.Range, 1024)
	for i := range ranges {
		first := uint32(0x0A000000 + i*32)
		ranges[i] = target.Range{First: addrOf(first), Last: addrOf(first + 15)}
	}
	return target.NewSet(ranges)
}

// benchTargetSet6 returns the IPv6 twin of benchTargetSet: 1024 disjoint
// blocks of 16 addresses in 2001:2::/48.
func benchTargetSet6(b *testing.B) target.Set {
	b.Helper()
	ranges := make([]target.Range, 1024)
	for i := range ranges {
		first := [16]byte{0x20, 0x01, 0, 0x02, 14: byte(i * 32 >> 8), 15: byte(i * 32)}
		last := first
		last[15] += 15
		ranges[i] = target.Range{First: netip.AddrFrom16(first), Last: netip.AddrFrom16(last)}
	}
	s := target.NewSet(ranges)
	if s.Len() != 1024*16 {
		b.Fatalf("IPv6 set of %d addresses", s.Len())
	}
	return s
}

// BenchmarkSetAt maps scan indices to addresses (per probe): IPv4 and IPv6
// sets of the same shape side by side.
func BenchmarkSetAt(b *testing.B) {
	b.Run("IPv4", func(b *testing.B) { benchSetAt(b, benchTargetSet(b)) })
	b.Run("IPv6", func(b *testing.B) { benchSetAt(b, benchTargetSet6(b)) })
}

func benchSetAt(b *testing.B, s target.Set) {
	n := s.Len()
	var sink int
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if s.At(uint64(i*7919) % n).IsValid() {
			sink++
		}
	}
	_ = sink
}

// BenchmarkSetIndex maps reply addresses back to indices (per reply), IPv4
// and IPv6 side by side.
func BenchmarkSetIndex(b *testing.B) {
	b.Run("IPv4", func(b *testing.B) { benchSetIndex(b, benchTargetSet(b)) })
	b.Run("IPv6", func(b *testing.B) { benchSetIndex(b, benchTargetSet6(b)) })
}

func benchSetIndex(b *testing.B, s target.Set) {
	n := s.Len()
	addrs := make([]netip.Addr, 4096)
	for i := range addrs {
		addrs[i] = s.At(uint64(i*7919) % n)
	}
	var sink uint64
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		j, _ := s.Index(addrs[i&4095])
		sink += j
	}
	_ = sink
}

// addrOf is the IPv4 address with the numeric value v.
func addrOf(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// BenchmarkPortsIndex maps reply ports back to indices (per reply).
func BenchmarkPortsIndex(b *testing.B) {
	p, err := target.ParsePorts("1-1024,3306,5432,8080,8443")
	if err != nil {
		b.Fatal(err)
	}
	var sink int
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		j, _ := p.Index(uint16(i))
		sink += j
	}
	_ = sink
}

// BenchmarkSetIndexReply maps reply addresses back to indices as the engine's
// receive path does: from the parser's numeric IPv4 value, made an Addr per reply.
func BenchmarkSetIndexReply(b *testing.B) {
	s := benchTargetSet(b)
	n := s.Len()
	addrs := make([]uint32, 4096)
	for i := range addrs {
		a := s.At(uint64(i*7919) % n).As4()
		addrs[i] = uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	}
	var sink uint64
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		j, _ := s.Index(addrOf(addrs[i&4095]))
		sink += j
	}
	_ = sink
}

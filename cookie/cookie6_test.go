package cookie

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// TestSumIPv6ByteOrder pins the IPv6 message layout to the reference set: the
// reference key over bytes 00 01 .. 23 is vector 36.
func TestSumIPv6ByteOrder(t *testing.T) {
	var src, dst [16]byte
	for i := range 16 {
		src[i], dst[i] = byte(i), byte(16+i)
	}
	got := referenceKey().Sum64IPv6(src, dst, 0x2021, 0x2223)
	if want := referenceVectors[36]; got != want {
		t.Fatalf("Sum64IPv6 = %#x, want %#x (reference vector 36)", got, want)
	}
	if got := referenceKey().SumIPv6(src, dst, 0x2021, 0x2223); got != uint32(referenceVectors[36]) {
		t.Fatalf("SumIPv6 = %#x, want the low half of reference vector 36", got)
	}
}

// TestSumIPv6MatchesGeneral checks the fixed 36-byte path against the general
// SipHash over the message laid out byte by byte in network order.
func TestSumIPv6MatchesGeneral(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	keys := []Key{referenceKey(), {}, NewKey(0)}
	for range 200 {
		keys = append(keys, Key{k0: rng.Uint64(), k1: rng.Uint64()})
	}
	var msg [36]byte
	for _, k := range keys {
		for range 20 {
			var src, dst [16]byte
			binary.BigEndian.PutUint64(src[:8], rng.Uint64())
			binary.BigEndian.PutUint64(src[8:], rng.Uint64())
			binary.BigEndian.PutUint64(dst[:8], rng.Uint64())
			binary.BigEndian.PutUint64(dst[8:], rng.Uint64())
			sp, dp := uint16(rng.Uint32()), uint16(rng.Uint32())
			copy(msg[:16], src[:])
			copy(msg[16:32], dst[:])
			binary.BigEndian.PutUint16(msg[32:], sp)
			binary.BigEndian.PutUint16(msg[34:], dp)
			want := k.sum64(msg[:])
			if got := k.Sum64IPv6(src, dst, sp, dp); got != want {
				t.Fatalf("Sum64IPv6 = %#x, general SipHash gives %#x", got, want)
			}
		}
	}
}

// TestSumAddrFamilies checks SumAddr's choice: an IPv4 flow has the cookie of
// Sum, an IPv6 flow that of SumIPv6, and the IPv4-mapped IPv6 form of an IPv4
// flow is another flow, with an unrelated cookie.
func TestSumAddrFamilies(t *testing.T) {
	k := NewKey(42)
	rng := rand.New(rand.NewPCG(5, 6))
	same := 0
	for range 2000 {
		s4, d4 := rng.Uint32(), rng.Uint32()
		sp, dp := uint16(rng.Uint32()), uint16(rng.Uint32())
		var sb, db [4]byte
		binary.BigEndian.PutUint32(sb[:], s4)
		binary.BigEndian.PutUint32(db[:], d4)
		src, dst := netip.AddrFrom4(sb), netip.AddrFrom4(db)
		if got, want := k.Sum64Addr(src, dst, sp, dp), k.Sum64(s4, d4, sp, dp); got != want {
			t.Fatalf("Sum64Addr(%v, %v) = %#x, Sum64 gives %#x", src, dst, got, want)
		}
		if got, want := k.SumAddr(src, dst, sp, dp), k.Sum(s4, d4, sp, dp); got != want {
			t.Fatalf("SumAddr(%v, %v) = %#x, Sum gives %#x", src, dst, got, want)
		}
		m6s, m6d := netip.AddrFrom16(src.As16()), netip.AddrFrom16(dst.As16())
		if got, want := k.Sum64Addr(m6s, m6d, sp, dp), k.Sum64IPv6(src.As16(), dst.As16(), sp, dp); got != want {
			t.Fatalf("Sum64Addr(%v, %v) = %#x, Sum64IPv6 gives %#x", m6s, m6d, got, want)
		}
		if k.Sum64Addr(m6s, m6d, sp, dp) == k.Sum64(s4, d4, sp, dp) {
			same++
		}
	}
	if same != 0 {
		t.Fatalf("%d IPv4 flows have the 64-bit cookie of their IPv4-mapped IPv6 form", same)
	}
}

// TestSumIPv6Sensitivity: changing any one input, any one bit of an
// address, or the key, changes the cookie.
func TestSumIPv6Sensitivity(t *testing.T) {
	k := NewKey(7)
	src := netip.MustParseAddr("2001:2::1").As16()
	dst := netip.MustParseAddr("2001:2:0:1::abcd").As16()
	const sport, dport = 40000, 443
	base := k.Sum64IPv6(src, dst, sport, dport)
	for i := range 128 {
		s, d := src, dst
		s[i/8] ^= 1 << (i % 8)
		d[i/8] ^= 1 << (i % 8)
		if k.Sum64IPv6(s, dst, sport, dport) == base || k.Sum64IPv6(src, d, sport, dport) == base {
			t.Fatalf("flipping address bit %d does not change the cookie", i)
		}
	}
	for name, c := range map[string]uint64{
		"srcPort": k.Sum64IPv6(src, dst, sport+1, dport),
		"dstPort": k.Sum64IPv6(src, dst, sport, dport^0x8000),
		"swapped": k.Sum64IPv6(dst, src, dport, sport),
		"key":     NewKey(8).Sum64IPv6(src, dst, sport, dport),
	} {
		if c == base {
			t.Errorf("changing %s does not change the cookie %#x", name, base)
		}
	}
}

// TestSumIPv6Distribution: each of the 32 bits of the cookies of consecutive
// IPv6 flows is set about half the time.
func TestSumIPv6Distribution(t *testing.T) {
	k := NewKey(99)
	const n = 1 << 16
	var ones [32]int
	src := netip.MustParseAddr("2001:2::1").As16()
	dst := netip.MustParseAddr("2001:2:1::").As16()
	for i := range uint32(n) {
		d := dst
		binary.BigEndian.PutUint16(d[14:], uint16(i>>8))
		c := k.SumIPv6(src, d, 40000, uint16(i&0xff)+1)
		for b := range 32 {
			ones[b] += int(c >> b & 1)
		}
	}
	for b, c := range ones {
		if c < n/2-768 || c > n/2+768 { // 6 sigma of Binomial(65536, 1/2)
			t.Errorf("bit %d set in %d of %d cookies", b, c, n)
		}
	}
}

func TestSumIPv6Allocs(t *testing.T) {
	k := NewKey(1)
	a, b := netip.MustParseAddr("2001:2::1"), netip.MustParseAddr("2001:2::2")
	var sink uint32
	if allocs := testing.AllocsPerRun(100, func() {
		sink += k.SumIPv6(a.As16(), b.As16(), uint16(sink), 4)
		sink += k.SumAddr(a, b, uint16(sink), 4)
	}); allocs != 0 {
		t.Fatalf("SumIPv6/SumAddr allocate %v times per call", allocs)
	}
}

package cookie

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// referenceVectors are the SipHash-2-4 outputs published with the reference
// implementation: key 00 01 .. 0f, message i bytes 00 01 .. (i-1), for i = 0
// to 63. Entry 15 is the worked example of the paper's appendix.
var referenceVectors = [64]uint64{
	0x726fdb47dd0e0e31, 0x74f839c593dc67fd, 0x0d6c8009d9a94f5a, 0x85676696d7fb7e2d,
	0xcf2794e0277187b7, 0x18765564cd99a68d, 0xcbc9466e58fee3ce, 0xab0200f58b01d137,
	0x93f5f5799a932462, 0x9e0082df0ba9e4b0, 0x7a5dbbc594ddb9f3, 0xf4b32f46226bada7,
	0x751e8fbc860ee5fb, 0x14ea5627c0843d90, 0xf723ca908e7af2ee, 0xa129ca6149be45e5,
	0x3f2acc7f57c29bdb, 0x699ae9f52cbe4794, 0x4bc1b3f0968dd39c, 0xbb6dc91da77961bd,
	0xbed65cf21aa2ee98, 0xd0f2cbb02e3b67c7, 0x93536795e3a33e88, 0xa80c038ccd5ccec8,
	0xb8ad50c6f649af94, 0xbce192de8a85b8ea, 0x17d835b85bbb15f3, 0x2f2e6163076bcfad,
	0xde4daaaca71dc9a5, 0xa6a2506687956571, 0xad87a3535c49ef28, 0x32d892fad841c342,
	0x7127512f72f27cce, 0xa7f32346f95978e3, 0x12e0b01abb051238, 0x15e034d40fa197ae,
	0x314dffbe0815a3b4, 0x027990f029623981, 0xcadcd4e59ef40c4d, 0x9abfd8766a33735c,
	0x0e3ea96b5304a7d0, 0xad0c42d6fc585992, 0x187306c89bc215a9, 0xd4a60abcf3792b95,
	0xf935451de4f21df2, 0xa9538f0419755787, 0xdb9acddff56ca510, 0xd06c98cd5c0975eb,
	0xe612a3cb9ecba951, 0xc766e62cfcadaf96, 0xee64435a9752fe72, 0xa192d576b245165a,
	0x0a8787bf8ecb74b2, 0x81b3e73d20b49b6f, 0x7fa8220ba3b2ecea, 0x245731c13ca42499,
	0xb78dbfaf3a8d83bd, 0xea1ad565322a1a0b, 0x60e61c23a3795013, 0x6606d7e446282b93,
	0x6ca4ecb15c5f91e1, 0x9f626da15c9625f3, 0xe51b38608ef25f57, 0x958a324ceb064572,
}

func referenceKey() Key {
	var b [16]byte
	for i := range b {
		b[i] = byte(i)
	}
	return KeyFromBytes(b)
}

func TestSipHashReferenceVectors(t *testing.T) {
	k := referenceKey()
	msg := make([]byte, 64)
	for i := range msg {
		msg[i] = byte(i)
	}
	for n, want := range referenceVectors {
		if got := k.sum64(msg[:n]); got != want {
			t.Errorf("SipHash-2-4 of %d bytes = %#016x, want %#016x", n, got, want)
		}
	}
}

// TestSumMatchesGeneral checks the fixed 12-byte path against the general
// function over the message laid out byte by byte in network order.
func TestSumMatchesGeneral(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	keys := []Key{referenceKey(), {}, NewKey(0), NewKey(rng.Uint64())}
	for range 1000 {
		keys = append(keys, Key{k0: rng.Uint64(), k1: rng.Uint64()})
	}
	var msg [12]byte
	for _, k := range keys {
		for range 20 {
			srcIP, dstIP := rng.Uint32(), rng.Uint32()
			srcPort, dstPort := uint16(rng.Uint32()), uint16(rng.Uint32())
			binary.BigEndian.PutUint32(msg[0:4], srcIP)
			binary.BigEndian.PutUint32(msg[4:8], dstIP)
			binary.BigEndian.PutUint16(msg[8:10], srcPort)
			binary.BigEndian.PutUint16(msg[10:12], dstPort)
			want := uint32(k.sum64(msg[:]))
			if got := k.Sum(srcIP, dstIP, srcPort, dstPort); got != want {
				t.Fatalf("key %x: Sum(%#x, %#x, %d, %d) = %#x, general SipHash gives %#x",
					k, srcIP, dstIP, srcPort, dstPort, got, want)
			}
		}
	}
}

// TestSumByteOrder pins the message layout to a concrete input: the
// reference key over bytes 00 01 .. 0b is vector 12 of the reference set.
func TestSumByteOrder(t *testing.T) {
	got := referenceKey().Sum(0x00010203, 0x04050607, 0x0809, 0x0a0b)
	if want := uint32(referenceVectors[12]); got != want {
		t.Fatalf("Sum = %#x, want %#x (low half of reference vector 12)", got, want)
	}
}

func TestNewKey(t *testing.T) {
	if NewKey(1) != NewKey(1) {
		t.Fatal("NewKey is not deterministic")
	}
	seen := map[Key]uint64{}
	for seed := range uint64(1000) {
		k := NewKey(seed)
		if k.k0 == k.k1 {
			t.Errorf("seed %d: both key halves equal", seed)
		}
		if prev, dup := seen[k]; dup {
			t.Fatalf("seeds %d and %d give the same key", prev, seed)
		}
		seen[k] = seed
	}
}

// TestSumSensitivity checks that changing any one input, or the key, changes
// the cookie (barring a 2^-32 coincidence, which these fixed inputs avoid).
func TestSumSensitivity(t *testing.T) {
	k := NewKey(7)
	const src, dst, sport, dport = 0xC6130001, 0xC6130102, 40000, 443
	base := k.Sum(src, dst, sport, dport)
	variants := map[string]uint32{
		"srcIP":   k.Sum(src^1, dst, sport, dport),
		"dstIP":   k.Sum(src, dst^0x80000000, sport, dport),
		"srcPort": k.Sum(src, dst, sport+1, dport),
		"dstPort": k.Sum(src, dst, sport, dport^0x8000),
		"swapped": k.Sum(dst, src, dport, sport),
		"key":     NewKey(8).Sum(src, dst, sport, dport),
	}
	for name, c := range variants {
		if c == base {
			t.Errorf("changing %s does not change the cookie %#x", name, base)
		}
	}
}

// TestSumDistribution checks that cookies of consecutive flows look uniform:
// each of the 32 bits is set for about half of them.
func TestSumDistribution(t *testing.T) {
	k := NewKey(99)
	const n = 1 << 16
	var ones [32]int
	for i := range uint32(n) {
		c := k.Sum(0x0A000001, 0x0A010000+i>>8, 40000, uint16(i&0xff)+1)
		for b := range 32 {
			ones[b] += int(c >> b & 1)
		}
	}
	for b, c := range ones {
		// Binomial(65536, 1/2) has sigma 128; allow 6 sigma.
		if c < n/2-768 || c > n/2+768 {
			t.Errorf("bit %d set in %d of %d cookies", b, c, n)
		}
	}
}

func TestSumAllocs(t *testing.T) {
	k := NewKey(1)
	var sink uint32
	if allocs := testing.AllocsPerRun(100, func() { sink += k.Sum(sink, 2, 3, 4) }); allocs != 0 {
		t.Fatalf("Sum allocates %v times per call", allocs)
	}
}

// TestSum64MatchesGeneral checks the 64-bit fast path against the general SipHash
// of the same 12 bytes, and Sum against its low half.
func TestSum64MatchesGeneral(t *testing.T) {
	k := NewKey(5)
	for i := uint32(0); i < 1000; i++ {
		src, dst, sp, dp := i*2654435761, ^i*40503, uint16(i*7), uint16(i*13)
		var msg [12]byte
		binary.BigEndian.PutUint32(msg[0:], src)
		binary.BigEndian.PutUint32(msg[4:], dst)
		binary.BigEndian.PutUint16(msg[8:], sp)
		binary.BigEndian.PutUint16(msg[10:], dp)
		want := k.sum64(msg[:])
		if got := k.Sum64(src, dst, sp, dp); got != want {
			t.Fatalf("Sum64 = %#x, general %#x", got, want)
		}
		if got := k.Sum(src, dst, sp, dp); got != uint32(want) {
			t.Fatalf("Sum = %#x, want %#x", got, uint32(want))
		}
	}
}

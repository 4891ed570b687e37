package permute

import (
	"testing"
)

// checkBijection verifies exhaustively that p maps [0, n) onto itself one to
// one and that Inverse undoes At.
func checkBijection(t *testing.T, p *Permutation, n uint64) {
	t.Helper()
	seen := make([]uint64, (n+63)/64)
	for i := range n {
		j := p.At(i)
		if j >= n {
			t.Fatalf("n=%d: At(%d) = %d, out of range", n, i, j)
		}
		if seen[j/64]&(1<<(j%64)) != 0 {
			t.Fatalf("n=%d: At(%d) = %d, already produced", n, i, j)
		}
		seen[j/64] |= 1 << (j % 64)
		if back := p.Inverse(j); back != i {
			t.Fatalf("n=%d: Inverse(At(%d)) = %d", n, i, back)
		}
	}
}

func TestBijectionSmall(t *testing.T) {
	for n := uint64(1); n <= 1000; n++ {
		p := New(n, n*0x1234567)
		checkBijection(t, &p, n)
	}
}

func TestBijectionLarge(t *testing.T) {
	sizes := []uint64{4095, 4096, 4097, 65535, 65536, 65537, 1<<20 + 7}
	if testing.Short() {
		sizes = sizes[:len(sizes)-1]
	}
	for _, n := range sizes {
		p := New(n, 42)
		checkBijection(t, &p, n)
	}
}

// TestHugeDomain samples a domain of 2^40 and one of nearly 2^64: images in
// range, Inverse undoes At.
func TestHugeDomain(t *testing.T) {
	for _, n := range []uint64{1 << 40, 1<<40 - 3, 1<<38 + 1, ^uint64(0)} {
		p := New(n, 7)
		for k := range uint64(2000) {
			i := k * (n / 2000)
			j := p.At(i)
			if j >= n {
				t.Fatalf("n=%d: At(%d) = %d, out of range", n, i, j)
			}
			if back := p.Inverse(j); back != i {
				t.Fatalf("n=%d: Inverse(At(%d)) = %d", n, i, back)
			}
		}
	}
}

func TestDeterministic(t *testing.T) {
	a, b := New(100000, 99), New(100000, 99)
	for i := range uint64(100000) {
		if a.At(i) != b.At(i) {
			t.Fatalf("same seed, At(%d) differs: %d vs %d", i, a.At(i), b.At(i))
		}
	}
}

func TestSeedsDiffer(t *testing.T) {
	const n = 100000
	for seed := uint64(0); seed < 20; seed++ {
		a, b := New(n, seed), New(n, seed+1)
		same := 0
		for i := range uint64(n) {
			if a.At(i) == b.At(i) {
				same++
			}
		}
		// Two unrelated permutations agree at about one point on average.
		if same > 20 {
			t.Errorf("seeds %d and %d agree at %d of %d points", seed, seed+1, same, n)
		}
	}
}

func TestNotIdentity(t *testing.T) {
	for _, n := range []uint64{10, 1000, 1 << 16, 1<<20 + 7} {
		p := New(n, 1)
		fixed := 0
		for i := range min(n, 1<<16) {
			if p.At(i) == i {
				fixed++
			}
		}
		// A random permutation has about one fixed point.
		if fixed > 10 {
			t.Errorf("n=%d: %d fixed points", n, fixed)
		}
	}
}

// TestSpread checks that consecutive inputs land far apart: for a random
// permutation of a large domain the distance between the images of i and
// i+1 is rarely small, and the images of a short run of inputs cover the
// domain evenly.
func TestSpread(t *testing.T) {
	const n = 1 << 20
	p := New(n, 3)
	near := 0
	for i := range uint64(n - 1) {
		a, b := p.At(i), p.At(i+1)
		if d := max(a, b) - min(a, b); d <= 16 {
			near++
		}
	}
	// P(|a-b| <= 16) is about 32/n per pair; expect ~32 over n pairs.
	if near > 100 {
		t.Errorf("%d of %d consecutive pairs map within 16 of each other", near, n-1)
	}
	// The first 4096 images, bucketed into 16 equal slices of the domain,
	// should put about 256 in each.
	var buckets [16]int
	for i := range uint64(4096) {
		buckets[p.At(i)*16/n]++
	}
	for k, c := range buckets {
		if c < 160 || c > 360 {
			t.Errorf("bucket %d holds %d of the first 4096 images, want about 256", k, c)
		}
	}
}

// TestBitBalance checks that every output bit is set for about half the
// inputs, over a domain that is an exact power of two (no cycle walking).
func TestBitBalance(t *testing.T) {
	const width = 18
	const n = 1 << width
	p := New(n, 11)
	var ones [width]int
	for i := range uint64(n) {
		j := p.At(i)
		for b := range width {
			ones[b] += int(j >> b & 1)
		}
	}
	for b, c := range ones {
		// A bijection on [0, 2^w) sets each bit exactly n/2 times.
		if c != n/2 {
			t.Errorf("bit %d set %d times, want %d", b, c, n/2)
		}
	}
	// Output bit 0 should not simply follow input bit 0.
	agree := 0
	for i := range uint64(n) {
		if p.At(i)&1 == i&1 {
			agree++
		}
	}
	if agree < n/2-2000 || agree > n/2+2000 {
		t.Errorf("output bit 0 equals input bit 0 for %d of %d inputs", agree, n)
	}
}

func TestEmpty(t *testing.T) {
	p := New(0, 1)
	if p.Len() != 0 {
		t.Fatalf("Len() = %d", p.Len())
	}
	defer func() {
		if recover() == nil {
			t.Fatal("At on an empty permutation did not panic")
		}
	}()
	p.At(0)
}

func TestAtPanicsOutOfRange(t *testing.T) {
	p := New(10, 1)
	defer func() {
		if recover() == nil {
			t.Fatal("At(n) did not panic")
		}
	}()
	p.At(10)
}

func TestAtAllocs(t *testing.T) {
	p := New(1<<30+5, 9)
	var sink uint64
	if allocs := testing.AllocsPerRun(100, func() { sink += p.At(sink % p.Len()) }); allocs != 0 {
		t.Fatalf("At allocates %v times per call", allocs)
	}
}

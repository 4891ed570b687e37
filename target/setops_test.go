package target

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
)

// model is a brute-force set of addresses within a small window of the address
// space: in[i] says whether base+i is in the set.
type model struct {
	base uint32
	in   []bool
}

// modelBases are windows of the address space the property tests draw from: the
// bottom, an ordinary stretch, and the top, where an off-by-one would wrap.
var modelBases = []uint32{0, 0x0A0000F0, 0xFFFFFF00}

const modelSize = 256

// randomSpans returns up to n random spans inside the window at base; some
// overlap, touch, or cover the whole window.
func randomSpans(rng *rand.Rand, base uint32, n int) []span {
	var spans []span
	for range rng.IntN(n + 1) {
		a, b := uint32(rng.IntN(modelSize)), uint32(rng.IntN(modelSize))
		if rng.IntN(8) == 0 {
			b = a // one address
		}
		if a > b {
			a, b = b, a
		}
		if rng.IntN(20) == 0 {
			a, b = 0, modelSize-1
		}
		spans = append(spans, span{base + a, base + b})
	}
	return spans
}

func modelOf(base uint32, spans []span) model {
	m := model{base: base, in: make([]bool, modelSize)}
	for _, r := range spans {
		for ip := uint64(r.first); ip <= uint64(r.last); ip++ {
			m.in[ip-uint64(base)] = true
		}
	}
	return m
}

// checkAgainstModel checks every invariant of s and that it holds exactly the
// addresses of m: Len, Ranges (sorted, merged, non-adjacent), At and Index over
// every address of the window and just outside it, and Prefixes.
func checkAgainstModel(t *testing.T, what string, s *Set, m model) {
	t.Helper()
	var want []netip.Addr
	for i, in := range m.in {
		if in {
			want = append(want, uint32ToAddr(m.base+uint32(i)))
		}
	}
	if s.Len() != uint64(len(want)) {
		t.Fatalf("%s: Len() = %d, model has %d", what, s.Len(), len(want))
	}
	ranges := s.Ranges()
	var total uint64
	for k, r := range ranges {
		if r.Last.Less(r.First) {
			t.Fatalf("%s: range %d inverted: %v", what, k, r)
		}
		if k > 0 && uint64(addrToUint32(ranges[k-1].Last))+1 >= uint64(addrToUint32(r.First)) {
			t.Fatalf("%s: ranges %v and %v overlap, touch or are unsorted", what, ranges[k-1], r)
		}
		total += r.Len()
	}
	if total != s.Len() {
		t.Fatalf("%s: ranges hold %d, Len() = %d", what, total, s.Len())
	}
	for i, a := range want {
		if got := s.At(uint64(i)); got != a {
			t.Fatalf("%s: At(%d) = %v, want %v", what, i, got, a)
		}
	}
	for i := -1; i <= modelSize; i++ {
		v := int64(m.base) + int64(i)
		if v < 0 || v > 0xFFFFFFFF {
			continue
		}
		a := uint32ToAddr(uint32(v))
		idx, ok := s.Index(a)
		wantIdx, wantOK := slices.BinarySearchFunc(want, a, netip.Addr.Compare)
		if ok != wantOK || ok && idx != uint64(wantIdx) {
			t.Fatalf("%s: Index(%v) = %d, %v; want %d, %v", what, a, idx, ok, wantIdx, wantOK)
		}
	}
	var fromPrefixes []netip.Addr
	var prev netip.Prefix
	for p := range s.Prefixes() {
		if prev.IsValid() && !prev.Addr().Less(p.Addr()) {
			t.Fatalf("%s: prefixes out of order: %v then %v", what, prev, p)
		}
		prev = p
		if p != p.Masked() {
			t.Fatalf("%s: prefix %v has host bits", what, p)
		}
		for a := p.Addr(); a.IsValid() && p.Contains(a); a = a.Next() {
			fromPrefixes = append(fromPrefixes, a)
		}
	}
	if !slices.Equal(fromPrefixes, want) {
		t.Fatalf("%s: prefixes cover %d addresses, want %d", what, len(fromPrefixes), len(want))
	}
}

// TestSetOpsAgainstModel checks Subtract, Intersect and Union of random sets
// against a brute-force model of each.
func TestSetOpsAgainstModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := range 3000 {
		base := modelBases[iter%len(modelBases)]
		as, bs := randomSpans(rng, base, 6), randomSpans(rng, base, 6)
		ma, mb := modelOf(base, as), modelOf(base, bs)
		a, b := newSet(slices.Clone(as)), newSet(slices.Clone(bs))
		checkAgainstModel(t, "a", &a, ma)

		sub, inter, union := model{base, make([]bool, modelSize)}, model{base, make([]bool, modelSize)}, model{base, make([]bool, modelSize)}
		for i := range modelSize {
			sub.in[i] = ma.in[i] && !mb.in[i]
			inter.in[i] = ma.in[i] && mb.in[i]
			union.in[i] = ma.in[i] || mb.in[i]
		}
		got := a.Subtract(b)
		checkAgainstModel(t, "a-b", &got, sub)
		got = a.Intersect(b)
		checkAgainstModel(t, "a&b", &got, inter)
		got = a.Union(b)
		checkAgainstModel(t, "a|b", &got, union)
		// The operands are unchanged.
		checkAgainstModel(t, "a after", &a, ma)
		checkAgainstModel(t, "b after", &b, mb)
	}
}

// TestSubtractManyRanges checks Subtract on sets with many ranges (so the hint
// tables have many buckets) against Contains of the operands.
func TestSubtractManyRanges(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var as, bs []span
	for range 5000 {
		a := rng.Uint32() >> 1
		as = append(as, span{a, a + uint32(rng.IntN(5000))})
		b := rng.Uint32() >> 1
		bs = append(bs, span{b, b + uint32(rng.IntN(50000))})
	}
	a, b := newSet(as), newSet(bs)
	d := a.Subtract(b)
	checkSet(t, &d)
	for range 200000 {
		var ip netip.Addr
		if rng.IntN(2) == 0 {
			ip = a.At(rng.Uint64N(a.Len()))
		} else {
			ip = uint32ToAddr(rng.Uint32() >> 1)
		}
		if want := a.Contains(ip) && !b.Contains(ip); d.Contains(ip) != want {
			t.Fatalf("%v: in difference %v, want %v", ip, d.Contains(ip), want)
		}
	}
	if in := a.Intersect(b); a.Len() != d.Len()+in.Len() {
		t.Fatalf("|a| = %d, |a-b| + |a&b| = %d + %d", a.Len(), d.Len(), in.Len())
	}
}

func TestSubtractEdges(t *testing.T) {
	all := NewSet([]Range{{num(0), num(0xFFFFFFFF)}})
	var empty Set
	if d := all.Subtract(all); d.Len() != 0 || len(d.Ranges()) != 0 {
		t.Fatalf("all - all = %v", d.Ranges())
	}
	if d := all.Subtract(empty); d.Len() != 1<<32 {
		t.Fatalf("all - empty has %d", d.Len())
	}
	if d := empty.Subtract(all); d.Len() != 0 {
		t.Fatalf("empty - all has %d", d.Len())
	}
	top := NewSet([]Range{{num(0xFFFFFFFF), num(0xFFFFFFFF)}})
	bottom := NewSet([]Range{{num(0), num(0)}})
	d := all.Subtract(top).Subtract(bottom)
	if got := d.Ranges(); !slices.Equal(got, []Range{{num(1), num(0xFFFFFFFE)}}) {
		t.Fatalf("all minus both ends = %v", got)
	}
	if a := d.At(0); a != num(1) {
		t.Fatalf("At(0) = %v", a)
	}
	if i, ok := d.Index(num(0xFFFFFFFE)); !ok || i != 0xFFFFFFFD {
		t.Fatalf("Index(top-1) = %d, %v", i, ok)
	}
	// The empty result of a subtraction is a usable Set.
	e := top.Subtract(all)
	if e.Contains(num(0xFFFFFFFF)) || e.Len() != 0 {
		t.Fatal("empty difference contains an address")
	}
	var n int
	for range e.Prefixes() {
		n++
	}
	if n != 0 {
		t.Fatalf("empty set has %d prefixes", n)
	}
}

func TestPrefixes(t *testing.T) {
	tests := []struct {
		r    Range
		want []string
	}{
		{Range{ip(10, 0, 0, 1), ip(10, 0, 0, 6)}, []string{"10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32"}},
		{Range{ip(10, 0, 0, 0), ip(10, 0, 0, 255)}, []string{"10.0.0.0/24"}},
		{Range{num(0), num(0xFFFFFFFF)}, []string{"0.0.0.0/0"}},
		{Range{num(0xFFFFFFFF), num(0xFFFFFFFF)}, []string{"255.255.255.255/32"}},
		{Range{num(1), num(0xFFFFFFFF)}, []string{"0.0.0.1/32", "0.0.0.2/31", "0.0.0.4/30"}}, // first three of 32
		{Range{ip(198, 19, 0, 0), ip(198, 19, 9, 6)}, []string{"198.19.0.0/21", "198.19.8.0/24", "198.19.9.0/30", "198.19.9.4/31", "198.19.9.6/32"}},
		{Range{ip(10, 0, 0, 2), ip(10, 0, 0, 1)}, nil},
	}
	for _, tt := range tests {
		var got []string
		n := 0
		for p := range tt.r.Prefixes() {
			n++
			if len(got) < len(tt.want) || tt.want == nil {
				got = append(got, p.String())
			}
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%v: prefixes %v, want %v", tt.r, got, tt.want)
		}
		if tt.r.First == num(1) && n != 32 {
			t.Errorf("%v: %d prefixes, want 32", tt.r, n)
		}
	}
	// Stopping early stops.
	s := NewSet([]Range{{ip(10, 0, 0, 1), ip(10, 0, 0, 6)}, {ip(11, 0, 0, 1), ip(11, 0, 0, 6)}})
	n := 0
	for range s.Prefixes() {
		n++
		if n == 5 {
			break
		}
	}
}

// FuzzSubtract checks Subtract, Intersect and Union of two sets made from fuzzed
// bytes (each 8 bytes a range, in a window of the address space the first byte
// picks) against the brute-force model.
func FuzzSubtract(f *testing.F) {
	f.Add([]byte{0, 1, 0, 0, 0, 9, 0, 0, 0}, []byte{4, 0, 0, 0, 5, 0, 0, 0})
	f.Add([]byte{2, 0, 0, 0, 0, 255, 0, 0, 0}, []byte{255, 0, 0, 0, 255, 0, 0, 0})
	f.Add([]byte{1}, []byte{})
	f.Fuzz(func(t *testing.T, a, b []byte) {
		if len(a) == 0 {
			return
		}
		base := modelBases[int(a[0])%len(modelBases)]
		spans := func(data []byte) []span {
			var out []span
			for ; len(data) >= 2 && len(out) < 64; data = data[2:] {
				x, y := uint32(data[0]), uint32(data[1])
				if x > y {
					x, y = y, x
				}
				out = append(out, span{base + x, base + y})
			}
			return out
		}
		as, bs := spans(a[1:]), spans(b)
		ma, mb := modelOf(base, as), modelOf(base, bs)
		sa, sb := newSet(as), newSet(bs)
		sub, inter, union := model{base, make([]bool, modelSize)}, model{base, make([]bool, modelSize)}, model{base, make([]bool, modelSize)}
		for i := range modelSize {
			sub.in[i] = ma.in[i] && !mb.in[i]
			inter.in[i] = ma.in[i] && mb.in[i]
			union.in[i] = ma.in[i] || mb.in[i]
		}
		// The full check for the difference; membership and size for the others
		// (TestSetOpsAgainstModel checks them fully), to keep executions fast.
		got := sa.Subtract(sb)
		checkAgainstModel(t, "a-b", &got, sub)
		in, un := sa.Intersect(sb), sa.Union(sb)
		var nin, nun uint64
		for i := range modelSize {
			a := uint32ToAddr(base + uint32(i))
			if in.Contains(a) != inter.in[i] || un.Contains(a) != union.in[i] {
				t.Fatalf("%v: in a&b %v (want %v), in a|b %v (want %v)", a, in.Contains(a), inter.in[i], un.Contains(a), union.in[i])
			}
			if inter.in[i] {
				nin++
			}
			if union.in[i] {
				nun++
			}
		}
		if in.Len() != nin || un.Len() != nun {
			t.Fatalf("|a&b| = %d (want %d), |a|b| = %d (want %d)", in.Len(), nin, un.Len(), nun)
		}
	})
}

func BenchmarkSubtractReserved(b *testing.B) {
	all := NewSet([]Range{{num(0), num(0xFFFFFFFF)}})
	reserved := newSet(reservedSpans(ReservedBlocks()).v4)
	for b.Loop() {
		all.Subtract(reserved)
	}
}

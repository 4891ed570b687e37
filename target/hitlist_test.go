package target

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// A hitlist of a million addresses, IPv6 and IPv4 mixed and unsorted, as an
// -iL file gives it: every address is in the set once, indices map back, and
// parsing takes seconds, not minutes.
func TestHitlistMillion(t *testing.T) {
	if testing.Short() {
		t.Skip("a million-address hitlist: not with -short")
	}
	const n = 1_000_000
	var b strings.Builder
	for i := range n {
		if i%10 == 0 {
			fmt.Fprintf(&b, "198.%d.%d.%d\n", 18+(i>>16)&1, (i>>8)&0xff, i&0xff)
			continue
		}
		// Spread over 2001:2::/48, in scrambled order.
		v := uint64(i) * 0x9E3779B97F4A7C15
		fmt.Fprintf(&b, "2001:2:0:%x:%x:%x:%x:%x\n", v>>48&0xffff, v>>32&0xffff, v>>16&0xffff, v&0xffff, i&0xffff)
	}
	specs, err := ReadTargetFile(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	s, err := ParseTargets(specs, nil)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if s.Len4() == 0 || s.Len()-s.Len4() != n-n/10 || s.Len4() > n/10 {
		t.Fatalf("Len %d, Len4 %d", s.Len(), s.Len4())
	}
	for _, i := range []uint64{0, s.Len4() - 1, s.Len4(), s.Len() / 2, s.Len() - 1} {
		a := s.At(i)
		if j, ok := s.Index(a); !ok || j != i || a.Is4() != (i < s.Len4()) {
			t.Errorf("Index(At(%d) = %v) = %d, %v", i, a, j, ok)
		}
	}
	if !s.Contains(netip.MustParseAddr("198.18.0.0")) {
		t.Error("the hitlist's first IPv4 address is missing")
	}
	if took > 30*time.Second {
		t.Errorf("parsing %d addresses took %v", n, took)
	}
	t.Logf("%d addresses (%d IPv4) parsed in %v", s.Len(), s.Len4(), took)
}

package engine

import (
	"sync/atomic"
	"testing"
)

func TestSplitByPrefixes(t *testing.T) {
	r := span{First: 0xC6120000, Last: 0xC613FFFF}            // 198.18.0.0-198.19.255.255
	prefixes := []span{{First: 0xC6120100, Last: 0xC61201FF}} // 198.18.1.0/24
	in, out := splitByPrefixes(r, prefixes)
	if len(in) != 1 || in[0] != prefixes[0] {
		t.Fatalf("in = %v, want the /24", in)
	}
	if len(out) != 2 || out[0] != (span{First: 0xC6120000, Last: 0xC61200FF}) || out[1] != (span{First: 0xC6120200, Last: 0xC613FFFF}) {
		t.Fatalf("out = %v", out)
	}
	var total uint64
	for _, x := range append(in, out...) {
		total += x.Len()
	}
	if total != r.Len() {
		t.Fatalf("split covers %d addresses, want %d", total, r.Len())
	}
}

func TestNextHop(t *testing.T) {
	macA := [6]byte{2, 0, 0, 0, 0, 0xa}
	p := &plan{srcIP: 0xC6120101, onFirst: 0xC6120100, onLast: 0xC61201FF, hopID: make([]atomic.Uint32, 256), hops: newHopTable(256)}
	p.setHop(0xC612010a, macA, false, nil)
	if mac, up := p.nextHop(0xC612010a); !up || *mac != macA {
		t.Fatalf("on-link host with ARP answer: %v %v", mac, up)
	}
	if _, up := p.nextHop(0xC612010b); up {
		t.Fatal("on-link host without ARP answer is up")
	}
	if mac, up := p.nextHop(0xC6130001); !up || mac != nil {
		t.Fatalf("off-link host: %v %v, want the router (nil) and up", mac, up)
	}
	// A host whose MAC comes later (ARP beside the sender) is up from then on,
	// with a hop that never moves while more are added.
	first := p.hop(0xC612010a)
	for i := uint32(0x20); i < 0xff; i++ {
		p.setHop(0xC6120100+i, [6]byte{2, 0, 0, 0, 1, byte(i)}, true, nil)
	}
	if mac, up := p.nextHop(0xC61201fe); !up || *mac != [6]byte{2, 0, 0, 0, 1, 0xfe} || p.hop(0xC612010a) != first || !p.hop(0xC61201fe).late {
		t.Fatalf("late host: %v %v", mac, up)
	}
}

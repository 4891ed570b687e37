package route

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
)

func TestAttrRoundTrip(t *testing.T) {
	var b []byte
	b = appendAttr(b, 1, []byte{198, 18, 0, 1})
	b = appendAttr(b, 2, []byte{7})                          // padded to 8 bytes
	b = appendAttr(b, 3|0x8000, []byte{1, 2, 3, 4, 5, 6, 7}) // NLA_F_NESTED set
	if len(b)%4 != 0 || len(b) != 8+8+12 {
		t.Fatalf("encoded %d bytes, want 28: % x", len(b), b)
	}
	type attr struct {
		typ uint16
		val []byte
	}
	var got []attr
	eachAttr(append(b, 0xff, 0xff), func(typ uint16, val []byte) { // trailing garbage ignored
		got = append(got, attr{typ, append([]byte(nil), val...)})
	})
	want := []attr{{1, []byte{198, 18, 0, 1}}, {2, []byte{7}}, {3, []byte{1, 2, 3, 4, 5, 6, 7}}}
	if len(got) != len(want) {
		t.Fatalf("decoded %d attributes, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].typ != want[i].typ || !bytes.Equal(got[i].val, want[i].val) {
			t.Errorf("attribute %d = %d % x, want %d % x", i, got[i].typ, got[i].val, want[i].typ, want[i].val)
		}
	}
	if ip, ok := ipv4(want[0].val); !ok || ip != 0xC6120001 {
		t.Errorf("ipv4 = %#x, %v", ip, ok)
	}
	if _, ok := ipv4([]byte{1, 2, 3}); ok {
		t.Error("ipv4 accepted 3 bytes")
	}
}

// Asking the kernel about a loopback address sends nothing and needs no
// privileges, so it runs in the test's own namespace.
func TestLookupLoopbackHere(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	r, err := Lookup(lo, "")
	if err != nil {
		t.Fatalf("Lookup(127.0.0.1): %v", err)
	}
	if !r.Loopback() || !r.OnLink() || r.SrcIP != lo {
		t.Errorf("Lookup(127.0.0.1) = %+v, want loopback, on-link, source 127.0.0.1", r)
	}
}

// Addresses of neither family (the zero Addr, IPv4-mapped IPv6) are refused
// with a clear error before anything is asked of the kernel.
func TestNonAddressesRefused(t *testing.T) {
	for _, a := range []netip.Addr{{}, netip.MustParseAddr("::ffff:198.18.0.1")} {
		if _, err := Lookup(a, ""); err == nil || !strings.Contains(err.Error(), "not an IPv4 or IPv6") {
			t.Errorf("Lookup(%v) error = %v, want one saying it is not an address", a, err)
		}
		if _, _, err := NeighborMAC("lo", a); err == nil || !strings.Contains(err.Error(), "not an IPv4 or IPv6") {
			t.Errorf("NeighborMAC(%v) error = %v, want one saying it is not an address", a, err)
		}
	}
	if a, ok := attrAddr(bytes.Repeat([]byte{0x20}, 16)); !ok || a != netip.MustParseAddr("2020:2020:2020:2020:2020:2020:2020:2020") {
		t.Errorf("attrAddr(16 bytes) = %v, %v", a, ok)
	}
	if _, ok := attrAddr([]byte{1, 2, 3, 4, 5}); ok {
		t.Error("attrAddr accepted 5 bytes")
	}
}

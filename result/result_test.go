package result

import (
	"net/netip"
	"testing"
)

func TestICMPUnreachableReason(t *testing.T) {
	filtering := map[uint8]string{1: "host-unreach", 2: "proto-unreach", 3: "port-unreach", 9: "net-prohibited", 10: "host-prohibited", 13: "admin-prohibited"}
	for code := 0; code < 256; code++ {
		r, ok := ICMPUnreachableReason(uint8(code))
		want, filtered := filtering[uint8(code)]
		if ok != filtered {
			t.Errorf("code %d: ok = %v, want %v", code, ok, filtered)
			continue
		}
		if ok && r.String() != want {
			t.Errorf("code %d: reason %q, want %q", code, r, want)
		}
	}
}

// The ICMPv6 codes of RFC 4443 section 3.1, as nmap names them.
func TestICMPv6UnreachableReason(t *testing.T) {
	filtering := map[uint8]string{0: "no-route", 1: "admin-prohibited", 2: "beyond-scope", 3: "host-unreach", 4: "port-unreach", 5: "admin-prohibited", 6: "reject-route"}
	for code := 0; code < 256; code++ {
		r, ok := ICMPv6UnreachableReason(uint8(code))
		want, filtered := filtering[uint8(code)]
		if ok != filtered || ok && r.String() != want {
			t.Errorf("code %d: %q, %v; want %q, %v", code, r, ok, want, filtered)
		}
	}
}

func TestStateSet(t *testing.T) {
	var s StateSet
	if s.Has(Open) || s.Has(Closed) || s.Has(Filtered) {
		t.Fatal("empty set has members")
	}
	s = s.With(Open).With(Filtered)
	if !s.Has(Open) || s.Has(Closed) || !s.Has(Filtered) {
		t.Fatalf("set %b: want open and filtered only", s)
	}
}

func TestAddr(t *testing.T) {
	r := Result{IP: netip.MustParseAddr("198.19.0.1")}
	if got, want := r.Addr(), netip.MustParseAddr("198.19.0.1"); got != want {
		t.Fatalf("Addr() = %v, want %v", got, want)
	}
}

func TestNames(t *testing.T) {
	if TCP.String() != "tcp" || UDP.String() != "udp" {
		t.Fatal("protocol names")
	}
	if Open.String() != "open" || Closed.String() != "closed" || Filtered.String() != "filtered" {
		t.Fatal("state names")
	}
	if ReasonSYNACK.String() != "syn-ack" || ReasonReset.String() != "reset" || ReasonNoResponse.String() != "no-response" {
		t.Fatal("reason names")
	}
}

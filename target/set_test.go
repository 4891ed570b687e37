package target

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// ip builds an address from its four octets.
func ip(a, b, c, d byte) netip.Addr { return netip.AddrFrom4([4]byte{a, b, c, d}) }

// a6 parses an IPv6 address.
func a6(s string) netip.Addr { return netip.MustParseAddr(s) }

// num builds an address from its numeric value.
func num(v uint32) netip.Addr { return uint32ToAddr(v) }

// fakeLookup resolves a fixed table of names.
func fakeLookup(host string) ([]netip.Addr, error) {
	switch host {
	case "one.test":
		return []netip.Addr{netip.MustParseAddr("192.0.2.7")}, nil
	case "multi.test":
		return []netip.Addr{
			netip.MustParseAddr("2001:db8::1"),
			netip.MustParseAddr("198.51.100.20"),
			netip.MustParseAddr("::ffff:198.51.100.9"), // IPv4-mapped: still IPv4
		}, nil
	case "v6only.test":
		return []netip.Addr{netip.MustParseAddr("2001:db8::2")}, nil
	case "my-host.test":
		return []netip.Addr{netip.MustParseAddr("203.0.113.1")}, nil
	}
	return nil, errNoSuchHost
}

var errNoSuchHost = errors.New("no such host")

func TestParseTargets(t *testing.T) {
	tests := []struct {
		name  string
		specs []string
		want  []Range
	}{
		{"single", []string{"10.0.0.1"}, []Range{{ip(10, 0, 0, 1), ip(10, 0, 0, 1)}}},
		{"cidr24", []string{"10.0.0.0/24"}, []Range{{ip(10, 0, 0, 0), ip(10, 0, 0, 255)}}},
		{"cidr host bits set", []string{"10.0.0.5/24"}, []Range{{ip(10, 0, 0, 0), ip(10, 0, 0, 255)}}},
		{"cidr32", []string{"10.1.2.3/32"}, []Range{{ip(10, 1, 2, 3), ip(10, 1, 2, 3)}}},
		{"cidr31", []string{"10.1.2.3/31"}, []Range{{ip(10, 1, 2, 2), ip(10, 1, 2, 3)}}},
		{"cidr0", []string{"1.2.3.4/0"}, []Range{{num(0), num(0xFFFFFFFF)}}},
		{"cidr12", []string{"172.20.1.1/12"}, []Range{{ip(172, 16, 0, 0), ip(172, 31, 255, 255)}}},
		{"range", []string{"10.0.0.1-10.0.0.50"}, []Range{{ip(10, 0, 0, 1), ip(10, 0, 0, 50)}}},
		{"range across octets", []string{"10.0.0.250-10.0.1.3"}, []Range{{ip(10, 0, 0, 250), ip(10, 0, 1, 3)}}},
		{"short range", []string{"10.0.0.1-50"}, []Range{{ip(10, 0, 0, 1), ip(10, 0, 0, 50)}}},
		{"one-address range", []string{"10.0.0.9-9"}, []Range{{ip(10, 0, 0, 9), ip(10, 0, 0, 9)}}},
		{"comma list", []string{"10.0.0.1,10.0.0.5-9"}, []Range{{ip(10, 0, 0, 1), ip(10, 0, 0, 1)}, {ip(10, 0, 0, 5), ip(10, 0, 0, 9)}}},
		{"spaces around tokens", []string{" 10.0.0.1 , 10.0.0.3 "}, []Range{{ip(10, 0, 0, 1), ip(10, 0, 0, 1)}, {ip(10, 0, 0, 3), ip(10, 0, 0, 3)}}},
		{"sorted", []string{"10.0.0.9", "10.0.0.1"}, []Range{{ip(10, 0, 0, 1), ip(10, 0, 0, 1)}, {ip(10, 0, 0, 9), ip(10, 0, 0, 9)}}},
		{"duplicate", []string{"10.0.0.1", "10.0.0.1"}, []Range{{ip(10, 0, 0, 1), ip(10, 0, 0, 1)}}},
		{"overlap", []string{"10.0.0.0/24", "10.0.0.200-10.0.1.10"}, []Range{{ip(10, 0, 0, 0), ip(10, 0, 1, 10)}}},
		{"contained", []string{"10.0.0.0/16", "10.0.5.0/24", "10.0.9.9"}, []Range{{ip(10, 0, 0, 0), ip(10, 0, 255, 255)}}},
		{"adjacent merged", []string{"10.0.0.0/25", "10.0.0.128/25"}, []Range{{ip(10, 0, 0, 0), ip(10, 0, 0, 255)}}},
		{"adjacent singles merged", []string{"10.0.0.3,10.0.0.1,10.0.0.2"}, []Range{{ip(10, 0, 0, 1), ip(10, 0, 0, 3)}}},
		{"top of space", []string{"255.255.255.255", "255.255.255.254"}, []Range{{num(0xFFFFFFFE), num(0xFFFFFFFF)}}},
		{"zero address", []string{"0.0.0.0"}, []Range{{num(0), num(0)}}},
		{"hostname", []string{"one.test"}, []Range{{ip(192, 0, 2, 7), ip(192, 0, 2, 7)}}},
		{"hostname with hyphen", []string{"my-host.test"}, []Range{{ip(203, 0, 113, 1), ip(203, 0, 113, 1)}}},
		{"hostname answers of both families", []string{"multi.test"}, []Range{{ip(198, 51, 100, 9), ip(198, 51, 100, 9)}, {ip(198, 51, 100, 20), ip(198, 51, 100, 20)}, {a6("2001:db8::1"), a6("2001:db8::1")}}},
		{"hostname IPv6 only", []string{"v6only.test"}, []Range{{a6("2001:db8::2"), a6("2001:db8::2")}}},
		{"ipv6", []string{"2001:db8::1"}, []Range{{a6("2001:db8::1"), a6("2001:db8::1")}}},
		{"ipv6 prefix, host bits set", []string{"2001:db8::5/120"}, []Range{{a6("2001:db8::"), a6("2001:db8::ff")}}},
		{"ipv6 /128", []string{"2001:db8::/128"}, []Range{{a6("2001:db8::"), a6("2001:db8::")}}},
		{"ipv6 /72", []string{"2001:db8::/72"}, []Range{{a6("2001:db8::"), a6("2001:db8::ff:ffff:ffff:ffff")}}},
		{"ipv6 range", []string{"2001:db8::1-2001:db8::9"}, []Range{{a6("2001:db8::1"), a6("2001:db8::9")}}},
		{"ipv6 short range", []string{"2001:db8::1:10-ff"}, []Range{{a6("2001:db8::1:10"), a6("2001:db8::1:ff")}}},
		{"ipv4-mapped is ipv4", []string{"::ffff:198.51.100.9"}, []Range{{ip(198, 51, 100, 9), ip(198, 51, 100, 9)}}},
		{"mixed, each family merged and ordered", []string{"2001:db8::3,10.0.0.2", "2001:db8::1-2,10.0.0.1"}, []Range{{ip(10, 0, 0, 1), ip(10, 0, 0, 2)}, {a6("2001:db8::1"), a6("2001:db8::3")}}},
		{"ipv6 top of space", []string{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff0/124", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffe0/124"}, []Range{{a6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffe0"), a6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")}}},
		{"hostname cidr", []string{"one.test/30"}, []Range{{ip(192, 0, 2, 4), ip(192, 0, 2, 7)}}},
		{"hostname and address merged", []string{"one.test,192.0.2.6"}, []Range{{ip(192, 0, 2, 6), ip(192, 0, 2, 7)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseTargets(tt.specs, fakeLookup)
			if err != nil {
				t.Fatalf("ParseTargets(%q): %v", tt.specs, err)
			}
			if got := s.Ranges(); !slices.Equal(got, tt.want) {
				t.Fatalf("ParseTargets(%q) ranges = %v, want %v", tt.specs, got, tt.want)
			}
			var wantLen uint64
			for _, r := range tt.want {
				wantLen += r.Len()
			}
			if s.Len() != wantLen {
				t.Fatalf("Len() = %d, want %d", s.Len(), wantLen)
			}
		})
	}
}

func TestParseTargetsErrors(t *testing.T) {
	tests := []struct {
		name      string
		specs     []string
		wantToken string
		wantMsg   string // substring of Error()
	}{
		{"no specs", nil, "", "no targets"},
		{"only empty", []string{""}, "", "empty target"},
		{"empty in list", []string{"10.0.0.1,,10.0.0.2"}, "", "empty target"},
		{"octet too big", []string{"10.0.0.300"}, "10.0.0.300", `invalid target "10.0.0.300": not an IPv4 address`},
		{"three octets", []string{"10.0.0"}, "10.0.0", "not an IPv4 address"},
		{"five octets", []string{"10.0.0.1.2"}, "10.0.0.1.2", "not an IPv4 address"},
		{"leading zero", []string{"10.0.0.01"}, "10.0.0.01", "not an IPv4 address"},
		{"trailing dot", []string{"10.0.0.1."}, "10.0.0.1.", "not an IPv4 address"},
		{"bad second of list", []string{"10.0.0.1,10.0.0.256"}, "10.0.0.256", "not an IPv4 address"},
		{"bad second spec", []string{"10.0.0.1", "1.2.3.4/33"}, "1.2.3.4/33", "prefix length"},
		{"prefix not number", []string{"10.0.0.0/x"}, "10.0.0.0/x", "prefix length"},
		{"prefix empty", []string{"10.0.0.0/"}, "10.0.0.0/", "prefix length"},
		{"prefix negative", []string{"10.0.0.0/-1"}, "10.0.0.0/-1", "prefix length"},
		{"cidr bad address", []string{"10.0.0.256/24"}, "10.0.0.256/24", "not an IPv4 address"},
		{"double slash", []string{"10.0.0.0/24/8"}, "10.0.0.0/24/8", "prefix length"},
		{"reversed range", []string{"10.0.0.50-10.0.0.1"}, "10.0.0.50-10.0.0.1", "below its start"},
		{"reversed short range", []string{"10.0.0.50-1"}, "10.0.0.50-1", "below its start"},
		{"short range too big", []string{"10.0.0.1-256"}, "10.0.0.1-256", "last octet"},
		{"range bad start", []string{"10.0.0.999-10.0.1.0"}, "10.0.0.999-10.0.1.0", "range start"},
		{"range bad end", []string{"10.0.0.1-10.0.0"}, "10.0.0.1-10.0.0", "range end"},
		{"range empty end", []string{"10.0.0.1-"}, "10.0.0.1-", "range end"},
		{"range end word", []string{"10.0.0.1-x"}, "10.0.0.1-x", "range end"},
		{"range two dashes", []string{"10.0.0.1-5-9"}, "10.0.0.1-5-9", "range end"},
		{"ipv6 /64: a hitlist", []string{"2001:db8::/64"}, "2001:db8::/64", "scan a hitlist of the addresses in use instead (-iL FILE)"},
		{"ipv6 /71", []string{"2001:db8::/71"}, "2001:db8::/71", "2^57 addresses"},
		{"ipv6 prefix too long", []string{"2001:db8::/129"}, "2001:db8::/129", "IPv6 prefix length must be 0 to 128"},
		{"ipv6 prefix not a number", []string{"2001:db8::/x"}, "2001:db8::/x", "prefix length is not a number"},
		{"ipv6 bad", []string{"2001:db8:::1"}, "2001:db8:::1", "not an IPv6 address"},
		{"ipv6 zone", []string{"fe80::1%eth0"}, "fe80::1%eth0", "choose the interface with -i"},
		{"ipv6 reversed range", []string{"2001:db8::9-2001:db8::1"}, "2001:db8::9-2001:db8::1", "below its start"},
		{"ipv6 reversed short range", []string{"2001:db8::9-1"}, "2001:db8::9-1", "below its start"},
		{"ipv6 range bad end", []string{"2001:db8::1-xyz"}, "2001:db8::1-xyz", "range end"},
		{"ipv6 range too large", []string{"2001:db8::-2001:db8:0:1::"}, "2001:db8::-2001:db8:0:1::", "hitlist"},
		{"ipv4-mapped prefix", []string{"::ffff:10.0.0.0/120"}, "::ffff:10.0.0.0/120", "write it as an IPv4 block"},
		{"garbage", []string{"foo bar"}, "foo bar", "not an IP address, CIDR block, range or host name"},
		{"leading hyphen label", []string{"-x.test"}, "-x.test", "host name"},
		{"unknown host", []string{"nosuch.test"}, "nosuch.test", "no such host"},
		{"host cidr without IPv4", []string{"v6only.test/24"}, "v6only.test/24", "no IPv4 address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseTargets(tt.specs, fakeLookup)
			if err == nil {
				t.Fatalf("ParseTargets(%q) succeeded, want error", tt.specs)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v (%T) is not a *ParseError", err, err)
			}
			if pe.Kind != KindTarget || pe.Token != tt.wantToken {
				t.Errorf("ParseError{Kind: %q, Token: %q}, want {%q, %q}", pe.Kind, pe.Token, KindTarget, tt.wantToken)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.wantMsg) || strings.Contains(msg, "\n") {
				t.Errorf("Error() = %q, want one line containing %q", msg, tt.wantMsg)
			}
			if tt.wantToken != "" && !strings.Contains(msg, `"`+tt.wantToken+`"`) {
				t.Errorf("Error() = %q does not name token %q", msg, tt.wantToken)
			}
		})
	}
}

func TestParseTargetsLookupErrorWrapped(t *testing.T) {
	_, err := ParseTargets([]string{"nosuch.test"}, fakeLookup)
	if !errors.Is(err, errNoSuchHost) {
		t.Fatalf("error %v does not wrap the lookup error", err)
	}
}

func TestParseTargetsNilLookup(t *testing.T) {
	if _, err := ParseTargets([]string{"one.test"}, nil); err == nil {
		t.Fatal("host name with nil lookup succeeded")
	}
	s, err := ParseTargets([]string{"10.0.0.1"}, nil)
	if err != nil || s.Len() != 1 {
		t.Fatalf("address with nil lookup: Len %d, err %v", s.Len(), err)
	}
}

func TestSetWholeSpace(t *testing.T) {
	s, err := ParseTargets([]string{"0.0.0.0/0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 1<<32 {
		t.Fatalf("Len() = %d, want 2^32", s.Len())
	}
	for _, a := range []uint32{0, 1, 0x7F000001, 0xFFFFFFFF} {
		i, ok := s.Index(num(a))
		if !ok || i != uint64(a) {
			t.Errorf("Index(%v) = %d, %v; want %d, true", num(a), i, ok, a)
		}
		if got := s.At(uint64(a)); got != num(a) {
			t.Errorf("At(%d) = %v", a, got)
		}
	}
}

// TestSetAtIndex checks At and Index against a plain list of the addresses.
func TestSetAtIndex(t *testing.T) {
	specs := []string{"10.0.0.0/30", "10.0.0.10-12", "10.0.1.0/31", "192.168.0.1", "255.255.255.250-255.255.255.255", "0.0.0.0-0.0.0.2"}
	s, err := ParseTargets(specs, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The same addresses written out by hand, ascending.
	want := []netip.Addr{
		num(0), num(1), num(2),
		ip(10, 0, 0, 0), ip(10, 0, 0, 1), ip(10, 0, 0, 2), ip(10, 0, 0, 3),
		ip(10, 0, 0, 10), ip(10, 0, 0, 11), ip(10, 0, 0, 12),
		ip(10, 0, 1, 0), ip(10, 0, 1, 1),
		ip(192, 168, 0, 1),
		ip(255, 255, 255, 250), ip(255, 255, 255, 251), ip(255, 255, 255, 252),
		ip(255, 255, 255, 253), ip(255, 255, 255, 254), ip(255, 255, 255, 255),
	}
	if s.Len() != uint64(len(want)) {
		t.Fatalf("Len() = %d, want %d", s.Len(), len(want))
	}
	for i, a := range want {
		if got := s.At(uint64(i)); got != a {
			t.Errorf("At(%d) = %v, want %v", i, got, a)
		}
		if j, ok := s.Index(a); !ok || j != uint64(i) {
			t.Errorf("Index(%v) = %d, %v; want %d, true", a, j, ok, i)
		}
		if !s.Contains(a) {
			t.Errorf("Contains(%v) = false", a)
		}
	}
	for _, a := range []netip.Addr{num(3), netip.MustParseAddr("::1"), {}, ip(9, 255, 255, 255), ip(10, 0, 0, 4), ip(10, 0, 0, 9), ip(10, 0, 0, 13), ip(10, 0, 1, 2), ip(192, 168, 0, 0), ip(192, 168, 0, 2), ip(255, 255, 255, 249)} {
		if j, ok := s.Index(a); ok {
			t.Errorf("Index(%v) = %d, true; want absent", a, j)
		}
	}
}

func TestSetAtPanicsOutOfRange(t *testing.T) {
	s, err := ParseTargets([]string{"10.0.0.1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("At(Len()) did not panic")
		}
	}()
	s.At(1)
}

func TestSetZeroValue(t *testing.T) {
	var s Set
	if s.Len() != 0 || s.Contains(num(0)) || len(s.Ranges()) != 0 {
		t.Fatal("zero Set is not empty")
	}
}

func TestNewSetIgnoresInvertedRanges(t *testing.T) {
	s := NewSet([]Range{{num(5), num(4)}, {num(1), num(2)}, {a6("::1"), a6("::2")}, {a6("::9"), a6("::8")}, {num(1), a6("::1")}, {}})
	if got := s.Ranges(); !slices.Equal(got, []Range{{num(1), num(2)}, {a6("::1"), a6("::2")}}) {
		t.Fatalf("Ranges() = %v", got)
	}
}

func TestSetIndexAllocs(t *testing.T) {
	s, err := ParseTargets([]string{"10.0.0.0/24", "10.0.2.0/24", "10.0.4.0/24", "10.0.6.0/24"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var sink uint64
	allocs := testing.AllocsPerRun(100, func() {
		i, _ := s.Index(ip(10, 0, 4, 77))
		sink += i + uint64(s.At(700).BitLen())
	})
	if allocs != 0 {
		t.Fatalf("Index+At allocate %v times per call", allocs)
	}
	_ = sink
}

// TestSetHintsSkewed checks At and Index against a linear scan of the ranges on
// layouts that put many ranges in one bucket of the hint tables: a huge range
// among single addresses, ranges clustered at both ends of the space, one range.
func TestSetHintsSkewed(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	layouts := map[string][]Range{}
	var huge []Range
	huge = append(huge, Range{v4addr(0x0A000000), v4addr(0x0AFFFFFF)})
	for i := 0; i < 500; i++ {
		huge = append(huge, Range{v4addr(0x0B000000 + uint32(i)*2), v4addr(0x0B000000 + uint32(i)*2)})
	}
	layouts["huge among singles"] = huge
	var ends []Range
	for i := 0; i < 300; i++ {
		ends = append(ends, Range{v4addr(uint32(i) * 3), v4addr(uint32(i)*3 + 1)})
		ends = append(ends, Range{v4addr(0xFFFFFFFF - uint32(i)*5), v4addr(0xFFFFFFFF - uint32(i)*5)})
	}
	layouts["both ends"] = ends
	layouts["one"] = []Range{{v4addr(0xC6130000), v4addr(0xC613FFFF)}}
	layouts["everything"] = []Range{{v4addr(0), v4addr(0xFFFFFFFF)}}
	var random []Range
	for i := 0; i < 2000; i++ {
		a := rng.Uint32()
		random = append(random, Range{v4addr(a), v4addr(a + uint32(rng.IntN(1<<uint(rng.IntN(20)))))})
	}
	layouts["random"] = random
	for name, rs := range layouts {
		s := NewSet(rs)
		merged := s.Ranges()
		linear := func(a netip.Addr) (uint64, bool) {
			var idx uint64
			for _, r := range merged {
				if r.Contains(a) {
					return idx + uint64(addrToUint32(a)-addrToUint32(r.First)), true
				}
				idx += r.Len()
			}
			return 0, false
		}
		probe := func(a netip.Addr) {
			wantIdx, wantOK := linear(a)
			idx, ok := s.Index(a)
			if ok != wantOK || idx != wantIdx {
				t.Fatalf("%s: Index(%v) = %d %v, want %d %v", name, a, idx, ok, wantIdx, wantOK)
			}
			if ok && s.At(idx) != a {
				t.Fatalf("%s: At(%d) = %v, want %v", name, idx, s.At(idx), a)
			}
		}
		for _, r := range merged {
			for _, a := range []netip.Addr{r.First, r.Last, r.First.Prev(), r.Last.Next()} {
				if a.IsValid() {
					probe(a)
				}
			}
		}
		for i := 0; i < 20000; i++ {
			probe(v4addr(rng.Uint32()))
			if s.Len() > 0 {
				j := rng.Uint64N(s.Len())
				if got, ok := s.Index(s.At(j)); !ok || got != j {
					t.Fatalf("%s: Index(At(%d)) = %d %v", name, j, got, ok)
				}
			}
		}
	}
}

func v4addr(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

package lab_test

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/google/gopacket/layers"

	"github.com/fastscan/fastscan/lab"
)

func TestStateIPv6SpotChecks(t *testing.T) {
	tr := lab.DefaultTruth()
	cases := []struct {
		ip       string
		port     uint16
		tcp, udp lab.State
	}{
		{"2001:2:0:100::", 22, lab.StateOpen, lab.StateClosed},
		{"2001:2:0:100::ffff", 443, lab.StateOpen, lab.StateClosed},
		{"2001:2:0:100::1234", 53, lab.StateClosed, lab.StateOpen},
		{"2001:2:0:100::10a", 5432, lab.StateOpen, lab.StateClosed},
		{"2001:2:0:100::10b", 5432, lab.StateClosed, lab.StateClosed},
		{"2001:2:0:100::c8c8", 8080, lab.StateOpen, lab.StateClosed},
		{"2001:2:0:100::1:0", 22, lab.StateFiltered, lab.StateOpenFiltered},
		{"2001:2:0:100::1:ffff", 53, lab.StateFiltered, lab.StateOpenFiltered},
		{"2001:2:0:100::2:0", 22, lab.StateFiltered, lab.StateFiltered},
		{"2001:2:0:100::3:0", 53, lab.StateFiltered, lab.StateFiltered},
		{"2001:2:0:100::3:7fff", 1, lab.StateFiltered, lab.StateFiltered},
		{"2001:2:0:100::3:8000", 53, lab.StateFiltered, lab.StateClosed},
		{"2001:2:0:100::3:ffff", 65535, lab.StateFiltered, lab.StateClosed},
		{"2001:2:0:100::4:0", 22, lab.StateDown, lab.StateDown}, // past the routed range
		{"2001:2::2", 22, lab.StateDown, lab.StateDown},         // the scanner
		{"2001:2::3", 80, lab.StateOpen, lab.StateClosed},
		{"2001:2::3", 161, lab.StateClosed, lab.StateOpen},
		{"2001:2::3", 81, lab.StateClosed, lab.StateClosed},
		{"fe80::3", 80, lab.StateDown, lab.StateDown}, // link-local: outside the truth
		{"2001:2:0:1::1", 22, lab.StateDown, lab.StateDown},
		{"2001:2:0:1::10", 65535, lab.StateOpen, lab.StateClosed},
		{"2001:2:0:1::10", 123, lab.StateClosed, lab.StateOpen},
		{"2001:2:0:1::20", 631, lab.StateOpen, lab.StateClosed},
		{"2001:2:0:1::20", 161, lab.StateClosed, lab.StateOpen},
		{"2001:2:0:1::50", 445, lab.StateOpen, lab.StateClosed},
		{"2001:2:0:1::11", 22, lab.StateDown, lab.StateDown},
		{"2001:2:0:1::a", 22, lab.StateDown, lab.StateDown}, // 10 in hex is not host .10
		{"::ffff:198.19.0.1", 22, lab.StateDown, lab.StateDown},
		{"2001:db8::1", 22, lab.StateDown, lab.StateDown},
	}
	for _, c := range cases {
		if got := tr.State(addr(c.ip), c.port); got != c.tcp {
			t.Errorf("State(%s, %d) = %v, want %v", c.ip, c.port, got, c.tcp)
		}
		if got := tr.StateUDP(addr(c.ip), c.port); got != c.udp {
			t.Errorf("StateUDP(%s, %d) = %v, want %v", c.ip, c.port, got, c.udp)
		}
	}
	for ip, want := range map[string]uint8{"2001:2:0:100::2:1": 1, "2001:2:0:100::3:1": 3, "2001:2:0:100::3:8001": 4, "198.19.200.1": 13} {
		if code, ok := tr.Unreachable(addr(ip)); !ok || code != want {
			t.Errorf("Unreachable(%s) = %d, %v; want %d", ip, code, ok, want)
		}
	}
	if _, ok := tr.Unreachable(addr("2001:2:0:100::1")); ok {
		t.Error("Unreachable says the AnyIP range is rejected")
	}
	if h, ok := tr.Host(addr("2001:2:0:1::30")); !ok || h.Addr != addr("198.18.1.30") {
		t.Errorf("Host(2001:2:0:1::30) = %v, %v", h, ok)
	}
}

// The regions tile the routed range, and every region of the truth lies in
// 2001:2::/48 (RFC 5180) or 198.18.0.0/15 (RFC 2544).
func TestTruthIPv6Layout(t *testing.T) {
	tr := lab.DefaultTruth()
	bench6, bench4 := netip.MustParsePrefix("2001:2::/48"), netip.MustParsePrefix("198.18.0.0/15")
	parts := []netip.Prefix{tr.AnyIPPrefix6, tr.BlackholePrefix6, tr.ProhibitedPrefix6, tr.AddrUnreachablePrefix6, tr.PortUnreachablePrefix6}
	var size uint64
	for _, p := range parts {
		if !tr.RoutedRange6.Contains(p.Addr()) || p.Bits() < tr.RoutedRange6.Bits() {
			t.Errorf("%v is not inside the routed range %v", p, tr.RoutedRange6)
		}
		size += 1 << (128 - p.Bits())
	}
	if size != 1<<(128-tr.RoutedRange6.Bits()) {
		t.Errorf("the regions hold %d addresses, the routed range %d", size, 1<<(128-tr.RoutedRange6.Bits()))
	}
	for i, p := range parts {
		for _, q := range parts[i+1:] {
			if p.Overlaps(q) {
				t.Errorf("%v overlaps %v", p, q)
			}
		}
	}
	if n := uint64(1) << (128 - tr.AnyIPPrefix6.Bits()); n != 65536 {
		t.Errorf("AnyIPPrefix6 has %d addresses, want 65,536", n)
	}
	six := []netip.Prefix{tr.WANPrefix6, tr.LANPrefix6, tr.RoutedRange6}
	for _, a := range []netip.Addr{tr.ScannerWANAddr6, tr.RemoteWANAddr6, tr.ScannerLANAddr6} {
		six = append(six, netip.PrefixFrom(a, 128))
	}
	for _, h := range tr.Hosts {
		six = append(six, netip.PrefixFrom(h.Addr6, 128))
		if !tr.LANPrefix6.Contains(h.Addr6) {
			t.Errorf("host %v is not in the LAN %v", h.Addr6, tr.LANPrefix6)
		}
	}
	for _, p := range six {
		if !bench6.Contains(p.Addr()) || p.Bits() < bench6.Bits() {
			t.Errorf("%v is outside %v", p, bench6)
		}
	}
	for _, p := range []netip.Prefix{tr.WANPrefix, tr.LANPrefix, tr.RoutedRange} {
		if !bench4.Contains(p.Addr()) {
			t.Errorf("%v is outside %v", p, bench4)
		}
	}
	if !tr.RemoteWANLinkLocal.IsLinkLocalUnicast() || !tr.ScannerWANLinkLocal.IsLinkLocalUnicast() {
		t.Errorf("WAN link-local addresses %v, %v", tr.ScannerWANLinkLocal, tr.RemoteWANLinkLocal)
	}
}

func TestCountAndOpenIPv6MatchBruteForce(t *testing.T) {
	tr := lab.DefaultTruth()
	ranges := []struct{ first, last string }{
		{"2001:2:0:1::", "2001:2:0:1::ff"},
		{"2001:2:0:1::10", "2001:2:0:1::10"},
		{"2001:2::", "2001:2::ff"},
		{"2001:2:0:100::100", "2001:2:0:100::120"},
		{"2001:2:0:100::c8b0", "2001:2:0:100::c8d0"},
		{"2001:2:0:100::fff0", "2001:2:0:100::1:10"},
		{"2001:2:0:100::1:fff0", "2001:2:0:100::2:10"},
		{"2001:2:0:100::2:fff0", "2001:2:0:100::3:10"},
		{"2001:2:0:100::3:7ff0", "2001:2:0:100::3:8010"},
		{"2001:2:0:100::3:fff0", "2001:2:0:100::4:10"},
		{"2001:2:0:ff:ffff:ffff:ffff:fff0", "2001:2:0:100::10"},
	}
	portSets := [][]uint16{
		{22, 80, 443},
		{1, 22, 25, 53, 80, 123, 161, 443, 631, 1000, 3306, 5432, 8080, 49152, 50000, 65535},
		{5432, 5432, 8080, 22, 22},
		{},
	}
	for _, r := range ranges {
		for _, ports := range portSets {
			first, last := addr(r.first), addr(r.last)
			wantCounts, wantOpen := bruteForce(tr.State, first, last, ports)
			o, c, f, d := tr.Count(first, last, ports)
			if got := [5]uint64{lab.StateDown: d, lab.StateOpen: o, lab.StateClosed: c, lab.StateFiltered: f}; got != wantCounts {
				t.Errorf("Count(%s..%s, %v) = %v, brute force %v (down, open, closed, filtered)", r.first, r.last, ports, got, wantCounts)
			}
			if got := tr.Open(first, last, ports); !slices.Equal(got, wantOpen) {
				t.Errorf("Open(%s..%s, %v) = %v, brute force %v", r.first, r.last, ports, got, wantOpen)
			}
			wantCounts, wantOpen = bruteForce(tr.StateUDP, first, last, ports)
			o, c, f, of, d := tr.CountUDP(first, last, ports)
			if got := [5]uint64{lab.StateDown: d, lab.StateOpen: o, lab.StateClosed: c, lab.StateFiltered: f, lab.StateOpenFiltered: of}; got != wantCounts {
				t.Errorf("CountUDP(%s..%s, %v) = %v, brute force %v", r.first, r.last, ports, got, wantCounts)
			}
			if got := tr.OpenUDP(first, last, ports); !slices.Equal(got, wantOpen) {
				t.Errorf("OpenUDP(%s..%s, %v) = %v, brute force %v", r.first, r.last, ports, got, wantOpen)
			}
		}
	}
}

func TestCountIPv6PrefixesAndMixedFamilies(t *testing.T) {
	tr := lab.DefaultTruth()
	// The routed IPv6 prefix of 65,536 addresses x 1 port.
	open := tr.OpenPrefix(tr.AnyIPPrefix6, []uint16{80})
	if len(open) != 65536 || open[0] != netip.MustParseAddrPort("[2001:2:0:100::]:80") || open[65535] != netip.MustParseAddrPort("[2001:2:0:100::ffff]:80") {
		t.Fatalf("OpenPrefix(%v, 80) has %d endpoints from %v", tr.AnyIPPrefix6, len(open), open[:min(len(open), 1)])
	}
	if !slices.IsSortedFunc(open, func(a, b netip.AddrPort) int { return a.Compare(b) }) {
		t.Error("OpenPrefix is not sorted")
	}
	o, c, f, d := tr.CountPrefix(tr.RoutedRange6, []uint16{22, 5432})
	if o != 65536+1 || c != 65536-1 || f != 3*65536*2 || d != 0 {
		t.Errorf("CountPrefix(%v, 22,5432) = %d/%d/%d/%d", tr.RoutedRange6, o, c, f, d)
	}
	uo, uc, uf, uof, ud := tr.CountUDPPrefix(tr.RoutedRange6, []uint16{53})
	if uo != 65536 || uc != 32768 || uf != 65536+32768 || uof != 65536 || ud != 0 {
		t.Errorf("CountUDPPrefix(%v, 53) = %d/%d/%d/%d/%d", tr.RoutedRange6, uo, uc, uf, uof, ud)
	}
	if got := tr.OpenUDPPrefix(tr.LANPrefix6, []uint16{53, 123, 161}); len(got) != 3 {
		t.Errorf("OpenUDPPrefix(LAN) = %v, want H1's 53 and 123 and H2's 161", got)
	}
	// Half a /64 counts per region, not per address.
	half := netip.PrefixFrom(tr.LANPrefix6.Addr(), 65)
	o, c, _, d = tr.CountPrefix(half, []uint16{22})
	if o != 1 || c != 3 || d != 1<<63-4 {
		t.Errorf("CountPrefix(%v, 22) = %d open, %d closed, %d down", half, o, c, d)
	}
	// Ranges of mixed families, or of 2^64 pairs and more, count nothing.
	for _, r := range [][2]netip.Addr{{addr("198.19.0.0"), addr("2001:2:0:100::")}, {addr("2001:2:0:1::"), addr("2001:2:0:1:ffff:ffff:ffff:ffff")}} {
		if o, c, f, d := tr.Count(r[0], r[1], []uint16{22}); o+c+f+d != 0 {
			t.Errorf("Count(%s..%s) = %d/%d/%d/%d, want nothing", r[0], r[1], o, c, f, d)
		}
	}
	if got := tr.Open(addr("198.19.0.0"), addr("2001:2:0:100::"), []uint16{22}); got != nil {
		t.Errorf("Open over mixed families = %v", got)
	}
	first, last := lab.PrefixBounds(netip.MustParsePrefix("2001:2:0:100::3:8000/113"))
	if first != addr("2001:2:0:100::3:8000") || last != addr("2001:2:0:100::3:ffff") {
		t.Errorf("PrefixBounds = %v, %v", first, last)
	}
	first, last = lab.PrefixBounds(netip.MustParsePrefix("198.19.1.7/24"))
	if first != addr("198.19.1.0") || last != addr("198.19.1.255") {
		t.Errorf("PrefixBounds = %v, %v", first, last)
	}
}

func TestDNSResponderAAAA(t *testing.T) {
	local := addr("2001:2:0:100::beef")
	q := dnsQuery(0xbeef, "www.example.lab", layers.DNSTypeAAAA, layers.DNSClassIN)
	r, err := checkDNSReply(q, lab.AnswerUDP(53, q, local, testNow))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Answers) != 1 || r.Answers[0].Type != layers.DNSTypeAAAA || !r.Answers[0].IP.Equal(local.AsSlice()) {
		t.Fatalf("answers %+v, want one AAAA %v", r.Answers, local)
	}
	// An A query to an IPv6 address has no answer record.
	q = dnsQuery(0xbeef, "www.example.lab", layers.DNSTypeA, layers.DNSClassIN)
	if r, err = checkDNSReply(q, lab.AnswerUDP(53, q, local, testNow)); err != nil || len(r.Answers) != 0 {
		t.Fatalf("A to %v: %+v, %v; want an empty NOERROR", local, r, err)
	}
}

package lab_test

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/fastscan/fastscan/lab"
)

func TestStateUDPSpotChecks(t *testing.T) {
	tr := lab.DefaultTruth()
	cases := []struct {
		ip   string
		port uint16
		want lab.State
	}{
		{"198.19.0.0", 53, lab.StateOpen},
		{"198.19.127.255", 161, lab.StateOpen},
		{"198.19.42.42", 123, lab.StateOpen},
		{"198.19.42.42", 22, lab.StateClosed},  // TCP-open, UDP-closed
		{"198.19.1.10", 5432, lab.StateClosed}, // a TCP-only single-address listener
		{"198.19.5.5", 162, lab.StateClosed},
		{"198.19.128.0", 53, lab.StateOpenFiltered},
		{"198.19.191.255", 9, lab.StateOpenFiltered},
		{"198.19.192.0", 53, lab.StateFiltered},
		{"198.19.255.255", 65535, lab.StateFiltered},
		{"198.18.0.1", 53, lab.StateDown},
		{"198.18.0.2", 123, lab.StateOpen},
		{"198.18.0.2", 124, lab.StateClosed},
		{"198.18.0.3", 53, lab.StateDown},
		{"198.18.1.1", 53, lab.StateDown},
		{"198.18.1.10", 53, lab.StateOpen},
		{"198.18.1.10", 123, lab.StateOpen},
		{"198.18.1.10", 161, lab.StateClosed},
		{"198.18.1.20", 161, lab.StateOpen},
		{"198.18.1.20", 53, lab.StateClosed},
		{"198.18.1.30", 53, lab.StateClosed}, // TCP 53 is open there, UDP 53 is not
		{"198.18.1.31", 53, lab.StateDown},
		{"198.20.0.1", 53, lab.StateDown},
	}
	for _, c := range cases {
		if got := tr.StateUDP(addr(c.ip), c.port); got != c.want {
			t.Errorf("StateUDP(%s, %d) = %v, want %v", c.ip, c.port, got, c.want)
		}
	}
	if got := tr.StateUDP(netip.MustParseAddr("::1"), 53); got != lab.StateDown {
		t.Errorf("StateUDP(::1) = %v, want down", got)
	}
	if got := lab.StateOpenFiltered.String(); got != "open|filtered" {
		t.Errorf("StateOpenFiltered.String() = %q", got)
	}
}

// TestTCPTruthNeverOpenFiltered: open|filtered is UDP only.
func TestTCPTruthNeverOpenFiltered(t *testing.T) {
	tr := lab.DefaultTruth()
	for _, ip := range []string{"198.19.128.0", "198.19.150.1", "198.19.191.255"} {
		if got := tr.State(addr(ip), 53); got != lab.StateFiltered {
			t.Errorf("State(%s, 53) = %v, want filtered", ip, got)
		}
	}
}

func TestCountUDPAndOpenUDPMatchBruteForce(t *testing.T) {
	tr := lab.DefaultTruth()
	ranges := []struct{ first, last string }{
		{"198.18.0.0", "198.18.1.255"},
		{"198.18.1.0", "198.18.1.255"},
		{"198.18.1.10", "198.18.1.10"},
		{"198.18.1.20", "198.18.1.30"},
		{"198.19.1.0", "198.19.1.20"},
		{"198.19.127.200", "198.19.128.40"},
		{"198.19.191.250", "198.19.192.5"},
		{"198.19.255.250", "198.20.0.5"},
		{"198.17.255.250", "198.18.0.3"},
	}
	portSets := [][]uint16{
		{53, 123, 161},
		{1, 22, 53, 80, 123, 161, 162, 443, 5432, 65535},
		{161, 161, 53, 9, 53},
		{},
	}
	for _, r := range ranges {
		for _, ports := range portSets {
			first, last := addr(r.first), addr(r.last)
			want, wantOpen := bruteForce(tr.StateUDP, first, last, ports)
			o, c, f, of, d := tr.CountUDP(first, last, ports)
			got := [5]uint64{lab.StateDown: d, lab.StateOpen: o, lab.StateClosed: c, lab.StateFiltered: f, lab.StateOpenFiltered: of}
			if got != want {
				t.Errorf("CountUDP(%s..%s, %v) = %v, brute force %v (indexed down, open, closed, filtered, open|filtered)",
					r.first, r.last, ports, got, want)
			}
			if got := tr.OpenUDP(first, last, ports); !slices.Equal(got, wantOpen) {
				t.Errorf("OpenUDP(%s..%s, %v) = %v, brute force %v", r.first, r.last, ports, got, wantOpen)
			}
		}
	}
}

func TestCountUDPWholeRangeAllPorts(t *testing.T) {
	tr := lab.DefaultTruth()
	all := make([]uint16, 0, 65535)
	for p := 1; p <= 65535; p++ {
		all = append(all, uint16(p))
	}
	const half, quarter = 32768, 16384
	o, c, f, of, d := tr.CountUDP(addr("198.19.0.0"), addr("198.19.255.255"), all)
	if o != half*3 || c != half*65532 || f != quarter*65535 || of != quarter*65535 || d != 0 {
		t.Errorf("routed range: %d/%d/%d/%d/%d open/closed/filtered/open|filtered/down, want %d/%d/%d/%d/0",
			o, c, f, of, d, half*3, half*65532, quarter*65535, quarter*65535)
	}
	o, c, f, of, d = tr.CountUDP(addr("198.18.1.0"), addr("198.18.1.255"), all)
	if o != 3 || c != 4*65535-3 || f != 0 || of != 0 || d != 252*65535 {
		t.Errorf("LAN: %d/%d/%d/%d/%d open/closed/filtered/open|filtered/down", o, c, f, of, d)
	}
	want := []netip.AddrPort{
		netip.MustParseAddrPort("198.18.0.2:53"), netip.MustParseAddrPort("198.18.0.2:123"), netip.MustParseAddrPort("198.18.0.2:161"),
		netip.MustParseAddrPort("198.18.1.10:53"), netip.MustParseAddrPort("198.18.1.10:123"), netip.MustParseAddrPort("198.18.1.20:161"),
	}
	if got := tr.OpenUDP(addr("198.18.0.0"), addr("198.18.255.255"), all); !slices.Equal(got, want) {
		t.Errorf("OpenUDP(198.18.0.0/16) = %v, want %v", got, want)
	}
	if o, c, f, of, d := tr.CountUDP(addr("198.19.0.10"), addr("198.19.0.1"), []uint16{53}); o+c+f+of+d != 0 {
		t.Errorf("inverted range counted %d/%d/%d/%d/%d", o, c, f, of, d)
	}
}

package lab_test

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/fastscan/fastscan/lab"
)

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestStateSpotChecks(t *testing.T) {
	tr := lab.DefaultTruth()
	cases := []struct {
		ip   string
		port uint16
		want lab.State
	}{
		{"198.19.0.0", 22, lab.StateOpen},
		{"198.19.127.255", 443, lab.StateOpen},
		{"198.19.5.5", 23, lab.StateClosed},
		{"198.19.1.10", 5432, lab.StateOpen},
		{"198.19.1.11", 5432, lab.StateClosed},
		{"198.19.100.200", 8080, lab.StateOpen},
		{"198.19.100.201", 8080, lab.StateClosed},
		{"198.19.128.0", 22, lab.StateFiltered},
		{"198.19.191.255", 1, lab.StateFiltered},
		{"198.19.192.0", 80, lab.StateFiltered},
		{"198.19.255.255", 65535, lab.StateFiltered},
		{"198.18.0.1", 22, lab.StateDown},
		{"198.18.0.2", 80, lab.StateOpen},
		{"198.18.0.2", 81, lab.StateClosed},
		{"198.18.0.3", 80, lab.StateDown},
		{"198.18.1.0", 22, lab.StateDown},
		{"198.18.1.1", 22, lab.StateDown},
		{"198.18.1.10", 65535, lab.StateOpen},
		{"198.18.1.10", 443, lab.StateClosed},
		{"198.18.1.20", 631, lab.StateOpen},
		{"198.18.1.30", 1000, lab.StateOpen},
		{"198.18.1.30", 999, lab.StateClosed},
		{"198.18.1.31", 25, lab.StateDown},
		{"198.18.1.255", 22, lab.StateDown},
		{"198.20.0.1", 22, lab.StateDown},
		{"10.0.0.1", 22, lab.StateDown},
	}
	for _, c := range cases {
		if got := tr.State(addr(c.ip), c.port); got != c.want {
			t.Errorf("State(%s, %d) = %v, want %v", c.ip, c.port, got, c.want)
		}
	}
	if got := tr.State(netip.MustParseAddr("::1"), 22); got != lab.StateDown {
		t.Errorf("State(::1) = %v, want down", got)
	}
}

func TestStateString(t *testing.T) {
	want := map[lab.State]string{lab.StateOpen: "open", lab.StateClosed: "closed", lab.StateFiltered: "filtered", lab.StateDown: "down"}
	for s, w := range want {
		if s.String() != w {
			t.Errorf("%d.String() = %q, want %q", int(s), s.String(), w)
		}
	}
}

// bruteForce counts the states state gives every (address, port) of first..last x
// ports (duplicate ports counted once), indexed by lab.State, and collects the open
// endpoints one by one: the slow, obvious reference for Count, Open and their UDP forms.
func bruteForce(state func(netip.Addr, uint16) lab.State, first, last netip.Addr, ports []uint16) (counts [5]uint64, open []netip.AddrPort) {
	uniq := slices.Clone(ports)
	slices.Sort(uniq)
	uniq = slices.Compact(uniq)
	for ip := first; ip.Compare(last) <= 0 && ip.IsValid(); ip = ip.Next() {
		for _, p := range uniq {
			s := state(ip, p)
			counts[s]++
			if s == lab.StateOpen {
				open = append(open, netip.AddrPortFrom(ip, p))
			}
		}
	}
	return counts, open
}

func TestCountAndOpenMatchBruteForce(t *testing.T) {
	tr := lab.DefaultTruth()
	ranges := []struct{ first, last string }{
		{"198.18.0.0", "198.18.1.255"},
		{"198.18.1.0", "198.18.1.255"},
		{"198.18.1.10", "198.18.1.10"},
		{"198.19.1.0", "198.19.1.20"},
		{"198.19.100.190", "198.19.100.210"},
		{"198.19.127.200", "198.19.128.40"},
		{"198.19.191.250", "198.19.192.5"},
		{"198.19.255.250", "198.20.0.5"},
		{"198.17.255.250", "198.18.0.3"},
	}
	portSets := [][]uint16{
		{22, 80, 443},
		{1, 22, 25, 53, 80, 443, 631, 1000, 3306, 5432, 8080, 49152, 50000, 65535},
		{5432, 5432, 8080, 22, 22},
		{},
	}
	for _, r := range ranges {
		for _, ports := range portSets {
			first, last := addr(r.first), addr(r.last)
			wantCounts, wantOpen := bruteForce(tr.State, first, last, ports)
			o, c, f, d := tr.Count(first, last, ports)
			if got := [5]uint64{lab.StateDown: d, lab.StateOpen: o, lab.StateClosed: c, lab.StateFiltered: f}; got != wantCounts {
				t.Errorf("Count(%s..%s, %v) open/closed/filtered/down = %d/%d/%d/%d, brute force %d/%d/%d/%d",
					r.first, r.last, ports, o, c, f, d,
					wantCounts[lab.StateOpen], wantCounts[lab.StateClosed], wantCounts[lab.StateFiltered], wantCounts[lab.StateDown])
			}
			if got := tr.Open(first, last, ports); !slices.Equal(got, wantOpen) {
				t.Errorf("Open(%s..%s, %v) = %v, brute force %v", r.first, r.last, ports, got, wantOpen)
			}
		}
	}
}

func TestCountInvertedRangeIsEmpty(t *testing.T) {
	o, c, f, d := lab.DefaultTruth().Count(addr("198.19.0.10"), addr("198.19.0.1"), []uint16{22})
	if o+c+f+d != 0 {
		t.Errorf("inverted range counted %d/%d/%d/%d", o, c, f, d)
	}
}

func TestCountWholeRangeAllPorts(t *testing.T) {
	tr := lab.DefaultTruth()
	all := make([]uint16, 0, 65535)
	for p := 1; p <= 65535; p++ {
		all = append(all, uint16(p))
	}
	o, c, f, d := tr.Count(addr("198.19.0.0"), addr("198.19.255.255"), all)
	const half, quarter = 32768, 16384
	if want := uint64(half*3 + 2); o != want {
		t.Errorf("open = %d, want %d", o, want)
	}
	if want := uint64(half*65535 - (half*3 + 2)); c != want {
		t.Errorf("closed = %d, want %d", c, want)
	}
	if want := uint64(2 * quarter * 65535); f != want {
		t.Errorf("filtered = %d, want %d", f, want)
	}
	if d != 0 {
		t.Errorf("down = %d, want 0", d)
	}

	o, c, f, d = tr.Count(addr("198.18.1.0"), addr("198.18.1.255"), all)
	if want := uint64(5 + 3 + 4 + 4); o != want {
		t.Errorf("LAN open = %d, want %d", o, want)
	}
	if want := uint64(4*65535 - 16); c != want || f != 0 {
		t.Errorf("LAN closed/filtered = %d/%d, want %d/0", c, f, want)
	}
	if want := uint64(252 * 65535); d != want {
		t.Errorf("LAN down = %d, want %d", d, want)
	}
	if got := len(tr.Open(addr("198.18.1.0"), addr("198.18.1.255"), all)); got != 16 {
		t.Errorf("LAN Open has %d endpoints, want 16", got)
	}
}

func TestOpenIsSortedAndComplete(t *testing.T) {
	tr := lab.DefaultTruth()
	ports := []uint16{8080, 5432, 443, 80, 22}
	got := tr.Open(addr("198.18.0.0"), addr("198.19.255.255"), ports)
	if want := 32768*3 + 2 + 3 + 3 + 1; len(got) != want { // AnyIP, specific, R's WAN addr, H1 22/80/8080, H2 443
		t.Fatalf("Open found %d endpoints, want %d", len(got), want)
	}
	if !slices.IsSortedFunc(got, func(a, b netip.AddrPort) int { return a.Compare(b) }) {
		t.Error("Open result is not sorted")
	}
	for _, ap := range []string{"198.18.0.2:22", "198.18.1.10:8080", "198.18.1.20:443", "198.19.1.10:5432", "198.19.100.200:8080"} {
		if _, ok := slices.BinarySearchFunc(got, netip.MustParseAddrPort(ap), func(a, b netip.AddrPort) int { return a.Compare(b) }); !ok {
			t.Errorf("Open misses %s", ap)
		}
	}
}

func TestIsLabNamespace(t *testing.T) {
	id, err := lab.NewLabID()
	if err != nil {
		t.Fatal(err)
	}
	for _, ok := range []string{id + "-s", id + "-r", id + "-w", id + "-h1", id + "-h12", id + "-b", "fsl00ff9a-s"} {
		if !lab.IsLabNamespace(ok) {
			t.Errorf("IsLabNamespace(%q) = false", ok)
		}
	}
	for _, bad := range []string{"", "fsl", id, id + "-", id + "-x", id + "-bb", id + "-h", id + "-h1x", "fsl00FF9a-s", "fsl00ff9-s", "xfsl00ff9a-s", "docker0"} {
		if lab.IsLabNamespace(bad) {
			t.Errorf("IsLabNamespace(%q) = true", bad)
		}
	}
}

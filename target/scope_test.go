package target

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func prefixes(s *Set) []string {
	var out []string
	for p := range s.Prefixes() {
		out = append(out, p.String())
	}
	return out
}

func TestReservedBlocksTable(t *testing.T) {
	blocks := ReservedBlocks()
	for k, b := range blocks {
		if !b.Prefix.IsValid() || b.Prefix != b.Prefix.Masked() || b.Prefix.Addr().Is4In6() && b.Prefix.Bits() < 96 {
			t.Errorf("%v: not a masked prefix", b.Prefix)
		}
		if b.Name == "" || !strings.HasPrefix(b.RFC, "RFC ") {
			t.Errorf("%v: name %q, RFC %q", b.Prefix, b.Name, b.RFC)
		}
		if k > 0 {
			prev := blocks[k-1].Prefix
			if c := prev.Addr().Compare(b.Prefix.Addr()); c > 0 || c == 0 && prev.Bits() >= b.Prefix.Bits() {
				t.Errorf("%v listed after %v: want ascending address, the larger block first", b.Prefix, prev)
			}
		}
	}
	// A fresh slice each time: callers cannot change the table.
	blocks[0].Name = "changed"
	if ReservedBlocks()[0].Name == "changed" {
		t.Fatal("ReservedBlocks returned shared memory")
	}
	// The blocks the issue names are all there.
	for _, p := range []string{"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
		"172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15",
		"198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4", "255.255.255.255/32",
		// IPv6: the registry's best-known blocks and multicast.
		"::1/128", "::ffff:0.0.0.0/96", "2001:2::/48", "2001:db8::/32", "fc00::/7", "fe80::/10", "ff00::/8"} {
		if !slices.ContainsFunc(blocks, func(b ReservedBlock) bool { return b.Prefix.String() == p }) {
			t.Errorf("%s missing", p)
		}
	}
}

// TestReservedTableInReadme checks that the README's table of reserved blocks is
// the one in ReservedBlocks. UPDATE_README=1 rewrites it.
func TestReservedTableInReadme(t *testing.T) {
	const name = "../README.md"
	const begin, end = "<!-- reserved-blocks: begin (generated from target/reserved.go; UPDATE_README=1 go test ./target/ rewrites it) -->\n", "<!-- reserved-blocks: end -->"
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	i, j := strings.Index(text, begin), strings.Index(text, end)
	if i < 0 || j < i {
		t.Fatalf("README has no section between %q and %q", begin, end)
	}
	var b strings.Builder
	b.WriteString("| block | name | reserved by |\n| --- | --- | --- |\n")
	for _, r := range ReservedBlocks() {
		b.WriteString("| `" + r.Prefix.String() + "` | " + r.Name + " | " + r.RFC + " |\n")
	}
	want := b.String()
	if got := text[i+len(begin) : j]; got != want {
		if os.Getenv("UPDATE_README") == "1" {
			if err := os.WriteFile(name, []byte(text[:i+len(begin)]+want+text[j:]), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Fatalf("README's reserved blocks differ from ReservedBlocks (UPDATE_README=1 go test ./target/ rewrites them); want\n%s\ngot\n%s", want, got)
	}
}

func TestParseScopeWholeSpace(t *testing.T) {
	sc, err := ParseScope([]string{"0.0.0.0/0"}, ScopeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkSet(t, &sc.Targets)
	if sc.Named.Len() != 1<<32 {
		t.Fatalf("named %d", sc.Named.Len())
	}
	// 2^32 minus the top-level blocks: 0/8, 10/8, 127/8 (3 x 2^24), 100.64/10 (2^22),
	// 169.254/16, 192.168/16 (2 x 2^16), 172.16/12 (2^20), 198.18/15 (2^17),
	// 192.0.0/24, 192.0.2/24, 192.31.196/24, 192.52.193/24, 192.88.99/24, 192.175.48/24,
	// 198.51.100/24, 203.0.113/24 (8 x 2^8), 224/4 and 240/4 (2 x 2^28).
	want := uint64(1<<32) - (3<<24 + 1<<22 + 2<<16 + 1<<20 + 1<<17 + 8<<8 + 2<<28)
	if sc.Targets.Len() != want {
		t.Fatalf("0.0.0.0/0 leaves %d addresses, want %d", sc.Targets.Len(), want)
	}
	for _, b := range ReservedBlocks() {
		if sc.Targets.Contains(b.Prefix.Addr()) || sc.Targets.Contains(lastOf(b.Prefix)) {
			t.Errorf("%v (%s) is scanned", b.Prefix, b.Name)
		}
	}
	for _, a := range []string{"1.0.0.0", "8.8.8.8", "9.255.255.255", "11.0.0.0", "100.63.255.255", "100.128.0.0",
		"172.15.255.255", "172.32.0.0", "192.0.1.0", "198.17.255.255", "198.20.0.0", "223.255.255.255"} {
		if !sc.Targets.Contains(netip.MustParseAddr(a)) {
			t.Errorf("%s is not scanned", a)
		}
	}
	ps := prefixes(&sc.Targets)
	if ps[0] != "1.0.0.0/8" || ps[len(ps)-1] != "208.0.0.0/4" {
		t.Errorf("prefixes run %s to %s", ps[0], ps[len(ps)-1])
	}
	// Every reserved block is reported, the nested ones too.
	var specs []string
	for _, x := range sc.Excluded {
		if !x.Default || x.Removed.Len() == 0 {
			t.Errorf("exclusion %+v", x)
		}
		specs = append(specs, x.Spec)
	}
	for _, b := range ReservedBlocks() {
		if b.Prefix.Addr().Is4() && !slices.Contains(specs, b.Prefix.String()) {
			t.Errorf("%v not reported as excluded", b.Prefix)
		}
	}
}

// IPv6 targets lose reserved space as IPv4 ones do: ranges that cross into a
// reserved block keep only their part outside it, and a target wholly inside
// one (the lab's benchmarking prefix) is scanned whole.
func TestParseScopeIPv6Reserved(t *testing.T) {
	specs := []string{
		"2001:1ff:ffff:ffff:ffff:ffff:ffff:ff00-2001:200::ff", // the end of 2001::/23, then unreserved
		"feff:ffff:ffff:ffff:ffff:ffff:ffff:ff00-ff00::ff",    // into multicast
		"2001:2::/112",        // inside the benchmarking /48: named on purpose
		"2001:1::1-2001:1::4", // anycast /128s inside 2001::/23: named on purpose
		"2001:db7:ffff:ffff:ffff:ffff:ffff:fff0-2001:db8::f", // into documentation
	}
	sc, err := ParseScope(specs, ScopeOptions{Exclude: []string{"2001:2::/120", "2001:db8::/32"}})
	if err != nil {
		t.Fatal(err)
	}
	checkSet(t, &sc.Targets)
	want := []Range{
		{a6("2001:1::1"), a6("2001:1::4")},
		{a6("2001:2::100"), a6("2001:2::ffff")},
		{a6("2001:200::"), a6("2001:200::ff")},
		{a6("2001:db7:ffff:ffff:ffff:ffff:ffff:fff0"), a6("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff")},
		{a6("feff:ffff:ffff:ffff:ffff:ffff:ffff:ff00"), a6("feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")},
	}
	if got := sc.Targets.Ranges(); !slices.Equal(got, want) {
		t.Fatalf("targets %v\nwant %v", got, want)
	}
	removed := map[string]uint64{}
	for _, x := range sc.Excluded {
		removed[x.Spec] = x.Removed.Len()
	}
	for spec, n := range map[string]uint64{"2001::/23": 256, "ff00::/8": 256, "2001:db8::/32": 16, "2001:2::/120": 256} {
		if removed[spec] != n {
			t.Errorf("%s removed %d, want %d (all: %v)", spec, removed[spec], n, removed)
		}
	}
	if _, ok := removed["2001:2::/48"]; ok {
		t.Errorf("the named benchmarking prefix was cut: %v", removed)
	}
	// --no-default-excludes keeps all of it but the user's exclusions.
	sc, err = ParseScope(specs, ScopeOptions{NoDefaultExcludes: true})
	if err != nil {
		t.Fatal(err)
	}
	if sc.Targets.Len() != sc.Named.Len() || sc.Named.Len() != 512+512+65536+4+32 {
		t.Errorf("no default excludes: targets %d of %d named", sc.Targets.Len(), sc.Named.Len())
	}
}

func lastOf(p netip.Prefix) netip.Addr {
	sp := prefixSpans(p)
	if len(sp.v4) == 1 {
		return uint32ToAddr(sp.v4[0].last)
	}
	return sp.v6[0].last.addr()
}

func TestParseScopeNamedReservedIsScanned(t *testing.T) {
	tests := []struct {
		specs []string
		want  []string // prefixes of the targets
	}{
		{[]string{"10.0.0.0/8"}, []string{"10.0.0.0/8"}},
		{[]string{"10.1.0.0/16"}, []string{"10.1.0.0/16"}},
		{[]string{"198.19.0.0/16"}, []string{"198.19.0.0/16"}},
		{[]string{"198.18.0.0/15"}, []string{"198.18.0.0/15"}},
		{[]string{"127.0.0.1"}, []string{"127.0.0.1/32"}},
		{[]string{"255.255.255.255"}, []string{"255.255.255.255/32"}},
		{[]string{"192.0.0.0/24"}, []string{"192.0.0.0/24"}}, // blocks nested in it do not cut it
		{[]string{"10.0.0.5-10.0.0.9"}, []string{"10.0.0.5/32", "10.0.0.6/31", "10.0.0.8/31"}},
		// A target larger than the block loses the block...
		{[]string{"10.0.0.0/7"}, []string{"11.0.0.0/8"}},
		{[]string{"192.0.0.0/23"}, []string{"192.0.1.0/24"}},
		// ... and one that straddles its edge loses the part inside.
		{[]string{"9.255.255.254-10.0.0.1"}, []string{"9.255.255.254/31"}},
		// Naming the block too puts it back.
		{[]string{"0.0.0.0/0", "10.1.0.0/16"}, nil},
		// A host name's addresses count as named.
		{[]string{"private.test"}, []string{"10.9.9.9/32"}},
	}
	lookup := func(host string) ([]netip.Addr, error) {
		if host == "private.test" {
			return []netip.Addr{netip.MustParseAddr("10.9.9.9")}, nil
		}
		return nil, errNoSuchHost
	}
	for _, tt := range tests {
		sc, err := ParseScope(tt.specs, ScopeOptions{Lookup: lookup})
		if err != nil {
			t.Errorf("%q: %v", tt.specs, err)
			continue
		}
		if tt.want == nil {
			if !sc.Targets.Contains(netip.MustParseAddr("10.1.2.3")) || sc.Targets.Contains(netip.MustParseAddr("10.2.0.0")) {
				t.Errorf("%q: 10.1.0.0/16 is not scanned, or the rest of 10/8 is", tt.specs)
			}
			continue
		}
		if got := prefixes(&sc.Targets); !slices.Equal(got, tt.want) {
			t.Errorf("%q: targets %v, want %v", tt.specs, got, tt.want)
		}
		// Without default excludes, the targets are exactly what was named.
		all, err := ParseScope(tt.specs, ScopeOptions{Lookup: lookup, NoDefaultExcludes: true})
		named, _ := ParseTargets(tt.specs, lookup)
		if err != nil || !slices.Equal(all.Targets.Ranges(), named.Ranges()) || len(all.Excluded) != 0 {
			t.Errorf("%q with NoDefaultExcludes: %v, %v, excluded %v", tt.specs, all.Targets.Ranges(), err, all.Excluded)
		}
	}
}

func TestParseScopeUserExclusions(t *testing.T) {
	sc, err := ParseScope([]string{"198.19.0.0/20"}, ScopeOptions{Exclude: []string{"198.19.4.0/22,198.19.9.7", "203.0.113.1", "198.19.3.250-198.19.4.3"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := uint64(4096 - 1024 - 1 - 6); sc.Targets.Len() != want {
		t.Fatalf("%d targets, want %d", sc.Targets.Len(), want)
	}
	for _, a := range []string{"198.19.4.0", "198.19.7.255", "198.19.9.7", "198.19.3.250", "198.19.3.255"} {
		if sc.Targets.Contains(netip.MustParseAddr(a)) {
			t.Errorf("%s is scanned", a)
		}
	}
	for _, a := range []string{"198.19.0.0", "198.19.3.249", "198.19.8.0", "198.19.9.6", "198.19.9.8", "198.19.15.255"} {
		if !sc.Targets.Contains(netip.MustParseAddr(a)) {
			t.Errorf("%s is not scanned", a)
		}
	}
	var got []string
	for _, x := range sc.Excluded {
		if x.Default {
			t.Errorf("default exclusion %v of a directly named benchmarking range", x.Spec)
		}
		got = append(got, x.Spec+"="+strconv.FormatUint(x.Removed.Len(), 10))
	}
	want := []string{"198.19.4.0/22=1024", "198.19.9.7=1", "203.0.113.1=0", "198.19.3.250-198.19.4.3=10"}
	if !slices.Equal(got, want) {
		t.Errorf("exclusions %v, want %v", got, want)
	}
}

func TestParseScopeErrors(t *testing.T) {
	_, err := ParseScope([]string{"198.19.0.0/24"}, ScopeOptions{Exclude: []string{"198.19.0.300"}})
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Kind != KindExclusion || pe.Token != "198.19.0.300" ||
		err.Error() != `invalid exclusion "198.19.0.300": not an IPv4 address` {
		t.Fatalf("bad exclusion: %v", err)
	}
	_, err = ParseScope([]string{"198.19.0.0/24"}, ScopeOptions{Exclude: []string{"198.19.0.1,,198.19.0.2"}})
	if !errors.As(err, &pe) || pe.Kind != KindExclusion || !strings.Contains(err.Error(), "empty exclusion") {
		t.Fatalf("empty exclusion: %v", err)
	}
	_, err = ParseScope([]string{"198.19.0.0/33"}, ScopeOptions{})
	if !errors.As(err, &pe) || pe.Kind != KindTarget {
		t.Fatalf("bad target: %v", err)
	}
	if _, err = ParseScope(nil, ScopeOptions{}); err == nil || !strings.Contains(err.Error(), "no targets") {
		t.Fatalf("no targets: %v", err)
	}
	// Everything excluded: by the user, by the reserved blocks, by both.
	for _, c := range []struct {
		specs, exclude []string
	}{
		{[]string{"198.19.0.0/24"}, []string{"198.19.0.0/16"}},
		{[]string{"198.19.0.1,198.19.0.2"}, []string{"198.19.0.1", "198.19.0.2"}},
		{[]string{"224.0.0.0/3"}, nil}, // multicast and 240/4: reserved, and not one block
		{[]string{"224.0.0.0/3", "1.2.3.4"}, []string{"1.2.3.4"}},
	} {
		sc, err := ParseScope(c.specs, ScopeOptions{Exclude: c.exclude})
		if !errors.Is(err, ErrAllExcluded) || sc.Targets.Len() != 0 || sc.Named.Len() == 0 {
			t.Errorf("%q minus %q: %v, %d targets", c.specs, c.exclude, err, sc.Targets.Len())
		}
	}
}

// TestParseScopeAgainstModel checks ParseScope on random targets and exclusions
// in a window of the address space that straddles reserved blocks against a
// brute-force model of the rules.
func TestParseScopeAgainstModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	blocks := ReservedBlocks()
	for _, base := range []uint32{0x09FFFF80, 0xC0000000 - 0x80, 0xDFFFFF80, 0xFFFFFF00} { // 10/8, 192.0.0/24, 224/4 edges; the top
		for range 500 {
			targets, excl := randomSpans(rng, base, 4), randomSpans(rng, base, 3)
			var specs, exclude []string
			for _, r := range targets {
				specs = append(specs, r.toRange().First.String()+"-"+r.toRange().Last.String())
			}
			for _, r := range excl {
				exclude = append(exclude, r.toRange().First.String()+"-"+r.toRange().Last.String())
			}
			if len(specs) == 0 {
				continue
			}
			sc, err := ParseScope(specs, ScopeOptions{Exclude: exclude})
			if err != nil && !errors.Is(err, ErrAllExcluded) {
				t.Fatal(err)
			}
			m := model{base, make([]bool, modelSize)}
			for i := range modelSize {
				a := uint32ToAddr(base + uint32(i))
				in := false
				for _, r := range targets {
					if !r.contains(base + uint32(i)) {
						continue
					}
					named := insideAny(r, reservedSpans(blocks).v4)
					reserved := slices.ContainsFunc(blocks, func(b ReservedBlock) bool { return b.Prefix.Contains(a) })
					if named || !reserved {
						in = true
					}
				}
				for _, r := range excl {
					if r.contains(base + uint32(i)) {
						in = false
					}
				}
				m.in[i] = in
			}
			checkAgainstModel(t, strings.Join(specs, ",")+" minus "+strings.Join(exclude, ","), &sc.Targets, m)
			if (err != nil) != (sc.Targets.Len() == 0) {
				t.Fatalf("%q: error %v with %d targets", specs, err, sc.Targets.Len())
			}
		}
	}
}

// FuzzParseScope checks that targets and exclusions parse to a scope whose
// targets are named, not excluded by the user, and either not reserved or named
// within one reserved block.
func FuzzParseScope(f *testing.F) {
	for _, s := range targetSeeds() {
		f.Add(s, "10.0.0.5")
	}
	f.Add("0.0.0.0/0", "1.0.0.0/8,2.0.0.0-3.0.0.0")
	f.Add("198.19.0.0/20", "198.19.4.0/22,198.19.9.7")
	f.Add("224.0.0.0/3", "")
	blocks := ReservedBlocks()
	f.Fuzz(func(t *testing.T, targets, exclude string) {
		var excl []string
		if exclude != "" {
			excl = strings.Split(exclude, " ")
		}
		specs := strings.Split(targets, " ")
		sc, err := ParseScope(specs, ScopeOptions{Exclude: excl})
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) && !errors.Is(err, ErrAllExcluded) {
				t.Fatalf("error %v (%T)", err, err)
			}
			if !errors.Is(err, ErrAllExcluded) {
				return
			}
		}
		named, err := ParseTargets(specs, nil)
		if err != nil {
			t.Fatalf("ParseScope accepted %q, ParseTargets: %v", specs, err)
		}
		if !slices.Equal(named.Ranges(), sc.Named.Ranges()) {
			t.Fatalf("Named %v, ParseTargets %v", sc.Named.Ranges(), named.Ranges())
		}
		if rest := sc.Targets.Subtract(named); rest.Len() != 0 {
			t.Fatalf("targets not named: %v", rest.Ranges())
		}
		if sc.Targets.Len() > 0 {
			checkSet(t, &sc.Targets)
		}
		for _, x := range sc.Excluded {
			if in := sc.Targets.Intersect(x.Removed); in.Len() != 0 {
				t.Fatalf("exclusion %s removed %v, still scanned", x.Spec, in.Ranges())
			}
		}
		// A scanned reserved address was named by a token inside one reserved block.
		var inBlock spans
		all := reservedSpans(blocks)
		for _, spec := range specs {
			for tok := range strings.SplitSeq(spec, ",") {
				one, err := ParseTargets([]string{tok}, nil)
				switch {
				case err != nil:
				case len(one.ranges) == 1 && insideAny(one.ranges[0], all.v4):
					inBlock.v4 = append(inBlock.v4, one.ranges...)
				case len(one.v6.ranges) == 1 && insideAny6(one.v6.ranges[0], all.v6):
					inBlock.v6 = append(inBlock.v6, one.v6.ranges...)
				}
			}
		}
		exempt := inBlock.set()
		for _, b := range blocks {
			in := sc.Targets.Intersect(prefixSpans(b.Prefix).set())
			if rest := in.Subtract(exempt); rest.Len() != 0 {
				t.Fatalf("reserved %v (%s) scanned, not named within a reserved block", rest.Ranges(), b.Prefix)
			}
		}
	})
}

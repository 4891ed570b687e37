package target

import (
	"bytes"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

// targetSeeds returns target specifications in every syntax ParseTargets
// knows, and near misses of each.
func targetSeeds() []string {
	return []string{
		"10.0.0.1",
		"10.0.0.0/24",
		"10.0.0.5/24",
		"10.0.0.1-10.0.0.50",
		"10.0.0.1-50",
		"10.0.0.1-255 10.0.1.0-3",
		"0.0.0.0/0",
		"0.0.0.0-255.255.255.255",
		"255.255.255.255",
		"255.255.255.255/32",
		"10.0.0.1,10.0.0.2 10.0.0.3",
		"10.0.0.0/31,10.0.0.2-3,10.0.0.4",
		"192.168.1.0/24 192.168.0.0/16",
		" 10.0.0.1 , 10.0.0.9 ",
		"scanme.example",
		"scanme.example/28",
		"under_score.example.",
		"::1",
		"2001:db8::/32",
		"10.0.0.300",
		"10.0.0.1/33",
		"10.0.0.1/-1",
		"10.0.0.1/024",
		"10.0.0.5-1",
		"10.0.0.5-256",
		"10.0.0.5-0010",
		"10.0.0.1-10.0.0.0",
		"1.2.3",
		"01.2.3.4",
		"10.0.0.1-",
		"-10.0.0.1",
		"",
		",",
		"a..b",
		"-bad-.example",
		"10.0.0.1/24/8",
	}
}

// checkSet verifies the structural invariants of a non-empty Set: ranges
// sorted, merged (neither overlapping nor adjacent), lengths that add up to
// Len, and At and Index inverse of each other on a sample of addresses that
// includes every range's ends.
func checkSet(t *testing.T, s *Set) {
	t.Helper()
	if s.Len() == 0 {
		t.Fatal("successful parse gave an empty set")
	}
	ranges := s.Ranges()
	var total uint64
	for k, r := range ranges {
		if r.First.BitLen() != r.Last.BitLen() || r.First.Is4In6() || r.Last.Is4In6() || r.Last.Less(r.First) {
			t.Fatalf("range %d: %v > %v", k, r.First, r.Last)
		}
		if k > 0 {
			prev := ranges[k-1]
			if next := prev.Last.Next(); !prev.Last.Less(r.First) || next.IsValid() && next.BitLen() == r.First.BitLen() && !next.Less(r.First) {
				t.Fatalf("ranges %d and %d overlap, touch or are unsorted: %+v %+v", k-1, k, prev, r)
			}
		}
		total += r.Len()
	}
	if total != s.Len() {
		t.Fatalf("ranges hold %d addresses, Len() = %d", total, s.Len())
	}
	// The ends of every range (at most 64 ranges) and 64 evenly spread indices.
	var idx []uint64
	var start uint64
	for k, r := range ranges {
		if k == 64 {
			break
		}
		idx = append(idx, start, start+r.Len()-1)
		start += r.Len()
	}
	for i := range uint64(64) {
		idx = append(idx, i*(s.Len()-1)/63)
	}
	for _, i := range idx {
		ip := s.At(i)
		got, ok := s.Index(ip)
		if !ok || got != i {
			t.Fatalf("Index(At(%d) = %v) = %d, %v", i, ip, got, ok)
		}
		if i > 0 && !s.At(i-1).Less(ip) {
			t.Fatalf("At(%d) = %v is not above At(%d) = %v", i, ip, i-1, s.At(i-1))
		}
	}
	// Just outside every range is outside the set.
	for _, r := range ranges {
		if below := r.First.Prev(); below.IsValid() && s.Contains(below) {
			t.Fatalf("%v, just below range %+v, is in the set", below, r)
		}
		if above := r.Last.Next(); above.IsValid() && s.Contains(above) {
			t.Fatalf("%v, just above range %+v, is in the set", above, r)
		}
	}
}

func FuzzParseTargets(f *testing.F) {
	for _, s := range targetSeeds() {
		f.Add(s)
	}
	errNoLookup := errors.New("fuzz: no name resolution")
	f.Fuzz(func(t *testing.T, line string) {
		specs := strings.Split(line, " ")
		lookup := func(host string) ([]netip.Addr, error) {
			// Only syntactic host names reach the resolver.
			if !isHostName(host) || strings.ContainsAny(host, ",/ ") {
				t.Fatalf("lookup called with %q", host)
			}
			return nil, errNoLookup
		}
		set, err := ParseTargets(specs, lookup)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v (%T) is not a *ParseError", err, err)
			}
			return
		}
		checkSet(t, &set)
		// An independent oracle: every token net/netip reads as an IPv4
		// address or prefix is in the set.
		for _, spec := range specs {
			for tok := range strings.SplitSeq(spec, ",") {
				tok = strings.TrimSpace(tok)
				if a, err := netip.ParseAddr(tok); err == nil && a.Is4() && !set.Contains(a) {
					t.Fatalf("%q parsed but %v is not in the set", line, a)
				}
				if p, err := netip.ParsePrefix(tok); err == nil && p.Addr().Is4() {
					first := p.Masked().Addr()
					last := uint32ToAddr(addrToUint32(first) | uint32(uint64(1)<<(32-p.Bits())-1))
					if !set.Contains(first) || !set.Contains(last) {
						t.Fatalf("%q parsed but prefix %v is not in the set", line, p)
					}
				}
			}
		}
	})
}

// checkPorts verifies that p is a non-empty, strictly ascending list of ports
// 1 to 65535 whose Index is the exact inverse of At over all 65536 numbers.
func checkPorts(t *testing.T, what string, p *Ports) {
	t.Helper()
	var inList [MaxPort + 1]int // position + 1
	for i := range p.Len() {
		port := p.At(i)
		if port == 0 {
			t.Fatalf("%s: port 0 at %d", what, i)
		}
		if i > 0 && p.At(i-1) >= port {
			t.Fatalf("%s: At(%d) = %d not above At(%d) = %d", what, i, port, i-1, p.At(i-1))
		}
		inList[port] = i + 1
	}
	for port := range MaxPort + 1 {
		i, ok := p.Index(uint16(port))
		if ok != (inList[port] != 0) || ok && i != inList[port]-1 {
			t.Fatalf("%s: Index(%d) = %d, %v; At says position %d", what, port, i, ok, inList[port]-1)
		}
	}
	if lo, hi := p.Range(); p.Len() > 0 && (lo != p.At(0) || hi != p.At(p.Len()-1)) {
		t.Fatalf("%s: Range() = %d-%d, list runs %d-%d", what, lo, hi, p.At(0), p.At(p.Len()-1))
	}
}

// plainPorts returns the tokens of spec that are plain decimal numbers, with
// any T:/U: prefix removed, and whether each followed a U: prefix (or none,
// when defaultUDP).
func plainPorts(spec string, defaultUDP bool) (ports []int, udp []bool) {
	isUDP := defaultUDP
	for tok := range strings.SplitSeq(spec, ",") {
		tok = strings.TrimSpace(tok)
		switch {
		case strings.HasPrefix(tok, "T:") || strings.HasPrefix(tok, "t:"):
			isUDP, tok = false, tok[2:]
		case strings.HasPrefix(tok, "U:") || strings.HasPrefix(tok, "u:"):
			isUDP, tok = true, tok[2:]
		}
		if isDecimal(tok) {
			if n, err := strconv.Atoi(tok); err == nil {
				ports, udp = append(ports, n), append(udp, isUDP)
			}
		}
	}
	return ports, udp
}

// portSeeds returns port specifications in every syntax ParsePorts knows, and
// near misses of each.
func portSeeds() []string {
	return []string{
		"22,80,1000-2000", "-", "-100", "60000-", "1-65535", "65535", "1",
		"0", "65536", "99999999999999999999", "80-22", ",", "22,,80", " 22 , 80 ",
		"1e3", "+5", "0x50", "-0", "5--6", "1-2-3", "22 80", "",
	}
}

func FuzzParsePorts(f *testing.F) {
	for _, s := range portSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		p, err := ParsePorts(spec)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v (%T) is not a *ParseError", err, err)
			}
			return
		}
		if p.Len() == 0 {
			t.Fatalf("ParsePorts(%q) succeeded with no ports", spec)
		}
		checkPorts(t, spec, &p)
		ports, _ := plainPorts(spec, false)
		for _, n := range ports {
			if n < 1 || n > MaxPort || !p.Contains(uint16(n)) {
				t.Fatalf("ParsePorts(%q) succeeded without port %d", spec, n)
			}
		}
	})
}

func FuzzParseProtoPorts(f *testing.F) {
	for _, s := range portSeeds() {
		f.Add(s, false)
		f.Add(s, true)
	}
	for _, s := range []string{"U:53,161,T:22,80", "T:22,U:53", "u:53,t:1-1024", "U:", "T:,U:53", "U:53,T:", "U:-", "T:0", "U:U:53", "T:22 ,U: 53"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, spec string, defaultUDP bool) {
		tcp, udp, err := ParseProtoPorts(spec, defaultUDP)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v (%T) is not a *ParseError", err, err)
			}
			return
		}
		if tcp.Len()+udp.Len() == 0 {
			t.Fatalf("ParseProtoPorts(%q, %v) succeeded with no ports", spec, defaultUDP)
		}
		checkPorts(t, "tcp "+spec, &tcp)
		checkPorts(t, "udp "+spec, &udp)
		ports, isUDP := plainPorts(spec, defaultUDP)
		for i, n := range ports {
			set := &tcp
			if isUDP[i] {
				set = &udp
			}
			if n < 1 || n > MaxPort || !set.Contains(uint16(n)) {
				t.Fatalf("ParseProtoPorts(%q, %v) succeeded without port %d (udp %v)", spec, defaultUDP, n, isUDP[i])
			}
		}
	})
}

func FuzzReadTargetFile(f *testing.F) {
	for _, s := range []string{
		"10.0.0.1\n10.0.0.0/24\n",
		"# comment only\n\n   \n",
		"10.0.0.1 10.0.0.2,10.0.0.3\t10.0.0.4\r\n",
		"host.example # trailing comment, 10.9.9.9\n#10.0.0.5\n",
		"no newline at end",
		",,, ,\t\v\f\r\n",
		"\x00\xff\n#\n#",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		specs, err := ReadTargetFile(bytes.NewReader(data))
		if err != nil {
			if len(data) <= maxLineBytes {
				t.Fatalf("ReadTargetFile failed on %d bytes: %v", len(data), err)
			}
			return
		}
		for i, s := range specs {
			if s == "" || strings.ContainsAny(s, " \t\r\n\v\f,#") {
				t.Fatalf("spec %d = %q", i, s)
			}
		}
		// The specs written one per line read back the same.
		again, err := ReadTargetFile(strings.NewReader(strings.Join(specs, "\n")))
		if err != nil || strings.Join(again, "\n") != strings.Join(specs, "\n") || len(again) != len(specs) {
			t.Fatalf("specs %q read back as %q, %v", specs, again, err)
		}
	})
}

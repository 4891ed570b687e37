package target

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// seq returns the ports lo..hi inclusive.
func seq(lo, hi int) []uint16 {
	var ps []uint16
	for p := lo; p <= hi; p++ {
		ps = append(ps, uint16(p))
	}
	return ps
}

func TestParsePorts(t *testing.T) {
	tests := []struct {
		spec string
		want []uint16
	}{
		{"80", []uint16{80}},
		{"1", []uint16{1}},
		{"65535", []uint16{65535}},
		{"22,80,443", []uint16{22, 80, 443}},
		{"443,22,80", []uint16{22, 80, 443}},
		{"80,80,80", []uint16{80}},
		{" 22 , 80 ", []uint16{22, 80}},
		{"1000-1003", []uint16{1000, 1001, 1002, 1003}},
		{"7-7", []uint16{7}},
		{"22,80,1000-1002", []uint16{22, 80, 1000, 1001, 1002}},
		{"1-5,3-8", seq(1, 8)},
		{"5-9,1-4", seq(1, 9)},
		{"10-12,11", []uint16{10, 11, 12}},
		{"-5", seq(1, 5)},
		{"65530-", seq(65530, 65535)},
		{"-", seq(1, 65535)},
		{"1-65535", seq(1, 65535)},
		{"-,80", seq(1, 65535)},
		{"0080", []uint16{80}},
	}
	for _, tt := range tests {
		p, err := ParsePorts(tt.spec)
		if err != nil {
			t.Errorf("ParsePorts(%q): %v", tt.spec, err)
			continue
		}
		if got := p.List(); !slices.Equal(got, tt.want) {
			t.Errorf("ParsePorts(%q) = %v, want %v", tt.spec, got, tt.want)
		}
	}
}

func TestParsePortsErrors(t *testing.T) {
	tests := []struct {
		spec      string
		wantToken string
		wantMsg   string
	}{
		{"", "", "no ports"},
		{"   ", "   ", "no ports"},
		{"0", "0", "port 0"},
		{"0-10", "0-10", "port 0"},
		{"65536", "65536", "above 65535"},
		{"1-65536", "1-65536", "above 65535"},
		{"99999999999999999999999", "99999999999999999999999", "above 65535"},
		{"100-50", "100-50", "below its start"},
		{"22,,80", "22,,80", `empty entry after "22" (two commas in a row)`},
		{"22,", "22,", `empty entry at the end of the list, after "22"`},
		{",22", ",22", "empty entry at the start"},
		{"22, ,80", "22, ,80", `empty entry after "22"`},
		{"http", "http", "not a port number"},
		{"22,8o", "8o", "not a port number"},
		{"+80", "+80", "not a port number"},
		{"1-2-3", "1-2-3", "not a port number"},
		{"1--3", "1--3", "not a port number"},
		{"80 81", "80 81", "not a port number"},
		{"0x50", "0x50", "not a port number"},
		{"1_000", "1_000", "not a port number"},
	}
	for _, tt := range tests {
		_, err := ParsePorts(tt.spec)
		if err == nil {
			t.Errorf("ParsePorts(%q) succeeded, want error", tt.spec)
			continue
		}
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Errorf("ParsePorts(%q): error %v is not a *ParseError", tt.spec, err)
			continue
		}
		if pe.Kind != KindPort || pe.Token != tt.wantToken {
			t.Errorf("ParsePorts(%q): ParseError{Kind: %q, Token: %q}, want {%q, %q}", tt.spec, pe.Kind, pe.Token, KindPort, tt.wantToken)
		}
		if msg := err.Error(); !strings.Contains(msg, tt.wantMsg) || !strings.HasPrefix(msg, `invalid port "`+tt.wantToken+`": `) {
			t.Errorf("ParsePorts(%q): Error() = %q, want it to name %q and contain %q", tt.spec, msg, tt.wantToken, tt.wantMsg)
		}
	}
}

func TestPortsAtIndex(t *testing.T) {
	p, err := ParsePorts("443,22,8000-8002,65535,1")
	if err != nil {
		t.Fatal(err)
	}
	want := []uint16{1, 22, 443, 8000, 8001, 8002, 65535}
	if p.Len() != len(want) {
		t.Fatalf("Len() = %d, want %d", p.Len(), len(want))
	}
	for i, port := range want {
		if got := p.At(i); got != port {
			t.Errorf("At(%d) = %d, want %d", i, got, port)
		}
		if j, ok := p.Index(port); !ok || j != i {
			t.Errorf("Index(%d) = %d, %v; want %d, true", port, j, ok, i)
		}
	}
	for _, port := range []uint16{0, 2, 21, 23, 444, 7999, 8003, 65534} {
		if j, ok := p.Index(port); ok || p.Contains(port) {
			t.Errorf("Index(%d) = %d, true; want absent", port, j)
		}
	}
	if lo, hi := p.Range(); lo != 1 || hi != 65535 {
		t.Errorf("Range() = %d, %d; want 1, 65535", lo, hi)
	}
}

func TestPortsAllIndex(t *testing.T) {
	p, err := ParsePorts("-")
	if err != nil {
		t.Fatal(err)
	}
	for port := 1; port <= MaxPort; port++ {
		if i, ok := p.Index(uint16(port)); !ok || i != port-1 || p.At(i) != uint16(port) {
			t.Fatalf("Index(%d) = %d, %v", port, i, ok)
		}
	}
}

func TestPortsZeroValue(t *testing.T) {
	var p Ports
	if p.Len() != 0 || p.Contains(80) {
		t.Fatal("zero Ports is not empty")
	}
	if lo, hi := p.Range(); lo != 0 || hi != 0 {
		t.Fatalf("Range() = %d, %d", lo, hi)
	}
}

func TestNewPorts(t *testing.T) {
	p, err := NewPorts([]uint16{443, 80, 443})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.List(); !slices.Equal(got, []uint16{80, 443}) {
		t.Fatalf("List() = %v", got)
	}
	if _, err := NewPorts([]uint16{0}); err == nil {
		t.Fatal("NewPorts accepted port 0")
	}
}

func TestPortsIndexAllocs(t *testing.T) {
	p, err := ParsePorts("22,80,443")
	if err != nil {
		t.Fatal(err)
	}
	var sink int
	if allocs := testing.AllocsPerRun(100, func() {
		i, _ := p.Index(443)
		sink += i + int(p.At(1))
	}); allocs != 0 {
		t.Fatalf("Index+At allocate %v times per call", allocs)
	}
	_ = sink
}

func TestParseProtoPorts(t *testing.T) {
	cases := []struct {
		spec       string
		defaultUDP bool
		tcp, udp   []uint16
	}{
		{"22,80", false, []uint16{22, 80}, nil},
		{"22,80", true, nil, []uint16{22, 80}},
		{"U:53,161,T:22,80", false, []uint16{22, 80}, []uint16{53, 161}},
		{"22,U:53-55", false, []uint16{22}, []uint16{53, 54, 55}},
		{"T:22,u:53,t:80", true, []uint16{22, 80}, []uint16{53}},
		{"U:53,T:53", false, []uint16{53}, []uint16{53}},
	}
	for _, c := range cases {
		tcp, udp, err := ParseProtoPorts(c.spec, c.defaultUDP)
		if err != nil {
			t.Errorf("%q: %v", c.spec, err)
			continue
		}
		if fmt.Sprint(tcp.List()) != fmt.Sprint(seqOrNil(c.tcp)) || fmt.Sprint(udp.List()) != fmt.Sprint(seqOrNil(c.udp)) {
			t.Errorf("%q: tcp %v udp %v, want %v %v", c.spec, tcp.List(), udp.List(), c.tcp, c.udp)
		}
	}
	for _, bad := range []string{"", "U:", "T:0", "U:53,X:1", "U:70000"} {
		if _, _, err := ParseProtoPorts(bad, false); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func seqOrNil(ps []uint16) []uint16 {
	if ps == nil {
		return []uint16{}
	}
	return ps
}

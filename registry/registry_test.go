package registry_test

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/fastscan/fastscan/registry"
)

func TestClassOf(t *testing.T) {
	for _, tc := range []struct {
		port uint16
		want registry.Class
	}{
		{0, registry.System}, {22, registry.System}, {1023, registry.System},
		{1024, registry.User}, {5432, registry.User}, {49151, registry.User},
		{49152, registry.Dynamic}, {65535, registry.Dynamic},
	} {
		if got := registry.ClassOf(tc.port); got != tc.want {
			t.Errorf("ClassOf(%d) = %v, want %v", tc.port, got, tc.want)
		}
	}
}

func TestClassPortsAgreeWithClassOf(t *testing.T) {
	next := 0
	for _, c := range registry.Classes() {
		lo, hi := c.Ports()
		if int(lo) != next {
			t.Fatalf("%v starts at %d, want %d", c, lo, next)
		}
		for _, port := range []uint16{lo, hi} {
			if got := registry.ClassOf(port); got != c {
				t.Errorf("ClassOf(%d) = %v, want %v", port, got, c)
			}
		}
		next = int(hi) + 1
	}
	if next != 1<<16 {
		t.Errorf("classes end at %d, want 65535", next-1)
	}
}

func TestParseClass(t *testing.T) {
	for in, want := range map[string]registry.Class{
		"system": registry.System, "Well-Known": registry.System,
		"user": registry.User, "REGISTERED": registry.User,
		"dynamic": registry.Dynamic, "private": registry.Dynamic, "ephemeral": registry.Dynamic,
	} {
		got, err := registry.ParseClass(in)
		if err != nil || got != want {
			t.Errorf("ParseClass(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, c := range registry.Classes() {
		if got, err := registry.ParseClass(c.String()); err != nil || got != c {
			t.Errorf("ParseClass(%q) = %v, %v", c, got, err)
		}
	}
	if _, err := registry.ParseClass("reserved"); err == nil || !strings.Contains(err.Error(), `"reserved"`) {
		t.Errorf("ParseClass(reserved) error = %v, want one naming the input", err)
	}
	if got := registry.Class(0).String(); got != "Class(0)" {
		t.Errorf("Class(0).String() = %q", got)
	}
}

func TestParseProto(t *testing.T) {
	for _, p := range registry.Protos() {
		for _, s := range []string{p.String(), strings.ToUpper(p.String())} {
			if got, err := registry.ParseProto(s); err != nil || got != p {
				t.Errorf("ParseProto(%q) = %v, %v; want %v", s, got, err, p)
			}
		}
	}
	if got := []string{registry.TCP.String(), registry.UDP.String(), registry.SCTP.String()}; !slices.Equal(got, []string{"tcp", "udp", "sctp"}) {
		t.Errorf("protocol names = %v", got)
	}
	for _, s := range []string{"", "dccp", "tcp6", "icmp"} {
		if _, err := registry.ParseProto(s); err == nil {
			t.Errorf("ParseProto(%q) succeeded", s)
		}
	}
	if registry.Proto(0).Valid() || registry.Proto(4).Valid() || !registry.SCTP.Valid() {
		t.Error("Valid disagrees with the defined protocols")
	}
}

func TestDefaultSpotChecks(t *testing.T) {
	r := registry.Default()
	for _, tc := range []struct {
		port  uint16
		proto registry.Proto
		want  string
	}{
		{22, registry.TCP, "ssh"},
		{53, registry.UDP, "domain"},
		{80, registry.TCP, "http"},
		{443, registry.TCP, "https"},
		{443, registry.UDP, "https"},
		{443, registry.SCTP, "https"},
		{3306, registry.TCP, "mysql"},
		{3389, registry.TCP, "ms-wbt-server"},
		{5432, registry.TCP, "postgresql"},
		{6000, registry.TCP, "x11"},
		{6063, registry.UDP, "x11"},
		{27017, registry.TCP, "mongodb"},
		{2049, registry.TCP, "shilp"},       // IANA lists shilp before nfs
		{6064, registry.TCP, "ndl-ahp-svc"}, // just past the x11 range
		{49152, registry.TCP, ""},
		{0, registry.TCP, ""},
		{22, registry.Proto(0), ""},
		{22, registry.Proto(200), ""},
	} {
		if got := r.Name(tc.port, tc.proto); got != tc.want {
			t.Errorf("Name(%d, %v) = %q, want %q", tc.port, tc.proto, got, tc.want)
		}
	}
	if s, ok := r.First(22, registry.TCP); !ok || s.Name != "ssh" || s.Port != 22 || s.Proto != registry.TCP || s.Description == "" || s.Class() != registry.System {
		t.Errorf("First(22, tcp) = %+v, %v", s, ok)
	}
	if s, ok := r.First(49152, registry.TCP); ok {
		t.Errorf("First(49152, tcp) = %+v, want none", s)
	}
	nfs := r.Lookup(2049, registry.TCP)
	if len(nfs) != 2 || nfs[0].Name != "shilp" || nfs[1].Name != "nfs" {
		t.Errorf("Lookup(2049, tcp) = %v, want shilp then nfs", nfs)
	}
}

func TestByNameIgnoresCaseAndSortsByPortThenProto(t *testing.T) {
	r := registry.Default()
	got := r.ByName("HTTPS")
	want := []string{"https 443/tcp", "https 443/udp", "https 443/sctp"}
	if len(got) != len(want) {
		t.Fatalf("ByName(HTTPS) = %v, want %v", got, want)
	}
	for i := range got {
		if got[i].String() != want[i] {
			t.Errorf("ByName(HTTPS)[%d] = %v, want %s", i, got[i], want[i])
		}
	}
	x11 := r.ByName("x11")
	if len(x11) != 128 || x11[0].String() != "x11 6000/tcp" || x11[1].String() != "x11 6000/udp" || x11[127].String() != "x11 6063/udp" {
		t.Errorf("ByName(x11): %d services, first %v, last %v", len(x11), x11[0], x11[len(x11)-1])
	}
	if got := r.ByName("no-such-service"); got != nil {
		t.Errorf("ByName(no-such-service) = %v, want nil", got)
	}
	if got := r.ByName("ethernet-ip-2"); len(got) == 0 || got[0].Name != "EtherNet-IP-2" {
		t.Errorf("ByName(ethernet-ip-2) = %v, want the mixed-case name", got)
	}
}

func TestLookupAndRangeReturnCopies(t *testing.T) {
	r := registry.Default()
	s := r.Lookup(22, registry.TCP)
	s[0].Name = "changed"
	if got := r.Name(22, registry.TCP); got != "ssh" {
		t.Fatalf("changing Lookup's result changed the registry: Name(22) = %q", got)
	}
	rs := r.Range(6000, 6000, registry.TCP)
	rs[0].Name = "changed"
	if got := r.Name(6000, registry.TCP); got != "x11" {
		t.Fatalf("changing Range's result changed the registry: Name(6000) = %q", got)
	}
	b := r.ByName("ssh")
	b[0].Name = "changed"
	if got := r.ByName("ssh")[0].Name; got != "ssh" {
		t.Fatalf("changing ByName's result changed the registry: %q", got)
	}
}

func TestRange(t *testing.T) {
	r := registry.Default()
	got := r.Range(6000, 6010, registry.UDP)
	if len(got) != 11 {
		t.Fatalf("Range(6000, 6010, udp) has %d services, want 11", len(got))
	}
	for i, s := range got {
		if s.Port != uint16(6000+i) || s.Proto != registry.UDP || s.Name != "x11" {
			t.Errorf("Range(6000, 6010, udp)[%d] = %v", i, s)
		}
	}
	if got := r.Range(10, 5, registry.TCP); got != nil {
		t.Errorf("Range(10, 5) = %v, want nil", got)
	}
	if got := r.Range(22, 22, registry.Proto(9)); got != nil {
		t.Errorf("Range with an invalid protocol = %v, want nil", got)
	}
	all := r.Range(0, 65535, registry.TCP)
	if len(all) < 5000 {
		t.Errorf("Range over every TCP port has %d services, want the whole table", len(all))
	}
	if !slices.IsSortedFunc(all, func(a, b registry.Service) int { return int(a.Port) - int(b.Port) }) {
		t.Error("Range is not in port order")
	}
	total := 0
	for _, p := range registry.Protos() {
		total += len(r.Range(0, 65535, p))
	}
	if total != r.Len() {
		t.Errorf("Ranges over all ports hold %d services, Len = %d", total, r.Len())
	}
}

func TestHotLookupsDoNotAllocate(t *testing.T) {
	r := registry.Default()
	var sink int
	for name, fn := range map[string]func(){
		"Name":         func() { sink += len(r.Name(443, registry.TCP)) },
		"Name unknown": func() { sink += len(r.Name(49152, registry.UDP)) },
		"First":        func() { s, _ := r.First(22, registry.TCP); sink += len(s.Name) },
		"ClassOf":      func() { sink += len(registry.ClassOf(8080).String()) },
		"Proto.String": func() { sink += len(registry.SCTP.String()) },
	} {
		if n := testing.AllocsPerRun(100, fn); n != 0 {
			t.Errorf("%s allocates %v times per call", name, n)
		}
	}
	_ = sink
}

func TestTopPorts(t *testing.T) {
	got, err := registry.TopPorts(registry.TCP, 3)
	if err != nil || !slices.Equal(got, []uint16{80, 443, 22}) {
		t.Errorf("TopPorts(tcp, 3) = %v, %v; want [80 443 22]", got, err)
	}
	got, err = registry.TopPorts(registry.UDP, 2)
	if err != nil || !slices.Equal(got, []uint16{53, 123}) {
		t.Errorf("TopPorts(udp, 2) = %v, %v; want [53 123]", got, err)
	}
	for _, p := range []registry.Proto{registry.TCP, registry.UDP} {
		n := registry.TopPortsLen(p)
		all, err := registry.TopPorts(p, n)
		if err != nil || len(all) != n {
			t.Fatalf("TopPorts(%v, %d) = %d ports, %v", p, n, len(all), err)
		}
		seen := map[uint16]bool{}
		for _, port := range all {
			if port == 0 || seen[port] {
				t.Errorf("%v list: port %d is 0 or repeated", p, port)
			}
			seen[port] = true
		}
		for _, bad := range []int{0, -1, n + 1} {
			_, err := registry.TopPorts(p, bad)
			if err == nil || !strings.Contains(err.Error(), strconv.Itoa(bad)) {
				t.Errorf("TopPorts(%v, %d) error = %v, want one naming %d", p, bad, err, bad)
			}
		}
	}
	if n := registry.TopPortsLen(registry.TCP); n < 150 {
		t.Errorf("TCP list has %d ports, want at least 150", n)
	}
	if _, err := registry.TopPorts(registry.SCTP, 1); err == nil {
		t.Error("TopPorts(sctp) succeeded without a list")
	}
	a, _ := registry.TopPorts(registry.TCP, 1)
	a[0] = 1
	if b, _ := registry.TopPorts(registry.TCP, 1); b[0] != 80 {
		t.Error("changing TopPorts' result changed the shipped list")
	}
}

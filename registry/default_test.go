package registry_test

import (
	"slices"
	"testing"

	"github.com/fastscan/fastscan/registry"
	"github.com/fastscan/fastscan/registry/internal/ianatest"
)

// TestDefaultIsIANAsRegistry compares the built-in table with IANA's file,
// read independently: every port over every protocol has exactly the names
// the file gives it, in the file's order, so Name is the first one listed.
func TestDefaultIsIANAsRegistry(t *testing.T) {
	truth := ianatest.Names(t, ianatest.Path(t))
	def := registry.Default()
	total, bad := 0, 0
	for _, p := range registry.Protos() {
		for port := 0; port <= 65535; port++ {
			want := truth[ianatest.Key{Port: port, Proto: p.String()}]
			var got []string
			for _, s := range def.Lookup(uint16(port), p) {
				got = append(got, s.Name)
			}
			total += len(got)
			if !slices.Equal(got, want) && bad < 20 {
				bad++
				t.Errorf("%d/%v: built-in table %q, IANA %q", port, p, got, want)
			}
		}
	}
	if total != def.Len() || total < 10000 {
		t.Errorf("the built-in table holds %d assignments (%d by port), want IANA's whole registry", def.Len(), total)
	}
}

// TestSeedPortsNameTheirIANAService checks the ports of the seeds' tables (the
// issue's list): each names, with the built-in table, the service IANA lists
// first for it, over TCP and UDP, as the file says (not a hard-coded name).
func TestSeedPortsNameTheirIANAService(t *testing.T) {
	truth := ianatest.Names(t, ianatest.Path(t))
	def := registry.Default()
	ports := []uint16{20, 21, 22, 23, 25, 37, 43, 53, 67, 68, 80, 109, 110, 119, 123, 137, 138, 139, 143, 220, 311,
		443, 445, 548, 587, 626, 660, 992, 993, 995, 1025, 1026, 1080, 1433, 1434, 1527, 1723, 3306, 5190, 5432,
		6000, 6666, 6667, 8080}
	for _, port := range ports {
		named := false
		for _, p := range []registry.Proto{registry.TCP, registry.UDP} {
			want := truth[ianatest.Key{Port: int(port), Proto: p.String()}]
			if len(want) == 0 {
				if got := def.Name(port, p); got != "" {
					t.Errorf("Name(%d, %v) = %q, IANA assigns no name", port, p, got)
				}
				continue
			}
			named = true
			if got := def.Name(port, p); got != want[0] {
				t.Errorf("Name(%d, %v) = %q, IANA lists %q first (of %q)", port, p, got, want[0], want)
			}
		}
		if !named {
			t.Errorf("IANA's file names no service on %d over tcp or udp", port)
		}
	}
}

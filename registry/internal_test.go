package registry

import (
	"strings"
	"testing"
)

func TestParseTopPorts(t *testing.T) {
	got, err := parseTopPorts("# header\n80   # http\n\n  443\n22#ssh\n")
	if err != nil || len(got) != 3 || got[0] != 80 || got[1] != 443 || got[2] != 22 {
		t.Fatalf("parseTopPorts = %v, %v", got, err)
	}
	for _, tc := range []struct{ in, msg string }{
		{"80\n443\n80\n", "line 3: port 80 already ranked on line 1"},
		{"0\n", "line 1: invalid port \"0\": port 0 is reserved"},
		{"22\n65536\n", "line 2: invalid port \"65536\""},
		{"22 23\n", "line 1: invalid port \"22 23\""},
		{"# nothing\n", "no ports"},
	} {
		if _, err := parseTopPorts(tc.in); err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("parseTopPorts(%q) error = %v, want %q", tc.in, err, tc.msg)
		}
	}
}

func TestShippedListsParse(t *testing.T) {
	if _, err := topPortLists(); err != nil {
		t.Fatal(err)
	}
}

func TestEveryDescriptionDescribesAService(t *testing.T) {
	r := Default()
	for name := range descriptions() {
		if name != strings.ToLower(name) {
			t.Errorf("description key %q is not lower case", name)
		}
		if len(r.ByName(name)) == 0 {
			t.Errorf("description for %q, a name the embedded table does not have", name)
		}
	}
}

func TestSupplementAddsOnlyLaterNames(t *testing.T) {
	// Every supplemented assignment is in the table, and none of them
	// displaced the first name gopacket gives a port.
	r := Default()
	for _, a := range supplement() {
		for _, p := range a.protos {
			found := false
			for _, s := range r.Lookup(a.lo, p) {
				found = found || s.Name == a.name
			}
			if !found {
				t.Errorf("%s %d/%v missing", a.name, a.lo, p)
			}
		}
	}
	if got := r.Name(113, TCP); got != "ident" {
		t.Errorf("Name(113, tcp) = %q, want gopacket's ident before the supplemented auth", got)
	}
}

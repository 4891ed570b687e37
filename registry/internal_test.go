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

func TestBuiltInTableParses(t *testing.T) {
	r, err := parseTable(servicesTable, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Len() < 10000 {
		t.Errorf("the built-in table holds %d assignments, want IANA's whole registry", r.Len())
	}
}

func TestParseTable(t *testing.T) {
	table := "# comment\nb\t7\ttcp\nA-Z\t7\tudp,tcp\nx 1\t10-12\tsctp\n"
	r, err := parseTable(table, map[string]string{"a-z": "letters"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range Protos() {
		for _, s := range r.Range(0, 65535, p) {
			got = append(got, s.String()+" "+s.Description)
		}
	}
	want := []string{"b 7/tcp ", "A-Z 7/tcp letters", "A-Z 7/udp letters", "x 1 10/sctp ", "x 1 11/sctp ", "x 1 12/sctp "}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("parsed %q\nwant   %q", got, want)
	}
	for _, tc := range []struct{ in, msg string }{
		{"a\t1\n", "line 1"},
		{"#\n\ta\t1\ttcp\n", "line 2"},
		{"a\t70000\ttcp\n", `line 1: invalid port "70000"`},
		{"a\t9-8\ttcp\n", `line 1: invalid port range "9-8"`},
		{"a\t9\ttcp,dccp\n", `line 1: unknown protocol "dccp"`},
	} {
		if _, err := parseTable(tc.in, nil); err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("parseTable(%q) error = %v, want %q", tc.in, err, tc.msg)
		}
	}
}

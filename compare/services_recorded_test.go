package compare

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// A real nmap 7.93 -sV -oX of four addresses of the lab's AnyIP nginx
// (fastlab svbench --count 4 --keep): product and version as nmap matched them.
func TestParseNmapServicesRecorded(t *testing.T) {
	f, err := os.Open("testdata/nmap-sv.xml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := ParseNmapServices(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 {
		t.Fatalf("%d ports, want 4: %v", len(got), got)
	}
	for _, a := range []string{"198.18.128.0:80", "198.18.128.1:80", "198.18.128.2:80", "198.18.128.3:80"} {
		s, ok := got[ap(a)]
		if !ok || s.Name != "http" || s.Product != "nginx" || s.Version == "" {
			t.Errorf("%s: %+v %v", a, s, ok)
		}
	}
}

// A run stopped midway leaves nmap's document without its end: the hosts
// written until then are returned with ErrTruncated; a document that is not
// nmap's is an error.
func TestParseNmapServicesTruncated(t *testing.T) {
	b, err := os.ReadFile("testdata/nmap-sv.xml")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	third := strings.Index(s, `<address addr="198.18.128.2"`)
	for _, cut := range []int{strings.Index(s, "<runstats>"), third, third + 40} {
		got, err := ParseNmapServices(strings.NewReader(s[:cut]))
		if !errors.Is(err, ErrTruncated) {
			t.Fatalf("cut at %d: %v", cut, err)
		}
		want := 4
		if cut < strings.Index(s, "<runstats>") {
			want = 2
		}
		if len(got) != want {
			t.Errorf("cut at %d: %d ports, want %d: %v", cut, len(got), want, got)
		}
	}
	for _, bad := range []string{"", "<html></html>", "<nmaprun><host><address addr=\"x\" addrtype=\"ipv4\"/><ports><port protocol=\"tcp\" portid=\"80\"><state state=\"open\"/></port></ports></host></nmaprun>"} {
		if _, err := ParseNmapServices(strings.NewReader(bad)); err == nil || errors.Is(err, ErrTruncated) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

package compare

import (
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func parseFile(t *testing.T, name string, parse func(f *os.File) (Findings, error)) []netip.AddrPort {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := parse(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return got.Sorted()
}

// The recorded samples are real outputs of each tool scanning the lab
// (masscan 1.3.2, zmap 2.1.1, nmap 7.93, fastscan), trimmed.
func TestParseRecordedOutputs(t *testing.T) {
	host := []netip.AddrPort{ap("198.18.1.10:22"), ap("198.18.1.10:80"), ap("198.18.1.10:8080"), ap("198.18.1.10:50000"), ap("198.18.1.10:65535")}
	cases := []struct {
		file  string
		parse func(f *os.File) (Findings, error)
		want  []netip.AddrPort
	}{
		{"fastscan-host.jsonl", func(f *os.File) (Findings, error) { return ParseFastscanJSONL(f) }, host},
		{"nmap-host.xml", func(f *os.File) (Findings, error) { return ParseNmapXML(f) }, host},
		// masscan missed 80 and 8080 in this run.
		{"masscan-host.lst", func(f *os.File) (Findings, error) { return ParseMasscanList(f) },
			[]netip.AddrPort{ap("198.18.1.10:22"), ap("198.18.1.10:50000"), ap("198.18.1.10:65535")}},
		// A repeated reply (repeat 1) is one finding.
		{"zmap-routed.csv", func(f *os.File) (Findings, error) { return ParseZmapCSV(f) },
			[]netip.AddrPort{ap("198.19.1.10:80"), ap("198.19.65.215:80"), ap("198.19.68.78:80"), ap("198.19.78.57:80")}},
	}
	for _, c := range cases {
		if got := parseFile(t, c.file, c.parse); !slices.Equal(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.file, got, c.want)
		}
	}
}

func TestParsersSkipWhatIsNotOpenAndRefuseGarbage(t *testing.T) {
	f, err := ParseFastscanJSONL(strings.NewReader(`{"ip":"10.0.0.1","port":22,"proto":"tcp","state":"closed"}` + "\n" +
		`{"ip":"10.0.0.1","port":53,"proto":"udp","state":"open"}` + "\n"))
	if err != nil || len(f) != 0 {
		t.Errorf("fastscan closed/udp: %v %v", f, err)
	}
	if _, err := ParseFastscanJSONL(strings.NewReader("not json\n")); err == nil {
		t.Error("fastscan: garbage accepted")
	}
	f, err = ParseMasscanList(strings.NewReader("#masscan\nclosed tcp 22 10.0.0.1 1\nopen tcp 80 10.0.0.1 1\n# end\n"))
	if err != nil || len(f) != 1 || !f[ap("10.0.0.1:80")] {
		t.Errorf("masscan: %v %v", f, err)
	}
	for _, bad := range []string{"open tcp 80\n", "open tcp 99999 10.0.0.1 1\n", "open tcp 80 10.0.0.300 1\n"} {
		if _, err := ParseMasscanList(strings.NewReader(bad)); err == nil {
			t.Errorf("masscan %q accepted", bad)
		}
	}
	f, err = ParseZmapCSV(strings.NewReader("saddr,sport,classification,success\n10.0.0.1,22,rst,0\n10.0.0.2,22,synack,1\n"))
	if err != nil || len(f) != 1 || !f[ap("10.0.0.2:22")] {
		t.Errorf("zmap: %v %v", f, err)
	}
	if f, err := ParseZmapCSV(strings.NewReader("")); err != nil || len(f) != 0 {
		t.Errorf("zmap empty: %v %v", f, err)
	}
	if _, err := ParseZmapCSV(strings.NewReader("saddr\n10.0.0.1\n")); err == nil {
		t.Error("zmap without sport accepted")
	}
	f, err = ParseNmapXML(strings.NewReader(`<nmaprun><host><address addr="10.0.0.1" addrtype="ipv4"/><address addr="02:00:00:00:00:01" addrtype="mac"/>` +
		`<ports><port protocol="tcp" portid="22"><state state="filtered"/></port><port protocol="tcp" portid="443"><state state="open"/></port></ports></host></nmaprun>`))
	if err != nil || len(f) != 1 || !f[ap("10.0.0.1:443")] {
		t.Errorf("nmap: %v %v", f, err)
	}
	if _, err := ParseNmapXML(strings.NewReader("<nmaprun><host>")); err == nil {
		t.Error("nmap: truncated XML accepted")
	}
}

func TestScore(t *testing.T) {
	want := []netip.AddrPort{ap("10.0.0.1:22"), ap("10.0.0.1:80"), ap("10.0.0.2:443")}
	found := Findings{ap("10.0.0.1:22"): true, ap("10.0.0.9:22"): true}
	if m, e := Score(found, want); m != 2 || e != 1 {
		t.Errorf("missed %d extra %d, want 2 1", m, e)
	}
}

func TestRender(t *testing.T) {
	cells := []Cell{
		{Workload: "host", Tool: "fastscan", Runs: []Run{{Wall: time.Second, MaxRSSKiB: 2048, CPU: CPUTimes{User: time.Second, Kernel: 4 * time.Second}}, {Wall: 3 * time.Second}, {Wall: 2 * time.Second, CPU: CPUTimes{User: 500 * time.Millisecond, Kernel: 3 * time.Second}}}},
		{Workload: "host", Tool: "masscan", Note: "a|b", Runs: []Run{{Wall: 4 * time.Second, Missed: 1}, {Wall: 6 * time.Second, Missed: 3}, {Failed: "timed out after 1m0s"}}},
		{Workload: "host", Tool: "zmap", NA: "one port per run"},
	}
	var b strings.Builder
	if err := Render(&b, "fastscan", cells); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, w := range []string{
		"| host | fastscan | 2.00 s | 1.00x | 0 | 0 | 2.0 MiB | 0.50 s | 3.00 s | 3/3 |  |",
		"| host | masscan | 5.00 s | 2.50x | 1-3 | 0 | 0.0 MiB | 0.00 s | 0.00 s | 2/3 | a\\|b; timed out after 1m0s |",
		"| host | zmap | n/a | n/a | n/a | n/a | n/a | n/a | n/a | 0 | one port per run |",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("table lacks %q:\n%s", w, out)
		}
	}
}

func TestParseProcStat(t *testing.T) {
	// The first lines of a real /proc/stat of this project's CI machine.
	const stat = `cpu  1729568 12 550412 1257988 30 1000 481466 32785 0 0
cpu0 864000 6 275000 629000 15 500 240000 16000 0 0
intr 123
`
	got, err := ParseProcStat(strings.NewReader(stat))
	if err != nil {
		t.Fatal(err)
	}
	tick := 10 * time.Millisecond
	want := CPUTimes{User: (1729568 + 12) * tick, Kernel: (550412 + 1000 + 481466) * tick, Idle: (1257988 + 30) * tick, Steal: 32785 * tick}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if d := want.Sub(CPUTimes{User: tick, Kernel: 2 * tick}); d.User != want.User-tick || d.Kernel != want.Kernel-2*tick {
		t.Errorf("Sub: %+v", d)
	}
	for _, bad := range []string{"", "cpu 1 2 3\n", "cpu 1 2 x 4 5 6 7 8\n", "cpu0 1 2 3 4 5 6 7 8\n"} {
		if _, err := ParseProcStat(strings.NewReader(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	f, err := os.Open("/proc/stat")
	if err != nil {
		t.Skipf("no /proc/stat: %v", err)
	}
	defer f.Close()
	if live, err := ParseProcStat(f); err != nil || live.User+live.Kernel+live.Idle == 0 {
		t.Errorf("this machine's /proc/stat: %+v, %v", live, err)
	}
}

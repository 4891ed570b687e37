package compare

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestParseFastscanServices(t *testing.T) {
	in := `{"schema_version":2,"record":"scan","scan_id":"3f","shard":0,"shards":2,"fastscan_version":"0.1.0","start":"2026-11-22T11:00:00Z"}
{"schema_version":2,"ip":"198.19.0.5","port":80,"proto":"tcp","state":"open","reason":"syn-ack","ttl":64,"service":"http","service_method":"probed","port_class":"system","product":"nginx","version":"1.22.1","timestamp":"2026-11-22T11:00:00.123456789Z"}
{"schema_version":2,"ip":"198.19.0.6","port":80,"proto":"tcp","state":"open","reason":"syn-ack","ttl":64,"service":"http","service_method":"table","port_class":"system","timestamp":"2026-11-22T11:00:00.123456789Z"}
{"schema_version":2,"ip":"198.19.0.7","port":80,"proto":"tcp","state":"closed","reason":"rst","ttl":64,"service":"http","service_method":"table","port_class":"system","timestamp":"2026-11-22T11:00:00.123456789Z"}
`
	got, err := ParseFastscanServices(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := Services{
		ap("198.19.0.5:80"): {Name: "http", Product: "nginx", Version: "1.22.1"},
		ap("198.19.0.6:80"): {Name: "http"},
	}
	if len(got) != len(want) || got[ap("198.19.0.5:80")] != want[ap("198.19.0.5:80")] || got[ap("198.19.0.6:80")] != want[ap("198.19.0.6:80")] {
		t.Errorf("got %v, want %v", got, want)
	}
	if _, err := ParseFastscanServices(strings.NewReader(`{"ip":"x","port":80,"proto":"tcp","state":"open"}`)); err == nil {
		t.Error("a bad address was accepted")
	}
}

func TestScoreServices(t *testing.T) {
	want := Service{Name: "http", Product: "nginx", Version: "1.22.1"}
	wanted := []netip.AddrPort{ap("198.18.128.0:80"), ap("198.18.128.1:80"), ap("198.18.128.2:80"), ap("198.18.128.2:80")}
	got := Services{
		ap("198.18.128.0:80"): want,
		ap("198.18.128.1:80"): {Name: "http", Product: "nginx"},
		ap("198.18.129.0:80"): want,
	}
	sc := ScoreServices(got, wanted, want)
	if sc.Right != 1 || sc.Wrong != 1 || sc.Missing != 1 || sc.Extra != 1 || !strings.HasPrefix(sc.Example, "198.18.128.1:80: got") {
		t.Errorf("%+v", sc)
	}
}

// Every row of the table has the header's cells; min and median are of the
// completed runs.
func TestRenderID(t *testing.T) {
	ok := func(wall time.Duration) IDRun {
		return IDRun{Wall: wall, MaxRSSKiB: 2048, ToolCPU: time.Second, Score: IDScore{Right: 10}}
	}
	cells := []IDCell{
		{Tool: "fastscan", Runs: []IDRun{ok(3 * time.Second), ok(time.Second), ok(2 * time.Second)}},
		{Tool: "nmap", Note: "-T4", Runs: []IDRun{ok(10 * time.Second), {Failed: "timed out after 1m0s"}}},
		{Tool: "svcid", NA: "not built | here"},
		{Tool: "other", Runs: []IDRun{{Failed: "exit status 1"}}},
	}
	var b bytes.Buffer
	if err := RenderID(&b, "nmap", cells); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2+len(cells) {
		t.Fatalf("%d lines:\n%s", len(lines), b.String())
	}
	cellsIn := func(l string) int { return strings.Count(strings.ReplaceAll(l, `\|`, ""), "|") }
	for _, l := range lines {
		if cellsIn(l) != cellsIn(lines[0]) {
			t.Errorf("row %q has %d separators, the header %d", l, cellsIn(l), cellsIn(lines[0]))
		}
	}
	if !strings.Contains(lines[2], "| fastscan | 1.00 s | 2.00 s | 0.2x | 10 | 0 | 0 | 0 | 2.0 MiB | 1.00 s |") {
		t.Errorf("fastscan row: %s", lines[2])
	}
	if !strings.Contains(lines[3], "| nmap | 10.00 s | 10.00 s | 1x |") || !strings.Contains(lines[3], "| 1/2 | -T4; timed out after 1m0s |") {
		t.Errorf("nmap row: %s", lines[3])
	}
}

package compare

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// The tables' text, to the byte: what `fastlab compare` (Render) and
// `fastlab svbench` (RenderID) print for these runs.
func TestTablesText(t *testing.T) {
	cells := []Cell{
		{Workload: "host", Tool: "fastscan", Runs: []Run{{Wall: time.Second, MaxRSSKiB: 2048, CPU: CPUTimes{User: time.Second, Kernel: 4 * time.Second}}, {Wall: 3 * time.Second}, {Wall: 2 * time.Second, CPU: CPUTimes{User: 500 * time.Millisecond, Kernel: 3 * time.Second}}}},
		{Workload: "host", Tool: "masscan", Note: "a|b", Runs: []Run{{Wall: 4 * time.Second, Missed: 1}, {Wall: 6 * time.Second, Missed: 3, Extra: 2}, {Failed: "timed out after 1m0s"}, {Failed: "timed out after 1m0s"}}},
		{Workload: "host", Tool: "zmap", NA: "one port per run"},
		{Workload: "lan24", Tool: "masscan", Note: "x\ny", Runs: []Run{{Wall: 1500 * time.Millisecond, MaxRSSKiB: 100000}, {Wall: 2500 * time.Millisecond, Extra: 7}}},
		{Workload: "lan24", Tool: "nmap", Runs: []Run{{Failed: "exit status 1: no"}}},
	}
	var b strings.Builder
	if err := Render(&b, "fastscan", cells); err != nil {
		t.Fatal(err)
	}
	if b.String() != renderWant {
		t.Errorf("Render:\n%s\nwant:\n%s", b.String(), renderWant)
	}
	ok := func(wall time.Duration, sc IDScore) IDRun {
		return IDRun{Wall: wall, MaxRSSKiB: 2048, ToolCPU: time.Second, CPU: CPUTimes{User: wall / 2, Kernel: wall / 4}, Score: sc}
	}
	ids := []IDCell{
		{Tool: "fastscan", Runs: []IDRun{ok(3*time.Second, IDScore{Right: 10}), ok(time.Second, IDScore{Right: 9, Wrong: 1, Example: "a: got b"}), ok(2*time.Second, IDScore{Right: 8, Missing: 2, Extra: 1})}},
		{Tool: "nmap", Note: "-T4", Runs: []IDRun{ok(10*time.Second, IDScore{Right: 10}), {Failed: "timed out after 1m0s"}}},
		{Tool: "svcid", NA: "not built | here"},
		{Tool: "other", Runs: []IDRun{{Failed: "exit status 1"}, {Failed: "exit status 2"}}},
		{Tool: "ex", Runs: []IDRun{ok(time.Second, IDScore{Example: "e1"}), ok(time.Second, IDScore{Example: "e2"}), {Failed: "f1"}, ok(time.Second, IDScore{Example: "e3"}), {Failed: "f2"}}},
	}
	for _, tc := range []struct {
		baseline string
		cells    []IDCell
		want     string
	}{{"nmap", ids, renderIDWant}, {"none", ids[:2], renderIDNoBaselineWant}} {
		b.Reset()
		if err := RenderID(&b, tc.baseline, tc.cells); err != nil {
			t.Fatal(err)
		}
		if b.String() != tc.want {
			t.Errorf("RenderID vs %s:\n%s\nwant:\n%s", tc.baseline, b.String(), tc.want)
		}
	}
}

const renderWant = `| workload | tool | median wall | vs fastscan | open missed | extra | peak RSS | user CPU | kernel CPU | runs | note |
| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |
| host | fastscan | 2.00 s | 1.00x | 0 | 0 | 2.0 MiB | 0.50 s | 3.00 s | 3/3 |  |
| host | masscan | 5.00 s | 2.50x | 1-3 | 0-2 | 0.0 MiB | 0.00 s | 0.00 s | 2/4 | a\|b; timed out after 1m0s |
| host | zmap | n/a | n/a | n/a | n/a | n/a | n/a | n/a | 0 | one port per run |
| lan24 | masscan | 2.00 s | n/a | 0 | 0-7 | 97.7 MiB | 0.00 s | 0.00 s | 2/2 | x y |
| lan24 | nmap | n/a | n/a | n/a | n/a | n/a | n/a | n/a | 0/1 | exit status 1: no |
`

const renderIDWant = `| tool | min wall | median wall | vs nmap | right | wrong | missing | extra | peak RSS | tool CPU | machine user CPU | machine kernel CPU | runs | note |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |
| fastscan | 1.00 s | 2.00 s | 0.2x | 8-10 | 0-1 | 0-2 | 0-1 | 2.0 MiB | 1.00 s | 1.00 s | 0.50 s | 3/3 | e.g. a: got b |
| nmap | 10.00 s | 10.00 s | 1x | 10 | 0 | 0 | 0 | 2.0 MiB | 1.00 s | 5.00 s | 2.50 s | 1/2 | -T4; timed out after 1m0s |
| svcid | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | 0 | not built \| here |
| other | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | 0/2 | exit status 1; exit status 2 |
| ex | 1.00 s | 1.00 s | 0.1x | 0 | 0 | 0 | 0 | 2.0 MiB | 1.00 s | 0.50 s | 0.25 s | 3/5 | e.g. e1; e.g. e2; f1; f2 |
`

const renderIDNoBaselineWant = `| tool | min wall | median wall | vs none | right | wrong | missing | extra | peak RSS | tool CPU | machine user CPU | machine kernel CPU | runs | note |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |
| fastscan | 1.00 s | 2.00 s | n/a | 8-10 | 0-1 | 0-2 | 0-1 | 2.0 MiB | 1.00 s | 1.00 s | 0.50 s | 3/3 | e.g. a: got b |
| nmap | 10.00 s | 10.00 s | n/a | 10 | 0 | 0 | 0 | 2.0 MiB | 1.00 s | 5.00 s | 2.50 s | 1/2 | -T4; timed out after 1m0s |
`

// matchWanted sees each wanted port once, in order, with what got holds for
// it, and counts the ports of got that are not wanted.
func TestMatchWanted(t *testing.T) {
	got := map[netip.AddrPort]string{ap("10.0.0.1:80"): "a", ap("10.0.0.2:80"): "b", ap("10.0.0.3:80"): "c"}
	wanted := []netip.AddrPort{ap("10.0.0.2:80"), ap("10.0.0.9:80"), ap("10.0.0.2:80")}
	var seen []string
	extra := matchWanted(got, wanted, func(a netip.AddrPort, v string, ok bool) {
		seen = append(seen, a.String()+"="+v+map[bool]string{true: "+", false: "-"}[ok])
	})
	if want := []string{"10.0.0.2:80=b+", "10.0.0.9:80=-"}; !slices.Equal(seen, want) || extra != 2 {
		t.Errorf("seen %v extra %d, want %v extra 2", seen, extra, want)
	}
}

// The note of a row: the tool's note, then what the runs add.
func TestWithNotes(t *testing.T) {
	for _, tc := range []struct {
		note string
		more []string
		want string
	}{{"", nil, ""}, {"n", nil, "n"}, {"", []string{"a", "b"}, "a; b"}, {"n", []string{"a"}, "n; a"}} {
		if got := withNotes(tc.note, tc.more); got != tc.want {
			t.Errorf("withNotes(%q, %q) = %q, want %q", tc.note, tc.more, got, tc.want)
		}
	}
	runs := []Run{{Failed: "x"}, {}, {Failed: "y"}, {Failed: "x"}}
	if got := failures(runs); !slices.Equal(got, []string{"x", "y"}) {
		t.Errorf("failures: %q", got)
	}
	if got := completed(runs); len(got) != 1 {
		t.Errorf("completed: %v", got)
	}
}

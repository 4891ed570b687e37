package merge

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fastscan/fastscan/output"
	"github.com/fastscan/fastscan/result"
)

// start is when the test scans started.
var start = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// record is the scan record of a shard, written by fastscan's own writer.
func record(scanID string, shard Shard, started time.Time) string {
	return string(output.AppendScanRecord(nil, output.Scan{ID: scanID, Shard: shard.Index, Shards: shard.Count, Version: "0.1.0", Start: started}))
}

// jsonl writes results with fastscan's own JSON lines writer, as a shard of
// scanID writes them (its scan record first), or as an unsharded scan (no record)
// when shard is the zero Shard.
func jsonl(results []result.Result, scanID string, shard Shard) []byte {
	var buf bytes.Buffer // writes to a buffer cannot fail
	w := output.NewJSONLScan(&buf, nil, output.Scan{ID: scanID, Shard: shard.Index, Shards: shard.Count, Version: "0.1.0", Start: start})
	for i := range results {
		w.Write(&results[i])
	}
	w.Close()
	return buf.Bytes()
}

// scanResults makes n distinct results on 198.19.0.0/24, ports 1-64, both
// protocols, in a random order.
func scanResults(rng *rand.Rand, n int) []result.Result {
	seen := map[key]bool{}
	var rs []result.Result
	for len(rs) < n {
		r := result.Result{
			IP:        netip.AddrFrom4([4]byte{198, 19, 0, byte(rng.IntN(256))}),
			Port:      uint16(1 + rng.IntN(64)),
			Proto:     result.Proto(1 + rng.IntN(2)),
			State:     result.Open,
			Reason:    result.ReasonSYNACK,
			TTL:       64,
			TimeNanos: start.UnixNano() + int64(rng.IntN(1e9)),
		}
		if r.Proto == result.UDP {
			r.Reason = result.ReasonUDPResponse
		}
		k := key{r.IP, r.Port, r.Proto}
		if !seen[k] {
			seen[k] = true
			rs = append(rs, r)
		}
	}
	return rs
}

// split deals results out to n shards (round robin, as disjoint as real shards).
func split(rs []result.Result, n int) [][]result.Result {
	parts := make([][]result.Result, n)
	for i, r := range rs {
		parts[i%n] = append(parts[i%n], r)
	}
	return parts
}

// sorted returns rs in the order Merge promises, as an independent check.
func sorted(rs []result.Result) []result.Result {
	out := slices.Clone(rs)
	slices.SortFunc(out, func(a, b result.Result) int {
		if c := a.IP.Compare(b.IP); c != 0 {
			return c
		}
		if a.Port != b.Port {
			return int(a.Port) - int(b.Port)
		}
		return int(a.Proto) - int(b.Proto)
	})
	return out
}

func inputs(files map[string][]byte, order ...string) []Input {
	var in []Input
	for _, name := range order {
		in = append(in, Input{Name: name, R: bytes.NewReader(files[name])})
	}
	return in
}

func TestMergeShards(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	all := scanResults(rng, 500)
	parts := split(all, 4)
	files := map[string][]byte{}
	var names []string
	for i, p := range parts {
		name := fmt.Sprintf("shard%d.jsonl", i)
		files[name] = jsonl(p, "5eed", Shard{i, 4})
		names = append(names, name)
	}
	rng.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })

	m, err := Merge(inputs(files, names...))
	if err != nil {
		t.Fatal(err)
	}
	if m.ScanID != "5eed" || m.Count != 4 {
		t.Errorf("scan id %q, count %d; want 5eed, 4", m.ScanID, m.Count)
	}
	checkResults(t, m.Results, sorted(all))
	if len(m.Missing)+len(m.Duplicated)+len(m.Empty)+m.Removed+m.Conflicts != 0 {
		t.Errorf("complete disjoint shards: missing %v, duplicated %v, empty %v, removed %d, conflicts %d",
			m.Missing, m.Duplicated, m.Empty, m.Removed, m.Conflicts)
	}
	last := all[0].TimeNanos
	for _, r := range all {
		last = max(last, r.TimeNanos)
	}
	if !m.Start.Equal(start) || !m.End.Equal(time.Unix(0, last)) {
		t.Errorf("start %v, end %v; want the scan records' start %v and the latest result's time %v", m.Start, m.End, start, time.Unix(0, last))
	}

	t.Run("concatenated", func(t *testing.T) {
		var cat []byte
		for _, n := range names {
			cat = append(cat, files[n]...)
		}
		m, err := Merge([]Input{{Name: "all.jsonl", R: bytes.NewReader(cat)}})
		if err != nil {
			t.Fatal(err)
		}
		checkResults(t, m.Results, sorted(all))
		if len(m.Missing)+len(m.Duplicated) != 0 {
			t.Errorf("one file holding every shard: missing %v, duplicated %v", m.Missing, m.Duplicated)
		}
	})

	t.Run("missing", func(t *testing.T) {
		m, err := Merge(inputs(files, "shard0.jsonl", "shard3.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		if got := Describe(m.Missing); got != "1/4, 2/4" {
			t.Errorf("missing %q, want 1/4, 2/4", got)
		}
		checkResults(t, m.Results, sorted(append(slices.Clone(parts[0]), parts[3]...)))
	})

	t.Run("duplicated", func(t *testing.T) {
		m, err := Merge(inputs(files, "shard0.jsonl", "shard1.jsonl", "shard2.jsonl", "shard1.jsonl", "shard3.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		want := []Duplicate{{Shard{1, 4}, []string{"shard1.jsonl", "shard1.jsonl"}}}
		if !slices.EqualFunc(m.Duplicated, want, func(a, b Duplicate) bool { return a.Shard == b.Shard && slices.Equal(a.Files, b.Files) }) {
			t.Errorf("duplicated %v, want %v", m.Duplicated, want)
		}
		if m.Removed != len(parts[1]) || m.Conflicts != 0 {
			t.Errorf("removed %d conflicts %d, want %d and 0", m.Removed, m.Conflicts, len(parts[1]))
		}
		checkResults(t, m.Results, sorted(all))
	})

	t.Run("shard without results", func(t *testing.T) {
		files := map[string][]byte{"a": files["shard0.jsonl"], "b": files["shard1.jsonl"], "d": files["shard3.jsonl"],
			"c": []byte(record("5eed", Shard{2, 4}, start.Add(-time.Second))), "empty": nil}
		m, err := Merge(inputs(files, "a", "c", "b", "d"))
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Missing)+len(m.Empty) != 0 {
			t.Errorf("a shard with its scan record only: missing %v, empty files %v", m.Missing, m.Empty)
		}
		if !m.Start.Equal(start.Add(-time.Second)) {
			t.Errorf("start %v, want the earliest scan record's %v", m.Start, start.Add(-time.Second))
		}
		// An empty file is not a shard: it is named, and the shard is missing.
		m, err = Merge(inputs(files, "a", "empty", "b", "d"))
		if err != nil {
			t.Fatal(err)
		}
		if Describe(m.Missing) != "2/4" || !slices.Equal(m.Empty, []string{"empty"}) {
			t.Errorf("missing %v, empty files %v; want 2/4 and [empty]", m.Missing, m.Empty)
		}
	})
}

func checkResults(t *testing.T, got, want []result.Result) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d results, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("result %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestMergeConflicts(t *testing.T) {
	ip := netip.MustParseAddr("198.19.0.7")
	at := func(s int) int64 { return time.Date(2026, 12, 1, 10, 0, s, 0, time.UTC).UnixNano() }
	silent := result.Result{IP: ip, Port: 80, Proto: result.TCP, State: result.Filtered, Reason: result.ReasonNoResponse, TimeNanos: at(9)}
	open := result.Result{IP: ip, Port: 80, Proto: result.TCP, State: result.Open, Reason: result.ReasonSYNACK, TTL: 64, TimeNanos: at(1)}
	closedLater := result.Result{IP: ip, Port: 80, Proto: result.TCP, State: result.Closed, Reason: result.ReasonReset, TTL: 64, TimeNanos: at(5)}
	udp := result.Result{IP: ip, Port: 80, Proto: result.UDP, State: result.OpenFiltered, Reason: result.ReasonNoResponse, TimeNanos: at(2)}
	for _, tc := range []struct {
		name  string
		files [][]result.Result
		want  []result.Result
	}{
		{"a reply beats a later silence", [][]result.Result{{open}, {silent}}, []result.Result{open}},
		{"a reply beats an earlier silence", [][]result.Result{{silent}, {open}}, []result.Result{open}},
		{"the newer reply wins", [][]result.Result{{closedLater, udp}, {open}}, []result.Result{closedLater, udp}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var in []Input
			for i, rs := range tc.files {
				in = append(in, Input{Name: fmt.Sprint(i), R: bytes.NewReader(jsonl(rs, "x", Whole))})
			}
			m, err := Merge(in)
			if err != nil {
				t.Fatal(err)
			}
			checkResults(t, m.Results, tc.want)
			if m.Removed != 1 || m.Conflicts != 1 {
				t.Errorf("removed %d conflicts %d, want 1 and 1", m.Removed, m.Conflicts)
			}
			if len(m.Duplicated) != 1 || m.Duplicated[0].Shard != Whole {
				t.Errorf("duplicated %v, want shard 0/1 twice", m.Duplicated)
			}
		})
	}
}

func TestMergeRefusesBadInput(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	rs := scanResults(rng, 3)
	rs[0].Proto, rs[0].Reason = result.TCP, result.ReasonSYNACK
	good := jsonl(rs, "aaaa", Shard{0, 2})
	lines := strings.SplitAfter(string(good), "\n")
	rec, line := lines[0], lines[1]
	for _, tc := range []struct {
		name   string
		second string
		want   string // the error, after "second line N: "
	}{
		{"other scan", string(jsonl(rs, "bbbb", Shard{1, 2})), `second line 1: scan id bbbb, but first line 1 has aaaa: not shards of one scan`},
		{"no scan record", string(jsonl(rs, "", Shard{})), `second line 1: scan id none, but first line 1 has aaaa`},
		{"split otherwise", string(jsonl(rs, "aaaa", Shard{1, 3})), `second line 1: shard 1/3, but first line 1 is shard 0/2: one scan split two ways`},
		{"bad shard", strings.Replace(rec, `"shard":0`, `"shard":2`, 1), `second line 1: scan record of shard 2 of 2: want 0 <= shard < shards`},
		{"no shards", strings.Replace(rec, `"shards":2,`, ``, 1), `second line 1: scan record without shard and shards`},
		{"empty scan id", strings.Replace(rec, `"aaaa"`, `""`, 1), `second line 1: scan record without a scan_id`},
		{"unknown record", strings.Replace(rec, `"record":"scan"`, `"record":"end"`, 1), `second line 1: unknown record "end"`},
		{"bad start", strings.Replace(rec, `"start":"2026`, `"start":"26`, 1), `second line 1: scan record: invalid start "26`},
		{"cut short", rec + strings.TrimSuffix(line, "\n")[:40], `second line 2: cut short: no line break at its end`},
		{"not json", rec + "open tcp 80 198.19.0.1\n", `second line 2: not a JSON object`},
		{"no schema", rec + strings.Replace(line, `"schema_version":2,`, "", 1), `second line 2: no "schema_version"`},
		{"no state", rec + strings.Replace(line, `"state":"open",`, "", 1), `second line 2: no "state"`},
		{"bad state", rec + strings.Replace(line, `"open"`, `"opened"`, 1), `second line 2: invalid state "opened"`},
		{"bad reason", rec + strings.Replace(line, `"syn-ack"`, `"synack"`, 1), `second line 2: invalid reason "synack"`},
		{"bad proto", rec + strings.Replace(line, `"proto":"tcp"`, `"proto":"sctp"`, 1), `second line 2: invalid proto "sctp"`},
		{"ipv6", rec + strings.Replace(line, `"198.19.`, `"::ffff:198.19.`, 1), `second line 2: invalid ip "::ffff:198.19.`},
		{"port 0", rec + strings.Replace(line, `"port":`, `"port":0,"x":`, 1), `second line 2: invalid port 0`},
		{"new schema", rec + strings.Replace(line, `"schema_version":2`, `"schema_version":3`, 1), `second line 2: schema_version 3: this fastscan reads versions 1 to 2`},
		{"schema 0", rec + strings.Replace(line, `"schema_version":2`, `"schema_version":0`, 1), `second line 2: schema_version 0: this fastscan reads versions 1 to 2`},
		{"bad method", rec + strings.Replace(line, `"service_method":"table"`, `"service_method":"guessed"`, 1), `second line 2: invalid service_method "guessed"`},
		{"bad time", rec + strings.Replace(line, `"timestamp":"2026`, `"timestamp":"26`, 1), `second line 2: invalid timestamp "26`},
		{"long line", strings.Repeat(" ", maxLine+1) + "\n", `second line 1: line longer than`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Merge([]Input{{"first", bytes.NewReader(good)}, {"second", strings.NewReader(tc.second)}})
			var ie *InputError
			if !errors.As(err, &ie) || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("error %v, want an *InputError starting %q", err, tc.want)
			}
		})
	}
}

func TestMergeUnsharded(t *testing.T) {
	rs := scanResults(rand.New(rand.NewPCG(5, 6)), 20)
	m, err := Merge([]Input{{"scan.jsonl", bytes.NewReader(jsonl(rs, "", Shard{}))}})
	if err != nil {
		t.Fatal(err)
	}
	if m.Count != 1 || m.ScanID != "" || len(m.Missing) != 0 {
		t.Errorf("count %d id %q missing %v; want the whole scan, no id", m.Count, m.ScanID, m.Missing)
	}
	checkResults(t, m.Results, sorted(rs))

	m, err = Merge([]Input{{"a", strings.NewReader("")}, {"b", strings.NewReader("\n")}})
	if err != nil {
		t.Fatal(err)
	}
	if m.Count != 0 || len(m.Results) != 0 || !slices.Equal(m.Empty, []string{"a", "b"}) {
		t.Errorf("empty files: count %d, %d results, empty %v", m.Count, len(m.Results), m.Empty)
	}

	// Files joined with cat: each scan record starts its shard's results.
	all := scanResults(rand.New(rand.NewPCG(7, 8)), 30)
	var cat []byte
	for i, part := range split(all, 3) {
		cat = append(cat, jsonl(part, "c4t", Shard{i, 3})...)
	}
	m, err = Merge([]Input{{"cat", bytes.NewReader(cat)}, {"again", bytes.NewReader(jsonl(split(all, 3)[1], "c4t", Shard{1, 3}))}})
	if err != nil {
		t.Fatal(err)
	}
	checkResults(t, m.Results, sorted(all))
	if len(m.Missing) != 0 || len(m.Duplicated) != 1 || m.Duplicated[0].Shard != (Shard{1, 3}) || !slices.Equal(m.Duplicated[0].Files, []string{"cat", "again"}) {
		t.Errorf("missing %v, duplicated %v; want none and 1/3 in cat and again", m.Missing, m.Duplicated)
	}
}

func TestParseShard(t *testing.T) {
	for v, want := range map[string]Shard{"0/1": Whole, "3/4": {3, 4}, "0/1048576": {0, 1 << 20}} {
		if got, err := ParseShard(v); err != nil || got != want || got.String() != v {
			t.Errorf("ParseShard(%q) = %v, %v; want %v", v, got, err, want)
		}
	}
	for _, v := range []string{"", "1", "4/4", "-1/4", "0/0", "a/4", "1/b", "0/1048577", "1/2/3"} {
		if _, err := ParseShard(v); err == nil {
			t.Errorf("ParseShard(%q) accepted", v)
		}
	}
}

// BenchmarkParseLine reads one result line with the fast parser and with
// encoding/json, side by side.
func BenchmarkParseLine(b *testing.B) {
	lines := bytes.SplitAfter(jsonl(scanResults(rand.New(rand.NewPCG(13, 14)), 1000), "", Shard{}), []byte("\n"))
	lines = lines[:len(lines)-1] // the empty rest after the last line break
	b.Run("fast", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, ok := parseFast(lines[i%len(lines)]); !ok {
				b.Fatal("not parsed")
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			var l jsonLine
			if _, _, err := l.parse(lines[i%len(lines)]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

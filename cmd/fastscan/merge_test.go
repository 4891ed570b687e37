package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fastscan/fastscan/compare"
	"github.com/fastscan/fastscan/output"
	"github.com/fastscan/fastscan/output/outputtest"
	"github.com/fastscan/fastscan/result"
)

// runCmd runs a fastscan command line that sends nothing and returns its exit
// status, standard output and standard error.
func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), append([]string{"fastscan"}, args...), &stdout, &stderr, nil)
	return code, stdout.String(), stderr.String()
}

// writeShardFile writes results as fastscan's JSON lines of the given scan and
// shard ("I/N"), after its scan record, into dir/name and returns its path.
func writeShardFile(t *testing.T, dir, name string, results []result.Result, scanID, shard string) string {
	t.Helper()
	var buf bytes.Buffer
	var i, n int
	fmt.Sscanf(shard, "%d/%d", &i, &n)
	w := output.NewJSONLScan(&buf, nil, output.Scan{ID: scanID, Shard: i, Shards: n, Version: version, Start: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)})
	for i := range results {
		w.Write(&results[i])
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// labLikeResults makes distinct results on 198.19.0.0/23 for 40 TCP ports and 3
// UDP ports, open, closed and filtered, in a random order.
func labLikeResults(rng *rand.Rand, n int) []result.Result {
	type k struct {
		ip    netip.Addr
		port  uint16
		proto result.Proto
	}
	seen := map[k]bool{}
	var rs []result.Result
	for len(rs) < n {
		r := result.Result{
			IP:        netip.AddrFrom4([4]byte{198, 19, byte(rng.IntN(2)), byte(rng.IntN(256))}),
			Port:      uint16(20 + rng.IntN(40)),
			Proto:     result.TCP,
			State:     result.Open,
			Reason:    result.ReasonSYNACK,
			TTL:       63,
			TimeNanos: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC).UnixNano() + int64(rng.IntN(5e9)),
		}
		switch rng.IntN(6) {
		case 0:
			r.State, r.Reason = result.Closed, result.ReasonReset
		case 1:
			r.State, r.Reason, r.TTL = result.Filtered, result.ReasonAdminProhibited, 64
		case 2:
			r.Proto, r.Port, r.Reason = result.UDP, []uint16{53, 123, 161}[rng.IntN(3)], result.ReasonUDPResponse
		}
		if key := (k{r.IP, r.Port, r.Proto}); !seen[key] {
			seen[key] = true
			rs = append(rs, r)
		}
	}
	return rs
}

// jsonlKeys reads JSON lines into "ip port proto state reason" strings, failing on
// a line twice.
func jsonlKeys(t *testing.T, doc []byte) []string {
	t.Helper()
	var keys []string
	sc := bufio.NewScanner(bytes.NewReader(doc))
	for sc.Scan() {
		var f finding
		if err := json.Unmarshal(sc.Bytes(), &f); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		keys = append(keys, fmt.Sprintf("%s %d %s %s %s", f.IP, f.Port, f.Proto, f.State, f.Reason))
	}
	slices.Sort(keys)
	for i := 1; i < len(keys); i++ {
		if keys[i] == keys[i-1] {
			t.Errorf("%s written twice", keys[i])
		}
	}
	return keys
}

// resultKeys is jsonlKeys for results.
func resultKeys(rs []result.Result) []string {
	var keys []string
	for _, r := range rs {
		keys = append(keys, fmt.Sprintf("%s %d %s %s %s", r.IP, r.Port, r.Proto, r.State, r.Reason))
	}
	slices.Sort(keys)
	return keys
}

// TestMergeCommand merges four shard files into every format at once: the JSON
// lines are exactly the union of the shards, once each; the nmap XML is valid
// against nmap's DTD and lists the same open ports; every file flag of the format
// table writes its format.
func TestMergeCommand(t *testing.T) {
	dir := t.TempDir()
	all := labLikeResults(rand.New(rand.NewPCG(11, 12)), 600)
	var files []string
	for i := range 4 {
		var part []result.Result
		for j := i; j < len(all); j += 4 {
			part = append(part, all[j])
		}
		files = append(files, writeShardFile(t, dir, fmt.Sprintf("shard-%d.jsonl", i), part, "c0ffee", fmt.Sprintf("%d/4", i)))
	}
	slices.Reverse(files) // any order
	out := filepath.Join(dir, "all.jsonl")
	args := append([]string{"merge"}, files[:2]...)
	args = append(args, "--format", "jsonl", "-o", out) // flags between the files
	args = append(args, files[2:]...)
	perFormat := map[string]string{}
	for _, f := range output.Formats() {
		if f.Flag != "" && f.Name != "jsonl" {
			perFormat[f.Name] = filepath.Join(dir, "all."+f.Name)
			args = append(args, "-"+f.Flag, perFormat[f.Name])
		}
	}
	code, stdout, stderr := runCmd(t, args...)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if stdout != "" {
		t.Errorf("standard output %q, want nothing (everything went to files)", stdout)
	}
	if want := "fastscan merge: 4 files, 4 of 4 shards of scan c0ffee: 600 results (0 duplicates removed)\n"; stderr != want {
		t.Errorf("stderr %q, want %q", stderr, want)
	}
	doc, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	outputtest.NewValidator(t).ValidateLines(t, doc)
	if got, want := jsonlKeys(t, doc), resultKeys(all); !slices.Equal(got, want) {
		t.Errorf("merged JSON lines: %d results, want the %d of the shards", len(got), len(want))
	}

	xmlDoc, err := os.ReadFile(perFormat["xml"])
	if err != nil {
		t.Fatal(err)
	}
	outputtest.ValidateNmapXML(t, xmlDoc)
	found, err := compare.ParseNmapXML(bytes.NewReader(xmlDoc))
	if err != nil {
		t.Fatal(err)
	}
	var wantOpen []netip.AddrPort
	for _, r := range all {
		if r.State == result.Open && r.Proto == result.TCP {
			wantOpen = append(wantOpen, netip.AddrPortFrom(r.IP, r.Port))
		}
	}
	if missed, extra := compare.Score(found, wantOpen); missed+extra != 0 || len(wantOpen) == 0 {
		t.Errorf("nmap XML: %d open TCP ports missed, %d extra (of %d)", missed, extra, len(wantOpen))
	}
	// The other formats: one record per result, in their own layout.
	countLines := func(name string, match func(string) bool) int {
		b, err := os.ReadFile(perFormat[name])
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, l := range strings.Split(string(b), "\n") {
			if match(l) {
				n++
			}
		}
		return n
	}
	if n := countLines("csv", func(l string) bool { return strings.HasPrefix(l, "198.19.") }); n != len(all) {
		t.Errorf("CSV: %d rows, want %d", n, len(all))
	}
	openCount := 0
	for _, r := range all {
		if r.State == result.Open {
			openCount++
		}
	}
	if n := countLines("list", func(l string) bool { return strings.HasPrefix(l, "open ") }); n != openCount {
		t.Errorf("list: %d open lines, want %d", n, openCount)
	}
	if n := countLines("grepable", func(l string) bool { return strings.Contains(l, "Ports: ") }); n == 0 {
		t.Error("grepable: no Ports line")
	}
	// The merged JSON lines are an unsharded scan's: no scan record. ECS keeps
	// the scan's id.
	if bytes.Contains(doc, []byte(`"record"`)) {
		t.Error("merged JSON lines hold a scan record")
	}
	code, stdout, stderr = runCmd(t, append([]string{"merge", "-q", "--format", "ecs"}, files...)...)
	if n := strings.Count(stdout, `"scan_id":"c0ffee"`); code != exitOK || n != len(all) {
		t.Errorf("--format ecs: exit %d, %d of %d documents with the scan id: %s", code, n, len(all), stderr)
	}
}

// TestMergeShardsMissingOrTwice: a missing shard is one line and exit status 3,
// with the other shards merged; a shard given twice is one line, its results kept
// once, exit 0.
func TestMergeShardsMissingOrTwice(t *testing.T) {
	dir := t.TempDir()
	all := labLikeResults(rand.New(rand.NewPCG(13, 14)), 90)
	var files []string
	var parts [3][]result.Result
	for i := range 3 {
		for j := i; j < len(all); j += 3 {
			parts[i] = append(parts[i], all[j])
		}
		files = append(files, writeShardFile(t, dir, fmt.Sprintf("s%d.jsonl", i), parts[i], "77", fmt.Sprintf("%d/3", i)))
	}

	code, stdout, stderr := runCmd(t, "merge", "-q", "--format", "jsonl", files[0], files[2])
	if code != exitIncomplete {
		t.Errorf("shard 1/3 missing: exit %d, want %d", code, exitIncomplete)
	}
	if want := "fastscan merge: shard 1/3 of scan 77 is missing: no file holds its results\n"; stderr != want {
		t.Errorf("stderr %q, want %q", stderr, want)
	}
	if got, want := jsonlKeys(t, []byte(stdout)), resultKeys(append(slices.Clone(parts[0]), parts[2]...)); !slices.Equal(got, want) {
		t.Errorf("partial merge: %d results, want %d", len(got), len(want))
	}

	copyOf := filepath.Join(dir, "s1-again.jsonl")
	if err := os.WriteFile(copyOf, must(os.ReadFile(files[1])), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runCmd(t, "merge", "-q", "--format", "jsonl", files[0], files[1], files[2], copyOf)
	if code != exitOK {
		t.Errorf("shard twice: exit %d, want 0", code)
	}
	if want := fmt.Sprintf("fastscan merge: shard 1/3 is in more than one file (%s, %s): its results are kept once\n", files[1], copyOf); stderr != want {
		t.Errorf("stderr %q, want %q", stderr, want)
	}
	if got, want := jsonlKeys(t, []byte(stdout)), resultKeys(all); !slices.Equal(got, want) {
		t.Errorf("merge with a shard twice: %d results, want %d", len(got), len(want))
	}

	// A shard that found nothing writes its scan record only; an empty file is
	// no shard's output.
	nothing := writeShardFile(t, dir, "nothing.jsonl", nil, "77", "1/3")
	code, stdout, stderr = runCmd(t, "merge", "-q", files[0], nothing, files[2])
	if code != exitOK || stderr != "" || stdout == "" {
		t.Errorf("a shard without results: exit %d, stderr %q", code, stderr)
	}
	empty := filepath.Join(dir, "empty.jsonl")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runCmd(t, "merge", "-q", files[0], empty, files[2])
	want := "fastscan merge: shard 1/3 of scan 77 is missing: no file holds its results\n" +
		"fastscan merge: " + empty + " is empty, without even a scan record: not a shard's output (did its task start?)\n"
	if code != exitIncomplete || stderr != want {
		t.Errorf("an empty file: exit %d, stderr %q; want %d, %q", code, stderr, exitIncomplete, want)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestMergeBadInput: every kind of bad input is one line naming the file (and
// line), exit status 2, and no output file touched: an existing one keeps its
// content and time, a new one is not created.
func TestMergeBadInput(t *testing.T) {
	dir := t.TempDir()
	rs := labLikeResults(rand.New(rand.NewPCG(15, 16)), 10)
	a := writeShardFile(t, dir, "a.jsonl", rs[:5], "aa", "0/2")
	b := writeShardFile(t, dir, "b.jsonl", rs[5:], "aa", "1/2")
	other := writeShardFile(t, dir, "other.jsonl", rs[5:], "bb", "1/2")
	split3 := writeShardFile(t, dir, "split3.jsonl", rs[5:], "aa", "1/3")
	garbage := filepath.Join(dir, "garbage.jsonl")
	lines := strings.SplitAfter(string(must(os.ReadFile(b))), "\n")
	os.WriteFile(garbage, []byte(lines[0]+lines[1]+"open tcp 80 198.19.0.1 1700000000\n"), 0o644)
	cut := filepath.Join(dir, "cut.jsonl")
	os.WriteFile(cut, []byte(lines[0]+lines[1][:50]), 0o644)

	existing := filepath.Join(dir, "existing.xml")
	os.WriteFile(existing, []byte("old\n"), 0o644)
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	os.Chtimes(existing, old, old)
	fresh := filepath.Join(dir, "fresh.csv")

	for _, tc := range []struct {
		name string
		args []string
		want string // the one line on stderr
	}{
		{"other scan", []string{a, other}, other + ` line 1: scan id bb, but ` + a + ` line 1 has aa: not shards of one scan`},
		{"split otherwise", []string{a, split3}, split3 + ` line 1: shard 1/3, but ` + a + ` line 1 is shard 0/2: one scan split two ways`},
		{"not json lines", []string{a, garbage}, garbage + ` line 3: not a JSON object`},
		{"cut short", []string{a, cut}, cut + ` line 2: cut short: no line break at its end`},
		{"no such file", []string{a, filepath.Join(dir, "nothere.jsonl")}, `cannot read "` + filepath.Join(dir, "nothere.jsonl") + `": no such file or directory`},
		{"directory", []string{a, dir}, `cannot read "` + dir + `": is a directory`},
		{"output is input", []string{a, b, "-oC", b}, `output file "` + b + `" (-oC) is the input file "` + b + `"`},
		{"stdin twice", []string{"-", a, "-"}, `standard input (-) given twice`},
		{"bad format", []string{a, b, "--format", "yaml"}, `invalid format "yaml"`},
		{"bad flag", []string{a, "--shard", "1/2"}, `flag provided but not defined: -shard`},
		{"no files", []string{"-oX", existing}, `no files to merge`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"merge", "-oX", existing, "-oC", fresh}, tc.args...)
			if tc.name == "output is input" || tc.name == "no files" {
				args = append([]string{"merge"}, tc.args...)
			}
			code, stdout, stderr := runCmd(t, args...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			if !strings.HasPrefix(stderr, "fastscan: "+tc.want) || strings.Count(stderr, "\n") != 1 {
				t.Errorf("stderr %q, want one line starting %q", stderr, "fastscan: "+tc.want)
			}
			if stdout != "" {
				t.Errorf("standard output %q", stdout)
			}
			st, err := os.Stat(existing)
			if err != nil || !st.ModTime().Equal(old) || string(must(os.ReadFile(existing))) != "old\n" {
				t.Errorf("existing output touched: %v %v", st.ModTime(), err)
			}
			if _, err := os.Stat(fresh); err == nil {
				t.Errorf("new output %s created", fresh)
			}
		})
	}
}

// TestMergeStdin reads one shard from standard input and another from a file.
func TestMergeStdin(t *testing.T) {
	dir := t.TempDir()
	rs := labLikeResults(rand.New(rand.NewPCG(17, 18)), 20)
	a := writeShardFile(t, dir, "a.jsonl", rs[:10], "aa", "0/2")
	b := writeShardFile(t, dir, "b.jsonl", rs[10:], "aa", "1/2")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	oldStdin := os.Stdin
	os.Stdin = r
	defer func() { os.Stdin = oldStdin; r.Close() }()
	go func() {
		io.Copy(w, bytes.NewReader(must(os.ReadFile(b))))
		w.Close()
	}()
	code, stdout, stderr := runCmd(t, "merge", "-q", a, "-", "--format", "jsonl")
	if code != exitOK || stderr != "" {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if got, want := jsonlKeys(t, []byte(stdout)), resultKeys(rs); !slices.Equal(got, want) {
		t.Errorf("%d results, want %d", len(got), len(want))
	}
}

// TestMergeV1AndV2Files merges a shard written before schema version 2 (kept
// literally) with one that has service identification: the JSON lines and the
// nmap XML written carry the service of the v2 shard and match the schema and
// nmap's DTD.
func TestMergeV1AndV2Files(t *testing.T) {
	dir := t.TempDir()
	v1 := filepath.Join(dir, "v1.jsonl")
	os.WriteFile(v1, []byte(`{"schema_version":1,"record":"scan","scan_id":"bb","shard":0,"shards":2,"fastscan_version":"0.1.0","start":"2026-12-01T10:00:00Z"}
{"schema_version":1,"ip":"198.19.0.1","port":22,"proto":"tcp","state":"open","reason":"syn-ack","ttl":64,"service":"ssh","port_class":"system","timestamp":"2026-12-01T10:00:01Z"}
`), 0o644)
	svc := result.Result{IP: netip.MustParseAddr("198.19.0.2"), Port: 2222, Proto: result.TCP, State: result.Open, Reason: result.ReasonSYNACK, TTL: 64,
		TimeNanos: time.Date(2026, 12, 1, 10, 0, 2, 0, time.UTC).UnixNano(),
		Service:   &result.Service{Name: "ssh", Method: "probed", Product: "OpenSSH", Version: "9.2p1", Banner: `SSH-2.0-OpenSSH_9.2p1\r\n`, Spoke: true}}
	v2 := writeShardFile(t, dir, "v2.jsonl", []result.Result{svc}, "bb", "1/2")
	xmlFile := filepath.Join(dir, "scan.xml")
	code, stdout, stderr := runCmd(t, "merge", "-q", v1, v2, "--format", "jsonl", "-oX", xmlFile)
	if code != exitOK || stderr != "" {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	outputtest.NewValidator(t).ValidateLines(t, []byte(stdout))
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"port":22,`) || !strings.Contains(lines[0], `"service":"ssh","service_method":"table"`) ||
		!strings.Contains(lines[1], `"service":"ssh","service_method":"probed","port_class":"user","product":"OpenSSH","version":"9.2p1","banner":"SSH-2.0-OpenSSH_9.2p1\\r\\n"`) {
		t.Fatalf("merged JSON lines:\n%s", stdout)
	}
	doc := must(os.ReadFile(xmlFile))
	outputtest.ValidateNmapXML(t, doc)
	if !strings.Contains(string(doc), `<service name="ssh" product="OpenSSH" version="9.2p1" method="probed" conf="10"/>`) {
		t.Errorf("merged XML lacks the probed service:\n%s", doc)
	}
}

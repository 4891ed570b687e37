package merge

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/fastscan/fastscan/output"
	"github.com/fastscan/fastscan/result"
)

// jsonlNotes is jsonl with the host notes End gives fastscan's writer.
func jsonlNotes(results []result.Result, scanID string, shard Shard, notes []result.OpenEverywhere) []byte {
	var buf bytes.Buffer
	w := output.NewJSONLScan(&buf, nil, output.Scan{ID: scanID, Shard: shard.Index, Shards: shard.Count, Version: "0.1.0", Start: start})
	for i := range results {
		w.Write(&results[i])
	}
	w.End(output.End{OpenEverywhere: notes})
	w.Close()
	return buf.Bytes()
}

// TestMergeHostNotes: the host notes after each shard's results are read, not
// taken for results; a host flagged by several shards is one note with the
// counts of those shards summed; a shard given twice counts once.
func TestMergeHostNotes(t *testing.T) {
	rs := split(scanResults(rand.New(rand.NewPCG(7, 8)), 40), 2)
	a, b := netip.MustParseAddr("198.19.0.90"), netip.MustParseAddr("198.19.0.7")
	files := map[string][]byte{
		"s0": jsonlNotes(rs[0], "aaaa", Shard{0, 2}, []result.OpenEverywhere{{Addr: b, SYNACKs: 30, Probed: 32}, {Addr: a, SYNACKs: 32, Probed: 32}}),
		"s1": jsonlNotes(rs[1], "aaaa", Shard{1, 2}, []result.OpenEverywhere{{Addr: a, SYNACKs: 31, Probed: 32}}),
	}
	files["s1again"] = files["s1"]
	m, err := Merge(inputs(files, "s0", "s1", "s1again"))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Results) != 40 || len(m.Missing) != 0 {
		t.Fatalf("%d results, missing %v", len(m.Results), m.Missing)
	}
	want := []result.OpenEverywhere{{Addr: b, SYNACKs: 30, Probed: 32}, {Addr: a, SYNACKs: 63, Probed: 64}}
	if fmt.Sprint(m.OpenEverywhere) != fmt.Sprint(want) {
		t.Errorf("notes %v, want %v", m.OpenEverywhere, want)
	}
	// Unsharded output: the notes follow results of no scan record.
	m, err = Merge([]Input{{"scan", bytes.NewReader(jsonlNotes(rs[0], "", Shard{}, want[:1]))}})
	if err != nil || fmt.Sprint(m.OpenEverywhere) != fmt.Sprint(want[:1]) {
		t.Errorf("unsharded: notes %v (%v)", m.OpenEverywhere, err)
	}
}

// TestMergeRefusesBadHostNotes: a host note that does not say what this
// fastscan writes is bad input, named by its line.
func TestMergeRefusesBadHostNotes(t *testing.T) {
	good := string(jsonlNotes(nil, "", Shard{}, []result.OpenEverywhere{{Addr: netip.MustParseAddr("198.19.0.90"), SYNACKs: 32, Probed: 32}}))
	if _, err := Merge([]Input{{"f", strings.NewReader(good)}}); err != nil {
		t.Fatalf("good note refused: %v", err)
	}
	for name, c := range map[string]struct{ bad, want string }{
		"unknown note": {strings.Replace(good, `"open-everywhere"`, `"slow"`, 1), `f line 1: host note without a note`},
		"no counts":    {strings.Replace(good, `"probed":32,`, ``, 1), `f line 1: host note without ip, syn_acks and probed`},
		"bad ip":       {strings.Replace(good, `198.19.0.90`, `198.19.0.900`, 1), `f line 1: host note: invalid ip`},
		"more than":    {strings.Replace(good, `"syn_acks":32`, `"syn_acks":33`, 1), `f line 1: host note: 33 SYN-ACKs of 32`},
	} {
		_, err := Merge([]Input{{"f", strings.NewReader(c.bad)}})
		var ie *InputError
		if !errors.As(err, &ie) || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", name, err, c.want)
		}
	}
}

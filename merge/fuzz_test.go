package merge

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/fastscan/fastscan/output"
)

// FuzzMerge merges two arbitrary files. Whatever it accepts comes out sorted,
// one result per address, port and protocol, every result valid, and writing
// those results as JSON lines and merging them again gives them back unchanged.
func FuzzMerge(f *testing.F) {
	rs := scanResults(rand.New(rand.NewPCG(9, 10)), 6)
	f.Add(jsonl(rs[:3], "abc", Shard{0, 2}), jsonl(rs[3:], "abc", Shard{1, 2}))
	f.Add(jsonl(rs, "", Shard{}), []byte{})
	f.Add([]byte(record("x", Shard{0, 1}, start)), []byte("{\"schema_version\":1}\n"))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		m, err := Merge([]Input{{"a", bytes.NewReader(a)}, {"b", bytes.NewReader(b)}})
		if err != nil {
			return
		}
		for i, r := range m.Results {
			if !r.IP.Is4() || r.Port == 0 || r.Proto.String() == "unknown" || r.State.String() == "unknown" || r.Reason.String() == "unknown" {
				t.Fatalf("invalid result %+v", r)
			}
			if i > 0 {
				p := m.Results[i-1]
				if c := p.IP.Compare(r.IP); c > 0 || c == 0 && (p.Port > r.Port || p.Port == r.Port && p.Proto >= r.Proto) {
					t.Fatalf("results %+v and %+v out of order or twice", p, r)
				}
			}
		}
		for _, s := range m.Missing {
			if s.Count != m.Count || !s.valid() {
				t.Fatalf("missing shard %v of a scan of %d", s, m.Count)
			}
		}
		var buf bytes.Buffer
		w := output.NewJSONL(&buf, nil)
		for i := range m.Results {
			w.Write(&m.Results[i])
		}
		w.Close()
		again, err := Merge([]Input{{"merged", &buf}})
		if err != nil {
			t.Fatalf("merged results do not merge again: %v", err)
		}
		if len(again.Results) != len(m.Results) {
			t.Fatalf("%d results merged again, want %d", len(again.Results), len(m.Results))
		}
		for i := range again.Results {
			if again.Results[i] != m.Results[i] {
				t.Fatalf("result %d merged again: %+v, want %+v", i, again.Results[i], m.Results[i])
			}
		}
	})
}

// FuzzFastLine: a line the fast parser takes is a result line encoding/json reads
// as the same result.
func FuzzFastLine(f *testing.F) {
	for _, line := range bytes.SplitAfter(jsonl(scanResults(rand.New(rand.NewPCG(11, 12)), 8), "id", Shard{0, 2}), []byte("\n")) {
		f.Add(line)
	}
	f.Add([]byte(`{"schema_version":1,"ip":"198.19.0.1","port":80,"proto":"tcp","state":"open","reason":"syn-ack","ttl":64,"service":"h\"ttp","port_class":"system","timestamp":"2026-12-01T10:00:00Z"}` + "\n"))
	f.Add([]byte(`{"schema_version":1,"ip":"198.19.0.1","port":80,"proto":"tcp","state":"open","reason":"syn-ack","ttl":64,"service":"http","port_class":"system","timestamp":"2026-12-01T10:00:00Z"}` + "\n"))
	f.Add([]byte(`{"schema_version":2,"ip":"198.19.0.1","port":80,"proto":"tcp","state":"open","reason":"syn-ack","ttl":64,"service":"http","service_method":"probed","port_class":"system","product":"nginx","timestamp":"2026-12-01T10:00:00Z"}` + "\n"))
	f.Fuzz(func(t *testing.T, line []byte) {
		r, ok := parseFast(line)
		if !ok {
			return
		}
		var l jsonLine
		want, isRecord, err := l.parse(line)
		if err != nil || isRecord || want != r {
			t.Fatalf("%q: fast %+v; encoding/json %+v, record %v, %v", line, r, want, isRecord, err)
		}
	})
}

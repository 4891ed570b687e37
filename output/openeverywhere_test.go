package output

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/fastscan/fastscan/output/outputtest"
	"github.com/fastscan/fastscan/result"
)

// flaggedHosts are two hosts the open-everywhere heuristic flagged: one with
// results (198.19.0.1, up), one the writers know only from End.
var flaggedHosts = []result.OpenEverywhere{
	{Addr: netip.MustParseAddr("198.19.0.1"), SYNACKs: 64, Probed: 64},
	{Addr: netip.MustParseAddr("198.19.0.7"), SYNACKs: 60, Probed: 64},
}

// TestXMLOpenEverywhere: every flagged host gets a host element of its own with a
// hostscript note (id fastscan-synproxy, the counts as elems), valid against
// nmap's DTD and shown by nmap's stylesheet; without flagged hosts there is no
// hostscript at all.
func TestXMLOpenEverywhere(t *testing.T) {
	e := End{HostUp: endHostUp, HostsProbed: 256, HostsUp: 3, OpenEverywhere: flaggedHosts}
	doc := writeEnded(t, "xml", &e, endResults())
	outputtest.ValidateNmapXML(t, []byte(doc))
	run := outputtest.ParseNmapXML(t, []byte(doc))
	notes := map[string]outputtest.NmapScript{}
	for _, h := range run.Hosts {
		for _, s := range h.Scripts {
			if len(h.Ports) != 0 {
				t.Errorf("%s: the note's host element lists ports", h.Addr.Addr)
			}
			notes[h.Addr.Addr] = s
		}
	}
	if len(notes) != len(flaggedHosts) {
		t.Fatalf("%d notes, want %d:\n%s", len(notes), len(flaggedHosts), doc)
	}
	for _, f := range flaggedHosts {
		s := notes[f.Addr.String()]
		if s.ID != OpenEverywhereScript || !strings.HasPrefix(s.Output, OpenEverywhereMessage(f)) {
			t.Errorf("%v: script %q output %q", f.Addr, s.ID, s.Output)
		}
		got := s.Elems
		if got["syn_acks"] != itoa(f.SYNACKs) || got["probed"] != itoa(f.Probed) {
			t.Errorf("%v: elems %v", f.Addr, got)
		}
	}
	if run.Runstats.Hosts.Up != 3 || run.Runstats.Hosts.Total != 256 {
		t.Errorf("the notes changed the run statistics: %+v", run.Runstats.Hosts)
	}
	if html := outputtest.RenderNmapXML(t, []byte(doc)); !strings.Contains(html, "SYN-ACK on 64 of 64 TCP ports probed") {
		t.Errorf("nmap.xsl does not show the note")
	}
	if doc := writeEnded(t, "xml", &End{HostUp: endHostUp}, endResults()); strings.Contains(doc, "hostscript") {
		t.Errorf("a hostscript without flagged hosts:\n%s", doc)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// TestJSONLOpenEverywhere: JSON lines end with one host-note record per flagged
// host, after every result, each valid against the published schema.
func TestJSONLOpenEverywhere(t *testing.T) {
	v := outputtest.NewValidator(t)
	e := End{OpenEverywhere: flaggedHosts}
	rs := endResults()
	doc := writeEnded(t, "jsonl", &e, rs)
	if n := v.ValidateLines(t, []byte(doc)); n != len(rs)+len(flaggedHosts) {
		t.Fatalf("validated %d lines, want %d", n, len(rs)+len(flaggedHosts))
	}
	lines := strings.Split(strings.TrimSuffix(doc, "\n"), "\n")
	for i, f := range flaggedHosts {
		var rec struct {
			Record, IP, Note, Message string
			SYNACKs                   int `json:"syn_acks"`
			Probed                    int
		}
		line := lines[len(rs)+i]
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Record != HostNoteRecord || rec.IP != f.Addr.String() || rec.Note != OpenEverywhereNote ||
			rec.SYNACKs != f.SYNACKs || rec.Probed != f.Probed || rec.Message != OpenEverywhereMessage(f) {
			t.Errorf("line %d: %s", len(rs)+i+1, line)
		}
	}
	var buf bytes.Buffer
	w := NewJSONL(&buf, nil)
	w.End(End{})
	w.Close()
	if buf.Len() != 0 {
		t.Errorf("notes without flagged hosts: %q", buf.String())
	}
}

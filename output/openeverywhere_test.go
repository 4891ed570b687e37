package output

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

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

// ecsNote is what TestECSOpenEverywhere reads of an ECS host note.
type ecsNote struct {
	Timestamp string `json:"@timestamp"`
	Event     struct {
		Kind     string   `json:"kind"`
		Category []string `json:"category"`
		Type     []string `json:"type"`
		Action   string   `json:"action"`
		ID       string   `json:"id"`
	} `json:"event"`
	Host     struct{ IP []string } `json:"host"`
	Related  struct{ IP []string } `json:"related"`
	Message  string                `json:"message"`
	Fastscan struct {
		Record  string `json:"record"`
		Note    string `json:"note"`
		SYNACKs int    `json:"syn_acks"`
		Probed  int    `json:"probed"`
		ScanID  string `json:"scan_id"`
	} `json:"fastscan"`
	Observer struct {
		IP []string `json:"ip"`
	} `json:"observer"`
}

// writeECSEnded writes rs as ECS for the scan s, calls End with e unless e is
// nil, and closes.
func writeECSEnded(t *testing.T, s Scan, e *End, rs []result.Result) string {
	t.Helper()
	var buf bytes.Buffer
	w := NewECS(&buf, nil, s)
	for i := range rs {
		if err := w.Write(&rs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if e != nil {
		w.End(*e)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// TestECSOpenEverywhere: ECS ends with one host document per flagged host, in
// address order, after every result, each valid against the ECS schema: a host
// event (category host, type info) with the host in host.ip and related.ip,
// the counts under fastscan, observer.ip the results' source address of the
// host's family (none without such a result), @timestamp when the scan ended
// and a stable event.id of its own. Nothing more without flagged hosts.
func TestECSOpenEverywhere(t *testing.T) {
	v := outputtest.NewECSValidator(t)
	s := endScan()
	s.ID, s.Hostname, s.Finished = "scan-1", "scanner.lab", endTime.Add(1500*time.Millisecond)
	rs := endResults()
	for i := range rs {
		rs[i].SourceIP, rs[i].SourcePort = v4(0xC6120001), 61000
	}
	v6 := result.OpenEverywhere{Addr: netip.MustParseAddr("2001:2::90"), SYNACKs: 20, Probed: 20}
	flagged := append(append([]result.OpenEverywhere(nil), flaggedHosts...), v6)
	doc := writeECSEnded(t, s, &End{OpenEverywhere: flagged}, rs)
	if n := v.ValidateLines(t, []byte(doc)); n != len(rs)+len(flagged) {
		t.Fatalf("validated %d documents, want %d", n, len(rs)+len(flagged))
	}
	lines := strings.Split(strings.TrimSuffix(doc, "\n"), "\n")
	ids := map[string]bool{}
	for _, line := range lines[:len(rs)] {
		var d ecsNote
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(d.Event.Category) != "[network]" {
			t.Errorf("a note before the last result: %s", line)
		}
		ids[d.Event.ID] = true
	}
	for i, f := range flagged {
		line := lines[len(rs)+i]
		var d ecsNote
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatal(err)
		}
		addr := f.Addr.String()
		observer := "[198.18.0.1]"
		if f.Addr.Is6() {
			observer = "[]" // no IPv6 result named an IPv6 source address
		}
		if d.Timestamp != s.Finished.UTC().Format(time.RFC3339Nano) ||
			d.Event.Kind != "state" || fmt.Sprint(d.Event.Category, d.Event.Type) != "[host] [info]" || d.Event.Action != ECSOpenEverywhereAction ||
			fmt.Sprint(d.Host.IP, d.Related.IP) != "["+addr+"] ["+addr+"]" || d.Message != addr+": "+OpenEverywhereMessage(f) ||
			d.Fastscan.Record != HostNoteRecord || d.Fastscan.Note != OpenEverywhereNote || d.Fastscan.SYNACKs != f.SYNACKs ||
			d.Fastscan.Probed != f.Probed || d.Fastscan.ScanID != s.ID || fmt.Sprint(d.Observer.IP) != observer {
			t.Errorf("note %d: %s", i+1, line)
		}
		if ids[d.Event.ID] {
			t.Errorf("note %d: event.id %s repeats", i+1, d.Event.ID)
		}
		ids[d.Event.ID] = true
	}
	// Ingesting the same file twice does not duplicate the notes either.
	if again := writeECSEnded(t, s, &End{OpenEverywhere: flagged}, rs); again != doc {
		t.Errorf("a second run of the same scan wrote other documents:\n%s\n%s", doc, again)
	}

	plain := writeECSEnded(t, s, nil, rs)
	for _, e := range []*End{{}, {HostUp: endHostUp}} {
		if got := writeECSEnded(t, s, e, rs); got != plain {
			t.Errorf("End without flagged hosts changed the documents:\n%s", got)
		}
	}
	if strings.Contains(plain, HostNoteRecord) || strings.Count(plain, "\n") != len(rs) {
		t.Errorf("notes without flagged hosts:\n%s", plain)
	}
	if !strings.HasPrefix(doc, plain) {
		t.Errorf("the notes changed the results")
	}
}

// TestECSSchemaRejectsNotes shows the schema check of notes can fail.
func TestECSSchemaRejectsNotes(t *testing.T) {
	v := outputtest.NewECSValidator(t)
	s := endScan()
	s.ID, s.Finished = "scan-1", endTime
	good := strings.TrimSuffix(writeECSEnded(t, s, &End{OpenEverywhere: flaggedHosts[:1]}, nil), "\n")
	if err := v.ValidateLine([]byte(good)); err != nil {
		t.Fatalf("%s: %v", good, err)
	}
	for name, bad := range map[string]string{
		"category network": strings.Replace(good, `"category":["host"]`, `"category":["network"]`, 1),
		"host.ip a string": strings.Replace(good, `"host":{"ip":["198.19.0.1"]}`, `"host":{"ip":"198.19.0.1"}`, 1),
		"no host":          strings.Replace(good, `"host":{"ip":["198.19.0.1"]},`, ``, 1),
		"a port verdict":   strings.Replace(good, `"record":"host-note"`, `"record":"host-note","state":"open"`, 1),
		"no counts":        strings.Replace(good, `"syn_acks":64,`, ``, 1),
	} {
		if bad == good {
			t.Fatalf("%s: the replacement did not apply to %s", name, good)
		}
		if v.ValidateLine([]byte(bad)) == nil {
			t.Errorf("%s: schema accepted %s", name, bad)
		}
	}
}

// TestGrepableOpenEverywhere: grepable output has one comment line per
// flagged host, in address order, after every host's lines and before the
// closing comment; everything else is as without them.
func TestGrepableOpenEverywhere(t *testing.T) {
	e := End{HostUp: endHostUp, HostsProbed: 256, HostsUp: 3}
	plain := writeEnded(t, "grepable", &e, endResults())
	e.OpenEverywhere = flaggedHosts
	doc := writeEnded(t, "grepable", &e, endResults())
	want := "# fastscan: 198.19.0.1: SYN-ACK on 64 of 64 TCP ports probed: a SYN proxy or tarpit?\n" +
		"# fastscan: 198.19.0.7: SYN-ACK on 60 of 64 TCP ports probed: a SYN proxy or tarpit?\n"
	before, closing := cutLastLine(plain)
	gotBefore, gotClosing := cutLastLine(doc)
	if gotBefore != before+want {
		t.Errorf("grepable with notes:\n%s\nwant the lines of\n%s\nand then\n%s", doc, plain, want)
	}
	if !strings.HasPrefix(closing, "# fastscan done at ") || !strings.HasPrefix(gotClosing, "# fastscan done at ") ||
		!strings.Contains(gotClosing, "256 IP addresses (3 hosts up)") {
		t.Errorf("closing comments %q and %q", closing, gotClosing)
	}
	if strings.Contains(plain, "SYN proxy") {
		t.Errorf("notes without flagged hosts:\n%s", plain)
	}
}

// cutLastLine splits doc before its last line.
func cutLastLine(doc string) (before, last string) {
	i := strings.LastIndex(strings.TrimSuffix(doc, "\n"), "\n")
	return doc[:i+1], doc[i+1:]
}

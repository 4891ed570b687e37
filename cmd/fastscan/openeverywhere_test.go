package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fastscan/fastscan/engine"
	"github.com/fastscan/fastscan/output"
	"github.com/fastscan/fastscan/output/outputtest"
	"github.com/fastscan/fastscan/result"
)

// flagged returns n flagged hosts 198.19.0.1...
func flagged(n int) []result.OpenEverywhere {
	var hs []result.OpenEverywhere
	for i := range n {
		hs = append(hs, result.OpenEverywhere{Addr: netip.AddrFrom4([4]byte{198, 19, 0, byte(1 + i)}), SYNACKs: 64 - i%3, Probed: 64})
	}
	return hs
}

// TestSummaryOpenEverywhere: the summary names each flagged host (up to
// summaryOpenEverywhere), counts the others and gives the -sV hint once; a scan
// with none says nothing of it.
func TestSummaryOpenEverywhere(t *testing.T) {
	s := settings{}
	for _, n := range []int{0, 1, summaryOpenEverywhere + 3} {
		var buf bytes.Buffer
		writeSummary(&buf, &s, engine.Summary{OpenEverywhere: flagged(n)}, false)
		out := buf.String()
		named := strings.Count(out, "TCP ports probed: a SYN proxy or tarpit?")
		if named != min(n, summaryOpenEverywhere) || strings.Count(out, "-sV") != min(n, 1) {
			t.Errorf("%d flagged: %d named, summary:\n%s", n, named, out)
		}
		if n >= 1 && !strings.Contains(out, "  198.19.0.1: SYN-ACK on 64 of 64 TCP ports probed: a SYN proxy or tarpit?\n") {
			t.Errorf("no line for 198.19.0.1:\n%s", out)
		}
		if more := fmt.Sprintf("and %d more hosts", n-summaryOpenEverywhere); n > summaryOpenEverywhere && !strings.Contains(out, more) {
			t.Errorf("%d flagged: no %q:\n%s", n, more, out)
		}
	}
	var buf bytes.Buffer
	s.sv.enabled = true
	writeSummary(&buf, &s, engine.Summary{OpenEverywhere: flagged(1)}, false)
	if !strings.Contains(buf.String(), "-sV reported open only the ports where a service answered, and any it could not identify") {
		t.Errorf("with -sV:\n%s", buf.String())
	}
}

// TestStatusOpenEverywhere: the last --status-json line counts the flagged hosts
// and lists the first statusOpenEverywhere; other lines and scans without any
// have neither key.
func TestStatusOpenEverywhere(t *testing.T) {
	for _, n := range []int{0, 2, statusOpenEverywhere + 1} {
		var buf bytes.Buffer
		progress := func() engine.Progress { return engine.Progress{Phase: engine.PhaseScanning} }
		stop := writeStatus(&buf, progress, func() []engine.RateChange { return nil }, 1000)
		stop(engine.Summary{OpenEverywhere: flagged(n), Progress: engine.Progress{Phase: engine.PhaseDone}})
		lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
		last := lines[len(lines)-1]
		var l statusLine
		if err := json.Unmarshal([]byte(last), &l); err != nil {
			t.Fatal(err)
		}
		if l.OpenEverywhere != n || len(l.OpenEverywhereHosts) != min(n, statusOpenEverywhere) {
			t.Errorf("%d flagged: %s", n, last)
		}
		if n == 0 && strings.Contains(last, "open_everywhere") {
			t.Errorf("no flagged host, yet: %s", last)
		}
		if n > 0 && !strings.Contains(last, `"open_everywhere_hosts":[{"ip":"198.19.0.1","syn_acks":64,"probed":64}`) {
			t.Errorf("%d flagged: %s", n, last)
		}
	}
}

// TestMergeCommandHostNotes: fastscan merge reads the shards' host notes and
// writes them again: a host-note record in JSON lines, a hostscript note in
// nmap XML (valid against nmap.dtd), the counts of the shards added up.
func TestMergeCommandHostNotes(t *testing.T) {
	dir := t.TempDir()
	proxy := netip.MustParseAddr("198.19.0.90")
	var files []string
	for i, n := range []int{32, 31} {
		var buf bytes.Buffer
		w := output.NewJSONLScan(&buf, nil, output.Scan{ID: "5f0c", Shard: i, Shards: 2, Version: version, Start: time.Now()})
		r := result.Result{IP: proxy, Port: uint16(1 + i), Proto: result.TCP, State: result.Open, Reason: result.ReasonSYNACK, TTL: 64, TimeNanos: time.Now().UnixNano()}
		w.Write(&r)
		w.End(output.End{OpenEverywhere: []result.OpenEverywhere{{Addr: proxy, SYNACKs: n, Probed: 32}}})
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		files = append(files, filepath.Join(dir, fmt.Sprintf("s%d.jsonl", i)))
		if err := os.WriteFile(files[i], buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	xmlFile, jsonFile := filepath.Join(dir, "m.xml"), filepath.Join(dir, "m.jsonl")
	code, _, stderr := runCmd(t, append([]string{"merge", "-oX", xmlFile, "-oJ", jsonFile}, files...)...)
	if code != exitOK {
		t.Fatalf("merge: exit %d: %s", code, stderr)
	}
	js, err := os.ReadFile(jsonFile)
	if err != nil {
		t.Fatal(err)
	}
	outputtest.NewValidator(t).ValidateLines(t, js)
	if !strings.Contains(string(js), `"record":"host-note","ip":"198.19.0.90","note":"open-everywhere","syn_acks":63,"probed":64`) {
		t.Errorf("merged JSON lines without the summed note:\n%s", js)
	}
	doc, err := os.ReadFile(xmlFile)
	if err != nil {
		t.Fatal(err)
	}
	outputtest.ValidateNmapXML(t, doc)
	if !strings.Contains(string(doc), `<script id="fastscan-synproxy" output="SYN-ACK on 63 of 64 TCP ports probed`) {
		t.Errorf("merged XML without the note:\n%s", doc)
	}
}

package output

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"syscall"
	"testing"

	"github.com/fastscan/fastscan/output/outputtest"
	"github.com/fastscan/fastscan/result"
)

// callRecorder keeps every Write call separately.
type callRecorder struct{ calls [][]byte }

func (c *callRecorder) Write(p []byte) (int, error) {
	c.calls = append(c.calls, append([]byte(nil), p...))
	return len(p), nil
}

func (c *callRecorder) all() []byte { return bytes.Join(c.calls, nil) }

// manyResults returns n results on distinct hosts and ports, every one open.
func manyResults(n int) []result.Result {
	rs := make([]result.Result, n)
	for i := range rs {
		rs[i] = sample()
		rs[i].IP = netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)})
		rs[i].Port = uint16(1 + i%1000)
	}
	return rs
}

// TestLineFormatsWriteWholeRecords: every write(2) of a line format holds whole
// lines only; nothing is written before Flush until FlushSize is reached, and after
// Flush everything written is out.
func TestLineFormatsWriteWholeRecords(t *testing.T) {
	for _, format := range []string{"text", "jsonl", "ecs", "csv", "list"} {
		t.Run(format, func(t *testing.T) {
			var rec callRecorder
			w, err := New(format, &rec, Options{Scan: xmlScan()})
			if err != nil {
				t.Fatal(err)
			}
			rs := manyResults(8000)
			for i := range rs[:3] {
				if err := w.Write(&rs[i]); err != nil {
					t.Fatal(err)
				}
			}
			if len(rec.calls) != 0 {
				t.Fatalf("%d writes before Flush", len(rec.calls))
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			if len(rec.calls) != 1 {
				t.Fatalf("Flush made %d writes, want 1", len(rec.calls))
			}
			lines := strings.Count(string(rec.all()), "\n")
			if want := map[string]int{"csv": 4, "list": 4}[format]; want == 0 && lines != 3 || want != 0 && lines != want {
				t.Fatalf("after Flush: %q", rec.all())
			}
			for i := range rs[3:] {
				if err := w.Write(&rs[3+i]); err != nil {
					t.Fatal(err)
				}
			}
			if len(rec.calls) < 2 {
				t.Fatalf("%d writes for %d bytes of results: the buffer is not written when full", len(rec.calls), len(rec.all()))
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			for i, c := range rec.calls {
				if len(c) > FlushSize+1024 || !bytes.HasSuffix(c, []byte("\n")) {
					t.Fatalf("write %d of %d bytes does not end with a whole line: %q", i, len(c), c[max(0, len(c)-80):])
				}
				if format == "jsonl" || format == "ecs" {
					for _, line := range strings.Split(strings.TrimSpace(string(c)), "\n") {
						if !json.Valid([]byte(line)) {
							t.Fatalf("write %d holds a cut JSON line %q", i, line)
						}
					}
				}
			}
		})
	}
}

// shortFile accepts limit bytes, then fails with ENOSPC like a full disk, after
// writing part of a buffer; it records Seek and Truncate like *os.File.
type shortFile struct {
	data  []byte
	limit int
	pos   int64
}

func (f *shortFile) Write(p []byte) (int, error) {
	room := max(0, f.limit-len(f.data))
	n := min(room, len(p))
	f.data = append(f.data, p[:n]...)
	f.pos += int64(n)
	if n < len(p) {
		return n, syscall.ENOSPC
	}
	return n, nil
}

func (f *shortFile) Seek(off int64, whence int) (int64, error) {
	if whence == 0 {
		f.pos = off
	}
	return f.pos, nil
}

func (f *shortFile) Truncate(size int64) error {
	f.data = f.data[:size]
	return nil
}

// TestFullDiskKeepsWholeRecords: a write that fails part way (ENOSPC) is cut off
// again, so the file ends with a whole line, and the error sticks.
func TestFullDiskKeepsWholeRecords(t *testing.T) {
	f := &shortFile{limit: 1000}
	w := NewJSONL(f, nil)
	rs := manyResults(20)
	var err error
	for i := range rs {
		if err = w.Write(&rs[i]); err != nil {
			break
		}
	}
	if err == nil {
		err = w.Flush()
	}
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("error %v, want ENOSPC", err)
	}
	if len(f.data) != 0 {
		t.Fatalf("the file holds %d bytes after the failed write: %q", len(f.data), f.data)
	}
	// A smaller first flush fits, and stays; the next one is cut off.
	f = &shortFile{limit: 1000}
	w = NewJSONL(f, nil)
	w.Write(&rs[0])
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	kept := len(f.data)
	for i := range rs[1:] {
		w.Write(&rs[1+i])
	}
	if err := w.Flush(); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("second flush: %v", err)
	}
	if len(f.data) != kept || !json.Valid(bytes.TrimSpace(f.data)) {
		t.Fatalf("file after the failed flush: %q", f.data)
	}
	if err := w.Close(); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Close after the error: %v, want the same ENOSPC", err)
	}
}

// TestXMLWrittenAsTheScanGoes: the header at the first Flush, then a host element
// per host that answered itself at every Flush (a prefix nmap's DTD accepts once
// closed), hosts known only from filtered ports at Close, a host whose ports came
// in two batches in two elements, and the finished document valid.
func TestXMLWrittenAsTheScanGoes(t *testing.T) {
	var rec callRecorder
	x := NewXML(&rec, nil, xmlScan())
	if err := x.Flush(); err != nil {
		t.Fatal(err)
	}
	if len(rec.calls) != 1 || !strings.HasSuffix(string(rec.all()), "<debugging level=\"0\"/>\n") {
		t.Fatalf("header: %q", rec.all())
	}
	outputtest.ValidateNmapXMLPrefix(t, rec.all())
	open := sample()
	filtered := sample()
	filtered.IP, filtered.State, filtered.Reason = v4(0xC6130009), result.Filtered, result.ReasonAdminProhibited
	x.Write(&open)
	x.Write(&filtered)
	if err := x.Flush(); err != nil {
		t.Fatal(err)
	}
	doc := string(rec.all())
	if !strings.Contains(doc, `addr="198.19.0.5"`) || strings.Contains(doc, `addr="198.19.0.9"`) {
		t.Fatalf("after the second Flush: want the open host only:\n%s", doc)
	}
	outputtest.ValidateNmapXMLPrefix(t, rec.all())
	closed := sample()
	closed.Port, closed.State, closed.Reason = 80, result.Closed, result.ReasonReset
	x.Write(&closed)
	x.End(End{HostsProbed: 2, HostsUp: 1, HostUp: func(a netip.Addr) (result.Reason, bool) {
		return result.ReasonSYNACK, a == open.IP
	}})
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	data := rec.all()
	outputtest.ValidateNmapXML(t, data)
	got := outputtest.ParseNmapXML(t, data)
	if len(got.Hosts) != 3 || got.Runstats.Hosts.Up != 1 || got.Runstats.Hosts.Total != 256 {
		t.Fatalf("%d host elements, runstats %+v:\n%s", len(got.Hosts), got.Runstats.Hosts, data)
	}
	var hosts []string
	for _, h := range got.Hosts {
		hosts = append(hosts, fmt.Sprintf("%s %s %d", h.Addr.Addr, h.Status.State, len(h.Ports)))
	}
	if want := "[198.19.0.5 up 1 198.19.0.5 up 1 198.19.0.9 down 1]"; fmt.Sprint(hosts) != want {
		t.Fatalf("hosts %v, want %s", hosts, want)
	}
	for i, c := range rec.calls {
		if !bytes.HasSuffix(c, []byte(">\n")) {
			t.Fatalf("write %d does not end with a whole element: %q", i, c)
		}
	}
}

// TestGrepableWrittenAsTheScanGoes: the first comment and the hosts that answered
// at Flush, whole lines only, the rest at Close.
func TestGrepableWrittenAsTheScanGoes(t *testing.T) {
	var rec callRecorder
	g := NewGrepable(&rec, nil, xmlScan())
	open := sample()
	filtered := sample()
	filtered.IP, filtered.State, filtered.Reason = v4(0xC6130009), result.Filtered, result.ReasonAdminProhibited
	g.Write(&open)
	g.Write(&filtered)
	if err := g.Flush(); err != nil {
		t.Fatal(err)
	}
	doc := string(rec.all())
	if !strings.HasPrefix(doc, "# fastscan test scan initiated") || !strings.Contains(doc, "Host: 198.19.0.5 ()\tPorts: 22/open/tcp//ssh///\n") || strings.Contains(doc, "198.19.0.9") {
		t.Fatalf("after Flush:\n%s", doc)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	doc = string(rec.all())
	if !strings.Contains(doc, "Host: 198.19.0.9 ()\tPorts: 22/filtered/tcp//ssh///\n") || !strings.HasPrefix(doc[strings.LastIndex(doc[:len(doc)-1], "\n")+1:], "# fastscan done") {
		t.Fatalf("after Close:\n%s", doc)
	}
	for i, c := range rec.calls {
		if !bytes.HasSuffix(c, []byte("\n")) {
			t.Fatalf("write %d is not whole lines: %q", i, c)
		}
	}
}

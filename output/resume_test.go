package output

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/fastscan/fastscan/output/outputtest"
	"github.com/fastscan/fastscan/result"
)

// TestResumable: a file cut back to Written and continued by a new writer (with
// the first writer's kept results) is the file one writer would have written:
// one header, every result, valid nmap XML.
func TestResumable(t *testing.T) {
	r := func(ip string, port uint16, st result.State, reason result.Reason) result.Result {
		return result.Result{IP: netip.MustParseAddr(ip), Port: port, Proto: result.TCP, State: st, Reason: reason, TTL: 64, TimeNanos: 1e18}
	}
	before := []result.Result{r("198.19.0.1", 22, result.Open, result.ReasonSYNACK), r("198.19.0.2", 80, result.Filtered, result.ReasonAdminProhibited)}
	after := []result.Result{r("198.19.0.3", 80, result.Closed, result.ReasonReset)}
	scan := Scan{Args: "fastscan 198.19.0.0/24 -p 22,80", Start: time.Unix(1e9, 0), Ports: "22,80", NumPorts: 2, Hosts: 256, Version: "test"}
	for _, f := range Formats() {
		t.Run(f.Name, func(t *testing.T) {
			var file bytes.Buffer
			w := f.New(&file, Options{Scan: scan}).(Resumable)
			for i := range before {
				if err := w.(Writer).Write(&before[i]); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.(Writer).Flush(); err != nil {
				t.Fatal(err)
			}
			if w.Written() != int64(file.Len()) {
				t.Fatalf("Written %d, the file holds %d bytes", w.Written(), file.Len())
			}
			kept, n := w.Kept(), w.Written() // the checkpoint
			w.(Writer).Close()               // an orderly stop: the footer, cut off again below
			file.Truncate(int(n))

			w2 := f.New(&file, Options{Scan: scan})
			w2.(Resumable).Continue(kept)
			for i := range after {
				if err := w2.Write(&after[i]); err != nil {
					t.Fatal(err)
				}
			}
			if err := w2.Close(); err != nil {
				t.Fatal(err)
			}
			doc := file.String()
			for _, res := range append(before, after...) {
				if n := strings.Count(doc, res.IP.String()); n == 0 {
					t.Errorf("%v missing:\n%s", res.IP, doc)
				}
			}
			switch f.Name {
			case "xml":
				outputtest.ValidateNmapXML(t, file.Bytes())
				if n := strings.Count(doc, "<nmaprun "); n != 1 {
					t.Errorf("%d nmaprun elements", n)
				}
			case "csv", "list", "grepable":
				first, _, _ := strings.Cut(doc, "\n")
				if strings.Count(doc, first+"\n") != 1 {
					t.Errorf("header %q more than once:\n%s", first, doc)
				}
			}
		})
	}
}

package output

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/fastscan/fastscan/result"
)

// TestSortedText: results given out of order come out grouped by host (hosts by
// address, ports ascending, TCP before UDP), nmap-style, after Close only;
// "Not shown" counts the hidden replies and, for a whole scan, the ports that
// never answered (ports scanned less shown and hidden).
func TestSortedText(t *testing.T) {
	a, b := netip.MustParseAddr("198.19.0.10"), netip.MustParseAddr("198.19.0.9")
	var buf bytes.Buffer
	w := NewSortedText(&buf, Options{Scan: Scan{NumPorts: 5, NumUDPPorts: 1}})
	for _, r := range []result.Result{
		{IP: a, Port: 8080, Proto: result.TCP, State: result.Open, Reason: result.ReasonSYNACK},
		{IP: b, Port: 53, Proto: result.UDP, State: result.Open, Reason: result.ReasonUDPResponse},
		{IP: a, Port: 22, Proto: result.TCP, State: result.Open, Reason: result.ReasonSYNACK},
		{IP: b, Port: 443, Proto: result.TCP, State: result.Open, Reason: result.ReasonSYNACK},
	} {
		if err := w.Write(&r); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		w.Hidden(result.Result{IP: a, Port: 1, Proto: result.TCP, State: result.Closed, Reason: result.ReasonReset})
	}
	w.Hidden(result.Result{IP: b, Port: 2, Proto: result.TCP, State: result.Closed, Reason: result.ReasonReset})
	if err := w.Flush(); err != nil || buf.Len() != 0 {
		t.Fatalf("Flush wrote %q (%v): the report waits for Close", buf.String(), err)
	}
	w.End(End{})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	want := `fastscan scan report for 198.19.0.9
Not shown: 3 filtered tcp ports (no-response), 1 closed tcp port (reset)
PORT    STATE SERVICE
443/tcp open  https
53/udp  open  domain

fastscan scan report for 198.19.0.10
Not shown: 2 closed tcp ports (reset), 1 filtered tcp port (no-response), 1 open|filtered udp port (no-response)
PORT     STATE SERVICE
22/tcp   open  ssh
8080/tcp open  http-alt
`
	if buf.String() != want {
		t.Errorf("sorted report:\n%s\nwant:\n%s", buf.String(), want)
	}

	// An interrupted scan does not know which ports would have answered: only
	// the hidden replies are counted.
	buf.Reset()
	w = NewSortedText(&buf, Options{Scan: Scan{NumPorts: 5}})
	w.Write(&result.Result{IP: a, Port: 22, Proto: result.TCP, State: result.Open})
	w.Hidden(result.Result{IP: a, Port: 1, Proto: result.TCP, State: result.Closed, Reason: result.ReasonReset})
	w.End(End{Interrupted: true})
	w.Close()
	if want := "fastscan scan report for 198.19.0.10\nNot shown: 1 closed tcp port (reset)\nPORT   STATE SERVICE\n22/tcp open  ssh\n"; buf.String() != want {
		t.Errorf("interrupted report:\n%s\nwant:\n%s", buf.String(), want)
	}
}

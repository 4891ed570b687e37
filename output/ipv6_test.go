package output

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/fastscan/fastscan/output/outputtest"
	"github.com/fastscan/fastscan/result"
)

// v6Results are verdicts for IPv6 targets (and one IPv4 target beside them), as
// a mixed scan reports them.
func v6Results() []result.Result {
	r := sample()
	r.SourceIP, r.SourcePort = netip.MustParseAddr("2001:2::1"), 61000
	out := []result.Result{r, r, r, r}
	out[0].IP = netip.MustParseAddr("2001:2:0:0:0:0:0:5") // written in RFC 5952 form: 2001:2::5
	out[1].IP, out[1].Port, out[1].State, out[1].Reason = netip.MustParseAddr("2001:2::5"), 80, result.Closed, result.ReasonReset
	out[2].IP, out[2].State, out[2].Reason, out[2].TTL = netip.MustParseAddr("2001:2:0:1::ff"), result.Filtered, result.ReasonAdminProhibited, 63
	out[3].SourceIP = netip.MustParseAddr("198.18.0.1")
	return out
}

func writeEach(t *testing.T, w Writer, rs []result.Result) {
	t.Helper()
	for i := range rs {
		if err := w.Write(&rs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestIPv6JSONL(t *testing.T) {
	v := outputtest.NewValidator(t)
	var buf bytes.Buffer
	writeEach(t, NewJSONL(&buf, nil), v6Results())
	if n := v.ValidateLines(t, buf.Bytes()); n != 4 {
		t.Fatalf("validated %d lines", n)
	}
	var ips []string
	for line := range strings.SplitSeq(strings.TrimSpace(buf.String()), "\n") {
		var doc struct {
			IP string `json:"ip"`
		}
		if err := json.Unmarshal([]byte(line), &doc); err != nil {
			t.Fatal(err)
		}
		ips = append(ips, doc.IP)
	}
	if strings.Join(ips, " ") != "2001:2::5 2001:2::5 2001:2:0:1::ff 198.19.0.5" {
		t.Errorf("ip members %q, want RFC 5952 text", ips)
	}
	// The schema rejects what is no address of either family.
	bad := strings.Replace(strings.SplitN(buf.String(), "\n", 2)[0], "2001:2::5", "2001:2:::5", 1)
	if err := v.ValidateLine([]byte(bad)); err == nil {
		t.Errorf("schema accepted %s", bad)
	}
}

func TestIPv6ECS(t *testing.T) {
	v := outputtest.NewECSValidator(t)
	var buf bytes.Buffer
	s := xmlScan()
	s.ID, s.Hostname = "scan-1", "scanner.lab"
	writeEach(t, NewECS(&buf, nil, s), v6Results())
	if n := v.ValidateLines(t, buf.Bytes()); n != 4 {
		t.Fatalf("validated %d documents", n)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	for i, want := range []struct{ typ, msg string }{
		{"ipv6", "[2001:2::5]:22/tcp open (syn-ack)"},
		{"ipv6", "[2001:2::5]:80/tcp closed (reset)"},
		{"ipv6", "[2001:2:0:1::ff]:22/tcp filtered (admin-prohibited)"},
		{"ipv4", "198.19.0.5:22/tcp open (syn-ack)"},
	} {
		var doc struct {
			Network struct {
				Type string `json:"type"`
			} `json:"network"`
			Message string `json:"message"`
		}
		if err := json.Unmarshal([]byte(lines[i]), &doc); err != nil {
			t.Fatal(err)
		}
		if doc.Network.Type != want.typ || doc.Message != want.msg {
			t.Errorf("document %d: network.type %q, message %q; want %q, %q", i, doc.Network.Type, doc.Message, want.typ, want.msg)
		}
	}
	if eventID(t, lines[0]) == eventID(t, lines[3]) {
		t.Error("an IPv6 and an IPv4 finding share an event.id")
	}
}

func TestIPv6NmapXML(t *testing.T) {
	var buf bytes.Buffer
	writeEach(t, NewXML(&buf, nil, xmlScan()), v6Results())
	outputtest.ValidateNmapXML(t, buf.Bytes())
	html := outputtest.RenderNmapXML(t, buf.Bytes())
	for _, want := range []string{"2001:2::5", "2001:2:0:1::ff", "198.19.0.5"} {
		if !strings.Contains(html, want) {
			t.Errorf("nmap.xsl report lacks %q", want)
		}
	}
	doc := outputtest.ParseNmapXML(t, buf.Bytes())
	got := map[string]string{}
	for _, h := range doc.Hosts {
		got[h.Addr.Addr] = h.Addr.AddrType
	}
	want := map[string]string{"2001:2::5": "ipv6", "2001:2:0:1::ff": "ipv6", "198.19.0.5": "ipv4"}
	if len(got) != len(want) {
		t.Fatalf("hosts %v, want %v", got, want)
	}
	for a, typ := range want {
		if got[a] != typ {
			t.Errorf("host %s addrtype %q, want %q", a, got[a], typ)
		}
	}
}

func TestIPv6LineFormats(t *testing.T) {
	var text, list, grep, csvBuf bytes.Buffer
	writeEach(t, NewText(&text, nil), v6Results())
	writeEach(t, NewList(&list, nil), v6Results())
	writeEach(t, NewGrepable(&grep, nil, xmlScan()), v6Results())
	writeEach(t, NewCSV(&csvBuf, nil), v6Results())
	if first := strings.SplitN(text.String(), "\n", 2)[0]; !strings.HasPrefix(first, "2001:2::5 ") || !strings.Contains(first, "22/tcp") {
		t.Errorf("text line %q", first)
	}
	if !strings.Contains(list.String(), " 2001:2:0:1::ff ") {
		t.Errorf("list output lacks the address as a field:\n%s", list.String())
	}
	if !strings.Contains(grep.String(), "Host: 2001:2::5 ()") {
		t.Errorf("grepable output:\n%s", grep.String())
	}
	recs, err := csv.NewReader(&csvBuf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 5 || recs[1][0] != "2001:2::5" || recs[3][0] != "2001:2:0:1::ff" {
		t.Errorf("CSV records %q", recs)
	}
}

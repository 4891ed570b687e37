package output

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/fastscan/fastscan/citest"
	"github.com/fastscan/fastscan/output/outputtest"
	"github.com/fastscan/fastscan/registry"
	"github.com/fastscan/fastscan/result"
)

func sample() result.Result {
	return result.Result{
		IP: v4(0xC6130005), Port: 22, Proto: result.TCP, State: result.Open,
		Reason: result.ReasonSYNACK, TTL: 64,
		TimeNanos: time.Date(2026, 11, 22, 11, 0, 0, 123456789, time.UTC).UnixNano(),
	}
}

func TestJSONLDecodes(t *testing.T) {
	var buf bytes.Buffer
	w := NewJSONL(&buf, nil)
	r := sample()
	if err := w.Write(&r); err != nil {
		t.Fatal(err)
	}
	r2 := r
	r2.IP, r2.Port, r2.State, r2.Reason, r2.TTL = v4(0xFFFFFFFF), 65535, result.Filtered, result.ReasonNoResponse, 0
	if err := w.Write(&r2); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2:\n%s", len(lines), buf.String())
	}
	type line struct {
		Version   int    `json:"schema_version"`
		IP        string `json:"ip"`
		Port      int    `json:"port"`
		Proto     string `json:"proto"`
		State     string `json:"state"`
		Reason    string `json:"reason"`
		TTL       int    `json:"ttl"`
		Service   string `json:"service"`
		Method    string `json:"service_method"`
		PortClass string `json:"port_class"`
		Timestamp string `json:"timestamp"`
	}
	want := []line{
		{2, "198.19.0.5", 22, "tcp", "open", "syn-ack", 64, "ssh", "table", "system", "2026-11-22T11:00:00.123456789Z"},
		{2, "255.255.255.255", 65535, "tcp", "filtered", "no-response", 0, "unknown", "table", "dynamic", "2026-11-22T11:00:00.123456789Z"},
	}
	for i, l := range lines {
		dec := json.NewDecoder(strings.NewReader(l))
		dec.DisallowUnknownFields()
		var got line
		if err := dec.Decode(&got); err != nil {
			t.Fatalf("line %d %q: %v", i, l, err)
		}
		if got != want[i] {
			t.Errorf("line %d = %+v, want %+v", i, got, want[i])
		}
		if _, err := time.Parse(time.RFC3339, got.Timestamp); err != nil {
			t.Errorf("timestamp %q is not RFC 3339: %v", got.Timestamp, err)
		}
	}
}

func TestTextLine(t *testing.T) {
	var buf bytes.Buffer
	w := NewText(&buf, nil)
	r := sample()
	if err := w.Write(&r); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(buf.String())
	want := []string{"198.19.0.5", "22/tcp", "open", "ssh", "syn-ack", "ttl", "64"}
	if strings.Join(fields, " ") != strings.Join(want, " ") {
		t.Fatalf("text line %q, want fields %q", buf.String(), want)
	}
}

// v4 is the IPv4 address with the numeric value v (198.19.0.5 is 0xC6130005).
func v4(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func TestNewUnknownFormat(t *testing.T) {
	if _, err := New("yaml", &bytes.Buffer{}, Options{}); err == nil || !strings.Contains(err.Error(), `"yaml"`) {
		t.Fatalf("New(yaml) error = %v, want one naming the format", err)
	}
}

func TestWriteAllocatesNothing(t *testing.T) {
	r := sample()
	for _, w := range []Writer{NewJSONL(&bytes.Buffer{}, nil), NewText(&bytes.Buffer{}, nil), NewCSV(&bytes.Buffer{}, nil), NewList(&bytes.Buffer{}, nil)} {
		w.Write(&r)
		if n := testing.AllocsPerRun(1000, func() { w.Write(&r) }); n != 0 {
			t.Errorf("%T.Write allocates %v times per result", w, n)
		}
	}
}

// TestServicesFromGivenRegistry checks that writers name services from the registry
// they are given (as --registry FILE does), escaping whatever the file holds.
func TestServicesFromGivenRegistry(t *testing.T) {
	csv := "Service Name,Port Number,Transport Protocol,Description\n" +
		"\"my\"\"odd\\name\",22,tcp,test entry\n"
	reg, err := registry.Load(strings.NewReader(csv))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w := NewJSONL(&buf, reg)
	r := sample()
	if err := w.Write(&r); err != nil {
		t.Fatal(err)
	}
	w.Close()
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("%q: %v", buf.String(), err)
	}
	if got["service"] != `my"odd\name` {
		t.Fatalf("service = %q, want the registry's name", got["service"])
	}
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "ssh", `a"b`, `back\slash`, "tab\there", "\x00\x1f", "ünï"} {
		b := appendJSONString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil || got != s {
			t.Errorf("appendJSONString(%q) = %s, decodes to %q (%v)", s, b, got, err)
		}
	}
}

func TestCSVReadsBack(t *testing.T) {
	var buf bytes.Buffer
	w := NewCSV(&buf, nil)
	r := sample()
	if err := w.Write(&r); err != nil {
		t.Fatal(err)
	}
	r.Port, r.State, r.Reason = 65535, result.Closed, result.ReasonReset
	if err := w.Write(&r); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatalf("encoding/csv cannot read %q: %v", buf.String(), err)
	}
	want := [][]string{
		{"ip", "port", "proto", "state", "reason", "ttl", "service", "port_class", "timestamp"},
		{"198.19.0.5", "22", "tcp", "open", "syn-ack", "64", "ssh", "system", "2026-11-22T11:00:00.123456789Z"},
		{"198.19.0.5", "65535", "tcp", "closed", "reset", "64", "unknown", "dynamic", "2026-11-22T11:00:00.123456789Z"},
	}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Fatalf("rows %q, want %q", rows, want)
	}
}

func TestCSVEmptyHasHeader(t *testing.T) {
	var buf bytes.Buffer
	if err := NewCSV(&buf, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if buf.String() != csvHeader {
		t.Fatalf("empty CSV %q, want just the header", buf.String())
	}
}

func TestAppendCSVField(t *testing.T) {
	for _, s := range []string{"ssh", "a,b", `q"uote`, "line\nbreak", ""} {
		line := string(appendCSVField(nil, s)) + ",x\n"
		rows, err := csv.NewReader(strings.NewReader(line)).ReadAll()
		if err != nil || len(rows) != 1 || rows[0][0] != s || rows[0][1] != "x" {
			t.Errorf("appendCSVField(%q) = %q, reads back %q (%v)", s, line, rows, err)
		}
	}
}

func TestList(t *testing.T) {
	var buf bytes.Buffer
	w := NewList(&buf, nil)
	r := sample()
	if err := w.Write(&r); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("#fastscan\nopen tcp 22 198.19.0.5 %d\n# end\n", time.Unix(0, r.TimeNanos).Unix())
	if buf.String() != want {
		t.Fatalf("list output %q, want %q", buf.String(), want)
	}
	buf.Reset()
	if err := NewList(&buf, nil).Close(); err != nil || buf.String() != "#fastscan\n# end\n" {
		t.Fatalf("empty list %q (%v)", buf.String(), err)
	}
}

// TestJSONLMatchesSchema writes every state and reason, and edge addresses, ports and
// TTLs, and validates each line against the published JSON Schema.
func TestJSONLMatchesSchema(t *testing.T) {
	v := outputtest.NewValidator(t)
	var buf bytes.Buffer
	w := NewJSONL(&buf, nil)
	r := sample()
	for _, ip := range []netip.Addr{v4(0), v4(0xC6130005), v4(0xFFFFFFFF)} {
		for _, port := range []uint16{1, 22, 1023, 1024, 49151, 49152, 65535} {
			for reason := result.ReasonSYNACK; reason <= result.ReasonAdminProhibited; reason++ {
				r.IP, r.Port, r.Reason, r.TTL = ip, port, reason, uint8(port)
				r.State = []result.State{result.Open, result.Closed, result.Filtered}[int(reason)%3]
				if err := w.Write(&r); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	// UDP verdicts.
	for _, u := range []struct {
		state  result.State
		reason result.Reason
	}{{result.Open, result.ReasonUDPResponse}, {result.Closed, result.ReasonPortUnreachable}, {result.OpenFiltered, result.ReasonNoResponse}} {
		r.Proto, r.Port, r.State, r.Reason = result.UDP, 53, u.state, u.reason
		if err := w.Write(&r); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	if n := v.ValidateLines(t, buf.Bytes()); n != 3*7*10+3 {
		t.Fatalf("validated %d lines, want %d", n, 3*7*10+3)
	}
	if !strings.Contains(buf.String(), `"proto":"udp","state":"open|filtered","reason":"no-response","ttl":255,"service":"domain"`) {
		t.Errorf("UDP open|filtered line missing or misnamed:\n%s", buf.String())
	}
}

// TestSchemaRejects shows the schema check can fail: lines that break the layout.
func TestSchemaRejects(t *testing.T) {
	v := outputtest.NewValidator(t)
	good := `{"schema_version":2,"ip":"198.19.0.5","port":22,"proto":"tcp","state":"open","reason":"syn-ack","ttl":64,"service":"ssh","service_method":"table","port_class":"system","timestamp":"2026-11-22T11:00:00Z"}`
	if err := v.ValidateLine([]byte(good)); err != nil {
		t.Fatalf("good line rejected: %v", err)
	}
	for name, bad := range map[string]string{
		"missing key":   strings.Replace(good, `"ttl":64,`, "", 1),
		"extra key":     strings.Replace(good, `"ttl":64,`, `"ttl":64,"x":1,`, 1),
		"duplicate key": strings.Replace(good, `"ttl":64,`, `"ttl":64,"ttl":64,`, 1),
		"bad address":   strings.Replace(good, `198.19.0.5`, `198.19.0.500`, 1),
		"port as text":  strings.Replace(good, `"port":22`, `"port":"22"`, 1),
		"port 0":        strings.Replace(good, `"port":22`, `"port":0`, 1),
		"unknown state": strings.Replace(good, `"open"`, `"opened"`, 1),
		"local time":    strings.Replace(good, `11:00:00Z`, `11:00:00+01:00`, 1),
		"version 1":     strings.Replace(good, `"schema_version":2`, `"schema_version":1`, 1),
		"version 3":     strings.Replace(good, `"schema_version":2`, `"schema_version":3`, 1),
		"no method":     strings.Replace(good, `"service_method":"table",`, ``, 1),
		"other method":  strings.Replace(good, `"service_method":"table"`, `"service_method":"guess"`, 1),
		"empty product": strings.Replace(good, `"port_class"`, `"product":"","port_class"`, 1),
		"starttls off":  strings.Replace(good, `"port_class"`, `"starttls":false,"port_class"`, 1),
		"tls extra key": strings.Replace(good, `"port_class"`, `"tls":{"x":"y"},"port_class"`, 1),
		"tls bad sha":   strings.Replace(good, `"port_class"`, `"tls":{"sha256":"AB"},"port_class"`, 1),
		"tls local":     strings.Replace(good, `"port_class"`, `"tls":{"not_after":"2027-01-01T00:00:00+01:00"},"port_class"`, 1),
	} {
		if err := v.ValidateLine([]byte(bad)); err == nil {
			t.Errorf("%s: %s accepted", name, bad)
		}
	}
}

func xmlScan() Scan {
	return Scan{Args: `fastscan 198.19.0.0/24 -p 22,80 --tag "<&>"`, Start: time.Unix(1795345200, 0), Ports: "22,80", NumPorts: 2, Hosts: 256, Version: "test"}
}

// TestXMLValidAndRendered checks the nmap XML against nmap's own DTD (xmllint) and
// renders it with nmap's stylesheet (xsltproc).
func TestXMLValidAndRendered(t *testing.T) {
	var buf bytes.Buffer
	w := NewXML(&buf, nil, xmlScan())
	r := sample()
	results := []result.Result{r, r, r}
	results[1].Port, results[1].State, results[1].Reason = 80, result.Closed, result.ReasonReset
	results[2].IP, results[2].State, results[2].Reason, results[2].TTL = v4(0xC6130009), result.Filtered, result.ReasonNoResponse, 0
	for i := range results {
		if err := w.Write(&results[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	outputtest.ValidateNmapXML(t, buf.Bytes())
	html := outputtest.RenderNmapXML(t, buf.Bytes())
	for _, want := range []string{"198.19.0.5", "198.19.0.9", "ssh", "open", "closed", "filtered"} {
		if !strings.Contains(html, want) {
			t.Errorf("nmap.xsl report lacks %q", want)
		}
	}

	// Read back: two hosts, ports in order, states and service names as written.
	doc := outputtest.ParseNmapXML(t, buf.Bytes())
	if doc.Args != xmlScan().Args || len(doc.Hosts) != 2 || doc.Runstats.Hosts.Up != 2 || doc.Runstats.Hosts.Total != 256 {
		t.Fatalf("document %+v", doc)
	}
	h := doc.Hosts[0]
	if h.Addr.Addr != "198.19.0.5" || len(h.Ports) != 2 || h.Ports[0].ID != 22 || h.Ports[0].State.State != "open" ||
		h.Ports[0].Service.Name != "ssh" || h.Ports[1].ID != 80 || h.Ports[1].State.Reason != "reset" {
		t.Fatalf("first host %+v", h)
	}
}

func TestXMLEmptyScanIsValid(t *testing.T) {
	var buf bytes.Buffer
	if err := NewXML(&buf, nil, xmlScan()).Close(); err != nil {
		t.Fatal(err)
	}
	outputtest.ValidateNmapXML(t, buf.Bytes())
}

// TestPcapReadBack records frames and reads the file back with gopacket's pcap reader
// and, in a subtest that needs it installed, with tcpdump itself.
func TestPcapReadBack(t *testing.T) {
	name := filepath.Join(t.TempDir(), "r.pcap")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPcap(f)
	if err != nil {
		t.Fatal(err)
	}
	frames := [][]byte{bytes.Repeat([]byte{1}, 60), bytes.Repeat([]byte{2}, 74), bytes.Repeat([]byte{3}, PcapSnapLen+100)}
	base := time.Date(2026, 11, 22, 11, 0, 0, 0, time.UTC).UnixNano()
	for i, fr := range frames {
		p.Capture(fr, base+int64(i)*1000)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()

	rf, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer rf.Close()
	r, err := pcapgo.NewReader(rf)
	if err != nil {
		t.Fatal(err)
	}
	if r.LinkType() != layers.LinkTypeEthernet {
		t.Fatalf("link type %v", r.LinkType())
	}
	for i, want := range frames {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		n := min(len(want), PcapSnapLen)
		if !bytes.Equal(data, want[:n]) || ci.Length != len(want) || ci.Timestamp.UnixNano() != base+int64(i)*1000 {
			t.Errorf("packet %d: %d bytes of %d at %v", i, len(data), ci.Length, ci.Timestamp)
		}
	}
	if _, _, err := r.ReadPacketData(); err != io.EOF {
		t.Fatalf("more packets than recorded: %v", err)
	}
	t.Run("tcpdump", func(t *testing.T) {
		tcpdump := citest.RequireTool(t, "tcpdump")
		out, err := exec.Command(tcpdump, "-n", "-r", name).CombinedOutput()
		if err != nil || strings.Count(string(out), "\n") < len(frames) {
			t.Fatalf("tcpdump -r: %v\n%s", err, out)
		}
	})
}

func TestPcapCaptureAllocatesNothing(t *testing.T) {
	p, err := NewPcap(io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	frame := make([]byte, 74)
	if n := testing.AllocsPerRun(1000, func() { p.Capture(frame, 1) }); n != 0 {
		t.Fatalf("Capture allocates %v times per reply", n)
	}
}

// parseGrepable reads nmap's grepable layout back as users' scripts do: "Ports:"
// fields split on ", " and "/".
func parseGrepable(t *testing.T, data string) map[string]string {
	t.Helper()
	got := map[string]string{}
	lines := strings.Split(strings.TrimSpace(data), "\n")
	if !strings.HasPrefix(lines[0], "# fastscan") || !strings.HasPrefix(lines[len(lines)-1], "# fastscan done at") {
		t.Fatalf("grepable output lacks its comments:\n%s", data)
	}
	for _, line := range lines[1 : len(lines)-1] {
		host, rest, ok := strings.Cut(line, "\t")
		if !ok || !strings.HasPrefix(host, "Host: ") || !strings.HasSuffix(host, " ()") {
			t.Fatalf("grepable line %q", line)
		}
		addr := strings.TrimSuffix(strings.TrimPrefix(host, "Host: "), " ()")
		if rest == "Status: Up" {
			continue
		}
		ports, ok := strings.CutPrefix(rest, "Ports: ")
		if !ok {
			t.Fatalf("grepable line %q", line)
		}
		for _, entry := range strings.Split(ports, ", ") {
			f := strings.Split(entry, "/")
			if len(f) != 8 || f[2] != "tcp" {
				t.Fatalf("port entry %q", entry)
			}
			got[addr+":"+f[0]] = f[1] + "/" + f[4]
		}
	}
	return got
}

func TestGrepable(t *testing.T) {
	var buf bytes.Buffer
	w := NewGrepable(&buf, nil, xmlScan())
	r := sample()
	results := []result.Result{r, r, r}
	results[0].Port = 80
	results[1].State, results[1].Reason = result.Open, result.ReasonSYNACK
	results[2].IP, results[2].State = v4(0xC6130009), result.Filtered
	for i := range results {
		w.Write(&results[i])
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got := parseGrepable(t, buf.String())
	want := map[string]string{"198.19.0.5:22": "open/ssh", "198.19.0.5:80": "open/http", "198.19.0.9:22": "filtered/ssh"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("grepable holds %v, want %v\n%s", got, want, buf.String())
	}
	if !strings.Contains(buf.String(), "256 IP addresses (2 hosts up)") {
		t.Errorf("closing comment:\n%s", buf.String())
	}
}

// TestECSMatchesSchema writes every state and reason as ECS and validates each
// document against the ECS schema (nested objects only, no dotted keys).
func TestECSMatchesSchema(t *testing.T) {
	v := outputtest.NewECSValidator(t)
	var buf bytes.Buffer
	s := xmlScan()
	s.ID, s.Hostname = "scan-1", "scanner.lab"
	w := NewECS(&buf, nil, s)
	r := sample()
	r.SourceIP, r.SourcePort = v4(0xC6120001), 61000
	ids := map[string]bool{}
	for reason := result.ReasonSYNACK; reason <= result.ReasonAdminProhibited; reason++ {
		r.Port, r.Reason = uint16(reason), reason
		r.State = []result.State{result.Open, result.Closed, result.Filtered}[int(reason)%3]
		if err := w.Write(&r); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	if n := v.ValidateLines(t, buf.Bytes()); n != 10 {
		t.Fatalf("validated %d documents, want 10", n)
	}
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var doc struct {
			Event struct {
				Action string `json:"action"`
				ID     string `json:"id"`
			} `json:"event"`
			Destination struct {
				IP   string `json:"ip"`
				Port int    `json:"port"`
			} `json:"destination"`
			Fastscan struct {
				State string `json:"state"`
			} `json:"fastscan"`
		}
		if err := json.Unmarshal([]byte(line), &doc); err != nil {
			t.Fatal(err)
		}
		if doc.Event.Action != "port-"+doc.Fastscan.State || doc.Destination.IP != "198.19.0.5" {
			t.Errorf("document %+v", doc)
		}
		if ids[doc.Event.ID] {
			t.Errorf("event.id %s repeats for a different port", doc.Event.ID)
		}
		ids[doc.Event.ID] = true
	}

	// The same finding in the same scan gets the same event.id: re-ingesting a file
	// does not duplicate documents.
	var again bytes.Buffer
	w2 := NewECS(&again, nil, s)
	w2.Write(&r)
	w2.Close()
	last := strings.Split(strings.TrimSpace(buf.String()), "\n")[9]
	if !strings.Contains(again.String(), eventID(t, last)) {
		t.Error("event.id is not deterministic")
	}
}

func eventID(t *testing.T, line string) string {
	t.Helper()
	var doc struct {
		Event struct {
			ID string `json:"id"`
		} `json:"event"`
	}
	if err := json.Unmarshal([]byte(line), &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Event.ID
}

func TestValidatorRejectsDottedKeys(t *testing.T) {
	v := outputtest.NewECSValidator(t)
	if err := v.ValidateLine([]byte(`{"event.action":"port-open"}`)); err == nil {
		t.Fatal("a dotted key was accepted")
	}
}

// TestGrepableWithAwk reads the grepable output with awk, as nmap users' scripts do:
// the open ports of each host from its Ports: field.
func TestGrepableWithAwk(t *testing.T) {
	awk, err := exec.LookPath("awk")
	if err != nil {
		t.Skip("awk is not installed")
	}
	var buf bytes.Buffer
	w := NewGrepable(&buf, nil, xmlScan())
	r := sample()
	for _, p := range []uint16{22, 80, 443} {
		r.Port = p
		r.State = result.Open
		if p == 80 {
			r.State = result.Closed
		}
		w.Write(&r)
	}
	w.Close()
	script := `/Ports:/ { split($0, f, "\tPorts: "); n = split(f[2], e, ", "); for (i = 1; i <= n; i++) { split(e[i], p, "/"); if (p[2] == "open") print $2 ":" p[1] } }`
	cmd := exec.Command(awk, script)
	cmd.Stdin = &buf
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Fields(string(out)); strings.Join(got, " ") != "198.19.0.5:22 198.19.0.5:443" {
		t.Fatalf("awk found %q", got)
	}
}

// TestPcapContinue: a pcap cut in the middle of a packet (a killed writer, a full
// disk) is cut back by PcapWholeLength to its whole packets, and ContinuePcap
// appends after them: gopacket's reader reads every packet of both runs.
func TestPcapContinue(t *testing.T) {
	name := filepath.Join(t.TempDir(), "r.pcap")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPcap(f)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		p.Capture(bytes.Repeat([]byte{byte(i + 1)}, 60+i), int64(i+1)*1e9)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	whole, _ := f.Seek(0, io.SeekEnd)
	f.Write([]byte{0x11, 0x22, 0x33, 0x44, 0, 0, 0, 0, 60, 0, 0, 0, 60, 0, 0, 0, 9, 9}) // a cut packet
	f.Close()
	for _, bad := range [][]byte{nil, []byte("not a pcap file at all, longer than a header"), make([]byte, 24)} {
		if _, err := PcapWholeLength(bytes.NewReader(bad)); err == nil {
			t.Errorf("%q: accepted as a pcap", bad)
		}
	}
	rf, _ := os.OpenFile(name, os.O_RDWR, 0)
	n, err := PcapWholeLength(rf)
	if err != nil || n != whole {
		t.Fatalf("whole length %d, %v; want %d", n, err, whole)
	}
	rf.Truncate(n)
	rf.Seek(n, io.SeekStart)
	p = ContinuePcap(rf)
	p.Capture(bytes.Repeat([]byte{4}, 70), 4e9)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	rf.Seek(0, io.SeekStart)
	r, err := pcapgo.NewReader(rf)
	if err != nil {
		t.Fatal(err)
	}
	var got []byte
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after %d packets: %v", len(got), err)
		}
		if ci.Timestamp.Unix() != int64(data[0]) {
			t.Errorf("packet %d stamped %v", data[0], ci.Timestamp)
		}
		got = append(got, data[0])
	}
	if !bytes.Equal(got, []byte{1, 2, 3, 4}) {
		t.Errorf("packets %v, want 1 2 3 4", got)
	}
	rf.Close()
}

// TestJSONLScanRecord: a JSON lines writer made for a shard of a scan starts with
// its scan record (valid against the schema, even with no result), a resumed
// writer (Continue) does not write it again, an unsharded scan writes none, and
// the schema refuses broken records.
func TestJSONLScanRecord(t *testing.T) {
	v := outputtest.NewValidator(t)
	scan := Scan{ID: "00112233445566778899aabbccddeeff", Shard: 2, Shards: 4, Version: "test", Start: time.Unix(1795345200, 5).UTC()}
	var buf bytes.Buffer
	w, err := New("jsonl", &buf, Options{Scan: scan})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	want := `{"schema_version":2,"record":"scan","scan_id":"00112233445566778899aabbccddeeff","shard":2,"shards":4,"fastscan_version":"test","start":"2026-11-22T11:00:00.000000005Z"}` + "\n"
	if buf.String() != want {
		t.Fatalf("a scan with no result wrote\n%s\nwant\n%s", buf.String(), want)
	}
	if n := v.ValidateLines(t, buf.Bytes()); n != 1 {
		t.Fatalf("validated %d lines, want 1", n)
	}
	buf.Reset()
	w, _ = New("jsonl", &buf, Options{Scan: scan})
	r := sample()
	w.Write(&r)
	w.Close()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || lines[0]+"\n" != want || !strings.Contains(lines[1], `"ip":"198.19.0.5"`) {
		t.Fatalf("got\n%s\nwant the scan record, then the result", buf.String())
	}
	v.ValidateLines(t, buf.Bytes())

	buf.Reset()
	w, _ = New("jsonl", &buf, Options{Scan: scan})
	w.(Resumable).Continue(nil)
	w.Write(&r)
	w.Close()
	if strings.Contains(buf.String(), `"record"`) {
		t.Errorf("a resumed writer wrote the scan record again:\n%s", buf.String())
	}
	buf.Reset()
	w, _ = New("jsonl", &buf, Options{Scan: Scan{ID: scan.ID, Version: "test"}})
	w.Write(&r)
	w.Close()
	if strings.Contains(buf.String(), `"record"`) || strings.Count(buf.String(), "\n") != 1 {
		t.Errorf("an unsharded scan wrote a scan record:\n%s", buf.String())
	}
	good := strings.TrimSpace(want)
	for name, bad := range map[string]string{
		"short id":     strings.Replace(good, `ff"`, `"`, 1),
		"no shards":    strings.Replace(good, `"shards":4,`, ``, 1),
		"zero shards":  strings.Replace(good, `"shards":4`, `"shards":0`, 1),
		"other record": strings.Replace(good, `"record":"scan"`, `"record":"summary"`, 1),
		"result keys":  strings.Replace(good, `"shard":2,`, `"shard":2,"ip":"198.19.0.5",`, 1),
	} {
		if err := v.ValidateLine([]byte(bad)); err == nil {
			t.Errorf("%s: %s accepted", name, bad)
		}
	}
}

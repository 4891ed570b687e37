package output

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fastscan/fastscan/output/outputtest"
	"github.com/fastscan/fastscan/registry"
	"github.com/fastscan/fastscan/result"
)

// udpRegistry names the UDP ports of udpResults. Port 49999 has a name for TCP only,
// so a writer that looked a UDP port up as TCP would name it "tcp-only".
func udpRegistry(t *testing.T) *registry.Registry {
	t.Helper()
	reg, err := registry.Load(strings.NewReader("Service Name,Port Number,Transport Protocol,Description\n" +
		"discard,9,udp,\ndomain,53,udp,\nntp,123,udp,\nsnmp,161,udp,\ntcp-only,49999,tcp,\n"))
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// udpTime is when every UDP verdict of udpResults was made.
var udpTime = time.Date(2026, 11, 22, 11, 0, 0, 123456789, time.UTC)

// udpResults are the UDP verdicts, in the order written: an answer (open), an ICMP
// port unreachable (closed), an ICMP prohibited (filtered), and silence
// (open|filtered), on one host, and a second host known only from silence.
func udpResults() []result.Result {
	base := result.Result{IP: v4(0xC6130005), Proto: result.UDP, TimeNanos: udpTime.UnixNano(), SourceIP: v4(0xC6120001), SourcePort: 61000}
	rs := []result.Result{base, base, base, base, base}
	rs[0].Port, rs[0].State, rs[0].Reason, rs[0].TTL = 53, result.Open, result.ReasonUDPResponse, 64
	rs[1].Port, rs[1].State, rs[1].Reason, rs[1].TTL = 9, result.Closed, result.ReasonPortUnreachable, 63
	rs[2].Port, rs[2].State, rs[2].Reason, rs[2].TTL = 161, result.Filtered, result.ReasonAdminProhibited, 62
	rs[3].Port, rs[3].State, rs[3].Reason, rs[3].TTL = 123, result.OpenFiltered, result.ReasonNoResponse, 0
	rs[4].IP, rs[4].Port, rs[4].State, rs[4].Reason, rs[4].TTL = v4(0xC6130009), 49999, result.OpenFiltered, result.ReasonNoResponse, 0
	return rs
}

// udpScan is a UDP-only scan (-sU) of udpResults' ports.
func udpScan() Scan {
	return Scan{Args: "fastscan 198.19.0.0/24 -sU -p 9,53,123,161,49999", Start: time.Unix(1795345200, 0),
		UDPPorts: "9,53,123,161,49999", NumUDPPorts: 5, Hosts: 256, Version: "test", ID: "scan-udp", Hostname: "scanner.lab"}
}

// writeAll writes rs with the format's writer and returns what it wrote.
func writeAll(t *testing.T, format string, o Options, rs []result.Result) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := New(format, &buf, o)
	if err != nil {
		t.Fatal(err)
	}
	for i := range rs {
		if err := w.Write(&rs[i]); err != nil {
			t.Fatalf("%s: %v", format, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("%s: %v", format, err)
	}
	return buf.Bytes()
}

func udpOptions(t *testing.T) Options { return Options{Services: udpRegistry(t), Scan: udpScan()} }

func TestUDPJSONL(t *testing.T) {
	out := writeAll(t, "jsonl", udpOptions(t), udpResults())
	if n := outputtest.NewValidator(t).ValidateLines(t, out); n != 5 {
		t.Fatalf("validated %d lines, want 5", n)
	}
	const ts = `"timestamp":"2026-11-22T11:00:00.123456789Z"}`
	want := `{"schema_version":2,"ip":"198.19.0.5","port":53,"proto":"udp","state":"open","reason":"udp-response","ttl":64,"service":"domain","service_method":"table","port_class":"system",` + ts + "\n" +
		`{"schema_version":2,"ip":"198.19.0.5","port":9,"proto":"udp","state":"closed","reason":"port-unreach","ttl":63,"service":"discard","service_method":"table","port_class":"system",` + ts + "\n" +
		`{"schema_version":2,"ip":"198.19.0.5","port":161,"proto":"udp","state":"filtered","reason":"admin-prohibited","ttl":62,"service":"snmp","service_method":"table","port_class":"system",` + ts + "\n" +
		`{"schema_version":2,"ip":"198.19.0.5","port":123,"proto":"udp","state":"open|filtered","reason":"no-response","ttl":0,"service":"ntp","service_method":"table","port_class":"system",` + ts + "\n" +
		`{"schema_version":2,"ip":"198.19.0.9","port":49999,"proto":"udp","state":"open|filtered","reason":"no-response","ttl":0,"service":"unknown","service_method":"table","port_class":"dynamic",` + ts + "\n"
	if string(out) != want {
		t.Fatalf("JSON lines:\n%s\nwant:\n%s", out, want)
	}
}

func TestUDPCSV(t *testing.T) {
	out := writeAll(t, "csv", udpOptions(t), udpResults())
	rows, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("encoding/csv cannot read %q: %v", out, err)
	}
	const ts = "2026-11-22T11:00:00.123456789Z"
	want := [][]string{
		{"ip", "port", "proto", "state", "reason", "ttl", "service", "port_class", "timestamp"},
		{"198.19.0.5", "53", "udp", "open", "udp-response", "64", "domain", "system", ts},
		{"198.19.0.5", "9", "udp", "closed", "port-unreach", "63", "discard", "system", ts},
		{"198.19.0.5", "161", "udp", "filtered", "admin-prohibited", "62", "snmp", "system", ts},
		{"198.19.0.5", "123", "udp", "open|filtered", "no-response", "0", "ntp", "system", ts},
		{"198.19.0.9", "49999", "udp", "open|filtered", "no-response", "0", "unknown", "dynamic", ts},
	}
	if fmt.Sprintf("%q", rows) != fmt.Sprintf("%q", want) {
		t.Fatalf("CSV rows\n%q\nwant\n%q", rows, want)
	}
}

func TestUDPList(t *testing.T) {
	out := writeAll(t, "list", udpOptions(t), udpResults())
	want := "#fastscan\n" +
		"open udp 53 198.19.0.5 1795345200\n" +
		"closed udp 9 198.19.0.5 1795345200\n" +
		"filtered udp 161 198.19.0.5 1795345200\n" +
		"open|filtered udp 123 198.19.0.5 1795345200\n" +
		"open|filtered udp 49999 198.19.0.9 1795345200\n" +
		"# end\n"
	if string(out) != want {
		t.Fatalf("list output:\n%s\nwant:\n%s", out, want)
	}
}

func TestUDPText(t *testing.T) {
	out := writeAll(t, "text", udpOptions(t), udpResults())
	want := "198.19.0.5      53/udp    open          domain       udp-response ttl 64\n" +
		"198.19.0.5      9/udp     closed        discard      port-unreach ttl 63\n" +
		"198.19.0.5      161/udp   filtered      snmp         admin-prohibited ttl 62\n" +
		"198.19.0.5      123/udp   open|filtered ntp          no-response\n" +
		"198.19.0.9      49999/udp open|filtered unknown      no-response\n"
	if string(out) != want {
		t.Fatalf("text output:\n%s\nwant:\n%s", out, want)
	}
}

// TestUDPGrepable checks nmap's -oG layout for UDP: entries port/state/udp//service///
// in port order, open|filtered as nmap writes it, no service name where the registry
// has none for UDP.
func TestUDPGrepable(t *testing.T) {
	out := string(writeAll(t, "grepable", udpOptions(t), udpResults()))
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 6 {
		t.Fatalf("%d lines, want 6:\n%s", len(lines), out)
	}
	if want := "# fastscan test scan initiated " + udpScan().Start.Format(time.ANSIC) + " as: " + udpScan().Args; lines[0] != want {
		t.Errorf("first line %q, want %q", lines[0], want)
	}
	want := []string{
		"Host: 198.19.0.5 ()\tStatus: Up",
		"Host: 198.19.0.5 ()\tPorts: 9/closed/udp//discard///, 53/open/udp//domain///, 123/open|filtered/udp//ntp///, 161/filtered/udp//snmp///",
		"Host: 198.19.0.9 ()\tStatus: Up",
		"Host: 198.19.0.9 ()\tPorts: 49999/open|filtered/udp/////",
	}
	if got := lines[1:5]; strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("host lines\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !strings.HasPrefix(lines[5], "# fastscan done at ") || !strings.Contains(lines[5], " -- 256 IP addresses (2 hosts up) scanned in ") {
		t.Errorf("last line %q", lines[5])
	}
}

// ecsDoc is what TestUDPECS reads back from an ECS document.
type ecsDoc struct {
	Timestamp string `json:"@timestamp"`
	Event     struct {
		Action string `json:"action"`
		ID     string `json:"id"`
	} `json:"event"`
	Destination struct {
		IP   string `json:"ip"`
		Port int    `json:"port"`
	} `json:"destination"`
	Source struct {
		IP   string `json:"ip"`
		Port int    `json:"port"`
	} `json:"source"`
	Network struct {
		Transport  string `json:"transport"`
		Type       string `json:"type"`
		IANANumber string `json:"iana_number"`
	} `json:"network"`
	Message  string `json:"message"`
	Fastscan struct {
		State     string `json:"state"`
		Reason    string `json:"reason"`
		TTL       int    `json:"ttl"`
		Service   string `json:"service"`
		PortClass string `json:"port_class"`
		ScanID    string `json:"scan_id"`
	} `json:"fastscan"`
}

// TestUDPECS checks ECS documents of UDP verdicts against the schema and field by
// field: network.transport udp with IANA number 17, event.action port-open-filtered
// for open|filtered, and an event.id that differs from the same port's over TCP.
func TestUDPECS(t *testing.T) {
	rs := udpResults()
	tcp53 := rs[0]
	tcp53.Proto, tcp53.State, tcp53.Reason = result.TCP, result.Open, result.ReasonSYNACK
	out := writeAll(t, "ecs", udpOptions(t), append(rs, tcp53))
	if n := outputtest.NewECSValidator(t).ValidateLines(t, out); n != 6 {
		t.Fatalf("validated %d documents, want 6", n)
	}
	type want struct {
		ip                               string
		port                             int
		action, state, reason, svc, pcls string
		ttl                              int
		message                          string
	}
	wants := []want{
		{"198.19.0.5", 53, "port-open", "open", "udp-response", "domain", "system", 64, "198.19.0.5:53/udp open (udp-response)"},
		{"198.19.0.5", 9, "port-closed", "closed", "port-unreach", "discard", "system", 63, "198.19.0.5:9/udp closed (port-unreach)"},
		{"198.19.0.5", 161, "port-filtered", "filtered", "admin-prohibited", "snmp", "system", 62, "198.19.0.5:161/udp filtered (admin-prohibited)"},
		{"198.19.0.5", 123, "port-open-filtered", "open|filtered", "no-response", "ntp", "system", 0, "198.19.0.5:123/udp open|filtered (no-response)"},
		{"198.19.0.9", 49999, "port-open-filtered", "open|filtered", "no-response", "unknown", "dynamic", 0, "198.19.0.9:49999/udp open|filtered (no-response)"},
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	var docs []ecsDoc
	for _, line := range lines {
		var d ecsDoc
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		docs = append(docs, d)
	}
	for i, w := range wants {
		d := docs[i]
		if d.Timestamp != "2026-11-22T11:00:00.123456789Z" || d.Event.Action != w.action ||
			d.Destination.IP != w.ip || d.Destination.Port != w.port || d.Source.IP != "198.18.0.1" || d.Source.Port != 61000 ||
			d.Network.Transport != "udp" || d.Network.Type != "ipv4" || d.Network.IANANumber != "17" || d.Message != w.message ||
			d.Fastscan.State != w.state || d.Fastscan.Reason != w.reason || d.Fastscan.TTL != w.ttl ||
			d.Fastscan.Service != w.svc || d.Fastscan.PortClass != w.pcls || d.Fastscan.ScanID != "scan-udp" {
			t.Errorf("document %d:\n%s\nwant %+v", i, lines[i], w)
		}
	}
	tcp := docs[5]
	if tcp.Network.Transport != "tcp" || tcp.Network.IANANumber != "6" || tcp.Event.Action != "port-open" || tcp.Message != "198.19.0.5:53/tcp open (syn-ack)" {
		t.Errorf("TCP document: %s", lines[5])
	}
	if tcp.Event.ID == docs[0].Event.ID {
		t.Errorf("53/tcp and 53/udp share event.id %s: one would overwrite the other in the index", tcp.Event.ID)
	}
}

// TestUDPXML checks nmap XML of a UDP-only scan against nmap's DTD and reads it back:
// one scaninfo (udp), protocol="udp" on every port, each state with its reason and
// reason_ttl, service names from the UDP registry, and the host status.
func TestUDPXML(t *testing.T) {
	rs := udpResults()
	rs[1].TimeNanos -= 1e6 // 9/udp's port unreachable is the host's first reply, in time as in port order
	out := writeAll(t, "xml", udpOptions(t), rs)
	outputtest.ValidateNmapXML(t, out)
	doc := outputtest.ParseNmapXML(t, out)
	if want := []outputtest.NmapScanInfo{{Type: "udp", Protocol: "udp", NumServices: 5, Services: "9,53,123,161,49999"}}; fmt.Sprint(doc.ScanInfo) != fmt.Sprint(want) {
		t.Errorf("scaninfo %+v, want %+v (a UDP-only scan has no TCP scaninfo)", doc.ScanInfo, want)
	}
	if len(doc.Hosts) != 2 || doc.Runstats.Hosts.Up != 2 || doc.Runstats.Hosts.Down != 254 || doc.Runstats.Hosts.Total != 256 {
		t.Fatalf("%d hosts, runstats %+v", len(doc.Hosts), doc.Runstats)
	}
	type port struct{ proto, id, state, reason, ttl, service, method, conf string }
	read := func(h outputtest.NmapHost) []port {
		var ps []port
		for _, p := range h.Ports {
			ps = append(ps, port{p.Protocol, fmt.Sprint(p.ID), p.State.State, p.State.Reason, p.State.ReasonTTL, p.Service.Name, p.Service.Method, p.Service.Conf})
		}
		return ps
	}
	h := doc.Hosts[0]
	if h.Addr.Addr != "198.19.0.5" || h.Addr.AddrType != "ipv4" || h.Status.State != "up" || h.Status.Reason != "port-unreach" || h.Status.ReasonTTL != "63" {
		t.Errorf("first host %+v: want 198.19.0.5 up, from its port-unreach (ttl 63)", h)
	}
	want := []port{
		{"udp", "9", "closed", "port-unreach", "63", "discard", "table", "3"},
		{"udp", "53", "open", "udp-response", "64", "domain", "table", "3"},
		{"udp", "123", "open|filtered", "no-response", "0", "ntp", "table", "3"},
		{"udp", "161", "filtered", "admin-prohibited", "62", "snmp", "table", "3"},
	}
	if got := read(h); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ports of 198.19.0.5\n%v\nwant\n%v", got, want)
	}
	h = doc.Hosts[1]
	if h.Addr.Addr != "198.19.0.9" || h.Status.Reason != "user-set" || h.Status.ReasonTTL != "0" {
		t.Errorf("second host %+v: want 198.19.0.9 up as user-set (only silence)", h)
	}
	// No UDP name for 49999: no service element (the TCP name must not leak in).
	if got, want := read(h), []port{{"udp", "49999", "open|filtered", "no-response", "0", "", "", ""}}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ports of 198.19.0.9 %v, want %v", got, want)
	}
	html := outputtest.RenderNmapXML(t, out)
	for _, s := range []string{"udp", "open|filtered", "domain", "port-unreach"} {
		if !strings.Contains(html, s) {
			t.Errorf("nmap.xsl report lacks %q", s)
		}
	}
}

// TestMixedXMLScanInfo checks a scan of TCP and UDP ports at once (-p U:53,T:22,80):
// nmap writes one scaninfo per protocol, TCP first, and each port keeps its protocol
// even where TCP and UDP share a port number.
func TestMixedXMLScanInfo(t *testing.T) {
	s := Scan{Args: "fastscan 198.19.0.5 -p U:53,T:22,53", Start: time.Unix(1795345200, 0), Ports: "22,53", NumPorts: 2,
		UDPPorts: "53", NumUDPPorts: 1, Hosts: 1, Version: "test"}
	base := result.Result{IP: v4(0xC6130005), TimeNanos: udpTime.UnixNano(), TTL: 64}
	rs := []result.Result{base, base, base}
	rs[0].Proto, rs[0].Port, rs[0].State, rs[0].Reason = result.TCP, 22, result.Open, result.ReasonSYNACK
	rs[1].Proto, rs[1].Port, rs[1].State, rs[1].Reason = result.TCP, 53, result.Closed, result.ReasonReset
	rs[2].Proto, rs[2].Port, rs[2].State, rs[2].Reason = result.UDP, 53, result.Open, result.ReasonUDPResponse
	out := writeAll(t, "xml", Options{Scan: s}, rs)
	outputtest.ValidateNmapXML(t, out)
	doc := outputtest.ParseNmapXML(t, out)
	want := []outputtest.NmapScanInfo{
		{Type: "syn", Protocol: "tcp", NumServices: 2, Services: "22,53"},
		{Type: "udp", Protocol: "udp", NumServices: 1, Services: "53"},
	}
	if fmt.Sprint(doc.ScanInfo) != fmt.Sprint(want) {
		t.Errorf("scaninfo %+v, want %+v", doc.ScanInfo, want)
	}
	if len(doc.Hosts) != 1 {
		t.Fatalf("%d hosts, want 1", len(doc.Hosts))
	}
	got := map[string]string{}
	for _, p := range doc.Hosts[0].Ports {
		got[fmt.Sprintf("%d/%s", p.ID, p.Protocol)] = p.State.State + " " + p.State.Reason + " " + p.Service.Name
	}
	wantPorts := map[string]string{"22/tcp": "open syn-ack ssh", "53/tcp": "closed reset domain", "53/udp": "open udp-response domain"}
	if fmt.Sprint(got) != fmt.Sprint(wantPorts) {
		t.Errorf("ports %v, want %v", got, wantPorts)
	}

	// A TCP-only scan has just the TCP scaninfo.
	s.UDPPorts, s.NumUDPPorts = "", 0
	doc = outputtest.ParseNmapXML(t, writeAll(t, "xml", Options{Scan: s}, rs[:2]))
	if fmt.Sprint(doc.ScanInfo) != fmt.Sprint(want[:1]) {
		t.Errorf("TCP-only scaninfo %+v, want %+v", doc.ScanInfo, want[:1])
	}
}

// TestXMLAttributes checks the attributes of nmap XML that tools read and no other
// test looks at: the state's reason_ttl, the service's method="table" and conf="3",
// the host's status (reason and TTL of its first open or closed port, in port order)
// and its start and end times (the first and last verdict, in Unix seconds).
func TestXMLAttributes(t *testing.T) {
	r := sample()
	rs := []result.Result{r, r, r}
	rs[0].Port, rs[0].State, rs[0].Reason, rs[0].TTL = 80, result.Closed, result.ReasonReset, 61
	rs[0].TimeNanos += 5e9
	rs[1].TTL = 57 // 22/tcp open, the first in port order
	rs[2].Port, rs[2].State, rs[2].Reason, rs[2].TTL = 443, result.Filtered, result.ReasonHostProhibited, 250
	rs[2].TimeNanos += 2e9
	out := writeAll(t, "xml", Options{Scan: xmlScan()}, rs)
	outputtest.ValidateNmapXML(t, out)
	doc := outputtest.ParseNmapXML(t, out)
	if len(doc.Hosts) != 1 || len(doc.Hosts[0].Ports) != 3 {
		t.Fatalf("document %+v", doc)
	}
	h := doc.Hosts[0]
	if h.Status.State != "up" || h.Status.Reason != "syn-ack" || h.Status.ReasonTTL != "57" {
		t.Errorf("host status %+v, want up from 22/tcp's syn-ack, ttl 57", h.Status)
	}
	if h.StartTime != 1795345200 || h.EndTime != 1795345205 || h.Addr.AddrType != "ipv4" {
		t.Errorf("host starttime %d endtime %d addrtype %q, want 1795345200, 1795345205, ipv4", h.StartTime, h.EndTime, h.Addr.AddrType)
	}
	for i, want := range []struct{ port, ttl, name string }{{"22", "57", "ssh"}, {"80", "61", "http"}, {"443", "250", "https"}} {
		p := h.Ports[i]
		if fmt.Sprint(p.ID) != want.port || p.Protocol != "tcp" || p.State.ReasonTTL != want.ttl ||
			p.Service.Name != want.name || p.Service.Method != "table" || p.Service.Conf != "3" {
			t.Errorf("port %d: %+v, want %s/tcp reason_ttl %s, service %s method table conf 3", i, p, want.port, want.ttl, want.name)
		}
	}
}

// TestHostPortOrder: nmap XML and grepable list a host's ports by number, TCP before
// UDP on the same number, whatever order the verdicts arrived in.
func TestHostPortOrder(t *testing.T) {
	s := Scan{Args: "fastscan 198.19.0.5 -p U:53,T:53,80", Start: time.Unix(1795345200, 0), Ports: "53,80", NumPorts: 2,
		UDPPorts: "53", NumUDPPorts: 1, Hosts: 1, Version: "test"}
	base := result.Result{IP: v4(0xC6130005), TimeNanos: udpTime.UnixNano(), TTL: 64}
	rs := []result.Result{base, base, base}
	rs[0].Proto, rs[0].Port, rs[0].State, rs[0].Reason = result.TCP, 80, result.Open, result.ReasonSYNACK
	rs[1].Proto, rs[1].Port, rs[1].State, rs[1].Reason = result.UDP, 53, result.Open, result.ReasonUDPResponse
	rs[2].Proto, rs[2].Port, rs[2].State, rs[2].Reason = result.TCP, 53, result.Closed, result.ReasonReset
	doc := outputtest.ParseNmapXML(t, writeAll(t, "xml", Options{Scan: s}, rs))
	var got []string
	for _, p := range doc.Hosts[0].Ports {
		got = append(got, fmt.Sprintf("%d/%s", p.ID, p.Protocol))
	}
	if want := "[53/tcp 53/udp 80/tcp]"; fmt.Sprint(got) != want {
		t.Errorf("XML ports %v, want %s", got, want)
	}
	g := string(writeAll(t, "grepable", Options{Scan: s}, rs))
	i53t, i53u, i80 := strings.Index(g, "53/closed/tcp"), strings.Index(g, "53/open/udp"), strings.Index(g, "80/open/tcp")
	if i53t < 0 || i53u < 0 || i80 < 0 || !(i53t < i53u && i53u < i80) {
		t.Errorf("grepable ports not in order 53/tcp, 53/udp, 80/tcp:\n%s", g)
	}
}

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

// endTime is when every verdict of endResults was made: 1795345200 in Unix seconds.
var endTime = time.Unix(1795345200, 0)

// endResults are the results of a scan with --show all, one host per case of the
// host status rule:
//
//	198.19.0.1  up: a reset from 80/tcp (22/tcp silent)
//	198.19.0.2  up: an ICMP port unreachable from the host itself (53/udp closed)
//	198.19.0.3  down: an ICMP host unreachable from a router (and silence)
//	198.19.0.4  down: silence only
//	198.19.0.5  up: an ICMP admin prohibited sent by the host itself
func endResults() []result.Result {
	base := result.Result{Proto: result.TCP, TimeNanos: endTime.UnixNano()}
	r := func(ip uint32, proto result.Proto, port uint16, state result.State, reason result.Reason, ttl uint8) result.Result {
		x := base
		x.IP, x.Proto, x.Port, x.State, x.Reason, x.TTL = v4(ip), proto, port, state, reason, ttl
		return x
	}
	return []result.Result{
		r(0xC6130001, result.TCP, 22, result.Filtered, result.ReasonNoResponse, 0),
		r(0xC6130001, result.TCP, 80, result.Closed, result.ReasonReset, 64),
		r(0xC6130002, result.UDP, 53, result.Closed, result.ReasonPortUnreachable, 63),
		r(0xC6130003, result.TCP, 22, result.Filtered, result.ReasonNoResponse, 0),
		r(0xC6130003, result.TCP, 80, result.Filtered, result.ReasonHostUnreachable, 250),
		r(0xC6130004, result.TCP, 22, result.Filtered, result.ReasonNoResponse, 0),
		r(0xC6130004, result.TCP, 80, result.Filtered, result.ReasonNoResponse, 0),
		r(0xC6130005, result.TCP, 443, result.Filtered, result.ReasonAdminProhibited, 61),
	}
}

// endHostUp is what the engine knows of endResults' hosts.
func endHostUp(a netip.Addr) (result.Reason, bool) {
	b := a.As4()
	switch uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) {
	case 0xC6130001:
		return result.ReasonReset, true
	case 0xC6130002:
		return result.ReasonPortUnreachable, true
	case 0xC6130005:
		return result.ReasonAdminProhibited, true
	}
	return 0, false
}

func endScan() Scan {
	return Scan{Args: "fastscan 198.19.0.0/24 -p U:53,T:22,80,443 --show all", Start: endTime, Ports: "22,80,443", NumPorts: 3,
		UDPPorts: "53", NumUDPPorts: 1, Hosts: 256, Version: "test"}
}

// writeEnded writes rs in format, calls End with e unless e is nil, and closes.
func writeEnded(t *testing.T, format string, e *End, rs []result.Result) string {
	t.Helper()
	var buf bytes.Buffer
	w, err := New(format, &buf, Options{Scan: endScan()})
	if err != nil {
		t.Fatal(err)
	}
	for i := range rs {
		if err := w.Write(&rs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if e != nil {
		en, ok := w.(Ender)
		if !ok {
			t.Fatalf("%s writer %T does not take End", format, w)
		}
		en.End(*e)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// xmlHosts returns the host elements of an nmap XML document.
func xmlHosts(t *testing.T, doc string) string {
	t.Helper()
	i, j := strings.Index(doc, "<host "), strings.LastIndex(doc, "</host>\n")
	if i < 0 || j < 0 {
		t.Fatalf("no hosts in\n%s", doc)
	}
	return doc[i : j+len("</host>\n")]
}

// TestXMLHostStatus checks each host's status against the rule: up when it answered
// a probe itself (a reset, an ICMP port unreachable or another ICMP error of its
// own), down when only silent or only a router answered, whatever --show listed.
func TestXMLHostStatus(t *testing.T) {
	e := &End{HostsProbed: 256, HostsUp: 3, HostUp: endHostUp}
	doc := writeEnded(t, "xml", e, endResults())
	outputtest.ValidateNmapXML(t, []byte(doc))
	want := `<host starttime="1795345200" endtime="1795345200"><status state="up" reason="reset" reason_ttl="64"/>
<address addr="198.19.0.1" addrtype="ipv4"/>
<hostnames>
</hostnames>
<ports><port protocol="tcp" portid="22"><state state="filtered" reason="no-response" reason_ttl="0"/><service name="ssh" method="table" conf="3"/></port>
<port protocol="tcp" portid="80"><state state="closed" reason="reset" reason_ttl="64"/><service name="http" method="table" conf="3"/></port>
</ports>
</host>
<host starttime="1795345200" endtime="1795345200"><status state="up" reason="port-unreach" reason_ttl="63"/>
<address addr="198.19.0.2" addrtype="ipv4"/>
<hostnames>
</hostnames>
<ports><port protocol="udp" portid="53"><state state="closed" reason="port-unreach" reason_ttl="63"/><service name="domain" method="table" conf="3"/></port>
</ports>
</host>
<host starttime="1795345200" endtime="1795345200"><status state="down" reason="host-unreach" reason_ttl="250"/>
<address addr="198.19.0.3" addrtype="ipv4"/>
<hostnames>
</hostnames>
<ports><port protocol="tcp" portid="22"><state state="filtered" reason="no-response" reason_ttl="0"/><service name="ssh" method="table" conf="3"/></port>
<port protocol="tcp" portid="80"><state state="filtered" reason="host-unreach" reason_ttl="250"/><service name="http" method="table" conf="3"/></port>
</ports>
</host>
<host starttime="1795345200" endtime="1795345200"><status state="down" reason="no-response" reason_ttl="0"/>
<address addr="198.19.0.4" addrtype="ipv4"/>
<hostnames>
</hostnames>
<ports><port protocol="tcp" portid="22"><state state="filtered" reason="no-response" reason_ttl="0"/><service name="ssh" method="table" conf="3"/></port>
<port protocol="tcp" portid="80"><state state="filtered" reason="no-response" reason_ttl="0"/><service name="http" method="table" conf="3"/></port>
</ports>
</host>
<host starttime="1795345200" endtime="1795345200"><status state="up" reason="admin-prohibited" reason_ttl="61"/>
<address addr="198.19.0.5" addrtype="ipv4"/>
<hostnames>
</hostnames>
<ports><port protocol="tcp" portid="443"><state state="filtered" reason="admin-prohibited" reason_ttl="61"/><service name="https" method="table" conf="3"/></port>
</ports>
</host>
`
	if got := xmlHosts(t, doc); got != want {
		t.Errorf("hosts:\n%s\nwant:\n%s", got, want)
	}
	// A finished scan counts every target; up is the engine's count.
	if !strings.Contains(doc, `exit="success"/><hosts up="3" down="253" total="256"/>`) ||
		!strings.Contains(doc, `; 256 IP addresses (3 hosts up) scanned in `) || strings.Contains(doc, "errormsg") {
		t.Errorf("run statistics of a finished scan:\n%s", doc)
	}
	run := outputtest.ParseNmapXML(t, []byte(doc))
	if len(run.Hosts) != 5 || run.Runstats.Hosts.Up != 3 || run.Runstats.Hosts.Down != 253 || run.Runstats.Hosts.Total != 256 {
		t.Errorf("read back: %d hosts, runstats %+v", len(run.Hosts), run.Runstats)
	}
	html := outputtest.RenderNmapXML(t, []byte(doc))
	if !strings.Contains(html, "198.19.0.4") {
		t.Error("nmap.xsl report lacks the down host")
	}

	// Default --show (open only): no result of these hosts is listed, and the counts
	// still come from the engine.
	doc = writeEnded(t, "xml", e, nil)
	outputtest.ValidateNmapXML(t, []byte(doc))
	if strings.Contains(doc, "<host ") || !strings.Contains(doc, `<hosts up="3" down="253" total="256"/>`) {
		t.Errorf("no results listed:\n%s", doc)
	}
}

// TestXMLInterrupted: after an interrupted scan the document is valid against
// nmap's DTD, says exit="error" with errormsg, and counts only the hosts probed.
func TestXMLInterrupted(t *testing.T) {
	e := &End{Interrupted: true, Err: "interrupt signal received", HostsProbed: 40, HostsUp: 3, HostUp: endHostUp}
	doc := writeEnded(t, "xml", e, endResults())
	outputtest.ValidateNmapXML(t, []byte(doc))
	for _, want := range []string{
		`summary="fastscan interrupted at `,
		`; 40 IP addresses (3 hosts up) scanned in `,
		` exit="error" errormsg="interrupted: interrupt signal received"/><hosts up="3" down="37" total="40"/>`,
		`<status state="down" reason="no-response" reason_ttl="0"/>`,
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("interrupted scan's XML lacks %q:\n%s", want, doc)
		}
	}
	run := outputtest.ParseNmapXML(t, []byte(doc))
	if run.Runstats.Hosts.Up != 3 || run.Runstats.Hosts.Down != 37 || run.Runstats.Hosts.Total != 40 {
		t.Errorf("runstats %+v", run.Runstats)
	}

	// Without the engine's host statuses: the exit is still an error, hosts are
	// counted from the results, as before End.
	e = &End{Interrupted: true, Err: `a "quoted" <cause> & more`}
	doc = writeEnded(t, "xml", e, endResults())
	outputtest.ValidateNmapXML(t, []byte(doc))
	if !strings.Contains(doc, ` exit="error" errormsg="interrupted: a &quot;quoted&quot; &lt;cause&gt; &amp; more"/><hosts up="5" down="251" total="256"/>`) {
		t.Errorf("interrupted scan without host statuses:\n%s", doc)
	}

	// An error that stopped the scan.
	doc = writeEnded(t, "xml", &End{Err: "receive ring: EIO"}, nil)
	outputtest.ValidateNmapXML(t, []byte(doc))
	if !strings.Contains(doc, `summary="fastscan stopped at `) || !strings.Contains(doc, ` exit="error" errormsg="receive ring: EIO"/>`) {
		t.Errorf("scan stopped by an error:\n%s", doc)
	}
}

// TestXMLWithoutEnd keeps the behaviour of callers that do not call End: a finished
// scan, every host with a result up (user-set for those known only from filtered
// ports).
func TestXMLWithoutEnd(t *testing.T) {
	doc := writeEnded(t, "xml", nil, endResults())
	outputtest.ValidateNmapXML(t, []byte(doc))
	for _, want := range []string{
		`<status state="up" reason="reset" reason_ttl="64"/>`,
		`<status state="up" reason="user-set" reason_ttl="0"/>` + "\n" + `<address addr="198.19.0.4"`,
		` exit="success"/><hosts up="5" down="251" total="256"/>`,
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("XML without End lacks %q:\n%s", want, doc)
		}
	}
}

// TestGrepableEnd: host lines say Status: Up or Down by the same rule as XML, and the
// closing comment counts as the XML does and says why an interrupted scan stopped.
func TestGrepableEnd(t *testing.T) {
	e := &End{Interrupted: true, Err: "interrupt signal received", HostsProbed: 40, HostsUp: 3, HostUp: endHostUp}
	out := writeEnded(t, "grepable", e, endResults())
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	var status []string
	for _, l := range lines {
		if strings.Contains(l, "\tStatus: ") {
			status = append(status, l)
		}
	}
	want := []string{
		"Host: 198.19.0.1 ()\tStatus: Up",
		"Host: 198.19.0.2 ()\tStatus: Up",
		"Host: 198.19.0.3 ()\tStatus: Down",
		"Host: 198.19.0.4 ()\tStatus: Down",
		"Host: 198.19.0.5 ()\tStatus: Up",
	}
	if strings.Join(status, "\n") != strings.Join(want, "\n") {
		t.Errorf("status lines\n%s\nwant\n%s", strings.Join(status, "\n"), strings.Join(want, "\n"))
	}
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "# fastscan done at ") ||
		!strings.Contains(last, " -- 40 IP addresses (3 hosts up) scanned in ") ||
		!strings.HasSuffix(last, " seconds -- interrupted: interrupt signal received") {
		t.Errorf("closing comment %q", last)
	}
	// Scripts that read the Ports: lines still find every port.
	if n := strings.Count(out, "/tcp//") + strings.Count(out, "/udp//"); n != 8 {
		t.Errorf("%d port entries, want 8:\n%s", n, out)
	}

	// A finished scan: every target counted, no reason given.
	out = writeEnded(t, "grepable", &End{HostsProbed: 256, HostsUp: 3, HostUp: endHostUp}, endResults())
	if !strings.Contains(out, " -- 256 IP addresses (3 hosts up) scanned in ") || strings.Contains(out, "interrupted") {
		t.Errorf("finished scan:\n%s", out)
	}
}

// TestMultiForwardsEnd: Multi passes End to the writers that take it and skips the
// others.
func TestMultiForwardsEnd(t *testing.T) {
	var xmlOut, jsonOut bytes.Buffer
	w := Multi(NewJSONL(&jsonOut, nil), NewXML(&xmlOut, nil, endScan()))
	rs := endResults()
	for i := range rs {
		if err := w.Write(&rs[i]); err != nil {
			t.Fatal(err)
		}
	}
	en, ok := w.(Ender)
	if !ok {
		t.Fatal("Multi does not take End")
	}
	en.End(End{Interrupted: true, HostsProbed: 40, HostsUp: 3, HostUp: endHostUp})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(xmlOut.String(), `exit="error" errormsg="interrupted"/><hosts up="3" down="37" total="40"/>`) {
		t.Errorf("XML behind Multi did not get End:\n%s", xmlOut.String())
	}
	if n := outputtest.NewValidator(t).ValidateLines(t, jsonOut.Bytes()); n != len(rs) {
		t.Errorf("%d JSON lines, want %d", n, len(rs))
	}
}

// TestXMLRouterPortUnreachable: a UDP port closed by a port unreachable from a
// router (a forwarding firewall's REJECT) lists the port closed, but the host did
// not answer: it is down, as the engine counts it, whatever --show listed.
func TestXMLRouterPortUnreachable(t *testing.T) {
	r := result.Result{IP: v4(0xC6130009), Port: 53, Proto: result.UDP, State: result.Closed,
		Reason: result.ReasonPortUnreachable, TTL: 250, TimeNanos: endTime.UnixNano()}
	e := &End{HostsProbed: 1, HostsUp: 0, HostUp: func(netip.Addr) (result.Reason, bool) { return 0, false }}
	doc := writeEnded(t, "xml", e, []result.Result{r})
	outputtest.ValidateNmapXML(t, []byte(doc))
	if !strings.Contains(doc, `<status state="down" reason="port-unreach" reason_ttl="250"/>`) || !strings.Contains(doc, `<hosts up="0" down="256" total="256"/>`) {
		t.Errorf("want the host down (a router's port unreachable), counted down:\n%s", doc)
	}
}

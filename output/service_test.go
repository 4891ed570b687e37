package output

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/fastscan/fastscan/output/outputtest"
	"github.com/fastscan/fastscan/registry"
	"github.com/fastscan/fastscan/result"
)

// hostileBanner is what a hostile server might make of a banner: every byte
// value, quotes, markup, separators of every format, invalid UTF-8, and length.
// Service identification escapes banners (svcid.EscapeBanner), but writers must
// not rely on it: each format's own escaping keeps its layout whatever the
// strings hold.
var hostileBanner = func() string {
	var b strings.Builder
	for c := range 256 {
		b.WriteByte(byte(c))
	}
	b.WriteString(`"quoted" 'single' <tag attr="x">&amp; & ]]> --> /slash/ ,comma, |pipe| \back\ ` + "\t\r\n\u2028\ufffe\uffff")
	b.WriteString(strings.Repeat("long banner ", 400))
	return b.String()
}()

// sshService is what -sV learns of an OpenSSH server.
func sshService() *result.Service {
	return &result.Service{
		Name: "ssh", Method: "probed", Product: "OpenSSH", Version: "9.2p1 Debian 2+deb12u3", Info: "protocol 2.0",
		Banner: `SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n`, Spoke: true,
	}
}

// httpsService is what -sV learns of nginx behind TLS.
func httpsService() *result.Service {
	return &result.Service{
		Name: "http", Method: "probed", Product: "nginx", Version: "1.22.1",
		Banner: `HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\n`, Spoke: true,
		TLS: &result.TLS{
			Version: "TLS 1.3", CipherSuite: "TLS_AES_128_GCM_SHA256", ALPN: "http/1.1",
			SubjectCN: "web.lab", SANs: []string{"web.lab", "www.web.lab"}, Issuer: "CN=fastscan lab CA,O=fastscan",
			NotBefore: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2027, 11, 1, 0, 0, 0, 0, time.FixedZone("x", 3600)),
			SHA256: strings.Repeat("0123456789abcdef", 4),
		},
	}
}

// hostileService has hostile strings wherever a server's bytes may end up.
func hostileService() *result.Service {
	return &result.Service{
		Name: "x/y,z", Method: "probed", Product: hostileBanner[:300], Version: "1/2,3 <4>", Info: `"i"&'j'`,
		Banner: hostileBanner, StartTLS: true, Error: "read: " + hostileBanner[:40],
		TLS: &result.TLS{SubjectCN: hostileBanner[:64], SANs: []string{"<a>", "b&c", "\x00\xff"}, Issuer: `CN="q"`},
	}
}

// serviceResults are open ports with every kind of Service, and one without.
func serviceResults() []result.Result {
	r := sample()
	rs := make([]result.Result, 5)
	for i := range rs {
		rs[i] = r
	}
	rs[0].Service = sshService()
	rs[1].Port, rs[1].Service = 443, httpsService()
	rs[2].Port, rs[2].Service = 2222, hostileService()
	rs[3].Port, rs[3].Reason, rs[3].Service = 8080, result.ReasonNoService, &result.Service{Name: "http-alt", Method: "table", Error: "connection reset by peer"}
	rs[4].Port = 80 // no -sV
	return rs
}

// TestJSONLService checks the keys -sV adds against the schema and, decoded with
// encoding/json, against the Service written; a result without Service keeps the
// v1 keys plus service_method "table".
func TestJSONLService(t *testing.T) {
	v := outputtest.NewValidator(t)
	var buf bytes.Buffer
	w := NewJSONL(&buf, nil)
	rs := serviceResults()
	for i := range rs {
		if err := w.Write(&rs[i]); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	if n := v.ValidateLines(t, buf.Bytes()); n != len(rs) {
		t.Fatalf("validated %d lines, want %d", n, len(rs))
	}
	type tlsObj struct {
		Version     string    `json:"version"`
		CipherSuite string    `json:"cipher_suite"`
		ALPN        string    `json:"alpn"`
		SubjectCN   string    `json:"subject_cn"`
		SANs        []string  `json:"sans"`
		Issuer      string    `json:"issuer"`
		NotBefore   time.Time `json:"not_before"`
		NotAfter    time.Time `json:"not_after"`
		SHA256      string    `json:"sha256"`
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	for i, l := range lines {
		var raw map[string]json.RawMessage
		if err := json.Unmarshal([]byte(l), &raw); err != nil {
			t.Fatalf("line %d: %v\n%s", i, err, l)
		}
		var got struct {
			Service   string  `json:"service"`
			Method    string  `json:"service_method"`
			Product   string  `json:"product"`
			Version   string  `json:"version"`
			Info      string  `json:"info"`
			Banner    string  `json:"banner"`
			StartTLS  bool    `json:"starttls"`
			TLS       *tlsObj `json:"tls"`
			Error     string  `json:"service_error"`
			Timestamp string  `json:"timestamp"`
		}
		json.Unmarshal([]byte(l), &got)
		s := rs[i].Service
		if s == nil {
			want := `{"schema_version":2,"ip":"198.19.0.5","port":80,"proto":"tcp","state":"open","reason":"syn-ack","ttl":64,"service":"http","service_method":"table","port_class":"system","timestamp":"2026-11-22T11:00:00.123456789Z"}`
			if l != want {
				t.Errorf("line without service\n%s\nwant\n%s", l, want)
			}
			continue
		}
		if got.Service != validUTF8(s.Name) || got.Method != s.Method || got.Product != validUTF8(s.Product) ||
			got.Version != s.Version || got.Info != s.Info || got.Banner != validUTF8(s.Banner) ||
			got.StartTLS != s.StartTLS || got.Error != validUTF8(s.Error) {
			t.Errorf("line %d decodes to %.300q, want %.300q", i, fmt.Sprintf("%+v", got), fmt.Sprintf("%+v", *s))
		}
		if _, ok := raw["starttls"]; ok != s.StartTLS {
			t.Errorf("line %d: starttls present %v, want only when true", i, ok)
		}
		for _, k := range []string{"product", "version", "info", "banner", "service_error"} {
			if string(raw[k]) == `""` {
				t.Errorf("line %d: empty %s written", i, k)
			}
		}
		if (got.TLS == nil) != (s.TLS == nil) {
			t.Fatalf("line %d: tls %+v, want %+v", i, got.TLS, s.TLS)
		}
		if s.TLS != nil {
			g, w := got.TLS, s.TLS
			if g.Version != w.Version || g.CipherSuite != w.CipherSuite || g.ALPN != w.ALPN || g.SubjectCN != validUTF8(w.SubjectCN) ||
				strings.Join(g.SANs, "|") != validUTF8(strings.Join(w.SANs, "|")) || g.Issuer != w.Issuer ||
				!g.NotBefore.Equal(w.NotBefore) || !g.NotAfter.Equal(w.NotAfter) || g.SHA256 != w.SHA256 {
				t.Errorf("line %d: tls %+v, want %+v", i, g, w)
			}
		}
		// The timestamp stays last: readers that cut lines by position keep working.
		if !strings.HasSuffix(l, `,"timestamp":"2026-11-22T11:00:00.123456789Z"}`) {
			t.Errorf("line %d does not end with its timestamp: %s", i, l)
		}
	}
	https := lines[1]
	for _, want := range []string{`"tls":{"version":"TLS 1.3","cipher_suite":"TLS_AES_128_GCM_SHA256","alpn":"http/1.1",`, `"not_after":"2027-10-31T23:00:00Z"`} {
		if !strings.Contains(https, want) {
			t.Errorf("https line lacks %s:\n%s", want, https)
		}
	}
}

// TestWriteServiceAllocatesNothing: a result with a Service (TLS, long banner
// included) costs no allocation once the writer's buffer has grown to hold it.
func TestWriteServiceAllocatesNothing(t *testing.T) {
	rs := serviceResults()
	for _, w := range []Writer{NewJSONL(&bytes.Buffer{}, nil), NewECS(&bytes.Buffer{}, nil, xmlScan()), NewText(&bytes.Buffer{}, nil), NewCSV(&bytes.Buffer{}, nil), NewList(&bytes.Buffer{}, nil)} {
		for i := range rs {
			w.Write(&rs[i])
		}
		for i := range rs {
			r := &rs[i]
			if n := testing.AllocsPerRun(200, func() { w.Write(r) }); n != 0 {
				t.Errorf("%T.Write of port %d with service allocates %v times per result", w, r.Port, n)
			}
		}
	}
}

// BenchmarkJSONLWriteService writes the https result (TLS, banner) as JSON lines.
func BenchmarkJSONLWriteService(b *testing.B) {
	w := NewJSONL(io.Discard, nil)
	r := sample()
	r.Port, r.Service = 443, httpsService()
	b.ReportAllocs()
	for b.Loop() {
		w.Write(&r)
	}
}

// validUTF8 is s with every byte that is not part of valid UTF-8 replaced by
// U+FFFD, as JSON writers (encoding/json's too) write it.
func validUTF8(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		b.WriteRune(r)
		i += n
	}
	return b.String()
}

// TestECSService validates ECS documents with every kind of Service against the
// ECS schema, and reads the ECS fields back.
func TestECSService(t *testing.T) {
	v := outputtest.NewECSValidator(t)
	var buf bytes.Buffer
	s := xmlScan()
	s.ID = "scan-1"
	w := NewECS(&buf, nil, s)
	rs := serviceResults()
	for i := range rs {
		rs[i].SourceIP = v4(0xC6120001)
		if err := w.Write(&rs[i]); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	if n := v.ValidateLines(t, buf.Bytes()); n != len(rs) {
		t.Fatalf("validated %d documents, want %d", n, len(rs))
	}
	type doc struct {
		Service *struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		} `json:"service"`
		TLS *struct {
			Version         string `json:"version"`
			VersionProtocol string `json:"version_protocol"`
			Established     bool   `json:"established"`
			Cipher          string `json:"cipher"`
			NextProtocol    string `json:"next_protocol"`
			Server          struct {
				Hash struct {
					SHA256 string `json:"sha256"`
				} `json:"hash"`
				X509 struct {
					Subject struct {
						CommonName []string `json:"common_name"`
					} `json:"subject"`
					AlternativeNames []string `json:"alternative_names"`
					Issuer           struct {
						DN string `json:"distinguished_name"`
					} `json:"issuer"`
					NotBefore time.Time `json:"not_before"`
					NotAfter  time.Time `json:"not_after"`
				} `json:"x509"`
			} `json:"server"`
		} `json:"tls"`
		Fastscan map[string]any `json:"fastscan"`
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	var docs []doc
	for _, l := range lines {
		var d doc
		if err := json.Unmarshal([]byte(l), &d); err != nil {
			t.Fatal(err)
		}
		docs = append(docs, d)
	}
	ssh, https, none := docs[0], docs[1], docs[4]
	if ssh.Service == nil || ssh.Service.Name != "ssh" || ssh.Service.Version != "9.2p1 Debian 2+deb12u3" || ssh.TLS != nil ||
		ssh.Fastscan["product"] != "OpenSSH" || ssh.Fastscan["info"] != "protocol 2.0" || ssh.Fastscan["service_method"] != "probed" ||
		ssh.Fastscan["service"] != "ssh" || ssh.Fastscan["banner"] != sshService().Banner {
		t.Errorf("ssh document %s", lines[0])
	}
	want := httpsService().TLS
	if tl := https.TLS; tl == nil || tl.Version != "1.3" || tl.VersionProtocol != "tls" || !tl.Established || tl.Cipher != want.CipherSuite ||
		tl.NextProtocol != "http/1.1" || tl.Server.Hash.SHA256 != strings.ToUpper(want.SHA256) ||
		fmt.Sprint(tl.Server.X509.Subject.CommonName) != "[web.lab]" || fmt.Sprint(tl.Server.X509.AlternativeNames) != fmt.Sprint(want.SANs) ||
		tl.Server.X509.Issuer.DN != want.Issuer || !tl.Server.X509.NotBefore.Equal(want.NotBefore) || !tl.Server.X509.NotAfter.Equal(want.NotAfter) {
		t.Errorf("https document %s", lines[1])
	}
	if docs[2].Fastscan["starttls"] != true || docs[2].Fastscan["banner"] != validUTF8(hostileBanner) {
		t.Errorf("hostile document lost its banner or starttls")
	}
	if docs[3].Fastscan["service_method"] != "table" || docs[3].Fastscan["service_error"] != "connection reset by peer" || docs[3].Fastscan["reason"] != "no-service" {
		t.Errorf("no-service document %s", lines[3])
	}
	// Without -sV the document is as it always was.
	if none.Service != nil || none.TLS != nil || none.Fastscan["service_method"] != nil || none.Fastscan["service"] != "http" {
		t.Errorf("document without service %s", lines[4])
	}
	if err := v.ValidateLine([]byte(strings.Replace(lines[1], `"sha256":"0123`, `"sha256":"abcd`, 1))); err == nil {
		t.Error("the schema took a lower-case sha256")
	}
}

// TestXMLService checks ports with service identification against nmap's DTD
// (xmllint), renders them with nmap.xsl (xsltproc), and reads the service, the
// certificate and the banner back.
func TestXMLService(t *testing.T) {
	var buf bytes.Buffer
	w := NewXML(&buf, nil, xmlScan())
	rs := serviceResults()
	for i := range rs {
		if err := w.Write(&rs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	outputtest.ValidateNmapXML(t, buf.Bytes())
	html := outputtest.RenderNmapXML(t, buf.Bytes())
	for _, want := range []string{"OpenSSH", "9.2p1 Debian 2+deb12u3", "protocol 2.0", "nginx", "ssl-cert", "Subject: commonName=web.lab", "banner", "SSH-2.0-OpenSSH_9.2p1"} {
		if !strings.Contains(html, want) {
			t.Errorf("nmap.xsl report lacks %q", want)
		}
	}
	doc := outputtest.ParseNmapXML(t, buf.Bytes())
	ports := map[uint16]outputtest.NmapPort{}
	for _, h := range doc.Hosts {
		for _, p := range h.Ports {
			ports[p.ID] = p
		}
	}
	ssh := ports[22]
	if s := ssh.Service; s.Name != "ssh" || s.Method != "probed" || s.Conf != "10" || s.Product != "OpenSSH" ||
		s.Version != "9.2p1 Debian 2+deb12u3" || s.ExtraInfo != "protocol 2.0" || s.Tunnel != "" {
		t.Errorf("ssh service %+v", s)
	}
	if len(ssh.Scripts) != 1 || ssh.Scripts[0].ID != "banner" || ssh.Scripts[0].Output != sshService().Banner {
		t.Errorf("ssh scripts %+v", ssh.Scripts)
	}
	https := ports[443]
	if s := https.Service; s.Name != "http" || s.Tunnel != "ssl" || s.Method != "probed" || s.Product != "nginx" || s.Version != "1.22.1" {
		t.Errorf("https service %+v", s)
	}
	scripts := map[string]outputtest.NmapScript{}
	for _, sc := range https.Scripts {
		scripts[sc.ID] = sc
	}
	cert, tlsScript := scripts["ssl-cert"], scripts["fastscan-tls"]
	want := httpsService().TLS
	if e := cert.Elems; e["subject/commonName"] != "web.lab" || e["subjectAltName/1"] != "web.lab" || e["subjectAltName/2"] != "www.web.lab" ||
		e["issuer"] != want.Issuer || e["validity/notBefore"] != "2026-11-01T00:00:00" || e["validity/notAfter"] != "2027-10-31T23:00:00" || e["sha256"] != want.SHA256 {
		t.Errorf("ssl-cert elements %v", e)
	}
	if !strings.Contains(cert.Output, "Subject: commonName=web.lab\nSubject Alternative Name: web.lab, www.web.lab\n") {
		t.Errorf("ssl-cert output %q", cert.Output)
	}
	if e := tlsScript.Elems; e["version"] != "TLS 1.3" || e["cipher_suite"] != want.CipherSuite || e["alpn"] != "http/1.1" {
		t.Errorf("fastscan-tls elements %v", e)
	}
	if scripts["banner"].Output != httpsService().Banner {
		t.Errorf("https banner %q", scripts["banner"].Output)
	}
	// Hostile strings: the document is valid (xmllint above), and what XML can
	// hold reads back unchanged.
	hostile := ports[2222]
	if s := hostile.Service; s.Name != "x/y,z" || s.Version != "1/2,3 <4>" || s.ExtraInfo != `"i"&'j'` || s.Tunnel != "ssl" {
		t.Errorf("hostile service %+v", s)
	}
	var banner string
	for _, sc := range hostile.Scripts {
		if sc.ID == "banner" {
			banner = sc.Output
		}
	}
	if !strings.Contains(banner, `"quoted" 'single' <tag attr="x">&amp; & ]]> --> /slash/`) || !strings.HasSuffix(banner, strings.Repeat("long banner ", 400)) {
		t.Errorf("hostile banner read back as %.200q", banner)
	}
	if s := ports[8080].Service; s.Name != "http-alt" || s.Method != "table" || s.Conf != "3" || len(ports[8080].Scripts) != 0 {
		t.Errorf("no-service port %+v", ports[8080])
	}
	if s := ports[80].Service; s.Name != "http" || s.Method != "table" || s.Conf != "3" || s.Product != "" {
		t.Errorf("port without -sV %+v", ports[80])
	}
}

// TestGrepableService reads the grepable port entries back as scripts split
// them (", " between entries, "/" between fields): service and version fields
// as nmap fills them with -sV, and hostile strings that cannot break the layout.
func TestGrepableService(t *testing.T) {
	var buf bytes.Buffer
	w := NewGrepable(&buf, nil, xmlScan())
	rs := serviceResults()
	for i := range rs {
		w.Write(&rs[i])
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines, want a comment, two for the host, a comment:\n%.2000s", len(lines), buf.String())
	}
	host, ports, ok := strings.Cut(lines[2], "\tPorts: ")
	if !ok || host != "Host: 198.19.0.5 ()" || strings.Contains(ports, "\t") {
		t.Fatalf("ports line %.500q", lines[2])
	}
	got := map[string][]string{}
	for _, entry := range strings.Split(ports, ", ") {
		f := strings.Split(entry, "/")
		if len(f) != 8 || f[7] != "" {
			t.Fatalf("port entry %.300q has %d fields", entry, len(f))
		}
		got[f[0]] = f
	}
	for port, want := range map[string][2]string{
		"22":   {"ssh", "OpenSSH 9.2p1 Debian 2+deb12u3 (protocol 2.0)"},
		"443":  {"ssl|http", "nginx 1.22.1"},
		"8080": {"http-alt", ""},
		"80":   {"http", ""},
	} {
		if f := got[port]; f == nil || f[1] != "open" || f[2] != "tcp" || f[4] != want[0] || f[6] != want[1] {
			t.Errorf("port %s entry %q, want service %q version %q", port, f, want[0], want[1])
		}
	}
	if f := got["2222"]; f == nil || f[4] != "ssl|x|y|z" || !strings.HasSuffix(f[6], " 1|2|3 <4> (\"i\"&'j')") {
		t.Errorf("hostile entry %.300q", f)
	}
}

// TestCSVService reads the CSV back with encoding/csv: product and version in
// the last two columns, hostile strings quoted so that every row has the
// header's eleven fields.
func TestCSVService(t *testing.T) {
	var buf bytes.Buffer
	w := NewCSV(&buf, nil)
	rs := serviceResults()
	for i := range rs {
		w.Write(&rs[i])
	}
	w.Close()
	rows, err := csv.NewReader(&buf).ReadAll() // also checks every row has the header's field count
	if err != nil {
		t.Fatalf("encoding/csv: %v", err)
	}
	if len(rows) != 1+len(rs) || strings.Join(rows[0][9:], ",") != "product,version" {
		t.Fatalf("header %q, %d rows", rows[0], len(rows))
	}
	for i, r := range rs {
		row := rows[i+1]
		product, version, service := "", "", "http" // port 80 without -sV
		if r.Service != nil {
			product, version, service = r.Service.Product, r.Service.Version, r.Service.Name
		}
		if row[9] != product || row[10] != version || row[6] != service {
			t.Errorf("row %d: %.200q, want product %.50q version %q", i, row, product, version)
		}
	}
}

// TestTextService: the text line keeps its first fields where they were and adds
// product, version and extra info at its end; hostile bytes cannot break the
// line or reach the terminal as control characters.
func TestTextService(t *testing.T) {
	var buf bytes.Buffer
	w := NewText(&buf, nil)
	rs := serviceResults()
	for i := range rs {
		w.Write(&rs[i])
	}
	w.Close()
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != len(rs) {
		t.Fatalf("%d lines for %d results:\n%.2000s", len(lines), len(rs), buf.String())
	}
	for i, want := range []string{
		"198.19.0.5 22/tcp open ssh syn-ack ttl 64 OpenSSH 9.2p1 Debian 2+deb12u3 (protocol 2.0)",
		"198.19.0.5 443/tcp open ssl/http syn-ack ttl 64 nginx 1.22.1",
		"",
		"198.19.0.5 8080/tcp open http-alt no-service ttl 64",
		"198.19.0.5 80/tcp open http syn-ack ttl 64",
	} {
		if got := strings.Join(strings.Fields(lines[i]), " "); want != "" && got != want {
			t.Errorf("line %d: %q, want fields %q", i, lines[i], want)
		}
	}
	hostile := lines[2]
	if !strings.HasPrefix(strings.Join(strings.Fields(hostile), " "), "198.19.0.5 2222/tcp open ssl/x/y,z syn-ack ttl 64 ") ||
		!strings.HasSuffix(hostile, ` 1/2,3 <4> ("i"&'j')`) {
		t.Errorf("hostile line %.300q", hostile)
	}
	for _, r := range hostile {
		if r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 || r == utf8.RuneError {
			t.Fatalf("hostile line holds %U: %.300q", r, hostile)
		}
	}
}

// TestSortedTextService: --sort's table gains nmap's VERSION column when a
// result has a Service.
func TestSortedTextService(t *testing.T) {
	var buf bytes.Buffer
	w := NewSortedText(&buf, Options{Scan: xmlScan()})
	rs := serviceResults()
	for _, i := range []int{0, 1, 3, 4} {
		w.Write(&rs[i])
	}
	w.Close()
	want := "fastscan scan report for 198.19.0.5\n" +
		"PORT     STATE SERVICE  VERSION\n" +
		"22/tcp   open  ssh      OpenSSH 9.2p1 Debian 2+deb12u3 (protocol 2.0)\n" +
		"80/tcp   open  http\n" +
		"443/tcp  open  ssl/http nginx 1.22.1\n" +
		"8080/tcp open  http-alt\n"
	if buf.String() != want {
		t.Errorf("report\n%s\nwant\n%s", buf.String(), want)
	}
}

// TestListService: masscan's banner line after the open line of a port with a
// banner, one line whatever the banner holds.
func TestListService(t *testing.T) {
	var buf bytes.Buffer
	w := NewList(&buf, nil)
	rs := serviceResults()
	for i := range rs {
		w.Write(&rs[i])
	}
	w.Close()
	ts := fmt.Sprint(time.Unix(0, rs[0].TimeNanos).Unix())
	lines := strings.Split(buf.String(), "\n")
	want := []string{
		"#fastscan",
		"open tcp 22 198.19.0.5 " + ts,
		"banner tcp 22 198.19.0.5 " + ts + ` ssh SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n`,
		"open tcp 443 198.19.0.5 " + ts,
		"banner tcp 443 198.19.0.5 " + ts + ` http HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\n`,
		"open tcp 2222 198.19.0.5 " + ts,
	}
	if len(lines) != 11 || fmt.Sprint(lines[:6]) != fmt.Sprint(want) {
		t.Fatalf("list output (%d lines)\n%.1500s\nwant first\n%s", len(lines), buf.String(), strings.Join(want, "\n"))
	}
	hostile := strings.Fields(lines[6])
	if hostile[0] != "banner" || hostile[5] != "x/y,z" || !strings.HasPrefix(lines[6][len("banner tcp 2222 198.19.0.5 "+ts+" x/y,z "):], `\x00\x01`) {
		t.Errorf("hostile banner line %.200q", lines[6])
	}
	if fmt.Sprint(lines[7:]) != fmt.Sprint([]string{"open tcp 8080 198.19.0.5 " + ts, "open tcp 80 198.19.0.5 " + ts, "# end", ""}) {
		t.Errorf("lines after the hostile one %q", lines[7:])
	}
}

// TestECSServiceUnnamedPort: -sV on a port the registry names nothing, where
// nothing recognisable answered (the lab's silent server on 9004), gives ECS
// service.name "unknown", as fastscan.service, not "" (which the ECS schema
// rejects).
func TestECSServiceUnnamedPort(t *testing.T) {
	v := outputtest.NewECSValidator(t)
	var buf bytes.Buffer
	s := xmlScan()
	s.ID = "scan-1"
	w := NewECS(&buf, nil, s)
	r := sample()
	r.SourceIP = v4(0xC6120001)
	r.Port, r.Reason = 9004, result.ReasonNoService
	r.Service = &result.Service{Method: "table", Error: "time budget spent"}
	if name := registry.Default().Name(r.Port, registry.TCP); name != "" {
		t.Fatalf("the registry names %d %q: the test proves nothing", r.Port, name)
	}
	if err := w.Write(&r); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if n := v.ValidateLines(t, buf.Bytes()); n != 1 {
		t.Fatalf("validated %d documents, want 1", n)
	}
	var d struct {
		Service  struct{ Name string }    `json:"service"`
		Fastscan struct{ Service string } `json:"fastscan"`
	}
	if err := json.Unmarshal(buf.Bytes(), &d); err != nil {
		t.Fatal(err)
	}
	if d.Service.Name != "unknown" || d.Fastscan.Service != "unknown" {
		t.Errorf("service.name %q, fastscan.service %q; want unknown for both:\n%s", d.Service.Name, d.Fastscan.Service, buf.String())
	}
}

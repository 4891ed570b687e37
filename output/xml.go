package output

import (
	"cmp"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fastscan/fastscan/registry"
	"github.com/fastscan/fastscan/result"
)

// xmlOutputVersion is the version of nmap's XML layout this writer follows.
const xmlOutputVersion = "1.05"

// Scan describes the scan as a whole, for formats that say more than its results
// (nmap XML's header and run statistics).
type Scan struct {
	// Args is the command line.
	Args string
	// Start is when the scan started.
	Start time.Time
	// Ports is the port list as given, e.g. "22,80,1000-2000", and NumPorts its size.
	Ports    string
	NumPorts int
	// UDPPorts and NumUDPPorts are the same for UDP.
	UDPPorts    string
	NumUDPPorts int
	// Hosts is the number of target addresses.
	Hosts uint64
	// Version is fastscan's version.
	Version string
	// ID names this scan (JSON lines' scan record, ECS fastscan.scan_id, and the
	// seed of event ids): fastscan gives every shard and every run of one scan
	// the same ID (a hash of seed, targets, ports and source ports).
	ID string
	// Shard and Shards say which part of the scan this run probes: shard Shard
	// (0-based) of Shards; Shards 0 means the scan is not sharded (JSON lines
	// then have no scan record).
	Shard, Shards int
	// Hostname is the scanner's host name (ECS observer.hostname).
	Hostname string
	// Finished is when the scan ended, for the run statistics of nmap XML and
	// grepable; zero (a live scan): when the writer is closed. fastscan merge
	// sets it to its latest result's time.
	Finished time.Time
}

// finished is when the scan ended: Finished, else now.
func (s *Scan) finished() time.Time {
	if s.Finished.IsZero() {
		return time.Now()
	}
	return s.Finished
}

// XML writes nmap's XML layout (valid against nmap's DTD, so nmap's stylesheet and
// the tools that read nmap XML accept it), as the scan goes: the header (everything
// up to the first host) at the first Flush, then host elements, and at Close the run
// statistics and the closing tag. A file cut short at any moment (SIGKILL) holds a
// prefix of whole elements that Close, or a resumed scan, can complete.
//
// nmap XML groups ports by host. Results are kept per host until the next Flush
// (or until xmlBatch results are waiting), which writes one host element per address
// with results, in ascending address and port order. A host whose ports arrive
// across flushes appears in more than one host element (nmap's DTD allows any
// number of host elements; readers that key hosts by address merge them). A host
// is written during the scan only once it answered itself (an open or closed port
// among its results): its status is then up. Hosts known only from filtered or
// silent ports are kept until Close, when End tells whether they are up.
//
// The DTD allows no scanner name but "nmap"; fastscan identifies itself in args and
// profile_name.
//
// A port with service identification (Result.Service, -sV) has nmap's -sV
// service element and scripts (see appendService):
//
//	<service name="http" product="nginx" version="1.22.1" tunnel="ssl" method="probed" conf="10"/>
//	<script id="ssl-cert" output="Subject: commonName=web.lab&#10;…"><table key="subject">…</table>…</script>
//	<script id="fastscan-tls" output="TLS 1.3, TLS_AES_128_GCM_SHA256, ALPN http/1.1">…</script>
//	<script id="banner" output="HTTP/1.1 200 OK\r\n…"/>
//
// End (before Close) says how the scan ended: an interrupted scan's run statistics
// say exit="error" with the reason in errormsg and count only the addresses probed,
// and the status of each host written at Close (up or down, and why) comes from the
// engine. Without End the scan is taken as finished and every host written as up
// (see End.statusOf).
type XML struct {
	out      *sink
	services *registry.Registry
	scan     Scan
	hosts    hostResults // results not yet written
	pending  int         // how many written since the last drain
	upHosts  map[netip.Addr]struct{}
	started  bool
	end      *End
	b        []byte
}

// xmlBatch is how many results nmap XML and grepable keep before they write the
// hosts that can be written without waiting for Flush.
const xmlBatch = 4096

// hostResults keeps results grouped by host, for the formats that write one block
// per host (nmap XML and grepable).
type hostResults map[netip.Addr][]result.Result

// add keeps r for its host.
func (h hostResults) add(r *result.Result) { h[r.IP] = append(h[r.IP], *r) }

// each calls fn for every host in ascending address order, with its results in
// ascending port order, TCP before UDP on the same port (as nmap lists them), so
// the output does not depend on the order replies arrived in.
func (h hostResults) each(fn func(ip netip.Addr, results []result.Result)) {
	ips := make([]netip.Addr, 0, len(h))
	for ip := range h {
		ips = append(ips, ip)
	}
	slices.SortFunc(ips, netip.Addr.Compare)
	for _, ip := range ips {
		rs := h[ip]
		slices.SortFunc(rs, func(a, c result.Result) int {
			return cmp.Or(cmp.Compare(a.Port, c.Port), cmp.Compare(a.Proto, c.Proto))
		})
		fn(ip, rs)
	}
}

// answeredItself reports whether results show that their host answered: an open
// or closed port. Such a host is up whatever else the scan learns of it.
func answeredItself(results []result.Result) bool {
	for _, r := range results {
		if r.State == result.Open || r.State == result.Closed {
			return true
		}
	}
	return false
}

// drain calls write for every kept host that can be written now (all of them when
// final), in order, and forgets those. It sets pending, the results written since
// the last drain, to 0: the hosts still kept (filtered only) do not count, or a
// scan keeping more than xmlBatch of them would drain, and sort them all, at every
// result.
func (h hostResults) drain(final bool, pending *int, write func(ip netip.Addr, results []result.Result) error) error {
	var err error
	*pending = 0
	h.each(func(ip netip.Addr, results []result.Result) {
		if err != nil || !final && !answeredItself(results) {
			return
		}
		if err = write(ip, results); err == nil {
			delete(h, ip)
		}
	})
	return err
}

// NewXML returns an XML writer on w for the scan s.
func NewXML(w io.Writer, services *registry.Registry, s Scan) *XML {
	if services == nil {
		services = registry.Default()
	}
	return &XML{out: newSink(w), services: services, scan: s, hosts: hostResults{}, upHosts: map[netip.Addr]struct{}{}}
}

// Write keeps r for its host; when many results are waiting, it writes the hosts
// it can.
func (x *XML) Write(r *result.Result) error {
	x.hosts.add(r)
	if x.pending++; x.pending >= xmlBatch {
		return x.writeHosts(false)
	}
	return nil
}

// End keeps how the scan ended, for Close.
func (x *XML) End(e End) { x.end = &e }

// Flush writes the header, if not yet written, and every host that answered
// itself, and writes the buffer.
func (x *XML) Flush() error {
	if err := x.writeHosts(false); err != nil {
		return err
	}
	if err := x.out.flush(); err != nil {
		return writeError("XML", err)
	}
	return nil
}

// start writes the header once.
func (x *XML) start() error {
	if x.started {
		return nil
	}
	x.started = true
	b := x.b[:0]
	b = append(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE nmaprun>\n"...)
	b = append(b, "<?xml-stylesheet href=\"file:///usr/share/nmap/nmap.xsl\" type=\"text/xsl\"?>\n"...)
	// A comment may not hold "--", so the command line goes only into args.
	b = fmt.Appendf(b, "<!-- fastscan scan initiated %s -->\n", x.scan.Start.Format(time.ANSIC))
	b = fmt.Appendf(b, "<nmaprun scanner=\"nmap\" profile_name=\"fastscan\" args=\"%s\" start=\"%d\" startstr=\"%s\" version=\"%s\" xmloutputversion=\"%s\">\n",
		xmlEscape(x.scan.Args), x.scan.Start.Unix(), x.scan.Start.Format(time.ANSIC), xmlEscape(x.scan.Version), xmlOutputVersion)
	if x.scan.NumPorts > 0 || x.scan.NumUDPPorts == 0 {
		b = fmt.Appendf(b, "<scaninfo type=\"syn\" protocol=\"tcp\" numservices=\"%d\" services=\"%s\"/>\n", x.scan.NumPorts, xmlEscape(x.scan.Ports))
	}
	if x.scan.NumUDPPorts > 0 {
		b = fmt.Appendf(b, "<scaninfo type=\"udp\" protocol=\"udp\" numservices=\"%d\" services=\"%s\"/>\n", x.scan.NumUDPPorts, xmlEscape(x.scan.UDPPorts))
	}
	b = append(b, "<verbose level=\"0\"/>\n<debugging level=\"0\"/>\n"...)
	x.b = b
	if err := x.out.record(b); err != nil {
		return writeError("XML", err)
	}
	return nil
}

// writeHosts writes the header, if not yet written, and the kept hosts that can be
// written (all of them when final).
func (x *XML) writeHosts(final bool) error {
	if err := x.start(); err != nil {
		return err
	}
	err := x.hosts.drain(final, &x.pending, func(ip netip.Addr, results []result.Result) error {
		var up bool
		x.b, up = x.appendHost(x.b[:0], ip, results)
		if up {
			x.upHosts[ip] = struct{}{}
		}
		return x.out.record(x.b)
	})
	if err != nil {
		return writeError("XML", err)
	}
	return nil
}

// Close writes the hosts still kept, the run statistics and the closing tag, and
// writes the buffer.
func (x *XML) Close() error {
	if err := x.writeHosts(true); err != nil {
		return err
	}
	end := x.scan.finished()
	up, down, total := x.end.hostCounts(x.scan.Hosts, uint64(len(x.upHosts)))
	elapsed := end.Sub(x.scan.Start).Seconds()
	verb, exit := "done", `exit="success"`
	if msg, early := x.end.stopped(); early {
		verb, exit = "stopped", `exit="error" errormsg="`+xmlEscape(msg)+`"`
		if x.end.Interrupted {
			verb = "interrupted"
		}
	}
	b := x.b[:0]
	b = fmt.Appendf(b, "<runstats><finished time=\"%d\" timestr=\"%s\" summary=\"fastscan %s at %s; %d IP addresses (%d hosts up) scanned in %.2f seconds\" elapsed=\"%.2f\" %s/>",
		end.Unix(), end.Format(time.ANSIC), verb, end.Format(time.ANSIC), total, up, elapsed, elapsed, exit)
	b = fmt.Appendf(b, "<hosts up=\"%d\" down=\"%d\" total=\"%d\"/>\n</runstats>\n</nmaprun>\n", up, down, total)
	x.b = b
	if err := x.out.record(b); err != nil {
		return writeError("XML", err)
	}
	if err := x.out.flush(); err != nil {
		return writeError("XML", err)
	}
	return nil
}

// appendHost appends one host element, its results in port order, and reports
// whether the host is up. Its status is End.statusOf's.
func (x *XML) appendHost(b []byte, ip netip.Addr, results []result.Result) (_ []byte, up bool) {
	first, last := results[0].TimeNanos, results[0].TimeNanos
	for _, r := range results {
		first, last = min(first, r.TimeNanos), max(last, r.TimeNanos)
	}
	st := x.end.statusOf(ip, results)
	state := "down"
	if st.up {
		state = "up"
	}
	addr := ip.String()
	b = fmt.Appendf(b, "<host starttime=\"%d\" endtime=\"%d\"><status state=\"%s\" reason=\"%s\" reason_ttl=\"%d\"/>\n", first/1e9, last/1e9, state, st.reason, st.ttl)
	b = fmt.Appendf(b, "<address addr=\"%s\" addrtype=\"%s\"/>\n<hostnames>\n</hostnames>\n<ports>", addr, ipType(ip))
	for _, r := range results {
		b = fmt.Appendf(b, "<port protocol=\"%s\" portid=\"%d\"><state state=\"%s\" reason=\"%s\" reason_ttl=\"%d\"/>",
			r.Proto, r.Port, r.State, r.Reason, r.TTL)
		if r.Service != nil {
			b = x.appendService(b, &r)
		} else if name := x.services.Name(r.Port, registryProto(r.Proto)); name != "" {
			b = fmt.Appendf(b, "<service name=\"%s\" method=\"table\" conf=\"3\"/>", xmlEscape(name))
		}
		b = append(b, "</port>\n"...)
	}
	b = append(b, "</ports>\n</host>\n"...)
	return b, st.up
}

// appendService appends the <service> element of a port service identification
// ran on, and its scripts: nmap's ssl-cert (the server's certificate), fastscan's
// own fastscan-tls (the handshake: version, cipher suite, ALPN) and banner (the
// first bytes the port sent). A probed service has conf="10", a table name
// conf="3", as nmap rates them; a protocol spoken inside TLS (https) is the
// protocol's name with tunnel="ssl", as nmap writes it.
func (x *XML) appendService(b []byte, r *result.Result) []byte {
	s := r.Service
	name := s.Name
	if name == "" {
		name = x.services.Name(r.Port, registryProto(r.Proto))
	}
	if name == "" {
		name = unknownService
	}
	method, conf := "table", 3
	if s.Method == "probed" {
		method, conf = "probed", 10
	}
	b = fmt.Appendf(b, "<service name=\"%s\"", xmlEscape(name))
	for _, a := range []struct{ key, value string }{{"product", s.Product}, {"version", s.Version}, {"extrainfo", s.Info}} {
		if a.value != "" {
			b = fmt.Appendf(b, " %s=\"%s\"", a.key, xmlEscape(a.value))
		}
	}
	if s.TLS != nil && name != "ssl" && name != "tls" {
		b = append(b, " tunnel=\"ssl\""...)
	}
	b = fmt.Appendf(b, " method=\"%s\" conf=\"%d\"/>", method, conf)
	if t := s.TLS; t != nil {
		b = appendCertScript(b, t)
		b = appendTLSScript(b, t)
	}
	if s.Banner != "" {
		b = fmt.Appendf(b, "<script id=\"banner\" output=\"%s\"/>", xmlEscape(s.Banner))
	}
	return b
}

// appendCertScript appends the server's certificate as nmap's ssl-cert script
// writes it: a readable output attribute, and the same facts as elements
// (subject and validity tables as nmap names them).
func appendCertScript(b []byte, t *result.TLS) []byte {
	const date = "2006-01-02T15:04:05"
	var out []string
	if t.SubjectCN != "" {
		out = append(out, "Subject: commonName="+t.SubjectCN)
	}
	if len(t.SANs) > 0 {
		out = append(out, "Subject Alternative Name: "+strings.Join(t.SANs, ", "))
	}
	if t.Issuer != "" {
		out = append(out, "Issuer: "+t.Issuer)
	}
	if !t.NotBefore.IsZero() {
		out = append(out, "Not valid before: "+t.NotBefore.UTC().Format(date))
	}
	if !t.NotAfter.IsZero() {
		out = append(out, "Not valid after:  "+t.NotAfter.UTC().Format(date))
	}
	if t.SHA256 != "" {
		out = append(out, "SHA-256: "+t.SHA256)
	}
	if len(out) == 0 {
		return b
	}
	b = fmt.Appendf(b, "<script id=\"ssl-cert\" output=\"%s\">", xmlEscape(strings.Join(out, "\n")))
	if t.SubjectCN != "" {
		b = fmt.Appendf(b, "<table key=\"subject\"><elem key=\"commonName\">%s</elem></table>", xmlEscape(t.SubjectCN))
	}
	if len(t.SANs) > 0 {
		b = append(b, "<table key=\"subjectAltName\">"...)
		for _, san := range t.SANs {
			b = fmt.Appendf(b, "<elem>%s</elem>", xmlEscape(san))
		}
		b = append(b, "</table>"...)
	}
	if t.Issuer != "" {
		b = fmt.Appendf(b, "<elem key=\"issuer\">%s</elem>", xmlEscape(t.Issuer))
	}
	if !t.NotBefore.IsZero() || !t.NotAfter.IsZero() {
		b = append(b, "<table key=\"validity\">"...)
		if !t.NotBefore.IsZero() {
			b = fmt.Appendf(b, "<elem key=\"notBefore\">%s</elem>", t.NotBefore.UTC().Format(date))
		}
		if !t.NotAfter.IsZero() {
			b = fmt.Appendf(b, "<elem key=\"notAfter\">%s</elem>", t.NotAfter.UTC().Format(date))
		}
		b = append(b, "</table>"...)
	}
	if t.SHA256 != "" {
		b = fmt.Appendf(b, "<elem key=\"sha256\">%s</elem>", xmlEscape(t.SHA256))
	}
	return append(b, "</script>"...)
}

// appendTLSScript appends the TLS handshake's outcome as fastscan's own script,
// fastscan-tls: "TLS 1.3, TLS_AES_128_GCM_SHA256, ALPN http/1.1", and the same
// as elements version, cipher_suite, alpn.
func appendTLSScript(b []byte, t *result.TLS) []byte {
	var out []string
	for _, v := range []string{t.Version, t.CipherSuite} {
		if v != "" {
			out = append(out, v)
		}
	}
	if t.ALPN != "" {
		out = append(out, "ALPN "+t.ALPN)
	}
	if len(out) == 0 {
		return b
	}
	b = fmt.Appendf(b, "<script id=\"fastscan-tls\" output=\"%s\">", xmlEscape(strings.Join(out, ", ")))
	for _, e := range []struct{ key, value string }{{"version", t.Version}, {"cipher_suite", t.CipherSuite}, {"alpn", t.ALPN}} {
		if e.value != "" {
			b = fmt.Appendf(b, "<elem key=\"%s\">%s</elem>", e.key, xmlEscape(e.value))
		}
	}
	return append(b, "</script>"...)
}

// xmlEscape escapes s for an XML attribute value or element text. What XML 1.0
// does not allow is left out (control characters but tab, CR and LF, U+FFFE,
// U+FFFF), and a byte that is not part of valid UTF-8 becomes U+FFFD, so that
// the document stays well-formed whatever a scanned host sent.
func xmlEscape(s string) string {
	var out []byte
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			switch {
			case r == utf8.RuneError && size == 1:
				out = append(out, "\uFFFD"...)
			case r == 0xFFFE || r == 0xFFFF:
			default:
				out = append(out, s[i:i+size]...)
			}
			i += size
			continue
		}
		i++
		switch c {
		case '&':
			out = append(out, "&amp;"...)
		case '<':
			out = append(out, "&lt;"...)
		case '>':
			out = append(out, "&gt;"...)
		case '"':
			out = append(out, "&quot;"...)
		case '\'':
			out = append(out, "&apos;"...)
		case '\t', '\n', '\r':
			out = append(out, "&#"...)
			out = strconv.AppendInt(out, int64(c), 10)
			out = append(out, ';')
		default:
			if c < 0x20 {
				continue // not allowed in XML 1.0
			}
			out = append(out, c)
		}
	}
	return string(out)
}

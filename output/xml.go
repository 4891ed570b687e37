package output

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"time"

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
	// ID names this scan (ECS fastscan.scan_id, and the seed of event ids).
	ID string
	// Hostname is the scanner's host name (ECS observer.hostname).
	Hostname string
}

// XML writes nmap's XML layout (valid against nmap's DTD, so nmap's stylesheet and
// the tools that read nmap XML accept it). nmap XML groups ports by host, so results
// are kept in memory until Close, which writes the whole document: one host element
// per address with results, ports in ascending order, and the run statistics.
//
// The DTD allows no scanner name but "nmap"; fastscan identifies itself in args and
// profile_name.
//
// End (before Close) says how the scan ended: an interrupted scan's run statistics
// say exit="error" with the reason in errormsg and count only the addresses probed,
// and each host's status (up or down, and why) comes from the engine. Without End
// the scan is taken as finished and every host written as up (see End.statusOf).
type XML struct {
	bw       *bufio.Writer
	services *registry.Registry
	scan     Scan
	hosts    hostResults
	end      *End
}

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

// NewXML returns an XML writer on w for the scan s.
func NewXML(w io.Writer, services *registry.Registry, s Scan) *XML {
	if services == nil {
		services = registry.Default()
	}
	return &XML{bw: bufio.NewWriterSize(w, 64<<10), services: services, scan: s, hosts: hostResults{}}
}

// Write keeps r for its host.
func (x *XML) Write(r *result.Result) error {
	x.hosts.add(r)
	return nil
}

// End keeps how the scan ended, for Close.
func (x *XML) End(e End) { x.end = &e }

// Close writes the document and flushes it.
func (x *XML) Close() error {
	end := time.Now()
	b := x.bw
	fmt.Fprintf(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE nmaprun>\n")
	fmt.Fprintf(b, "<?xml-stylesheet href=\"file:///usr/share/nmap/nmap.xsl\" type=\"text/xsl\"?>\n")
	// A comment may not hold "--", so the command line goes only into args.
	fmt.Fprintf(b, "<!-- fastscan scan initiated %s -->\n", x.scan.Start.Format(time.ANSIC))
	fmt.Fprintf(b, "<nmaprun scanner=\"nmap\" profile_name=\"fastscan\" args=\"%s\" start=\"%d\" startstr=\"%s\" version=\"%s\" xmloutputversion=\"%s\">\n",
		xmlEscape(x.scan.Args), x.scan.Start.Unix(), x.scan.Start.Format(time.ANSIC), xmlEscape(x.scan.Version), xmlOutputVersion)
	if x.scan.NumPorts > 0 || x.scan.NumUDPPorts == 0 {
		fmt.Fprintf(b, "<scaninfo type=\"syn\" protocol=\"tcp\" numservices=\"%d\" services=\"%s\"/>\n", x.scan.NumPorts, xmlEscape(x.scan.Ports))
	}
	if x.scan.NumUDPPorts > 0 {
		fmt.Fprintf(b, "<scaninfo type=\"udp\" protocol=\"udp\" numservices=\"%d\" services=\"%s\"/>\n", x.scan.NumUDPPorts, xmlEscape(x.scan.UDPPorts))
	}
	fmt.Fprintf(b, "<verbose level=\"0\"/>\n<debugging level=\"0\"/>\n")

	var upWritten uint64
	x.hosts.each(func(ip netip.Addr, results []result.Result) {
		if x.writeHost(ip, results) {
			upWritten++
		}
	})
	up, down, total := x.end.hostCounts(x.scan.Hosts, upWritten)
	elapsed := end.Sub(x.scan.Start).Seconds()
	verb, exit := "done", `exit="success"`
	if msg, early := x.end.stopped(); early {
		verb, exit = "stopped", `exit="error" errormsg="`+xmlEscape(msg)+`"`
		if x.end.Interrupted {
			verb = "interrupted"
		}
	}
	fmt.Fprintf(b, "<runstats><finished time=\"%d\" timestr=\"%s\" summary=\"fastscan %s at %s; %d IP addresses (%d hosts up) scanned in %.2f seconds\" elapsed=\"%.2f\" %s/>",
		end.Unix(), end.Format(time.ANSIC), verb, end.Format(time.ANSIC), total, up, elapsed, elapsed, exit)
	fmt.Fprintf(b, "<hosts up=\"%d\" down=\"%d\" total=\"%d\"/>\n</runstats>\n</nmaprun>\n", up, down, total)
	if err := b.Flush(); err != nil {
		return fmt.Errorf("writing XML: %w", err)
	}
	return nil
}

// writeHost writes one host element, its results in port order, and reports
// whether the host is up. Its status is End.statusOf's.
func (x *XML) writeHost(ip netip.Addr, results []result.Result) (up bool) {
	b := x.bw
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
	fmt.Fprintf(b, "<host starttime=\"%d\" endtime=\"%d\"><status state=\"%s\" reason=\"%s\" reason_ttl=\"%d\"/>\n", first/1e9, last/1e9, state, st.reason, st.ttl)
	fmt.Fprintf(b, "<address addr=\"%s\" addrtype=\"ipv4\"/>\n<hostnames>\n</hostnames>\n<ports>", addr)
	for _, r := range results {
		fmt.Fprintf(b, "<port protocol=\"%s\" portid=\"%d\"><state state=\"%s\" reason=\"%s\" reason_ttl=\"%d\"/>",
			r.Proto, r.Port, r.State, r.Reason, r.TTL)
		if name := x.services.Name(r.Port, registryProto(r.Proto)); name != "" {
			fmt.Fprintf(b, "<service name=\"%s\" method=\"table\" conf=\"3\"/>", xmlEscape(name))
		}
		b.WriteString("</port>\n")
	}
	b.WriteString("</ports>\n</host>\n")
	return st.up
}

// xmlEscape escapes s for an XML attribute value.
func xmlEscape(s string) string {
	var out []byte
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
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

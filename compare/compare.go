// Package compare reads what other port scanners (masscan, zmap, nmap) and
// fastscan write, scores their findings against a ground truth, and renders
// the side-by-side table of `fastlab compare`.
package compare

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Findings is a set of open TCP ports found by a scan.
type Findings map[netip.AddrPort]bool

// add records ip:port as open; a malformed address or port is an error.
func (f Findings) add(ip, port string) error {
	ap, err := addrPort(ip, port)
	if err != nil {
		return err
	}
	f[ap] = true
	return nil
}

// addrPort parses an address and a port number (not 0).
func addrPort(ip, port string) (netip.AddrPort, error) {
	a, err := netip.ParseAddr(strings.TrimSpace(ip))
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("address %q: %w", ip, err)
	}
	p, err := strconv.ParseUint(strings.TrimSpace(port), 10, 16)
	if err != nil || p == 0 {
		return netip.AddrPort{}, fmt.Errorf("port %q: not a port number", port)
	}
	return netip.AddrPortFrom(a, uint16(p)), nil
}

// ParseFastscanJSONL reads fastscan's --format jsonl output and returns the
// TCP ports whose state is open.
func ParseFastscanJSONL(r io.Reader) (Findings, error) {
	f := Findings{}
	err := eachOpenFastscanPort(r, func(ap netip.AddrPort, _ fastscanLine) { f[ap] = true })
	if err != nil {
		return nil, err
	}
	return f, nil
}

// fastscanLine holds the keys of one line of fastscan's jsonl output that
// this package reads.
type fastscanLine struct {
	Record  string `json:"record"`
	IP      string `json:"ip"`
	Port    uint16 `json:"port"`
	Proto   string `json:"proto"`
	State   string `json:"state"`
	Service string `json:"service"`
	Product string `json:"product"`
	Version string `json:"version"`
}

// eachOpenFastscanPort reads fastscan's jsonl output and calls open with
// every open TCP port and its line. A line of another record kind (a
// shard's "scan" record, a host note) is skipped.
func eachOpenFastscanPort(r io.Reader, open func(netip.AddrPort, fastscanLine)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var rec fastscanLine
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			return fmt.Errorf("fastscan jsonl line %d: %w", n, err)
		}
		if rec.Record != "" || rec.State != "open" || rec.Proto != "tcp" {
			continue
		}
		ap, err := addrPort(rec.IP, strconv.Itoa(int(rec.Port)))
		if err != nil {
			return fmt.Errorf("fastscan jsonl line %d: %w", n, err)
		}
		open(ap, rec)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("fastscan jsonl: %w", err)
	}
	return nil
}

// ParseMasscanList reads masscan's -oL output ("open tcp 80 10.0.0.1 1700000000"
// lines between "#masscan" and "# end") and returns the open TCP ports.
func ParseMasscanList(r io.Reader) (Findings, error) {
	f := Findings{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 4 {
			return nil, fmt.Errorf("masscan list line %d %q: want state, protocol, port, address", n, line)
		}
		if fields[0] != "open" || fields[1] != "tcp" {
			continue
		}
		if err := f.add(fields[3], fields[2]); err != nil {
			return nil, fmt.Errorf("masscan list line %d: %w", n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("masscan list: %w", err)
	}
	return f, nil
}

// ParseZmapCSV reads zmap's csv output module (-O csv) with a header line
// naming at least saddr and sport; rows classified synack (or with success 1
// when there is no classification field) are open ports.
func ParseZmapCSV(r io.Reader) (Findings, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return Findings{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("zmap csv header: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.TrimSpace(h)] = i
	}
	saddr, ok1 := col["saddr"]
	sport, ok2 := col["sport"]
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("zmap csv header %q: want saddr and sport fields (-f saddr,sport,classification,success)", strings.Join(header, ","))
	}
	class, hasClass := col["classification"]
	success, hasSuccess := col["success"]
	f := Findings{}
	for n := 2; ; n++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("zmap csv line %d: %w", n, err)
		}
		get := func(i int) string {
			if i < len(rec) {
				return rec[i]
			}
			return ""
		}
		switch {
		case hasClass:
			if get(class) != "synack" {
				continue
			}
		case hasSuccess:
			if get(success) != "1" {
				continue
			}
		}
		if err := f.add(get(saddr), get(sport)); err != nil {
			return nil, fmt.Errorf("zmap csv line %d: %w", n, err)
		}
	}
	return f, nil
}

// ParseNmapXML reads nmap's -oX output and returns the TCP ports in state
// open.
func ParseNmapXML(r io.Reader) (Findings, error) {
	var run struct {
		XMLName xml.Name   `xml:"nmaprun"`
		Hosts   []nmapHost `xml:"host"`
	}
	if err := xml.NewDecoder(r).Decode(&run); err != nil {
		return nil, fmt.Errorf("nmap xml: %w", err)
	}
	f := Findings{}
	for _, h := range run.Hosts {
		ip := h.address("ipv4")
		for _, p := range h.openTCP() {
			if ip == "" {
				return nil, fmt.Errorf("nmap xml: port %s on a host without an IPv4 address", p.PortID)
			}
			if err := f.add(ip, p.PortID); err != nil {
				return nil, fmt.Errorf("nmap xml: %w", err)
			}
		}
	}
	return f, nil
}

// Score compares findings with the open ports of the ground truth: missed
// counts open ports not found, extra the findings that are not open in the
// truth.
func Score(found Findings, want []netip.AddrPort) (missed, extra int) {
	extra = matchWanted(found, want, func(_ netip.AddrPort, open, _ bool) {
		if !open {
			missed++
		}
	})
	return missed, extra
}

// matchWanted calls each once for every distinct port of wanted, in order,
// with what got holds for it (the zero value and false when nothing), and
// returns how many ports of got are not wanted.
func matchWanted[V any](got map[netip.AddrPort]V, wanted []netip.AddrPort, each func(ap netip.AddrPort, v V, ok bool)) (extra int) {
	set := make(map[netip.AddrPort]bool, len(wanted))
	for _, ap := range wanted {
		if set[ap] {
			continue
		}
		set[ap] = true
		v, ok := got[ap]
		each(ap, v, ok)
	}
	for ap := range got {
		if !set[ap] {
			extra++
		}
	}
	return extra
}

// Sorted returns the findings in address, then port order.
func (f Findings) Sorted() []netip.AddrPort {
	out := make([]netip.AddrPort, 0, len(f))
	for ap := range f {
		out = append(out, ap)
	}
	slices.SortFunc(out, func(a, b netip.AddrPort) int { return a.Compare(b) })
	return out
}

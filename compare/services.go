package compare

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Service is what a scanner's service identification (fastscan -sV, nmap
// -sV) said of one open TCP port.
type Service struct {
	Name    string // the service's name, e.g. "http"
	Product string // e.g. "nginx"
	Version string // e.g. "1.22.1"
}

// Services are the identified open TCP ports of one run.
type Services map[netip.AddrPort]Service

// ErrTruncated is wrapped by ParseNmapServices' error when the document
// ends early (a run stopped midway): the services of the hosts read until
// then are returned with it.
var ErrTruncated = errors.New("document ends early")

// nmapHost is one <host> element of nmap's -oX output.
type nmapHost struct {
	Addresses []struct {
		Addr     string `xml:"addr,attr"`
		AddrType string `xml:"addrtype,attr"`
	} `xml:"address"`
	Ports []nmapPort `xml:"ports>port"`
}

// nmapPort is one <port> element of an nmap <host>.
type nmapPort struct {
	Protocol string `xml:"protocol,attr"`
	PortID   string `xml:"portid,attr"`
	State    struct {
		State string `xml:"state,attr"`
	} `xml:"state"`
	Service struct {
		Name    string `xml:"name,attr"`
		Product string `xml:"product,attr"`
		Version string `xml:"version,attr"`
	} `xml:"service"`
}

// address returns the host's last address of one of the types given
// ("ipv4", "ipv6"), or "" if it has none.
func (h nmapHost) address(types ...string) string {
	ip := ""
	for _, a := range h.Addresses {
		if slices.Contains(types, a.AddrType) {
			ip = a.Addr
		}
	}
	return ip
}

// openTCP returns the host's TCP ports in state open.
func (h nmapHost) openTCP() []nmapPort {
	var out []nmapPort
	for _, p := range h.Ports {
		if p.Protocol == "tcp" && p.State.State == "open" {
			out = append(out, p)
		}
	}
	return out
}

// ParseNmapServices reads nmap's -oX output and returns every TCP port in
// state open with its <service> element's name, product and version
// (empty when nmap wrote none). nmap writes each host group's hosts as the
// group ends: for a run stopped midway, the error wraps ErrTruncated and
// the services of the complete <host> elements are returned too.
func ParseNmapServices(r io.Reader) (Services, error) {
	s := Services{}
	d := xml.NewDecoder(r)
	root := false
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			if !root {
				return nil, errors.New("nmap xml: no nmaprun element")
			}
			return s, fmt.Errorf("nmap xml: %w", ErrTruncated)
		}
		if err != nil {
			if root && errors.Is(err, io.ErrUnexpectedEOF) || root && strings.Contains(err.Error(), "unexpected EOF") {
				return s, fmt.Errorf("nmap xml: %w: %w", ErrTruncated, err)
			}
			return nil, fmt.Errorf("nmap xml: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch {
			case !root && t.Name.Local != "nmaprun":
				return nil, fmt.Errorf("nmap xml: root element %q, want nmaprun", t.Name.Local)
			case !root:
				root = true
			case t.Name.Local == "host":
				var h nmapHost
				if err := d.DecodeElement(&h, &t); err != nil {
					if strings.Contains(err.Error(), "unexpected EOF") {
						return s, fmt.Errorf("nmap xml: %w: %w", ErrTruncated, err)
					}
					return nil, fmt.Errorf("nmap xml: %w", err)
				}
				if err := s.addHost(h); err != nil {
					return nil, err
				}
			}
		case xml.EndElement:
			if t.Name.Local == "nmaprun" {
				return s, nil
			}
		}
	}
}

// addHost adds the open TCP ports of one nmap <host>.
func (s Services) addHost(h nmapHost) error {
	ip := h.address("ipv4", "ipv6")
	for _, p := range h.openTCP() {
		ap, err := addrPort(ip, p.PortID)
		if err != nil {
			return fmt.Errorf("nmap xml: %w", err)
		}
		s[ap] = Service{Name: p.Service.Name, Product: p.Service.Product, Version: p.Service.Version}
	}
	return nil
}

// ParseFastscanServices reads fastscan's --format jsonl output with service
// identification (-sV: the keys service, product and version) and returns
// the open TCP ports. A line of another record kind (a shard's "scan"
// record) is skipped.
func ParseFastscanServices(r io.Reader) (Services, error) {
	s := Services{}
	err := eachOpenFastscanPort(r, func(ap netip.AddrPort, rec fastscanLine) {
		s[ap] = Service{Name: rec.Service, Product: rec.Product, Version: rec.Version}
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// IDScore is how a run's identifications compare with the truth: every
// wanted port carries the same service.
type IDScore struct {
	Right   int // wanted ports identified as wanted
	Wrong   int // wanted ports found open with another name, product or version
	Missing int // wanted ports not reported open
	Extra   int // open ports reported that are not wanted
	// Example is one wrong identification, "ip:port: got {...}" ("" if none).
	Example string
}

// ScoreServices compares got with the wanted ports, each of which should be
// identified as want.
func ScoreServices(got Services, wanted []netip.AddrPort, want Service) IDScore {
	var sc IDScore
	sc.Extra = matchWanted(got, wanted, func(ap netip.AddrPort, g Service, ok bool) {
		switch {
		case !ok:
			sc.Missing++
		case g == want:
			sc.Right++
		default:
			sc.Wrong++
			if sc.Example == "" {
				sc.Example = fmt.Sprintf("%v: got %+v", ap, g)
			}
		}
	})
	return sc
}

// IDRun is one run of one tool's service identification.
type IDRun struct {
	Wall      time.Duration // start to exit
	MaxRSSKiB int64         // peak resident set size (wait4 rusage ru_maxrss)
	ToolCPU   time.Duration // the tool's own CPU time, user and system (wait4 rusage)
	CPU       CPUTimes      // the whole machine's CPU time during the run
	Score     IDScore
	// Failed says why the run did not complete; the other fields are then
	// not meaningful (but Wall).
	Failed string
}

// IDCell is one row of the service identification table: one tool, over
// rounds.
type IDCell struct {
	Tool string
	Note string // how the tool was run
	NA   string // why the tool was not run ("" when it was)
	Runs []IDRun
}

// RenderID writes the cells as one Markdown table: per tool the minimum and
// the median wall time of the completed runs, the median's ratio to the
// baseline tool's, the identifications (right, wrong, missing, extra; min-max
// over runs when they differ), the largest peak RSS, the median of the
// tool's own CPU time and the medians of the machine's.
func RenderID(w io.Writer, baseline string, cells []IDCell) error {
	wall := func(r IDRun) time.Duration { return r.Wall }
	var baseMed time.Duration
	for _, c := range cells {
		if runs := completed(c.Runs); c.Tool == baseline && len(runs) > 0 {
			baseMed = median(runs, wall)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "| tool | min wall | median wall | vs %s | right | wrong | missing | extra | peak RSS | tool CPU | machine user CPU | machine kernel CPU | runs | note |\n", baseline)
	b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n")
	for _, c := range cells {
		if c.NA != "" {
			fmt.Fprintf(&b, "| %s | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | 0 | %s |\n", c.Tool, cellText(c.NA))
			continue
		}
		runs := completed(c.Runs)
		note := withNotes(c.Note, idNotes(c.Runs))
		counted := fmt.Sprintf("%d/%d", len(runs), len(c.Runs))
		if len(runs) == 0 {
			fmt.Fprintf(&b, "| %s | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | %s | %s |\n", c.Tool, counted, cellText(note))
			continue
		}
		m := median(runs, wall)
		lo := runs[0].Wall
		var rss int64
		for _, r := range runs {
			lo = min(lo, r.Wall)
			rss = max(rss, r.MaxRSSKiB)
		}
		ratio := "n/a"
		if baseMed > 0 {
			ratio = fmt.Sprintf("%.3gx", m.Seconds()/baseMed.Seconds())
		}
		fmt.Fprintf(&b, "| %s | %.2f s | %.2f s | %s | %s | %s | %s | %s | %.1f MiB | %.2f s | %.2f s | %.2f s | %s | %s |\n",
			c.Tool, lo.Seconds(), m.Seconds(), ratio,
			spread(runs, func(r IDRun) int { return r.Score.Right }), spread(runs, func(r IDRun) int { return r.Score.Wrong }),
			spread(runs, func(r IDRun) int { return r.Score.Missing }), spread(runs, func(r IDRun) int { return r.Score.Extra }),
			float64(rss)/1024,
			median(runs, func(r IDRun) time.Duration { return r.ToolCPU }).Seconds(),
			median(runs, func(r IDRun) time.Duration { return r.CPU.User }).Seconds(),
			median(runs, func(r IDRun) time.Duration { return r.CPU.Kernel }).Seconds(),
			counted, cellText(note))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// idNotes returns what a row of the identification table adds to its note,
// in the order of the runs: each distinct failure, and while there are
// fewer than three notes, the example of a completed run's wrong
// identification.
func idNotes(runs []IDRun) []string {
	var notes []string
	for _, r := range runs {
		if r.Failed != "" && !slices.Contains(notes, r.Failed) {
			notes = append(notes, r.Failed)
		}
		if r.Failed == "" && r.Score.Example != "" && len(notes) < 3 {
			notes = append(notes, "e.g. "+r.Score.Example)
		}
	}
	return notes
}

// failure is why the run did not complete ("" when it did).
func (r IDRun) failure() string { return r.Failed }

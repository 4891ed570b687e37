package output

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/fastscan/fastscan/registry"
	"github.com/fastscan/fastscan/result"
)

// Grepable writes nmap's grepable layout (-oG): a comment line, then two lines per
// host, tab-separated fields, port entries as port/state/protocol/owner/service/rpc/
// version/, and a closing comment:
//
//	# fastscan 0.1.0 scan initiated Sun Nov 22 11:00:00 2026 as: fastscan 198.19.0.0/24 -p 22,80
//	Host: 198.19.0.5 ()	Status: Up
//	Host: 198.19.0.5 ()	Ports: 22/open/tcp//ssh///, 80/closed/tcp//http///
//	# fastscan done at Sun Nov 22 11:00:01 2026 -- 256 IP addresses (1 host up) scanned in 1.02 seconds
//
// Like nmap XML it groups ports by host, so it is written when the scan ends. End
// (before Close) gives each host's status (Up or Down) and the counts of the closing
// comment, which then also says why an interrupted scan stopped:
//
//	# fastscan done at Sun Nov 22 11:00:01 2026 -- 96 IP addresses (1 host up) scanned in 0.61 seconds -- interrupted: interrupt signal received
type Grepable struct {
	bw       *bufio.Writer
	services *registry.Registry
	scan     Scan
	hosts    hostResults
	end      *End
}

// NewGrepable returns a Grepable writer on w for the scan s.
func NewGrepable(w io.Writer, services *registry.Registry, s Scan) *Grepable {
	if services == nil {
		services = registry.Default()
	}
	return &Grepable{bw: bufio.NewWriterSize(w, 64<<10), services: services, scan: s, hosts: hostResults{}}
}

// Write keeps r for its host.
func (g *Grepable) Write(r *result.Result) error {
	g.hosts.add(r)
	return nil
}

// End keeps how the scan ended, for Close.
func (g *Grepable) End(e End) { g.end = &e }

// Close writes every host and the closing comment, and flushes.
func (g *Grepable) Close() error {
	b := g.bw
	// Slashes and commas would break the fields; service names have none, but a
	// user's registry file might.
	field := strings.NewReplacer("/", "|", ",", "|")
	fmt.Fprintf(b, "# fastscan %s scan initiated %s as: %s\n", g.scan.Version, g.scan.Start.Format(time.ANSIC), oneLine(g.scan.Args))
	var upWritten uint64
	g.hosts.each(func(ip netip.Addr, results []result.Result) {
		addr := ip.String()
		status := "Down"
		if g.end.statusOf(ip, results).up {
			status = "Up"
			upWritten++
		}
		fmt.Fprintf(b, "Host: %s ()\tStatus: %s\n", addr, status)
		fmt.Fprintf(b, "Host: %s ()\tPorts: ", addr)
		for i, r := range results {
			if i > 0 {
				b.WriteString(", ")
			}
			name := field.Replace(g.services.Name(r.Port, registryProto(r.Proto)))
			fmt.Fprintf(b, "%d/%s/%s//%s///", r.Port, r.State, r.Proto, name)
		}
		b.WriteString("\n")
	})
	end := time.Now()
	up, _, total := g.end.hostCounts(g.scan.Hosts, upWritten)
	hosts := "hosts"
	if up == 1 {
		hosts = "host"
	}
	fmt.Fprintf(b, "# fastscan done at %s -- %d IP addresses (%d %s up) scanned in %.2f seconds",
		end.Format(time.ANSIC), total, up, hosts, end.Sub(g.scan.Start).Seconds())
	if msg, early := g.end.stopped(); early {
		fmt.Fprintf(b, " -- %s", oneLine(msg))
	}
	b.WriteString("\n")
	if err := b.Flush(); err != nil {
		return fmt.Errorf("writing grepable output: %w", err)
	}
	return nil
}

// oneLine keeps a comment on one line.
func oneLine(s string) string { return strings.NewReplacer("\n", " ", "\r", " ").Replace(s) }

package output

import (
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
// version/, and a closing comment. The version field is empty unless service
// identification (-sV) ran: then it holds product, version and (extra info), and
// a protocol spoken inside TLS is named ssl|http, as nmap writes them
// (22/open/tcp//ssh//OpenSSH 9.2p1 (Debian-2+deb12u10)/):
//
//	# fastscan 0.1.0 scan initiated Sun Nov 22 11:00:00 2026 as: fastscan 198.19.0.0/24 -p 22,80
//	Host: 198.19.0.5 ()	Status: Up
//	Host: 198.19.0.5 ()	Ports: 22/open/tcp//ssh///, 80/closed/tcp//http///
//	# fastscan done at Sun Nov 22 11:00:01 2026 -- 256 IP addresses (1 host up) scanned in 1.02 seconds
//
// It is written as the scan goes, like nmap XML (see XML): the first comment at the
// first Flush, a host's two lines (as one record) once it answered itself, at Flush,
// hosts known only from filtered or silent ports at Close, where End gives their
// status (Up or Down), a comment line for every host End flagged as a SYN proxy or
// tarpit (see Close), then the closing comment with the counts, which also says why
// an interrupted scan stopped:
//
//	# fastscan done at Sun Nov 22 11:00:01 2026 -- 96 IP addresses (1 host up) scanned in 0.61 seconds -- interrupted: interrupt signal received
//
// A host whose ports arrive across flushes has more than one pair of lines.
type Grepable struct {
	out      *sink
	services *registry.Registry
	scan     Scan
	hosts    hostResults
	pending  int
	upHosts  map[netip.Addr]struct{}
	started  bool
	end      *End
	b        []byte
}

// NewGrepable returns a Grepable writer on w for the scan s.
func NewGrepable(w io.Writer, services *registry.Registry, s Scan) *Grepable {
	if services == nil {
		services = registry.Default()
	}
	return &Grepable{out: newSink(w), services: services, scan: s, hosts: hostResults{}, upHosts: map[netip.Addr]struct{}{}}
}

// appendGrepableField appends s as one field of a port entry: slashes and commas,
// which separate fields and entries, become '|' (as nmap writes a slash in a
// version), and control characters, which would break the line or its tabs,
// spaces. Service names come from a user's registry file or a scanned host, and
// products and versions from a scanned host.
func appendGrepableField(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '/' || c == ',':
			b = append(b, '|')
		case c < 0x20 || c == 0x7f:
			b = append(b, ' ')
		default:
			b = append(b, c)
		}
	}
	return b
}

// Write keeps r for its host; when many results are waiting, it writes the hosts
// it can.
func (g *Grepable) Write(r *result.Result) error {
	g.hosts.add(r)
	if g.pending++; g.pending >= xmlBatch {
		return g.writeHosts(false)
	}
	return nil
}

// End keeps how the scan ended, for Close.
func (g *Grepable) End(e End) { g.end = &e }

// Flush writes the first comment, if not yet written, and every host that answered
// itself, and writes the buffer.
func (g *Grepable) Flush() error {
	if err := g.writeHosts(false); err != nil {
		return err
	}
	if err := g.out.flush(); err != nil {
		return writeError("grepable output", err)
	}
	return nil
}

// writeHosts writes the first comment, if not yet written, and the kept hosts that
// can be written (all of them when final).
func (g *Grepable) writeHosts(final bool) error {
	if !g.started {
		g.started = true
		g.b = fmt.Appendf(g.b[:0], "# fastscan %s scan initiated %s as: %s\n", g.scan.Version, g.scan.Start.Format(time.ANSIC), oneLine(g.scan.Args))
		if err := g.out.record(g.b); err != nil {
			return writeError("grepable output", err)
		}
	}
	err := g.hosts.drain(final, &g.pending, func(ip netip.Addr, results []result.Result) error {
		addr := ip.String()
		status := "Down"
		if g.end.statusOf(ip, results).up {
			status = "Up"
			g.upHosts[ip] = struct{}{}
		}
		b := fmt.Appendf(g.b[:0], "Host: %s ()\tStatus: %s\n", addr, status)
		b = fmt.Appendf(b, "Host: %s ()\tPorts: ", addr)
		for i, r := range results {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = fmt.Appendf(b, "%d/%s/%s//", r.Port, r.State, r.Proto)
			if sv := r.Service; sv != nil {
				name := sv.Name
				if name == "" {
					name = g.services.Name(r.Port, registryProto(r.Proto))
				}
				if sv.TLS != nil && name != "ssl" && name != "tls" {
					b = append(b, "ssl|"...) // a protocol inside TLS, as nmap writes it
				}
				b = appendGrepableField(b, name)
				b = append(b, "//"...)
				b = appendGrepableField(b, string(appendVersionText(nil, sv)))
				b = append(b, '/')
			} else {
				b = appendGrepableField(b, g.services.Name(r.Port, registryProto(r.Proto)))
				b = append(b, "///"...)
			}
		}
		b = append(b, '\n')
		g.b = b
		return g.out.record(b)
	})
	if err != nil {
		return writeError("grepable output", err)
	}
	return nil
}

// Close writes the hosts still kept, a comment line for every host End flagged
// as answering SYN-ACK on (nearly) every TCP port probed (a SYN proxy or tarpit;
// readers of grepable output skip lines that start with '#'), and the closing
// comment, and writes the buffer:
//
//	# fastscan: 198.18.1.90: SYN-ACK on 64 of 64 TCP ports probed: a SYN proxy or tarpit?
//	# fastscan done at Sun Nov 22 11:00:01 2026 -- 256 IP addresses (2 hosts up) scanned in 1.02 seconds
func (g *Grepable) Close() error {
	if err := g.writeHosts(true); err != nil {
		return err
	}
	if err := g.writeGrepableNotes(); err != nil {
		return err
	}
	end := g.scan.finished()
	up, _, total := g.end.hostCounts(g.scan.Hosts, uint64(len(g.upHosts)))
	hosts := "hosts"
	if up == 1 {
		hosts = "host"
	}
	b := fmt.Appendf(g.b[:0], "# fastscan done at %s -- %d IP addresses (%d %s up) scanned in %.2f seconds",
		end.Format(time.ANSIC), total, up, hosts, end.Sub(g.scan.Start).Seconds())
	if msg, early := g.end.stopped(); early {
		b = fmt.Appendf(b, " -- %s", oneLine(msg))
	}
	b = append(b, '\n')
	g.b = b
	if err := g.out.record(b); err != nil {
		return writeError("grepable output", err)
	}
	if err := g.out.flush(); err != nil {
		return writeError("grepable output", err)
	}
	return nil
}

// oneLine keeps a comment on one line.
func oneLine(s string) string { return strings.NewReplacer("\n", " ", "\r", " ").Replace(s) }

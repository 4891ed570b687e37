package output

import (
	"cmp"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/fastscan/fastscan/result"
)

// SortedText is the text format grouped by host and sorted, as nmap's normal
// output reads (fastscan --sort): it holds every result until Close, then writes
// one report per host that has a result, hosts by address, ports ascending:
//
//	fastscan scan report for 198.19.0.5
//	Not shown: 1021 closed tcp ports (reset), 1 filtered tcp port (no-response)
//	PORT    STATE  SERVICE
//	22/tcp  open   ssh
//	80/tcp  open   http
//
// With service identification (-sV) the table has nmap's VERSION column:
//
//	PORT    STATE SERVICE  VERSION
//	22/tcp  open  ssh      OpenSSH 9.2p1 (Debian-2+deb12u10)
//	443/tcp open  ssl/http nginx 1.22.1
//
// "Not shown" counts the host's ports whose verdict was not shown: the replies
// Hidden was told of, by state and reason, and, once the whole scan has ended
// (End says not interrupted, and the scan is not a shard), the ports that never
// answered: every port scanned less those shown and those hidden.
//
// Memory grows with the results held (about 64 bytes each) and the hosts with a
// hidden reply. Nothing is written before Close (Flush writes nothing): it is
// not Resumable, a checkpoint could not claim its results.
type SortedText struct {
	lineWriter
	scan    Scan
	results []result.Result
	end     End
	ended   bool

	mu     sync.Mutex // Hidden runs on the engine's receiver
	hidden map[netip.Addr]map[notShown]uint64
}

// notShown is one kind of port a host's report does not list.
type notShown struct {
	state  result.State
	proto  result.Proto
	reason result.Reason
}

// NewSortedText returns a SortedText writer on w; o.Scan's port counts give the
// ports of each host scanned.
func NewSortedText(w io.Writer, o Options) *SortedText {
	return &SortedText{lineWriter: newLineWriter(w, o.Services), scan: o.Scan, hidden: map[netip.Addr]map[notShown]uint64{}}
}

// Write holds r for the report.
func (t *SortedText) Write(r *result.Result) error {
	t.results = append(t.results, *r)
	return nil
}

// Hidden counts a verdict that was not shown (engine.Config.Hidden). Safe for
// use from another goroutine than the writer's.
func (t *SortedText) Hidden(r result.Result) {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := t.hidden[r.IP]
	if m == nil {
		m = map[notShown]uint64{}
		t.hidden[r.IP] = m
	}
	m[notShown{r.State, r.Proto, r.Reason}]++
}

// Flush writes nothing: the report is written whole at Close.
func (t *SortedText) Flush() error { return nil }

// End records how the scan ended: only a whole scan knows which ports never
// answered.
func (t *SortedText) End(e End) { t.end, t.ended = e, true }

// Close writes the report of every host, then flushes.
func (t *SortedText) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	slices.SortFunc(t.results, func(a, b result.Result) int {
		return cmp.Or(a.IP.Compare(b.IP), cmp.Compare(a.Proto, b.Proto), cmp.Compare(a.Port, b.Port))
	})
	whole := t.ended && !t.end.Interrupted && t.end.Err == "" && t.scan.Shards <= 1
	versions := false // a VERSION column, as nmap -sV has
	for i := range t.results {
		versions = versions || t.results[i].Service != nil
	}
	for i := 0; i < len(t.results); {
		j := i + 1
		for j < len(t.results) && t.results[j].IP == t.results[i].IP {
			j++
		}
		t.line = t.appendHost(t.line[:0], t.results[i:j], whole, versions)
		if i > 0 {
			t.line = append([]byte{'\n'}, t.line...)
		}
		if err := t.flushLine(); err != nil {
			return err
		}
		i = j
	}
	return t.lineWriter.Close()
}

// appendHost appends the report of one host's results (sorted, one address),
// with a VERSION column when versions (service identification ran).
func (t *SortedText) appendHost(b []byte, rs []result.Result, whole, versions bool) []byte {
	addr := rs[0].IP
	b = append(b, "fastscan scan report for "...)
	b = appendAddr(b, addr)
	b = append(b, '\n')
	if ns := t.notShown(addr, rs, whole); ns != "" {
		b = append(b, "Not shown: "...)
		b = append(b, ns...)
		b = append(b, '\n')
	}
	rows := make([][4]string, 0, len(rs)+1)
	rows = append(rows, [4]string{"PORT", "STATE", "SERVICE", "VERSION"})
	for i := range rs {
		r := &rs[i]
		row := [4]string{strconv.Itoa(int(r.Port)) + "/" + r.Proto.String(), r.State.String(), string(t.appendServiceName(nil, r))}
		if r.Service != nil {
			row[3] = string(appendVersionText(nil, r.Service))
		}
		rows = append(rows, row)
	}
	cols := 3
	if versions {
		cols = 4
	}
	var w [3]int
	for _, row := range rows {
		for c := range w {
			w[c] = max(w[c], utf8.RuneCountInString(row[c]))
		}
	}
	for _, row := range rows {
		for c := range cols {
			b = append(b, row[c]...)
			if c < cols-1 && (c < 2 || row[c+1] != "") {
				b = append(b, strings.Repeat(" ", w[c]-utf8.RuneCountInString(row[c])+1)...)
			}
		}
		b = append(b, '\n')
	}
	return b
}

// notShown words the ports of addr that its report does not list, most first:
// "1021 closed tcp ports (reset), 1 filtered tcp port (no-response)".
func (t *SortedText) notShown(addr netip.Addr, shown []result.Result, whole bool) string {
	counts := map[notShown]uint64{}
	for k, n := range t.hidden[addr] {
		counts[k] += n
	}
	if whole {
		for _, p := range []struct {
			proto result.Proto
			ports int
			state result.State
		}{{result.TCP, t.scan.NumPorts, result.Filtered}, {result.UDP, t.scan.NumUDPPorts, result.OpenFiltered}} {
			left := uint64(p.ports)
			for _, r := range shown {
				if r.Proto == p.proto {
					left--
				}
			}
			for k, n := range counts {
				if k.proto == p.proto {
					left -= min(n, left)
				}
			}
			if left > 0 {
				counts[notShown{p.state, p.proto, result.ReasonNoResponse}] += left
			}
		}
	}
	keys := make([]notShown, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b notShown) int {
		return cmp.Or(cmp.Compare(counts[b], counts[a]), cmp.Compare(a.state, b.state), cmp.Compare(a.proto, b.proto), cmp.Compare(a.reason, b.reason))
	})
	var parts []string
	for _, k := range keys {
		unit := "ports"
		if counts[k] == 1 {
			unit = "port"
		}
		parts = append(parts, fmt.Sprintf("%d %s %s %s (%s)", counts[k], k.state, k.proto, unit, k.reason))
	}
	return strings.Join(parts, ", ")
}

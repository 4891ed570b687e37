package output

import (
	"net/netip"
	"slices"

	"github.com/fastscan/fastscan/result"
)

// Resumable is implemented by the writers of files a checkpoint can record and a
// resumed scan can continue (every format but syslog and pcap): a checkpoint notes
// how many bytes of whole records each file holds and which results a writer still
// keeps in memory (nmap XML and grepable keep the results of hosts that have not
// answered themselves until Close); a resumed scan cuts each file back to its
// recorded length and continues writing after it, without the header.
type Resumable interface {
	// Written is the number of bytes of whole records written to the destination
	// so far (after Flush: every result written). It does not count what the
	// destination held before the writer was made.
	Written() int64
	// Kept returns a copy of the results written but not yet in the destination
	// even after Flush (nmap XML and grepable: hosts known only from filtered
	// ports), in address and port order; nil for the line formats.
	Kept() []result.Result
	// Continue makes the writer continue a destination that already holds its
	// header and whole records (a resumed scan): it writes no header, and keeps
	// kept as if they had been written to it (Kept of the interrupted scan's
	// writer). Call it before the first Write or Flush.
	Continue(kept []result.Result)
}

// Written is the number of bytes of whole records written so far.
func (lw *lineWriter) Written() int64 { return lw.out.written() }

// Kept returns nil: a line format writes every result at Flush.
func (lw *lineWriter) Kept() []result.Result { return nil }

// Continue continues a destination that holds the header already.
func (lw *lineWriter) Continue([]result.Result) { lw.started = true }

// Written is the number of bytes of whole records written so far.
func (x *XML) Written() int64 { return x.out.written() }

// Kept returns the results of the hosts not written yet.
func (x *XML) Kept() []result.Result { return x.hosts.copyAll() }

// Continue continues a destination that holds the header already, keeping kept.
func (x *XML) Continue(kept []result.Result) {
	x.started = true
	for i := range kept {
		x.hosts.add(&kept[i])
	}
}

// Written is the number of bytes of whole records written so far.
func (g *Grepable) Written() int64 { return g.out.written() }

// Kept returns the results of the hosts not written yet.
func (g *Grepable) Kept() []result.Result { return g.hosts.copyAll() }

// Continue continues a destination that holds the first comment already, keeping
// kept.
func (g *Grepable) Continue(kept []result.Result) {
	g.started = true
	for i := range kept {
		g.hosts.add(&kept[i])
	}
}

// copyAll returns every kept result, hosts in address order, each host's in port
// order.
func (h hostResults) copyAll() []result.Result {
	var all []result.Result
	ips := make([]netip.Addr, 0, len(h))
	for ip := range h {
		ips = append(ips, ip)
	}
	slices.SortFunc(ips, netip.Addr.Compare)
	for _, ip := range ips {
		all = append(all, h[ip]...)
	}
	return all
}

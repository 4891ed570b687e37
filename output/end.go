package output

import (
	"net/netip"

	"github.com/fastscan/fastscan/result"
)

// End is what the engine knows of the scan as a whole once it is over: whether it
// finished, which hosts are up, which answered SYN-ACK everywhere. Writers that
// describe the run as a whole (nmap XML, grepable), and JSON lines and ECS for
// their host notes, take it through Ender.
type End struct {
	// Interrupted is true when Ctrl-C or another signal stopped the scan before it
	// finished.
	Interrupted bool
	// Err says why the scan stopped early (the signal, or an error); "" when it
	// finished.
	Err string
	// HostsProbed counts the addresses at least one probe was sent to, and HostsUp
	// those that answered at least one probe themselves. Both are meaningful only
	// with HostUp: without it the engine did not count hosts.
	HostsProbed uint64
	HostsUp     uint64
	// HostUp tells the status of one probed address: up, and the
	// reason of its first own answer (a SYN-ACK, a reset, a UDP reply, an ICMP port
	// unreachable or another ICMP error sent by the host itself). An ICMP host or
	// network unreachable from a router does not make a host up. nil: unknown;
	// writers then count a host with an open or closed port as up, as they did
	// before End existed, and ignore HostsProbed and HostsUp.
	HostUp func(ip netip.Addr) (reason result.Reason, up bool)
	// OpenEverywhere are the hosts that answered SYN-ACK on (nearly) every TCP
	// port probed (result.IsOpenEverywhere: a SYN proxy or tarpit, most likely),
	// in ascending address order. nmap XML adds a host element with a
	// hostscript note for each, JSON lines a host-note record, ECS a host
	// document and grepable a comment line, all after the results.
	OpenEverywhere []result.OpenEverywhere
}

// Ender is implemented by writers that describe the run as a whole; the caller calls
// End once, after the last Write and before Close. A writer that is closed without
// End assumes the scan finished, and knows hosts only from their results.
type Ender interface {
	// End tells the writer how the scan ended.
	End(End)
}

// End passes e to every writer that implements Ender.
func (m multi) End(e End) {
	for _, w := range m {
		if en, ok := w.(Ender); ok {
			en.End(e)
		}
	}
}

// stopped reports whether the scan ended early, and the message that says why:
// "interrupted: <cause>" for a signal, the error otherwise.
func (e *End) stopped() (msg string, early bool) {
	switch {
	case e == nil:
		return "", false
	case e.Interrupted && e.Err != "":
		return "interrupted: " + e.Err, true
	case e.Interrupted:
		return "interrupted", true
	case e.Err != "":
		return e.Err, true
	}
	return "", false
}

// knowsHosts reports whether e carries the engine's host statuses and counts.
func (e *End) knowsHosts() bool { return e != nil && e.HostUp != nil }

// hostCounts returns the hosts up and down and their total for the run statistics.
// With the engine's host statuses, the total is every target of a finished scan, or
// the addresses probed before an interrupted one stopped; up is HostsUp. Without
// them, the total is every target and up the hosts written up (upWritten).
func (e *End) hostCounts(targets, upWritten uint64) (up, down, total uint64) {
	total, up = targets, upWritten
	if e.knowsHosts() {
		up = e.HostsUp
		if e.Interrupted || e.Err != "" {
			total = e.HostsProbed
		}
	}
	up = min(up, total)
	return up, total - up, total
}

// hostStatus is a host's status line in nmap XML and grepable output.
type hostStatus struct {
	up     bool
	reason string
	ttl    uint8
}

// statusOf is the status of the host ip, whose listed results (in port order) are
// results.
//
// With the engine's host statuses (e.HostUp), a host is up when it answered a probe
// itself, for the reason of its first own answer (reason_ttl from the listed result
// with that reason, 0 when none is listed), and down otherwise - also with a closed
// port listed, which a router's port unreachable decides. A down host's reason is the ICMP error of a router among
// its results (host or network unreachable first), or no-response.
//
// Without them (no End, or End without HostUp), as before End: the reason and TTL
// of the first open or closed port, or "user-set" (nmap's word for -Pn) for a host
// known only from filtered ports.
func (e *End) statusOf(ip netip.Addr, results []result.Result) hostStatus {
	own := -1 // first open or closed result: an answer from the host itself
	for i, r := range results {
		if r.State == result.Open || r.State == result.Closed {
			own = i
			break
		}
	}
	if !e.knowsHosts() {
		if own >= 0 {
			return hostStatus{up: true, reason: results[own].Reason.String(), ttl: results[own].TTL}
		}
		return hostStatus{up: true, reason: "user-set"}
	}
	reason, up := e.HostUp(ip)
	if up && reason != 0 {
		st := hostStatus{up: true, reason: reason.String()}
		for _, r := range results {
			if r.Reason == reason {
				st.ttl = r.TTL
				break
			}
		}
		return st
	}
	if up {
		return hostStatus{up: true, reason: "unknown"}
	}
	// Down, even with a closed port listed: a port unreachable from a router (a
	// forwarding firewall's REJECT) closes the port without the host answering.
	// Down: a router's word for it, if the results hold one.
	var router *result.Result
	for i := range results {
		switch r := &results[i]; r.Reason {
		case result.ReasonHostUnreachable, result.ReasonNetUnreachable:
			return hostStatus{reason: r.Reason.String(), ttl: r.TTL}
		case result.ReasonSYNACK, result.ReasonReset, result.ReasonNoResponse, result.ReasonUDPResponse, 0:
		default:
			if router == nil {
				router = r
			}
		}
	}
	if router != nil {
		return hostStatus{reason: router.Reason.String(), ttl: router.TTL}
	}
	return hostStatus{reason: result.ReasonNoResponse.String()}
}

// Package result defines what a scan finds: one Result per probed (address, port),
// with its State and the Reason that decided it. It is the vocabulary shared by the
// engine, which produces results, and the output writers, which format them.
package result

import "net/netip"

// Proto is the transport protocol of a probed port.
type Proto uint8

// Transport protocols.
const (
	TCP Proto = iota + 1
	UDP
)

// String returns the lower-case protocol name ("tcp", "udp").
func (p Proto) String() string {
	switch p {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	}
	return "unknown"
}

// State is the verdict for one port.
type State uint8

// Port states, as nmap defines them.
const (
	// Open: the port answered a SYN with a SYN-ACK.
	Open State = iota + 1
	// Closed: the host answered with a reset.
	Closed
	// Filtered: no answer after all retries, or an ICMP error that says something blocked it.
	Filtered
	// OpenFiltered: a UDP port that never answered; an open UDP service may well
	// ignore a probe, so silence does not tell open from filtered.
	OpenFiltered
)

// String returns "open", "closed", "filtered" or "open|filtered".
func (s State) String() string {
	switch s {
	case Open:
		return "open"
	case Closed:
		return "closed"
	case Filtered:
		return "filtered"
	case OpenFiltered:
		return "open|filtered"
	}
	return "unknown"
}

// StateSet is a set of States, as chosen by --show.
type StateSet uint8

// Has reports whether s is in the set.
func (set StateSet) Has(s State) bool { return set&(1<<s) != 0 }

// With returns the set with s added.
func (set StateSet) With(s State) StateSet { return set | 1<<s }

// Reason says what decided a State.
type Reason uint8

// Reasons, named as nmap names them in its reason output.
const (
	ReasonSYNACK Reason = iota + 1
	ReasonReset
	ReasonNoResponse
	ReasonNetUnreachable
	ReasonHostUnreachable
	ReasonProtoUnreachable
	ReasonPortUnreachable
	ReasonNetProhibited
	ReasonHostProhibited
	ReasonAdminProhibited
	// ReasonUDPResponse: the UDP port answered.
	ReasonUDPResponse
	// ReasonNoRoute: ICMPv6 destination unreachable, no route to destination.
	ReasonNoRoute
	// ReasonBeyondScope: ICMPv6 destination unreachable, beyond the scope of the
	// source address.
	ReasonBeyondScope
	// ReasonRejectRoute: ICMPv6 destination unreachable, reject route.
	ReasonRejectRoute
	// ReasonNoService: the port answered a SYN with a SYN-ACK, but with
	// service identification (-sV) no service spoke on it: the connection was
	// refused, reset or closed, or stayed silent, before the service sent a
	// byte. A SYN proxy or tarpit answers SYN-ACK for ports nothing listens on.
	ReasonNoService
)

// String returns the reason's name ("syn-ack", "reset", "no-response", "admin-prohibited", ...).
func (r Reason) String() string {
	switch r {
	case ReasonSYNACK:
		return "syn-ack"
	case ReasonReset:
		return "reset"
	case ReasonNoResponse:
		return "no-response"
	case ReasonNetUnreachable:
		return "net-unreach"
	case ReasonHostUnreachable:
		return "host-unreach"
	case ReasonProtoUnreachable:
		return "proto-unreach"
	case ReasonPortUnreachable:
		return "port-unreach"
	case ReasonNetProhibited:
		return "net-prohibited"
	case ReasonHostProhibited:
		return "host-prohibited"
	case ReasonAdminProhibited:
		return "admin-prohibited"
	case ReasonUDPResponse:
		return "udp-response"
	case ReasonNoRoute:
		return "no-route"
	case ReasonBeyondScope:
		return "beyond-scope"
	case ReasonRejectRoute:
		return "reject-route"
	case ReasonNoService:
		return "no-service"
	}
	return "unknown"
}

// ICMPUnreachableReason maps an ICMP destination-unreachable code to the Reason it
// gives a filtered port. ok is false for codes that say nothing about filtering
// (such as 4, fragmentation needed), which do not decide a port's state.
func ICMPUnreachableReason(code uint8) (r Reason, ok bool) {
	switch code {
	case 1:
		return ReasonHostUnreachable, true
	case 2:
		return ReasonProtoUnreachable, true
	case 3:
		return ReasonPortUnreachable, true
	case 9:
		return ReasonNetProhibited, true
	case 10:
		return ReasonHostProhibited, true
	case 13:
		return ReasonAdminProhibited, true
	}
	return 0, false
}

// ICMPv6UnreachableReason maps an ICMPv6 destination-unreachable code (RFC
// 4443, section 3.1) to the Reason it gives a filtered port, as nmap reads
// them: 0 no route, 1 and 5 (source address failed ingress/egress policy)
// administratively prohibited, 2 beyond the scope of the source address, 3
// address unreachable (nmap's host-unreach), 4 port unreachable, 6 reject
// route. ok is false for other codes.
func ICMPv6UnreachableReason(code uint8) (r Reason, ok bool) {
	switch code {
	case 0:
		return ReasonNoRoute, true
	case 1, 5:
		return ReasonAdminProhibited, true
	case 2:
		return ReasonBeyondScope, true
	case 3:
		return ReasonHostUnreachable, true
	case 4:
		return ReasonPortUnreachable, true
	case 6:
		return ReasonRejectRoute, true
	}
	return 0, false
}

// Result is the verdict for one probed port. It is a small value type: the engine
// passes it by value and allocates nothing per result (an IPv4 netip.Addr made by
// netip.AddrFrom4 does not allocate).
type Result struct {
	// IP is the probed address.
	IP netip.Addr
	// Port is the probed port.
	Port uint16
	// Proto is the transport protocol probed.
	Proto Proto
	// State is the verdict.
	State State
	// Reason is what decided the verdict.
	Reason Reason
	// TTL is the IPv4 TTL of the reply that decided it; 0 when there was none.
	TTL uint8
	// TimeNanos is when the deciding reply arrived (or the verdict was made), in Unix nanoseconds.
	TimeNanos int64
	// SourceIP and SourcePort are where the deciding probe came from: the scanner's
	// address and the probe's source port.
	SourceIP   netip.Addr
	SourcePort uint16
	// Service is what service identification (-sV) found on an open TCP port;
	// nil when it did not run on the port.
	Service *Service
}

// Addr returns the probed address, r.IP.
func (r *Result) Addr() netip.Addr { return r.IP }

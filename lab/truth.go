package lab

import (
	"net/netip"
	"slices"
	"time"
)

// State is what a scan from the scanner namespace must conclude about one
// (address, port) of the lab.
type State int

// The states a lab port can be in.
const (
	// StateDown: nothing lives at the address (no ARP reply on the LAN, no
	// route, or the scanner's own address).
	StateDown State = iota
	// StateOpen: a listener answers a SYN with a SYN-ACK.
	StateOpen
	// StateClosed: the host answers a SYN with a RST.
	StateClosed
	// StateFiltered: no TCP answer at all; either silence (blackhole) or an
	// ICMP destination-unreachable error from the remote router. For UDP
	// ([Truth.StateUDP]) only the ICMP error (ICMP 3/13 from the remote
	// router): silence is StateOpenFiltered there.
	StateFiltered
	// StateOpenFiltered is UDP only: no answer at all, neither a datagram nor
	// an ICMP error, so a UDP scan cannot tell an open port that ignored the
	// probe from a dropped probe (the blackholed range). [Truth.State] (TCP)
	// never returns it.
	StateOpenFiltered
)

// String returns "open", "closed", "filtered", "open|filtered" or "down".
func (s State) String() string {
	switch s {
	case StateOpen:
		return "open"
	case StateClosed:
		return "closed"
	case StateFiltered:
		return "filtered"
	case StateOpenFiltered:
		return "open|filtered"
	case StateDown:
		return "down"
	}
	return "unknown"
}

// Host is one machine on the lab's LAN.
type Host struct {
	Addr  netip.Addr // its only address, in LANPrefix
	MAC   [6]byte    // the MAC of its interface on the bridge
	Ports []uint16   // its open TCP ports, ascending; every other port is closed
	// UDPPorts are its open UDP ports (each with a lab responder bound to
	// Addr, see [UDPService]), ascending; every other UDP port is closed
	// (ICMP port unreachable).
	UDPPorts []uint16
	// ARPDelay, when not zero, is how late the host answers each ARP request:
	// its kernel answers none, a responder of the lab's answers after ARPDelay
	// (a busy or sleeping host). It is up like any other host: a scanner that
	// waits long enough for ARP finds its ports.
	ARPDelay time.Duration
}

// Truth is the exact layout of a lab and, through its methods, the ground
// truth every scan from the scanner namespace is measured against. The
// regions it describes are disjoint. State, Count and Open (TCP) and
// StateUDP, CountUDP and OpenUDP (UDP) all derive from the same fields, so
// they always agree with each other.
//
// UDP ground truth, per region ([Truth.StateUDP]):
//
//   - AnyIPPrefix and RemoteWANAddr: AnyIPUDPPorts open, every other UDP
//     port closed (the remote router answers ICMP port unreachable, 3/3);
//   - LAN hosts: their UDPPorts open, every other UDP port closed (ICMP 3/3
//     from the host);
//   - BlackholePrefix: open|filtered (no answer at all);
//   - ProhibitedPrefix: filtered (ICMP 3/13 from the remote router);
//   - everything else: down.
//
// An open UDP port has a responder ([UDPService]) that answers every
// well-formed request of its protocol from the probed address and port,
// and silently drops anything else, including an empty datagram: a scan
// only sees such a port as open when it sends the protocol's request.
type Truth struct {
	// WANPrefix is the point-to-point link between scanner and remote router.
	WANPrefix netip.Prefix
	// ScannerWANAddr is the scanner's address on its wan0 interface.
	ScannerWANAddr netip.Addr
	// ScannerWANMAC is the MAC of the scanner's wan0 interface.
	ScannerWANMAC [6]byte
	// RemoteWANAddr is the remote router's address on the WAN link; it
	// answers like the AnyIP range (AnyIPPorts open, every other port closed).
	RemoteWANAddr netip.Addr
	// RemoteWANMAC is the MAC of the remote router's wan0 interface, the
	// next hop for every address in RoutedRange.
	RemoteWANMAC [6]byte

	// LANPrefix is the bridged LAN the scanner's lan0 interface is on.
	LANPrefix netip.Prefix
	// ScannerLANAddr is the scanner's address on lan0 (StateDown: a scanner
	// skips its own address).
	ScannerLANAddr netip.Addr
	// ScannerLANMAC is the MAC of the scanner's lan0 interface.
	ScannerLANMAC [6]byte
	// Hosts are the machines on the LAN, ascending by address; every other
	// LAN address is down.
	Hosts []Host

	// RoutedRange is the whole range routed from the scanner to the remote router.
	RoutedRange netip.Prefix
	// AnyIPPrefix is the part of RoutedRange where every address is a live host.
	AnyIPPrefix netip.Prefix
	// AnyIPPorts are open on every address of AnyIPPrefix (and on
	// RemoteWANAddr), ascending; every other port there is closed unless
	// listed in AddrPorts.
	AnyIPPorts []uint16
	// AddrPorts are extra listeners bound to one address of AnyIPPrefix each.
	AddrPorts []netip.AddrPort
	// AnyIPUDPPorts are the UDP ports open on every address of AnyIPPrefix
	// (and on RemoteWANAddr), ascending: one responder per port bound to
	// 0.0.0.0 in the remote namespace answers from whichever address was
	// probed. Every other UDP port there is closed.
	AnyIPUDPPorts []uint16
	// BlackholePrefix is dropped silently by the remote router: filtered
	// (TCP), open|filtered (UDP).
	BlackholePrefix netip.Prefix
	// ProhibitedPrefix is rejected by the remote router with ICMP destination
	// unreachable, code 13 (communication administratively prohibited), for
	// every protocol: filtered (TCP and UDP).
	ProhibitedPrefix netip.Prefix
}

// LateARPDelay is how late the lab's slow LAN host (198.18.1.50) answers ARP.
const LateARPDelay = 50 * time.Millisecond

// ICMPProhibitedCode is the ICMP destination-unreachable code the remote
// router answers with for ProhibitedPrefix.
const ICMPProhibitedCode = 13

// DefaultTruth returns the layout every lab is built with. Each call returns
// fresh slices, so callers may modify the result.
func DefaultTruth() Truth {
	return Truth{
		WANPrefix:      netip.MustParsePrefix("198.18.0.0/30"),
		ScannerWANAddr: netip.MustParseAddr("198.18.0.1"),
		ScannerWANMAC:  [6]byte{0x02, 0xfa, 0x00, 0x00, 0x00, 0x01},
		RemoteWANAddr:  netip.MustParseAddr("198.18.0.2"),
		RemoteWANMAC:   [6]byte{0x02, 0xfa, 0x00, 0x00, 0x00, 0x02},

		LANPrefix:      netip.MustParsePrefix("198.18.1.0/24"),
		ScannerLANAddr: netip.MustParseAddr("198.18.1.1"),
		ScannerLANMAC:  [6]byte{0x02, 0xfa, 0x00, 0x00, 0x01, 0x01},
		Hosts: []Host{
			{Addr: netip.MustParseAddr("198.18.1.10"), MAC: [6]byte{0x02, 0xfa, 0x00, 0x00, 0x01, 0x0a}, Ports: []uint16{22, 80, 8080, 50000, 65535}, UDPPorts: []uint16{53, 123}},
			{Addr: netip.MustParseAddr("198.18.1.20"), MAC: [6]byte{0x02, 0xfa, 0x00, 0x00, 0x01, 0x14}, Ports: []uint16{443, 631, 3306}, UDPPorts: []uint16{161}},
			{Addr: netip.MustParseAddr("198.18.1.30"), MAC: [6]byte{0x02, 0xfa, 0x00, 0x00, 0x01, 0x1e}, Ports: []uint16{25, 53, 1000, 49152}},
			{Addr: netip.MustParseAddr("198.18.1.50"), MAC: [6]byte{0x02, 0xfa, 0x00, 0x00, 0x01, 0x32}, Ports: []uint16{21, 139, 445, 8443}, ARPDelay: LateARPDelay},
		},

		RoutedRange: netip.MustParsePrefix("198.19.0.0/16"),
		AnyIPPrefix: netip.MustParsePrefix("198.19.0.0/17"),
		AnyIPPorts:  []uint16{22, 80, 443},
		AddrPorts: []netip.AddrPort{
			netip.MustParseAddrPort("198.19.1.10:5432"),
			netip.MustParseAddrPort("198.19.100.200:8080"),
		},
		AnyIPUDPPorts:    []uint16{53, 123, 161},
		BlackholePrefix:  netip.MustParsePrefix("198.19.128.0/18"),
		ProhibitedPrefix: netip.MustParsePrefix("198.19.192.0/18"),
	}
}

// State returns what a TCP scan from the scanner namespace must find at
// ip:port. Addresses outside every lab region are StateDown.
func (t Truth) State(ip netip.Addr, port uint16) State {
	return t.state(ip, port, tcp)
}

// StateUDP returns what a UDP scan from the scanner namespace must find at
// ip:port: StateOpen (a responder answers its protocol's requests),
// StateClosed (ICMP port unreachable), StateFiltered (ICMP admin-prohibited
// from the remote router), StateOpenFiltered (silence: the blackholed range)
// or StateDown (nothing lives there).
func (t Truth) StateUDP(ip netip.Addr, port uint16) State {
	return t.state(ip, port, udp)
}

// proto selects the TCP or the UDP ground truth.
type proto uint8

const (
	tcp proto = iota
	udp
)

// anyIPPorts are the ports open on every AnyIP address (and the remote
// router's WAN address) for protocol p.
func (t Truth) anyIPPorts(p proto) []uint16 {
	if p == udp {
		return t.AnyIPUDPPorts
	}
	return t.AnyIPPorts
}

// addrPorts are the extra single-address listeners for protocol p.
func (t Truth) addrPorts(p proto) []netip.AddrPort {
	if p == udp {
		return nil
	}
	return t.AddrPorts
}

// hostPorts are the open ports of LAN host h for protocol p.
func hostPorts(h Host, p proto) []uint16 {
	if p == udp {
		return h.UDPPorts
	}
	return h.Ports
}

// blackholeState is what silence means for protocol p.
func blackholeState(p proto) State {
	if p == udp {
		return StateOpenFiltered
	}
	return StateFiltered
}

// state is State or StateUDP.
func (t Truth) state(ip netip.Addr, port uint16, p proto) State {
	switch {
	case !ip.Is4():
		return StateDown
	case t.AnyIPPrefix.Contains(ip):
		if slices.Contains(t.anyIPPorts(p), port) || slices.Contains(t.addrPorts(p), netip.AddrPortFrom(ip, port)) {
			return StateOpen
		}
		return StateClosed
	case t.BlackholePrefix.Contains(ip):
		return blackholeState(p)
	case t.ProhibitedPrefix.Contains(ip):
		return StateFiltered
	case ip == t.RemoteWANAddr:
		if slices.Contains(t.anyIPPorts(p), port) {
			return StateOpen
		}
		return StateClosed
	}
	if h, ok := t.Host(ip); ok {
		if slices.Contains(hostPorts(h, p), port) {
			return StateOpen
		}
		return StateClosed
	}
	return StateDown
}

// Host returns the LAN host with address ip, if there is one.
func (t Truth) Host(ip netip.Addr) (Host, bool) {
	for _, h := range t.Hosts {
		if h.Addr == ip {
			return h, true
		}
	}
	return Host{}, false
}

// Count returns how many (address, port) pairs of first..last (inclusive,
// IPv4) x ports are in each TCP state. Duplicate ports are counted once. It
// works per region, not per address, so a /16 x 65535 ports costs the same
// as one address. An empty or inverted range counts nothing.
func (t Truth) Count(first, last netip.Addr, ports []uint16) (open, closed, filtered, down uint64) {
	c := t.count(first, last, ports, tcp)
	return c[StateOpen], c[StateClosed], c[StateFiltered], c[StateDown]
}

// CountUDP is Count for UDP: how many (address, port) pairs of first..last
// (inclusive, IPv4) x ports are in each state of [Truth.StateUDP].
// Duplicate ports are counted once; an empty or inverted range counts
// nothing. The five results always add up to the number of pairs.
func (t Truth) CountUDP(first, last netip.Addr, ports []uint16) (open, closed, filtered, openFiltered, down uint64) {
	c := t.count(first, last, ports, udp)
	return c[StateOpen], c[StateClosed], c[StateFiltered], c[StateOpenFiltered], c[StateDown]
}

// count is Count or CountUDP, indexed by State.
func (t Truth) count(first, last netip.Addr, ports []uint16, p proto) (c [StateOpenFiltered + 1]uint64) {
	lo, hi, ok := span(first, last)
	if !ok {
		return c
	}
	ports = uniquePorts(ports)
	np := uint64(len(ports))
	total := (hi - lo + 1) * np

	// live counts addresses of [lo,hi] in a region where openPerAddr ports of
	// ports are open on each address and the rest closed.
	live := func(n, openPerAddr uint64) {
		c[StateOpen] += n * openPerAddr
		c[StateClosed] += n * (np - openPerAddr)
	}
	anyPorts := t.anyIPPorts(p)
	anyOpen := countIn(anyPorts, ports)

	if n := overlap(lo, hi, t.AnyIPPrefix); n > 0 {
		live(n, anyOpen)
		// Extra per-address listeners, each counted once, and only when the
		// AnyIP listeners do not already make that port open.
		addrPorts := t.addrPorts(p)
		seen := make([]netip.AddrPort, 0, len(addrPorts))
		for _, ap := range addrPorts {
			v := addrValue(ap.Addr())
			if v < lo || v > hi || !t.AnyIPPrefix.Contains(ap.Addr()) ||
				!slices.Contains(ports, ap.Port()) || slices.Contains(anyPorts, ap.Port()) ||
				slices.Contains(seen, ap) {
				continue
			}
			seen = append(seen, ap)
			c[StateOpen]++
			c[StateClosed]--
		}
	}
	c[blackholeState(p)] += overlap(lo, hi, t.BlackholePrefix) * np
	c[StateFiltered] += overlap(lo, hi, t.ProhibitedPrefix) * np
	if v := addrValue(t.RemoteWANAddr); t.RemoteWANAddr.Is4() && v >= lo && v <= hi {
		live(1, anyOpen)
	}
	for _, h := range t.Hosts {
		if v := addrValue(h.Addr); h.Addr.Is4() && v >= lo && v <= hi {
			live(1, countIn(hostPorts(h, p), ports))
		}
	}
	c[StateDown] = total - c[StateOpen] - c[StateClosed] - c[StateFiltered] - c[StateOpenFiltered]
	return c
}

// Open returns every open TCP (address, port) of first..last (inclusive) x
// ports, ascending by address then port, for exact comparison with a scan's
// results. Duplicate ports are listed once.
func (t Truth) Open(first, last netip.Addr, ports []uint16) []netip.AddrPort {
	return t.open(first, last, ports, tcp)
}

// OpenUDP is Open for UDP: every (address, port) of first..last (inclusive)
// x ports where [Truth.StateUDP] is StateOpen, ascending by address then
// port. Duplicate ports are listed once.
func (t Truth) OpenUDP(first, last netip.Addr, ports []uint16) []netip.AddrPort {
	return t.open(first, last, ports, udp)
}

// open is Open or OpenUDP.
func (t Truth) open(first, last netip.Addr, ports []uint16, p proto) []netip.AddrPort {
	lo, hi, ok := span(first, last)
	if !ok {
		return nil
	}
	ports = uniquePorts(ports)
	slices.Sort(ports)
	var out []netip.AddrPort
	add := func(ip netip.Addr) {
		for _, port := range ports {
			if t.state(ip, port, p) == StateOpen {
				out = append(out, netip.AddrPortFrom(ip, port))
			}
		}
	}
	// Only addresses that can hold an open port are visited: the AnyIP
	// prefix, the remote router and the LAN hosts.
	candidates := []netip.Addr{t.RemoteWANAddr}
	for _, h := range t.Hosts {
		candidates = append(candidates, h.Addr)
	}
	slices.SortFunc(candidates, func(a, b netip.Addr) int { return a.Compare(b) })
	anyLo, anyHi := prefixBounds(t.AnyIPPrefix)
	visitedAny := false
	visitAny := func() {
		if visitedAny {
			return
		}
		visitedAny = true
		from, to := max(lo, anyLo), min(hi, anyHi)
		for v := from; v <= to && from <= to; v++ {
			add(addrFrom(v))
		}
	}
	for _, c := range candidates {
		v := addrValue(c)
		if t.AnyIPPrefix.IsValid() && v > anyHi {
			visitAny()
		}
		if c.Is4() && v >= lo && v <= hi && !t.AnyIPPrefix.Contains(c) {
			add(c)
		}
	}
	if t.AnyIPPrefix.IsValid() {
		visitAny()
	}
	return out
}

// span converts an inclusive IPv4 range to numeric bounds.
func span(first, last netip.Addr) (lo, hi uint64, ok bool) {
	if !first.Is4() || !last.Is4() {
		return 0, 0, false
	}
	lo, hi = addrValue(first), addrValue(last)
	return lo, hi, lo <= hi
}

// addrValue is the numeric value of an IPv4 address.
func addrValue(a netip.Addr) uint64 {
	b := a.As4()
	return uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])
}

// addrFrom is the IPv4 address with numeric value v.
func addrFrom(v uint64) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// prefixBounds returns the numeric first and last address of an IPv4 prefix.
func prefixBounds(p netip.Prefix) (lo, hi uint64) {
	p = p.Masked()
	lo = addrValue(p.Addr())
	return lo, lo + (uint64(1) << (32 - p.Bits())) - 1
}

// overlap is the number of addresses of [lo,hi] inside prefix p.
func overlap(lo, hi uint64, p netip.Prefix) uint64 {
	if !p.IsValid() || !p.Addr().Is4() {
		return 0
	}
	plo, phi := prefixBounds(p)
	from, to := max(lo, plo), min(hi, phi)
	if from > to {
		return 0
	}
	return to - from + 1
}

// countIn is how many of ports (already unique) are in set.
func countIn(set, ports []uint16) uint64 {
	var n uint64
	for _, p := range ports {
		if slices.Contains(set, p) {
			n++
		}
	}
	return n
}

// uniquePorts returns a copy of ports without duplicates, in first-seen order.
func uniquePorts(ports []uint16) []uint16 {
	out := make([]uint16, 0, len(ports))
	var seen [65536 / 64]uint64
	for _, p := range ports {
		if seen[p/64]&(1<<(p%64)) != 0 {
			continue
		}
		seen[p/64] |= 1 << (p % 64)
		out = append(out, p)
	}
	return out
}

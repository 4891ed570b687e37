package lab

import (
	"encoding/binary"
	"math"
	"math/bits"
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
	Addr netip.Addr // its IPv4 address, in LANPrefix
	// Addr6 is its IPv6 address, in LANPrefix6: the same machine, with the
	// same open ports, answering neighbour solicitations (NDP) with MAC.
	Addr6 netip.Addr
	MAC   [6]byte  // the MAC of its interface on the bridge
	Ports []uint16 // its open TCP ports, ascending; every other port is closed
	// UDPPorts are its open UDP ports (each with a lab responder bound to
	// Addr and one bound to Addr6, see [UDPService]), ascending; every other
	// UDP port is closed (ICMP or ICMPv6 port unreachable).
	UDPPorts []uint16
	// ARPDelay, when not zero, is how late the host answers each ARP request:
	// its kernel answers none, a responder of the lab's answers after ARPDelay
	// (a busy or sleeping host). It is up like any other host: a scanner that
	// waits long enough for ARP finds its ports. The same for IPv6: the host
	// answers each neighbour solicitation for Addr6 ARPDelay late.
	ARPDelay time.Duration
}

// Truth is the exact layout of a lab and, through its methods, the ground
// truth every scan from the scanner namespace is measured against. The
// regions it describes are disjoint. State, Count and Open (TCP) and
// StateUDP, CountUDP and OpenUDP (UDP) all derive from the same fields, so
// they always agree with each other. Every method takes IPv4 and IPv6
// addresses alike; a range (first..last) or prefix lies in one family.
//
// UDP ground truth, per region ([Truth.StateUDP]):
//
//   - AnyIPPrefix, AnyIPPrefix6, RemoteWANAddr and RemoteWANAddr6:
//     AnyIPUDPPorts open, every other UDP port closed (the remote router
//     answers ICMP port unreachable, 3/3, from the probed address, or
//     ICMPv6 1/4 from RemoteWANAddr6: Linux sends an ICMPv6 error from the
//     probed address only when that address is assigned to an interface,
//     and AnyIP addresses are not; a scanner matches the error by the
//     packet it quotes);
//   - LAN hosts (Addr and Addr6): their UDPPorts open, every other UDP port
//     closed (ICMP 3/3 or ICMPv6 1/4 from the host);
//   - BlackholePrefix and BlackholePrefix6: open|filtered (no answer at all);
//   - ProhibitedPrefix: filtered (ICMP 3/13 from the remote router);
//   - ProhibitedPrefix6 and AddrUnreachablePrefix6: filtered (ICMPv6 1/1 and
//     1/3 from the remote router);
//   - PortUnreachablePrefix6: closed (ICMPv6 1/4 from the remote router, as
//     nmap reads a port unreachable for UDP; for TCP it is filtered);
//   - everything else: down.
//
// An open UDP port has a responder ([UDPService]) that answers every
// well-formed request of its protocol from the probed address and port,
// and silently drops anything else, including an empty datagram: a scan
// only sees such a port as open when it sends the protocol's request.
//
// IPv6 lives inside 2001:2::/48 (RFC 5180's benchmarking prefix) and
// mirrors IPv4 region for region: a point-to-point WAN link (a /127, so the
// remote router has no subnet-router anycast address on it) whose
// link-local addresses are the routing next hop, a routed range of which
// the remote router answers for a whole AnyIP /112 (65,536 addresses: `ip
// -6 route add local ... dev lo`), a blackholed /112, and three parts the
// remote router's nftables reject with ICMPv6 destination unreachable
// (codes 1, 3 and 4), and the same LAN hosts with an IPv6 address each.
// Link-local addresses are outside the ground truth (State says down).
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
	// next hop for every address in RoutedRange (and RoutedRange6).
	RemoteWANMAC [6]byte

	// LANPrefix is the bridged LAN the scanner's lan0 interface is on.
	LANPrefix netip.Prefix
	// ScannerLANAddr is the scanner's address on lan0 (StateDown: a scanner
	// skips its own address).
	ScannerLANAddr netip.Addr
	// ScannerLANMAC is the MAC of the scanner's lan0 interface.
	ScannerLANMAC [6]byte
	// Hosts are the machines on the LAN, ascending by address; every other
	// LAN address (IPv4 or IPv6) is down.
	Hosts []Host

	// RoutedRange is the whole range routed from the scanner to the remote router.
	RoutedRange netip.Prefix
	// AnyIPPrefix is the part of RoutedRange where every address is a live host.
	AnyIPPrefix netip.Prefix
	// AnyIPPorts are open on every address of AnyIPPrefix and AnyIPPrefix6
	// (and on RemoteWANAddr and RemoteWANAddr6), ascending; every other port
	// there is closed unless listed in AddrPorts or AddrPorts6.
	AnyIPPorts []uint16
	// AddrPorts are extra listeners bound to one address of AnyIPPrefix each.
	AddrPorts []netip.AddrPort
	// AnyIPUDPPorts are the UDP ports open on every address of AnyIPPrefix
	// and AnyIPPrefix6 (and on RemoteWANAddr and RemoteWANAddr6), ascending:
	// one responder per port and family, bound to the wildcard address in
	// the remote namespace, answers from whichever address was probed.
	// Every other UDP port there is closed.
	AnyIPUDPPorts []uint16
	// BlackholePrefix is dropped silently by the remote router: filtered
	// (TCP), open|filtered (UDP).
	BlackholePrefix netip.Prefix
	// ProhibitedPrefix is rejected by the remote router with ICMP destination
	// unreachable, code 13 (communication administratively prohibited), for
	// every protocol: filtered (TCP and UDP).
	ProhibitedPrefix netip.Prefix

	// WANPrefix6 is the IPv6 point-to-point link (a /127) between scanner
	// and remote router, on the same interfaces as WANPrefix.
	WANPrefix6 netip.Prefix
	// ScannerWANAddr6 is the scanner's IPv6 address on wan0 (StateDown).
	ScannerWANAddr6 netip.Addr
	// RemoteWANAddr6 is the remote router's IPv6 address on the WAN link; it
	// answers like AnyIPPrefix6.
	RemoteWANAddr6 netip.Addr
	// ScannerWANLinkLocal and RemoteWANLinkLocal are the link-local
	// addresses of the scanner's and the remote router's wan0. The scanner
	// routes RoutedRange6 via RemoteWANLinkLocal, as hosts usually route
	// IPv6 via a router's link-local address.
	ScannerWANLinkLocal, RemoteWANLinkLocal netip.Addr

	// LANPrefix6 is the bridged LAN's IPv6 prefix (the same link as LANPrefix).
	LANPrefix6 netip.Prefix
	// ScannerLANAddr6 is the scanner's IPv6 address on lan0 (StateDown).
	ScannerLANAddr6 netip.Addr

	// RoutedRange6 is the whole IPv6 range routed from the scanner to the
	// remote router (via RemoteWANLinkLocal); the five prefixes below tile it.
	RoutedRange6 netip.Prefix
	// AnyIPPrefix6 is the part of RoutedRange6 where every address is a live
	// host (65,536 addresses), with AnyIPPorts and AnyIPUDPPorts open.
	AnyIPPrefix6 netip.Prefix
	// AddrPorts6 are extra listeners bound to one address of AnyIPPrefix6 each.
	AddrPorts6 []netip.AddrPort
	// BlackholePrefix6 is dropped silently by the remote router: filtered
	// (TCP), open|filtered (UDP).
	BlackholePrefix6 netip.Prefix
	// ProhibitedPrefix6 is rejected by the remote router with ICMPv6
	// destination unreachable, code 1 (administratively prohibited):
	// filtered (TCP and UDP).
	ProhibitedPrefix6 netip.Prefix
	// AddrUnreachablePrefix6 is rejected by the remote router with ICMPv6
	// destination unreachable, code 3 (address unreachable): filtered (TCP
	// and UDP).
	AddrUnreachablePrefix6 netip.Prefix
	// PortUnreachablePrefix6 is rejected by the remote router with ICMPv6
	// destination unreachable, code 4 (port unreachable), for every
	// protocol: filtered for TCP, closed for UDP.
	PortUnreachablePrefix6 netip.Prefix
}

// LateARPDelay is how late the lab's slow LAN host (198.18.1.50,
// 2001:2:0:1::50) answers ARP and NDP.
const LateARPDelay = 50 * time.Millisecond

// ICMPProhibitedCode is the ICMP destination-unreachable code the remote
// router answers with for ProhibitedPrefix.
const ICMPProhibitedCode = 13

// ICMPv6 destination-unreachable codes (RFC 4443) the remote router answers
// with for ProhibitedPrefix6, AddrUnreachablePrefix6 and
// PortUnreachablePrefix6.
const (
	ICMPv6ProhibitedCode      = 1
	ICMPv6AddrUnreachableCode = 3
	ICMPv6PortUnreachableCode = 4
)

// DefaultTruth returns the layout every lab is built with. Each call returns
// fresh slices, so callers may modify the result.
func DefaultTruth() Truth {
	a, p, ap := netip.MustParseAddr, netip.MustParsePrefix, netip.MustParseAddrPort
	return Truth{
		WANPrefix:      p("198.18.0.0/30"),
		ScannerWANAddr: a("198.18.0.1"),
		ScannerWANMAC:  [6]byte{0x02, 0xfa, 0x00, 0x00, 0x00, 0x01},
		RemoteWANAddr:  a("198.18.0.2"),
		RemoteWANMAC:   [6]byte{0x02, 0xfa, 0x00, 0x00, 0x00, 0x02},

		LANPrefix:      p("198.18.1.0/24"),
		ScannerLANAddr: a("198.18.1.1"),
		ScannerLANMAC:  [6]byte{0x02, 0xfa, 0x00, 0x00, 0x01, 0x01},
		Hosts: []Host{
			{Addr: a("198.18.1.10"), Addr6: a("2001:2:0:1::10"), MAC: [6]byte{0x02, 0xfa, 0x00, 0x00, 0x01, 0x0a}, Ports: []uint16{22, 80, 8080, 50000, 65535}, UDPPorts: []uint16{53, 123}},
			{Addr: a("198.18.1.20"), Addr6: a("2001:2:0:1::20"), MAC: [6]byte{0x02, 0xfa, 0x00, 0x00, 0x01, 0x14}, Ports: []uint16{443, 631, 3306}, UDPPorts: []uint16{161}},
			{Addr: a("198.18.1.30"), Addr6: a("2001:2:0:1::30"), MAC: [6]byte{0x02, 0xfa, 0x00, 0x00, 0x01, 0x1e}, Ports: []uint16{25, 53, 1000, 49152}},
			{Addr: a("198.18.1.50"), Addr6: a("2001:2:0:1::50"), MAC: [6]byte{0x02, 0xfa, 0x00, 0x00, 0x01, 0x32}, Ports: []uint16{21, 139, 445, 8443}, ARPDelay: LateARPDelay},
		},

		RoutedRange: p("198.19.0.0/16"),
		AnyIPPrefix: p("198.19.0.0/17"),
		AnyIPPorts:  []uint16{22, 80, 443},
		AddrPorts: []netip.AddrPort{
			ap("198.19.1.10:5432"),
			ap("198.19.100.200:8080"),
		},
		AnyIPUDPPorts:    []uint16{53, 123, 161},
		BlackholePrefix:  p("198.19.128.0/18"),
		ProhibitedPrefix: p("198.19.192.0/18"),

		WANPrefix6:          p("2001:2::2/127"),
		ScannerWANAddr6:     a("2001:2::2"),
		RemoteWANAddr6:      a("2001:2::3"),
		ScannerWANLinkLocal: a("fe80::2"),
		RemoteWANLinkLocal:  a("fe80::3"),

		LANPrefix6:      p("2001:2:0:1::/64"),
		ScannerLANAddr6: a("2001:2:0:1::1"),

		RoutedRange6: p("2001:2:0:100::/110"),
		AnyIPPrefix6: p("2001:2:0:100::/112"),
		AddrPorts6: []netip.AddrPort{
			ap("[2001:2:0:100::10a]:5432"),
			ap("[2001:2:0:100::c8c8]:8080"),
		},
		BlackholePrefix6:       p("2001:2:0:100::1:0/112"),
		ProhibitedPrefix6:      p("2001:2:0:100::2:0/112"),
		AddrUnreachablePrefix6: p("2001:2:0:100::3:0/113"),
		PortUnreachablePrefix6: p("2001:2:0:100::3:8000/113"),
	}
}

// State returns what a TCP scan from the scanner namespace must find at
// ip:port (IPv4 or IPv6). Addresses outside every lab region are StateDown.
func (t Truth) State(ip netip.Addr, port uint16) State {
	return t.state(ip, port, tcp)
}

// StateUDP returns what a UDP scan from the scanner namespace must find at
// ip:port: StateOpen (a responder answers its protocol's requests),
// StateClosed (ICMP port unreachable), StateFiltered (ICMP admin-prohibited
// or address unreachable from the remote router), StateOpenFiltered
// (silence: the blackholed ranges) or StateDown (nothing lives there).
func (t Truth) StateUDP(ip netip.Addr, port uint16) State {
	return t.state(ip, port, udp)
}

// Unreachable returns the ICMP (IPv4) or ICMPv6 destination-unreachable code
// the remote router answers every probe to ip with, and false when it sends
// none for ip.
func (t Truth) Unreachable(ip netip.Addr) (code uint8, ok bool) {
	ip = ip.WithZone("")
	switch {
	case t.ProhibitedPrefix.Contains(ip):
		return ICMPProhibitedCode, true
	case t.ProhibitedPrefix6.Contains(ip):
		return ICMPv6ProhibitedCode, true
	case t.AddrUnreachablePrefix6.Contains(ip):
		return ICMPv6AddrUnreachableCode, true
	case t.PortUnreachablePrefix6.Contains(ip):
		return ICMPv6PortUnreachableCode, true
	}
	return 0, false
}

// proto selects the TCP or the UDP ground truth.
type proto uint8

const (
	tcp proto = iota
	udp
)

// anyIPPorts are the ports open on every AnyIP address (and the remote
// router's WAN addresses) for protocol p.
func (t Truth) anyIPPorts(p proto) []uint16 {
	if p == udp {
		return t.AnyIPUDPPorts
	}
	return t.AnyIPPorts
}

// addrPorts are the extra single-address listeners for protocol p, both
// families.
func (t Truth) addrPorts(p proto) []netip.AddrPort {
	if p == udp {
		return nil
	}
	return slices.Concat(t.AddrPorts, t.AddrPorts6)
}

// hostPorts are the open ports of LAN host h for protocol p.
func hostPorts(h Host, p proto) []uint16 {
	if p == udp {
		return h.UDPPorts
	}
	return h.Ports
}

// region is one prefix of the routed ranges: either live (AnyIP: every
// address a host) or answered the same way on every port (tcpState,
// udpState).
type region struct {
	prefix             netip.Prefix
	live               bool
	tcpState, udpState State
}

// state is what region r says for protocol p (not for live regions).
func (r region) state(p proto) State {
	if p == udp {
		return r.udpState
	}
	return r.tcpState
}

// maxRegions is the number of regions regions returns.
const maxRegions = 8

// regions lists the routed regions of both families (some may be the zero
// Prefix in a hand-made Truth: they contain nothing).
func (t Truth) regions() [maxRegions]region {
	silent := func(p netip.Prefix) region {
		return region{prefix: p, tcpState: StateFiltered, udpState: StateOpenFiltered}
	}
	filtered := func(p netip.Prefix) region {
		return region{prefix: p, tcpState: StateFiltered, udpState: StateFiltered}
	}
	return [maxRegions]region{
		{prefix: t.AnyIPPrefix, live: true},
		silent(t.BlackholePrefix),
		filtered(t.ProhibitedPrefix),
		{prefix: t.AnyIPPrefix6, live: true},
		silent(t.BlackholePrefix6),
		filtered(t.ProhibitedPrefix6),
		filtered(t.AddrUnreachablePrefix6),
		{prefix: t.PortUnreachablePrefix6, tcpState: StateFiltered, udpState: StateClosed},
	}
}

// routers are the remote router's own addresses that answer like AnyIP.
func (t Truth) routers() [2]netip.Addr { return [2]netip.Addr{t.RemoteWANAddr, t.RemoteWANAddr6} }

// state is State or StateUDP.
func (t Truth) state(ip netip.Addr, port uint16, p proto) State {
	ip = ip.WithZone("")
	if !ip.IsValid() {
		return StateDown
	}
	for _, r := range t.regions() {
		if !r.prefix.Contains(ip) {
			continue
		}
		if !r.live {
			return r.state(p)
		}
		if slices.Contains(t.anyIPPorts(p), port) || slices.Contains(t.addrPorts(p), netip.AddrPortFrom(ip, port)) {
			return StateOpen
		}
		return StateClosed
	}
	if routers := t.routers(); slices.Contains(routers[:], ip) {
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

// Host returns the LAN host with address ip (its IPv4 Addr or its IPv6
// Addr6), if there is one.
func (t Truth) Host(ip netip.Addr) (Host, bool) {
	ip = ip.WithZone("")
	for _, h := range t.Hosts {
		if ip.IsValid() && (h.Addr == ip || h.Addr6 == ip) {
			return h, true
		}
	}
	return Host{}, false
}

// Count returns how many (address, port) pairs of first..last (inclusive,
// both IPv4 or both IPv6) x ports are in each TCP state. Duplicate ports
// are counted once. It works per region, not per address, so a /16 x 65535
// ports costs the same as one address. An empty or inverted range, or an
// IPv6 range of more than 2^64-1 pairs, counts nothing.
func (t Truth) Count(first, last netip.Addr, ports []uint16) (open, closed, filtered, down uint64) {
	c := t.count(first, last, ports, tcp)
	return c[StateOpen], c[StateClosed], c[StateFiltered], c[StateDown]
}

// CountUDP is Count for UDP: how many (address, port) pairs of first..last
// (inclusive, one family) x ports are in each state of [Truth.StateUDP].
// Duplicate ports are counted once; an empty or inverted range counts
// nothing. The five results always add up to the number of pairs.
func (t Truth) CountUDP(first, last netip.Addr, ports []uint16) (open, closed, filtered, openFiltered, down uint64) {
	c := t.count(first, last, ports, udp)
	return c[StateOpen], c[StateClosed], c[StateFiltered], c[StateOpenFiltered], c[StateDown]
}

// CountPrefix is Count over every address of prefix p (IPv4 or IPv6).
func (t Truth) CountPrefix(p netip.Prefix, ports []uint16) (open, closed, filtered, down uint64) {
	first, last := PrefixBounds(p)
	return t.Count(first, last, ports)
}

// CountUDPPrefix is CountUDP over every address of prefix p (IPv4 or IPv6).
func (t Truth) CountUDPPrefix(p netip.Prefix, ports []uint16) (open, closed, filtered, openFiltered, down uint64) {
	first, last := PrefixBounds(p)
	return t.CountUDP(first, last, ports)
}

// PrefixBounds returns the first and the last address of p (IPv4 or IPv6);
// two zero Addrs for an invalid prefix.
func PrefixBounds(p netip.Prefix) (first, last netip.Addr) {
	if !p.IsValid() {
		return netip.Addr{}, netip.Addr{}
	}
	lo, hi := bounds(p)
	return lo.addr(p.Addr().Is4()), hi.addr(p.Addr().Is4())
}

// count is Count or CountUDP, indexed by State.
func (t Truth) count(first, last netip.Addr, ports []uint16, p proto) (c [StateOpenFiltered + 1]uint64) {
	lo, hi, v4, ok := span(first, last)
	if !ok {
		return c
	}
	ports = uniquePorts(ports)
	np := uint64(len(ports))
	size := hi.sub(lo)
	if size.hi != 0 || size.lo == math.MaxUint64 {
		return c // 2^64 addresses or more
	}
	carry, total := bits.Mul64(size.lo+1, np)
	if carry != 0 {
		return c
	}

	// live counts addresses of [lo,hi] in a region where openPerAddr ports of
	// ports are open on each address and the rest closed.
	live := func(n, openPerAddr uint64) {
		c[StateOpen] += n * openPerAddr
		c[StateClosed] += n * (np - openPerAddr)
	}
	anyPorts := t.anyIPPorts(p)
	anyOpen := countIn(anyPorts, ports)
	in := func(a netip.Addr) bool {
		a = a.WithZone("")
		if !a.IsValid() || a.Is4() != v4 {
			return false
		}
		v := value(a)
		return v.cmp(lo) >= 0 && v.cmp(hi) <= 0
	}

	for _, r := range t.regions() {
		n := overlap(lo, hi, v4, r.prefix)
		if n == 0 {
			continue
		}
		if !r.live {
			c[r.state(p)] += n * np
			continue
		}
		live(n, anyOpen)
		// Extra per-address listeners, each counted once, and only when the
		// AnyIP listeners do not already make that port open.
		addrPorts := t.addrPorts(p)
		seen := make([]netip.AddrPort, 0, len(addrPorts))
		for _, ap := range addrPorts {
			if !in(ap.Addr()) || !r.prefix.Contains(ap.Addr()) ||
				!slices.Contains(ports, ap.Port()) || slices.Contains(anyPorts, ap.Port()) ||
				slices.Contains(seen, ap) {
				continue
			}
			seen = append(seen, ap)
			c[StateOpen]++
			c[StateClosed]--
		}
	}
	for _, r := range t.routers() {
		if in(r) {
			live(1, anyOpen)
		}
	}
	for _, h := range t.Hosts {
		for _, a := range []netip.Addr{h.Addr, h.Addr6} {
			if in(a) {
				live(1, countIn(hostPorts(h, p), ports))
			}
		}
	}
	c[StateDown] = total - c[StateOpen] - c[StateClosed] - c[StateFiltered] - c[StateOpenFiltered]
	return c
}

// Open returns every open TCP (address, port) of first..last (inclusive,
// one family) x ports, ascending by address then port, for exact comparison
// with a scan's results. Duplicate ports are listed once.
func (t Truth) Open(first, last netip.Addr, ports []uint16) []netip.AddrPort {
	return t.open(first, last, ports, tcp)
}

// OpenUDP is Open for UDP: every (address, port) of first..last (inclusive)
// x ports where [Truth.StateUDP] is StateOpen, ascending by address then
// port. Duplicate ports are listed once.
func (t Truth) OpenUDP(first, last netip.Addr, ports []uint16) []netip.AddrPort {
	return t.open(first, last, ports, udp)
}

// OpenPrefix is Open over every address of prefix p (IPv4 or IPv6), e.g.
// the open (address, port) pairs of AnyIPPrefix6 x 1 port.
func (t Truth) OpenPrefix(p netip.Prefix, ports []uint16) []netip.AddrPort {
	first, last := PrefixBounds(p)
	return t.Open(first, last, ports)
}

// OpenUDPPrefix is OpenUDP over every address of prefix p (IPv4 or IPv6).
func (t Truth) OpenUDPPrefix(p netip.Prefix, ports []uint16) []netip.AddrPort {
	first, last := PrefixBounds(p)
	return t.OpenUDP(first, last, ports)
}

// open is Open or OpenUDP.
func (t Truth) open(first, last netip.Addr, ports []uint16, p proto) []netip.AddrPort {
	lo, hi, v4, ok := span(first, last)
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
	// Only addresses that can hold an open port are visited: the live
	// regions within [lo,hi], the remote router and the LAN hosts, in
	// ascending order (they are disjoint).
	type span struct{ from, to u128 }
	var spans []span
	for _, r := range t.regions() {
		if !r.live || overlap(lo, hi, v4, r.prefix) == 0 {
			continue
		}
		plo, phi := bounds(r.prefix)
		spans = append(spans, span{maxU(lo, plo), minU(hi, phi)})
	}
	single := func(a netip.Addr) {
		a = a.WithZone("")
		if !a.IsValid() || a.Is4() != v4 {
			return
		}
		v := value(a)
		if v.cmp(lo) < 0 || v.cmp(hi) > 0 {
			return
		}
		for _, r := range t.regions() {
			if r.live && r.prefix.Contains(a) {
				return // visited with its region
			}
		}
		spans = append(spans, span{v, v})
	}
	for _, r := range t.routers() {
		single(r)
	}
	for _, h := range t.Hosts {
		single(h.Addr)
		single(h.Addr6)
	}
	slices.SortFunc(spans, func(a, b span) int { return a.from.cmp(b.from) })
	for _, s := range spans {
		for v := s.from; ; v = v.inc() {
			add(v.addr(v4))
			if v == s.to {
				break
			}
		}
	}
	return out
}

// u128 is the numeric value of an address, IPv4 in the low 32 bits.
type u128 struct{ hi, lo uint64 }

// value is the numeric value of a (IPv4 or IPv6).
func value(a netip.Addr) u128 {
	if a.Is4() {
		b := a.As4()
		return u128{lo: uint64(binary.BigEndian.Uint32(b[:]))}
	}
	b := a.As16()
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

// addr is the address with value x, IPv4 when v4.
func (x u128) addr(v4 bool) netip.Addr {
	if v4 {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(x.lo))
		return netip.AddrFrom4(b)
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], x.hi)
	binary.BigEndian.PutUint64(b[8:], x.lo)
	return netip.AddrFrom16(b)
}

func (x u128) cmp(y u128) int {
	switch {
	case x.hi != y.hi:
		if x.hi < y.hi {
			return -1
		}
		return 1
	case x.lo < y.lo:
		return -1
	case x.lo > y.lo:
		return 1
	}
	return 0
}

// sub is x - y (x >= y).
func (x u128) sub(y u128) u128 {
	lo, borrow := bits.Sub64(x.lo, y.lo, 0)
	hi, _ := bits.Sub64(x.hi, y.hi, borrow)
	return u128{hi, lo}
}

// inc is x + 1.
func (x u128) inc() u128 {
	lo, carry := bits.Add64(x.lo, 1, 0)
	return u128{x.hi + carry, lo}
}

func maxU(a, b u128) u128 {
	if a.cmp(b) >= 0 {
		return a
	}
	return b
}

func minU(a, b u128) u128 {
	if a.cmp(b) <= 0 {
		return a
	}
	return b
}

// span converts an inclusive range of one family to numeric bounds.
func span(first, last netip.Addr) (lo, hi u128, v4, ok bool) {
	first, last = first.WithZone(""), last.WithZone("")
	if !first.IsValid() || !last.IsValid() || first.Is4() != last.Is4() {
		return lo, hi, false, false
	}
	lo, hi = value(first), value(last)
	return lo, hi, first.Is4(), lo.cmp(hi) <= 0
}

// bounds returns the numeric first and last address of a valid prefix.
func bounds(p netip.Prefix) (lo, hi u128) {
	p = p.Masked()
	lo = value(p.Addr())
	host := p.Addr().BitLen() - p.Bits() // host bits
	hi = lo
	switch {
	case host >= 128:
		hi = u128{math.MaxUint64, math.MaxUint64}
	case host > 64:
		hi.hi |= 1<<(host-64) - 1
		hi.lo = math.MaxUint64
	case host == 64:
		hi.lo = math.MaxUint64
	case host > 0:
		hi.lo |= 1<<host - 1
	}
	return lo, hi
}

// overlap is the number of addresses of [lo,hi] (of family v4 or IPv6, at
// most 2^64-1 of them) inside prefix p.
func overlap(lo, hi u128, v4 bool, p netip.Prefix) uint64 {
	if !p.IsValid() || p.Addr().Is4() != v4 {
		return 0
	}
	plo, phi := bounds(p)
	from, to := maxU(lo, plo), minU(hi, phi)
	if from.cmp(to) > 0 {
		return 0
	}
	return to.sub(from).lo + 1
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

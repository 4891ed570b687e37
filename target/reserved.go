package target

import "net/netip"

// ReservedBlock is one block of reserved address space: an entry of IANA's
// IPv4 or IPv6 Special-Purpose Address Registry, or multicast.
type ReservedBlock struct {
	// Prefix is the block.
	Prefix netip.Prefix
	// Name is the registry's name for it.
	Name string
	// RFC is the document that reserved it, e.g. "RFC 1918".
	RFC string
}

// ReservedBlocks returns the reserved blocks a scan skips by default: the IANA
// IPv4 Special-Purpose Address Registry
// (https://www.iana.org/assignments/iana-ipv4-special-registry/) plus multicast
// 224.0.0.0/4, then the IANA IPv6 Special-Purpose Address Registry
// (https://www.iana.org/assignments/iana-ipv6-special-registry/, as of
// 2025) plus multicast ff00::/8, each family in ascending order of address, a
// block before the smaller blocks inside it. This table is the only list of them; the README's table is
// rendered from it (a test checks that the two agree). Each call returns a new
// slice.
func ReservedBlocks() []ReservedBlock {
	return []ReservedBlock{
		{netip.MustParsePrefix("0.0.0.0/8"), `"This network"`, "RFC 791, section 3.2"},
		{netip.MustParsePrefix("0.0.0.0/32"), `"This host on this network"`, "RFC 1122, section 3.2.1.3"},
		{netip.MustParsePrefix("10.0.0.0/8"), "Private-Use", "RFC 1918"},
		{netip.MustParsePrefix("100.64.0.0/10"), "Shared Address Space", "RFC 6598"},
		{netip.MustParsePrefix("127.0.0.0/8"), "Loopback", "RFC 1122, section 3.2.1.3"},
		{netip.MustParsePrefix("169.254.0.0/16"), "Link Local", "RFC 3927"},
		{netip.MustParsePrefix("172.16.0.0/12"), "Private-Use", "RFC 1918"},
		{netip.MustParsePrefix("192.0.0.0/24"), "IETF Protocol Assignments", "RFC 6890, section 2.1"},
		{netip.MustParsePrefix("192.0.0.0/29"), "IPv4 Service Continuity Prefix", "RFC 7335"},
		{netip.MustParsePrefix("192.0.0.8/32"), "IPv4 dummy address", "RFC 7600"},
		{netip.MustParsePrefix("192.0.0.9/32"), "Port Control Protocol Anycast", "RFC 7723"},
		{netip.MustParsePrefix("192.0.0.10/32"), "Traversal Using Relays around NAT Anycast", "RFC 8155"},
		{netip.MustParsePrefix("192.0.0.170/32"), "NAT64/DNS64 Discovery", "RFC 8880"},
		{netip.MustParsePrefix("192.0.0.171/32"), "NAT64/DNS64 Discovery", "RFC 8880"},
		{netip.MustParsePrefix("192.0.2.0/24"), "Documentation (TEST-NET-1)", "RFC 5737"},
		{netip.MustParsePrefix("192.31.196.0/24"), "AS112-v4", "RFC 7535"},
		{netip.MustParsePrefix("192.52.193.0/24"), "AMT", "RFC 7450"},
		{netip.MustParsePrefix("192.88.99.0/24"), "Deprecated (6to4 Relay Anycast)", "RFC 7526"},
		{netip.MustParsePrefix("192.168.0.0/16"), "Private-Use", "RFC 1918"},
		{netip.MustParsePrefix("192.175.48.0/24"), "Direct Delegation AS112 Service", "RFC 7534"},
		{netip.MustParsePrefix("198.18.0.0/15"), "Benchmarking", "RFC 2544"},
		{netip.MustParsePrefix("198.51.100.0/24"), "Documentation (TEST-NET-2)", "RFC 5737"},
		{netip.MustParsePrefix("203.0.113.0/24"), "Documentation (TEST-NET-3)", "RFC 5737"},
		{netip.MustParsePrefix("224.0.0.0/4"), "Multicast", "RFC 5771"},
		{netip.MustParsePrefix("240.0.0.0/4"), "Reserved", "RFC 1112, section 4"},
		{netip.MustParsePrefix("255.255.255.255/32"), "Limited Broadcast", "RFC 8190; RFC 919, section 7"},
		{netip.MustParsePrefix("::/128"), "Unspecified Address", "RFC 4291"},
		{netip.MustParsePrefix("::1/128"), "Loopback Address", "RFC 4291"},
		{netip.MustParsePrefix("::ffff:0:0/96"), "IPv4-mapped Address", "RFC 4291"},
		{netip.MustParsePrefix("64:ff9b::/96"), "IPv4-IPv6 Translation", "RFC 6052"},
		{netip.MustParsePrefix("64:ff9b:1::/48"), "IPv4-IPv6 Translation", "RFC 8215"},
		{netip.MustParsePrefix("100::/64"), "Discard-Only Address Block", "RFC 6666"},
		{netip.MustParsePrefix("100:0:0:1::/64"), "Dummy IPv6 Prefix", "RFC 9780"},
		{netip.MustParsePrefix("2001::/23"), "IETF Protocol Assignments", "RFC 2928"},
		{netip.MustParsePrefix("2001::/32"), "TEREDO", "RFC 4380; RFC 8190"},
		{netip.MustParsePrefix("2001:1::1/128"), "Port Control Protocol Anycast", "RFC 7723"},
		{netip.MustParsePrefix("2001:1::2/128"), "Traversal Using Relays around NAT Anycast", "RFC 8155"},
		{netip.MustParsePrefix("2001:1::3/128"), "DNS-SD Service Registration Protocol Anycast", "RFC 9665"},
		{netip.MustParsePrefix("2001:2::/48"), "Benchmarking", "RFC 5180"},
		{netip.MustParsePrefix("2001:3::/32"), "AMT", "RFC 7450"},
		{netip.MustParsePrefix("2001:4:112::/48"), "AS112-v6", "RFC 7535"},
		{netip.MustParsePrefix("2001:10::/28"), "Deprecated (previously ORCHID)", "RFC 4843"},
		{netip.MustParsePrefix("2001:20::/28"), "ORCHIDv2", "RFC 7343"},
		{netip.MustParsePrefix("2001:30::/28"), "Drone Remote ID Protocol Entity Tags (DETs) Prefix", "RFC 9374"},
		{netip.MustParsePrefix("2001:db8::/32"), "Documentation", "RFC 3849"},
		{netip.MustParsePrefix("2002::/16"), "6to4", "RFC 3056"},
		{netip.MustParsePrefix("2620:4f:8000::/48"), "Direct Delegation AS112 Service", "RFC 7534"},
		{netip.MustParsePrefix("3fff::/20"), "Documentation", "RFC 9637"},
		{netip.MustParsePrefix("5f00::/16"), "Segment Routing (SRv6) SIDs", "RFC 9602"},
		{netip.MustParsePrefix("fc00::/7"), "Unique-Local", "RFC 4193; RFC 8190"},
		{netip.MustParsePrefix("fe80::/10"), "Link-Local Unicast", "RFC 4291"},
		{netip.MustParsePrefix("ff00::/8"), "Multicast", "RFC 4291"},
	}
}

// reservedSpans returns the addresses of all blocks.
func reservedSpans(blocks []ReservedBlock) spans {
	var all spans
	for _, b := range blocks {
		p := prefixSpans(b.Prefix)
		all.v4 = append(all.v4, p.v4...)
		all.v6 = append(all.v6, p.v6...)
	}
	return all
}

// insideAny reports whether r lies wholly inside one of blocks: a target the
// user named within reserved space on purpose.
func insideAny(r span, blocks []span) bool {
	for _, b := range blocks {
		if b.first <= r.first && r.last <= b.last {
			return true
		}
	}
	return false
}

// insideAny6 is insideAny for IPv6.
func insideAny6(r span6, blocks []span6) bool {
	for _, b := range blocks {
		if !r.first.less(b.first) && !b.last.less(r.last) {
			return true
		}
	}
	return false
}

package target

import "net/netip"

// ReservedBlock is one block of reserved IPv4 address space: an entry of IANA's
// IPv4 Special-Purpose Address Registry, or multicast.
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
// 224.0.0.0/4, in ascending order of address, a block before the smaller blocks
// inside it. This table is the only list of them; the README's table is
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
	}
}

// reservedSpans returns the spans of blocks, in the same order.
func reservedSpans(blocks []ReservedBlock) []span {
	spans := make([]span, len(blocks))
	for k, b := range blocks {
		spans[k], _ = prefixSpan(b.Prefix)
	}
	return spans
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

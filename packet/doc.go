// Package packet provides typed, zero-copy views over the bytes of Ethernet,
// ARP, IPv4, IPv6, TCP, UDP, ICMPv4 and ICMPv6 headers, Internet checksums
// (full, RFC 1071, incremental, RFC 1624, and the IPv4 and IPv6
// pseudo-headers), the SYN and UDP probe templates of both families and the
// reply parser used by the scanner's hot paths.
//
// A view such as [IPv4] is a byte slice that starts at the first byte of the
// header it describes. Accessors read fields at fixed offsets; they do not
// check the slice length, so callers validate lengths once (for example with
// [IPv4.IsValid]) before reading fields. Setters write in place.
//
// IPv4 addresses are uint32 values in host order holding the numeric value of
// the address (198.19.0.1 is 0xC6130001); IPv6 addresses are [16]byte in
// views and replies and [net/netip.Addr] in the templates' parameters; MAC
// addresses are [6]byte.
package packet

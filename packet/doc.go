// Package packet provides typed, zero-copy views over the bytes of Ethernet,
// ARP, IPv4, TCP and ICMPv4 headers, Internet checksums (full, RFC 1071, and
// incremental, RFC 1624), the SYN probe template and the reply parser used by
// the scanner's hot paths.
//
// A view such as [IPv4] is a byte slice that starts at the first byte of the
// header it describes. Accessors read fields at fixed offsets; they do not
// check the slice length, so callers validate lengths once (for example with
// [IPv4.IsValid]) before reading fields. Setters write in place.
//
// IPv4 addresses are uint32 values in host order holding the numeric value of
// the address (198.19.0.1 is 0xC6130001); MAC addresses are [6]byte.
package packet

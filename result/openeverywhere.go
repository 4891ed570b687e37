package result

import "net/netip"

// The open-everywhere heuristic: a host that answers SYN-ACK on (nearly) every TCP
// port probed is most likely behind a SYN proxy (a firewall that completes the
// handshake itself, such as the Linux kernel's synproxy target) or a tarpit, not a
// host with that many services: its open ports say nothing until a connection to
// them shows a service (-sV).
const (
	// OpenEverywhereMinPorts is the fewest TCP ports with a verdict that a host
	// must have for the heuristic to judge it: with fewer, a host with every
	// probed port open is as likely a real one.
	OpenEverywhereMinPorts = 16
	// OpenEverywherePercent is the share, in percent, of a host's TCP ports with a
	// verdict that must have answered SYN-ACK for the host to be flagged. Below
	// 100, so that a few SYN-ACKs lost (or a port the proxy resets) do not hide it.
	OpenEverywherePercent = 90
)

// OpenEverywhere is a host the heuristic flagged: it answered SYN-ACK on SYNACKs of
// the Probed TCP ports that got a verdict (a reply, or silence after the last
// retry of a finished scan).
type OpenEverywhere struct {
	Addr    netip.Addr
	SYNACKs int
	Probed  int
}

// IsOpenEverywhere reports whether a host that answered SYN-ACK on synacks of its
// probed TCP ports with a verdict is flagged: at least OpenEverywherePercent of at
// least OpenEverywhereMinPorts ports.
func IsOpenEverywhere(synacks, probed int) bool {
	return probed >= OpenEverywhereMinPorts && synacks <= probed && synacks*100 >= probed*OpenEverywherePercent
}

// MinOpenEverywhereSYNACKs is the fewest SYN-ACKs of a host the heuristic can
// flag: OpenEverywherePercent of OpenEverywhereMinPorts, rounded up.
const MinOpenEverywhereSYNACKs = (OpenEverywhereMinPorts*OpenEverywherePercent + 99) / 100

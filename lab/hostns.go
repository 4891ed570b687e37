package lab

import (
	"context"
	"errors"
	"net/netip"
	"os/exec"
	"strings"

	"github.com/fastscan/fastscan/netns"
)

// The hosts a lab adds after Up (the real servers' host, the SYN proxy host,
// the AnyIP nginx's namespace) each get a namespace of their own, linked to
// one of the lab's namespaces by a veth pair whose host end is HostIface.

// hostLink describes how addHostNS links a host's namespace into the lab.
type hostLink struct {
	// peer is the name of the veth pair's other end, in peerNS.
	peer, peerNS string
	// bridge, when set, is the bridge in peerNS that peer joins.
	bridge string
	// peerAddr, when valid, is peer's address.
	peerAddr netip.Prefix
	// addr is the host's IPv4 address on HostIface; addr6, when valid, its
	// IPv6 address (without DAD). Without addr6 the host has no IPv6 at all.
	addr, addr6 netip.Prefix
}

// hostNS is a host's namespace made by addHostNS.
type hostNS struct {
	name string
}

// addHostNS creates the namespace name (recorded for Down), sets it up as
// the lab's other hosts are (ipv6Sysctls: IPv6 without DAD, router
// solicitations or link-local addresses of its own when link.addr6 is valid,
// none at all otherwise), brings its loopback up and links it: the veth pair
// HostIface - link.peer, the peer's end set up first (its address, its
// bridge), then the host's addresses and HostIface up. On error it deletes
// what it made, except a namespace of that name that it could not add.
func (l *Lab) addHostNS(ctx context.Context, name string, link hostLink) (*hostNS, error) {
	if err := runIP(ctx, "netns", "add", name); err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.made = append(l.made, name)
	l.mu.Unlock()
	h := &hostNS{name: name}
	if err := h.setUp(ctx, link); err != nil {
		return nil, errors.Join(err, h.remove(ctx))
	}
	return h, nil
}

// setUp sets the sysctls of the new namespace and creates its link.
func (h *hostNS) setUp(ctx context.Context, link hostLink) error {
	dual := link.addr6.IsValid()
	if err := h.do(func() error { return ipv6Sysctls(!dual) }); err != nil {
		return err
	}
	cmds := [][]string{
		{"-n", h.name, "link", "set", "lo", "up"},
		{"link", "add", HostIface, "netns", h.name, "type", "veth", "peer", "name", link.peer, "netns", link.peerNS},
	}
	if link.peerAddr.IsValid() {
		cmds = append(cmds, []string{"-n", link.peerNS, "addr", "add", link.peerAddr.String(), "dev", link.peer})
	}
	up := []string{"-n", link.peerNS, "link", "set", link.peer}
	if link.bridge != "" {
		up = append(up, "master", link.bridge)
	}
	cmds = append(cmds, append(up, "up"),
		[]string{"-n", h.name, "addr", "add", link.addr.String(), "dev", HostIface})
	if dual {
		cmds = append(cmds, []string{"-n", h.name, "-6", "addr", "add", link.addr6.String(), "dev", HostIface, "nodad"})
	}
	return runIPs(ctx, append(cmds, []string{"-n", h.name, "link", "set", HostIface, "up"}))
}

// lanLink is the link of the LAN host in namespace ns at addr (and addr6,
// when valid): a port of the switch's bridge.
func (l *Lab) lanLink(ns string, addr, addr6 netip.Addr) hostLink {
	link := hostLink{peer: l.lanPort(ns), peerNS: l.SwitchNS(), bridge: "br0",
		addr: netip.PrefixFrom(addr, l.truth.LANPrefix.Bits())}
	if addr6.IsValid() {
		link.addr6 = netip.PrefixFrom(addr6, l.truth.LANPrefix6.Bits())
	}
	return link
}

// lanPort is the name of the bridge's end of the veth pair of the LAN host
// in namespace ns ("h" and the host's number), in the switch namespace.
func (l *Lab) lanPort(ns string) string {
	return "h" + strings.TrimPrefix(ns, l.id+"-h")
}

// do runs fn on a dedicated OS thread inside the host's namespace.
func (h *hostNS) do(fn func() error) error { return netns.Do(h.name, fn) }

// command returns the command that runs name with args in the host's
// namespace (via `ip netns exec`).
func (h *hostNS) command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", h.name, name}, args...)...)
}

// run runs name with args and optional standard input in the host's
// namespace, as runTool does.
func (h *hostNS) run(ctx context.Context, stdin []byte, name string, args ...string) error {
	return runTool(ctx, stdin, "ip", append([]string{"netns", "exec", h.name, name}, args...)...)
}

// remove deletes the host's veth pair, then its namespace. The pair goes
// first, and synchronously: the kernel tears a deleted namespace's links down
// later, in the background, and until then the peer's end keeps its name (a
// start right after a stop failed with "File exists").
func (h *hostNS) remove(ctx context.Context) error {
	runIP(ctx, "-n", h.name, "link", "del", HostIface) // absent when never linked
	return deleteNamespace(ctx, h.name)
}

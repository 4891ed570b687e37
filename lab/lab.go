// Package lab builds fastscan's own isolated test network out of Linux
// network namespaces, veth pairs and a bridge, and knows its exact ground
// truth.
//
// Topology (every name starts with a per-lab id such as "fsl3fa9c1"):
//
//	scanner S ── wan0 198.18.0.1/30 ──── wan0 198.18.0.2/30 ── remote R
//	     │        route 198.19.0.0/16 via 198.18.0.2            198.19.0.0/17   AnyIP (local route on lo)
//	     │                                                     198.19.128.0/18 blackhole: silence
//	     │                                                     198.19.192.0/18 nftables reject: ICMP 3/13
//	     └─ lan0 198.18.1.1/24 ── switch W (br0) ── H1 198.18.1.10, H2 .20, H3 .30, H4 .50
//	                                                 (H4 answers ARP 50 ms late)
//
// and the same links carry IPv6, inside 2001:2::/48 (RFC 5180):
//
//	S wan0 2001:2::2/127, fe80::2 ──── R wan0 2001:2::3/127, fe80::3
//	     │  route 2001:2:0:100::/110 via fe80::3         2001:2:0:100::/112     AnyIP (65,536 addresses)
//	     │                                               2001:2:0:100::1:0/112  blackhole: silence
//	     │                                               2001:2:0:100::2:0/112  nftables reject: ICMPv6 1/1
//	     │                                               2001:2:0:100::3:0/113  nftables reject: ICMPv6 1/3
//	     │                                               2001:2:0:100::3:8000/113 nftables reject: ICMPv6 1/4
//	     └─ lan0 2001:2:0:1::1/64 ── W ── H1 2001:2:0:1::10, H2 ::20, H3 ::30, H4 ::50
//	                                       (NDP with their own MACs; H4 answers NDP 50 ms late)
//
// Every IPv6 address is added without duplicate address detection (nodad,
// accept_dad=0), so it is usable at once; no namespace sends router
// solicitations or accepts router advertisements, and the bridge does not
// snoop multicast (neighbour solicitations reach every host). The switch W
// has no IPv6 of its own.
//
// Nothing is connected to the host's own namespace and no namespace has a
// default route, so no packet can leave the lab. Listening sockets are
// created in-process inside the namespaces (see [Lab.Do]) and live until
// [Lab.Down]. [Truth] describes what every (address, port) must look like to
// a scan from the scanner namespace.
//
// TCP: ports 22, 80 and 443 are open on every AnyIP address (IPv4 and
// IPv6), a few more on single addresses, each LAN host has its own open
// ports (the same on its IPv4 and its IPv6 address), every other port of a
// live host is closed (RST); the blackholed and rejected ranges are
// filtered. IPv6 listeners are separate sockets (IPV6_V6ONLY) beside the
// IPv4 ones.
//
// UDP: in-process responders written for the lab (see [UDPService]) answer
// DNS on 53, NTP on 123 and SNMP v1/v2c on 161. In R one socket per port is
// bound to 0.0.0.0, so every AnyIP address (and R's own WAN address) has
// the three ports open; each reply leaves from the probed address
// (IP_PKTINFO). LAN host H1 has UDP 53 and 123 open, H2 161 and H3 none,
// bound to the host's address; the same again for IPv6 (sockets bound to ::
// in R, to Addr6 on the hosts). Every other UDP port of a live host is
// closed: its kernel answers ICMP port unreachable, with the ICMP rate
// limits lifted in R and on the hosts so that every probe gets one. The
// blackholed range is open|filtered for UDP (silence) and the prohibited
// range filtered (ICMP admin-prohibited, as for TCP). A responder answers
// only well-formed requests of its protocol; anything else, an empty
// datagram included, gets no answer. [Truth.StateUDP], [Truth.CountUDP] and
// [Truth.OpenUDP] give the UDP ground truth.
package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fastscan/fastscan/netns"
)

// Interface names inside the lab's namespaces.
const (
	// ScannerWANIface is the scanner's interface towards the remote router.
	ScannerWANIface = "wan0"
	// ScannerLANIface is the scanner's interface on the bridged LAN.
	ScannerLANIface = "lan0"
	// RemoteWANIface is the remote router's interface towards the scanner.
	RemoteWANIface = "wan0"
	// HostIface is each LAN host's interface on the bridge.
	HostIface = "eth0"
)

// listenBacklog is the accept backlog of every lab listener (capped by
// net.core.somaxconn, which the lab raises to the same value).
const listenBacklog = 65535

// downTimeout bounds the teardown of a lab.
const downTimeout = 30 * time.Second

// Lab is one running instance of the test network. Its methods are safe for
// concurrent use.
type Lab struct {
	id    string
	truth Truth

	mu        sync.Mutex
	made      []string       // namespaces created so far, in creation order
	listeners []int          // listening socket descriptors
	udp       []*net.UDPConn // UDP responder sockets
	down      bool

	stopARP chan struct{}  // closed by Down: the late ARP responders return
	serving sync.WaitGroup // the goroutines serving the UDP and late ARP responders
}

// upOptions are knobs for tests of the lab itself.
type upOptions struct {
	id     string // the lab id; random when empty
	failAt string // name of a build step after which Up fails on purpose
}

// errInjected is returned by Up when upOptions.failAt asks it to fail.
var errInjected = errors.New("lab: injected failure")

// Up builds a new lab: namespaces, links, addresses, routes, sysctls, the
// firewall rule and the listeners. On any error it tears down whatever it
// had built and returns the error. It needs root, iproute2's ip and nft.
func Up(ctx context.Context) (*Lab, error) {
	return up(ctx, upOptions{})
}

// up is Up with test knobs.
func up(ctx context.Context, opts upOptions) (*Lab, error) {
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("lab: %s not found (run scripts/install-deps.sh): %w", tool, err)
		}
	}
	id := opts.id
	if id == "" {
		var err error
		if id, err = newLabID(); err != nil {
			return nil, err
		}
	}
	l := &Lab{id: id, truth: DefaultTruth()}
	for _, s := range l.steps() {
		err := ctx.Err()
		if err == nil {
			err = s.run(ctx)
		}
		if err == nil && s.name == opts.failAt {
			err = errInjected
		}
		if err != nil {
			err = fmt.Errorf("lab: up, step %s: %w", s.name, err)
			if derr := l.Down(); derr != nil {
				err = errors.Join(err, fmt.Errorf("lab: cleanup after failed up: %w", derr))
			}
			return nil, err
		}
	}
	return l, nil
}

// buildStep is one named step of Up.
type buildStep struct {
	name string
	run  func(context.Context) error
}

// steps returns Up's build steps in order.
func (l *Lab) steps() []buildStep {
	return []buildStep{
		{"namespaces", l.addNamespaces},
		{"links", l.addLinks},
		{"addresses", l.addAddresses},
		{"routes", l.addRoutes},
		{"sysctls", l.setSysctls},
		{"firewall", l.addFirewall},
		{"listeners", l.startListeners},
		{"responders", l.startResponders},
		{"late-arp", l.startLateARP},
	}
}

// ID returns the lab's unique name prefix, e.g. "fsl3fa9c1".
func (l *Lab) ID() string { return l.id }

// ScannerNS returns the name of the scanner namespace S.
func (l *Lab) ScannerNS() string { return l.id + "-s" }

// RemoteNS returns the name of the remote router namespace R.
func (l *Lab) RemoteNS() string { return l.id + "-r" }

// SwitchNS returns the name of the namespace W holding the LAN bridge.
func (l *Lab) SwitchNS() string { return l.id + "-w" }

// HostNS returns the name of the namespace of LAN host i (0-based index
// into Truth().Hosts).
func (l *Lab) HostNS(i int) string { return l.id + "-h" + strconv.Itoa(i+1) }

// Namespaces returns the names of all of the lab's namespaces.
func (l *Lab) Namespaces() []string {
	names := []string{l.ScannerNS(), l.RemoteNS(), l.SwitchNS()}
	for i := range l.truth.Hosts {
		names = append(names, l.HostNS(i))
	}
	return names
}

// Truth returns the lab's ground truth (a copy the caller may modify).
func (l *Lab) Truth() Truth {
	return DefaultTruth()
}

// Command returns a command that runs name with args inside the scanner
// namespace (via `ip netns exec`).
func (l *Lab) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", l.ScannerNS(), name}, args...)...)
}

// Do runs fn on a dedicated OS thread inside namespace ns (one of
// Namespaces()) and returns fn's error; see [netns.Do].
func (l *Lab) Do(ns string, fn func() error) error { return netns.Do(ns, fn) }

// Down closes the listeners and the UDP responders, waits for the
// goroutines serving the responders to return, and deletes the lab's namespaces. It is
// idempotent: calls after the first return nil.
func (l *Lab) Down() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.down {
		return nil
	}
	l.down = true
	var errs []error
	for _, fd := range l.listeners {
		if err := unix.Close(fd); err != nil {
			errs = append(errs, fmt.Errorf("lab: close listener: %w", err))
		}
	}
	l.listeners = nil
	for _, c := range l.udp {
		if err := c.Close(); err != nil {
			errs = append(errs, fmt.Errorf("lab: close UDP responder: %w", err))
		}
	}
	l.udp = nil
	if l.stopARP != nil {
		close(l.stopARP)
	}
	l.serving.Wait() // every serving goroutine returns once its socket is closed
	ctx, cancel := context.WithTimeout(context.Background(), downTimeout)
	defer cancel()
	for i := len(l.made) - 1; i >= 0; i-- {
		if err := deleteNamespace(ctx, l.made[i]); err != nil {
			errs = append(errs, err)
		}
	}
	l.made = nil
	return errors.Join(errs...)
}

// addNamespaces creates the empty namespaces and brings their loopback up.
func (l *Lab) addNamespaces(ctx context.Context) error {
	for _, ns := range l.Namespaces() {
		if err := runIP(ctx, "netns", "add", ns); err != nil {
			return err
		}
		l.mu.Lock()
		l.made = append(l.made, ns)
		l.mu.Unlock()
		if err := l.Do(ns, func() error { return ipv6Sysctls(ns == l.SwitchNS()) }); err != nil {
			return err
		}
		if err := runIP(ctx, "-n", ns, "link", "set", "lo", "up"); err != nil {
			return err
		}
	}
	return nil
}

// ipv6Sysctls sets up IPv6 in the current thread's namespace before it has
// any link: none at all in the switch (off), elsewhere addresses usable at
// once (no duplicate address detection), no automatic link-local addresses
// (the lab assigns its own), no router solicitations and no router
// advertisements accepted.
func ipv6Sysctls(off bool) error {
	kvs := [][2]string{
		{"net.ipv6.conf.all.disable_ipv6", "0"},
		{"net.ipv6.conf.default.disable_ipv6", "0"},
		{"net.ipv6.conf.all.accept_dad", "0"},
		{"net.ipv6.conf.default.accept_dad", "0"},
		{"net.ipv6.conf.default.dad_transmits", "0"},
		{"net.ipv6.conf.default.addr_gen_mode", "1"},
		{"net.ipv6.conf.all.accept_ra", "0"},
		{"net.ipv6.conf.default.accept_ra", "0"},
		{"net.ipv6.conf.all.router_solicitations", "0"},
		{"net.ipv6.conf.default.router_solicitations", "0"},
	}
	if off {
		kvs = [][2]string{{"net.ipv6.conf.all.disable_ipv6", "1"}, {"net.ipv6.conf.default.disable_ipv6", "1"}}
	}
	for _, kv := range kvs {
		if err := writeSysctl(kv[0], kv[1]); err != nil {
			if off && errors.Is(err, unix.ENOENT) {
				continue // a kernel without IPv6: nothing to switch off
			}
			return err
		}
	}
	return nil
}

// addLinks creates the veth pairs directly inside their namespaces, the
// bridge, and brings everything up.
func (l *Lab) addLinks(ctx context.Context) error {
	t := l.truth
	s, r, w := l.ScannerNS(), l.RemoteNS(), l.SwitchNS()
	cmds := [][]string{
		{"link", "add", ScannerWANIface, "netns", s, "address", mac(t.ScannerWANMAC), "type", "veth",
			"peer", "name", RemoteWANIface, "netns", r, "address", mac(t.RemoteWANMAC)},
		// A veth pair inside R is the (dead-end) route for ProhibitedPrefix,
		// so that its packets reach the forward hook where nftables rejects them.
		{"-n", r, "link", "add", "rej0", "type", "veth", "peer", "name", "rej1"},
		{"-n", w, "link", "add", "br0", "type", "bridge", "stp_state", "0", "forward_delay", "0", "mcast_snooping", "0"},
		{"link", "add", ScannerLANIface, "netns", s, "address", mac(t.ScannerLANMAC), "type", "veth",
			"peer", "name", "s0", "netns", w},
	}
	for i, h := range t.Hosts {
		port := "h" + strconv.Itoa(i+1)
		cmds = append(cmds, []string{"link", "add", HostIface, "netns", l.HostNS(i), "address", mac(h.MAC), "type", "veth",
			"peer", "name", port, "netns", w})
	}
	cmds = append(cmds,
		[]string{"-n", w, "link", "set", "br0", "up"},
		[]string{"-n", w, "link", "set", "s0", "master", "br0", "up"},
		[]string{"-n", s, "link", "set", ScannerWANIface, "up"},
		[]string{"-n", s, "link", "set", ScannerLANIface, "up"},
		[]string{"-n", r, "link", "set", RemoteWANIface, "up"},
		[]string{"-n", r, "link", "set", "rej0", "up"},
		[]string{"-n", r, "link", "set", "rej1", "up"},
	)
	for i := range t.Hosts {
		cmds = append(cmds,
			[]string{"-n", w, "link", "set", "h" + strconv.Itoa(i+1), "master", "br0", "up"},
			[]string{"-n", l.HostNS(i), "link", "set", HostIface, "up"})
	}
	return runIPs(ctx, cmds)
}

// addAddresses assigns the lab's IPv4 and IPv6 addresses (IPv6 without
// duplicate address detection: usable at once).
func (l *Lab) addAddresses(ctx context.Context) error {
	t := l.truth
	wanBits := strconv.Itoa(t.WANPrefix.Bits())
	lanBits := strconv.Itoa(t.LANPrefix.Bits())
	cmds := [][]string{
		{"-n", l.ScannerNS(), "addr", "add", t.ScannerWANAddr.String() + "/" + wanBits, "dev", ScannerWANIface},
		{"-n", l.RemoteNS(), "addr", "add", t.RemoteWANAddr.String() + "/" + wanBits, "dev", RemoteWANIface},
		{"-n", l.ScannerNS(), "addr", "add", t.ScannerLANAddr.String() + "/" + lanBits, "dev", ScannerLANIface},
	}
	for i, h := range t.Hosts {
		cmds = append(cmds, []string{"-n", l.HostNS(i), "addr", "add", h.Addr.String() + "/" + lanBits, "dev", HostIface})
	}
	v6 := func(ns string, a netip.Addr, bits int, dev string) []string {
		return []string{"-n", ns, "-6", "addr", "add", netip.PrefixFrom(a, bits).String(), "dev", dev, "nodad"}
	}
	wan6, lan6 := t.WANPrefix6.Bits(), t.LANPrefix6.Bits()
	cmds = append(cmds,
		v6(l.ScannerNS(), t.ScannerWANAddr6, wan6, ScannerWANIface),
		v6(l.ScannerNS(), t.ScannerWANLinkLocal, 64, ScannerWANIface),
		v6(l.RemoteNS(), t.RemoteWANAddr6, wan6, RemoteWANIface),
		v6(l.RemoteNS(), t.RemoteWANLinkLocal, 64, RemoteWANIface),
		v6(l.ScannerNS(), t.ScannerLANAddr6, lan6, ScannerLANIface),
	)
	for i, h := range t.Hosts {
		cmds = append(cmds, v6(l.HostNS(i), h.Addr6, lan6, HostIface))
	}
	return runIPs(ctx, cmds)
}

// addRoutes routes RoutedRange from S to R, and in R makes AnyIPPrefix
// local, BlackholePrefix a blackhole and ProhibitedPrefix a dead end; the
// same for IPv6: RoutedRange6 via R's link-local address, AnyIPPrefix6
// local, BlackholePrefix6 a blackhole, and the three rejected prefixes a
// dead end.
func (l *Lab) addRoutes(ctx context.Context) error {
	t := l.truth
	s, r := l.ScannerNS(), l.RemoteNS()
	return runIPs(ctx, [][]string{
		{"-n", s, "route", "add", t.RoutedRange.String(), "via", t.RemoteWANAddr.String(), "dev", ScannerWANIface},
		{"-n", r, "route", "add", "local", t.AnyIPPrefix.String(), "dev", "lo"},
		{"-n", r, "route", "add", "blackhole", t.BlackholePrefix.String()},
		{"-n", r, "route", "add", t.ProhibitedPrefix.String(), "dev", "rej0"},
		{"-n", s, "-6", "route", "add", t.RoutedRange6.String(), "via", t.RemoteWANLinkLocal.String(), "dev", ScannerWANIface},
		{"-n", r, "-6", "route", "add", "local", t.AnyIPPrefix6.String(), "dev", "lo"},
		{"-n", r, "-6", "route", "add", "blackhole", t.BlackholePrefix6.String()},
		{"-n", r, "-6", "route", "add", t.ProhibitedPrefix6.String(), "dev", "rej0"},
		{"-n", r, "-6", "route", "add", t.AddrUnreachablePrefix6.String(), "dev", "rej0"},
		{"-n", r, "-6", "route", "add", t.PortUnreachablePrefix6.String(), "dev", "rej0"},
	})
}

// setSysctls tunes the kernels that answer probes so they answer every SYN
// and every UDP probe at full speed: stateless SYN cookies, big backlogs, no
// ICMP rate limits (neither per destination nor global) in R and on the LAN
// hosts, so that every probe of a closed UDP port gets its ICMP port
// unreachable.
func (l *Lab) setSysctls(ctx context.Context) error {
	answering := map[string]string{
		"net.ipv4.tcp_syncookies":      "2", // always cookies: no per-SYN state
		"net.core.somaxconn":           strconv.Itoa(listenBacklog),
		"net.ipv4.tcp_max_syn_backlog": strconv.Itoa(listenBacklog),
		"net.ipv4.icmp_ratelimit":      "0",
		"net.ipv4.icmp_msgs_per_sec":   "100000000",
		"net.ipv4.icmp_msgs_burst":     "100000000", // also ICMPv6's global limit
		"net.ipv6.icmp.ratelimit":      "0",
	}
	router := map[string]string{
		"net.ipv4.ip_forward":          "1",
		"net.ipv6.conf.all.forwarding": "1",
		// Do not redirect anyone anywhere.
		"net.ipv4.conf.all.send_redirects":     "0",
		"net.ipv4.conf.default.send_redirects": "0",
	}
	set := func(ns string, kvs ...map[string]string) error {
		return l.Do(ns, func() error {
			for _, kv := range kvs {
				for k, v := range kv {
					if err := writeSysctl(k, v); err != nil {
						return err
					}
				}
			}
			return nil
		})
	}
	if err := set(l.RemoteNS(), answering, router); err != nil {
		return err
	}
	// A host that answers ARP late leaves answering to the lab's responder
	// (latearp.go): its kernel answers no request (8: for no local address).
	lateARP := map[string]string{"net.ipv4.conf.all.arp_ignore": "8", "net.ipv4.conf." + HostIface + ".arp_ignore": "8"}
	for i, h := range l.truth.Hosts {
		kvs := []map[string]string{answering}
		if h.ARPDelay > 0 {
			kvs = append(kvs, lateARP)
		}
		if err := set(l.HostNS(i), kvs...); err != nil {
			return err
		}
	}
	return l.spreadLoad(ctx)
}

// spreadLoad gives the remote network a CPU of its own, as a real remote network has:
// with receive packet steering the remote router's kernel handles the scanner's probes
// on the last CPU, and the scanner's kernel handles the replies on CPU 0, instead of
// both running on whichever CPU happened to send. Without it, a scan in the lab
// measures the two kernels sharing one core more than the scanner. On a single-CPU
// machine there is nothing to spread.
func (l *Lab) spreadLoad(ctx context.Context) error {
	n := runtime.NumCPU()
	if n < 2 {
		return nil
	}
	last := n - 1
	steer := []struct{ ns, iface, mask string }{
		{l.RemoteNS(), RemoteWANIface, fmt.Sprintf("%x", uint64(1)<<(last%64))},
		{l.ScannerNS(), ScannerWANIface, "1"},
	}
	for _, s := range steer {
		// Only "ip netns exec" mounts a sysfs that shows the namespace's own links.
		script := "echo " + s.mask + " > /sys/class/net/" + s.iface + "/queues/rx-0/rps_cpus"
		if err := runIP(ctx, "netns", "exec", s.ns, "sh", "-c", script); err != nil {
			return fmt.Errorf("steering received packets in %s: %w", s.ns, err)
		}
	}
	return nil
}

// addFirewall installs the nftables rules in R that reject everything
// forwarded to ProhibitedPrefix with ICMP admin-prohibited, and to
// ProhibitedPrefix6, AddrUnreachablePrefix6 and PortUnreachablePrefix6 with
// ICMPv6 destination unreachable codes 1, 3 and 4.
func (l *Lab) addFirewall(ctx context.Context) error {
	t := l.truth
	rules := fmt.Sprintf(`table ip fastlab {
	chain forward {
		type filter hook forward priority 0; policy accept;
		ip daddr %s reject with icmp type admin-prohibited
	}
}
table ip6 fastlab {
	chain forward {
		type filter hook forward priority 0; policy accept;
		ip6 daddr %s reject with icmpv6 type admin-prohibited
		ip6 daddr %s reject with icmpv6 type addr-unreachable
		ip6 daddr %s reject with icmpv6 type port-unreachable
	}
}
`, t.ProhibitedPrefix, t.ProhibitedPrefix6, t.AddrUnreachablePrefix6, t.PortUnreachablePrefix6)
	return runTool(ctx, []byte(rules), "ip", "netns", "exec", l.RemoteNS(), "nft", "-f", "-")
}

// startListeners opens the listening sockets inside R and the LAN hosts,
// for both families.
func (l *Lab) startListeners(context.Context) error {
	t := l.truth
	var wild []endpoint
	for _, p := range t.AnyIPPorts {
		wild = append(wild, endpoint{netip.IPv4Unspecified(), p}, endpoint{netip.IPv6Unspecified(), p})
	}
	for _, ap := range slices.Concat(t.AddrPorts, t.AddrPorts6) {
		wild = append(wild, endpoint{ap.Addr(), ap.Port()})
	}
	if err := l.listenIn(l.RemoteNS(), wild); err != nil {
		return err
	}
	for i, h := range t.Hosts {
		var eps []endpoint
		for _, p := range h.Ports {
			eps = append(eps, endpoint{h.Addr, p}, endpoint{h.Addr6, p})
		}
		if err := l.listenIn(l.HostNS(i), eps); err != nil {
			return err
		}
	}
	return nil
}

// endpoint is a listening endpoint: an IPv4 or IPv6 address (the
// unspecified one of its family for the wildcard) and a port.
type endpoint struct {
	addr netip.Addr
	port uint16
}

// listenIn opens TCP listeners on eps inside ns and records them in l.
func (l *Lab) listenIn(ns string, eps []endpoint) error {
	return l.Do(ns, func() error {
		for _, ep := range eps {
			fd, err := listenTCP(ep.addr, ep.port)
			if err != nil {
				return fmt.Errorf("lab: listen in %s: %w", ns, err)
			}
			l.mu.Lock()
			l.listeners = append(l.listeners, fd)
			l.mu.Unlock()
		}
		return nil
	})
}

// listenTCP opens a listening TCP socket in the current thread's
// namespace. IP_FREEBIND lets it bind any address, including AnyIP ones.
func listenTCP(addr netip.Addr, port uint16) (int, error) {
	fd, err := boundSocket(unix.SOCK_STREAM, addr, port, nil)
	if err != nil {
		return -1, err
	}
	fail := func(what string, err error) (int, error) {
		unix.Close(fd)
		return -1, fmt.Errorf("%s %v: %w", what, netip.AddrPortFrom(addr, port), err)
	}
	if err := unix.Listen(fd, listenBacklog); err != nil {
		return fail("listen", err)
	}
	return fd, nil
}

// boundSocket opens a socket of type typ (SOCK_STREAM or SOCK_DGRAM,
// non-blocking) in addr's family in the current thread's namespace, with
// SO_REUSEADDR and IP_FREEBIND (IPV6_FREEBIND) set, IPv6 sockets
// IPV6_V6ONLY (the IPv4 sockets beside them answer IPv4), calls setup if
// not nil and binds it to addr:port.
func boundSocket(typ int, addr netip.Addr, port uint16, setup func(fd int) error) (int, error) {
	family := unix.AF_INET
	if addr.Is6() {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, typ|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	ap := netip.AddrPortFrom(addr, port)
	fail := func(what string, err error) (int, error) {
		unix.Close(fd)
		return -1, fmt.Errorf("%s %v: %w", what, ap, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fail("SO_REUSEADDR", err)
	}
	var sa unix.Sockaddr
	if family == unix.AF_INET {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_FREEBIND, 1); err != nil {
			return fail("IP_FREEBIND", err)
		}
		sa = &unix.SockaddrInet4{Port: int(port), Addr: addr.As4()}
	} else {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1); err != nil {
			return fail("IPV6_V6ONLY", err)
		}
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_FREEBIND, 1); err != nil {
			return fail("IPV6_FREEBIND", err)
		}
		sa = &unix.SockaddrInet6{Port: int(port), Addr: addr.As16()}
	}
	if setup != nil {
		if err := setup(fd); err != nil {
			return fail("setup", err)
		}
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fail("bind", err)
	}
	return fd, nil
}

// runIPs runs one ip command per element of cmds, stopping at the first error.
func runIPs(ctx context.Context, cmds [][]string) error {
	for _, c := range cmds {
		if err := runIP(ctx, c...); err != nil {
			return err
		}
	}
	return nil
}

// mac formats a MAC address the way ip expects it.
func mac(m [6]byte) string { return net.HardwareAddr(m[:]).String() }

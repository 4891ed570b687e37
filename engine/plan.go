package engine

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/fastscan/fastscan/route"
	"github.com/fastscan/fastscan/target"
)

// maxOnLinkSpan bounds the on-link address span whose MACs the engine tracks (a /8).
const maxOnLinkSpan = 1 << 24

// plan is where the probes go: the interface and source address, and the next-hop
// MAC of every target address.
type plan struct {
	iface    net.Interface
	srcIP    uint32
	srcMAC   [6]byte
	loopback bool

	// routerMAC is the next hop of off-link targets (the gateway's MAC).
	routerMAC [6]byte
	router    uint32 // the gateway's address; 0 when no target is off-link

	// On-link targets in [onFirst, onLast] each have their own MAC: hopID[ip-onFirst]
	// is 0 while the address has no MAC (ARP under way, or no answer: down) and
	// otherwise its hop's id in hops. Ids are published with an atomic store after
	// the hop is written, so the receiver may read them while the sender adds more.
	onFirst, onLast uint32
	hopID           []atomic.Uint32
	hops            hopTable

	// hostsDown counts target addresses that were not probed: on-link addresses
	// without an ARP answer (added by the sender once ARP has ended), and our own
	// address.
	hostsDown atomic.Uint64 // the sender adds while Progress reads

	// arp is the on-link resolution that runs beside the sender (onlink.go); nil
	// when every on-link MAC is known (or there is no on-link target).
	arp *arpWork
	// arpConn is the ARP conn opened by makePlan, closed once (closeARP).
	arpConn   route.ARPConn
	arpClosed sync.Once

	// six is where the IPv6 targets go (plan6.go); nil when there are none.
	six *plan6
}

// nextHop returns the destination MAC for a probe to ip (nil: the template's, which is
// the router's) and whether the address is to be probed at all: false for an on-link
// address without a MAC (yet).
func (p *plan) nextHop(ip uint32) (*[6]byte, bool) {
	if h := p.hop(ip); h != nil {
		return &h.mac, true
	}
	if ip-p.onFirst <= p.onLast-p.onFirst && p.hopID != nil {
		return nil, false
	}
	if ip == p.srcIP && !p.loopback {
		return nil, false
	}
	return nil, true
}

// onLink reports whether ip is in the on-link range whose MACs ARP finds.
func (p *plan) onLink(ip uint32) bool {
	return p.hopID != nil && ip-p.onFirst <= p.onLast-p.onFirst
}

// hop returns the hop of the on-link address ip, nil when ip is not on-link or
// has no MAC (yet).
func (p *plan) hop(ip uint32) *hop {
	if ip-p.onFirst > p.onLast-p.onFirst || p.hopID == nil {
		return nil
	}
	id := p.hopID[ip-p.onFirst].Load()
	if id == 0 {
		return nil
	}
	return p.hops.get(id)
}

// setHop records mac as the next hop of the on-link address ip and returns the
// new hop, published (for the receiver) once init has set its other fields; late
// marks a MAC learned by ARP while the scan runs. Only one goroutine adds hops
// (makePlan, then the sender).
func (p *plan) setHop(ip uint32, mac [6]byte, late bool, init func(h *hop)) *hop {
	id, h := p.hops.add()
	h.mac, h.late, h.ip = mac, late, ip
	if init != nil {
		init(h)
	}
	p.hopID[ip-p.onFirst].Store(id)
	return h
}

// closeARP closes the plan's ARP conn, once.
func (p *plan) closeARP() error {
	var err error
	p.arpClosed.Do(func() {
		if p.arpConn != nil {
			err = p.arpConn.Close()
		}
	})
	return err
}

// makePlan asks the kernel's routing table where the targets are, resolves the
// router's MAC and the MAC of every on-link target by ARP.
func makePlan(ctx context.Context, cfg *Config) (*plan, error) {
	if cfg.Connect {
		return connectPlan(cfg)
	}
	if cfg.Path != nil {
		return fixedPlan(cfg)
	}
	r4, r6 := splitFamilies(cfg.Targets.Ranges())
	var p *plan
	if len(r4) > 0 {
		var err error
		if p, err = makePlan4(ctx, cfg, spansOf(r4)); err != nil {
			return nil, err
		}
	}
	if len(r6) > 0 {
		p6, err := addIPv6(ctx, cfg, p, r6)
		if err != nil {
			if p != nil {
				p.closeARP()
			}
			return nil, err
		}
		p = p6
	}
	return p, nil
}

// makePlan4 is makePlan for the IPv4 target ranges.
func makePlan4(ctx context.Context, cfg *Config, ranges []span) (*plan, error) {
	first, err := firstRoute(ranges, cfg.Interface)
	if err != nil {
		return nil, err
	}
	p := &plan{iface: first.Iface, srcIP: addrToUint32(first.SrcIP), loopback: first.Loopback(), onFirst: 1, onLast: 0}
	if cfg.SourceIP.IsValid() {
		p.srcIP = addrToUint32(cfg.SourceIP)
	}
	copy(p.srcMAC[:], first.Iface.HardwareAddr)
	if p.loopback {
		return p, nil
	}

	prefixes, err := ipv4Prefixes(&p.iface)
	if err != nil {
		return nil, err
	}
	var onLink []span
	for _, r := range ranges {
		in, out := splitByPrefixes(r, prefixes)
		onLink = append(onLink, in...)
		for _, o := range out {
			if err := p.addOffLink(cfg, o); err != nil {
				return nil, err
			}
		}
	}
	if p.router != 0 {
		if cfg.RouterMAC != nil {
			p.routerMAC = *cfg.RouterMAC
		} else if err := p.resolveRouter(ctx, cfg); err != nil {
			p.closeARP()
			return nil, err
		}
	} else if cfg.RouterMAC != nil {
		p.routerMAC = *cfg.RouterMAC
	}
	if cfg.Targets.Contains(uint32ToAddr(p.srcIP)) {
		// Our own address is never probed through the wire: the kernel would not
		// see its own frames.
		cfg.Notice(fmt.Sprintf("skipping %v: it is this host's own address on %s", ipString(p.srcIP), p.iface.Name))
		p.hostsDown.Add(1)
	}
	if len(onLink) > 0 {
		if err := p.prepareOnLink(cfg, onLink); err != nil {
			p.closeARP()
			return nil, err
		}
	}
	return p, nil
}

// openARP opens the plan's ARP conn (cfg.ARP, or an AF_PACKET socket) if it is
// not open yet.
func (p *plan) openARP(cfg *Config) (route.ARPConn, error) {
	if p.arpConn != nil {
		return p.arpConn, nil
	}
	open := cfg.ARP
	if open == nil {
		open = route.OpenARP
	}
	c, err := open(p.iface)
	if err != nil {
		return nil, fmt.Errorf("opening an ARP socket on %s: %w", p.iface.Name, err)
	}
	p.arpConn = c
	return c, nil
}

// arpOptions are the ARP settings of the scan.
func (p *plan) arpOptions(cfg *Config) route.ARPOptions {
	return route.ARPOptions{SrcMAC: p.srcMAC, SrcIP: uint32ToAddr(p.srcIP), Rate: arpRate(cfg), MaxTimeout: cfg.ARPWait}
}

// resolveRouter finds the gateway's MAC: the neighbour table, else ARP (before
// any probe: every off-link probe needs it).
func (p *plan) resolveRouter(ctx context.Context, cfg *Config) error {
	c, err := p.openARP(cfg)
	if err != nil {
		return err
	}
	router := uint32ToAddr(p.router)
	found := map[netip.Addr][6]byte{}
	todo, err := route.Known(c, []netip.Addr{router}, found)
	if err == nil && len(todo) > 0 {
		_, err = route.ResolveARP(ctx, c, todo, p.arpOptions(cfg), func(ip netip.Addr, mac [6]byte) { found[ip] = mac })
	}
	if err != nil {
		return fmt.Errorf("resolving router %v: %w", ipString(p.router), err)
	}
	mac, ok := found[router]
	if !ok {
		return fmt.Errorf("router %v on %s did not answer ARP: pass --router-mac", ipString(p.router), p.iface.Name)
	}
	p.routerMAC = mac
	return nil
}

// fixedPlan is the plan of a scan with a fixed Path: targets inside Path.OnLink
// get their MACs by ARP (cfg.ARP), every other one goes to Path.RouterMAC.
func fixedPlan(cfg *Config) (*plan, error) {
	path := cfg.Path
	p := &plan{
		iface: path.Interface, srcIP: addrToUint32(path.SourceIP), srcMAC: path.SourceMAC,
		routerMAC: path.RouterMAC, loopback: path.Loopback, onFirst: 1,
	}
	if !p.loopback && cfg.Targets.Contains(uint32ToAddr(p.srcIP)) {
		cfg.Notice(fmt.Sprintf("skipping %v: it is this host's own address on %s", ipString(p.srcIP), p.iface.Name))
		p.hostsDown.Add(1)
	}
	if pfx := path.OnLink.Masked(); pfx.IsValid() && pfx.Addr().Is4() && !p.loopback {
		first := addrToUint32(pfx.Addr())
		subnet := []span{{First: first, Last: first | uint32(uint64(1)<<(32-pfx.Bits())-1)}}
		var onLink []span
		for _, r := range spansOf(cfg.Targets.Ranges()) {
			in, _ := splitByPrefixes(r, subnet)
			onLink = append(onLink, in...)
		}
		if len(onLink) > 0 {
			if err := p.prepareOnLink(cfg, onLink); err != nil {
				p.closeARP()
				return nil, err
			}
		}
	}
	return p, nil
}

// connectPlan is the plan of a connect scan (Config.Connect): the kernel routes
// every connection, so there is no next hop to find and no ARP. The source
// address (the one results name, and the probes' cookies are keyed on) is
// SourceIP, else Path's, else the routing table's for the first target; the
// interface, for the summary, is that route's. This host's own addresses are
// scanned like any other (through loopback).
func connectPlan(cfg *Config) (*plan, error) {
	p := &plan{loopback: true, onFirst: 1}
	if path := cfg.Path; path != nil {
		p.iface, p.srcIP, p.srcMAC = path.Interface, addrToUint32(path.SourceIP), path.SourceMAC
	} else {
		first := cfg.Targets.At(0)
		rt, err := route.Lookup(first, "")
		if err != nil {
			return nil, fmt.Errorf("finding a route to %v: %w", first, err)
		}
		p.iface, p.srcIP = rt.Iface, addrToUint32(rt.SrcIP)
	}
	if cfg.SourceIP.IsValid() {
		p.srcIP = addrToUint32(cfg.SourceIP)
	}
	return p, nil
}

// probeEnv is what the probes of the scan s need to know of the plan.
func (p *plan) probeEnv(s *Scanner) ProbeEnv {
	env := ProbeEnv{
		SrcMAC: p.srcMAC, RouterMAC: p.routerMAC, Key: s.key,
		SourcePortLo: s.cfg.SourcePortLo, SourcePortHi: s.cfg.SourcePortHi,
		Connect: s.cfg.Connect,
	}
	if p.srcIP != 0 {
		env.SrcIP = uint32ToAddr(p.srcIP)
	}
	if p.six != nil {
		env.SrcIP6, env.RouterMAC6 = p.six.srcIP, p.six.routerMAC
	}
	return env
}

// sourceIP is the scan's source address for a target of a's family.
func (p *plan) sourceIP(a netip.Addr) netip.Addr {
	if !a.Is4() && p.six != nil {
		return p.six.srcIP
	}
	return uint32ToAddr(p.srcIP)
}

// firstRoute picks the route the scan uses: that of the first target that is not an
// address of this host, or, when every target is local, the loopback route. A scan
// that mixes loopback and other targets is refused.
func firstRoute(ranges []span, iface string) (route.Route, error) {
	var candidates []uint32
	for _, r := range ranges {
		candidates = append(candidates, r.First)
		if r.First < r.Last {
			candidates = append(candidates, r.First+1, r.Last)
		}
	}
	var local, remote []route.Route
	for _, ip := range candidates {
		rt, err := route.Lookup(uint32ToAddr(ip), iface)
		if err != nil {
			return route.Route{}, fmt.Errorf("finding a route to %v: %w", ipString(ip), err)
		}
		if iface != "" && rt.Loopback() {
			// The kernel answers a lookup pinned to lo with lo whatever the
			// address; only this host's own addresses are behind it.
			if natural, err := route.Lookup(uint32ToAddr(ip), ""); err == nil && !natural.Loopback() {
				return route.Route{}, &UsageError{fmt.Sprintf("interface %s does not reach target %v (the routing table sends it through %s)", iface, ipString(ip), natural.Iface.Name)}
			}
		}
		if rt.Loopback() {
			local = append(local, rt)
		} else {
			remote = append(remote, rt)
		}
	}
	if len(remote) == 0 {
		return local[0], nil
	}
	for _, r := range ranges {
		if r.First <= loopbackLast && r.Last >= loopbackFirst {
			return route.Route{}, fmt.Errorf("targets mix loopback addresses (127.0.0.0/8) and others: scan them separately")
		}
	}
	return remote[0], nil
}

// 127.0.0.0/8, whose addresses never appear on a wire.
const (
	loopbackFirst = 0x7F000000
	loopbackLast  = 0x7FFFFFFF
)

// addOffLink checks that the off-link range r is reached through the plan's
// interface and router.
func (p *plan) addOffLink(cfg *Config, r span) error {
	for _, ip := range []uint32{r.First, r.Last} {
		if cfg.Interface == "" {
			if natural, err := route.Lookup(uint32ToAddr(ip), ""); err == nil && natural.Iface.Index != p.iface.Index {
				return fmt.Errorf("targets need two interfaces (%v through %s, others through %s): scan them separately", ipString(ip), natural.Iface.Name, p.iface.Name)
			}
		}
		rt, err := route.Lookup(uint32ToAddr(ip), p.iface.Name)
		if err != nil {
			return fmt.Errorf("no route to target %v on %s: %w", ipString(ip), p.iface.Name, err)
		}
		if rt.Iface.Index != p.iface.Index {
			return fmt.Errorf("target %v is reached through %s, not %s: scan it separately or pass -i", ipString(ip), rt.Iface.Name, p.iface.Name)
		}
		gw := addrToUint32(rt.Gateway)
		if gw == 0 && cfg.Interface != "" {
			// A lookup pinned to an interface answers "on-link" for any address
			// the interface has no route for: it does not reach the target.
			via := "no route"
			if natural, err := route.Lookup(uint32ToAddr(ip), ""); err == nil {
				via = "the routing table sends it through " + natural.Iface.Name
			}
			return &UsageError{fmt.Sprintf("interface %s does not reach target %v (%s)", cfg.Interface, ipString(ip), via)}
		}
		if gw == 0 {
			return fmt.Errorf("target %v is on-link on %s without an address of ours in its subnet: pass --router-mac or --source-ip", ipString(ip), p.iface.Name)
		}
		if p.router != 0 && gw != p.router && cfg.RouterMAC == nil {
			return fmt.Errorf("targets %v and beyond use two routers (%v and %v): scan them separately", ipString(ip), ipString(p.router), ipString(gw))
		}
		if p.router == 0 {
			p.router = gw
		}
	}
	return nil
}

// prepareOnLink sets up the next hops of the on-link targets: those the neighbour
// table knows get their hop now; the others are left to the ARP resolution that
// runs beside the sender (p.arp, onlink.go). A resumed scan takes even the known
// ones through the sender's catch-up (all their unanswered targets): the stopped
// scan may have left some of them unprobed behind its checkpoint's position.
func (p *plan) prepareOnLink(cfg *Config, onLink []span) error {
	lo, hi := onLink[0].First, onLink[len(onLink)-1].Last
	if uint64(hi-lo)+1 > maxOnLinkSpan {
		return fmt.Errorf("on-link targets %v-%v span more than %d addresses", ipString(lo), ipString(hi), maxOnLinkSpan)
	}
	var ips []netip.Addr
	for _, r := range onLink {
		for ip := uint64(r.First); ip <= uint64(r.Last); ip++ {
			if uint32(ip) == p.srcIP {
				continue // counted as down by makePlan
			}
			ips = append(ips, uint32ToAddr(uint32(ip)))
		}
	}
	c, err := p.openARP(cfg)
	if err != nil {
		return err
	}
	p.onFirst, p.onLast = lo, hi
	p.hopID = make([]atomic.Uint32, uint64(hi-lo)+1)
	p.hops = newHopTable(len(ips))
	known := map[netip.Addr][6]byte{}
	todo, err := route.Known(c, ips, known)
	if err != nil {
		return fmt.Errorf("reading the neighbour table of %s: %w", p.iface.Name, err)
	}
	w := &arpWork{todo: todo, opts: p.arpOptions(cfg), signal: make(chan struct{}, 1), done: make(chan struct{})}
	for _, ip := range ips {
		mac, ok := known[ip]
		if !ok {
			continue
		}
		if cfg.Resume != nil {
			w.found = append(w.found, arpFound{ip: addrToUint32(ip), mac: mac})
		} else {
			p.setHop(addrToUint32(ip), mac, false, nil)
		}
	}
	if len(todo) == 0 && len(w.found) == 0 {
		return p.closeARP()
	}
	w.more.Store(len(w.found) > 0)
	p.arp = w
	return nil
}

// arpRate is the ARP request rate: the scan rate, within sane bounds for ARP.
func arpRate(cfg *Config) int {
	r := int(cfg.Rate)
	if r < 100 {
		r = 100
	}
	if r > 20000 {
		r = 20000
	}
	return r
}

// ipv4Prefixes returns the IPv4 subnets an interface is directly connected to.
func ipv4Prefixes(ifc *net.Interface) ([]span, error) {
	addrs, err := ifc.Addrs()
	if err != nil {
		return nil, fmt.Errorf("reading addresses of %s: %w", ifc.Name, err)
	}
	var out []span
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		pfx, err := netip.ParsePrefix(ipn.String())
		if err != nil || !pfx.Addr().Is4() || pfx.Bits() == 32 {
			continue
		}
		pfx = pfx.Masked()
		first := ipToUint32(pfx.Addr())
		last := first | uint32(uint64(1)<<(32-pfx.Bits())-1)
		out = append(out, span{First: first, Last: last})
	}
	return out, nil
}

// splitByPrefixes splits r into the parts inside any of prefixes and the parts outside.
func splitByPrefixes(r span, prefixes []span) (in, out []span) {
	rest := []span{r}
	for _, p := range prefixes {
		var next []span
		for _, x := range rest {
			if x.Last < p.First || x.First > p.Last {
				next = append(next, x)
				continue
			}
			lo, hi := max(x.First, p.First), min(x.Last, p.Last)
			in = append(in, span{First: lo, Last: hi})
			if x.First < lo {
				next = append(next, span{First: x.First, Last: lo - 1})
			}
			if hi < x.Last {
				next = append(next, span{First: hi + 1, Last: x.Last})
			}
		}
		rest = next
	}
	slices.SortFunc(in, func(a, b span) int { return cmp.Compare(a.First, b.First) })
	return in, rest
}

// span is a target.Range as numeric IPv4 values, for the plan's arithmetic.
type span struct{ First, Last uint32 }

// Len returns the number of addresses in r.
func (r span) Len() uint64 { return uint64(r.Last) - uint64(r.First) + 1 }

// spansOf converts the target ranges rs (IPv4, as every target.Set holds).
func spansOf(rs []target.Range) []span {
	out := make([]span, len(rs))
	for i, r := range rs {
		out[i] = span{addrToUint32(r.First), addrToUint32(r.Last)}
	}
	return out
}

func ipToUint32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func ipString(ip uint32) string {
	return netip.AddrFrom4([4]byte{byte(ip >> 24), byte(ip >> 16), byte(ip >> 8), byte(ip)}).String()
}

// UsageError is an error in what the user asked for (an interface that does not
// reach the targets, say), as opposed to a failure of the machine: the command line
// reports it with the usage exit status.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

package engine

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	"github.com/fastscan/fastscan/route"
	"github.com/fastscan/fastscan/target"
)

// maxOnLink6 bounds the on-link IPv6 targets whose MACs neighbour discovery
// finds before the scan (a /112 of a LAN, or a hitlist of its hosts).
const maxOnLink6 = 1 << 16

// plan6 is where the scan's IPv6 probes go: out of the plan's interface (the
// one the IPv4 probes take too), from an IPv6 address of it, to the IPv6
// router or, for on-link targets, to the MAC each answered neighbour
// discovery with. Unlike IPv4's ARP, which runs beside the sender, neighbour
// discovery runs to its end before the first probe: IPv6 LAN targets are
// hitlists or small prefixes. The plan6 is read-only once the scan starts.
type plan6 struct {
	srcIP     netip.Addr
	router    netip.Addr // the gateway (often link-local); not valid when no target is off-link
	routerMAC [6]byte
	// onLink are the on-link targets that answered neighbour discovery, with
	// their MACs; silent are those that did not (down, never probed).
	onLink map[netip.Addr]*[6]byte
	silent map[netip.Addr]bool
	// own is our own address when it is among the targets (never probed).
	own bool
}

// nextHop returns the destination MAC of a probe to the IPv6 address a (nil:
// the router's, the template's default) and whether a is to be probed.
func (p *plan6) nextHop(a netip.Addr) (*[6]byte, bool) {
	if mac, ok := p.onLink[a]; ok {
		return mac, true
	}
	if p.silent[a] || a == p.srcIP {
		return nil, false
	}
	return nil, true
}

// splitFamilies returns the IPv4 and the IPv6 ranges of rs.
func splitFamilies(rs []target.Range) (v4, v6 []target.Range) {
	for _, r := range rs {
		if r.First.Is4() {
			v4 = append(v4, r)
		} else {
			v6 = append(v6, r)
		}
	}
	return v4, v6
}

// addIPv6 plans the IPv6 targets ranges of cfg: p is the IPv4 plan (nil when
// no target is IPv4), whose interface they must leave by as well. It returns
// the plan with its six part.
func addIPv6(ctx context.Context, cfg *Config, p *plan, ranges []target.Range) (*plan, error) {
	first, err := route.Lookup(ranges[0].First, cfg.Interface)
	if err != nil {
		return nil, fmt.Errorf("finding a route to %v: %w", ranges[0].First, err)
	}
	if p == nil {
		p = &plan{iface: first.Iface, onFirst: 1}
		copy(p.srcMAC[:], first.Iface.HardwareAddr)
	} else if p.loopback {
		return nil, &UsageError{"targets mix IPv4 loopback addresses and IPv6 ones: scan them separately"}
	}
	six := &plan6{srcIP: first.SrcIP.WithZone(""), onLink: map[netip.Addr]*[6]byte{}, silent: map[netip.Addr]bool{}}
	if cfg.SourceIP6.IsValid() {
		six.srcIP = cfg.SourceIP6
	}
	if !six.srcIP.Is6() {
		return nil, fmt.Errorf("no IPv6 source address on %s for %v: pass --source-ip", first.Iface.Name, ranges[0].First)
	}
	var onLink []netip.Addr
	for _, r := range ranges {
		var kind string // "lo", "router" or "on-link", the same for both ends
		for _, a := range []netip.Addr{r.First, r.Last} {
			rt, err := route.Lookup(a, cfg.Interface)
			if err != nil {
				return nil, fmt.Errorf("finding a route to %v: %w", a, err)
			}
			if rt.Iface.Index != p.iface.Index {
				return nil, &UsageError{fmt.Sprintf("targets need two interfaces (%v through %s, others through %s): scan them separately", a, rt.Iface.Name, p.iface.Name)}
			}
			k := "on-link"
			switch gw := rt.Gateway.WithZone(""); {
			case rt.Loopback():
				k = "lo"
			case gw.IsValid():
				k = "router"
				if six.router.IsValid() && gw != six.router {
					return nil, &UsageError{fmt.Sprintf("IPv6 targets %v and beyond use two routers (%v and %v): scan them separately", a, six.router, gw)}
				}
				six.router = gw
			}
			if kind != "" && k != kind {
				return nil, &UsageError{fmt.Sprintf("IPv6 targets %v-%v are partly on-link and partly not: scan the parts separately", r.First, r.Last)}
			}
			kind = k
		}
		if kind != "on-link" && kind != "lo" {
			continue
		}
		if r.Len() > maxOnLink6 || len(onLink)+int(r.Len()) > maxOnLink6 {
			return nil, &UsageError{fmt.Sprintf("on-link IPv6 targets hold more than %d addresses (%v-%v): scan a hitlist of the LAN's hosts", maxOnLink6, r.First, r.Last)}
		}
		for x := r.First; ; x = x.Next() {
			if x == six.srcIP && kind != "lo" {
				six.own = true
			} else {
				onLink = append(onLink, x)
			}
			if x == r.Last {
				break
			}
		}
	}
	if six.own {
		cfg.Notice(fmt.Sprintf("skipping %v: it is this host's own address on %s", six.srcIP, p.iface.Name))
		p.hostsDown.Add(1)
	}
	if p.iface.Flags&net.FlagLoopback != 0 {
		// lo: frames with zero MACs reach the kernel; nothing to resolve.
		for _, a := range onLink {
			six.onLink[a] = new([6]byte)
		}
		p.six = six
		return p, nil
	}
	var want []netip.Addr
	if six.router.IsValid() {
		want = append(want, six.router)
	}
	want = append(want, onLink...)
	if len(want) > 0 {
		found, err := route.Resolve(ctx, p.iface, six.srcIP, want, arpRate(cfg), cfg.ARPWait)
		if err != nil {
			return nil, fmt.Errorf("neighbour discovery on %s: %w", p.iface.Name, err)
		}
		if six.router.IsValid() {
			mac, ok := found[six.router]
			if !ok {
				return nil, fmt.Errorf("IPv6 router %v on %s did not answer neighbour discovery", six.router, p.iface.Name)
			}
			six.routerMAC = mac
		}
		for _, a := range onLink {
			if mac, ok := found[a]; ok {
				six.onLink[a] = &mac
			} else {
				six.silent[a] = true
				p.hostsDown.Add(1)
			}
		}
	}
	p.six = six
	return p, nil
}

// Package route answers where packets to an IPv4 or IPv6 address go: the
// outgoing interface, the source address and the next hop, straight from
// the kernel's routing decision (netlink RTM_GETROUTE, AF_INET and
// AF_INET6). It also reads the kernel's neighbour tables (ARP and NDP) and
// resolves MAC addresses actively: with its own ARP requests for IPv4
// (ResolveARP) and its own neighbour solicitations for IPv6 (ResolveNDP).
//
// Every function works in the network namespace of the calling OS thread.
// Addresses are netip.Addr values.
package route

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

// Route is the kernel's answer for one destination.
type Route struct {
	// Iface is the outgoing interface: lo for local destinations.
	Iface net.Interface
	// SrcIP is the source address the kernel would use (its source address
	// selection, RFC 6724 for IPv6).
	SrcIP netip.Addr
	// Gateway is the next hop, or the zero Addr when the destination is
	// on-link. An IPv6 gateway is often a link-local address (fe80::/10); it
	// carries no zone: Iface is its link.
	Gateway netip.Addr
}

// OnLink reports whether the destination is reached directly, without a
// gateway.
func (r Route) OnLink() bool { return !r.Gateway.IsValid() }

// Loopback reports whether the route leaves through a loopback interface,
// that is the destination is this host.
func (r Route) Loopback() bool { return r.Iface.Flags&net.FlagLoopback != 0 }

// NextHop returns the address whose MAC frames to the destination dst are
// sent to: the gateway, or dst itself when it is on-link.
func (r Route) NextHop(dst netip.Addr) netip.Addr {
	if r.Gateway.IsValid() {
		return r.Gateway
	}
	return dst
}

// Lookup asks the kernel how a packet to dst (IPv4 or IPv6) would leave
// this host.
//
// With iface "" the kernel picks the interface (for an IPv6 address with a
// zone, such as fe80::1%eth0, the zone names the interface). Otherwise the
// route is constrained to leave through iface, which must exist and have an
// address of dst's family; when the routing table has no route through it,
// dst is taken as on-link there (the IPv4 kernel does so itself; for IPv6,
// whose kernel refuses, Lookup does it with iface's address: a global one,
// or its link-local one for a link-local dst; not on a loopback
// interface, where it is an error). Local destinations
// (127.0.0.0/8, ::1 and this host's own addresses) come back on the
// loopback interface with no gateway.
func Lookup(dst netip.Addr, iface string) (Route, error) {
	switch {
	case dst.Is4():
		return lookup4(dst, iface)
	case dst.Is6() && !dst.Is4In6():
		if iface == "" {
			iface = dst.Zone()
		}
		return lookup6(dst.WithZone(""), iface)
	}
	return Route{}, fmt.Errorf("route: %v: not an IPv4 or IPv6 destination", dst)
}

// lookup4 is Lookup for IPv4.
func lookup4(dst netip.Addr, iface string) (Route, error) {
	oif := 0
	var ifaceAddr netip.Addr
	if iface != "" {
		ifc, err := net.InterfaceByName(iface)
		if err != nil {
			return Route{}, fmt.Errorf("route: unknown interface %q: %w", iface, err)
		}
		addr, err := interfaceAddr(ifc, false, false)
		if err != nil {
			return Route{}, err
		}
		oif, ifaceAddr = ifc.Index, addr
	}
	ans, err := getRoute(dst, oif)
	if err != nil {
		return Route{}, fmt.Errorf("route: no route to %s: %w", dst, err)
	}
	return ans.route(dst, iface, oif, ifaceAddr)
}

// lookup6 is Lookup for IPv6 (dst without a zone).
func lookup6(dst netip.Addr, iface string) (Route, error) {
	oif := 0
	var ifc *net.Interface
	var ifaceAddr netip.Addr
	if iface != "" {
		var err error
		if ifc, err = net.InterfaceByName(iface); err != nil {
			return Route{}, fmt.Errorf("route: unknown interface %q: %w", iface, err)
		}
		addr, err := interfaceAddr(ifc, true, dst.IsLinkLocalUnicast())
		if err != nil {
			return Route{}, err
		}
		oif, ifaceAddr = ifc.Index, addr
	}
	ans, err := getRoute(dst, oif)
	if oif != 0 && ifc.Flags&net.FlagLoopback == 0 && (errors.Is(err, unix.ENETUNREACH) || errors.Is(err, unix.EHOSTUNREACH)) {
		// No route through iface: on-link there, as IPv4 has it.
		return Route{Iface: *ifc, SrcIP: ifaceAddr}, nil
	}
	if err != nil {
		return Route{}, fmt.Errorf("route: no route to %s: %w", dst, err)
	}
	return ans.route(dst, iface, oif, ifaceAddr)
}

// route turns the kernel's answer for dst into a Route; iface, oif and
// ifaceAddr are the interface the caller asked for (oif 0: none).
func (ans routeAnswer) route(dst netip.Addr, iface string, oif int, ifaceAddr netip.Addr) (Route, error) {
	if ans.kind != unix.RTN_LOCAL && oif != 0 && ans.oif != oif {
		return Route{}, fmt.Errorf("route: kernel routes %s through interface index %d, not %q",
			dst, ans.oif, iface)
	}
	ifc, err := net.InterfaceByIndex(ans.oif)
	if err != nil {
		return Route{}, fmt.Errorf("route: interface index %d of the route to %s: %w", ans.oif, dst, err)
	}
	src, gateway := ans.prefSrc, ans.gateway
	if ans.kind == unix.RTN_LOCAL {
		gateway = netip.Addr{}
		if !src.IsValid() {
			src = dst
		}
	}
	if !src.IsValid() {
		src = ifaceAddr
	}
	if !src.IsValid() {
		return Route{}, fmt.Errorf("route: no source address for %s on %q", dst, ifc.Name)
	}
	r := Route{Iface: *ifc, SrcIP: src}
	if gateway.IsValid() && gateway.Is4() == dst.Is4() {
		r.Gateway = gateway
	}
	return r, nil
}

// routeAnswer is the part of an RTM_NEWROUTE answer Lookup needs.
type routeAnswer struct {
	kind    uint8 // rtm_type: RTN_UNICAST, RTN_LOCAL, ...
	oif     int
	prefSrc netip.Addr
	gateway netip.Addr
}

// getRoute sends RTM_GETROUTE for dst (IPv4 or IPv6, without a zone;
// restricted to the interface oif when it is not 0) and parses the answer.
func getRoute(dst netip.Addr, oif int) (routeAnswer, error) {
	c, err := dialNetlink()
	if err != nil {
		return routeAnswer{}, err
	}
	defer c.Close()

	body := make([]byte, unix.SizeofRtMsg, 48)
	body[0] = unix.AF_INET // rtm_family
	if dst.Is6() {
		body[0] = unix.AF_INET6
	}
	body[1] = byte(dst.BitLen()) // rtm_dst_len
	body = appendAttr(body, unix.RTA_DST, dst.AsSlice())
	if oif != 0 {
		var v [4]byte
		binary.NativeEndian.PutUint32(v[:], uint32(oif))
		body = appendAttr(body, unix.RTA_OIF, v[:])
	}
	var ans routeAnswer
	found := false
	err = c.execute(unix.RTM_GETROUTE, 0, body, func(typ uint16, b []byte) error {
		if typ != unix.RTM_NEWROUTE || len(b) < unix.SizeofRtMsg {
			return nil
		}
		found = true
		ans.kind = b[7] // rtm_type
		eachAttr(b[unix.SizeofRtMsg:], func(typ uint16, val []byte) {
			switch typ {
			case unix.RTA_OIF:
				if len(val) == 4 {
					ans.oif = int(binary.NativeEndian.Uint32(val))
				}
			case unix.RTA_PREFSRC:
				ans.prefSrc, _ = attrAddr(val)
			case unix.RTA_GATEWAY:
				ans.gateway, _ = attrAddr(val)
			}
		})
		return nil
	})
	if err != nil {
		return routeAnswer{}, err
	}
	if !found || ans.oif == 0 {
		return routeAnswer{}, errors.New("kernel gave no route with an outgoing interface")
	}
	return ans, nil
}

// interfaceAddr returns the first IPv4 address of ifc, or with v6 its first
// global IPv6 address (its first link-local one when linkLocal, or when it
// has no other).
func interfaceAddr(ifc *net.Interface, v6, linkLocal bool) (netip.Addr, error) {
	addrs, err := ifc.Addrs()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("route: addresses of interface %q: %w", ifc.Name, err)
	}
	var global, local netip.Addr
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(n.IP)
		if !ok {
			continue
		}
		switch {
		case !v6 && ip.Unmap().Is4():
			return ip.Unmap(), nil
		case !v6 || ip.Is4In6() || ip.Is4():
		case ip.IsLinkLocalUnicast():
			if !local.IsValid() {
				local = ip
			}
		case !global.IsValid():
			global = ip
		}
	}
	switch {
	case !v6:
		return netip.Addr{}, fmt.Errorf("route: interface %q has no IPv4 address", ifc.Name)
	case linkLocal && local.IsValid():
		return local, nil
	case global.IsValid():
		return global, nil
	case local.IsValid():
		return local, nil
	}
	return netip.Addr{}, fmt.Errorf("route: interface %q has no IPv6 address", ifc.Name)
}

// addrToUint32 is the numeric value of an IPv4 address, as ARP frames carry
// it here (198.19.0.1 is 0xC6130001); 0 for anything else.
func addrToUint32(a netip.Addr) uint32 {
	if !a.Is4() {
		return 0
	}
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

// uint32ToAddr is the inverse of addrToUint32.
func uint32ToAddr(ip uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], ip)
	return netip.AddrFrom4(b)
}

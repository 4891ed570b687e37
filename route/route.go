// Package route answers where packets to an IPv4 address go: the outgoing
// interface, the source address and the next hop, straight from the
// kernel's routing decision (netlink RTM_GETROUTE). It also reads the
// kernel's neighbour (ARP) table and resolves MAC addresses actively with its
// own ARP requests.
//
// Every function works in the network namespace of the calling OS thread.
// Addresses are netip.Addr values; only IPv4 is supported, and an IPv6 address
// is an error.
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
	// SrcIP is the source address the kernel would use.
	SrcIP netip.Addr
	// Gateway is the next hop, or the zero Addr when the destination is on-link.
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

// Lookup asks the kernel how a packet to dst would leave this host.
//
// With iface "" the kernel picks the interface. Otherwise the route is
// constrained to leave through iface, which must exist and have an IPv4
// address; when the routing table has no route through it, the kernel treats
// dst as on-link there. Local destinations (127.0.0.0/8 and this host's own
// addresses) come back on the loopback interface with no gateway.
func Lookup(dstAddr netip.Addr, iface string) (Route, error) {
	if !dstAddr.Is4() {
		return Route{}, fmt.Errorf("route: %v: only IPv4 destinations are supported", dstAddr)
	}
	dst := addrToUint32(dstAddr)
	oif := 0
	var ifaceAddr uint32
	if iface != "" {
		ifc, err := net.InterfaceByName(iface)
		if err != nil {
			return Route{}, fmt.Errorf("route: unknown interface %q: %w", iface, err)
		}
		addr, err := interfaceIPv4(ifc)
		if err != nil {
			return Route{}, err
		}
		oif, ifaceAddr = ifc.Index, addr
	}
	ans, err := getRoute(dst, oif)
	if err != nil {
		return Route{}, fmt.Errorf("route: no route to %s: %w", formatIPv4(dst), err)
	}
	if ans.kind != unix.RTN_LOCAL && oif != 0 && ans.oif != oif {
		return Route{}, fmt.Errorf("route: kernel routes %s through interface index %d, not %q",
			formatIPv4(dst), ans.oif, iface)
	}
	ifc, err := net.InterfaceByIndex(ans.oif)
	if err != nil {
		return Route{}, fmt.Errorf("route: interface index %d of the route to %s: %w", ans.oif, formatIPv4(dst), err)
	}
	src, gateway := ans.prefSrc, ans.gateway
	if ans.kind == unix.RTN_LOCAL {
		gateway = 0
		if src == 0 {
			src = dst
		}
	}
	if src == 0 {
		src = ifaceAddr
	}
	if src == 0 {
		return Route{}, fmt.Errorf("route: no source address for %s on %q", formatIPv4(dst), ifc.Name)
	}
	r := Route{Iface: *ifc, SrcIP: uint32ToAddr(src)}
	if gateway != 0 {
		r.Gateway = uint32ToAddr(gateway)
	}
	return r, nil
}

// routeAnswer is the part of an RTM_NEWROUTE answer Lookup needs.
type routeAnswer struct {
	kind    uint8 // rtm_type: RTN_UNICAST, RTN_LOCAL, ...
	oif     int
	prefSrc uint32
	gateway uint32
}

// getRoute sends RTM_GETROUTE for dst (restricted to the interface oif when
// it is not 0) and parses the answer.
func getRoute(dst uint32, oif int) (routeAnswer, error) {
	c, err := dialNetlink()
	if err != nil {
		return routeAnswer{}, err
	}
	defer c.Close()

	body := make([]byte, unix.SizeofRtMsg, 32)
	body[0] = unix.AF_INET // rtm_family
	body[1] = 32           // rtm_dst_len
	var addr [4]byte
	binary.BigEndian.PutUint32(addr[:], dst)
	body = appendAttr(body, unix.RTA_DST, addr[:])
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
				ans.prefSrc, _ = ipv4(val)
			case unix.RTA_GATEWAY:
				ans.gateway, _ = ipv4(val)
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

// interfaceIPv4 returns the first IPv4 address of ifc.
func interfaceIPv4(ifc *net.Interface) (uint32, error) {
	addrs, err := ifc.Addrs()
	if err != nil {
		return 0, fmt.Errorf("route: addresses of interface %q: %w", ifc.Name, err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if v4 := n.IP.To4(); v4 != nil {
				return binary.BigEndian.Uint32(v4), nil
			}
		}
	}
	return 0, fmt.Errorf("route: interface %q has no IPv4 address", ifc.Name)
}

// addrToUint32 is the numeric value of an IPv4 address, as netlink and ARP
// frames carry it here (198.19.0.1 is 0xC6130001); 0 for anything else.
func addrToUint32(a netip.Addr) uint32 {
	if !a.Is4() {
		return 0
	}
	return binary.BigEndian.Uint32(a.AsSlice())
}

// uint32ToAddr is the inverse of addrToUint32.
func uint32ToAddr(ip uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], ip)
	return netip.AddrFrom4(b)
}

// formatIPv4 formats a numeric IPv4 address in dotted-quad notation.
func formatIPv4(ip uint32) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], ip)
	return netip.AddrFrom4(b).String()
}

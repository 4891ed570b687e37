package route

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

// usableNeighborStates are the neighbour states whose link-layer address
// the kernel itself would send to: confirmed (reachable, permanent) or
// formerly confirmed and being rechecked (stale, delay, probe).
const usableNeighborStates = unix.NUD_REACHABLE | unix.NUD_PERMANENT | unix.NUD_STALE | unix.NUD_DELAY | unix.NUD_PROBE

// NeighborMAC looks ip up in the kernel's neighbour table of the interface
// ifname: the ARP table for an IPv4 address, the NDP table (neighbour
// cache) for an IPv6 one (a zone is ignored). ok is false when there is no
// entry with a usable MAC address (incomplete and failed entries are
// ignored).
func NeighborMAC(ifname string, ip netip.Addr) (mac [6]byte, ok bool, err error) {
	ip = ip.WithZone("")
	if !ip.Is4() && (!ip.Is6() || ip.Is4In6()) {
		return mac, false, fmt.Errorf("route: neighbour %v: not an IPv4 or IPv6 address", ip)
	}
	ifc, err := net.InterfaceByName(ifname)
	if err != nil {
		return mac, false, fmt.Errorf("route: unknown interface %q: %w", ifname, err)
	}
	table, err := neighbors(ifc.Index, ip.Is6())
	if err != nil {
		return mac, false, err
	}
	mac, ok = table[ip]
	return mac, ok, nil
}

// neighbors dumps the IPv4 (or with v6 the IPv6) neighbour table of the
// interface ifindex, keeping the entries with a usable Ethernet address.
func neighbors(ifindex int, v6 bool) (map[netip.Addr][6]byte, error) {
	c, err := dialNetlink()
	if err != nil {
		return nil, err
	}
	defer c.Close()

	family := byte(unix.AF_INET)
	if v6 {
		family = unix.AF_INET6
	}
	body := make([]byte, unix.SizeofNdMsg)
	body[0] = family // ndm_family
	table := map[netip.Addr][6]byte{}
	err = c.execute(unix.RTM_GETNEIGH, unix.NLM_F_DUMP, body, func(typ uint16, b []byte) error {
		if typ != unix.RTM_NEWNEIGH || len(b) < unix.SizeofNdMsg || b[0] != family {
			return nil
		}
		ne := binary.NativeEndian
		if int(int32(ne.Uint32(b[4:]))) != ifindex || ne.Uint16(b[8:])&usableNeighborStates == 0 {
			return nil
		}
		var ip netip.Addr
		var mac [6]byte
		haveIP, haveMAC := false, false
		eachAttr(b[unix.SizeofNdMsg:], func(typ uint16, val []byte) {
			switch typ {
			case unix.NDA_DST:
				ip, haveIP = attrAddr(val)
				haveIP = haveIP && ip.Is6() == v6
			case unix.NDA_LLADDR:
				if len(val) == len(mac) {
					copy(mac[:], val)
					haveMAC = true
				}
			}
		})
		if haveIP && haveMAC {
			table[ip] = mac
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("route: dump neighbour table: %w", err)
	}
	return table, nil
}

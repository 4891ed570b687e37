package route_test

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	fastlab "github.com/fastscan/fastscan/lab"
	"github.com/fastscan/fastscan/lab/labtest"
	"github.com/fastscan/fastscan/route"
)

// IPv6 routes and neighbour discovery in the project's lab (lab.Up, root
// only): every call runs inside the lab's scanner namespace and every frame
// stays on the lab's veth links. The expected interfaces, addresses and MACs
// come from lab.Truth, which the lab was built from, not from the code under
// test.

// inScanner runs fn inside the lab's scanner namespace.
func inScanner(t *testing.T, l *fastlab.Lab, fn func() error) {
	t.Helper()
	if err := l.Do(l.ScannerNS(), fn); err != nil {
		t.Fatal(err)
	}
}

func TestLookupIPv6InTheLab(t *testing.T) {
	l := labtest.Start(t)
	tr := l.Truth()
	anyIP := tr.AnyIPPrefix6.Addr().Next()
	cases := []struct {
		dst, iface      string
		wantIface       string
		wantSrc, wantGW netip.Addr // wantGW invalid: on-link
		loopback        bool
	}{
		// Routed: via the remote router's link-local address.
		{dst: anyIP.String(), wantIface: fastlab.ScannerWANIface, wantSrc: tr.ScannerWANAddr6, wantGW: tr.RemoteWANLinkLocal},
		{dst: tr.BlackholePrefix6.Addr().String(), wantIface: fastlab.ScannerWANIface, wantSrc: tr.ScannerWANAddr6, wantGW: tr.RemoteWANLinkLocal},
		// On-link: the LAN hosts, the router's own addresses.
		{dst: tr.Hosts[0].Addr6.String(), wantIface: fastlab.ScannerLANIface, wantSrc: tr.ScannerLANAddr6},
		{dst: "2001:2:0:1::11", wantIface: fastlab.ScannerLANIface, wantSrc: tr.ScannerLANAddr6},
		{dst: tr.RemoteWANAddr6.String(), wantIface: fastlab.ScannerWANIface, wantSrc: tr.ScannerWANAddr6},
		{dst: tr.RemoteWANLinkLocal.String() + "%" + fastlab.ScannerWANIface, wantIface: fastlab.ScannerWANIface, wantSrc: tr.ScannerWANLinkLocal},
		{dst: tr.RemoteWANLinkLocal.String(), iface: fastlab.ScannerWANIface, wantIface: fastlab.ScannerWANIface, wantSrc: tr.ScannerWANLinkLocal},
		// Loopback: ::1 and the scanner's own addresses.
		{dst: "::1", wantIface: "lo", wantSrc: netip.IPv6Loopback(), loopback: true},
		{dst: tr.ScannerLANAddr6.String(), wantIface: "lo", wantSrc: tr.ScannerLANAddr6, loopback: true},
		{dst: tr.ScannerWANAddr6.String(), wantIface: "lo", wantSrc: tr.ScannerWANAddr6, loopback: true},
		// An explicit interface: its route, or on-link there.
		{dst: anyIP.String(), iface: fastlab.ScannerWANIface, wantIface: fastlab.ScannerWANIface, wantSrc: tr.ScannerWANAddr6, wantGW: tr.RemoteWANLinkLocal},
		{dst: anyIP.String(), iface: fastlab.ScannerLANIface, wantIface: fastlab.ScannerLANIface, wantSrc: tr.ScannerLANAddr6},
		// IPv4 beside it, unchanged.
		{dst: tr.AnyIPPrefix.Addr().String(), wantIface: fastlab.ScannerWANIface, wantSrc: tr.ScannerWANAddr, wantGW: tr.RemoteWANAddr},
	}
	inScanner(t, l, func() error {
		for _, c := range cases {
			dst := netip.MustParseAddr(c.dst)
			r, err := route.Lookup(dst, c.iface)
			if err != nil {
				t.Errorf("Lookup(%s, %q): %v", c.dst, c.iface, err)
				continue
			}
			if r.Iface.Name != c.wantIface || r.SrcIP != c.wantSrc || r.Gateway != c.wantGW ||
				r.OnLink() != !c.wantGW.IsValid() || r.Loopback() != c.loopback {
				t.Errorf("Lookup(%s, %q) = iface %s src %v gw %v onlink %v loopback %v; want %s %v gw %v loopback %v",
					c.dst, c.iface, r.Iface.Name, r.SrcIP, r.Gateway, r.OnLink(), r.Loopback(),
					c.wantIface, c.wantSrc, c.wantGW, c.loopback)
			}
			want := dst.WithZone("")
			if c.wantGW.IsValid() {
				want = c.wantGW
			}
			if hop := r.NextHop(dst.WithZone("")); hop != want {
				t.Errorf("Lookup(%s, %q).NextHop = %v, want %v", c.dst, c.iface, hop, want)
			}
		}
		for _, c := range []struct{ dst, iface, want string }{
			{"2001:db8::1", "", "no route to 2001:db8::1"},
			{"2001:2:0:200::1", "", "no route to 2001:2:0:200::1"},
			{anyIP.String(), "eth9", `unknown interface "eth9"`},
			{anyIP.String(), "lo", "no route to " + anyIP.String()},
		} {
			if r, err := route.Lookup(netip.MustParseAddr(c.dst), c.iface); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Lookup(%s, %q) = %+v, %v; want an error containing %q", c.dst, c.iface, r, err, c.want)
			}
		}
		return nil
	})
}

// lanInterface returns the scanner's LAN interface.
func lanInterface(t *testing.T, l *fastlab.Lab, name string) (ifc net.Interface) {
	t.Helper()
	inScanner(t, l, func() error {
		i, err := net.InterfaceByName(name)
		if err == nil {
			ifc = *i
		}
		return err
	})
	return ifc
}

func TestResolveNDPInTheLab(t *testing.T) {
	l := labtest.Start(t)
	tr := l.Truth()
	lan := lanInterface(t, l, fastlab.ScannerLANIface)
	silent := []netip.Addr{netip.MustParseAddr("2001:2:0:1::11"), netip.MustParseAddr("2001:2:0:1::2")}

	t.Run("LAN hosts answer with their MACs, absent ones not", func(t *testing.T) {
		var ips []netip.Addr
		for _, h := range tr.Hosts {
			ips = append(ips, h.Addr6)
		}
		ips = append(ips, silent...)
		ips = append(ips, tr.Hosts[0].Addr6, tr.Hosts[0].Addr) // a duplicate and an IPv4 address: ignored
		var stats route.NDPStats
		found := map[netip.Addr][6]byte{}
		start := time.Now()
		inScanner(t, l, func() error {
			c, err := route.OpenNDP(lan)
			if err != nil {
				return err
			}
			defer c.Close()
			o := route.NDPOptions{SrcIP: tr.ScannerLANAddr6, SrcMAC: tr.ScannerLANMAC, Rate: 1000, MaxTimeout: 300 * time.Millisecond}
			stats, err = route.ResolveNDP(context.Background(), c, ips, o, func(ip netip.Addr, mac [6]byte) { found[ip] = mac })
			return err
		})
		elapsed := time.Since(start)
		t.Logf("NDP on the lab's LAN: %+v, %v in all", stats, elapsed)
		for _, h := range tr.Hosts {
			if got := found[h.Addr6]; got != h.MAC {
				t.Errorf("%v: MAC %x, want %x (its own)", h.Addr6, got, h.MAC)
			}
		}
		if len(found) != len(tr.Hosts) {
			t.Errorf("found %v, want only the %d hosts", found, len(tr.Hosts))
		}
		// The prompt hosts answer the first solicitation; the late one (50 ms,
		// past the 20 ms floor of the timeout) a retry; the silent ones get 3.
		late := 0
		for _, h := range tr.Hosts {
			if h.ARPDelay > 0 {
				late++
			}
		}
		prompt := len(tr.Hosts) - late
		if late == 0 || stats.Found != len(tr.Hosts) || stats.Silent != len(silent) || stats.Samples < prompt ||
			stats.Requests < len(tr.Hosts)+late+3*len(silent) || stats.Requests > len(tr.Hosts)+2*late+3*len(silent) {
			t.Errorf("stats %+v; want %d found (%d of them late, after a retry or two) and %d silent after 3 solicitations", stats, len(tr.Hosts), late, len(silent))
		}
		// Veth round trips are well under the 20 ms floor: the silent
		// addresses are given up 20+40+80 ms after their first solicitation.
		if elapsed < 140*time.Millisecond || elapsed > 3*time.Second {
			t.Errorf("resolution took %v, want the last retry's timeout (140 ms at the floor) and not much more", elapsed)
		}
	})

	t.Run("the kernel's neighbour cache first", func(t *testing.T) {
		// Nobody owns ::99: only the neighbour cache can know it.
		ghost, ghostMAC := netip.MustParseAddr("2001:2:0:1::99"), [6]byte{2, 0, 0, 0, 0, 0x99}
		if out, err := l.Command(context.Background(), "ip", "-6", "neigh", "add", ghost.String(), "lladdr", "02:00:00:00:00:99",
			"nud", "permanent", "dev", fastlab.ScannerLANIface).CombinedOutput(); err != nil {
			t.Fatalf("ip neigh add: %v: %s", err, out)
		}
		var found map[netip.Addr][6]byte
		var err error
		inScanner(t, l, func() error {
			found, err = route.Resolve(context.Background(), lan, tr.ScannerLANAddr6, []netip.Addr{ghost, tr.Hosts[1].Addr6, silent[0]}, 100, 100*time.Millisecond)
			return nil
		})
		if err != nil || found[ghost] != ghostMAC || found[tr.Hosts[1].Addr6] != tr.Hosts[1].MAC || len(found) != 2 {
			t.Errorf("Resolve = %x, %v; want the cache's %v and host %v, not %v", found, err, ghost, tr.Hosts[1].Addr6, silent[0])
		}
		var mac [6]byte
		var ok bool
		inScanner(t, l, func() error {
			mac, ok, err = route.NeighborMAC(fastlab.ScannerLANIface, ghost)
			return nil
		})
		if err != nil || !ok || mac != ghostMAC {
			t.Errorf("NeighborMAC(%v) = %x, %v, %v", ghost, mac, ok, err)
		}
	})

	t.Run("the router's link-local address", func(t *testing.T) {
		wan := lanInterface(t, l, fastlab.ScannerWANIface)
		var r route.Route
		var found map[netip.Addr][6]byte
		var err error
		inScanner(t, l, func() error {
			if r, err = route.Lookup(tr.AnyIPPrefix6.Addr(), ""); err != nil {
				return err
			}
			found, err = route.Resolve(context.Background(), wan, r.SrcIP, []netip.Addr{r.NextHop(tr.AnyIPPrefix6.Addr())}, 100, 0)
			return nil
		})
		if err != nil || found[tr.RemoteWANLinkLocal] != tr.RemoteWANMAC || len(found) != 1 {
			t.Errorf("next hop %v of %v resolved to %x, %v; want the router's %x", r.Gateway, tr.AnyIPPrefix6.Addr(), found, err, tr.RemoteWANMAC)
		}
	})

	t.Run("the context ends it", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		var err error
		inScanner(t, l, func() error {
			_, err = route.Resolve(ctx, lan, tr.ScannerLANAddr6, silent, 1, 10*time.Second)
			return nil
		})
		if err == nil || ctx.Err() == nil || time.Since(start) > 2*time.Second {
			t.Errorf("Resolve = %v after %v, want the context's end", err, time.Since(start))
		}
	})
}

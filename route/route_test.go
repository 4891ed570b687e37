package route_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/fastscan/fastscan/afpacket/afpackettest"
	"github.com/fastscan/fastscan/citest"
	"github.com/fastscan/fastscan/route"
)

// Route lookups are per network namespace, so every call under test runs
// inside the namespace the test built, through afpackettest.Netns.Run
// (netns.Do): a fresh goroutine locked to its OS thread enters the namespace
// with setns(2) and leaves it before the thread serves anything else.
// Sockets opened during the call stay in that namespace.

// lab is a scanner namespace S whose bridge br0 (198.18.7.1/24) connects
// two peer namespaces at 198.18.7.2 (P1) and 198.18.7.3 (P2). S routes
// 198.19.0.0/16 via P1, has alt0 (198.18.9.1/24) with no route of its own
// beyond its subnet, and noaddr0 with no IPv4 address. There is no default
// route anywhere.
type lab struct {
	s, p1, p2  *afpackettest.Netns
	mac1, mac2 [6]byte
	bridgeIfc  net.Interface
}

func ip4(s string) netip.Addr { return netip.MustParseAddr(s) }

func newLab(t *testing.T) *lab {
	t.Helper()
	citest.RequireRoot(t)
	l := &lab{s: afpackettest.NewNetns(t), p1: afpackettest.NewNetns(t), p2: afpackettest.NewNetns(t)}
	s := l.s
	s.IP(t, "link", "add", "br0", "type", "bridge")
	s.IP(t, "addr", "add", "198.18.7.1/24", "dev", "br0")
	s.IP(t, "link", "set", "br0", "up")
	for i, p := range []*afpackettest.Netns{l.p1, l.p2} {
		port := []string{"vp1", "vp2"}[i]
		s.IP(t, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", p.Name)
		s.IP(t, "link", "set", port, "master", "br0", "up")
		p.IP(t, "addr", "add", []string{"198.18.7.2/24", "198.18.7.3/24"}[i], "dev", "eth0")
		p.IP(t, "link", "set", "eth0", "up")
	}
	s.IP(t, "route", "add", "198.19.0.0/16", "via", "198.18.7.2")
	s.IP(t, "link", "add", "alt0", "type", "veth", "peer", "name", "alt0p")
	s.IP(t, "addr", "add", "198.18.9.1/24", "dev", "alt0")
	s.IP(t, "link", "set", "alt0", "up")
	s.IP(t, "link", "set", "alt0p", "up")
	s.IP(t, "link", "add", "noaddr0", "type", "veth", "peer", "name", "noaddr0p")
	s.IP(t, "link", "set", "noaddr0", "up")

	l.mac1 = macOf(t, l.p1, "eth0")
	l.mac2 = macOf(t, l.p2, "eth0")
	if err := s.Run(func() error {
		ifc, err := net.InterfaceByName("br0")
		if err == nil {
			l.bridgeIfc = *ifc
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return l
}

func macOf(t *testing.T, n *afpackettest.Netns, name string) (mac [6]byte) {
	t.Helper()
	if err := n.Run(func() error {
		ifc, err := net.InterfaceByName(name)
		if err == nil {
			copy(mac[:], ifc.HardwareAddr)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return mac
}

// lookup runs route.Lookup inside n.
func lookup(n *afpackettest.Netns, dst string, iface string) (r route.Route, err error) {
	runErr := n.Run(func() error {
		r, err = route.Lookup(ip4(dst), iface)
		return nil
	})
	if runErr != nil {
		return r, runErr
	}
	return r, err
}

func TestLookup(t *testing.T) {
	l := newLab(t)
	cases := []struct {
		dst, iface      string
		wantIface       string
		wantSrc, wantGW string // wantGW "" means on-link
		loopback        bool
	}{
		{dst: "198.18.7.2", wantIface: "br0", wantSrc: "198.18.7.1"},
		{dst: "198.18.7.200", wantIface: "br0", wantSrc: "198.18.7.1"},
		{dst: "198.19.3.4", wantIface: "br0", wantSrc: "198.18.7.1", wantGW: "198.18.7.2"},
		{dst: "198.18.9.20", wantIface: "alt0", wantSrc: "198.18.9.1"},
		{dst: "127.0.0.1", wantIface: "lo", wantSrc: "127.0.0.1", loopback: true},
		{dst: "127.9.9.9", wantIface: "lo", wantSrc: "127.0.0.1", loopback: true},
		{dst: "198.18.7.1", wantIface: "lo", wantSrc: "198.18.7.1", loopback: true},
		{dst: "198.18.9.1", wantIface: "lo", wantSrc: "198.18.9.1", loopback: true},
		// An explicit interface constrains the route to it.
		{dst: "198.19.3.4", iface: "br0", wantIface: "br0", wantSrc: "198.18.7.1", wantGW: "198.18.7.2"},
		{dst: "198.19.3.4", iface: "alt0", wantIface: "alt0", wantSrc: "198.18.9.1"},
		{dst: "198.18.7.2", iface: "alt0", wantIface: "alt0", wantSrc: "198.18.9.1"},
	}
	for _, c := range cases {
		r, err := lookup(l.s, c.dst, c.iface)
		if err != nil {
			t.Errorf("Lookup(%s, %q): %v", c.dst, c.iface, err)
			continue
		}
		var gw netip.Addr
		if c.wantGW != "" {
			gw = ip4(c.wantGW)
		}
		if r.Iface.Name != c.wantIface || r.SrcIP != ip4(c.wantSrc) || r.Gateway != gw ||
			r.OnLink() != !gw.IsValid() || r.Loopback() != c.loopback {
			t.Errorf("Lookup(%s, %q) = iface %s src %v gw %v onlink %v loopback %v; want %s %s gw %q loopback %v",
				c.dst, c.iface, r.Iface.Name, r.SrcIP, r.Gateway, r.OnLink(), r.Loopback(),
				c.wantIface, c.wantSrc, c.wantGW, c.loopback)
		}
		if r.Iface.Index == 0 || (!c.loopback && len(r.Iface.HardwareAddr) != 6) {
			t.Errorf("Lookup(%s, %q): incomplete interface %+v", c.dst, c.iface, r.Iface)
		}
		wantHop := ip4(c.dst)
		if gw.IsValid() {
			wantHop = gw
		}
		if r.NextHop(ip4(c.dst)) != wantHop {
			t.Errorf("Lookup(%s, %q).NextHop = %v, want %v", c.dst, c.iface, r.NextHop(ip4(c.dst)), wantHop)
		}
	}
}

func TestLookupErrors(t *testing.T) {
	l := newLab(t)
	cases := []struct {
		dst, iface string
		want       string
	}{
		{dst: "198.18.7.2", iface: "eth9", want: `unknown interface "eth9"`},
		{dst: "198.18.7.2", iface: "noaddr0", want: `interface "noaddr0" has no IPv4 address`},
		{dst: "203.0.113.9", want: "no route to 203.0.113.9"},
		{dst: "8.8.8.8", want: "no route to 8.8.8.8"},
		{dst: "2001:db8::1", want: "no route to 2001:db8::1"},
	}
	for _, c := range cases {
		r, err := lookup(l.s, c.dst, c.iface)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Lookup(%s, %q) = %+v, %v; want an error containing %q", c.dst, c.iface, r, err, c.want)
		}
	}
}

func TestNeighborMAC(t *testing.T) {
	l := newLab(t)
	l.s.IP(t, "neigh", "add", "198.18.7.50", "lladdr", "02:00:00:00:00:50", "nud", "permanent", "dev", "br0")
	l.s.IP(t, "neigh", "add", "198.18.9.50", "lladdr", "02:00:00:00:09:50", "nud", "reachable", "dev", "alt0")
	cases := []struct {
		iface, ip string
		mac       [6]byte
		ok        bool
	}{
		{iface: "br0", ip: "198.18.7.50", mac: [6]byte{2, 0, 0, 0, 0, 0x50}, ok: true},
		{iface: "alt0", ip: "198.18.9.50", mac: [6]byte{2, 0, 0, 0, 9, 0x50}, ok: true},
		{iface: "br0", ip: "198.18.7.51"},
		{iface: "alt0", ip: "198.18.7.50"}, // entry exists, but on another interface
	}
	for _, c := range cases {
		var mac [6]byte
		var ok bool
		var err error
		if runErr := l.s.Run(func() error { mac, ok, err = route.NeighborMAC(c.iface, ip4(c.ip)); return nil }); runErr != nil {
			t.Fatal(runErr)
		}
		if err != nil || ok != c.ok || mac != c.mac {
			t.Errorf("NeighborMAC(%s, %s) = %x, %v, %v; want %x, %v, nil", c.iface, c.ip, mac, ok, err, c.mac, c.ok)
		}
	}
	var err error
	_ = l.s.Run(func() error { _, _, err = route.NeighborMAC("eth9", ip4("198.18.7.50")); return nil })
	if err == nil || !strings.Contains(err.Error(), `unknown interface "eth9"`) {
		t.Errorf("NeighborMAC on a missing interface: %v", err)
	}
}

// resolve runs route.Resolve inside l.s on br0.
func (l *lab) resolve(ctx context.Context, ips []string, rate int, wait time.Duration) (map[netip.Addr][6]byte, error) {
	var nums []netip.Addr
	for _, s := range ips {
		nums = append(nums, ip4(s))
	}
	var found map[netip.Addr][6]byte
	var err error
	if runErr := l.s.Run(func() error {
		found, err = route.Resolve(ctx, l.bridgeIfc, ip4("198.18.7.1"), nums, rate, wait)
		return nil
	}); runErr != nil {
		return nil, runErr
	}
	return found, err
}

func TestResolveByARP(t *testing.T) {
	l := newLab(t)
	start := time.Now()
	found, err := l.resolve(context.Background(), []string{"198.18.7.2", "198.18.7.3", "198.18.7.99", "198.18.7.2"}, 100, 300*time.Millisecond)
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	want := map[netip.Addr][6]byte{ip4("198.18.7.2"): l.mac1, ip4("198.18.7.3"): l.mac2}
	if len(found) != len(want) || found[ip4("198.18.7.2")] != l.mac1 || found[ip4("198.18.7.3")] != l.mac2 {
		t.Errorf("Resolve found %x, want %x", found, want)
	}
	// Three requests at 100/s; the missing one is asked twice more, on timeouts
	// from the floor (the peers answer in well under a millisecond) doubled each
	// time: 20 + 40 + 80 ms after its first request, far from the 300 ms ceiling.
	if d := time.Since(start); d < 160*time.Millisecond || d > 3*time.Second {
		t.Errorf("Resolve took %v, want the last retry's timeout to pass (140 ms after the first request to the missing peer at 20 ms)", d)
	}
}

func TestResolveStopsWhenAllFound(t *testing.T) {
	l := newLab(t)
	start := time.Now()
	found, err := l.resolve(context.Background(), []string{"198.18.7.2", "198.18.7.3"}, 0, 10*time.Second)
	if err != nil || len(found) != 2 {
		t.Fatalf("Resolve = %x, %v; want both peers", found, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Resolve took %v although every address answered", d)
	}
}

func TestResolveUsesNeighborTable(t *testing.T) {
	l := newLab(t)
	// Nobody owns 198.18.7.60, so only the neighbour table can know it.
	l.s.IP(t, "neigh", "add", "198.18.7.60", "lladdr", "02:00:00:00:00:60", "nud", "permanent", "dev", "br0")
	found, err := l.resolve(context.Background(), []string{"198.18.7.60"}, 10, 100*time.Millisecond)
	if err != nil || found[ip4("198.18.7.60")] != [6]byte{2, 0, 0, 0, 0, 0x60} {
		t.Errorf("Resolve = %x, %v; want the neighbour table's MAC", found, err)
	}
}

func TestResolveHonoursContext(t *testing.T) {
	l := newLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := l.resolve(ctx, []string{"198.18.7.98", "198.18.7.99"}, 1, 10*time.Second)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Resolve error = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Resolve returned %v after the context ended", d)
	}
}

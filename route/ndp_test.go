package route_test

import (
	"context"
	"encoding/binary"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/fastscan/fastscan/route"
)

// These tests run route.ResolveNDP against an in-memory IPv6 link on a
// virtual clock: the hosts read each solicitation with
// route.ParseNeighborSolicitation and answer with
// route.NeighborAdvertisement after their delay.

var (
	ndpSrc    = netip.MustParseAddr("2001:2:0:1::1")
	ndpSrcMAC = [6]byte{2, 0xfa, 0, 0, 1, 1}
)

// ndpHost is one host of the fake link.
type ndpHost struct {
	mac   [6]byte
	delay time.Duration
}

// fakeNDP is a link with hosts that answer neighbour solicitations, on a
// virtual clock that only moves while Receive waits.
type fakeNDP struct {
	now       time.Time
	hosts     map[netip.Addr]ndpHost
	neighbors map[netip.Addr][6]byte
	pending   []pendingFrame // answers not yet delivered, by due time
	sent      []solicitation
	extra     [][]byte // frames delivered with the first answer (noise)
}

type pendingFrame struct {
	due   time.Time
	frame []byte
}

type solicitation struct {
	at     time.Time
	target netip.Addr
	frame  []byte
}

func (f *fakeNDP) Now() time.Time                             { return f.now }
func (f *fakeNDP) Close() error                               { return nil }
func (f *fakeNDP) Neighbors() (map[netip.Addr][6]byte, error) { return f.neighbors, nil }

func (f *fakeNDP) Send(frame []byte) error {
	target, src, srcMAC, ok := route.ParseNeighborSolicitation(frame)
	f.sent = append(f.sent, solicitation{f.now, target, slices.Clone(frame)})
	if !ok {
		return nil
	}
	if h, live := f.hosts[target]; live {
		na := make([]byte, route.NDPFrameLen)
		n := route.NeighborAdvertisement(na, h.mac, srcMAC, target, src)
		f.pending = append(f.pending, pendingFrame{f.now.Add(h.delay), na[:n]})
		slices.SortStableFunc(f.pending, func(a, b pendingFrame) int { return a.due.Compare(b.due) })
	}
	return nil
}

func (f *fakeNDP) Receive(timeout time.Duration, fn func([]byte)) error {
	deadline := f.now.Add(timeout)
	if len(f.pending) == 0 || f.pending[0].due.After(deadline) {
		f.now = deadline
		return nil
	}
	f.now = f.pending[0].due
	for _, x := range f.extra {
		fn(x)
	}
	f.extra = nil
	for len(f.pending) > 0 && !f.pending[0].due.After(f.now) {
		fn(f.pending[0].frame)
		f.pending = f.pending[1:]
	}
	return nil
}

func (f *fakeNDP) requestsTo(ip netip.Addr) int {
	n := 0
	for _, s := range f.sent {
		if s.target == ip {
			n++
		}
	}
	return n
}

func v6(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestNeighborSolicitationFrame(t *testing.T) {
	target := v6("2001:2:0:1::1234:5678")
	frame := make([]byte, route.NDPFrameLen)
	n := route.NeighborSolicitation(frame, ndpSrcMAC, ndpSrc, target)
	if n != route.NDPFrameLen {
		t.Fatalf("solicitation is %d bytes, want %d", n, route.NDPFrameLen)
	}
	// Decoded and checked by gopacket, independently of the package.
	p := gopacket.NewPacket(frame[:n], layers.LayerTypeEthernet, gopacket.Default)
	eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	ip, _ := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	icmp, _ := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
	ns, _ := p.Layer(layers.LayerTypeICMPv6NeighborSolicitation).(*layers.ICMPv6NeighborSolicitation)
	if eth == nil || ip == nil || icmp == nil || ns == nil {
		t.Fatalf("not Ethernet/IPv6/ICMPv6 NS: %v", p)
	}
	if eth.DstMAC.String() != "33:33:ff:34:56:78" || [6]byte(eth.SrcMAC) != ndpSrcMAC {
		t.Errorf("Ethernet %v -> %v, want the solicited-node group 33:33:ff:34:56:78", eth.SrcMAC, eth.DstMAC)
	}
	if ip.HopLimit != 255 || ip.SrcIP.String() != ndpSrc.String() || ip.DstIP.String() != "ff02::1:ff34:5678" {
		t.Errorf("IPv6 %v -> %v hop limit %d, want %v -> ff02::1:ff34:5678, 255", ip.SrcIP, ip.DstIP, ip.HopLimit, ndpSrc)
	}
	if icmp.TypeCode.Type() != layers.ICMPv6TypeNeighborSolicitation || icmp.TypeCode.Code() != 0 {
		t.Errorf("ICMPv6 %v", icmp.TypeCode)
	}
	if ns.TargetAddress.String() != target.String() || len(ns.Options) != 1 ||
		ns.Options[0].Type != layers.ICMPv6OptSourceAddress || [6]byte(ns.Options[0].Data) != ndpSrcMAC {
		t.Errorf("NS target %v options %v, want %v with our source link-layer address", ns.TargetAddress, ns.Options, target)
	}
	// The checksum, recomputed with gopacket over the same pseudo-header.
	want := icmp.Checksum
	if err := icmp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true}, icmp, gopacket.Payload(icmp.Payload)); err != nil {
		t.Fatal(err)
	}
	if got := binary.BigEndian.Uint16(buf.Bytes()[2:]); got != want {
		t.Errorf("ICMPv6 checksum %#04x, gopacket computes %#04x", want, got)
	}
	if n := route.NeighborSolicitation(frame, ndpSrcMAC, netip.MustParseAddr("198.18.1.1"), target); n != 0 {
		t.Errorf("an IPv4 source made a %d-byte solicitation", n)
	}
	if n := route.NeighborSolicitation(frame[:60], ndpSrcMAC, ndpSrc, target); n != 0 {
		t.Errorf("a short buffer got a %d-byte solicitation", n)
	}
}

func TestParseNeighborAdvertisement(t *testing.T) {
	target, mac := v6("2001:2:0:1::10"), [6]byte{2, 0xfa, 0, 0, 1, 0x0a}
	frame := make([]byte, route.NDPFrameLen)
	n := route.NeighborAdvertisement(frame, mac, ndpSrcMAC, target, ndpSrc)
	na := frame[:n]
	if ip, got, ok := route.ParseNeighborAdvertisement(na); !ok || ip != target || got != mac {
		t.Fatalf("ParseNeighborAdvertisement = %v %x %v, want %v %x", ip, got, ok, target, mac)
	}
	// gopacket agrees on what the advertisement says.
	p := gopacket.NewPacket(na, layers.LayerTypeEthernet, gopacket.Default)
	if a, _ := p.Layer(layers.LayerTypeICMPv6NeighborAdvertisement).(*layers.ICMPv6NeighborAdvertisement); a == nil ||
		a.TargetAddress.String() != target.String() || !a.Solicited() || len(a.Options) != 1 || [6]byte(a.Options[0].Data) != mac {
		t.Errorf("gopacket reads %v", p)
	}
	bad := func(name string, edit func(b []byte)) {
		b := slices.Clone(na)
		edit(b)
		if ip, _, ok := route.ParseNeighborAdvertisement(b); ok {
			t.Errorf("%s: accepted, target %v", name, ip)
		}
	}
	bad("hop limit 64", func(b []byte) { b[21] = 64 })
	bad("checksum", func(b []byte) { b[56] ^= 1 })
	bad("code 1", func(b []byte) { b[55] = 1 })
	bad("IPv4", func(b []byte) { b[12], b[13] = 8, 0 })
	bad("UDP", func(b []byte) { b[20] = 17 })
	bad("payload longer than the frame", func(b []byte) { b[19] = 200 })
	for cut := range n {
		if _, _, ok := route.ParseNeighborAdvertisement(na[:cut]); ok && cut < 14+40+24 {
			t.Errorf("a frame cut to %d bytes was accepted", cut)
		}
	}
	// A solicitation is not an advertisement, and vice versa.
	ns := make([]byte, route.NDPFrameLen)
	ns = ns[:route.NeighborSolicitation(ns, ndpSrcMAC, ndpSrc, target)]
	if _, _, ok := route.ParseNeighborAdvertisement(ns); ok {
		t.Error("a solicitation parsed as an advertisement")
	}
	if _, _, _, ok := route.ParseNeighborSolicitation(na); ok {
		t.Error("an advertisement parsed as a solicitation")
	}
	// Without a target link-layer address option the Ethernet source counts.
	noOpt := slices.Clone(na[:14+40+24])
	binary.BigEndian.PutUint16(noOpt[18:], 24)
	noOpt[56], noOpt[57] = 0, 0
	sum := checksum6(noOpt[22:38], noOpt[38:54], noOpt[54:])
	binary.BigEndian.PutUint16(noOpt[56:], sum)
	if ip, got, ok := route.ParseNeighborAdvertisement(noOpt); !ok || ip != target || got != mac {
		t.Errorf("advertisement without option: %v %x %v", ip, got, ok)
	}
}

// checksum6 is the ICMPv6 checksum of msg between src and dst (RFC 4443),
// written for the test.
func checksum6(src, dst, msg []byte) uint16 {
	var pseudo []byte
	pseudo = append(pseudo, src...)
	pseudo = append(pseudo, dst...)
	pseudo = binary.BigEndian.AppendUint32(pseudo, uint32(len(msg)))
	pseudo = append(pseudo, 0, 0, 0, 58)
	pseudo = append(pseudo, msg...)
	var sum uint32
	for i := 0; i+1 < len(pseudo); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(pseudo[i:]))
	}
	if len(pseudo)%2 == 1 {
		sum += uint32(pseudo[len(pseudo)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

func TestResolveNDPFindsHostsAndReportsSilentOnes(t *testing.T) {
	hosts := map[netip.Addr]ndpHost{
		v6("2001:2:0:1::10"): {mac: [6]byte{2, 0xfa, 0, 0, 1, 0x0a}, delay: 300 * time.Microsecond},
		v6("2001:2:0:1::20"): {mac: [6]byte{2, 0xfa, 0, 0, 1, 0x14}, delay: 400 * time.Microsecond},
		v6("2001:2:0:1::50"): {mac: [6]byte{2, 0xfa, 0, 0, 1, 0x32}, delay: 60 * time.Millisecond}, // late: found after a retry
		v6("fe80::3"):        {mac: [6]byte{2, 0xfa, 0, 0, 0, 2}, delay: 200 * time.Microsecond},   // a router's link-local address
	}
	silent := []netip.Addr{v6("2001:2:0:1::11"), v6("2001:2:0:1::2")}
	start := time.Unix(1_000_000, 0)
	f := &fakeNDP{now: start, hosts: hosts}
	// Noise the resolver must ignore: an advertisement for an address it did
	// not ask for, and one with a bad hop limit for one it did.
	noise := make([]byte, route.NDPFrameLen)
	noise = noise[:route.NeighborAdvertisement(noise, [6]byte{6}, ndpSrcMAC, v6("2001:2:0:1::99"), ndpSrc)]
	forged := make([]byte, route.NDPFrameLen)
	forged = forged[:route.NeighborAdvertisement(forged, [6]byte{6}, ndpSrcMAC, silent[0], ndpSrc)]
	forged[21] = 64
	f.extra = [][]byte{noise, forged}

	ips := []netip.Addr{v6("2001:2:0:1::10"), silent[0], v6("2001:2:0:1::20"), v6("2001:2:0:1::50"), silent[1], v6("fe80::3%wan0"),
		v6("2001:2:0:1::10"), netip.MustParseAddr("198.18.1.10")} // a duplicate and an IPv4 address: ignored
	found := map[netip.Addr][6]byte{}
	stats, err := route.ResolveNDP(context.Background(), f, ips, route.NDPOptions{SrcMAC: ndpSrcMAC, SrcIP: ndpSrc, Rate: 1000},
		func(ip netip.Addr, mac [6]byte) {
			if _, dup := found[ip]; dup {
				t.Errorf("%v found twice", ip)
			}
			found[ip] = mac
		})
	if err != nil {
		t.Fatalf("ResolveNDP: %v", err)
	}
	if len(found) != len(hosts) {
		t.Errorf("found %v, want the %d hosts", found, len(hosts))
	}
	for ip, h := range hosts {
		if found[ip] != h.mac {
			t.Errorf("%v: MAC %x, want %x", ip, found[ip], h.mac)
		}
	}
	for _, ip := range silent {
		if _, ok := found[ip]; ok {
			t.Errorf("silent %v found", ip)
		}
		if n := f.requestsTo(ip); n != 3 {
			t.Errorf("silent %v got %d solicitations, want 3", ip, n)
		}
	}
	if stats.Found != 4 || stats.Silent != 2 || stats.Requests != len(f.sent) || f.requestsTo(v6("2001:2:0:1::50")) != 2 {
		t.Errorf("stats %+v, %d solicitations sent, %d to the late host", stats, len(f.sent), f.requestsTo(v6("2001:2:0:1::50")))
	}
	// The first timeout follows the round trips measured (under a
	// millisecond here): the floor, 20 ms, so the silent hosts are given up
	// after 20+40+80 ms.
	if stats.Timeout != route.DefaultARPMinTimeout || stats.Elapsed > 200*time.Millisecond {
		t.Errorf("timeout %v, elapsed %v; want the 20 ms floor and about 140 ms", stats.Timeout, stats.Elapsed)
	}
	if _, err := route.ResolveNDP(context.Background(), f, ips, route.NDPOptions{SrcIP: netip.MustParseAddr("198.18.1.1")}, nil); err == nil {
		t.Error("an IPv4 source was accepted")
	}
}

func TestKnownNDPTakesTheNeighbourCache(t *testing.T) {
	known := v6("2001:2:0:1::10")
	f := &fakeNDP{neighbors: map[netip.Addr][6]byte{known: {2, 1, 2, 3, 4, 5}}}
	found := map[netip.Addr][6]byte{}
	ips := []netip.Addr{known, v6("2001:2:0:1::11"), v6("2001:2:0:1::11%lan0"), netip.MustParseAddr("198.18.1.1"), netip.MustParseAddr("::ffff:198.18.1.1")}
	todo, err := route.KnownNDP(f, ips, found)
	if err != nil || found[known] != [6]byte{2, 1, 2, 3, 4, 5} || len(found) != 1 || !slices.Equal(todo, []netip.Addr{v6("2001:2:0:1::11")}) {
		t.Errorf("KnownNDP: %v, found %v, todo %v", err, found, todo)
	}
}

func TestSolicitedNodeMulticast(t *testing.T) {
	ip, mac := route.SolicitedNodeMulticast(v6("fe80::2aa:ff:fe28:9c5a"))
	if ip != v6("ff02::1:ff28:9c5a") || mac != [6]byte{0x33, 0x33, 0xff, 0x28, 0x9c, 0x5a} { // RFC 4291's example
		t.Errorf("SolicitedNodeMulticast = %v %x", ip, mac)
	}
}

// FuzzParseNDP: the NDP parsers never panic, and whatever they accept
// gopacket reads as the same message: an IPv6 neighbour advertisement (or
// solicitation) with hop limit 255 and the same target address.
func FuzzParseNDP(f *testing.F) {
	target := v6("2001:2:0:1::10")
	na := make([]byte, route.NDPFrameLen)
	f.Add(na[:route.NeighborAdvertisement(na, [6]byte{2, 0xfa, 0, 0, 1, 0x0a}, ndpSrcMAC, target, ndpSrc)])
	ns := make([]byte, route.NDPFrameLen)
	f.Add(ns[:route.NeighborSolicitation(ns, ndpSrcMAC, ndpSrc, target)])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, frame []byte) {
		check := func(kind string, ok bool, got netip.Addr, layer gopacket.LayerType) {
			if !ok {
				return
			}
			p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
			ip, _ := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
			if ip == nil || ip.HopLimit != 255 || p.Layer(layer) == nil {
				t.Fatalf("%s accepted, gopacket reads %v", kind, p)
			}
			var want []byte
			switch m := p.Layer(layer).(type) {
			case *layers.ICMPv6NeighborAdvertisement:
				want = m.TargetAddress
			case *layers.ICMPv6NeighborSolicitation:
				want = m.TargetAddress
			}
			if w, _ := netip.AddrFromSlice(want); w != got {
				t.Fatalf("%s target %v, gopacket reads %v", kind, got, w)
			}
		}
		ip, _, ok := route.ParseNeighborAdvertisement(frame)
		check("advertisement", ok, ip, layers.LayerTypeICMPv6NeighborAdvertisement)
		ip, _, _, ok = route.ParseNeighborSolicitation(frame)
		check("solicitation", ok, ip, layers.LayerTypeICMPv6NeighborSolicitation)
	})
}

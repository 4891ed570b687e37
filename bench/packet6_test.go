package bench

import (
	"net/netip"
	"testing"

	"github.com/fastscan/fastscan/cookie"
	"github.com/fastscan/fastscan/packet"
	"github.com/fastscan/fastscan/packet/packettest"
)

// The IPv6 counterparts of the benchmarks in packet_test.go and cookie_test.go,
// with the same shapes, so that the two families compare side by side:
//
//	go test -run '^$' -bench 'TemplatePut|ParseReply|CookieSum' -benchmem ./bench/

var benchFlow6 = packettest.Flow6{
	LocalMAC:   benchFlow.LocalMAC,
	TargetMAC:  benchFlow.TargetMAC,
	LocalIP:    netip.MustParseAddr("2001:2::1"),
	TargetIP:   netip.MustParseAddr("2001:2:0:1::a0b"),
	LocalPort:  benchFlow.LocalPort,
	TargetPort: benchFlow.TargetPort,
}

func benchTemplate6(b *testing.B) *packet.SYN6Template {
	b.Helper()
	tmpl, err := packet.NewSYN6Template(packet.SYN6Params{
		SrcMAC: benchFlow6.LocalMAC, DstMAC: benchFlow6.TargetMAC, SrcIP: benchFlow6.LocalIP,
	})
	if err != nil {
		b.Fatal(err)
	}
	return tmpl
}

// benchTargets6 returns n IPv6 targets in 2001:2:0:1::/64, as a target set would give them.
func benchTargets6(n int) []netip.Addr {
	ts := make([]netip.Addr, n)
	for i := range ts {
		a := benchFlow6.TargetIP.As16()
		a[14], a[15] = byte(i>>8), byte(i)
		ts[i] = netip.AddrFrom16(a)
	}
	return ts
}

func BenchmarkSYN6TemplatePut(b *testing.B) {
	tmpl := benchTemplate6(b)
	buf := make([]byte, tmpl.Len())
	mac := [6]byte{0x02, 0, 0, 0, 0, 0x03}
	targets := benchTargets6(1024)
	b.ReportAllocs()
	b.SetBytes(int64(tmpl.Len()))
	var i uint32
	for b.Loop() {
		i++
		seq := i * 2654435761
		tmpl.Put(buf, &mac, targets[i&1023], uint16(i), 40000, seq, seq)
	}
}

// BenchmarkUDP6TemplatePut: as BenchmarkUDPTemplatePut, an NTP-shaped request.
func BenchmarkUDP6TemplatePut(b *testing.B) {
	tmpl, err := packet.NewUDP6Template(packet.UDP6Params{SrcIP: benchFlow6.LocalIP, DstPort: 123, Payload: make([]byte, 48), CookieOffset: 40, CookieLen: 8})
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 256)
	mac := [6]byte{2, 0, 0, 0, 0, 2}
	targets := benchTargets6(1024)
	b.SetBytes(int64(tmpl.Len()))
	b.ReportAllocs()
	var i uint32
	for b.Loop() {
		i++
		c := uint64(i) * 0x9E3779B97F4A7C15
		tmpl.Put(buf, &mac, targets[i&1023], uint16(61000+i%4000), c, uint32(c))
	}
}

func BenchmarkParseReply6SYNACK(b *testing.B) {
	frame := packettest.SYNACK6(b, benchFlow6, 0x12345678)
	var r packet.Reply
	b.ReportAllocs()
	for b.Loop() {
		if !packet.ParseReplyAny(frame, &r) {
			b.Fatal("rejected")
		}
	}
}

// BenchmarkParseReply6SYNACKHopByHop: a SYN-ACK behind a hop-by-hop options header.
func BenchmarkParseReply6SYNACKHopByHop(b *testing.B) {
	frame := packettest.WithExtensionHeaders(b, packettest.SYNACK6(b, benchFlow6, 0x12345678), 14,
		packettest.ExtensionHeader{Type: 0, Body: make([]byte, 6)})
	var r packet.Reply
	b.ReportAllocs()
	for b.Loop() {
		if !packet.ParseReplyAny(frame, &r) {
			b.Fatal("rejected")
		}
	}
}

func BenchmarkParseReply6ICMP(b *testing.B) {
	tmpl := benchTemplate6(b)
	probe := make([]byte, tmpl.Len())
	tmpl.Put(probe, nil, benchFlow6.TargetIP, benchFlow6.TargetPort, benchFlow6.LocalPort, 0x12345678, 1)
	frame := packettest.ICMPv6Unreachable(b, probe, netip.MustParseAddr("2001:2:0:ff::1"), packet.ICMPv6AdminProhibited)
	var r packet.Reply
	b.ReportAllocs()
	for b.Loop() {
		if !packet.ParseReplyAny(frame, &r) {
			b.Fatal("rejected")
		}
	}
}

// BenchmarkCookieSumIPv6 measures one IPv6 SYN cookie (per probe and per reply).
func BenchmarkCookieSumIPv6(b *testing.B) {
	k := cookie.NewKey(0x5eed)
	src := benchFlow6.LocalIP.As16()
	dst := benchFlow6.TargetIP.As16()
	var sink uint32
	b.ReportAllocs()
	for i := uint32(0); b.Loop(); i++ {
		dst[15] = byte(i)
		sink += k.SumIPv6(src, dst, 40000+uint16(i&0x3ff), uint16(i))
	}
	_ = sink
}

// BenchmarkCookieSumAddr measures the family-neutral form on IPv6 addresses.
func BenchmarkCookieSumAddr(b *testing.B) {
	k := cookie.NewKey(0x5eed)
	targets := benchTargets6(1024)
	var sink uint32
	b.ReportAllocs()
	for i := uint32(0); b.Loop(); i++ {
		sink += k.SumAddr(benchFlow6.LocalIP, targets[i&1023], 40000+uint16(i&0x3ff), uint16(i))
	}
	_ = sink
}

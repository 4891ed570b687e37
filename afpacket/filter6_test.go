package afpacket_test

import (
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/fastscan/fastscan/afpacket"
)

var (
	filterLocal6 = netip.MustParseAddr("2001:2::1")
	filterOther6 = netip.MustParseAddr("2001:2::3")
)

// frame6 builds an Ethernet + IPv6 frame to dst with next header proto (a TCP
// or UDP header with destination port port, or an ICMPv6 message), with a
// Destination Options header first when ext is set.
func frame6(tb testing.TB, dst netip.Addr, proto layers.IPProtocol, port uint16, ext bool) []byte {
	tb.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, EthernetType: layers.EthernetTypeIPv6}
	ip := &layers.IPv6{Version: 6, HopLimit: 64, SrcIP: net.ParseIP("2001:2::2"), DstIP: dst.AsSlice(), NextHeader: proto}
	var ls []gopacket.SerializableLayer
	ls = append(ls, eth, ip)
	if ext {
		ip.NextHeader = layers.IPProtocolIPv6Destination
		opts := &layers.IPv6Destination{}
		opts.NextHeader = proto
		opts.Options = []*layers.IPv6DestinationOption{{OptionType: 1, OptionLength: 4, OptionData: []byte{0, 0, 0, 0}}}
		ls = append(ls, opts)
	}
	switch proto {
	case layers.IPProtocolTCP:
		tcp := &layers.TCP{SrcPort: 80, DstPort: layers.TCPPort(port), SYN: true, ACK: true, Window: 1024}
		tcp.SetNetworkLayerForChecksum(ip)
		ls = append(ls, tcp)
	case layers.IPProtocolUDP:
		udp := &layers.UDP{SrcPort: 53, DstPort: layers.UDPPort(port)}
		udp.SetNetworkLayerForChecksum(ip)
		ls = append(ls, udp, gopacket.Payload([]byte("pong")))
	case layers.IPProtocolICMPv6:
		icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(1, 4)}
		icmp.SetNetworkLayerForChecksum(ip)
		ls = append(ls, icmp, gopacket.Payload(make([]byte, 52)))
	default:
		ls = append(ls, gopacket.Payload(make([]byte, 8)))
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func TestReplyFilterDual(t *testing.T) {
	prog, err := afpacket.ReplyFilterDual(filterLocal, filterLocal6, 1000, 2000, tcpAndUDP)
	if err != nil {
		t.Fatal(err)
	}
	dual := newVM(t, prog)
	prog, err = afpacket.ReplyFilterDual(netip.Addr{}, filterLocal6, 1000, 2000, tcpAndUDP)
	if err != nil {
		t.Fatal(err)
	}
	only6 := newVM(t, prog)
	v4 := func(port uint16) []byte {
		return pkt{dst: filterLocal, proto: layers.IPProtocolTCP, port: port}.build(t)
	}
	cases := []struct {
		name        string
		frame       []byte
		dual, only6 bool
	}{
		{"ipv6 tcp inside", frame6(t, filterLocal6, layers.IPProtocolTCP, 1500, false), true, true},
		{"ipv6 tcp lo", frame6(t, filterLocal6, layers.IPProtocolTCP, 1000, false), true, true},
		{"ipv6 tcp hi", frame6(t, filterLocal6, layers.IPProtocolTCP, 2000, false), true, true},
		{"ipv6 tcp below", frame6(t, filterLocal6, layers.IPProtocolTCP, 999, false), false, false},
		{"ipv6 tcp above", frame6(t, filterLocal6, layers.IPProtocolTCP, 2001, false), false, false},
		{"ipv6 udp inside", frame6(t, filterLocal6, layers.IPProtocolUDP, 1234, false), true, true},
		{"ipv6 udp other port", frame6(t, filterLocal6, layers.IPProtocolUDP, 53, false), false, false},
		{"ipv6 icmpv6", frame6(t, filterLocal6, layers.IPProtocolICMPv6, 0, false), true, true},
		{"ipv6 other host", frame6(t, filterOther6, layers.IPProtocolTCP, 1500, false), false, false},
		{"ipv6 other host icmpv6", frame6(t, filterOther6, layers.IPProtocolICMPv6, 0, false), false, false},
		{"ipv6 sctp", frame6(t, filterLocal6, layers.IPProtocolSCTP, 1500, false), false, false},
		{"ipv6 extension header first", frame6(t, filterLocal6, layers.IPProtocolTCP, 1500, true), false, false},
		{"ipv4 tcp inside", v4(1500), true, false},
		{"ipv4 tcp outside", v4(80), false, false},
		{"arp", arpFrame(t), false, false},
	}
	for _, c := range cases {
		if got := accepts(t, dual, c.frame); got != c.dual {
			t.Errorf("%s: dual filter accepted = %v, want %v", c.name, got, c.dual)
		}
		if got := accepts(t, only6, c.frame); got != c.only6 {
			t.Errorf("%s: IPv6-only filter accepted = %v, want %v", c.name, got, c.only6)
		}
	}
	// Truncated IPv6 frames are dropped, never read past their end.
	full := frame6(t, filterLocal6, layers.IPProtocolTCP, 1500, false)
	for n := 0; n < 14+40+4; n++ {
		if accepts(t, dual, full[:n]) {
			t.Errorf("frame cut to %d bytes accepted", n)
		}
	}
	for _, bad := range [][2]netip.Addr{{filterLocal, filterLocal}, {filterLocal6, filterLocal6}, {filterLocal, netip.MustParseAddr("::ffff:1.2.3.4")}} {
		if _, err := afpacket.ReplyFilterDual(bad[0], bad[1], 1, 2, tcpAndUDP); err == nil {
			t.Errorf("ReplyFilterDual(%v, %v) accepted", bad[0], bad[1])
		}
	}
}

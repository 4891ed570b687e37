package lab_test

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/fastscan/fastscan/lab"
	"github.com/fastscan/fastscan/lab/labtest"
)

// neighborSolicitation builds, with gopacket, a neighbour solicitation for
// target from the scanner's LAN address and MAC.
func neighborSolicitation(t *testing.T, tr lab.Truth, target netip.Addr) []byte {
	t.Helper()
	tb := target.As16()
	dst := net.IP{0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, tb[13], tb[14], tb[15]}
	eth := &layers.Ethernet{SrcMAC: tr.ScannerLANMAC[:], DstMAC: net.HardwareAddr{0x33, 0x33, 0xff, tb[13], tb[14], tb[15]}, EthernetType: layers.EthernetTypeIPv6}
	ip := &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolICMPv6, HopLimit: 255, SrcIP: tr.ScannerLANAddr6.AsSlice(), DstIP: dst}
	icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeNeighborSolicitation, 0)}
	if err := icmp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	ns := &layers.ICMPv6NeighborSolicitation{TargetAddress: target.AsSlice(),
		Options: layers.ICMPv6Options{{Type: layers.ICMPv6OptSourceAddress, Data: tr.ScannerLANMAC[:]}}}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}, eth, ip, icmp, ns); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// The slow LAN host answers a neighbour solicitation once, LateARPDelay
// after it, with its MAC; the others answer at once. gopacket decodes the
// advertisements (and verifies nothing the lab wrote by itself).
func TestLateNDPHostAnswersLate(t *testing.T) {
	l := labtest.Start(t)
	tr := l.Truth()
	var fd int
	err := l.Do(l.ScannerNS(), func() error {
		ifc, err := net.InterfaceByName(lab.ScannerLANIface)
		if err != nil {
			return err
		}
		if fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0xdd86); err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: 0xdd86, Ifindex: ifc.Index})
	})
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	for _, h := range tr.Hosts {
		req := neighborSolicitation(t, tr, h.Addr6)
		start := time.Now()
		if _, err := unix.Write(fd, req); err != nil {
			t.Fatal(err)
		}
		var replies []time.Duration
		buf := make([]byte, 1600)
		for time.Since(start) < 4*lab.LateARPDelay {
			pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			unix.Poll(pfd, 5)
			for {
				n, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT)
				if err != nil {
					break
				}
				if n < 14 || binary.BigEndian.Uint16(buf[12:]) != 0x86dd {
					continue
				}
				p := gopacket.NewPacket(buf[:n], layers.LayerTypeEthernet, gopacket.Default)
				na, _ := p.Layer(layers.LayerTypeICMPv6NeighborAdvertisement).(*layers.ICMPv6NeighborAdvertisement)
				ip, _ := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
				if na == nil || !na.TargetAddress.Equal(h.Addr6.AsSlice()) {
					continue
				}
				var tlla net.HardwareAddr
				for _, o := range na.Options {
					if o.Type == layers.ICMPv6OptTargetAddress {
						tlla = o.Data
					}
				}
				eth := p.LinkLayer().(*layers.Ethernet)
				if tlla.String() != net.HardwareAddr(h.MAC[:]).String() || eth.SrcMAC.String() != tlla.String() ||
					!na.Solicited() || ip.HopLimit != 255 || !ip.DstIP.Equal(tr.ScannerLANAddr6.AsSlice()) {
					t.Errorf("%v answered NDP with %v", h.Addr6, p)
				}
				replies = append(replies, time.Since(start))
			}
		}
		if len(replies) != 1 {
			t.Errorf("%v: %d neighbour advertisements (%v), want 1", h.Addr6, len(replies), replies)
			continue
		}
		t.Logf("%v answered NDP after %v", h.Addr6, replies[0])
		if h.ARPDelay > 0 && (replies[0] < h.ARPDelay || replies[0] > h.ARPDelay+40*time.Millisecond) {
			t.Errorf("%v answered NDP after %v, want %v late", h.Addr6, replies[0], h.ARPDelay)
		}
		if h.ARPDelay == 0 && replies[0] > 20*time.Millisecond {
			t.Errorf("%v answered NDP after %v, want at once", h.Addr6, replies[0])
		}
	}
}

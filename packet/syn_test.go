package packet_test

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/fastscan/fastscan/packet"
)

// refTCPChecksumOK verifies a TCP checksum with the naive reference sum over
// a hand-built pseudo-header and the segment.
func refTCPChecksumOK(src, dst net.IP, segment []byte) bool {
	ph := make([]byte, 0, 12+len(segment))
	ph = append(ph, src.To4()...)
	ph = append(ph, dst.To4()...)
	ph = append(ph, 0, 6, byte(len(segment)>>8), byte(len(segment)))
	ph = append(ph, segment...)
	return refSum(ph) == 0xffff
}

func TestSYNTemplatePutDecodesWithGopacket(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	params := []packet.SYNParams{
		{SrcMAC: [6]byte{0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee}, DstMAC: [6]byte{0x02, 1, 2, 3, 4, 5}, SrcIP: 0xC6120001},
		{SrcMAC: [6]byte{0x02, 9, 9, 9, 9, 9}, DstMAC: [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xfe}, SrcIP: 0xffffffff,
			TTL: 255, Window: 65535, MSS: 536},
		{SrcIP: 0}, // all-zero source: checksum corner cases
	}
	for _, p := range params {
		tmpl, err := packet.NewSYNTemplate(p)
		if err != nil {
			t.Fatal(err)
		}
		wantTTL, wantWin, wantMSS := p.TTL, p.Window, p.MSS
		if wantTTL == 0 {
			wantTTL = 64
		}
		if wantWin == 0 {
			wantWin = 1024
		}
		if wantMSS == 0 {
			wantMSS = 1460
		}
		buf := make([]byte, 128)
		for i := range 20000 {
			dstIP := r.Uint32()
			dstPort, srcPort, ipID := uint16(r.Uint32()), uint16(r.Uint32()), uint16(r.Uint32())
			seq := r.Uint32()
			switch i {
			case 0:
				dstIP, dstPort, srcPort, ipID, seq = 0, 0, 0, 0, 0
			case 1:
				dstIP, dstPort, srcPort, ipID, seq = 0xffffffff, 0xffff, 0xffff, 0xffff, 0xffffffff
			}
			var dstMAC *[6]byte
			wantMAC := p.DstMAC
			if i%2 == 1 {
				m := [6]byte{0x02, byte(i), byte(i >> 8), 1, 2, 3}
				dstMAC, wantMAC = &m, m
			}
			for j := range buf {
				buf[j] = 0xA5
			}
			n := tmpl.Put(buf, dstMAC, dstIP, dstPort, srcPort, seq, ipID)
			if n != tmpl.Len() || n < 58 {
				t.Fatalf("Put returned %d, Len %d", n, tmpl.Len())
			}
			if buf[n] != 0xA5 {
				t.Fatal("Put wrote past its length")
			}
			frame := buf[:n]
			pkt := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
			if el := pkt.ErrorLayer(); el != nil {
				t.Fatalf("decode: %v", el.Error())
			}
			eth := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
			ip := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
			tcp := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)

			if !bytes.Equal(eth.DstMAC, wantMAC[:]) || !bytes.Equal(eth.SrcMAC, p.SrcMAC[:]) ||
				eth.EthernetType != layers.EthernetTypeIPv4 {
				t.Fatalf("ethernet = %v > %v %v", eth.SrcMAC, eth.DstMAC, eth.EthernetType)
			}
			if ip.Version != 4 || ip.IHL != 5 || ip.Length != 44 || ip.Flags != layers.IPv4DontFragment ||
				ip.FragOffset != 0 || ip.TTL != wantTTL || ip.Protocol != layers.IPProtocolTCP || ip.Id != ipID {
				t.Fatalf("ipv4 header = %+v", ip)
			}
			if got := binary.BigEndian.Uint32(ip.SrcIP); got != p.SrcIP {
				t.Fatalf("src IP %#x, want %#x", got, p.SrcIP)
			}
			if got := binary.BigEndian.Uint32(ip.DstIP); got != dstIP {
				t.Fatalf("dst IP %#x, want %#x", got, dstIP)
			}
			ipHdr := frame[14:34]
			if refSum(ipHdr) != 0xffff {
				t.Fatalf("IPv4 checksum %#04x does not verify (header % x)", ip.Checksum, ipHdr)
			}
			if uint16(tcp.SrcPort) != srcPort || uint16(tcp.DstPort) != dstPort || tcp.Seq != seq || tcp.Ack != 0 {
				t.Fatalf("tcp ports/seq = %d %d %#x %#x", tcp.SrcPort, tcp.DstPort, tcp.Seq, tcp.Ack)
			}
			if !tcp.SYN || tcp.ACK || tcp.RST || tcp.FIN || tcp.PSH || tcp.URG || tcp.Window != wantWin {
				t.Fatalf("tcp flags/window = %+v", tcp)
			}
			if len(tcp.Options) != 1 || tcp.Options[0].OptionType != layers.TCPOptionKindMSS ||
				binary.BigEndian.Uint16(tcp.Options[0].OptionData) != wantMSS {
				t.Fatalf("tcp options = %v", tcp.Options)
			}
			if !refTCPChecksumOK(ip.SrcIP, ip.DstIP, frame[34:58]) {
				t.Fatalf("TCP checksum %#04x does not verify", tcp.Checksum)
			}
			// The template's own views agree.
			if !packet.IPv4(frame[14:]).IsChecksumValid() ||
				!packet.TCP(frame[34:58]).IsChecksumValid(p.SrcIP, dstIP) {
				t.Fatal("checksum views disagree with reference")
			}
		}
	}
}

func TestSYNTemplatePutShortBuffer(t *testing.T) {
	tmpl, err := packet.NewSYNTemplate(packet.SYNParams{SrcIP: 0xC6120001})
	if err != nil {
		t.Fatal(err)
	}
	if n := tmpl.Put(make([]byte, tmpl.Len()-1), nil, 1, 2, 3, 4, 5); n != 0 {
		t.Fatalf("Put into a short buffer returned %d, want 0", n)
	}
}

func TestSYNTemplatePutAllocs(t *testing.T) {
	tmpl, err := packet.NewSYNTemplate(packet.SYNParams{SrcIP: 0xC6120001})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, tmpl.Len())
	mac := [6]byte{2, 0, 0, 0, 0, 1}
	allocs := testing.AllocsPerRun(1000, func() {
		tmpl.Put(buf, &mac, 0xC6120002, 80, 40000, 12345, 7)
	})
	if allocs != 0 {
		t.Fatalf("Put allocates %v times", allocs)
	}
}

package packet_test

import (
	"bytes"
	"encoding/binary"
	"math/rand"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/fastscan/fastscan/packet"
)

// reserialize decodes frame with gopacket and serializes the decoded layers again
// with checksums computed by gopacket: a frame with correct checksums comes back
// byte for byte.
func reserialize(t *testing.T, frame []byte) ([]byte, *layers.IPv4, *layers.UDP) {
	t.Helper()
	p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
	if eth == nil || ip == nil || udp == nil {
		t.Fatalf("not Ethernet/IPv4/UDP: % x", frame)
	}
	ip2, udp2 := *ip, *udp
	if err := udp2.SetNetworkLayerForChecksum(&ip2); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true},
		eth, &ip2, &udp2, gopacket.Payload(udp.Payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), ip, udp
}

func TestUDPTemplatePut(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	payloads := []struct {
		payload []byte
		off, n  int
	}{
		{nil, 0, 0},
		{[]byte{0xab}, 0, 0},
		{bytes.Repeat([]byte{0x5a}, 48), 40, 8}, // NTP-like: transmit timestamp at 40
		{bytes.Repeat([]byte{0x11}, 33), 0, 2},  // DNS-like: id at 0, odd length
		{bytes.Repeat([]byte{0x22}, 40), 13, 4}, // cookie at an odd offset
	}
	for _, pl := range payloads {
		tmpl, err := packet.NewUDPTemplate(packet.UDPParams{
			SrcMAC: [6]byte{2, 0, 0, 0, 0, 1}, DstMAC: [6]byte{2, 0, 0, 0, 0, 2}, SrcIP: 0xC6120001,
			DstPort: 53, Payload: pl.payload, CookieOffset: pl.off, CookieLen: pl.n,
		})
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 1024)
		for i := 0; i < 2000; i++ {
			dstIP, sport, cookie, id := rng.Uint32(), uint16(rng.Uint32()), rng.Uint64(), uint16(rng.Uint32())
			n := tmpl.Put(buf, nil, dstIP, sport, cookie, id)
			frame := buf[:n]
			again, ip, udp := reserialize(t, frame)
			if !bytes.Equal(again, frame) {
				t.Fatalf("payload %d/%d: checksums differ from gopacket's:\n% x\n% x", pl.off, pl.n, frame, again)
			}
			if binary.BigEndian.Uint32(ip.DstIP.To4()) != dstIP || uint16(udp.SrcPort) != sport || udp.DstPort != 53 || ip.Id != id {
				t.Fatalf("fields: %v %v %v %v", ip.DstIP, udp.SrcPort, udp.DstPort, ip.Id)
			}
			want := append([]byte(nil), pl.payload...)
			for k := 0; k < pl.n; k++ {
				want[pl.off+k] = byte(cookie >> (8 * (pl.n - 1 - k)))
			}
			if !bytes.Equal(udp.Payload, want) {
				t.Fatalf("payload % x, want % x", udp.Payload, want)
			}
		}
	}
}

func TestUDPTemplateRejects(t *testing.T) {
	for _, p := range []packet.UDPParams{
		{Payload: make([]byte, packet.MaxUDPPayload+1)},
		{Payload: make([]byte, 4), CookieOffset: 2, CookieLen: 4},
		{Payload: make([]byte, 16), CookieLen: 9},
	} {
		if _, err := packet.NewUDPTemplate(p); err == nil {
			t.Errorf("NewUDPTemplate(%d bytes, cookie %d+%d) accepted", len(p.Payload), p.CookieOffset, p.CookieLen)
		}
	}
}

func TestUDPTemplatePutAllocatesNothing(t *testing.T) {
	tmpl, err := packet.NewUDPTemplate(packet.UDPParams{SrcIP: 1, DstPort: 123, Payload: make([]byte, 48), CookieOffset: 40, CookieLen: 8})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 256)
	mac := [6]byte{1}
	if n := testing.AllocsPerRun(1000, func() { tmpl.Put(buf, &mac, 0xC6130001, 61000, 42, 7) }); n != 0 {
		t.Fatalf("Put allocates %v times", n)
	}
}

package bench

import (
	"testing"

	"github.com/fastscan/fastscan/packet"
	"github.com/fastscan/fastscan/packet/packettest"
)

var benchFlow = packettest.Flow{
	LocalMAC:   [6]byte{0x02, 0, 0, 0, 0, 0x01},
	TargetMAC:  [6]byte{0x02, 0, 0, 0, 0, 0x02},
	LocalIP:    0xC6120001,
	TargetIP:   0xC6130A0B,
	LocalPort:  40000,
	TargetPort: 443,
}

func benchTemplate(b *testing.B) *packet.SYNTemplate {
	b.Helper()
	tmpl, err := packet.NewSYNTemplate(packet.SYNParams{
		SrcMAC: benchFlow.LocalMAC, DstMAC: benchFlow.TargetMAC, SrcIP: benchFlow.LocalIP,
	})
	if err != nil {
		b.Fatal(err)
	}
	return tmpl
}

func BenchmarkSYNTemplatePut(b *testing.B) {
	tmpl := benchTemplate(b)
	buf := make([]byte, tmpl.Len())
	mac := [6]byte{0x02, 0, 0, 0, 0, 0x03}
	b.ReportAllocs()
	b.SetBytes(int64(tmpl.Len()))
	var i uint32
	for b.Loop() {
		i++
		tmpl.Put(buf, &mac, 0xC6130000+i&0xffff, uint16(i), 40000, i*2654435761, uint16(i))
	}
}

func BenchmarkSYNTemplatePutDefaultMAC(b *testing.B) {
	tmpl := benchTemplate(b)
	buf := make([]byte, tmpl.Len())
	b.ReportAllocs()
	var i uint32
	for b.Loop() {
		i++
		tmpl.Put(buf, nil, 0xC6130000+i&0xffff, uint16(i), 40000, i*2654435761, uint16(i))
	}
}

func BenchmarkParseReplySYNACK(b *testing.B) {
	frame := packettest.SYNACK(b, benchFlow, 0x12345678)
	var r packet.Reply
	b.ReportAllocs()
	for b.Loop() {
		if !packet.ParseReply(frame, &r) {
			b.Fatal("rejected")
		}
	}
}

func BenchmarkParseReplyICMP(b *testing.B) {
	tmpl := benchTemplate(b)
	probe := make([]byte, tmpl.Len())
	tmpl.Put(probe, nil, benchFlow.TargetIP, benchFlow.TargetPort, benchFlow.LocalPort, 0x12345678, 1)
	frame := packettest.ICMPUnreachable(b, probe, 0xC612FE01, 3)
	var r packet.Reply
	b.ReportAllocs()
	for b.Loop() {
		if !packet.ParseReply(frame, &r) {
			b.Fatal("rejected")
		}
	}
}

func BenchmarkChecksum1500(b *testing.B) {
	buf := make([]byte, 1500)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		packet.Checksum(buf, 0)
	}
}

func BenchmarkPutARPRequest(b *testing.B) {
	buf := make([]byte, packet.ARPFrameLen)
	b.ReportAllocs()
	var i uint32
	for b.Loop() {
		i++
		packet.PutARPRequest(buf, benchFlow.LocalMAC, benchFlow.LocalIP, 0xC6130000+i)
	}
}

// BenchmarkUDPTemplatePut measures crafting one UDP probe with a 48-byte payload and
// an 8-byte cookie in it (an NTP request's shape).
func BenchmarkUDPTemplatePut(b *testing.B) {
	tmpl, err := packet.NewUDPTemplate(packet.UDPParams{SrcIP: 0xC6120001, DstPort: 123, Payload: make([]byte, 48), CookieOffset: 40, CookieLen: 8})
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 256)
	mac := [6]byte{2, 0, 0, 0, 0, 2}
	b.SetBytes(int64(tmpl.Len()))
	b.ReportAllocs()
	var i uint32
	for b.Loop() {
		i++
		tmpl.Put(buf, &mac, 0xC6130000|i&0xffff, uint16(61000+i%4000), uint64(i)*0x9E3779B97F4A7C15, uint16(i))
	}
}

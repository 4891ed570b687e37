package bench

import (
	"testing"

	"github.com/fastscan/fastscan/udpprobe"
)

// BenchmarkUDPProbePut measures writing one UDP service request with its
// cookie (per probe), for every service.
func BenchmarkUDPProbePut(b *testing.B) {
	buf := make([]byte, 1500)
	for _, p := range udpprobe.All() {
		b.Run(p.Name, func(b *testing.B) {
			port := p.Port
			var n int
			b.SetBytes(int64(len(p.Payload)))
			b.ReportAllocs()
			for i := uint64(0); b.Loop(); i++ {
				n += udpprobe.ForPort(port).Put(buf, i*0x9e3779b97f4a7c15)
			}
			if n == 0 {
				b.Fatal("nothing written")
			}
		})
	}
}

// udpBenchReplies returns realistic replies to the probes Put wrote with
// cookie: the cheapest parse (DNS), a BER walk (SNMP), a fixed header
// (NTP) and a text header scan (SIP).
func udpBenchReplies(b *testing.B, cookie uint64) map[string][]byte {
	b.Helper()
	probe := func(port uint16) []byte {
		p := udpprobe.ForPort(port)
		buf := make([]byte, len(p.Payload))
		p.Put(buf, cookie)
		return buf
	}
	dns := probe(53)
	dns[2] |= 0x80 // QR: the question echoed, no answer

	ntp := make([]byte, 48)
	ntp[0] = 4<<3 | 4 // version 4, server
	copy(ntp[24:32], probe(123)[40:48])

	descr := []byte("Linux fastlab 6.12.0-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.12.9-1 (2025-01-12) x86_64")
	vb := append([]byte{0x30, byte(12 + len(descr)), 0x06, 0x08, 0x2b, 6, 1, 2, 1, 1, 1, 0, 0x04, byte(len(descr))}, descr...)
	vbl := append([]byte{0x30, byte(len(vb))}, vb...)
	pdu := append(append([]byte{0x02, 0x04}, probe(161)[17:21]...), 0x02, 0x01, 0x00, 0x02, 0x01, 0x00)
	pdu = append(append([]byte{0xa2, 0x81, byte(len(pdu) + len(vbl))}, pdu...), vbl...)
	msg := append([]byte{0x02, 0x01, 0x01, 0x04, 0x06}, "public"...)
	msg = append(msg, pdu...)
	snmp := append([]byte{0x30, 0x81, byte(len(msg))}, msg...)

	sipReq := probe(5060)
	via := sipReq[len("OPTIONS sip:fastscan.invalid SIP/2.0\r\n"):]
	for i := range via {
		if via[i] == '\r' {
			via = via[:i]
			break
		}
	}
	sip := []byte("SIP/2.0 200 OK\r\n" +
		string(via) + "=40123;received=198.51.100.7\r\n" +
		"From: <sip:fastscan@fastscan.invalid>;tag=fastscan\r\n" +
		"To: <sip:fastscan.invalid>;tag=as5e1f7a03\r\n" +
		"Call-ID: fastscan-udp-probe@fastscan.invalid\r\n" +
		"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")

	replies := map[string][]byte{"dns": dns, "ntp": ntp, "snmp": snmp, "sip": sip}
	ports := map[string]uint16{"dns": 53, "ntp": 123, "snmp": 161, "sip": 5060}
	for name, r := range replies {
		if !udpprobe.Match(ports[name], r, cookie) {
			b.Fatalf("%s: the benchmark reply does not match:\n%q", name, r)
		}
	}
	return replies
}

// BenchmarkUDPReplyCookie measures reading the echoed cookie out of a UDP
// reply (per reply).
func BenchmarkUDPReplyCookie(b *testing.B) {
	const cookie = 0x0123456789abcdef
	replies := udpBenchReplies(b, cookie)
	for _, c := range []struct {
		name string
		port uint16
	}{{"dns", 53}, {"ntp", 123}, {"snmp", 161}, {"sip", 5060}} {
		reply := replies[c.name]
		b.Run(c.name, func(b *testing.B) {
			var sink uint64
			b.SetBytes(int64(len(reply)))
			b.ReportAllocs()
			for b.Loop() {
				v, ok := udpprobe.ReplyCookie(c.port, reply)
				if !ok {
					b.Fatalf("%s: no cookie", c.name)
				}
				sink += v
			}
			_ = sink
		})
	}
}

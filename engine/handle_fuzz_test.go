package engine

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/fastscan/fastscan/packet/packettest"
	"github.com/fastscan/fastscan/result"
)

// fuzzTarget is what a verdict is about.
type fuzzTarget struct {
	ip    netip.Addr
	port  uint16
	proto result.Proto
}

// FuzzHandle feeds arbitrary frames to the receive path of a scanner of TCP and UDP
// ports. handle must never panic, never modify the frame, and never produce a
// verdict for a reply without a valid cookie. The fuzzer cannot guess a cookie (32
// bits of SipHash for TCP; for UDP the source port and the echoed transaction id),
// so every verdict must be about one of the targets the valid seeds below answer
// for: the fuzzer may mutate a valid reply and keep its cookie, but not forge one.
//
// (An ICMP error whose quote stops before a UDP probe's transaction id is checked
// by its source port alone, about 12 bits over the default port range; reaching
// another target with one needs the quoted address and port both changed to just
// the right values, which random mutation does not find in any fuzzing budget.)
//
// The fuzzer keeps the inputs it found in its cache, and those derived from a valid
// seed keep their cookie: after removing a target from the valid seeds, run
// go clean -fuzzcache, or the cached inputs still answer for it.
func FuzzHandle(f *testing.F) {
	s := hostileScanner(f)
	valid := map[fuzzTarget]bool{}
	frames, want := genuineFrames(f, s)
	for i, frame := range frames {
		f.Add(frame)
		valid[fuzzTarget{want[i].IP, want[i].Port, want[i].Proto}] = true
	}
	// The same targets' replies in other shapes: IP options, a quoted probe with
	// options, a short quote of a UDP probe, link-layer padding. Half the targets
	// stay unanswered, so a forged verdict has somewhere to show.
	f.Add(withIPOptions(genuineSYNACK(f, s, hostileT1, 22), 40))
	f.Add(packettest.ICMPUnreachable(f, withIPOptions(scanProbe(f, s, hostileT2, 22), 8), hostileRouter, 9))
	short, _ := udpScanProbe(f, s, hostileT3, 53)
	f.Add(packettest.ICMPUnreachable(f, short, hostileRouter, 3))
	f.Add(packettest.TCP(f, packettest.Segment{Flow: flowTo(testLocalIP, testSport, hostileT1, 80),
		Ack: s.key.Sum(testLocalIP, hostileT1, testSport, 80) + 1, Flags: 0x14, Padding: 32}))

	// Near misses that must produce nothing: a wrong ack, a stranger with a valid
	// cookie, a tagged reply, a fragment, a truncated reply, a foreign quote.
	cookie := s.key.Sum(testLocalIP, hostileT1, testSport, 22)
	f.Add(packettest.RST(f, flowTo(testLocalIP, testSport, hostileT1, 22), cookie))
	f.Add(packettest.SYNACK(f, flowTo(testLocalIP, testSport, 0xC6130004, 22), s.key.Sum(testLocalIP, 0xC6130004, testSport, 22)+1))
	f.Add(tagged(frames[0], 0x8100, 100))
	f.Add(withIPv4(frames[0], func(ip []byte) { binary.BigEndian.PutUint16(ip[6:], 0x2000) }))
	f.Add(frames[3][:40])
	f.Add(packettest.ICMPUnreachable(f, synProbe(f, testLocalIP, 0x0A010203, 22, testSport, 1), hostileRouter, 13))
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, frame []byte) {
		feed(t, s, frame, 1)
		for _, r := range received(s) {
			if !valid[fuzzTarget{r.IP, r.Port, r.Proto}] {
				t.Fatalf("verdict %+v for a target no valid reply was built for, from % x", r, frame)
			}
			if r.SourceIP != uint32ToAddr(testLocalIP) || r.SourcePort < DefaultSourcePortLo {
				t.Fatalf("verdict %+v from a source we never send from", r)
			}
		}
		if n := s.answered.Load(); n > uint64(len(valid)) {
			t.Fatalf("%d targets answered, only %d could be", n, len(valid))
		}
	})
}

package engine

import (
	"net/netip"
	"testing"

	"github.com/fastscan/fastscan/cookie"
	"github.com/fastscan/fastscan/packet"
	"github.com/fastscan/fastscan/packet/packettest"
	"github.com/fastscan/fastscan/result"
	"github.com/fastscan/fastscan/target"
)

// The probes of both kinds write IPv6 frames for IPv6 targets and IPv4 frames
// for IPv4 ones, and judge the IPv6 replies by their 128-bit cookie: a
// SYN-ACK acknowledging the probe is open, a wrong acknowledgement invalid;
// ICMPv6 codes as nmap reads them. Put and Classify allocate nothing.
func TestProbesIPv6(t *testing.T) {
	ports, err := target.ParsePorts("22,53")
	if err != nil {
		t.Fatal(err)
	}
	env := ProbeEnv{
		SrcMAC: [6]byte{2, 0, 0, 0, 0, 1}, RouterMAC: [6]byte{2, 0, 0, 0, 0, 2}, RouterMAC6: [6]byte{2, 0, 0, 0, 0, 3},
		SrcIP: netip.MustParseAddr("198.18.0.1"), SrcIP6: netip.MustParseAddr("2001:2::2"),
		Key: cookie.NewKey(7), SourcePortLo: 61000, SourcePortHi: 65535,
	}
	p, err := newTCPSYNProbe(env, &ports)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, p.FrameLen())
	target6 := netip.MustParseAddr("2001:2:0:100::5")
	pt := ProbeTarget{Addr: target6, PortIndex: 0, Pos: 3}
	n := p.Put(buf, &pt)
	var r packet.Reply
	if n <= 0 {
		t.Fatalf("Put wrote %d bytes", n)
	}
	// The frame is an IPv6 SYN to the target through the IPv6 router.
	if et := uint16(buf[12])<<8 | uint16(buf[13]); et != 0x86dd || [6]byte(buf[0:6]) != env.RouterMAC6 {
		t.Fatalf("ethertype %#x, destination MAC %x", et, buf[0:6])
	}
	if got := netip.AddrFrom16([16]byte(buf[14+24 : 14+40])); got != target6 {
		t.Fatalf("destination %v, want %v", got, target6)
	}
	seq := uint32(buf[54+4])<<24 | uint32(buf[54+5])<<16 | uint32(buf[54+6])<<8 | uint32(buf[54+7])
	sport := p.SourcePort(&pt)
	flow := packettest.Flow6{LocalMAC: env.SrcMAC, TargetMAC: env.RouterMAC6, LocalIP: env.SrcIP6, TargetIP: target6, LocalPort: sport, TargetPort: 22}
	for _, c := range []struct {
		frame  []byte
		state  result.State
		reason result.Reason
		class  ReplyClass
	}{
		{packettest.SYNACK6(t, flow, seq+1), result.Open, result.ReasonSYNACK, ReplyValid},
		{packettest.SYNACK6(t, flow, seq+2), 0, 0, ReplyInvalid},
	} {
		if !packet.ParseReply(c.frame, &r) || !r.IPv6 {
			t.Fatalf("reply not parsed as IPv6")
		}
		st, reason, class := p.Classify(&r, c.frame, 0)
		if st != c.state || reason != c.reason || class != c.class {
			t.Errorf("Classify: %v %v %v, want %v %v %v", st, reason, class, c.state, c.reason, c.class)
		}
	}
	// An IPv4 target still gets an IPv4 frame from the same probe.
	pt4 := ProbeTarget{Addr: netip.MustParseAddr("198.19.0.5")}
	if n := p.Put(buf, &pt4); n <= 0 || buf[12] != 0x08 || buf[13] != 0x00 {
		t.Fatalf("IPv4 target: %d bytes, ethertype %x", n, buf[12:14])
	}
	frame := packettest.SYNACK6(t, flow, seq+1)
	allocs := testing.AllocsPerRun(200, func() {
		p.Put(buf, &pt)
		packet.ParseReply(frame, &r)
		p.Classify(&r, frame, 0)
	})
	if allocs != 0 {
		t.Errorf("IPv6 Put+ParseReply+Classify allocate %v times", allocs)
	}

	u, err := newUDPServiceProbe(env, &ports)
	if err != nil {
		t.Fatal(err)
	}
	ubuf := make([]byte, u.FrameLen())
	upt := ProbeTarget{Addr: target6, PortIndex: 1}
	if n := u.Put(ubuf, &upt); n <= 0 || ubuf[12] != 0x86 || ubuf[14+6] != packet.ProtocolUDP {
		t.Fatalf("UDP IPv6 probe: %d bytes", n)
	}
	if a := testing.AllocsPerRun(200, func() { u.Put(ubuf, &upt) }); a != 0 {
		t.Errorf("IPv6 UDP Put allocates %v times", a)
	}
	for code, want := range map[uint8]result.Reason{0: result.ReasonNoRoute, 1: result.ReasonAdminProhibited, 3: result.ReasonHostUnreachable, 6: result.ReasonRejectRoute} {
		r := packet.Reply{Kind: packet.ReplyICMPUnreachable, IPv6: true, ICMPCode: code, TargetPort: 22, LocalPort: sport, Target6: target6.As16(), Local6: env.SrcIP6.As16()}
		r.Cookie = env.Key.SumIPv6(r.Local6, r.Target6, sport, 22)
		if st, reason, class := p.Classify(&r, nil, 0); st != result.Filtered || reason != want || class != ReplyValid {
			t.Errorf("ICMPv6 code %d: %v %v %v, want filtered %v", code, st, reason, class, want)
		}
	}
}

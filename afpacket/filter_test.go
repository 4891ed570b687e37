package afpacket_test

import (
	"encoding/binary"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/fastscan/fastscan/afpacket"
)

var (
	filterLocal  = netip.MustParseAddr("198.18.0.1")
	filterRemote = netip.MustParseAddr("198.18.0.2")
	filterOther  = netip.MustParseAddr("198.18.0.3")
	tcpAndUDP    = []uint8{unix.IPPROTO_TCP, unix.IPPROTO_UDP}
)

// rawProgram is prog as x/net/bpf's raw instructions.
func rawProgram(prog []unix.SockFilter) []bpf.RawInstruction {
	raw := make([]bpf.RawInstruction, len(prog))
	for i, in := range prog {
		raw[i] = bpf.RawInstruction{Op: in.Code, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	return raw
}

// newVM loads the program the kernel would be given into x/net/bpf's virtual
// machine, which has the kernel's semantics (an out-of-bounds load ends the
// program with 0).
func newVM(tb testing.TB, prog []unix.SockFilter) *bpf.VM {
	tb.Helper()
	insns, ok := bpf.Disassemble(rawProgram(prog))
	if !ok {
		tb.Fatalf("program has instructions x/net/bpf does not know: %v", insns)
	}
	vm, err := bpf.NewVM(insns)
	if err != nil {
		tb.Fatalf("bpf.NewVM: %v", err)
	}
	return vm
}

// replyVM returns a VM running ReplyFilter(local, lo, hi, protocols).
func replyVM(tb testing.TB, local netip.Addr, lo, hi uint16, protocols []uint8) *bpf.VM {
	tb.Helper()
	prog, err := afpacket.ReplyFilter(local, lo, hi, protocols)
	if err != nil {
		tb.Fatalf("ReplyFilter(%v, %d, %d, %v): %v", local, lo, hi, protocols, err)
	}
	return newVM(tb, prog)
}

// accepts runs vm on frame and reports whether it keeps the frame whole (the VM
// returns the program's snap length, which the kernel caps at the frame's).
func accepts(tb testing.TB, vm *bpf.VM, frame []byte) bool {
	tb.Helper()
	n, err := vm.Run(frame)
	if err != nil {
		tb.Fatalf("bpf VM: %v", err)
	}
	if n != 0 && n < len(frame) {
		tb.Fatalf("filter keeps %d of %d bytes; want all or nothing", n, len(frame))
	}
	return n != 0
}

// pkt describes an IPv4 test packet for build.
type pkt struct {
	dst        netip.Addr
	proto      layers.IPProtocol
	port       uint16 // destination port (TCP, UDP, SCTP; the same bytes in a raw payload)
	flags      layers.IPv4Flag
	fragOffset uint16 // in 8-byte units
	options    bool   // a 4-byte IP option (router alert): IHL 6
	vlan       bool   // an 802.1Q tag between Ethernet and IPv4
}

// build serializes p with gopacket: Ethernet (+ 802.1Q) + IPv4 + the transport
// header of p.proto.
func (p pkt) build(tb testing.TB) []byte {
	tb.Helper()
	eth := &layers.Ethernet{
		SrcMAC:       net.HardwareAddr{2, 0, 0, 0, 0, 2},
		DstMAC:       net.HardwareAddr{2, 0, 0, 0, 0, 1},
		EthernetType: layers.EthernetTypeIPv4,
	}
	ip := &layers.IPv4{
		Version: 4, TTL: 64, Id: 1, Protocol: p.proto, Flags: p.flags, FragOffset: p.fragOffset,
		SrcIP: filterRemote.AsSlice(), DstIP: p.dst.AsSlice(),
	}
	if p.options {
		ip.Options = []layers.IPv4Option{{OptionType: 148, OptionLength: 4, OptionData: []byte{0, 0}}}
	}
	var l []gopacket.SerializableLayer
	if p.vlan {
		eth.EthernetType = layers.EthernetTypeDot1Q
		l = append(l, eth, &layers.Dot1Q{VLANIdentifier: 7, Type: layers.EthernetTypeIPv4}, ip)
	} else {
		l = append(l, eth, ip)
	}
	switch p.proto {
	case layers.IPProtocolTCP:
		tcp := &layers.TCP{SrcPort: 80, DstPort: layers.TCPPort(p.port), Seq: 7, Ack: 1001, SYN: true, ACK: true, Window: 1024}
		tcp.SetNetworkLayerForChecksum(ip)
		l = append(l, tcp)
	case layers.IPProtocolUDP:
		udp := &layers.UDP{SrcPort: 53, DstPort: layers.UDPPort(p.port)}
		udp.SetNetworkLayerForChecksum(ip)
		l = append(l, udp, gopacket.Payload("reply"))
	case layers.IPProtocolSCTP:
		l = append(l, &layers.SCTP{SrcPort: 80, DstPort: layers.SCTPPort(p.port), VerificationTag: 1})
	case layers.IPProtocolICMPv4:
		l = append(l, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeDestinationUnreachable, 3)},
			gopacket.Payload(make([]byte, 28)))
	default: // anything else: a payload with the port where TCP and UDP have it
		payload := make([]byte, 20)
		binary.BigEndian.PutUint16(payload[2:], p.port)
		l = append(l, gopacket.Payload(payload))
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, l...); err != nil {
		tb.Fatalf("serialize %+v: %v", p, err)
	}
	return buf.Bytes()
}

func arpFrame(tb testing.TB) []byte {
	tb.Helper()
	buf := gopacket.NewSerializeBuffer()
	err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true},
		&layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{
			AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: layers.ARPRequest, SourceHwAddress: []byte{2, 0, 0, 0, 0, 2}, SourceProtAddress: filterRemote.AsSlice(),
			DstHwAddress: make([]byte, 6), DstProtAddress: filterLocal.AsSlice(),
		})
	if err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func ipv6Frame(tb testing.TB) []byte {
	tb.Helper()
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP,
		SrcIP: net.ParseIP("2001:db8::2"), DstIP: net.ParseIP("2001:db8::1")}
	tcp := &layers.TCP{SrcPort: 80, DstPort: 1500, SYN: true, ACK: true}
	tcp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		&layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, EthernetType: layers.EthernetTypeIPv6},
		ip, tcp)
	if err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func TestReplyFilterIsWellFormed(t *testing.T) {
	for _, protocols := range [][]uint8{nil, tcpAndUDP, {6, 17, 132}, {1}} {
		prog, err := afpacket.ReplyFilter(filterLocal, 1, 65535, protocols)
		if err != nil {
			t.Fatalf("ReplyFilter(%v): %v", protocols, err)
		}
		if len(prog) == 0 || len(prog) > unix.BPF_MAXINSNS {
			t.Fatalf("program has %d instructions", len(prog))
		}
		insns, ok := bpf.Disassemble(rawProgram(prog))
		if !ok {
			t.Fatalf("protocols %v: undecodable instructions in %v", protocols, insns)
		}
		for pc, in := range insns {
			if r, ok := in.(bpf.RetConstant); ok && r.Val != 0 && r.Val != 65535 {
				t.Errorf("protocols %v: instruction %d returns %d, want 0 or 65535", protocols, pc, r.Val)
			}
		}
		if _, ok := insns[len(insns)-1].(bpf.RetConstant); !ok {
			t.Errorf("protocols %v: last instruction %v is not a return", protocols, insns[len(insns)-1])
		}
		newVM(t, prog) // NewVM checks that every jump lands inside the program
	}
}

func TestReplyFilterDecisions(t *testing.T) {
	tcp := func(dst netip.Addr, port uint16) pkt { return pkt{dst: dst, proto: layers.IPProtocolTCP, port: port} }
	udp := func(port uint16) pkt { return pkt{dst: filterLocal, proto: layers.IPProtocolUDP, port: port} }
	edit := func(p pkt, f func(*pkt)) pkt { f(&p); return p }
	icmp := pkt{dst: filterLocal, proto: layers.IPProtocolICMPv4}
	cases := []struct {
		name   string
		p      pkt
		frame  func(testing.TB) []byte // instead of p
		keep   int                     // bytes kept from the start; 0 keeps all
		accept bool
	}{
		{name: "tcp port lo", p: tcp(filterLocal, 1000), accept: true},
		{name: "tcp port hi", p: tcp(filterLocal, 2000), accept: true},
		{name: "tcp port inside", p: tcp(filterLocal, 1500), accept: true},
		{name: "tcp port below", p: tcp(filterLocal, 999)},
		{name: "tcp port above", p: tcp(filterLocal, 2001)},
		{name: "tcp port 0", p: tcp(filterLocal, 0)},
		{name: "tcp other host", p: tcp(filterOther, 1500)},
		{name: "tcp DF", p: edit(tcp(filterLocal, 1500), func(p *pkt) { p.flags = layers.IPv4DontFragment }), accept: true},
		{name: "tcp first fragment (MF set)", p: edit(tcp(filterLocal, 1500), func(p *pkt) { p.flags = layers.IPv4MoreFragments }), accept: true},
		{name: "tcp later fragment", p: edit(tcp(filterLocal, 1500), func(p *pkt) { p.fragOffset = 3 })},
		{name: "tcp last fragment", p: edit(tcp(filterLocal, 1500), func(p *pkt) { p.fragOffset = 0x1fff })},
		{name: "tcp with IP options, port inside", p: edit(tcp(filterLocal, 1500), func(p *pkt) { p.options = true }), accept: true},
		{name: "tcp with IP options, port outside", p: edit(tcp(filterLocal, 80), func(p *pkt) { p.options = true })},
		{name: "tcp VLAN-tagged", p: edit(tcp(filterLocal, 1500), func(p *pkt) { p.vlan = true })},
		{name: "tcp truncated in the port", p: tcp(filterLocal, 1500), keep: 14 + 20 + 3},
		{name: "tcp truncated after the port", p: tcp(filterLocal, 1500), keep: 14 + 20 + 4, accept: true},
		{name: "udp to our ports", p: udp(1500), accept: true},
		{name: "udp port lo", p: udp(1000), accept: true},
		{name: "udp port hi", p: udp(2000), accept: true},
		{name: "udp below", p: udp(999)},
		{name: "udp above", p: udp(2001)},
		{name: "udp to other ports", p: udp(53)},
		{name: "udp other host", p: edit(udp(1500), func(p *pkt) { p.dst = filterOther })},
		{name: "udp fragment", p: edit(udp(1500), func(p *pkt) { p.fragOffset = 2 })},
		{name: "udp VLAN-tagged", p: edit(udp(1500), func(p *pkt) { p.vlan = true })},
		{name: "icmp", p: icmp, accept: true},
		{name: "icmp fragment", p: edit(icmp, func(p *pkt) { p.fragOffset = 9 }), accept: true},
		{name: "icmp other host", p: edit(icmp, func(p *pkt) { p.dst = filterOther })},
		{name: "icmp VLAN-tagged", p: edit(icmp, func(p *pkt) { p.vlan = true })},
		{name: "sctp to our ports", p: pkt{dst: filterLocal, proto: layers.IPProtocolSCTP, port: 1500}},
		{name: "gre", p: pkt{dst: filterLocal, proto: layers.IPProtocolGRE, port: 1500}},
		{name: "arp", frame: arpFrame},
		{name: "ipv6", frame: ipv6Frame},
	}
	vm := replyVM(t, filterLocal, 1000, 2000, tcpAndUDP)
	for _, c := range cases {
		var b []byte
		if c.frame != nil {
			b = c.frame(t)
		} else {
			b = c.p.build(t)
		}
		if c.keep > 0 {
			b = b[:c.keep]
		}
		if got := accepts(t, vm, b); got != c.accept {
			t.Errorf("%s: accepted = %v, want %v", c.name, got, c.accept)
		}
	}
}

func TestReplyFilterProtocols(t *testing.T) {
	frames := map[layers.IPProtocol][]byte{}
	for _, proto := range []layers.IPProtocol{layers.IPProtocolTCP, layers.IPProtocolUDP, layers.IPProtocolSCTP, layers.IPProtocolGRE, layers.IPProtocolICMPv4} {
		frames[proto] = pkt{dst: filterLocal, proto: proto, port: 1500}.build(t)
	}
	cases := []struct {
		protocols []uint8
		accept    []layers.IPProtocol
	}{
		{nil, []layers.IPProtocol{layers.IPProtocolICMPv4}},
		{[]uint8{unix.IPPROTO_ICMP}, []layers.IPProtocol{layers.IPProtocolICMPv4}},
		{[]uint8{unix.IPPROTO_TCP}, []layers.IPProtocol{layers.IPProtocolTCP, layers.IPProtocolICMPv4}},
		{[]uint8{unix.IPPROTO_UDP, unix.IPPROTO_UDP}, []layers.IPProtocol{layers.IPProtocolUDP, layers.IPProtocolICMPv4}},
		{tcpAndUDP, []layers.IPProtocol{layers.IPProtocolTCP, layers.IPProtocolUDP, layers.IPProtocolICMPv4}},
		{[]uint8{132, 17, 6, 1}, []layers.IPProtocol{layers.IPProtocolTCP, layers.IPProtocolUDP, layers.IPProtocolSCTP, layers.IPProtocolICMPv4}},
		{[]uint8{47}, []layers.IPProtocol{layers.IPProtocolGRE, layers.IPProtocolICMPv4}},
	}
	for _, c := range cases {
		vm := replyVM(t, filterLocal, 1000, 2000, c.protocols)
		for proto, frame := range frames {
			want := false
			for _, p := range c.accept {
				want = want || p == proto
			}
			if got := accepts(t, vm, frame); got != want {
				t.Errorf("protocols %v: %v accepted = %v, want %v", c.protocols, proto, got, want)
			}
		}
	}
}

func TestReplyFilterManyProtocols(t *testing.T) {
	var all []uint8
	for p := range 256 {
		if p != unix.IPPROTO_ICMP {
			all = append(all, uint8(p))
		}
	}
	if _, err := afpacket.ReplyFilter(filterLocal, 1000, 2000, all); err == nil {
		t.Errorf("ReplyFilter with %d protocols: no error", len(all))
	}
	// The most that fit: every one reaches the port check.
	most := all[:244]
	vm := replyVM(t, filterLocal, 1000, 2000, most)
	for _, p := range most {
		in := pkt{dst: filterLocal, proto: layers.IPProtocol(p), port: 1500}
		out := in
		out.port = 2001
		if !accepts(t, vm, rawIPFrame(t, in)) || accepts(t, vm, rawIPFrame(t, out)) {
			t.Errorf("protocol %d: port check wrong", p)
		}
	}
	if accepts(t, vm, rawIPFrame(t, pkt{dst: filterLocal, proto: layers.IPProtocol(all[244]), port: 1500})) {
		t.Errorf("protocol %d accepted, not in the list", all[244])
	}
}

// rawIPFrame builds p with its transport header as a raw payload, whatever the
// protocol.
func rawIPFrame(tb testing.TB, p pkt) []byte {
	tb.Helper()
	b := pkt{dst: p.dst, proto: layers.IPProtocolGRE, port: p.port}.build(tb)
	b[14+9] = uint8(p.proto) // the checksum is wrong; the filter does not care
	return b
}

func TestReplyFilterFullPortRange(t *testing.T) {
	local := netip.MustParseAddr("127.0.0.1")
	vm := replyVM(t, local, 0, 65535, tcpAndUDP)
	for _, port := range []uint16{0, 1, 80, 65535} {
		for _, proto := range []layers.IPProtocol{layers.IPProtocolTCP, layers.IPProtocolUDP} {
			if !accepts(t, vm, pkt{dst: local, proto: proto, port: port}.build(t)) {
				t.Errorf("%v port %d rejected by a filter for 0-65535", proto, port)
			}
		}
	}
	one := replyVM(t, local, 443, 443, tcpAndUDP)
	for port, want := range map[uint16]bool{442: false, 443: true, 444: false} {
		if got := accepts(t, one, pkt{dst: local, proto: layers.IPProtocolTCP, port: port}.build(t)); got != want {
			t.Errorf("filter for 443-443: port %d accepted = %v", port, got)
		}
	}
}

func TestReplyFilterErrors(t *testing.T) {
	cases := []struct {
		name   string
		local  netip.Addr
		lo, hi uint16
	}{
		{"zero address", netip.Addr{}, 1, 2},
		{"IPv6", netip.MustParseAddr("2001:db8::1"), 1, 2},
		{"IPv4-mapped IPv6", netip.MustParseAddr("::ffff:198.18.0.1"), 1, 2},
		{"empty port range", filterLocal, 2, 1},
	}
	for _, c := range cases {
		if prog, err := afpacket.ReplyFilter(c.local, c.lo, c.hi, tcpAndUDP); err == nil {
			t.Errorf("%s: ReplyFilter(%v, %d, %d) = %d instructions, nil; want an error", c.name, c.local, c.lo, c.hi, len(prog))
		}
	}
}

// legacyReplyFilter is the hand-assembled program ReplyFilter replaced (TCP and
// UDP only), kept as the reference its semantics must match.
func legacyReplyFilter(localIP uint32, lo, hi uint16) []unix.SockFilter {
	const (
		ldh    = unix.BPF_LD | unix.BPF_H | unix.BPF_ABS
		ldw    = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		ldb    = unix.BPF_LD | unix.BPF_B | unix.BPF_ABS
		ldhInd = unix.BPF_LD | unix.BPF_H | unix.BPF_IND
		ldxMSH = unix.BPF_LDX | unix.BPF_B | unix.BPF_MSH
		jeq    = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		jgt    = unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K
		jge    = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
		jset   = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K
		ret    = unix.BPF_RET | unix.BPF_K
	)
	return []unix.SockFilter{
		0:  {Code: ldh, K: 12},
		1:  {Code: jeq, K: 0x0800, Jt: 0, Jf: 13},
		2:  {Code: ldw, K: 30},
		3:  {Code: jeq, K: localIP, Jt: 0, Jf: 11},
		4:  {Code: ldb, K: 23},
		5:  {Code: jeq, K: 6, Jt: 1, Jf: 0},
		6:  {Code: jeq, K: 17, Jt: 0, Jf: 6},
		7:  {Code: ldh, K: 20},
		8:  {Code: jset, K: 0x1fff, Jt: 6, Jf: 0},
		9:  {Code: ldxMSH, K: 14},
		10: {Code: ldhInd, K: 16},
		11: {Code: jge, K: uint32(lo), Jt: 0, Jf: 3},
		12: {Code: jgt, K: uint32(hi), Jt: 2, Jf: 1},
		13: {Code: jeq, K: 1, Jt: 0, Jf: 1},
		14: {Code: ret, K: 65535},
		15: {Code: ret, K: 0},
	}
}

// TestReplyFilterMatchesLegacy runs the legacy program and ReplyFilter for TCP
// and UDP on random variations of real frames: every decision must agree.
func TestReplyFilterMatchesLegacy(t *testing.T) {
	const lo, hi = 1000, 2000
	local := binary.BigEndian.Uint32(filterLocal.AsSlice())
	legacy := newVM(t, legacyReplyFilter(local, lo, hi))
	vm := replyVM(t, filterLocal, lo, hi, tcpAndUDP)
	var bases [][]byte
	for _, proto := range []layers.IPProtocol{layers.IPProtocolTCP, layers.IPProtocolUDP, layers.IPProtocolICMPv4, layers.IPProtocolSCTP} {
		for _, options := range []bool{false, true} {
			bases = append(bases, pkt{dst: filterLocal, proto: proto, port: 1500, options: options}.build(t))
		}
	}
	bases = append(bases, arpFrame(t), ipv6Frame(t), pkt{dst: filterLocal, proto: layers.IPProtocolTCP, port: 1500, vlan: true}.build(t))
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(vs ...uint32) uint32 { return vs[rng.IntN(len(vs))] }
	accepted := 0
	const rounds = 50000
	for range rounds {
		base := bases[rng.IntN(len(bases))]
		b := append([]byte(nil), base...)
		for range 1 + rng.IntN(3) {
			switch rng.IntN(6) {
			case 0: // EtherType
				binary.BigEndian.PutUint16(b[12:], uint16(pick(0x0800, 0x86dd, 0x8100, 0x0806, 0x0801, 0x0008)))
			case 1: // destination
				binary.BigEndian.PutUint32(b[30:], pick(local, local+1, local-1, 0, 0xffffffff, local<<8))
			case 2: // protocol
				b[23] = uint8(pick(0, 1, 6, 17, 47, 132, 255))
			case 3: // flags and fragment offset
				binary.BigEndian.PutUint16(b[20:], uint16(pick(0, 0x4000, 0x2000, 0x2001, 1, 0x1fff, 0x8000, 0xe000, rng.Uint32())))
			case 4: // header length
				b[14] = b[14]&0xf0 | uint8(rng.IntN(16))
			case 5: // a destination port after a header of any length
				if off := 14 + rng.IntN(64) + 2; off+2 <= len(b) {
					binary.BigEndian.PutUint16(b[off:], uint16(pick(0, lo-1, lo, 1500, hi, hi+1, 65535)))
				}
			}
		}
		if rng.IntN(6) == 0 {
			b = b[:rng.IntN(len(b)+1)]
		}
		want, got := accepts(t, legacy, b), accepts(t, vm, b)
		if got != want {
			t.Fatalf("frame % x: ReplyFilter accepts = %v, legacy program %v", b, got, want)
		}
		if got {
			accepted++
		}
	}
	if accepted < rounds/20 || accepted > rounds-rounds/20 {
		t.Errorf("%d of %d random frames accepted: the variations do not exercise both outcomes", accepted, rounds)
	}
}

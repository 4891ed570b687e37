package afpacket_test

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/fastscan/fastscan/afpacket"
)

// runBPF interprets the subset of classic BPF the package emits, with the
// kernel's semantics: an out-of-bounds load ends the program with 0.
func runBPF(t *testing.T, prog []unix.SockFilter, pkt []byte) uint32 {
	t.Helper()
	var a, x uint32
	load := func(off uint32, size int) (uint32, bool) {
		if int(off)+size > len(pkt) {
			return 0, false
		}
		switch size {
		case 1:
			return uint32(pkt[off]), true
		case 2:
			return uint32(binary.BigEndian.Uint16(pkt[off:])), true
		default:
			return binary.BigEndian.Uint32(pkt[off:]), true
		}
	}
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		ok := true
		switch in.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			a, ok = load(in.K, 4)
		case unix.BPF_LD | unix.BPF_H | unix.BPF_ABS:
			a, ok = load(in.K, 2)
		case unix.BPF_LD | unix.BPF_B | unix.BPF_ABS:
			a, ok = load(in.K, 1)
		case unix.BPF_LD | unix.BPF_H | unix.BPF_IND:
			a, ok = load(x+in.K, 2)
		case unix.BPF_LDX | unix.BPF_B | unix.BPF_MSH:
			var b uint32
			b, ok = load(in.K, 1)
			x = 4 * (b & 0xf)
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K:
			pc += branch(a == in.K, in)
		case unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K:
			pc += branch(a > in.K, in)
		case unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K:
			pc += branch(a >= in.K, in)
		case unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K:
			pc += branch(a&in.K != 0, in)
		case unix.BPF_RET | unix.BPF_K:
			return in.K
		default:
			t.Fatalf("instruction %d: opcode %#x not understood by the test interpreter", pc, in.Code)
		}
		if !ok {
			return 0
		}
	}
	t.Fatal("program ran off its end")
	return 0
}

func branch(cond bool, in unix.SockFilter) int {
	if cond {
		return int(in.Jt)
	}
	return int(in.Jf)
}

func TestReplyFilterIsWellFormed(t *testing.T) {
	prog := afpacket.ReplyFilter(0xC6120001, 1, 65535)
	if len(prog) == 0 || len(prog) > unix.BPF_MAXINSNS {
		t.Fatalf("program has %d instructions", len(prog))
	}
	for pc, in := range prog {
		switch in.Code & 0x07 {
		case unix.BPF_JMP:
			for _, off := range []uint8{in.Jt, in.Jf} {
				if target := pc + 1 + int(off); target >= len(prog) {
					t.Errorf("instruction %d jumps to %d, past the end (%d)", pc, target, len(prog))
				}
			}
		case unix.BPF_RET:
			if in.K != 0 && in.K != 65535 {
				t.Errorf("instruction %d returns %d, want 0 or 65535", pc, in.K)
			}
		}
	}
	if last := prog[len(prog)-1]; last.Code&0x07 != unix.BPF_RET {
		t.Errorf("last instruction %+v is not a return", last)
	}
}

func TestReplyFilterDecisions(t *testing.T) {
	const local = 0xC6120001
	mac := [6]byte{2, 0, 0, 0, 0, 1}
	tcp := func(dst uint32, port uint16) frameSpec {
		return frameSpec{dst: mac, srcIP: 0xC6120002, dstIP: dst, proto: unix.IPPROTO_TCP, srcPort: 80, port: port}
	}
	withIHL := func(n int) func([]byte) []byte {
		return func(b []byte) []byte { // move the TCP header n*4-20 bytes further
			out := append([]byte(nil), b[:34]...)
			out = append(out, make([]byte, n*4-20)...)
			out = append(out, b[34:]...)
			out[14] = 0x40 | byte(n)
			return out
		}
	}
	cases := []struct {
		name   string
		f      frameSpec
		edit   func([]byte) []byte
		accept bool
	}{
		{name: "tcp port lo", f: tcp(local, 1000), accept: true},
		{name: "tcp port hi", f: tcp(local, 2000), accept: true},
		{name: "tcp port inside", f: tcp(local, 1500), accept: true},
		{name: "tcp port below", f: tcp(local, 999)},
		{name: "tcp port above", f: tcp(local, 2001)},
		{name: "tcp other host", f: tcp(local+1, 1500)},
		{name: "tcp first fragment (MF set)", f: tcp(local, 1500), accept: true,
			edit: func(b []byte) []byte { b[20] |= 0x20; return b }},
		{name: "tcp later fragment", f: func() frameSpec { f := tcp(local, 1500); f.fragOffset = 3; return f }()},
		{name: "tcp with IP options, port inside", f: tcp(local, 1500), edit: withIHL(6), accept: true},
		{name: "tcp with IP options, port outside", f: tcp(local, 80), edit: withIHL(6)},
		{name: "icmp", f: frameSpec{dst: mac, srcIP: 0xC6120002, dstIP: local, proto: unix.IPPROTO_ICMP}, accept: true},
		{name: "icmp other host", f: frameSpec{dst: mac, dstIP: local + 1, proto: unix.IPPROTO_ICMP}},
		{name: "udp to our ports", f: frameSpec{dst: mac, dstIP: local, proto: unix.IPPROTO_UDP, port: 1500}, accept: true},
		{name: "udp to other ports", f: frameSpec{dst: mac, dstIP: local, proto: unix.IPPROTO_UDP, port: 53}},
		{name: "udp fragment", f: frameSpec{dst: mac, dstIP: local, proto: unix.IPPROTO_UDP, port: 1500, fragOffset: 2}},
		{name: "gre", f: frameSpec{dst: mac, dstIP: local, proto: unix.IPPROTO_GRE, port: 1500}},
		{name: "arp", f: frameSpec{dst: mac, srcIP: 0xC6120002, dstIP: local, arp: true}},
		{name: "truncated tcp", f: tcp(local, 1500), edit: func(b []byte) []byte { return b[:36] }},
		{name: "not ipv4 ethertype", f: tcp(local, 1500), edit: func(b []byte) []byte { b[12], b[13] = 0x86, 0xdd; return b }},
	}
	prog := afpacket.ReplyFilter(local, 1000, 2000)
	for _, c := range cases {
		b := make([]byte, 128)
		b = b[:c.f.put(b)]
		if c.edit != nil {
			b = c.edit(b)
		}
		got := runBPF(t, prog, b) != 0
		if got != c.accept {
			t.Errorf("%s: accepted = %v, want %v", c.name, got, c.accept)
		}
	}
}

func TestReplyFilterFullPortRange(t *testing.T) {
	prog := afpacket.ReplyFilter(0x7F000001, 0, 65535)
	for _, port := range []uint16{0, 1, 80, 65535} {
		f := frameSpec{dstIP: 0x7F000001, proto: unix.IPPROTO_TCP, port: port}
		b := make([]byte, 128)
		if runBPF(t, prog, b[:f.put(b)]) == 0 {
			t.Errorf("port %d rejected by a filter for 0-65535", port)
		}
	}
}

package afpacket

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// bpfAcceptLength is the snap length returned by an accepting filter: the whole
// packet.
const bpfAcceptLength = 65535

// Offsets into an untagged Ethernet frame carrying IPv4.
const (
	offEtherType   = 12
	offIPv4        = 14
	offIPv4Flags   = offIPv4 + 6 // flags and fragment offset
	offIPv4Proto   = offIPv4 + 9
	offIPv4Dst     = offIPv4 + 16
	offL4DstPort   = 2 // relative to the TCP (or UDP) header, which starts X bytes after offIPv4
	etherTypeIPv4  = 0x0800
	ipv4FragOffset = 0x1fff
	protoICMP      = 1
)

// returnFilter returns the one-instruction program that returns k: 0 drops
// every packet, bpfAcceptLength accepts every packet whole.
func returnFilter(k uint32) [1]unix.SockFilter {
	return [1]unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: k}}
}

// ReplyFilter returns a classic BPF program for an Ethernet (AF_PACKET) socket,
// ready for SO_ATTACH_FILTER. It accepts IPv4 packets to localIP that are (one of
// protocols, first or only fragment, with a destination port in [lo, hi]) or
// ICMP. Everything else is dropped, including packets too short for the fields
// looked at.
//
// The destination port is the 16-bit word two bytes into the transport header,
// as in TCP, UDP and SCTP; IP options are skipped by the header length. ICMP
// (protocol 1) is always accepted and needs no place in protocols; it is ignored
// there, as are repeats.
//
// The program matches untagged Ethernet frames: a frame that still carries an
// 802.1Q tag when the filter runs is dropped. Linux, however, takes the (outer)
// tag off a received frame before packet sockets see it, keeping it as metadata,
// so a tagged frame arriving on the interface is judged, and delivered, as its
// untagged self.
//
// localIP must be an IPv4 address (IPv4-mapped IPv6 addresses are not), lo
// must not be above hi, and protocols must hold at most 244 protocols besides
// ICMP (relative jumps reach 255 instructions).
func ReplyFilter(localIP netip.Addr, lo, hi uint16, protocols []uint8) ([]unix.SockFilter, error) {
	if !localIP.Is4() {
		return nil, fmt.Errorf("afpacket: reply filter: local address %v is not IPv4", localIP)
	}
	if lo > hi {
		return nil, fmt.Errorf("afpacket: reply filter: empty port range %d-%d", lo, hi)
	}
	insns, err := replyProgram(localIP, lo, hi, protocols)
	if err != nil {
		return nil, err
	}
	prog, err := bpf.Assemble(insns)
	if err != nil {
		return nil, fmt.Errorf("afpacket: reply filter: %w", err)
	}
	return sockFilters(prog), nil
}

// Sizes of the parts of the program of ReplyFilter: the instructions before the
// protocol checks, and the ports section.
const (
	replyPrefixLen = 5
	portsLen       = 6
	// maxReplyProtocols is how many protocols (besides ICMP) ReplyFilter can
	// check: a jump skips at most 255 instructions, and the first one skips all
	// but three (replyPrefixLen + n + 1 + portsLen + 2 - 3 <= 255).
	maxReplyProtocols = 255 - replyPrefixLen - 1 - portsLen - 2 + 3
)

// replyProgram builds the program of ReplyFilter. Layout:
//
//	     ldh [12]; jne #0x800, drop
//	     ld [30]; jne #localIP, drop
//	     ldb [23]; jeq #p1, ports; ... jeq #pn, ports
//	     jeq #1, accept, drop
//	ports: ldh [20]; jset #0x1fff, drop
//	     ldx 4*([14]&0xf); ldh [x+16]; jlt #lo, drop; jgt #hi, drop
//	accept: ret #65535
//	drop: ret #0
//
// Every skip is relative, so it is computed from the number of instructions
// between a jump and its target.
func replyProgram(localIP netip.Addr, lo, hi uint16, protocols []uint8) ([]bpf.Instruction, error) {
	var protos []uint8
	seen := [256]bool{protoICMP: true}
	for _, p := range protocols {
		if !seen[p] {
			seen[p] = true
			protos = append(protos, p)
		}
	}
	if len(protos) > maxReplyProtocols {
		return nil, fmt.Errorf("afpacket: reply filter: %d protocols, at most %d fit", len(protos), maxReplyProtocols)
	}
	a4 := localIP.As4()
	local := binary.BigEndian.Uint32(a4[:])

	// total is the program's length: the prefix, one check per protocol, the
	// ICMP check, the ports section, accept and drop. toDrop is the skip from
	// the instruction about to be appended (at index len(prog)) to drop, the
	// last instruction.
	total := replyPrefixLen + len(protos) + 1 + portsLen + 2
	prog := make([]bpf.Instruction, 0, total)
	toDrop := func() uint8 { return uint8(total - 1 - len(prog) - 1) }

	prog = append(prog, bpf.LoadAbsolute{Off: offEtherType, Size: 2})
	prog = append(prog, bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: etherTypeIPv4, SkipTrue: toDrop()})
	prog = append(prog, bpf.LoadAbsolute{Off: offIPv4Dst, Size: 4})
	prog = append(prog, bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: local, SkipTrue: toDrop()})
	prog = append(prog, bpf.LoadAbsolute{Off: offIPv4Proto, Size: 1})
	for i, p := range protos {
		// Skip the remaining protocol checks and the ICMP check to reach ports.
		prog = append(prog, bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(p), SkipTrue: uint8(len(protos) - 1 - i + 1)})
	}
	prog = append(prog, bpf.JumpIf{Cond: bpf.JumpEqual, Val: protoICMP, SkipTrue: portsLen, SkipFalse: portsLen + 1})
	// ports:
	prog = append(prog, bpf.LoadAbsolute{Off: offIPv4Flags, Size: 2})
	prog = append(prog, bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: ipv4FragOffset, SkipTrue: toDrop()})
	prog = append(prog, bpf.LoadMemShift{Off: offIPv4})
	prog = append(prog, bpf.LoadIndirect{Off: offIPv4 + offL4DstPort, Size: 2})
	prog = append(prog, bpf.JumpIf{Cond: bpf.JumpLessThan, Val: uint32(lo), SkipTrue: toDrop()})
	prog = append(prog, bpf.JumpIf{Cond: bpf.JumpGreaterThan, Val: uint32(hi), SkipTrue: toDrop()})
	// accept, drop:
	prog = append(prog, bpf.RetConstant{Val: bpfAcceptLength})
	prog = append(prog, bpf.RetConstant{Val: 0})
	if len(prog) != total {
		panic(fmt.Sprintf("afpacket: reply filter has %d instructions, planned %d", len(prog), total))
	}
	return prog, nil
}

// sockFilters converts an assembled program to the form SO_ATTACH_FILTER takes.
func sockFilters(raw []bpf.RawInstruction) []unix.SockFilter {
	out := make([]unix.SockFilter, len(raw))
	for i, in := range raw {
		out[i] = unix.SockFilter{Code: in.Op, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	return out
}

// Offsets into an untagged Ethernet frame carrying IPv6.
const (
	etherTypeIPv6   = 0x86dd
	offIPv6Next     = 14 + 6
	offIPv6Dst      = 14 + 24
	offIPv6L4DstPrt = 14 + 40 + 2 // a transport header right after the fixed header
	protoICMPv6     = 58
)

// ReplyFilterDual is ReplyFilter for a scan of either family or both: IPv4
// packets to local4 as ReplyFilter accepts them (none when local4 is not
// valid), and IPv6 packets to local6 (none when it is not valid) whose next
// header is one of protocols with a destination port in [lo, hi], or ICMPv6.
// An IPv6 reply with an extension header before its transport header is
// dropped: the filter does not walk the chain.
func ReplyFilterDual(local4, local6 netip.Addr, lo, hi uint16, protocols []uint8) ([]unix.SockFilter, error) {
	if !local6.IsValid() {
		return ReplyFilter(local4, lo, hi, protocols)
	}
	if !local6.Is6() || local6.Is4In6() {
		return nil, fmt.Errorf("afpacket: reply filter: local address %v is not IPv6", local6)
	}
	if lo > hi {
		return nil, fmt.Errorf("afpacket: reply filter: empty port range %d-%d", lo, hi)
	}
	var protos []uint8
	seen := [256]bool{protoICMPv6: true}
	for _, p := range protocols {
		if !seen[p] {
			seen[p] = true
			protos = append(protos, p)
		}
	}
	if len(protos) > 200 {
		return nil, fmt.Errorf("afpacket: reply filter: %d protocols, at most 200 fit", len(protos))
	}
	// The IPv6 block: its own accept and drop at its end, then the IPv4
	// program (or a drop), which a frame that is not IPv6 jumps to.
	//
	//	     ldh [12]; jeq #0x86dd, next, v4
	//	     ld [38]; jne #w0, drop ... ld [50]; jne #w3, drop
	//	     ldb [20]; jeq #p1, ports; ... jeq #pn, ports
	//	     jeq #58, accept, drop
	//	ports: ldh [56]; jlt #lo, drop; jgt #hi, drop
	//	accept: ret #65535
	//	drop: ret #0
	//	v4:  the IPv4 program
	total := 2 + 8 + 1 + len(protos) + 1 + 3 + 2
	prog := make([]bpf.Instruction, 0, total)
	toDrop := func() uint8 { return uint8(total - 1 - len(prog) - 1) }
	prog = append(prog, bpf.LoadAbsolute{Off: offEtherType, Size: 2})
	prog = append(prog, bpf.JumpIf{Cond: bpf.JumpEqual, Val: etherTypeIPv6, SkipFalse: uint8(total - 2)})
	a16 := local6.As16()
	for w := range 4 {
		prog = append(prog, bpf.LoadAbsolute{Off: uint32(offIPv6Dst + 4*w), Size: 4})
		prog = append(prog, bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: binary.BigEndian.Uint32(a16[4*w:]), SkipTrue: toDrop()})
	}
	prog = append(prog, bpf.LoadAbsolute{Off: offIPv6Next, Size: 1})
	for i, p := range protos {
		prog = append(prog, bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(p), SkipTrue: uint8(len(protos) - 1 - i + 1)})
	}
	prog = append(prog, bpf.JumpIf{Cond: bpf.JumpEqual, Val: protoICMPv6, SkipTrue: 3, SkipFalse: 4})
	prog = append(prog, bpf.LoadAbsolute{Off: offIPv6L4DstPrt, Size: 2})
	prog = append(prog, bpf.JumpIf{Cond: bpf.JumpLessThan, Val: uint32(lo), SkipTrue: toDrop()})
	prog = append(prog, bpf.JumpIf{Cond: bpf.JumpGreaterThan, Val: uint32(hi), SkipTrue: toDrop()})
	prog = append(prog, bpf.RetConstant{Val: bpfAcceptLength})
	prog = append(prog, bpf.RetConstant{Val: 0})
	if len(prog) != total {
		panic(fmt.Sprintf("afpacket: IPv6 reply filter has %d instructions, planned %d", len(prog), total))
	}
	if local4.IsValid() {
		if !local4.Is4() {
			return nil, fmt.Errorf("afpacket: reply filter: local address %v is not IPv4", local4)
		}
		v4, err := replyProgram(local4, lo, hi, protocols)
		if err != nil {
			return nil, err
		}
		prog = append(prog, v4...)
	} else {
		prog = append(prog, bpf.RetConstant{Val: 0})
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, fmt.Errorf("afpacket: reply filter: %w", err)
	}
	return sockFilters(raw), nil
}

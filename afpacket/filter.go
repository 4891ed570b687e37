package afpacket

import "golang.org/x/sys/unix"

// Classic BPF opcodes used by the filters here.
const (
	bpfLoadHalfAbs  = unix.BPF_LD | unix.BPF_H | unix.BPF_ABS
	bpfLoadWordAbs  = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
	bpfLoadByteAbs  = unix.BPF_LD | unix.BPF_B | unix.BPF_ABS
	bpfLoadHalfInd  = unix.BPF_LD | unix.BPF_H | unix.BPF_IND
	bpfLoadXHeader  = unix.BPF_LDX | unix.BPF_B | unix.BPF_MSH // X = 4*([k]&0xf)
	bpfJumpEqual    = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
	bpfJumpGreater  = unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K
	bpfJumpAtLeast  = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
	bpfJumpAnyBits  = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K
	bpfReturnConst  = unix.BPF_RET | unix.BPF_K
	bpfAcceptLength = 65535 // snap length returned by an accepting filter
)

// Offsets into an untagged Ethernet frame carrying IPv4.
const (
	offEtherType   = 12
	offIPv4        = 14
	offIPv4Flags   = offIPv4 + 6 // flags and fragment offset
	offIPv4Proto   = offIPv4 + 9
	offIPv4Dst     = offIPv4 + 16
	offTCPDstPort  = 2 // relative to the TCP (or UDP) header, which starts X bytes after offIPv4
	etherTypeIPv4  = 0x0800
	ipv4FragOffset = 0x1fff
)

// returnFilter returns the one-instruction program that returns k: 0 drops
// every packet, bpfAcceptLength accepts every packet whole.
func returnFilter(k uint32) [1]unix.SockFilter {
	return [1]unix.SockFilter{{Code: bpfReturnConst, K: k}}
}

// Instruction indexes of the program built by ReplyFilter.
const (
	rfLoadEtherType = iota
	rfIsIPv4
	rfLoadDst
	rfIsToLocal
	rfLoadProto
	rfIsTCP
	rfIsUDP
	rfLoadFrag
	rfIsFragment
	rfLoadHeaderLen
	rfLoadDstPort
	rfPortAtLeastLo
	rfPortAboveHi
	rfIsICMP
	rfAccept
	rfDrop
	rfLen
)

// ReplyFilter returns a classic BPF program for an Ethernet socket that
// accepts IPv4 packets addressed to localIP which are either TCP segments or
// UDP datagrams (first or only fragment) with a destination port in [lo, hi],
// or ICMP messages. Everything else is dropped.
//
// Only untagged Ethernet frames are matched.
func ReplyFilter(localIP uint32, lo, hi uint16) []unix.SockFilter {
	// jump builds the conditional jump at index at, with absolute targets.
	jump := func(at int, code uint16, k uint32, ifTrue, ifFalse int) unix.SockFilter {
		return unix.SockFilter{Code: code, K: k, Jt: uint8(ifTrue - at - 1), Jf: uint8(ifFalse - at - 1)}
	}
	prog := make([]unix.SockFilter, rfLen)
	prog[rfLoadEtherType] = unix.SockFilter{Code: bpfLoadHalfAbs, K: offEtherType}
	prog[rfIsIPv4] = jump(rfIsIPv4, bpfJumpEqual, etherTypeIPv4, rfLoadDst, rfDrop)
	prog[rfLoadDst] = unix.SockFilter{Code: bpfLoadWordAbs, K: offIPv4Dst}
	prog[rfIsToLocal] = jump(rfIsToLocal, bpfJumpEqual, localIP, rfLoadProto, rfDrop)
	prog[rfLoadProto] = unix.SockFilter{Code: bpfLoadByteAbs, K: offIPv4Proto}
	prog[rfIsTCP] = jump(rfIsTCP, bpfJumpEqual, unix.IPPROTO_TCP, rfLoadFrag, rfIsUDP)
	prog[rfIsUDP] = jump(rfIsUDP, bpfJumpEqual, unix.IPPROTO_UDP, rfLoadFrag, rfIsICMP)
	prog[rfLoadFrag] = unix.SockFilter{Code: bpfLoadHalfAbs, K: offIPv4Flags}
	prog[rfIsFragment] = jump(rfIsFragment, bpfJumpAnyBits, ipv4FragOffset, rfDrop, rfLoadHeaderLen)
	prog[rfLoadHeaderLen] = unix.SockFilter{Code: bpfLoadXHeader, K: offIPv4}
	prog[rfLoadDstPort] = unix.SockFilter{Code: bpfLoadHalfInd, K: offIPv4 + offTCPDstPort} // [X+16]
	prog[rfPortAtLeastLo] = jump(rfPortAtLeastLo, bpfJumpAtLeast, uint32(lo), rfPortAboveHi, rfDrop)
	prog[rfPortAboveHi] = jump(rfPortAboveHi, bpfJumpGreater, uint32(hi), rfDrop, rfAccept)
	prog[rfIsICMP] = jump(rfIsICMP, bpfJumpEqual, unix.IPPROTO_ICMP, rfAccept, rfDrop)
	prog[rfAccept] = unix.SockFilter{Code: bpfReturnConst, K: bpfAcceptLength}
	prog[rfDrop] = unix.SockFilter{Code: bpfReturnConst, K: 0}
	return prog
}

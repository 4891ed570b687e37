package packet

import (
	"encoding/binary"
	"fmt"
	"net"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Default values of [SYNParams] fields left zero.
const (
	DefaultTTL    = 64
	DefaultWindow = 1024
	DefaultMSS    = 1460
)

// EthernetMinimumFrameLen is the minimum Ethernet frame length without the
// frame check sequence; shorter frames are padded with zeros.
const EthernetMinimumFrameLen = 60

// Layout of a SYN probe: Ethernet, IPv4 without options, TCP with one MSS
// option, padded to the Ethernet minimum.
const (
	synIPOffset  = EthernetHeaderLen
	synTCPOffset = synIPOffset + IPv4MinimumHeaderLen
	synTCPLen    = TCPMinimumHeaderLen + TCPOptionMSSLen
	synIPLen     = IPv4MinimumHeaderLen + synTCPLen
	// SYNFrameLen is the length of every frame a [SYNTemplate] writes.
	SYNFrameLen = max(EthernetHeaderLen+synIPLen, EthernetMinimumFrameLen)
)

// Placeholder values the template is built with; Put replaces all of them.
const (
	placeholderDstIP   = 0xC0000201 // 192.0.2.1 (RFC 5737 documentation address)
	placeholderDstPort = 9
	placeholderSrcPort = 9
	placeholderSeq     = 0x5eed5eed
	placeholderIPID    = 0
)

// SYNParams are the fields common to every probe of a scan.
type SYNParams struct {
	SrcMAC, DstMAC [MACLen]byte // DstMAC is the default next hop; Put may override it per probe
	SrcIP          uint32
	TTL            uint8  // 0 means DefaultTTL
	Window         uint16 // 0 means DefaultWindow
	MSS            uint16 // 0 means DefaultMSS
}

// SYNTemplate is a complete TCP SYN probe frame (Ethernet, IPv4 with DF set
// and no options, TCP SYN with an MSS option) built once, from which Put
// stamps out probes to individual targets. A SYNTemplate is immutable after
// construction and safe for concurrent use.
type SYNTemplate struct {
	frame  [SYNFrameLen]byte
	params SYNParams
	// ipBase and tcpBase are the template's checksums in ones' complement
	// sum form (~HC) with the placeholder fields that Put overwrites
	// already subtracted (RFC 1624: adding ~m removes m), folded to 16 bits.
	// Put adds the new field values and complements.
	ipBase, tcpBase uint16
}

// NewSYNTemplate builds the probe template with gopacket, applying the
// defaults documented on [SYNParams].
func NewSYNTemplate(p SYNParams) (*SYNTemplate, error) {
	if p.TTL == 0 {
		p.TTL = DefaultTTL
	}
	if p.Window == 0 {
		p.Window = DefaultWindow
	}
	if p.MSS == 0 {
		p.MSS = DefaultMSS
	}
	eth := &layers.Ethernet{
		SrcMAC:       net.HardwareAddr(p.SrcMAC[:]),
		DstMAC:       net.HardwareAddr(p.DstMAC[:]),
		EthernetType: layers.EthernetTypeIPv4,
	}
	ip := &layers.IPv4{
		Version:  4,
		IHL:      5,
		Id:       placeholderIPID,
		Flags:    layers.IPv4DontFragment,
		TTL:      p.TTL,
		Protocol: layers.IPProtocolTCP,
		SrcIP:    ipv4Bytes(p.SrcIP),
		DstIP:    ipv4Bytes(placeholderDstIP),
	}
	tcp := &layers.TCP{
		SrcPort: placeholderSrcPort,
		DstPort: placeholderDstPort,
		Seq:     placeholderSeq,
		SYN:     true,
		Window:  p.Window,
		Options: []layers.TCPOption{{
			OptionType:   layers.TCPOptionKindMSS,
			OptionLength: TCPOptionMSSLen,
			OptionData:   binary.BigEndian.AppendUint16(nil, p.MSS),
		}},
	}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		return nil, fmt.Errorf("packet: SYN template: %w", err)
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, eth, ip, tcp); err != nil {
		return nil, fmt.Errorf("packet: SYN template: serialize: %w", err)
	}
	b := buf.Bytes()
	if len(b) != SYNFrameLen {
		return nil, fmt.Errorf("packet: SYN template: gopacket produced %d bytes, want %d", len(b), SYNFrameLen)
	}
	t := &SYNTemplate{params: p}
	copy(t.frame[:], b)

	ipHC := IPv4(t.frame[synIPOffset:]).Checksum()
	t.ipBase = onesSum(uint32(^ipHC),
		uint32(^uint16(placeholderIPID)),
		uint32(^uint16(placeholderDstIP>>16)), uint32(^uint16(placeholderDstIP&0xffff)))
	tcpHC := TCP(t.frame[synTCPOffset:]).Checksum()
	t.tcpBase = onesSum(uint32(^tcpHC),
		uint32(^uint16(placeholderDstIP>>16)), uint32(^uint16(placeholderDstIP&0xffff)),
		uint32(^uint16(placeholderSrcPort)), uint32(^uint16(placeholderDstPort)),
		uint32(^uint16(placeholderSeq>>16)), uint32(^uint16(placeholderSeq&0xffff)))
	return t, nil
}

// onesSum returns the folded ones' complement sum of 16-bit values.
func onesSum(vs ...uint32) uint16 {
	var s uint64
	for _, v := range vs {
		s += uint64(v)
	}
	return fold64(s)
}

func ipv4Bytes(a uint32) net.IP {
	return net.IPv4(byte(a>>24), byte(a>>16), byte(a>>8), byte(a)).To4()
}

// Len returns the length in bytes of every frame Put writes, [SYNFrameLen].
func (t *SYNTemplate) Len() int { return SYNFrameLen }

// Params returns the parameters the template was built with, defaults
// applied.
func (t *SYNTemplate) Params() SYNParams { return t.params }

// Put writes one complete probe into dst and returns its length, t.Len(),
// or 0 if dst is shorter than that. dstMAC nil keeps the template's DstMAC.
// The IPv4 and TCP checksums are patched incrementally (RFC 1624) from the
// template's. Put does not allocate.
func (t *SYNTemplate) Put(dst []byte, dstMAC *[MACLen]byte, dstIP uint32, dstPort, srcPort uint16, seq uint32, ipID uint16) int {
	if len(dst) < SYNFrameLen {
		return 0
	}
	f := (*[SYNFrameLen]byte)(dst)
	*f = t.frame
	if dstMAC != nil {
		*(*[MACLen]byte)(f[EthernetDstOffset:]) = *dstMAC
	}

	dstHi, dstLo := dstIP>>16, dstIP&0xffff
	be := binary.BigEndian
	be.PutUint16(f[synIPOffset+IPv4IDOffset:], ipID)
	be.PutUint32(f[synIPOffset+IPv4DstAddrOffset:], dstIP)
	ipSum := uint32(t.ipBase) + uint32(ipID) + dstHi + dstLo
	be.PutUint16(f[synIPOffset+IPv4ChecksumOffset:], ^fold32(ipSum))

	putSYNFields(f[synTCPOffset:], uint32(t.tcpBase)+dstHi+dstLo, srcPort, dstPort, seq)
	return SYNFrameLen
}

// putSYNFields writes a SYN's ports and sequence number into its TCP header
// tcp and completes the TCP checksum from sum, the sum of every other 16-bit
// word it covers (the template's fixed fields and the pseudo-header's
// destination address). The step both families' SYN templates share.
func putSYNFields(tcp []byte, sum uint32, srcPort, dstPort uint16, seq uint32) {
	be := binary.BigEndian
	be.PutUint16(tcp[TCPSrcPortOffset:], srcPort)
	be.PutUint16(tcp[TCPDstPortOffset:], dstPort)
	be.PutUint32(tcp[TCPSeqNumOffset:], seq)
	sum += uint32(srcPort) + uint32(dstPort) + seq>>16 + seq&0xffff
	be.PutUint16(tcp[TCPChecksumOffset:], ^fold32(sum))
}

// fold32 folds a sum of at most 2^16 16-bit values to 16 bits with
// end-around carries.
func fold32(s uint32) uint16 {
	s = (s >> 16) + (s & 0xffff)
	s = (s >> 16) + (s & 0xffff)
	return uint16(s)
}

package packet

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// DefaultMSS6 is the MSS an IPv6 SYN advertises when [SYN6Params.MSS] is 0:
// a 1500-byte MTU less the 40-byte IPv6 and 20-byte TCP headers.
const DefaultMSS6 = 1440

// Layout of an IPv6 SYN probe: Ethernet, IPv6 without extension headers, TCP
// with one MSS option. It is longer than the Ethernet minimum: no padding.
const (
	syn6IPOffset  = EthernetHeaderLen
	syn6TCPOffset = syn6IPOffset + IPv6HeaderLen
	// SYN6FrameLen is the length of every frame a [SYN6Template] writes.
	SYN6FrameLen = syn6TCPOffset + synTCPLen
)

// SYN6Params are the fields common to every IPv6 SYN probe of a scan.
type SYN6Params struct {
	SrcMAC, DstMAC [MACLen]byte // DstMAC is the default next hop; Put may override it per probe
	SrcIP          netip.Addr   // an IPv6 address (not an IPv4-mapped one)
	HopLimit       uint8        // 0 means DefaultTTL
	TrafficClass   uint8
	Window         uint16 // 0 means DefaultWindow
	MSS            uint16 // 0 means DefaultMSS6
}

// SYN6Template is a complete IPv6 TCP SYN probe frame (Ethernet, IPv6 without
// extension headers, TCP SYN with an MSS option) built once with gopacket, from
// which Put stamps out probes. Per probe it patches the destination MAC and
// address, the flow label, the ports and the sequence number, and completes the
// TCP checksum (RFC 8200 pseudo-header) from the sum of the fixed fields
// computed once: the IPv6 header has no checksum of its own. A SYN6Template is
// immutable after construction and safe for concurrent use.
//
// For loopback (::1) the frame is the same, with the MAC addresses of lo (zero):
// the link either injects it on lo or strips the Ethernet header and sends the
// IPv6 packet through a raw IPv6 socket, as for IPv4.
type SYN6Template struct {
	frame  [SYN6FrameLen]byte
	params SYN6Params
	// tcpBase is the ones' complement sum of every field the TCP checksum
	// covers that Put does not write (the per-probe fields zero), folded.
	tcpBase uint16
	// word0 is the IPv6 header's first word with a zero flow label.
	word0 uint32
}

// NewSYN6Template builds the IPv6 SYN probe template with gopacket, applying
// the defaults documented on [SYN6Params].
func NewSYN6Template(p SYN6Params) (*SYN6Template, error) {
	if !p.SrcIP.Is6() || p.SrcIP.Is4In6() || p.SrcIP.Zone() != "" {
		return nil, fmt.Errorf("packet: IPv6 SYN template: source address %v is not an IPv6 address without zone", p.SrcIP)
	}
	if p.HopLimit == 0 {
		p.HopLimit = DefaultTTL
	}
	if p.Window == 0 {
		p.Window = DefaultWindow
	}
	if p.MSS == 0 {
		p.MSS = DefaultMSS6
	}
	src := p.SrcIP.As16()
	eth := &layers.Ethernet{
		SrcMAC:       net.HardwareAddr(p.SrcMAC[:]),
		DstMAC:       net.HardwareAddr(p.DstMAC[:]),
		EthernetType: layers.EthernetTypeIPv6,
	}
	ip := &layers.IPv6{
		Version:      6,
		TrafficClass: p.TrafficClass,
		NextHeader:   layers.IPProtocolTCP,
		HopLimit:     p.HopLimit,
		SrcIP:        net.IP(src[:]),
		DstIP:        make(net.IP, IPv6AddressLen), // placeholder: zero
	}
	tcp := &layers.TCP{
		SYN:    true,
		Window: p.Window,
		Options: []layers.TCPOption{{
			OptionType:   layers.TCPOptionKindMSS,
			OptionLength: TCPOptionMSSLen,
			OptionData:   binary.BigEndian.AppendUint16(nil, p.MSS),
		}},
	}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		return nil, fmt.Errorf("packet: IPv6 SYN template: %w", err)
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, eth, ip, tcp); err != nil {
		return nil, fmt.Errorf("packet: IPv6 SYN template: serialize: %w", err)
	}
	b := buf.Bytes()
	if len(b) != SYN6FrameLen {
		return nil, fmt.Errorf("packet: IPv6 SYN template: gopacket produced %d bytes, want %d", len(b), SYN6FrameLen)
	}
	t := &SYN6Template{params: p}
	copy(t.frame[:], b)
	// The per-probe fields are zero as built (addresses, ports, sequence number):
	// the sum of the rest is the sum of the pseudo-header with a zero
	// destination and of the segment with a zero checksum field.
	seg := TCP(t.frame[syn6TCPOffset:])
	seg.SetChecksum(0)
	t.tcpBase = Checksum(seg, PseudoHeaderChecksum6(ProtocolTCP, src, [IPv6AddressLen]byte{}, synTCPLen))
	t.word0 = binary.BigEndian.Uint32(t.frame[syn6IPOffset:]) &^ IPv6FlowLabelMask
	return t, nil
}

// Len returns the length in bytes of every frame Put writes, [SYN6FrameLen].
func (t *SYN6Template) Len() int { return SYN6FrameLen }

// Params returns the parameters the template was built with, defaults
// applied.
func (t *SYN6Template) Params() SYN6Params { return t.params }

// Put writes one complete probe into dst and returns its length, t.Len(), or
// 0 if dst is shorter than that or dstIP is not an IPv6 address. dstMAC nil
// keeps the template's DstMAC. flowLabel's low 20 bits are the IPv6 flow
// label (RFC 6437: the same for every packet of a flow, ideally a keyed hash
// of it, such as the cookie). The TCP checksum is completed from the
// template's sum of the fixed fields (RFC 1624's arithmetic); Put does not
// allocate.
func (t *SYN6Template) Put(dst []byte, dstMAC *[MACLen]byte, dstIP netip.Addr, dstPort, srcPort uint16, seq, flowLabel uint32) int {
	if len(dst) < SYN6FrameLen || !dstIP.Is6() {
		return 0
	}
	f := (*[SYN6FrameLen]byte)(dst)
	*f = t.frame
	if dstMAC != nil {
		*(*[MACLen]byte)(f[EthernetDstOffset:]) = *dstMAC
	}
	a := dstIP.As16()
	be := binary.BigEndian
	hi, lo := be.Uint64(a[:8]), be.Uint64(a[8:])
	be.PutUint32(f[syn6IPOffset:], t.word0|flowLabel&IPv6FlowLabelMask)
	*(*[IPv6AddressLen]byte)(f[syn6IPOffset+IPv6DstAddrOffset:]) = a

	putSYNFields(f[syn6TCPOffset:], uint32(t.tcpBase)+uint32(addrSum6(hi, lo)), srcPort, dstPort, seq)
	return SYN6FrameLen
}

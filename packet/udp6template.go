package packet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// UDP6Params are the fields of an IPv6 UDP probe template: those common to
// every probe of a scan, and the destination port with its payload.
type UDP6Params struct {
	SrcMAC, DstMAC [MACLen]byte // DstMAC is the default next hop; Put may override it per probe
	SrcIP          netip.Addr   // an IPv6 address (not an IPv4-mapped one)
	HopLimit       uint8        // 0 means DefaultTTL
	TrafficClass   uint8
	DstPort        uint16
	// Payload is the request sent to DstPort, with zeros where the cookie goes.
	Payload []byte
	// CookieOffset and CookieLen say where in Payload Put writes the low CookieLen
	// bytes of the probe's cookie, most significant first (CookieLen 0: nowhere;
	// at most 8), as in [UDPParams].
	CookieOffset, CookieLen int
}

// UDP6Template is a complete IPv6 UDP probe frame (Ethernet, IPv6 without
// extension headers, UDP with a service's request as payload) built once with
// gopacket, from which Put stamps out probes to individual addresses. Per probe
// it patches the destination MAC and address, the flow label, the source port
// and the cookie bytes in the payload, and completes the UDP checksum
// (mandatory over IPv6, RFC 8200 section 8.1) from the sum of the fixed fields
// computed once. A UDP6Template is immutable after construction and safe for
// concurrent use.
type UDP6Template struct {
	frame     []byte
	payloadAt int // offset of the payload in frame
	params    UDP6Params
	// udpBase is the ones' complement sum of every field the UDP checksum
	// covers that Put does not write (per-probe fields zero), folded.
	udpBase uint16
	// word0 is the IPv6 header's first word with a zero flow label.
	word0 uint32
}

// Offsets in an IPv6 UDP probe frame.
const (
	udp6IPOffset  = EthernetHeaderLen
	udp6UDPOffset = udp6IPOffset + IPv6HeaderLen
)

// NewUDP6Template builds an IPv6 UDP probe template with gopacket.
func NewUDP6Template(p UDP6Params) (*UDP6Template, error) {
	switch {
	case !p.SrcIP.Is6() || p.SrcIP.Is4In6() || p.SrcIP.Zone() != "":
		return nil, fmt.Errorf("packet: IPv6 UDP template: source address %v is not an IPv6 address without zone", p.SrcIP)
	case len(p.Payload) > MaxUDPPayload:
		return nil, fmt.Errorf("packet: IPv6 UDP template: payload of %d bytes, at most %d", len(p.Payload), MaxUDPPayload)
	case p.CookieLen < 0 || p.CookieLen > 8 || p.CookieOffset < 0 || p.CookieOffset+p.CookieLen > len(p.Payload):
		return nil, errors.New("packet: IPv6 UDP template: cookie field outside the payload")
	}
	if p.HopLimit == 0 {
		p.HopLimit = DefaultTTL
	}
	payload := append([]byte(nil), p.Payload...)
	for i := p.CookieOffset; i < p.CookieOffset+p.CookieLen; i++ {
		payload[i] = 0
	}
	src := p.SrcIP.As16()
	eth := &layers.Ethernet{
		SrcMAC:       net.HardwareAddr(p.SrcMAC[:]),
		DstMAC:       net.HardwareAddr(p.DstMAC[:]),
		EthernetType: layers.EthernetTypeIPv6,
	}
	ip := &layers.IPv6{
		Version: 6, TrafficClass: p.TrafficClass, NextHeader: layers.IPProtocolUDP, HopLimit: p.HopLimit,
		SrcIP: net.IP(src[:]), DstIP: make(net.IP, IPv6AddressLen),
	}
	udp := &layers.UDP{SrcPort: 0, DstPort: layers.UDPPort(p.DstPort)}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		return nil, fmt.Errorf("packet: IPv6 UDP template: %w", err)
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, eth, ip, udp, gopacket.Payload(payload)); err != nil {
		return nil, fmt.Errorf("packet: IPv6 UDP template: serialize: %w", err)
	}
	t := &UDP6Template{frame: append([]byte(nil), buf.Bytes()...), params: p, payloadAt: udp6UDPOffset + UDPHeaderLen}
	// gopacket pads a short frame to the Ethernet minimum; an IPv6 UDP frame is
	// never that short (62 bytes at least), so the frame is exactly the packet.
	if len(t.frame) != t.payloadAt+len(payload) {
		return nil, fmt.Errorf("packet: IPv6 UDP template: gopacket produced %d bytes, want %d", len(t.frame), t.payloadAt+len(payload))
	}
	u := UDP(t.frame[udp6UDPOffset:])
	u.SetChecksum(0)
	t.udpBase = Checksum(u, PseudoHeaderChecksum6(ProtocolUDP, src, [IPv6AddressLen]byte{}, uint32(u.Length())))
	t.word0 = binary.BigEndian.Uint32(t.frame[udp6IPOffset:]) &^ IPv6FlowLabelMask
	return t, nil
}

// Len returns the length in bytes of every frame Put writes.
func (t *UDP6Template) Len() int { return len(t.frame) }

// Params returns the parameters the template was built with, defaults applied.
func (t *UDP6Template) Params() UDP6Params { return t.params }

// Put writes one complete probe into dst and returns its length, t.Len(), or 0
// if dst is shorter than that or dstIP is not an IPv6 address. dstMAC nil keeps
// the template's DstMAC; flowLabel's low 20 bits are the flow label (see
// [SYN6Template.Put]). Put does not allocate.
func (t *UDP6Template) Put(dst []byte, dstMAC *[MACLen]byte, dstIP netip.Addr, srcPort uint16, cookie uint64, flowLabel uint32) int {
	n := len(t.frame)
	if len(dst) < n || !dstIP.Is6() {
		return 0
	}
	f := dst[:n]
	copy(f, t.frame)
	if dstMAC != nil {
		*(*[MACLen]byte)(f[EthernetDstOffset:]) = *dstMAC
	}
	a := dstIP.As16()
	be := binary.BigEndian
	hi, lo := be.Uint64(a[:8]), be.Uint64(a[8:])
	be.PutUint32(f[udp6IPOffset:], t.word0|flowLabel&IPv6FlowLabelMask)
	*(*[IPv6AddressLen]byte)(f[udp6IPOffset+IPv6DstAddrOffset:]) = a

	be.PutUint16(f[udp6UDPOffset+UDPSrcPortOffset:], srcPort)
	sum := uint32(t.udpBase) + uint32(addrSum6(hi, lo)) + uint32(srcPort)
	// The cookie bytes: an even offset from the UDP header is a word's high byte.
	at := t.payloadAt + t.params.CookieOffset
	for i := 0; i < t.params.CookieLen; i++ {
		v := byte(cookie >> (8 * (t.params.CookieLen - 1 - i)))
		f[at+i] = v
		if (at+i-udp6UDPOffset)%2 == 0 {
			sum += uint32(v) << 8
		} else {
			sum += uint32(v)
		}
	}
	c := ^fold32(sum)
	if c == 0 {
		c = 0xffff // a computed zero is sent as all ones (RFC 768, RFC 8200 section 8.1)
	}
	be.PutUint16(f[udp6UDPOffset+UDPChecksumOffset:], c)
	return n
}

package packet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// MaxUDPPayload bounds the payload of a UDP probe template.
const MaxUDPPayload = 512

// UDPParams are the fields of a UDP probe template: those common to every probe of
// a scan, and the destination port with its payload.
type UDPParams struct {
	SrcMAC, DstMAC [MACLen]byte // DstMAC is the default next hop; Put may override it per probe
	SrcIP          uint32
	TTL            uint8 // 0 means DefaultTTL
	DstPort        uint16
	// Payload is the request sent to DstPort, with zeros where the cookie goes.
	Payload []byte
	// CookieOffset and CookieLen say where in Payload Put writes the low CookieLen
	// bytes of the probe's cookie, most significant first (CookieLen 0: nowhere;
	// at most 8).
	CookieOffset, CookieLen int
}

// UDPTemplate is a complete UDP probe frame (Ethernet, IPv4 with DF set and no
// options, UDP with a service's request as payload) built once with gopacket, from
// which Put stamps out probes to individual addresses. Per probe it patches the
// destination address, source port, IP ID and the cookie bytes in the payload, and
// completes the IPv4 and UDP checksums from sums of the fixed fields computed once.
// A UDPTemplate is immutable after construction and safe for concurrent use.
type UDPTemplate struct {
	frame     []byte
	payloadAt int // offset of the payload in frame
	params    UDPParams
	// ipBase and udpBase are the ones' complement sums of every field Put does not
	// change (placeholders zero), folded to 16 bits.
	ipBase, udpBase uint16
}

// NewUDPTemplate builds a UDP probe template with gopacket.
func NewUDPTemplate(p UDPParams) (*UDPTemplate, error) {
	if p.TTL == 0 {
		p.TTL = DefaultTTL
	}
	switch {
	case len(p.Payload) > MaxUDPPayload:
		return nil, fmt.Errorf("packet: UDP template: payload of %d bytes, at most %d", len(p.Payload), MaxUDPPayload)
	case p.CookieLen < 0 || p.CookieLen > 8 || p.CookieOffset < 0 || p.CookieOffset+p.CookieLen > len(p.Payload):
		return nil, errors.New("packet: UDP template: cookie field outside the payload")
	}
	payload := append([]byte(nil), p.Payload...)
	for i := p.CookieOffset; i < p.CookieOffset+p.CookieLen; i++ {
		payload[i] = 0
	}
	eth := &layers.Ethernet{
		SrcMAC:       net.HardwareAddr(p.SrcMAC[:]),
		DstMAC:       net.HardwareAddr(p.DstMAC[:]),
		EthernetType: layers.EthernetTypeIPv4,
	}
	ip := &layers.IPv4{
		Version: 4, IHL: 5, Flags: layers.IPv4DontFragment, TTL: p.TTL,
		Protocol: layers.IPProtocolUDP,
		SrcIP:    ipv4Bytes(p.SrcIP), DstIP: ipv4Bytes(0),
	}
	udp := &layers.UDP{SrcPort: 0, DstPort: layers.UDPPort(p.DstPort)}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		return nil, fmt.Errorf("packet: UDP template: %w", err)
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, eth, ip, udp, gopacket.Payload(payload)); err != nil {
		return nil, fmt.Errorf("packet: UDP template: serialize: %w", err)
	}
	t := &UDPTemplate{frame: append([]byte(nil), buf.Bytes()...), params: p}
	t.payloadAt = EthernetHeaderLen + IPv4MinimumHeaderLen + UDPHeaderLen
	if len(t.frame) < t.payloadAt+len(payload) {
		return nil, fmt.Errorf("packet: UDP template: gopacket produced %d bytes", len(t.frame))
	}
	// The sums of the fixed fields: recompute from the frame with the per-probe
	// fields zero (they are, as built), so the checksums gopacket wrote are not needed.
	ipHdr := IPv4(t.frame[EthernetHeaderLen:])
	ipHdr.SetChecksum(0)
	t.ipBase = Checksum(ipHdr[:IPv4MinimumHeaderLen], 0)
	u := UDP(t.frame[EthernetHeaderLen+IPv4MinimumHeaderLen:])
	u.SetChecksum(0)
	pseudo := PseudoHeaderChecksum(ProtocolUDP, p.SrcIP, 0, u.Length())
	t.udpBase = Checksum(u[:u.Length()], pseudo)
	return t, nil
}

// Len returns the length in bytes of every frame Put writes.
func (t *UDPTemplate) Len() int { return len(t.frame) }

// Params returns the parameters the template was built with, defaults applied.
func (t *UDPTemplate) Params() UDPParams { return t.params }

// Put writes one complete probe into dst and returns its length, t.Len(), or 0 if
// dst is shorter than that. dstMAC nil keeps the template's DstMAC. Put does not
// allocate.
func (t *UDPTemplate) Put(dst []byte, dstMAC *[MACLen]byte, dstIP uint32, srcPort uint16, cookie uint64, ipID uint16) int {
	n := len(t.frame)
	if len(dst) < n {
		return 0
	}
	f := dst[:n]
	copy(f, t.frame)
	if dstMAC != nil {
		*(*[MACLen]byte)(f[EthernetDstOffset:]) = *dstMAC
	}
	be := binary.BigEndian
	const ipAt, udpAt = EthernetHeaderLen, EthernetHeaderLen + IPv4MinimumHeaderLen
	dstHi, dstLo := dstIP>>16, dstIP&0xffff
	be.PutUint16(f[ipAt+IPv4IDOffset:], ipID)
	be.PutUint32(f[ipAt+IPv4DstAddrOffset:], dstIP)
	be.PutUint16(f[ipAt+IPv4ChecksumOffset:], ^fold32(uint32(t.ipBase)+uint32(ipID)+dstHi+dstLo))

	be.PutUint16(f[udpAt+UDPSrcPortOffset:], srcPort)
	sum := uint32(t.udpBase) + dstHi + dstLo + uint32(srcPort)
	// The cookie bytes: an even offset from the UDP header is a word's high byte.
	at := t.payloadAt + t.params.CookieOffset
	for i := 0; i < t.params.CookieLen; i++ {
		v := byte(cookie >> (8 * (t.params.CookieLen - 1 - i)))
		f[at+i] = v
		if (at+i-udpAt)%2 == 0 {
			sum += uint32(v) << 8
		} else {
			sum += uint32(v)
		}
	}
	c := ^fold32(sum)
	if c == 0 {
		c = 0xffff // RFC 768: a computed zero is sent as all ones
	}
	be.PutUint16(f[udpAt+UDPChecksumOffset:], c)
	return n
}

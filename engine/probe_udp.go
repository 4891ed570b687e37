package engine

import (
	"fmt"

	"github.com/fastscan/fastscan/packet"
	"github.com/fastscan/fastscan/result"
	"github.com/fastscan/fastscan/target"
	"github.com/fastscan/fastscan/udpprobe"
)

// udpServiceProbe sends each port's service request (package udpprobe), or an empty
// datagram. Its cookie is a keyed hash of (source, target, port): the high bits
// choose the source port, the low bits fill the request's transaction field where
// the protocol has one.
//
// Verdicts: a datagram from the probed address and port to the cookie's source port
// is open, unless it is a message of the probed protocol echoing another cookie
// (forged or stale: invalid); anything that is not the protocol's message at all is
// an answer too, as nmap counts it. ICMP port unreachable is closed, other filtering
// ICMP codes filtered, silence open|filtered.
type udpServiceProbe struct {
	ports     *target.Ports
	env       ProbeEnv
	srcIP     uint32
	requests  []udpprobe.Probe
	templates []*packet.UDPTemplate
	// templates6 are the ports' IPv6 templates (nil when no target is IPv6),
	// from src6.
	templates6 []*packet.UDP6Template
	src6       [16]byte
	frameLen   int
}

// newUDPServiceProbe builds one template per port for env; it is the kind's constructor.
func newUDPServiceProbe(env ProbeEnv, ports *target.Ports) (Probe, error) {
	if !env.SrcIP.Is4() && env.SrcIP.IsValid() {
		return nil, fmt.Errorf("source address %v: not an IPv4 address", env.SrcIP)
	}
	p := &udpServiceProbe{ports: ports, env: env, srcIP: addrToUint32(env.SrcIP)}
	n := ports.Len()
	p.requests = make([]udpprobe.Probe, n)
	p.templates = make([]*packet.UDPTemplate, n)
	for i := range n {
		port := ports.At(i)
		req := udpprobe.ForPort(port)
		t, err := packet.NewUDPTemplate(packet.UDPParams{
			SrcMAC: env.SrcMAC, DstMAC: env.RouterMAC, SrcIP: p.srcIP, DstPort: port,
			Payload: []byte(req.Payload), CookieOffset: req.CookieOffset, CookieLen: req.CookieLen,
		})
		if err != nil {
			return nil, fmt.Errorf("building the UDP probe for port %d: %w", port, err)
		}
		p.requests[i], p.templates[i] = req, t
		p.frameLen = max(p.frameLen, t.Len())
	}
	if env.SrcIP6.IsValid() {
		p.src6 = env.SrcIP6.As16()
		p.templates6 = make([]*packet.UDP6Template, n)
		for i := range n {
			req := p.requests[i]
			t, err := packet.NewUDP6Template(packet.UDP6Params{
				SrcMAC: env.SrcMAC, DstMAC: env.RouterMAC6, SrcIP: env.SrcIP6, DstPort: ports.At(i),
				Payload: []byte(req.Payload), CookieOffset: req.CookieOffset, CookieLen: req.CookieLen,
			})
			if err != nil {
				return nil, fmt.Errorf("building the IPv6 UDP probe for port %d: %w", ports.At(i), err)
			}
			p.templates6[i] = t
			p.frameLen = max(p.frameLen, t.Len())
		}
	}
	return p, nil
}

// Proto implements Probe.
func (p *udpServiceProbe) Proto() result.Proto { return result.UDP }

// IPProtocol implements Probe.
func (p *udpServiceProbe) IPProtocol() uint8 { return packet.ProtocolUDP }

// FrameLen implements Probe: the longest of the ports' frames.
func (p *udpServiceProbe) FrameLen() int { return p.frameLen }

// cookie is the keyed hash of a probe to ip:port, and the source port it picks.
func (p *udpServiceProbe) cookie(ip uint32, port uint16) (h uint64, sport uint16) {
	return p.cookieFrom(p.srcIP, ip, port)
}

// cookieFrom is cookie for a probe sent from src (a replay learns its source
// address from the capture).
func (p *udpServiceProbe) cookieFrom(src, ip uint32, port uint16) (h uint64, sport uint16) {
	return p.sourcePort(p.env.Key.Sum64(src, ip, 0, port))
}

// cookie6 is cookie for a probe to an IPv6 address, sent from src.
func (p *udpServiceProbe) cookie6(src, ip [16]byte, port uint16) (h uint64, sport uint16) {
	return p.sourcePort(p.env.Key.Sum64IPv6(src, ip, 0, port))
}

// sourcePort returns h and the source port it picks.
func (p *udpServiceProbe) sourcePort(h uint64) (uint64, uint16) {
	lo := uint64(p.env.SourcePortLo)
	n := uint64(p.env.SourcePortHi) - lo + 1
	return h, uint16(lo + (h>>32)%n)
}

// SourcePort implements Probe: the one the cookie picks.
func (p *udpServiceProbe) SourcePort(t *ProbeTarget) uint16 {
	if !t.Addr.Is4() {
		_, sport := p.cookie6(p.src6, t.Addr.As16(), p.ports.At(t.PortIndex))
		return sport
	}
	_, sport := p.cookie(addrToUint32(t.Addr), p.ports.At(t.PortIndex))
	return sport
}

// Put implements Probe: the port's template patched with the target, the source
// port and the cookie's bytes in the request's transaction field.
func (p *udpServiceProbe) Put(buf []byte, t *ProbeTarget) int {
	if !t.Addr.Is4() {
		if p.templates6 == nil {
			return 0
		}
		h, sport := p.cookie6(p.src6, t.Addr.As16(), p.ports.At(t.PortIndex))
		return p.templates6[t.PortIndex].Put(buf, t.DstMAC, t.Addr, sport, p.requests[t.PortIndex].Wire(h), uint32(h)&0xfffff)
	}
	ip := addrToUint32(t.Addr)
	h, sport := p.cookie(ip, p.ports.At(t.PortIndex))
	return p.templates[t.PortIndex].Put(buf, t.DstMAC, ip, sport, p.requests[t.PortIndex].Wire(h), uint16(h))
}

// Classify implements Probe (see the type's comment for the rule).
func (p *udpServiceProbe) Classify(r *packet.Reply, frame []byte, pi int) (result.State, result.Reason, ReplyClass) {
	if !p.valid(r, frame, pi) {
		return 0, 0, ReplyInvalid
	}
	switch r.Kind {
	case packet.ReplyUDP:
		return result.Open, result.ReasonUDPResponse, ReplyValid
	case packet.ReplyICMPUnreachable:
		if r.IPv6 {
			if r.ICMPCode == packet.ICMPv6PortUnreachable {
				return result.Closed, result.ReasonPortUnreachable, ReplyValid
			}
			if reason, ok := result.ICMPv6UnreachableReason(r.ICMPCode); ok {
				return result.Filtered, reason, ReplyValid
			}
			return 0, 0, ReplyIgnored
		}
		if r.ICMPCode == packet.ICMPv4PortUnreachable {
			return result.Closed, result.ReasonPortUnreachable, ReplyValid
		}
		if reason, ok := result.ICMPUnreachableReason(r.ICMPCode); ok {
			return result.Filtered, reason, ReplyValid
		}
	}
	return 0, 0, ReplyIgnored
}

// valid checks a reply against the probe's cookie: the source port always; for a
// datagram that is a message of the probed protocol, the echoed transaction field;
// for an ICMP error, the quoted field where the quote reaches it.
func (p *udpServiceProbe) valid(r *packet.Reply, frame []byte, pi int) bool {
	var h uint64
	var sport uint16
	if r.IPv6 {
		h, sport = p.cookie6(r.Local6, r.Target6, r.TargetPort)
	} else {
		h, sport = p.cookieFrom(r.LocalIP, r.TargetIP, r.TargetPort)
	}
	if r.LocalPort != sport {
		return false
	}
	req := &p.requests[pi]
	if req.CookieLen == 0 {
		return true
	}
	payload := r.Payload(frame)
	if r.Kind == packet.ReplyUDP {
		if !udpprobe.IsMessage(r.TargetPort, payload) {
			return true // not the protocol's message: an answer all the same
		}
		got, ok := udpprobe.ReplyCookie(r.TargetPort, payload)
		return ok && got == req.Wire(h)
	}
	if len(payload) < req.CookieOffset+req.CookieLen {
		return true // the quote stops before the field: the port is all there is to check
	}
	want := req.Wire(h)
	for i := 0; i < req.CookieLen; i++ {
		if payload[req.CookieOffset+i] != byte(want>>(8*(req.CookieLen-1-i))) {
			return false
		}
	}
	return true
}

// Silence implements Probe: silence cannot tell an open UDP port from a filtered one.
func (p *udpServiceProbe) Silence() (result.State, result.Reason) {
	return result.OpenFiltered, result.ReasonNoResponse
}

package engine

import (
	"fmt"

	"github.com/fastscan/fastscan/packet"
	"github.com/fastscan/fastscan/result"
	"github.com/fastscan/fastscan/target"
)

// tcpSYNProbe is the TCP SYN probe: a SYN whose sequence number is the cookie of
// (source, target, source port, port). A SYN-ACK acknowledging it says open, a reset
// closed, an ICMP unreachable of a filtering code filtered; silence is filtered.
type tcpSYNProbe struct {
	tmpl         *packet.SYNTemplate
	tmpl6        *packet.SYN6Template // nil when no target is IPv6
	src6         [16]byte
	ports        *target.Ports
	env          ProbeEnv
	srcIP        uint32
	sportLo, nsp uint64
}

// newTCPSYNProbe builds the SYN templates for env (IPv4, and IPv6 when the scan
// has an IPv6 source); it is the kind's constructor.
func newTCPSYNProbe(env ProbeEnv, ports *target.Ports) (Probe, error) {
	if env.SrcIP.IsValid() && !env.SrcIP.Is4() {
		return nil, fmt.Errorf("source address %v: not an IPv4 address", env.SrcIP)
	}
	srcIP := addrToUint32(env.SrcIP)
	tmpl, err := packet.NewSYNTemplate(packet.SYNParams{SrcMAC: env.SrcMAC, DstMAC: env.RouterMAC, SrcIP: srcIP})
	if err != nil {
		return nil, fmt.Errorf("building the SYN template: %w", err)
	}
	p := &tcpSYNProbe{
		tmpl: tmpl, ports: ports, env: env, srcIP: srcIP,
		sportLo: uint64(env.SourcePortLo), nsp: uint64(env.SourcePortHi) - uint64(env.SourcePortLo) + 1,
	}
	if env.SrcIP6.IsValid() {
		p.tmpl6, err = packet.NewSYN6Template(packet.SYN6Params{SrcMAC: env.SrcMAC, DstMAC: env.RouterMAC6, SrcIP: env.SrcIP6})
		if err != nil {
			return nil, fmt.Errorf("building the IPv6 SYN template: %w", err)
		}
		p.src6 = env.SrcIP6.As16()
	}
	return p, nil
}

// Proto implements Probe.
func (p *tcpSYNProbe) Proto() result.Proto { return result.TCP }

// IPProtocol implements Probe.
func (p *tcpSYNProbe) IPProtocol() uint8 { return packet.ProtocolTCP }

// FrameLen implements Probe: the longer template's length.
func (p *tcpSYNProbe) FrameLen() int {
	if p.tmpl6 != nil {
		return max(p.tmpl.Len(), p.tmpl6.Len())
	}
	return p.tmpl.Len()
}

// SourcePort implements Probe. It varies with the position and the pass, so that a retry is a new
// connection to the target and probes spread over the whole source port range. A loss
// sample's second probe is half the range further on (another port than any pass's
// while the range is wider than twice the passes).
func (p *tcpSYNProbe) SourcePort(t *ProbeTarget) uint16 {
	off := t.Pos + uint64(t.Pass)
	if t.Second {
		off += p.nsp / 2
	}
	return uint16(p.sportLo + off%p.nsp)
}

// Put implements Probe: the template patched with the target, the source port and
// the cookie as sequence number (its high half as IP id).
func (p *tcpSYNProbe) Put(buf []byte, t *ProbeTarget) int {
	port := p.ports.At(t.PortIndex)
	sport := p.SourcePort(t)
	if !t.Addr.Is4() {
		if p.tmpl6 == nil {
			return 0
		}
		seq := p.env.Key.SumIPv6(p.src6, t.Addr.As16(), sport, port)
		return p.tmpl6.Put(buf, t.DstMAC, t.Addr, port, sport, seq, seq>>12)
	}
	ip := addrToUint32(t.Addr)
	seq := p.env.Key.Sum(p.srcIP, ip, sport, port)
	return p.tmpl.Put(buf, t.DstMAC, ip, port, sport, seq, uint16(seq>>16))
}

// Classify implements Probe: the acknowledgement (or the quoted sequence number)
// must be the flow's cookie.
func (p *tcpSYNProbe) Classify(r *packet.Reply, _ []byte, _ int) (result.State, result.Reason, ReplyClass) {
	if r.IPv6 {
		if p.env.Key.SumIPv6(r.Local6, r.Target6, r.LocalPort, r.TargetPort) != r.Cookie {
			return 0, 0, ReplyInvalid
		}
		if r.Kind == packet.ReplyICMPUnreachable {
			if reason, ok := result.ICMPv6UnreachableReason(r.ICMPCode); ok {
				return result.Filtered, reason, ReplyValid
			}
			return 0, 0, ReplyIgnored
		}
	} else if p.env.Key.Sum(r.LocalIP, r.TargetIP, r.LocalPort, r.TargetPort) != r.Cookie {
		return 0, 0, ReplyInvalid
	}
	switch r.Kind {
	case packet.ReplySYNACK:
		return result.Open, result.ReasonSYNACK, ReplyValid
	case packet.ReplyRST:
		return result.Closed, result.ReasonReset, ReplyValid
	case packet.ReplyICMPUnreachable:
		if p.env.Connect {
			return result.Filtered, connectUnreachableReason(r.ICMPCode), ReplyValid
		}
		if reason, ok := result.ICMPUnreachableReason(r.ICMPCode); ok {
			return result.Filtered, reason, ReplyValid
		}
	}
	return 0, 0, ReplyIgnored
}

// Silence implements Probe: a port that never answered a SYN is filtered.
func (p *tcpSYNProbe) Silence() (result.State, result.Reason) {
	return result.Filtered, result.ReasonNoResponse
}

// connectUnreachableReason is the reason of a filtered port whose connection an
// ICMP destination-unreachable error of code ended (a connect scan: the kernel
// aborts a connection in SYN-SENT on any of them). The codes a SYN scan judges
// (result.ICMPUnreachableReason) keep their reasons; the others are named by
// what they say: the network (0 net unreachable, 6 unknown, 11 for the TOS),
// the host (1, 5 source route failed, 7 unknown, 8 isolated, 12 for the TOS,
// 4 fragmentation needed), an administrative prohibition (13, 14, 15).
func connectUnreachableReason(code uint8) result.Reason {
	if r, ok := result.ICMPUnreachableReason(code); ok {
		return r
	}
	switch code {
	case 0, 6, 11:
		return result.ReasonNetUnreachable
	case 14, 15:
		return result.ReasonAdminProhibited
	}
	return result.ReasonHostUnreachable
}

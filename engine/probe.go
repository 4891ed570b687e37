package engine

import (
	"fmt"
	"net/netip"
	"sync/atomic"

	"github.com/fastscan/fastscan/cookie"
	"github.com/fastscan/fastscan/packet"
	"github.com/fastscan/fastscan/result"
	"github.com/fastscan/fastscan/target"
)

// A Probe is one kind of probe, as zmap's probe modules are: TCP SYN, UDP with each
// service's request. It owns everything that differs between kinds - the frame it
// writes and how long it can be, how a validated reply becomes a verdict, the verdict
// for silence and its part of the receive filter - so that the scheduler, the
// receiver and the summaries never ask which kind a target is.
//
// A Probe is built once per scan by its kind's constructor (see probeKinds), after
// the plan knows the addresses; Put runs on the sender goroutines (several at once
// with Config.Senders > 1) and Classify on the receiver goroutine, so Put must not
// write any state of the Probe, and Classify only state of its own. Neither may
// allocate.
type Probe interface {
	// Proto is the transport protocol the probe tests.
	Proto() result.Proto
	// IPProtocol is the IP protocol number of the probe and its replies (6, 17): the
	// receive filter passes those addressed to the scan's source ports.
	IPProtocol() uint8
	// FrameLen is the length of the longest frame Put writes: the link's buffers are
	// sized from it.
	FrameLen() int
	// Put writes the probe to t into buf, which holds at least FrameLen bytes, and
	// returns the frame's length.
	Put(buf []byte, t *ProbeTarget) int
	// SourcePort is the source port of the probe to t: where its replies come back.
	SourcePort(t *ProbeTarget) uint16
	// Classify judges a reply r (parsed from frame) to the probe of port index pi:
	// its verdict, or that it was forged or stale (ReplyInvalid), or that it says
	// nothing about the port (ReplyIgnored).
	Classify(r *packet.Reply, frame []byte, pi int) (result.State, result.Reason, ReplyClass)
	// Silence is the verdict for a target that never answered.
	Silence() (result.State, result.Reason)
}

// ProbeTarget is one probe to send: where it goes and where it stands in the scan.
type ProbeTarget struct {
	// DstMAC is the next hop's MAC; nil means the probe's default, the router's.
	DstMAC *[6]byte
	// Addr is the probed address.
	Addr netip.Addr
	// PortIndex is the index of the probed port in the probe kind's own port list.
	PortIndex int
	// Pos is the target's position in the scan order, and Pass the send pass (0 for
	// the first, 1.. for retries).
	Pos  uint64
	Pass int
	// Second marks the loss sample's second probe to the target (loss.go), sent
	// shortly after the first in the first pass: a kind that can tell the two
	// apart gives it another source port than the target's probe of any pass.
	Second bool
}

// ReplyClass is what a probe makes of a reply.
type ReplyClass uint8

// Reply classes returned by Probe.Classify.
const (
	// ReplyIgnored: the reply says nothing about the port (an ICMP code that does
	// not decide a state); it is neither counted nor reported.
	ReplyIgnored ReplyClass = iota
	// ReplyValid: the reply carries the probe's cookie and decides a verdict.
	ReplyValid
	// ReplyInvalid: the reply fails the cookie check: forged, stale or unrelated.
	ReplyInvalid
)

// ProbeEnv is what a probe kind's constructor gets to build its probes: where the
// probes come from and go to, and the scan's secret.
type ProbeEnv struct {
	// SrcMAC and RouterMAC fill the Ethernet header (RouterMAC is the default next hop).
	SrcMAC, RouterMAC [6]byte
	// SrcIP is the scanner's IPv4 address (not valid when no target is IPv4).
	SrcIP netip.Addr
	// SrcIP6 is the scanner's IPv6 address and RouterMAC6 the next hop of
	// off-link IPv6 targets; SrcIP6 is not valid when no target is IPv6.
	SrcIP6     netip.Addr
	RouterMAC6 [6]byte
	// Key is the scan's cookie key.
	Key cookie.Key
	// SourcePortLo and SourcePortHi bound the probes' source ports.
	SourcePortLo, SourcePortHi uint16
	// Connect says the probes go through the kernel's connect(2) (Config.Connect):
	// an ICMP error of any unreachable code ended the connection, so every code
	// decides a verdict.
	Connect bool
}

// probeKind registers one kind of probe: the ports of a Config it probes and the
// constructor of its Probe.
type probeKind struct {
	name  string
	ports func(*Config) *target.Ports
	build func(env ProbeEnv, ports *target.Ports) (Probe, error)
}

// probeKinds lists every kind of probe, in the order their ports are numbered in
// the scan. Adding a kind is one file with its Probe and one line here.
func probeKinds() []probeKind {
	return []probeKind{
		{"tcp-syn", func(c *Config) *target.Ports { return &c.Ports }, newTCPSYNProbe},
		{"udp", func(c *Config) *target.Ports { return &c.UDPPorts }, newUDPServiceProbe},
	}
}

// portGroup is the ports of one probe kind within the scan's port index space: the
// kind's i-th port is the scan's port offset+i.
type portGroup struct {
	kind   probeKind
	ports  *target.Ports
	offset uint64
	probe  Probe // built by buildProbes
	// answered counts the group's targets that answered.
	answered atomic.Uint64
	// sampled: the loss estimate samples the group's targets (sampleable).
	sampled bool
}

// buildProbes builds every group's Probe for env and checks that each can write its
// frames: a probe that cannot be built is an error before anything is sent.
func (s *Scanner) buildProbes(env ProbeEnv) error {
	s.frameLen = 0
	for _, g := range s.groups {
		p, err := g.kind.build(env, g.ports)
		if err != nil {
			return fmt.Errorf("building the %s probes: %w", g.kind.name, err)
		}
		g.probe = p
		g.sampled = s.loss != nil && sampleable(p, s.cfg.Retries)
		s.byProto[p.IPProtocol()] = g
		s.frameLen = max(s.frameLen, p.FrameLen())
	}
	return nil
}

// groupOf returns the group of the scan's port index pi.
func (s *Scanner) groupOf(pi uint64) *portGroup {
	gs := s.groups
	for i := len(gs) - 1; i > 0; i-- {
		if pi >= gs[i].offset {
			return gs[i]
		}
	}
	return gs[0]
}

package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/fastscan/fastscan/link"
	"github.com/fastscan/fastscan/link/connect"
	"github.com/fastscan/fastscan/result"
	"github.com/fastscan/fastscan/route"
	"github.com/fastscan/fastscan/target"
)

// Defaults for Config fields left zero.
const (
	DefaultRate         = 10000
	DefaultWait         = 2 * time.Second
	DefaultSourcePortLo = 61000
	DefaultSourcePortHi = 65535
	DefaultARPWait      = 500 * time.Millisecond
)

// Config says what to scan and how. Targets, Ports and Rate are required; zero values
// elsewhere take the defaults above.
type Config struct {
	// Targets are the addresses to probe.
	Targets target.Set
	// Ports are the TCP ports to probe on every address.
	Ports target.Ports
	// UDPPorts are the UDP ports to probe on every address, each with its service's
	// request (package udpprobe) or an empty datagram.
	UDPPorts target.Ports
	// Rate is the number of probes sent per second.
	Rate float64
	// Retries is how many times a probe that got no answer is sent again.
	Retries int
	// Wait is the longest cool-down after the last probe of a pass; the engine stops
	// sooner when everything is answered or when replies stop coming for a few
	// round-trip times.
	Wait time.Duration
	// Seed fixes the scan order and the SYN cookie key. Scans with the same seed,
	// targets and ports probe in the same order.
	Seed uint64
	// Interface names the interface to send on; empty lets the routing table decide.
	Interface string
	// SourceIP overrides the IPv4 source address; the zero Addr takes the route's.
	SourceIP netip.Addr
	// SourceIP6 overrides the IPv6 source address; the zero Addr takes the route's.
	SourceIP6 netip.Addr
	// RouterMAC overrides the next hop's MAC for off-link targets; nil resolves it by ARP.
	RouterMAC *[6]byte
	// SourcePortLo and SourcePortHi bound the source ports of the probes. Replies are
	// accepted only on these ports. The default 61000-65535 lies above Linux's
	// ephemeral range, so the kernel's own connections do not collide with the scan.
	SourcePortLo, SourcePortHi uint16
	// ARPWait is the longest timeout of one ARP request (the router's, on-link
	// targets'): the timeout adapts to the ARP round trips measured, from 20 ms up
	// (route.ResolveARP), and doubles with each of the two retries, up to ARPWait.
	ARPWait time.Duration
	// ARP opens the conn ARP requests and replies go through (and whose neighbour
	// table is asked first); nil is an AF_PACKET socket on the plan's interface
	// (route.OpenARP).
	ARP func(ifc net.Interface) (route.ARPConn, error)
	// Show selects the verdicts handed to the caller; open ports are always shown.
	Show result.StateSet
	// Hidden, when not nil, is called with every verdict of a reply that Show
	// hides (not the silence verdicts of targets that never answered), on the
	// receiver's goroutine: it must be quick and safe for use from it.
	Hidden func(result.Result)
	// TrackHidden keeps a set of the targets whose verdict Show hides (a Table,
	// marked by the receiver), read with EachHidden: a resume checkpoint
	// must know every target that answered, shown or not, or a resumed scan would
	// give a hidden closed port the silence verdict.
	TrackHidden bool
	// Link opens the link probes leave by and replies arrive on; nil is AF_PACKET
	// (link.OpenAFPacket).
	Link link.Opener
	// Path, when set, fixes where probes go without asking the routing table or
	// ARP: for links that are not a kernel interface (tests), or to pin a route.
	Path *Path
	// TxRing selects the PACKET_TX_RING transmitter instead of sendmmsg.
	TxRing bool
	// Senders is the number of sending goroutines, each with its own transmitter
	// (Link.NewTransmitter), batch, rate limiter (Rate/Senders) and send clock,
	// each owning every Senders-th position of the scan's share (see Shard).
	// 0 means 1; DefaultSenders is what the machine allows.
	Senders int
	// Shard and Shards split one scan over several processes or machines:
	// shard Shard (0-based) of Shards probes only the permutation positions p
	// with p mod Shards == Shard, and reports only its own targets (replies to
	// the other shards' probes, which one machine's shards all see, are ignored).
	// The shards of one scan need the same Seed, targets and ports; together
	// they probe every target once per pass. Shards 0 means 1.
	Shard, Shards int
	// Capture, if set, receives every reply that passed validation (duplicates
	// included), on the receiver goroutine: it must copy frame, not keep it, and
	// return at once.
	Capture func(frame []byte, tsNanos int64)
	// Resume, when set, continues a stopped scan of the same Config from its
	// pass and position, with its answered targets decided (see Resume).
	Resume *Resume
	// EstimateLoss sends a second probe to a keyed sample of the first pass's
	// targets (1/16 to 1/128 of them, the fewer the larger the scan) to
	// estimate the share of probes lost (Progress.Loss; see loss.go). Only
	// probe kinds that give the second probe a source port of its own are
	// sampled (TCP SYN; not UDP).
	EstimateLoss bool
	// Adaptive lowers the rate when the estimated loss rises above
	// AdaptiveHigh and raises it back towards Rate when it falls below
	// AdaptiveLow (adaptive.go); it implies EstimateLoss. Each change is in
	// RateChanges, a Notice and a call of RateChanged.
	Adaptive bool
	// RateChanged, when not nil, is called with each change Adaptive makes,
	// from a sender's goroutine, once the new rate is set (each sender takes
	// it at its next batch): -sV paces its new connections at the scan's rate.
	RateChanged func(RateChange)
	// Connect probes the TCP ports through the kernel's connect(2) instead of
	// raw SYN frames: no raw socket and no privilege is needed. Link, when nil,
	// is then a connect link (package link/connect) with Wait as its timeout,
	// Parallelism and SourceIP; the plan asks the routing table for the source
	// address only (no ARP: the kernel routes each connection). UDPPorts and
	// Interface must be empty.
	Connect bool
	// Parallelism is the most connections in flight at once of a connect
	// scan's default link; 0 is connect.DefaultParallelism. It is lowered to
	// fit the open-file limit (connect.Limit).
	Parallelism int
	// Notice receives one-line messages for the user (skipped addresses and the like).
	// Nil discards them.
	Notice func(msg string)
	// Linger, when not nil, is called once after the last pass's cool-down
	// (not when the scan was interrupted or failed), from the sender's
	// goroutine; the receiver keeps running until it returns, so that a reply
	// arriving late still makes a result (emitted as any other). settled
	// reports whether every target probed has answered. -sV lingers, while a
	// target is unanswered, until Wait has passed: its own connections can
	// queue the scan's last replies behind theirs on a narrow path, past a
	// cool-down that ended by silence. ctx ends when the scan is interrupted;
	// a scan interrupted during its linger is interrupted (Summary.Interrupted,
	// no silence verdicts), as during a cool-down.
	Linger func(ctx context.Context, settled func() bool)
}

func (c *Config) setDefaults() {
	if c.Wait == 0 {
		c.Wait = DefaultWait
	}
	if c.SourcePortLo == 0 && c.SourcePortHi == 0 {
		c.SourcePortLo, c.SourcePortHi = DefaultSourcePortLo, DefaultSourcePortHi
	}
	if c.ARPWait == 0 {
		c.ARPWait = DefaultARPWait
	}
	c.Show = c.Show.With(result.Open)
	if c.Notice == nil {
		c.Notice = func(string) {}
	}
	if c.Senders == 0 {
		c.Senders = 1
	}
	if c.Shards == 0 {
		c.Shards = 1
	}
	if c.Adaptive {
		c.EstimateLoss = true
	}
	if c.Connect && c.Link == nil {
		c.Link = connect.Opener(connect.Options{Timeout: c.Wait, Parallelism: c.Parallelism, Bind: c.SourceIP, Notice: c.Notice})
	}
}

func (c *Config) validate() error {
	if c.Targets.Len() == 0 {
		return errors.New("no targets to scan")
	}
	if c.Ports.Len()+c.UDPPorts.Len() == 0 {
		return errors.New("no ports to scan")
	}
	if !(c.Rate > 0) {
		return fmt.Errorf("rate %v: must be above 0", c.Rate)
	}
	if c.Retries < 0 {
		return fmt.Errorf("retries %d: must not be negative", c.Retries)
	}
	if c.Wait < 0 {
		return fmt.Errorf("wait %v: must not be negative", c.Wait)
	}
	if c.Senders < 1 || c.Senders > MaxSenders {
		return fmt.Errorf("senders %d: must be 1 to %d", c.Senders, MaxSenders)
	}
	if c.Shards < 1 || c.Shard < 0 || c.Shard >= c.Shards {
		return fmt.Errorf("shard %d of %d: want 0 <= shard < shards", c.Shard, c.Shards)
	}
	if c.Connect && c.UDPPorts.Len() > 0 {
		return &UsageError{"a connect scan probes TCP only: UDP ports need raw sockets"}
	}
	if c.Connect && c.Interface != "" {
		return &UsageError{"a connect scan lets the kernel route each connection: an interface cannot be chosen"}
	}
	if c.Parallelism < 0 || c.Parallelism > connect.MaxParallelism {
		return fmt.Errorf("parallelism %d: must be 0 to %d", c.Parallelism, connect.MaxParallelism)
	}
	if c.SourcePortLo == 0 || c.SourcePortHi < c.SourcePortLo {
		return fmt.Errorf("source ports %d-%d: not a valid range", c.SourcePortLo, c.SourcePortHi)
	}
	return nil
}

// Path is a fixed route for a scan: every probe leaves by Interface from SourceIP
// and SourceMAC to RouterMAC (off-link targets are all behind one router), with no
// route lookup and no ARP.
type Path struct {
	// Interface is the interface probes leave by.
	Interface net.Interface
	// SourceIP and SourceMAC are the scanner's addresses.
	SourceIP  netip.Addr
	SourceMAC [6]byte
	// RouterMAC is the next hop of every probe.
	RouterMAC [6]byte
	// Loopback says that the targets are this host's own addresses.
	Loopback bool
	// OnLink, when valid, is the subnet on the link: targets inside it are resolved
	// by ARP through Config.ARP, each probed at its own MAC, as on a LAN.
	OnLink netip.Prefix
}

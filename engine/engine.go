// Package engine runs a scan: it plans where packets go (interface, source address,
// next-hop MACs, ARP for on-link hosts), sends probes from one or more goroutines at
// a precise rate in a keyed pseudo-random order, matches replies in another goroutine against
// stateless cookies and a lock-free target table, retries what got no answer, and
// hands every verdict to the caller.
//
// Two seams keep it open: a Probe (probe.go) is one kind of probe - TCP SYN, UDP -
// and a link.Link is where frames leave and arrive - AF_PACKET, or an in-memory
// network in tests. The scheduler never asks which kind of probe or link it has.
//
// Files by job: engine.go (the Scanner and its counters), run.go (a scan from start
// to end), send.go (passes), sender.go (senders, shards: who owns which
// positions), receive.go (replies to verdicts), cooldown.go (waiting
// for replies, round-trip times), summary.go (what a scan reports), plan.go (routes
// and next hops), table.go (the target table), replay.go (recorded replies).
package engine

import (
	"net/netip"
	"sync/atomic"
	"time"

	"golang.org/x/sys/cpu"

	"github.com/fastscan/fastscan/cookie"
	"github.com/fastscan/fastscan/link"
	"github.com/fastscan/fastscan/packet"
	"github.com/fastscan/fastscan/permute"
	"github.com/fastscan/fastscan/result"
)

// resultQueue is how many verdicts may wait for the caller's emit function.
const resultQueue = 1 << 16

// Progress is a snapshot of a running scan, for progress lines and summaries.
type Progress struct {
	// Phase is what the scan is doing.
	Phase Phase
	// Pass is the send pass: 0 for the first, 1.. for retries.
	Pass int
	// Position is how many targets the current pass has gone through, of Targets:
	// with several senders, the position below which every sender went through
	// every target. Targets is the scan's size, or of a shard (Config.Shards) its
	// share; positions count in the shard's own order (see Resume).
	Position, Targets uint64
	// Sent counts probes sent, Replies valid replies (duplicates included).
	Sent, Replies uint64
	// Open, Closed and Filtered count verdicts decided by a reply so far.
	Open, Closed, Filtered uint64
	// RingDrops counts replies the kernel dropped because the receive ring was full
	// (read every quarter of a second while the scan runs).
	RingDrops uint64
	// Invalid counts replies to our address and ports whose cookie did not match:
	// forged, stale or unrelated packets. They never produce a result. In a passive
	// replay it counts resets that end a connection instead of answering a SYN.
	Invalid uint64
	// Elapsed is the time since the scan started: routing and ARP included.
	Elapsed time.Duration
	// Loss counts the loss samples of the first pass (Config.EstimateLoss);
	// Loss.Estimate is the estimated share of probes lost.
	Loss LossStats
	// Rate is the send rate the senders are set to: Config.Rate, or as
	// Config.Adaptive changed it.
	Rate float64
	// Remaining is the estimated time until the scan ends: the probes still to
	// send in this pass and in the retry passes to come (the targets expected
	// unanswered), at Rate, and the cool-downs after each pass (eta.go). 0 once
	// the scan has ended.
	Remaining time.Duration
}

// Scanner runs one scan. Create it with New and run it once with Run (or Replay);
// Progress may be called from any goroutine, also while it runs.
type Scanner struct {
	cfg   Config
	start atomic.Int64 // Unix nanoseconds Run or Replay was called; 0 before
	began atomic.Int64 // Unix nanoseconds the scan began (Prepare or Run), for Elapsed

	// groups are the ports of each probe kind, in the scan's port index order;
	// byProto finds a reply's group by its IP protocol.
	groups   []*portGroup
	byProto  [256]*portGroup
	frameLen int
	nports   uint64 // ports of every kind
	total    uint64 // targets: addresses x ports

	perm  permute.Permutation
	key   cookie.Key
	table *Table
	// hidden marks the targets whose verdict Show hid (Config.TrackHidden).
	hidden *Table
	plan   *plan
	hosts  *hostTable
	// firstPass is the pass the sender starts in: 0, or a resumed scan's.
	firstPass int
	// tcp is the TCP SYN group (nil: no TCP port); opens marks its targets whose
	// first verdict was open, for the open-everywhere heuristic (openeverywhere.go),
	// nil when it cannot flag anything (fewer TCP ports than it needs).
	tcp   *portGroup
	opens *Table
	// flagged is the hosts the heuristic flagged, set when the scan ends.
	flagged atomic.Pointer[[]result.OpenEverywhere]

	// dom is the part of the permutation this scan (shard) owns; senders split it.
	dom     domain
	senders []*sender

	phase atomic.Uint32 // Phase
	pass  atomic.Int32
	// allLeft says that every probe of the first pass left (a later pass, a
	// replay): a valid reply to any of the scan's targets is ours.
	allLeft atomic.Bool

	// The receiver's counters, on cache lines of their own (the senders write theirs
	// in their own sender).
	_          cpu.CacheLinePad
	replies    atomic.Uint64
	answered   atomic.Uint64
	open       atomic.Uint64
	closed     atomic.Uint64
	filtered   atomic.Uint64
	duplicates atomic.Uint64
	// secondAnswers counts answers of a loss sample's second probe to a
	// target its first probe's answer had decided (or the other way round).
	secondAnswers atomic.Uint64
	invalid       atomic.Uint64
	ringDrops     atomic.Uint64
	dropPasses    atomic.Int32 // retry passes added because the ring dropped replies (dropPass)
	lastReply     atomic.Int64
	// rto is the retransmission timeout from the round trips seen (0: none yet),
	// srtt the smoothed round trip (nanoseconds).
	rto, srtt atomic.Int64
	_         cpu.CacheLinePad
	// coolDownNanos is the time spent in cool-downs so far; passEnd is when
	// the latest pass ended (Unix nanoseconds).
	coolDownNanos, passEnd atomic.Int64
	// lingerNanos is the time Config.Linger took; lingering is set while it
	// runs (the receiver polls less often).
	lingerNanos atomic.Int64
	lingering   atomic.Bool
	// downKnown says that the senders' down counts cover the whole first pass.
	downKnown atomic.Bool
	rtt       rttEstimator // receiver-only
	reply     packet.Reply // receiver-only scratch
	src6      [16]byte     // the plan's IPv6 source address, as replies carry it
	rxTarget  ProbeTarget  // receiver-only scratch

	// loss is how the first pass samples the loss (nil: it does not); adapt
	// changes the rate from the estimate (nil: Config.Adaptive unset).
	loss  *lossPlan
	adapt *adaptive

	// link is opened by Prepare for Run; sender 0 sends on it, the others on
	// their own transmitters.
	link link.Link

	results chan result.Result
	// delivery: how far the receiver and the collector have got (DeliveredUntil).
	// handledUntil is the receiver's (a time before which every frame the link
	// received has been handled), pushed the results it queued; delivered counts
	// the results emit returned from, deliveredTs the reply time of the last.
	handledUntil, deliveredTs atomic.Int64
	pushed, delivered         atomic.Uint64
	// abort is closed when the scan fails: the receiver then stops handing results
	// to a collector that may no longer take them.
	abort <-chan struct{}
}

// New checks cfg and prepares a scan. Nothing is sent until Run.
func New(cfg Config) (*Scanner, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Scanner{cfg: cfg, results: make(chan result.Result, resultQueue)}
	for _, k := range probeKinds() {
		ports := k.ports(&s.cfg)
		if ports.Len() == 0 {
			continue
		}
		s.groups = append(s.groups, &portGroup{kind: k, ports: ports, offset: s.nports})
		s.nports += uint64(ports.Len())
	}
	total, err := ScanSize(&s.cfg.Targets, s.nports)
	if err != nil {
		return nil, err
	}
	s.total = total
	table, err := NewTable(s.total)
	if err != nil {
		return nil, err
	}
	s.table = table
	if s.cfg.TrackHidden {
		if s.hidden, err = NewTable(s.total); err != nil {
			return nil, err
		}
	}
	if err := s.newOpens(); err != nil {
		return nil, err
	}
	s.perm = permute.New(s.total, cfg.Seed)
	s.key = cookie.NewKey(cfg.Seed)
	if s.hosts, err = newHostTable(s.cfg.Targets.Len()); err != nil {
		return nil, err
	}
	s.dom = newDomain(s.total, s.cfg.Shard, s.cfg.Shards, s.cfg.Senders)
	s.senders = newSenders(s.cfg.Senders)
	if s.cfg.EstimateLoss {
		s.loss = newLossPlan(s.dom.n, s.cfg.Seed)
		for _, sd := range s.senders {
			sd.loss = newSenderLoss(s.loss, sd.id)
		}
	}
	if s.cfg.Adaptive {
		s.adapt = newAdaptive(s.cfg.Rate)
	}
	if cfg.Resume != nil {
		s.firstPass = cfg.Resume.Pass
		if err := s.resumeFrom(cfg.Resume); err != nil {
			return nil, err
		}
	}
	s.setPhase(PhaseStarting)
	return s, nil
}

func (s *Scanner) setPhase(p Phase) { s.phase.Store(uint32(p)) }

// Progress returns a snapshot of the scan's counters.
func (s *Scanner) Progress() Progress {
	var elapsed time.Duration
	now := time.Now()
	if start := s.began.Load(); start != 0 {
		elapsed = time.Duration(now.UnixNano() - start)
	}
	// The phase and pass before the positions (send stores them the other way round).
	phase := Phase(s.phase.Load())
	pass := int(s.pass.Load())
	pos := s.position()
	rate := s.currentRate()
	return Progress{
		Phase:     phase,
		Pass:      pass,
		Position:  pos,
		Targets:   s.dom.n,
		Sent:      s.sentTotal(),
		Replies:   s.replies.Load(),
		Open:      s.open.Load(),
		Closed:    s.closed.Load(),
		Filtered:  s.filtered.Load(),
		RingDrops: s.ringDrops.Load(),
		Invalid:   s.invalid.Load(),
		Elapsed:   elapsed,
		Loss:      s.lossStats(),
		Rate:      rate,
		Remaining: s.remaining(now, phase, pass, pos, rate),
	}
}

// addrToUint32 is an IPv4 address as the numeric value the IPv4 templates and the
// reply parser use; 0 for anything else.
func addrToUint32(a netip.Addr) uint32 {
	if !a.Is4() {
		return 0
	}
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// uint32ToAddr is the inverse of addrToUint32.
func uint32ToAddr(ip uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(ip >> 24), byte(ip >> 16), byte(ip >> 8), byte(ip)})
}

package engine

import (
	"math"
	"sync/atomic"
	"time"

	"github.com/fastscan/fastscan/packet"
	"github.com/fastscan/fastscan/splitmix"
)

// The loss estimate (Config.EstimateLoss; README "Loss estimate"). In the first
// pass every sender picks a keyed sample of its own positions - every stride-th,
// from a keyed offset: the permutation makes that a random sample of targets -
// and sends each sampled target a second probe shortly after the first (at an
// own position a keyed delay further on, so the two leave at unrelated places
// of their batches), from another source port (ProbeTarget.Second). The
// receiver tells the two answers apart by their ports. Once the second probe's
// reply had its time to arrive, the sender looks at what came back: among the
// sampled targets that answered at all, the share that answered only one of
// the two probes is, when every probe/reply pair is lost with probability p
// independently, P(one | at least one) = 2p(1-p)/(1-p^2) = 2p/(1+p); so
// p = x/(2-x) for the share x measured. Nothing is allocated per probe or
// reply: each sender keeps a ring of lossRing samples, one atomic word each,
// that the receiver updates with a compare-and-swap.

const (
	// lossRing is how many samples a sender tracks at once (a power of two):
	// from the first probe to the evaluation after the second's reply.
	lossRing = 1 << 14
	// lossTargetSamples is the number of samples a scan aims at; the stride
	// stays within [lossMinStride, lossMaxStride] (powers of two): at most
	// 1/16 more probes for a small scan, 1/128 for a large one.
	lossTargetSamples = 16384
	lossMinStride     = 16
	lossMaxStride     = 128
	// secondDelay is how long after the first probe, at the sender's rate,
	// the second is due at least (and at least four batches later; at most a
	// quarter of the ring's reach).
	secondDelay = time.Millisecond
	// lossSettleMin and lossSettleMax bound the time a sample's replies get
	// after its second probe left before it is counted: four retransmission
	// timeouts of the round trips seen, within these, and until the receiver
	// has handled a reply that arrived a timeout after it (a receiver that lags
	// behind has not seen the second answer yet), but never more than
	// lossSettleMax.
	lossSettleMin = 50 * time.Millisecond
	lossSettleMax = time.Second
	// LossMinAnswered is how many sampled targets must have answered for the
	// estimate to be shown.
	LossMinAnswered = 20
)

// The bits of a sample's word: its tag (the sample's ordinal + 1) above
// slotTagShift, set by the sender before the first probe leaves; whether the
// second probe left; which of the two probes were answered.
const (
	slotFirst    = 1
	slotSecond   = 2
	slotSent     = 4
	slotTagShift = 3
)

// lossKey separates the sample's keys from the scan order's.
const lossKey = 0x6c6f73732d6b6579

// LossStats counts the loss samples of the first pass: targets sent two probes
// whose replies have been waited for.
type LossStats struct {
	// Pairs counts the sampled targets counted so far; Answered those of them
	// that answered at least one of the two probes, One those that answered
	// exactly one.
	Pairs, Answered, One uint64
}

// Estimate returns the estimated share of probes lost (probe or reply), from
// 0 to 1, and whether enough sampled targets answered (LossMinAnswered) for it
// to mean anything.
func (l LossStats) Estimate() (float64, bool) {
	if l.Answered == 0 {
		return 0, false
	}
	return lossFromShare(float64(l.One) / float64(l.Answered)), l.Answered >= LossMinAnswered
}

// lossFromShare inverts x = 2p/(1+p): the loss p from the share x of answering
// samples that answered one probe only.
func lossFromShare(x float64) float64 {
	x = min(max(x, 0), 1)
	return x / (2 - x)
}

// lossPlan is how the scan samples: fixed before the first probe.
type lossPlan struct {
	stride uint64 // K: a sender samples its own positions offset + K*ord
	delay  uint64 // the second probe's least delay, in own positions
	spread uint64 // plus a keyed 0..spread-1
	key    uint64
}

// LossStride is how many of the first pass's targets of a scan (or shard) of n
// targets there are per loss sample: with Config.EstimateLoss each sampled TCP
// target gets a second probe, about 1/LossStride(n) more TCP probes.
func LossStride(n uint64) uint64 { return newLossPlan(n, 0).stride }

// newLossPlan samples a share of n targets.
func newLossPlan(n, seed uint64) *lossPlan {
	k := uint64(lossMinStride)
	for k < lossMaxStride && k*2*lossTargetSamples <= n {
		k *= 2
	}
	st := seed ^ lossKey
	return &lossPlan{stride: k, key: splitmix.Next(&st)}
}

// setPace sizes the second probe's delay for a sender's rate and batch. The
// two probes of a sample must be lost independently for p = x/(2-x) to hold,
// and a policer (a token bucket) passes the head of each burst the sender
// sends and drops its tail: a pair sent in one burst would never be answered
// twice (the estimate read 1 to 4 points high under linktest's policer when
// the delay was 1 ms and bursts held two batches). So the second probe leaves
// at least four batches after the first, never in the same burst, and the
// spread covers eight batches, so that where it falls in its burst does not
// depend on where the first fell in its own.
func (lp *lossPlan) setPace(rate float64, batch int) {
	lp.spread = max(lp.stride, 8*uint64(batch))
	reach := lossRing * lp.stride / 4
	lp.delay = uint64(min(max(math.Ceil(rate*secondDelay.Seconds()), 4*float64(batch), 1), float64(reach-lp.spread)))
}

// lossSlot is one sample of a sender: word is shared with the receiver, the
// rest is the sender's.
type lossSlot struct {
	word   atomic.Uint64
	first  int64 // the sender's latest flush before the first probe left
	second int64 // when the second probe left
	queued bool  // the second probe is in a batch
}

// senderLoss is a sender's samples: a ring indexed by the sample's ordinal.
type senderLoss struct {
	plan   *lossPlan
	key    uint64
	offset uint64 // the first own position sampled
	slots  []lossSlot
	// Ordinals: below head pushed or passed over; below sendLo second probe
	// queued (or never pushed); below evalAt counted.
	head, sendLo, evalAt uint64
	nextDue              uint64   // own position of the earliest second probe due
	batch                []uint64 // ordinals whose second probe is in the pending batch
	lastFlush            int64
}

func newSenderLoss(lp *lossPlan, id int) *senderLoss {
	st := lp.key + uint64(id)*0x9e3779b97f4a7c15
	key := splitmix.Next(&st)
	return &senderLoss{
		plan: lp, key: key, offset: key % lp.stride,
		slots:   make([]lossSlot, lossRing),
		nextDue: math.MaxUint64,
		batch:   make([]uint64, 0, 256),
	}
}

// sampled reports whether own position m is a sample, and its ordinal.
func (ls *senderLoss) sampled(m uint64) (ord uint64, ok bool) {
	if m < ls.offset || (m-ls.offset)&(ls.plan.stride-1) != 0 {
		return 0, false
	}
	return (m - ls.offset) / ls.plan.stride, true
}

// pos is the own position of sample ord.
func (ls *senderLoss) pos(ord uint64) uint64 { return ls.offset + ord*ls.plan.stride }

// due is the own position at which sample ord's second probe is sent.
func (ls *senderLoss) due(ord uint64) uint64 {
	st := ls.key ^ ord
	return ls.pos(ord) + ls.plan.delay + splitmix.Next(&st)%ls.plan.spread
}

func (ls *senderLoss) slot(ord uint64) *lossSlot { return &ls.slots[ord&(lossRing-1)] }

// push starts sample ord, before its first probe is put in a batch. A full
// ring counts its oldest sample at once (at rates and round trips it is not
// sized for).
func (s *Scanner) push(sd *sender, ord uint64) {
	ls := sd.loss
	if ls.evalAt == ls.head {
		// Nothing pending (also: a resumed scan's first sample): start here.
		ls.head, ls.sendLo, ls.evalAt = ord, ord, ord
	}
	for ord-ls.evalAt >= lossRing {
		s.count(sd, ls.evalAt)
		ls.evalAt++
	}
	sl := ls.slot(ord)
	sl.word.Store((ord + 1) << slotTagShift)
	sl.first, sl.second, sl.queued = ls.lastFlush, 0, false
	ls.head = ord + 1
	ls.nextDue = min(ls.nextDue, ls.due(ord))
}

// sendSeconds puts the second probes due at own position m (all of them when
// all is set: the end of the pass) into the batch with put, which returns
// false for a target it cannot probe and adds the ordinal of each probe it
// commits to ls.batch (before a flush can carry it).
func (s *Scanner) sendSeconds(sd *sender, m uint64, all bool, put func(ord uint64) (bool, error)) error {
	ls := sd.loss
	for o := ls.sendLo; o < ls.head; o++ {
		if !all && ls.pos(o)+ls.plan.delay > m {
			break // this one and every later one is not due yet
		}
		sl := ls.slot(o)
		if sl.queued || sl.word.Load()>>slotTagShift != o+1 || (!all && ls.due(o) > m) {
			continue
		}
		sl.queued = true
		ok, err := put(o) // adds o to ls.batch once its frame is committed
		if err != nil {
			return err
		}
		if !ok {
			sl.word.Store(0) // not a sample after all: its replies are plain ones
		}
	}
	for ls.sendLo < ls.head {
		sl := ls.slot(ls.sendLo)
		if !sl.queued && sl.word.Load()>>slotTagShift == ls.sendLo+1 {
			break
		}
		ls.sendLo++
	}
	ls.nextDue = math.MaxUint64
	for o := ls.sendLo; o < ls.head && ls.pos(o)+ls.plan.delay < ls.nextDue; o++ {
		if sl := ls.slot(o); !sl.queued && sl.word.Load()>>slotTagShift == o+1 {
			ls.nextDue = min(ls.nextDue, ls.due(o))
		}
	}
	return nil
}

// flushing marks the second probes of the batch about to leave at nanos as
// sent: before the frames leave, as the send clock, since a reply can arrive
// while the send call still runs.
func (ls *senderLoss) flushing(nanos int64) {
	for _, o := range ls.batch {
		sl := ls.slot(o)
		if sl.word.Load()>>slotTagShift != o+1 {
			continue // counted early and reused (a full ring): not this sample's slot now
		}
		sl.second = nanos
		sl.word.Or(slotSent)
	}
	ls.batch = ls.batch[:0]
	ls.lastFlush = nanos
}

// evaluate counts the samples whose replies had their time (lossSettle) at
// now, oldest first; with settle negative, all of those whose second probe left.
func (s *Scanner) evaluate(sd *sender, now int64, settle time.Duration) {
	ls := sd.loss
	handled := s.lastReply.Load() - int64(settle/4)
	for ; ls.evalAt < ls.head; ls.evalAt++ {
		sl := ls.slot(ls.evalAt)
		w := sl.word.Load()
		if w>>slotTagShift != ls.evalAt+1 {
			continue // never pushed, or dropped
		}
		if w&slotSent == 0 {
			return
		}
		if settle >= 0 {
			age := now - sl.second
			if age < int64(settle) || age < int64(lossSettleMax) && handled < sl.second {
				return
			}
		}
		s.count(sd, ls.evalAt)
	}
}

// count adds sample ord to its sender's counts.
func (s *Scanner) count(sd *sender, ord uint64) {
	sl := sd.loss.slot(ord)
	w := sl.word.Load()
	if w>>slotTagShift != ord+1 {
		return
	}
	sd.lossPairs.Add(1)
	bits := w & (slotFirst | slotSecond)
	if bits == 0 {
		return
	}
	one := bits != slotFirst|slotSecond
	sd.lossAnswered.Add(1)
	if one {
		sd.lossOne.Add(1)
	}
	if a := s.adapt; a != nil && sl.first >= a.epoch.Load() {
		sd.winAnswered.Add(1)
		if one {
			sd.winOne.Add(1)
		}
	}
}

// settle is how long a sample's replies get after its second probe left.
func (s *Scanner) lossSettle() time.Duration {
	rto := time.Duration(s.rto.Load())
	if rto == 0 {
		rto = initialRTO
	}
	return min(max(4*rto, lossSettleMin), lossSettleMax)
}

// countAll counts every sample left once the first pass is over (its
// cool-down waited for the replies). Senders must be stopped.
func (s *Scanner) countAll() {
	for _, sd := range s.senders {
		if sd.loss != nil {
			s.evaluate(sd, 0, -1)
		}
	}
}

// lossStats sums the senders' counts.
func (s *Scanner) lossStats() LossStats {
	var l LossStats
	for _, sd := range s.senders {
		l.Pairs += sd.lossPairs.Load()
		l.Answered += sd.lossAnswered.Load()
		l.One += sd.lossOne.Load()
	}
	return l
}

// pairKind is what a reply is to the loss samples.
type pairKind uint8

const (
	pairNone   pairKind = iota // not an answer to a sample's probe, or not its first
	pairFirst                  // the first answer of a sample (either probe)
	pairBoth                   // the second probe's answer after the first's, or the other way round
	pairUnsent                 // the answer to a second probe that never left
)

// samplePair records reply r (port index pi of group g, target at scan
// position p, sender j's own position m) in its sample, if it answers one of
// a sample's two probes (receiver).
func (s *Scanner) samplePair(g *portGroup, r *packet.Reply, pi int, p uint64, j int, m uint64) pairKind {
	ls := s.senders[j].loss
	if ls == nil || !g.sampled {
		return pairNone
	}
	ord, ok := ls.sampled(m)
	if !ok {
		return pairNone
	}
	if h := s.plan.hop(r.TargetIP); h != nil && h.late {
		return pairNone // caught up, never sampled
	}
	t := &s.rxTarget
	*t = ProbeTarget{Addr: r.TargetAddr(), PortIndex: pi, Pos: p}
	firstPort := g.probe.SourcePort(t)
	t.Second = true
	secondPort := g.probe.SourcePort(t)
	var bit uint64
	switch r.LocalPort {
	case firstPort:
		bit = slotFirst
	case secondPort:
		bit = slotSecond
	default:
		return pairNone // a retry's
	}
	sl := ls.slot(ord)
	for {
		w := sl.word.Load()
		tag := w >> slotTagShift
		if bit == slotSecond && !s.allLeft.Load() && (tag < ord+1 || tag == ord+1 && w&slotSent == 0) {
			// A newer tag means the sample was counted, which its second probe's leaving precedes.
			return pairUnsent
		}
		if tag != ord+1 || w&bit != 0 {
			return pairNone // counted and reused, or this probe answered before
		}
		if sl.word.CompareAndSwap(w, w|bit) {
			if w&(slotFirst|slotSecond) != 0 {
				return pairBoth
			}
			return pairFirst
		}
	}
}

// sampleable reports whether probe kind pr can tell a second probe from the
// first and from every retry (a kind whose source port does not depend on
// the pass, as UDP's cookie port, cannot).
func sampleable(pr Probe, retries int) bool {
	t := ProbeTarget{Second: true}
	second := pr.SourcePort(&t)
	t.Second = false
	for t.Pass = 0; t.Pass <= retries; t.Pass++ {
		if pr.SourcePort(&t) == second {
			return false
		}
	}
	return true
}

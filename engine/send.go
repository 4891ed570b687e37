package engine

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"golang.org/x/sync/errgroup"
)

// send runs the passes: the first over every target, then each retry pass over the
// targets still unanswered, each followed by a cool-down. After an interruption or
// an error it still waits a little for replies to the probes already sent. Each
// pass runs on every sender at once (sendPass); the cool-down follows the last.
//
// A resumed scan (Config.Resume) starts in the checkpoint's pass at its position.
func (s *Scanner) send(ctx context.Context) error {
	first, start := 0, uint64(0)
	if r := s.cfg.Resume; r != nil {
		first, start = r.Pass, r.Position
	}
	// The last pass: Retries, and up to MaxDropPasses more when the receive ring
	// dropped replies during the last one (dropPass).
	last := max(s.cfg.Retries, first)
	for pass := first; pass <= last; pass++ {
		dropsBefore := s.ringDrops.Load()
		if pass > 0 && s.answeredAll() {
			break
		}
		if pass > first {
			start = 0
		}
		if pass > 0 {
			s.allLeft.Store(true)
			s.retryRate()
		}
		// Positions before the pass: Progress reads the pass first, so it never
		// sees the new pass with the old pass's (later) positions, which a
		// checkpoint would take as this pass's progress.
		for _, sd := range s.senders {
			sd.pos.Store(s.dom.firstFrom(sd.id, start))
		}
		s.pass.Store(int32(pass))
		if pass == 0 {
			s.setPhase(PhaseScanning)
		} else {
			s.setPhase(PhaseRetrying)
		}
		err := s.sendAll(ctx, pass, start)
		passEnd := time.Now()
		s.passEnd.Store(passEnd.UnixNano())
		if err != nil {
			s.drain(passEnd)
			if pass == 0 {
				s.countAll()
			}
			return err
		}
		if pass == 0 && start == 0 {
			s.downKnown.Store(true)
		}
		s.setPhase(PhaseCoolingDown)
		s.coolDown(ctx, passEnd)
		s.coolDownNanos.Add(int64(time.Since(passEnd)))
		if ctx.Err() != nil {
			s.drain(passEnd)
		}
		if pass == 0 {
			s.countAll() // the cool-down waited for the replies of the last samples
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if pass == last && s.dropPass(pass, dropsBefore) {
			last++
		}
	}
	return nil
}

// MaxDropPasses bounds the retry passes a scan adds because its own receive
// ring dropped replies (see dropPass).
const MaxDropPasses = 2

// dropPass reports whether the scan adds a retry pass after its last pass: the
// kernel's receive ring dropped replies during it (the count the receiver
// reads, taken again now), so some unanswered targets did answer and the
// answer was lost here, not on the network. Up to MaxDropPasses more passes,
// each only while drops go on and targets are unanswered; each is said in a
// notice.
func (s *Scanner) dropPass(pass int, dropsBefore uint64) bool {
	if pass >= s.cfg.Retries+MaxDropPasses || s.answeredAll() || s.link == nil {
		return false
	}
	if _, drops, err := s.link.Stats(); err == nil && drops > s.ringDrops.Load() {
		s.ringDrops.Store(drops)
	}
	lost := s.ringDrops.Load() - dropsBefore
	if lost == 0 {
		return false
	}
	s.dropPasses.Add(1)
	s.cfg.Notice(fmt.Sprintf("the receive ring dropped %d replies in pass %d: one more retry pass for the unanswered targets", lost, pass))
	return true
}

// sendAll runs one pass on every sender, each on its own goroutine (the calling
// one for a single sender), and returns when all are done: the first error
// stops the others.
func (s *Scanner) sendAll(ctx context.Context, pass int, start uint64) error {
	if len(s.senders) == 1 {
		return s.sendPass(ctx, s.senders[0], pass, start)
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, sd := range s.senders {
		g.Go(func() error { return s.sendPass(gctx, sd, pass, start) })
	}
	err := g.Wait()
	if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return ctx.Err()
	}
	return err
}

// sendPass sends sender sd's share of one pass: one probe to every target of its
// own positions not yet answered, in permutation order from local position
// start (0 but for a resumed scan's first pass), in batches of its limiter's
// size at its rate. Its send clock is stamped before each batch leaves, so a
// reply that arrives while the send call is still running has a round trip of
// at least 0.
func (s *Scanner) sendPass(ctx context.Context, sd *sender, pass int, start uint64) error {
	var (
		d       = &s.dom
		tx      = sd.tx
		limiter = sd.limiter
		batch   = s.applyRate(sd)
		pending = 0
		t       = ProbeTarget{Pass: pass}
		// hosts are the hosts of the first pass's pending batch, marked probed
		// once the link took their frames.
		hosts = sd.hosts[:0]
		// skipAnswered: retry passes, and a resumed scan's first pass (whose
		// table holds the stopped scan's answers), probe only the unanswered.
		skipAnswered = pass > 0 || s.cfg.Resume != nil
		// The sender's own positions m map to scan positions pos = first +
		// step*m (sender.go, domain).
		step = d.shards * d.senders
		end  = d.count(sd.id)
		m    = d.firstFrom(sd.id, start)
		pos  = d.global(uint64(sd.id) + d.senders*m)
		// ls samples the loss in the first pass (loss.go); second is set
		// while put writes a sample's second probe.
		ls = sd.loss
		// second is set while put writes the second probe of loss sample
		// secondOrd, at the sender's own position secondAt.
		second              bool
		secondOrd, secondAt uint64
	)
	if pass != 0 {
		ls = nil
	}
	// On-link hosts found by ARP during this pass are caught up by sender 0.
	var late *arpWork
	if sd.id == 0 {
		late = s.lateWork(pass)
	}
	flush := func(next uint64) error {
		if err := limiter.Wait(ctx, pending); err != nil {
			return err
		}
		now := time.Now().UnixNano()
		if pass == 0 {
			sd.clock.record(next, now)
			sd.left.Store(next)
		}
		late.flushing(now) // before the frames leave, as left: a reply can come back during the call
		if ls != nil {
			ls.flushing(now)
		}
		n, err := tx.Flush()
		for _, h := range hosts[:min(n, len(hosts))] {
			if s.hosts.markSent(h) {
				sd.probed++
			}
		}
		hosts = hosts[:0]
		sd.sent.Add(uint64(n))
		sd.pos.Store(next)
		pending = 0
		if err != nil {
			return fmt.Errorf("sending probes: %w", err)
		}
		if ls != nil {
			s.evaluate(sd, now, s.lossSettle())
			if sd.id == 0 && s.adapt != nil {
				s.decide(now)
			}
		}
		batch = s.applyRate(sd)
		return nil
	}
	// put writes the probe of target idx (scan position tpos) into the batch,
	// flushing the batch (the sender's own positions having reached before, then
	// after) when full.
	put := func(idx, tpos, before, after uint64, ip netip.Addr, mac *[6]byte, h *hop) error {
		buf := tx.Next()
		if buf == nil {
			if err := flush(before); err != nil {
				return err
			}
			if buf = tx.Next(); buf == nil {
				return errors.New("sending probes: the link has no buffer free after a flush")
			}
		}
		pi := idx % s.nports
		g := s.groupOf(pi)
		t.DstMAC, t.Addr, t.PortIndex, t.Pos, t.Second = mac, ip, int(pi-g.offset), tpos, second
		n := g.probe.Put(buf, &t)
		if n <= 0 {
			return fmt.Errorf("writing the %s probe to %v port index %d: no frame", g.kind.name, t.Addr, t.PortIndex)
		}
		tx.Commit(n)
		if second {
			ls.batch = append(ls.batch, secondOrd) // marked sent by the flush that carries it
		}
		if h != nil {
			late.committed(h)
		}
		if pass == 0 {
			hosts = append(hosts, idx/s.nports)
		}
		pending++
		if pending >= batch {
			return flush(after)
		}
		return nil
	}
	skip := func(idx uint64) bool { return skipAnswered && s.table.Answered(idx) }
	// The catch-up goes host by host: it skips another shard's targets too.
	lateSkip := func(idx uint64) bool {
		if d.shards > 1 {
			if _, ours := d.local(s.perm.Inverse(idx)); !ours {
				return true
			}
		}
		return skip(idx)
	}
	// putSecond writes the second probe of loss sample ord into the batch, with
	// the sender's own positions at m; false if its host is not to be probed.
	putSecond := func(ord uint64) (bool, error) {
		tpos := d.global(uint64(sd.id) + d.senders*ls.pos(ord))
		idx := s.perm.At(tpos)
		ip := s.cfg.Targets.At(idx / s.nports)
		mac, up, _ := s.sendHop(ip, pass)
		if !up {
			return false, nil
		}
		second, secondOrd = true, ord
		err := put(idx, tpos, secondAt, secondAt, ip, mac, nil)
		second = false
		return err == nil, err
	}
	for ; m < end; m, pos = m+1, pos+step {
		if late != nil && late.more.Load() {
			if err := s.sendLate(ctx, late, m, false, lateSkip, put, nil); err != nil {
				return err
			}
		}
		if ls != nil && m >= ls.nextDue {
			secondAt = m
			if err := s.sendSeconds(sd, m, false, putSecond); err != nil {
				return err
			}
		}
		idx := s.perm.At(pos)
		if skip(idx) {
			continue
		}
		ip := s.cfg.Targets.At(idx / s.nports)
		mac, up, deferred := s.sendHop(ip, pass)
		if !up {
			if pass == 0 && !deferred {
				sd.down++
			}
			continue
		}
		if ls != nil {
			if ord, ok := ls.sampled(m); ok && s.groupOf(idx%s.nports).sampled {
				s.push(sd, ord)
			}
		}
		if err := put(idx, pos, m, m+1, ip, mac, nil); err != nil {
			return err
		}
	}
	if late != nil {
		// The rest of the on-link hosts, as ARP finds them, until it has ended.
		if err := s.sendLate(ctx, late, end, true, lateSkip, put, func() error {
			if pending > 0 {
				return flush(end)
			}
			return nil
		}); err != nil {
			return err
		}
	}
	if ls != nil {
		// The second probes not yet due: now, paced as the others, but never
		// in the batch of a first probe still pending (one burst: a policer
		// passes a burst's head, so such a pair would never be answered twice).
		if pending > 0 {
			if err := flush(end); err != nil {
				return err
			}
		}
		secondAt = end
		if err := s.sendSeconds(sd, end, true, putSecond); err != nil {
			return err
		}
	}
	if pending > 0 {
		return flush(end)
	}
	sd.pos.Store(end)
	return nil
}

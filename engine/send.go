package engine

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/fastscan/fastscan/link"
	"github.com/fastscan/fastscan/ratelimit"
)

// send runs the passes: the first over every target, then each retry pass over the
// targets still unanswered, each followed by a cool-down. After an interruption or
// an error it still waits a little for replies to the probes already sent.
//
// A resumed scan (Config.Resume) starts in the checkpoint's pass at its position.
func (s *Scanner) send(ctx context.Context, lk link.Link, limiter *ratelimit.Limiter) error {
	first, start := 0, uint64(0)
	if r := s.cfg.Resume; r != nil {
		first, start = r.Pass, r.Position
	}
	for pass := first; pass <= s.cfg.Retries; pass++ {
		if pass > 0 && s.answeredAll() {
			break
		}
		if pass > first {
			start = 0
		}
		s.pass.Store(int32(pass))
		s.pos.Store(start)
		if pass == 0 {
			s.setPhase(PhaseScanning)
		} else {
			s.setPhase(PhaseRetrying)
		}
		err := s.sendPass(ctx, pass, start, lk, limiter)
		passEnd := time.Now()
		if err != nil {
			s.drain(passEnd)
			return err
		}
		s.setPhase(PhaseCoolingDown)
		s.coolDown(ctx, passEnd)
		s.coolDownNanos.Add(int64(time.Since(passEnd)))
		if ctx.Err() != nil {
			s.drain(passEnd)
			return ctx.Err()
		}
	}
	return nil
}

// sendPass sends one probe to every target not yet answered, in permutation order
// from position start (0 but for a resumed scan's first pass), in batches of the limiter's size at its rate. The send clock is stamped before
// each batch leaves, so a reply that arrives while the send call is still running
// has a round trip of at least 0.
func (s *Scanner) sendPass(ctx context.Context, pass int, start uint64, lk link.Link, limiter *ratelimit.Limiter) error {
	var (
		batch   = limiter.Batch()
		pending = 0
		t       = ProbeTarget{Pass: pass}
		// batchHosts are the hosts of the first pass's pending batch, marked
		// probed once the link took their frames.
		batchHosts = make([]uint64, 0, batch)
		// skipAnswered: retry passes, and a resumed scan's first pass (whose
		// table holds the stopped scan's answers), probe only the unanswered.
		skipAnswered = pass > 0 || s.cfg.Resume != nil
	)
	late := s.lateWork(pass) // on-link hosts found by ARP during this pass
	flush := func(pos uint64) error {
		if err := limiter.Wait(ctx, pending); err != nil {
			return err
		}
		now := time.Now().UnixNano()
		if pass == 0 {
			s.clock.record(pos, now)
			s.sentPos.Store(pos)
		}
		late.flushing(now) // before the frames leave, as sentPos: a reply can come back during the call
		n, err := lk.Flush()
		for _, h := range batchHosts[:min(n, len(batchHosts))] {
			s.hosts.markSent(h)
		}
		batchHosts = batchHosts[:0]
		s.sent.Add(uint64(n))
		s.pos.Store(pos)
		pending = 0
		if err != nil {
			return fmt.Errorf("sending probes: %w", err)
		}
		return nil
	}
	// put writes the probe of target idx (position tpos) into the batch, flushing
	// the batch (the permutation having reached before, then after) when full.
	put := func(idx, tpos, before, after uint64, ip netip.Addr, mac *[6]byte, h *hop) error {
		buf := lk.Next()
		if buf == nil {
			if err := flush(before); err != nil {
				return err
			}
			if buf = lk.Next(); buf == nil {
				return errors.New("sending probes: the link has no buffer free after a flush")
			}
		}
		pi := idx % s.nports
		g := s.groupOf(pi)
		t.DstMAC, t.Addr, t.PortIndex, t.Pos = mac, ip, int(pi-g.offset), tpos
		n := g.probe.Put(buf, &t)
		if n <= 0 {
			return fmt.Errorf("writing the %s probe to %v port index %d: no frame", g.kind.name, t.Addr, t.PortIndex)
		}
		lk.Commit(n)
		if h != nil {
			late.committed(h)
		}
		if pass == 0 {
			batchHosts = append(batchHosts, idx/s.nports)
		}
		pending++
		if pending >= batch {
			return flush(after)
		}
		return nil
	}
	skip := func(idx uint64) bool { return skipAnswered && s.table.Answered(idx) }
	for pos := start; pos < s.total; pos++ {
		if late != nil && late.more.Load() {
			if err := s.sendLate(ctx, late, pos, false, skip, put, nil); err != nil {
				return err
			}
		}
		idx := s.perm.At(pos)
		if skip(idx) {
			continue
		}
		ip := s.cfg.Targets.At(idx / s.nports)
		mac, up := s.sendHop(addrToUint32(ip), pass)
		if !up {
			continue
		}
		if err := put(idx, pos, pos, pos+1, ip, mac, nil); err != nil {
			return err
		}
	}
	if late != nil {
		// The rest of the on-link hosts, as ARP finds them, until it has ended.
		if err := s.sendLate(ctx, late, s.total, true, skip, put, func() error {
			if pending > 0 {
				return flush(s.total)
			}
			return nil
		}); err != nil {
			return err
		}
	}
	if pending > 0 {
		return flush(s.total)
	}
	s.pos.Store(s.total)
	return nil
}

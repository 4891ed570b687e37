package engine

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/fastscan/fastscan/link"
	"github.com/fastscan/fastscan/permute"
	"github.com/fastscan/fastscan/ratelimit"
	"github.com/fastscan/fastscan/result"
)

// Run performs the scan and calls emit, from a single goroutine, for every verdict in
// cfg.Show. It returns when the scan is done or ctx is cancelled; in both cases every
// verdict already received has been passed to emit, and a cancelled scan returns no
// error (Summary.Interrupted says so). An error from emit stops the scan. Run may be
// called once. The *result.Result given to emit is valid only during the call (the
// engine reuses it, so that a verdict costs no allocation): emit copies what it keeps.
//
// Three goroutines share one errgroup: the sender (passes and cool-downs; it runs
// each pass on Config.Senders goroutines), the receiver (link -> verdicts) and the
// collector (verdicts -> emit). The first error
// of any of them cancels the group's context, which stops the other two; the
// caller's ctx stops only the sender, so that replies to probes already sent are
// still received and emitted.
func (s *Scanner) Run(ctx context.Context, emit func(*result.Result) error) (Summary, error) {
	if !s.start.CompareAndSwap(0, time.Now().UnixNano()) {
		return Summary{}, errors.New("engine: Run called twice")
	}
	s.began.CompareAndSwap(0, s.start.Load())
	if s.plan == nil {
		if err := s.prepare(ctx); err != nil {
			if ctx.Err() != nil {
				return s.finish(PhaseInterrupted, nil), nil
			}
			return s.finish(PhaseFailed, nil), err
		}
	}
	lk := s.link
	defer s.Close()

	g, gctx := errgroup.WithContext(context.WithoutCancel(ctx))
	sendCtx, stopSending := context.WithCancel(gctx)
	defer stopSending()
	stopOnInterrupt := context.AfterFunc(ctx, stopSending)
	defer stopOnInterrupt()

	sent := make(chan struct{}) // closed when the sender is done
	s.abort = gctx.Done()
	var interrupted atomic.Bool // the caller's ctx stopped the sender
	if s.plan.arp != nil {
		// On-link MACs are found while the sender probes those already known.
		g.Go(func() error { return s.resolveOnLink(sendCtx) })
	}
	g.Go(func() error {
		defer close(sent)
		err := s.send(sendCtx)
		if err == nil && s.cfg.Linger != nil {
			start := time.Now()
			s.lingering.Store(true)
			s.cfg.Linger(sendCtx, s.answeredAll)
			s.lingerNanos.Store(int64(time.Since(start)))
			// A signal during the linger interrupts the scan, as one during a
			// cool-down does: no silence verdicts for what had no time to answer.
			err = sendCtx.Err()
		}
		if errors.Is(err, context.Canceled) && gctx.Err() == nil {
			interrupted.Store(true)
			return nil // the caller interrupted the scan: not an error
		}
		return err
	})
	g.Go(func() error {
		defer close(s.results)
		return s.receive(lk, sent, gctx.Done())
	})
	g.Go(func() error {
		var r result.Result // one variable for every verdict: &r does not allocate per result
		for r = range s.results {
			if err := emit(&r); err != nil {
				return err
			}
			s.deliveredTs.Store(r.TimeNanos)
			s.delivered.Add(1)
		}
		return nil
	})
	runErr := g.Wait()
	if runErr != nil {
		return s.finish(PhaseFailed, lk), runErr
	}
	if interrupted.Load() {
		return s.finish(PhaseInterrupted, lk), nil
	}
	sum := s.finish(PhaseDone, lk)
	return sum, s.emitSilence(emit)
}

// Prepare finds where the probes go - the interface, the source address, the
// router's and on-link targets' MACs (ARP) - builds the probes and opens the link,
// sending nothing but ARP requests. It is every part of Run that can fail before the
// first probe: what the user asked for wrongly (a UsageError: an interface that does
// not reach the targets) and what the machine refuses (no raw sockets), so that a
// caller can check all of it before it creates output files, and drop privileges
// after. Run calls it when it was not called; a caller that prepares and then does
// not run must Close the scanner.
func (s *Scanner) Prepare(ctx context.Context) error {
	if s.start.Load() != 0 || s.plan != nil {
		return errors.New("engine: Prepare called after Run or twice")
	}
	return s.prepare(ctx)
}

// Close releases the link and transmitters a Prepare opened; Run closes them
// itself. Close may be called more than once.
func (s *Scanner) Close() error {
	var errs []error
	if s.plan != nil {
		errs = append(errs, s.plan.closeARP())
	}
	for _, sd := range s.senders[1:] {
		if sd.tx != nil {
			errs = append(errs, sd.tx.Close())
			sd.tx = nil
		}
	}
	if s.link != nil {
		errs = append(errs, s.link.Close())
	}
	s.link = nil
	return errors.Join(errs...)
}

func (s *Scanner) prepare(ctx context.Context) error {
	s.began.CompareAndSwap(0, time.Now().UnixNano())
	s.setPhase(PhaseRouting)
	p, err := makePlan(ctx, &s.cfg)
	if err != nil {
		return err
	}
	fail := func(err error) error {
		p.closeARP()
		return err
	}
	if p.arp != nil {
		p.arp.order = portOrderKey{perm: permute.New(s.nports, s.cfg.Seed^catchUpSeed)}
	}
	if err := s.buildProbes(p.probeEnv(s)); err != nil {
		return fail(err)
	}
	if mtu := p.iface.MTU; mtu > 0 && s.frameLen > mtu+ethernetHeaderLen {
		return fail(fmt.Errorf("probes of %d bytes do not fit the MTU %d of %s", s.frameLen, mtu, p.iface.Name))
	}
	// Each sender its share of the rate; a limiter's schedule starts at its
	// first Wait.
	for _, sd := range s.senders {
		sd.limiter = ratelimit.New(s.cfg.Rate / float64(len(s.senders)))
		sd.hosts = make([]uint64, 0, sd.limiter.Batch())
	}
	if s.loss != nil {
		s.loss.setPace(s.senders[0].limiter.Rate(), s.senders[0].limiter.Batch())
	}
	lk, err := s.openLink(p, s.senders[0].limiter.Batch())
	if err != nil {
		return fail(err)
	}
	s.link = lk
	s.senders[0].tx = lk
	for _, sd := range s.senders[1:] {
		if sd.tx, err = lk.NewTransmitter(); err != nil {
			s.Close()
			return fail(fmt.Errorf("opening the transmitter of sender %d on %s: %w", sd.id, p.iface.Name, err))
		}
	}
	s.plan = p
	if p.six != nil {
		s.src6 = p.six.srcIP.As16()
	}
	return nil
}

// catchUpSeed separates the catch-up's port order from the scan order.
const catchUpSeed = 0x6361746368757021

// openLink opens the scan's link: cfg.Link, or AF_PACKET on the plan's interface.
func (s *Scanner) openLink(p *plan, batch int) (link.Link, error) {
	open := s.cfg.Link
	if open == nil {
		open = link.OpenAFPacket
	}
	cfg := link.Config{
		Interface:    p.iface,
		Loopback:     p.loopback,
		LocalIP:      uint32ToAddr(p.srcIP),
		SourcePortLo: s.cfg.SourcePortLo,
		SourcePortHi: s.cfg.SourcePortHi,
		Batch:        batch,
		FrameLen:     s.frameLen,
		TxRing:       s.cfg.TxRing,
	}
	if p.srcIP == 0 {
		cfg.LocalIP = netip.Addr{}
	}
	if p.six != nil {
		cfg.LocalIP6 = p.six.srcIP
	}
	for _, g := range s.groups {
		cfg.Protocols = append(cfg.Protocols, g.probe.IPProtocol())
	}
	lk, err := open(cfg)
	if err != nil {
		return nil, fmt.Errorf("opening the link on %s: %w", p.iface.Name, err)
	}
	return lk, nil
}

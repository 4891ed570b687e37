package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/fastscan/fastscan/packet"
	"github.com/fastscan/fastscan/result"
)

// FrameSource yields recorded Ethernet frames (package capture reads them from pcap
// and pcapng files).
type FrameSource interface {
	// Next returns the next frame and its capture time in Unix nanoseconds, or io.EOF.
	Next() (frame []byte, tsNanos int64, err error)
}

// Replay runs the receive pipeline - parsing, cookie validation, the target table,
// verdicts - over recorded frames instead of the live ring, and calls emit for every
// verdict in cfg.Show, as Run does. Nothing is sent. The scan's secret comes from
// cfg.Seed, so a capture of a scan made with --seed S replays with the same seed.
// sourceIP is the scanner's address the replies went to; the zero Addr takes the destination of
// the first reply in the capture. Targets that never answered are not reported: a
// capture holds replies, not the probes.
func (s *Scanner) Replay(ctx context.Context, src FrameSource, sourceIP netip.Addr, emit func(*result.Result) error) (Summary, error) {
	if !s.start.CompareAndSwap(0, time.Now().UnixNano()) {
		return Summary{}, errors.New("engine: Run or Replay called twice")
	}
	s.began.CompareAndSwap(0, s.start.Load())
	s.setPhase(PhaseReplaying)
	s.plan = &plan{srcIP: addrToUint32(sourceIP), onFirst: 1}
	if is6(sourceIP) {
		s.setReplaySource6(sourceIP)
	}
	if err := s.prepareReplay(); err != nil {
		return s.finish(PhaseFailed, nil), err
	}
	collected := make(chan error, 1)
	var emitFailed atomic.Bool
	go func() {
		var err error
		var r result.Result // one variable for every verdict: &r does not allocate per result
		for r = range s.results {
			if err == nil {
				if err = emit(&r); err != nil {
					emitFailed.Store(true)
				}
			}
		}
		collected <- err
	}()
	var readErr error
	for ctx.Err() == nil && !emitFailed.Load() {
		frame, ts, err := src.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				readErr = err
			}
			break
		}
		if s.plan.srcIP == 0 || s.plan.six == nil {
			// Each family's scanner address is the destination of its first reply
			// (unless given).
			var r packet.Reply
			if !packet.ParseReplyAny(frame, &r) {
				continue
			}
			switch {
			case r.IPv6 && s.plan.six == nil && !sourceIP.IsValid():
				s.setReplaySource6(r.LocalAddr())
			case !r.IPv6 && s.plan.srcIP == 0 && !sourceIP.IsValid():
				s.plan.srcIP = r.LocalIP
			}
		}
		s.handle(frame, ts)
	}
	close(s.results)
	emitErr := <-collected
	phase := PhaseDone
	switch {
	case emitErr != nil || readErr != nil:
		phase = PhaseFailed
	case ctx.Err() != nil:
		phase = PhaseInterrupted
	}
	sum := s.finish(phase, nil)
	sum.HostsProbed = 0 // not knowable from replies alone
	if readErr != nil {
		return sum, fmt.Errorf("reading the capture: %w", readErr)
	}
	return sum, emitErr
}

// setReplaySource6 makes a the replay's IPv6 scanner address.
func (s *Scanner) setReplaySource6(a netip.Addr) {
	s.plan.six = &plan6{srcIP: a}
	s.src6 = a.As16()
}

// is6 reports whether a is an IPv6 address (not IPv4-mapped).
func is6(a netip.Addr) bool { return a.Is6() && !a.Is4In6() }

// prepareReplay builds the probes a replay validates replies with: only the
// addresses and the key matter, no frame is sent.
func (s *Scanner) prepareReplay() error {
	s.abort = make(chan struct{})
	s.allLeft.Store(true) // a capture's replies answer probes that left
	return s.buildProbes(s.plan.probeEnv(s))
}

// Passive reports the open and closed TCP ports a capture shows, without any
// validation: every SYN-ACK is an open port of its sender, and every RST with ACK
// and sequence number 0 a closed one, first sighting wins and later ones are counted
// as duplicates. It is for captures fastscan did not make (someone's tcpdump of
// another scanner), where there are no cookies to check. When filter is not nil,
// only (address, port) pairs it accepts are reported.
//
// Sequence number 0 is what RFC 793 gives a reset answering a SYN (<SEQ=0><ACK=
// SEG.SEQ+1><CTL=RST,ACK>), and what Linux, BSD and Windows send. A reset that ends
// a connection carries the connection's own sequence number instead (a connect
// scanner or a browser aborting with RST+ACK): it says nothing about a closed port
// of its sender, so it is counted as invalid and not reported.
func Passive(ctx context.Context, src FrameSource, filter func(ip netip.Addr, port uint16) bool, emit func(*result.Result) error) (Summary, error) {
	var sum Summary
	seen := map[netip.AddrPort]bool{}
	var res result.Result // one variable for every verdict: &res does not allocate per result
	for ctx.Err() == nil {
		frame, ts, err := src.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return sum, fmt.Errorf("reading the capture: %w", err)
		}
		var r packet.Reply
		if !packet.ParseReplyAny(frame, &r) || r.Proto != packet.ProtocolTCP {
			continue
		}
		state, reason := result.Open, result.ReasonSYNACK
		switch r.Kind {
		case packet.ReplySYNACK:
		case packet.ReplyRST:
			state, reason = result.Closed, result.ReasonReset
		default:
			continue
		}
		target := r.TargetAddr()
		if filter != nil && !filter(target, r.TargetPort) {
			continue
		}
		if r.Kind == packet.ReplyRST && r.Seq != 0 {
			sum.Invalid++ // a connection reset, not an answer to a SYN
			continue
		}
		sum.Replies++
		key := netip.AddrPortFrom(target, r.TargetPort)
		if seen[key] {
			sum.Duplicates++
			continue
		}
		seen[key] = true
		if state == result.Open {
			sum.Open++
		} else {
			sum.Closed++
		}
		res = result.Result{
			IP: target, Port: r.TargetPort, Proto: result.TCP, State: state, Reason: reason,
			TTL: r.TTL, TimeNanos: ts, SourceIP: r.LocalAddr(), SourcePort: r.LocalPort,
		}
		if err := emit(&res); err != nil {
			return sum, err
		}
	}
	sum.Phase = PhaseDone
	sum.Interrupted = ctx.Err() != nil
	if sum.Interrupted {
		sum.Phase = PhaseInterrupted
	}
	return sum, nil
}

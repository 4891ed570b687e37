package engine

import (
	"fmt"
	"iter"

	"github.com/fastscan/fastscan/result"
)

// Resume continues a scan that was stopped (a checkpoint of the caller's): the
// scan starts in pass Pass at permutation position Position (Progress.Position:
// of a shard, a position in its own share; any number of senders), with the targets of
// Answered already decided. The same Config (seed, targets, ports) must be given
// as to the stopped scan, or positions and indexes mean other targets.
//
// Targets in Answered are neither probed again nor reported again (a reply to
// them counts as a duplicate), nor given a silence verdict at the end. Position
// may lie before where the stopped scan really was: probing again what was
// probed is harmless, and is how replies that were lost with the stopped
// process are recovered.
type Resume struct {
	// Pass is the pass to start in: 0 for the first, 1.. for retries.
	Pass int
	// Position is the first permutation position of Pass to probe.
	Position uint64
	// Answered yields the indexes (TargetIndex) of the targets already decided.
	// It may be walked more than once: New walks it, and the open-everywhere
	// heuristic again when the scan ends (for the hosts it may flag).
	Answered iter.Seq[uint64]
}

// resumeFrom applies r to a new scanner: the progress counters start at r's
// pass and position, and the table holds r's answered targets.
func (s *Scanner) resumeFrom(r *Resume) error {
	if r.Pass < 0 || r.Pass > s.cfg.Retries+MaxDropPasses {
		return fmt.Errorf("resuming in pass %d: the scan has passes 0 to %d (and up to %d more after ring drops)", r.Pass, s.cfg.Retries, MaxDropPasses)
	}
	if r.Position > s.dom.n {
		return fmt.Errorf("resuming at position %d: the scan has %d targets", r.Position, s.dom.n)
	}
	if r.Answered != nil {
		for idx := range r.Answered {
			if idx >= s.total {
				return fmt.Errorf("resuming: answered target %d is outside the scan's %d targets", idx, s.total)
			}
			if s.table.Mark(idx) {
				s.answered.Add(1)
				s.groupOf(idx % s.nports).answered.Add(1)
			}
		}
	}
	s.pass.Store(int32(r.Pass))
	for _, sd := range s.senders {
		sd.pos.Store(s.dom.firstFrom(sd.id, r.Position))
	}
	if r.Pass > 0 {
		s.allLeft.Store(true) // the first pass is over: its replies are ours
	}
	return nil
}

// TargetIndex is the index of r's target (address x port) in the scan: what
// Resume.Answered yields. ok is false for a result that is not one of the scan's
// targets, and before Prepare (or Run) built the probes.
func (s *Scanner) TargetIndex(r *result.Result) (idx uint64, ok bool) {
	host, ok := s.cfg.Targets.Index(r.IP)
	if !ok {
		return 0, false
	}
	for _, g := range s.groups {
		if g.probe == nil || g.probe.Proto() != r.Proto {
			continue
		}
		pi, ok := g.ports.Index(r.Port)
		if !ok {
			return 0, false
		}
		return host*s.nports + g.offset + uint64(pi), true
	}
	return 0, false
}

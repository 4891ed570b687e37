package engine

import (
	"testing"
	"time"
)

// TestSettled pins the rules that end a cool-down: every target answered ends it at
// once, whatever the timeouts; otherwise silence for quiet() (the measured
// retransmission timeout, or the initial one before any round trip) since the later
// of the pass's end and the last reply; and never later than the limit.
func TestSettled(t *testing.T) {
	s := &Scanner{cfg: Config{Wait: time.Hour}, total: 10, nports: 1, plan: &plan{}}
	s.rto.Store(int64(10 * time.Second)) // no stall of a loaded machine comes near it
	now := time.Now()
	s.lastReply.Store(now.UnixNano())

	s.answered.Store(9)
	if s.settled(now, time.Hour) {
		t.Error("settled with a target unanswered, a reply just in and no timeout passed")
	}
	s.answered.Store(10)
	if !s.settled(now, time.Hour) {
		t.Error("not settled with every target answered")
	}

	s.answered.Store(9)
	s.rto.Store(0)
	if got := s.quiet(); got != initialRTO {
		t.Errorf("quiet() before any round trip = %v, want the initial %v", got, initialRTO)
	}
	s.rto.Store(int64(50 * time.Millisecond))
	if got := s.quiet(); got != 50*time.Millisecond {
		t.Errorf("quiet() = %v, want the measured 50ms", got)
	}
	past := now.Add(-time.Second)
	s.lastReply.Store(past.UnixNano())
	if !s.settled(past, time.Hour) {
		t.Error("not settled after a second of silence with a 50ms timeout")
	}
	s.rto.Store(int64(10 * time.Second)) // no stall of a loaded machine comes near it
	s.lastReply.Store(time.Now().UnixNano())
	if s.settled(past, time.Hour) {
		t.Error("settled although a reply has just come in")
	}
	if !s.settled(past, 500*time.Millisecond) {
		t.Error("not settled a second after the pass with a 500ms limit")
	}
	s.rto.Store(int64(time.Microsecond))
	if got := s.quiet(); got != minQuiet {
		t.Errorf("quiet() = %v, want the floor %v", got, minQuiet)
	}
	s.cfg.Wait = 5 * time.Millisecond
	if got := s.quiet(); got != s.cfg.Wait {
		t.Errorf("quiet() = %v with Wait 5ms, want Wait: it caps even the floor", got)
	}
}

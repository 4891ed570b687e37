// Package connecttest is a connect.Sys that answers connections from a model
// instead of the kernel, for tests of connect scans without a network and
// without privileges: every connection's outcome, its delay and silence come
// from the model; the fake counts connections started, open at once, finished
// and abandoned.
package connecttest

import (
	"errors"
	"net/netip"
	"sync"
	"time"

	"github.com/fastscan/fastscan/link/connect"
)

// Answer is how the model ends one connection.
type Answer struct {
	// Outcome is the connection's end (ignored when Silent).
	Outcome connect.Outcome
	// Delay is how long after Connect the outcome is reported.
	Delay time.Duration
	// Silent: the connection is never decided (a dropped SYN); the link
	// abandons it after its timeout.
	Silent bool
	// AtOnce: Connect itself returns the outcome (no route, refused on the spot).
	AtOnce bool
	// Err: Connect fails with this error (no attempt started).
	Err error
}

// Model answers the attempt-th (0-based) connection to dst.
type Model func(dst netip.AddrPort, attempt int) Answer

// Sys is the fake. Its zero value is not usable: call New.
type Sys struct {
	model Model

	mu       sync.Mutex
	attempts map[netip.AddrPort]int
	conns    map[int]*conn
	next     int
	open     int
	maxOpen  int
	started  int
	finished int
	aborted  int
	closed   bool
}

type conn struct {
	tag    uint64
	due    time.Time
	answer Answer
}

// New returns a fake Sys answering from model.
func New(model Model) *Sys {
	return &Sys{model: model, attempts: map[netip.AddrPort]int{}, conns: map[int]*conn{}, next: 1}
}

// ErrClosed is returned by a closed fake.
var ErrClosed = errors.New("connecttest: closed")

// Connect implements connect.Sys.
func (s *Sys) Connect(_ netip.Addr, dst netip.AddrPort, tag uint64) (int, connect.Outcome, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return -1, connect.Outcome{}, false, ErrClosed
	}
	n := s.attempts[dst]
	s.attempts[dst] = n + 1
	a := s.model(dst, n)
	if a.Err != nil {
		return -1, connect.Outcome{}, false, a.Err
	}
	s.started++
	if a.AtOnce && !a.Silent {
		s.finished++
		return -1, a.Outcome, true, nil
	}
	h := s.next
	s.next++
	s.conns[h] = &conn{tag: tag, due: time.Now().Add(a.Delay), answer: a}
	s.open++
	s.maxOpen = max(s.maxOpen, s.open)
	return h, connect.Outcome{}, false, nil
}

// Wait implements connect.Sys: the connections whose delay has passed, again
// at every call until they are finished.
func (s *Sys) Wait(timeout time.Duration, tags []uint64) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return 0, ErrClosed
		}
		now := time.Now()
		n := 0
		for _, c := range s.conns {
			if n == len(tags) {
				break
			}
			if !c.answer.Silent && !c.due.After(now) {
				tags[n] = c.tag
				n++
			}
		}
		s.mu.Unlock()
		if n > 0 || !now.Before(deadline) {
			return n, nil
		}
		time.Sleep(min(200*time.Microsecond, deadline.Sub(now)))
	}
}

// Finish implements connect.Sys.
func (s *Sys) Finish(h int) connect.Outcome {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.conns[h]
	if !ok {
		panic("connecttest: Finish of a connection not open")
	}
	delete(s.conns, h)
	s.open--
	s.finished++
	return c.answer.Outcome
}

// Abort implements connect.Sys.
func (s *Sys) Abort(h int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.conns[h]; !ok {
		panic("connecttest: Abort of a connection not open")
	}
	delete(s.conns, h)
	s.open--
	s.aborted++
}

// Close implements connect.Sys.
func (s *Sys) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// Stats are the fake's counters.
type Stats struct {
	Started  int // connections started (Connect without error)
	Open     int // connections open now
	MaxOpen  int // the most open at once
	Finished int // decided (Finish, or at once)
	Aborted  int // abandoned by the link (Abort)
}

// Stats returns the fake's counters.
func (s *Sys) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Started: s.started, Open: s.open, MaxOpen: s.maxOpen, Finished: s.finished, Aborted: s.aborted}
}

// Attempts returns how many connections to dst were started or tried.
func (s *Sys) Attempts(dst netip.AddrPort) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts[dst]
}

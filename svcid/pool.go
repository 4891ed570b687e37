package svcid

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/fastscan/fastscan/result"
)

// limiter spaces new connections 1/rate apart (no burst); rate 0: no
// limit. Nothing is reserved ahead: each waiter takes the next free moment
// when it comes, so a rate change (setRate) applies at once to every
// connection not yet let go, however many wait.
type limiter struct {
	mu       sync.Mutex
	interval time.Duration
	last     time.Time     // when the latest connection was let go
	changed  chan struct{} // closed (and replaced) by setRate: waiters look again
}

func newLimiter(rate float64) *limiter {
	l := &limiter{changed: make(chan struct{})}
	l.setRate(rate)
	return l
}

// setRate spaces the connections not yet let go 1/rate apart (0 or less: no
// limit).
func (l *limiter) setRate(rate float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.interval = 0
	if rate > 0 {
		l.interval = time.Duration(float64(time.Second) / rate)
	}
	close(l.changed)
	l.changed = make(chan struct{})
}

// wait returns when the caller may open a connection, or ctx's error.
func (l *limiter) wait(ctx context.Context) error {
	for {
		l.mu.Lock()
		now := time.Now()
		at := l.last.Add(l.interval)
		if l.interval == 0 || !now.Before(at) {
			l.last = now
			l.mu.Unlock()
			return ctx.Err()
		}
		changed := l.changed
		l.mu.Unlock()
		t := time.NewTimer(at.Sub(now))
		select {
		case <-t.C:
		case <-changed:
			t.Stop()
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
}

// Pool identifies the ports submitted to it on at most Config.Concurrency
// goroutines, at most Config.PerHost of them on one address at a time, and
// delivers each Result on Results as soon as it is known. Submit never
// blocks: a scan hands over each open port as it finds it and goes on.
type Pool struct {
	id      *Identifier
	ctx     context.Context
	results chan Result

	mu      sync.Mutex
	cond    *sync.Cond
	hosts   map[netip.Addr]*hostQueue
	ready   []*hostQueue // hosts with a queued port and a free slot, in turn
	queued  int
	closed  bool
	workers sync.WaitGroup
}

// hostQueue is one address's queued ports and running identifications.
type hostQueue struct {
	addr    netip.Addr
	ports   []uint16
	active  int
	inReady bool
}

// NewPool starts a pool. Its workers stop when ctx ends (queued ports are
// then dropped) or, after Close, when every submitted port is done; then
// Results is closed. Read Results until it is closed.
func (id *Identifier) NewPool(ctx context.Context) *Pool {
	p := &Pool{id: id, ctx: ctx, results: make(chan Result, id.cfg.Concurrency), hosts: make(map[netip.Addr]*hostQueue)}
	p.cond = sync.NewCond(&p.mu)
	stop := context.AfterFunc(ctx, func() {
		p.mu.Lock()
		p.cond.Broadcast()
		p.mu.Unlock()
	})
	p.workers.Add(id.cfg.Concurrency)
	for range id.cfg.Concurrency {
		go p.work()
	}
	go func() {
		p.workers.Wait()
		stop()
		close(p.results)
	}()
	return p
}

// SetRate bounds new connections to rate per second from now on (0: no
// bound), for every pool of the Identifier, the connections already waiting
// included: a scan whose rate adapts (--adaptive) takes its identification
// along.
func (p *Pool) SetRate(rate float64) { p.id.limit.setRate(rate) }

// Results delivers one Result per submitted port (unless ctx ended first),
// in the order they finish; it is closed after Close once all are done.
func (p *Pool) Results() <-chan Result { return p.results }

// Submit queues ap for identification and returns at once. It reports
// false (and drops ap) after Close or once the pool's context ended.
func (p *Pool) Submit(ap netip.AddrPort) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.ctx.Err() != nil {
		return false
	}
	h := p.hosts[ap.Addr()]
	if h == nil {
		h = &hostQueue{addr: ap.Addr()}
		p.hosts[ap.Addr()] = h
	}
	h.ports = append(h.ports, ap.Port())
	p.queued++
	p.makeReady(h)
	p.cond.Signal()
	return true
}

// Close tells the pool no more ports come; Results closes when the
// submitted ones are done.
func (p *Pool) Close() {
	p.mu.Lock()
	p.closed = true
	p.cond.Broadcast()
	p.mu.Unlock()
}

// Pending returns the number of ports queued and not yet started.
func (p *Pool) Pending() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.queued
}

// makeReady puts h in the ready ring when it has work and a free slot.
func (p *Pool) makeReady(h *hostQueue) {
	if !h.inReady && len(h.ports) > 0 && h.active < p.id.cfg.PerHost {
		h.inReady = true
		p.ready = append(p.ready, h)
	}
}

// next takes the next port to identify, waiting for one; ok is false when
// the worker should stop.
func (p *Pool) next() (ap netip.AddrPort, h *hostQueue, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.ready) == 0 {
		if p.ctx.Err() != nil || (p.closed && p.queued == 0) {
			return ap, nil, false
		}
		p.cond.Wait()
	}
	if p.ctx.Err() != nil {
		return ap, nil, false
	}
	h = p.ready[0]
	p.ready[0] = nil
	p.ready = p.ready[1:]
	h.inReady = false
	port := h.ports[0]
	h.ports = h.ports[1:]
	if len(h.ports) == 0 {
		h.ports = nil // let the backing array go
	}
	h.active++
	p.queued--
	p.makeReady(h) // to the back of the ring: hosts take turns
	return netip.AddrPortFrom(h.addr, port), h, true
}

// done returns h's slot.
func (p *Pool) done(h *hostQueue) {
	p.mu.Lock()
	defer p.mu.Unlock()
	h.active--
	if h.active == 0 && len(h.ports) == 0 {
		delete(p.hosts, h.addr)
	} else {
		p.makeReady(h)
	}
	// Wake a worker for h's next port, and those waiting to stop.
	p.cond.Broadcast()
}

// work runs identifications until the pool stops.
func (p *Pool) work() {
	defer p.workers.Done()
	for {
		ap, h, ok := p.next()
		if !ok {
			return
		}
		r := p.id.Identify(p.ctx, ap)
		p.done(h)
		select {
		case p.results <- r:
		case <-p.ctx.Done():
			return
		}
	}
}

// Tee is the hook between a scan and the pool: it returns an emit function
// (the engine's Run/Replay callback) that submits every open TCP verdict to
// p, then passes every verdict to next unchanged. Submit never blocks, so
// the scan's results are not held back by slow services; read p.Results
// on a goroutine of its own, and Close p after the scan.
func (p *Pool) Tee(next func(*result.Result) error) func(*result.Result) error {
	return func(r *result.Result) error {
		if r.Proto == result.TCP && r.State == result.Open {
			p.Submit(netip.AddrPortFrom(r.IP, r.Port))
		}
		return next(r)
	}
}

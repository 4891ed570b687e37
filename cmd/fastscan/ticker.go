package main

import (
	"sync"
	"time"
)

// runEvery calls tick with the time every interval, on a goroutine of its own,
// until the returned stop is called; stop returns once the goroutine has ended, so
// the caller may then use what tick used.
func runEvery(interval time.Duration, tick func(now time.Time)) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				tick(now)
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

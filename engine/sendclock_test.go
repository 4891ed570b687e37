package engine

import "testing"

func TestSendClock(t *testing.T) {
	var c sendClock
	if _, ok := c.sentAt(0); ok {
		t.Fatal("position sent before any checkpoint")
	}
	// Batches of 10 positions, flushed at times 100, 200, ...
	for b := uint64(1); b <= 5; b++ {
		c.record(b*10, int64(b*100))
	}
	for _, tc := range []struct {
		pos  uint64
		want int64
		ok   bool
	}{{0, 100, true}, {9, 100, true}, {10, 200, true}, {49, 500, true}, {50, 0, false}} {
		got, ok := c.sentAt(tc.pos)
		if ok != tc.ok || got != tc.want {
			t.Errorf("sentAt(%d) = %d, %v; want %d, %v", tc.pos, got, ok, tc.want, tc.ok)
		}
	}
}

func TestSendClockForgetsOldPositions(t *testing.T) {
	var c sendClock
	for b := uint64(1); b <= 3*checkpoints; b++ {
		c.record(b, int64(b))
	}
	if _, ok := c.sentAt(0); ok {
		t.Error("a position older than the ring is still known")
	}
	recent := uint64(3*checkpoints - 10)
	if got, ok := c.sentAt(recent); !ok || got != int64(recent+1) {
		t.Errorf("sentAt(%d) = %d, %v; want %d", recent, got, ok, recent+1)
	}
}

package engine

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

func TestTableMarkOnce(t *testing.T) {
	tab, err := NewTable(1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []uint64{0, 63, 64, 999} {
		if tab.Answered(i) {
			t.Fatalf("target %d answered before Mark", i)
		}
		if !tab.Mark(i) {
			t.Fatalf("first Mark(%d) = false", i)
		}
		if tab.Mark(i) {
			t.Fatalf("second Mark(%d) = true", i)
		}
		if !tab.Answered(i) {
			t.Fatalf("target %d not answered after Mark", i)
		}
	}
	var left []uint64
	tab.Unanswered(func(i uint64) bool { left = append(left, i); return true })
	if len(left) != 996 {
		t.Fatalf("Unanswered listed %d targets, want 996", len(left))
	}
	for _, i := range left {
		if i == 0 || i == 63 || i == 64 || i >= 999 {
			t.Fatalf("Unanswered listed %d", i)
		}
	}
}

// TestTableConcurrentMark races many goroutines marking overlapping targets: each target
// must be reported first exactly once.
func TestTableConcurrentMark(t *testing.T) {
	const n = 1 << 16
	tab, err := NewTable(n)
	if err != nil {
		t.Fatal(err)
	}
	var firsts atomic.Uint64
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := uint64(0); i < n; i++ {
				if tab.Mark((i*uint64(2*g+1) + uint64(g)) % n) {
					firsts.Add(1)
				}
			}
		}(g)
	}
	wg.Wait()
	if firsts.Load() != n {
		t.Fatalf("%d first marks, want %d", firsts.Load(), n)
	}
	tab.Unanswered(func(i uint64) bool { t.Fatalf("target %d left unanswered", i); return false })
}

func TestTableTooLarge(t *testing.T) {
	if _, err := NewTable(MaxTargets + 1); err == nil {
		t.Fatal("NewTable accepted more than MaxTargets")
	}
}

// TestTableEach: Each yields exactly the marked targets, in order.
func TestTableEach(t *testing.T) {
	tab, err := NewTable(1000)
	if err != nil {
		t.Fatal(err)
	}
	want := []uint64{0, 1, 63, 64, 65, 500, 999}
	for _, i := range want {
		tab.Mark(i)
	}
	var got []uint64
	tab.Each(func(i uint64) { got = append(got, i) })
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Each gave %v, want %v", got, want)
	}
}

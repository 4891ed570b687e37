package engine

import (
	"fmt"
	"runtime"
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

// TestTableAgainstModel marks pseudo-random targets of tables of several sizes and
// densities (leaves that stay sparse, grow, and turn dense; a last leaf cut short)
// and checks Mark, Answered, Each and Unanswered against a plain map.
func TestTableAgainstModel(t *testing.T) {
	cases := []struct {
		n     uint64
		marks int
	}{
		{1, 1}, {leafSpan, 10}, {leafSpan + 1, 5000}, {3*leafSpan + 17, 200000}, {1 << 40, 3000},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.n), func(t *testing.T) {
			tab, err := NewTable(c.n)
			if err != nil {
				t.Fatal(err)
			}
			model := map[uint64]bool{}
			x := uint64(12345)
			for range c.marks {
				x = x*6364136223846793005 + 1442695040888963407
				i := (x >> 11) % c.n
				if c.n > 1<<20 && x&1 == 0 {
					i = (x >> 11) % 64 // some clustered in the first leaf
				}
				if got := tab.Mark(i); got == model[i] {
					t.Fatalf("Mark(%d) = %v with the target answered %v before", i, got, model[i])
				}
				model[i] = true
			}
			for i := range model {
				if !tab.Answered(i) {
					t.Fatalf("target %d marked but not answered", i)
				}
			}
			var each []uint64
			tab.Each(func(i uint64) { each = append(each, i) })
			if len(each) != len(model) {
				t.Fatalf("Each gave %d targets, want %d", len(each), len(model))
			}
			for k, i := range each {
				if !model[i] || (k > 0 && each[k-1] >= i) {
					t.Fatalf("Each gave %d at %d (unmarked or out of order)", i, k)
				}
			}
			if c.n > 1<<20 {
				return // Unanswered would list ~2^40 targets
			}
			unanswered := uint64(0)
			prev := int64(-1)
			tab.Unanswered(func(i uint64) bool {
				if model[i] || int64(i) <= prev || i >= c.n {
					t.Fatalf("Unanswered gave %d (answered, out of order or out of range)", i)
				}
				prev = int64(i)
				unanswered++
				return true
			})
			if unanswered+uint64(len(model)) != c.n {
				t.Fatalf("Unanswered gave %d targets, want %d", unanswered, c.n-uint64(len(model)))
			}
		})
	}
}

// TestTableReadersDuringMarks: while writers mark scattered targets over a table of
// 2^40 (leaves added, directory grown, sparse leaves grown and turned dense), readers
// never see a target answered that no one marked, never see one answered and later
// unanswered, and see every target a writer marked before it told them so.
func TestTableReadersDuringMarks(t *testing.T) {
	const n = 1 << 40
	tab, err := NewTable(n)
	if err != nil {
		t.Fatal(err)
	}
	// Targets: 64 leaves x 4000 offsets (every leaf turns dense), and 20000 lone
	// targets each in a leaf of its own.
	var targets []uint64
	for l := uint64(0); l < 64; l++ {
		for o := uint64(0); o < 4000; o++ {
			targets = append(targets, (l*977+5)*leafSpan+o*16)
		}
	}
	for k := uint64(0); k < 20000; k++ {
		targets = append(targets, (k*0x9E3779B97F4A7C15)%n)
	}
	marked := make([]atomic.Bool, len(targets)) // set after the Mark that was first returned
	var firsts atomic.Int64
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range targets {
				k := (k*7 + w*len(targets)/4) % len(targets)
				if tab.Mark(targets[k]) {
					firsts.Add(1)
				}
				marked[k].Store(true)
			}
		}()
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for r := range 2 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			seen := make([]bool, len(targets))
			for pass := 0; ; pass++ {
				select {
				case <-stop:
					return
				default:
				}
				for k := r; k < len(targets); k += 2 {
					was := marked[k].Load()
					got := tab.Answered(targets[k])
					if was && !got {
						t.Errorf("target %d marked but not answered", targets[k])
						return
					}
					if seen[k] && !got {
						t.Errorf("target %d answered, then not", targets[k])
						return
					}
					seen[k] = got
				}
				if tab.Answered(3) || tab.Answered(n-1) {
					t.Error("a target no one marked is answered")
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	if got := firsts.Load(); got != int64(len(targets)) {
		t.Fatalf("%d first marks, want %d", got, len(targets))
	}
	count := 0
	tab.Each(func(uint64) { count++ })
	if count != len(targets) {
		t.Fatalf("Each gave %d targets, want %d", count, len(targets))
	}
}

// TestTableMemoryFollowsAnswers: a table for the whole IPv4 space x 65,536 ports
// allocates almost nothing; lone answers cost a bounded number of bytes each, and a
// leaf answered everywhere no more than a bitmap's bit per target.
func TestTableMemoryFollowsAnswers(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	tab, err := NewTable(1 << 48)
	if err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 4096 {
		t.Fatalf("NewTable(2^48) allocated %d bytes", got)
	}
	empty := tab.bytes()
	const lone = 10000
	for k := uint64(0); k < lone; k++ {
		tab.Mark(k * 28147497671) // each in a leaf of its own
	}
	perAnswer := float64(tab.bytes()-empty) / lone
	if perAnswer > 160 {
		t.Errorf("%.0f bytes per lone answer", perAnswer)
	}
	dense, _ := NewTable(leafSpan)
	for i := uint64(0); i < leafSpan; i++ {
		dense.Mark(i)
	}
	if got, bitmap := dense.bytes(), uint64(leafSpan/8); got > bitmap+512 {
		t.Errorf("a leaf answered everywhere holds %d bytes, a bitmap %d", got, bitmap)
	}
	t.Logf("empty table of 2^48: %d bytes; %.0f bytes per lone answer; full leaf %d bytes", empty, perAnswer, dense.bytes())
}

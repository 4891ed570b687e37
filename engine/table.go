package engine

import (
	"fmt"
	"math/bits"
	"sync/atomic"
)

// MaxTargets is the largest scan (addresses x ports) the target table accepts:
// 2^35 targets, a 4 GiB table. Larger scans must be split.
const MaxTargets = 1 << 35

// Table is the lock-free target table: one bit per target (address x port), indexed by
// the target's index in the scan, set when the target's first valid answer arrives.
//
// The receiver marks targets with one atomic OR and no lock; the sender reads the bits
// to retry only unanswered targets; at the end the unset bits are the filtered ones.
// A verdict is emitted when its bit is set for the first time, so duplicates (SYN-ACK
// retransmissions, answers to retries) are dropped and the verdict itself needs no
// storage. Memory is targets/8 bytes: a /16 x 65535-port scan needs 512 MiB, a /16 x
// 1000 ports 8 MiB. The table is allocated zeroed and untouched pages cost nothing.
type Table struct {
	words []uint64
	n     uint64
}

// NewTable returns a table for n targets, all unanswered.
func NewTable(n uint64) (*Table, error) {
	if n > MaxTargets {
		return nil, fmt.Errorf("scan of %d targets (addresses x ports) is larger than the %d fastscan can track: split it", n, uint64(MaxTargets))
	}
	return &Table{words: make([]uint64, (n+63)/64), n: n}, nil
}

// Len returns the number of targets.
func (t *Table) Len() uint64 { return t.n }

// Mark records an answer for target i. It reports whether this was the first answer.
func (t *Table) Mark(i uint64) bool {
	bit := uint64(1) << (i & 63)
	return atomic.OrUint64(&t.words[i>>6], bit)&bit == 0
}

// Answered reports whether target i has been answered.
func (t *Table) Answered(i uint64) bool {
	return atomic.LoadUint64(&t.words[i>>6])&(uint64(1)<<(i&63)) != 0
}

// Unanswered calls fn for every target not answered, in index order, until fn returns false.
func (t *Table) Unanswered(fn func(i uint64) bool) {
	for w := range t.words {
		word := atomic.LoadUint64(&t.words[w])
		if word == ^uint64(0) {
			continue
		}
		for b := uint64(0); b < 64; b++ {
			i := uint64(w)*64 + b
			if i >= t.n {
				return
			}
			if word&(1<<b) == 0 && !fn(i) {
				return
			}
		}
	}
}

// Each calls fn for every answered target, in index order. It may run while
// targets are marked: one marked during the call may or may not be seen.
func (t *Table) Each(fn func(i uint64)) {
	for w := range t.words {
		word := atomic.LoadUint64(&t.words[w])
		for word != 0 {
			b := uint64(bits.TrailingZeros64(word))
			fn(uint64(w)*64 + b)
			word &= word - 1
		}
	}
}

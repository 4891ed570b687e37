package engine

import (
	"fmt"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/fastscan/fastscan/target"
)

// MaxTargets is the largest scan (addresses x ports) the engine can index: every
// IPv4 address x every TCP and every UDP port, 2^32 x 131,070 (under 2^49). No IPv4
// scan is larger (IPv6 ones can be: ScanSize refuses them), and the table's memory
// follows the answers, not this number.
const MaxTargets = (1 << 32) * (2 * 65535)

// leafSpan is how many consecutive target indexes one leaf of a Table covers.
// 65,535 rather than 65,536 so that an offset plus one fits 16 bits: a sparse
// leaf's slots hold offset+1, and 0 is an empty slot.
const leafSpan = 65535

// denseWords is the size of a dense leaf: one bit per offset.
const denseWords = (leafSpan + 63) / 64

// sparseMaxSlots is the largest sparse leaf: 4096 slots of 2 bytes, the 8 KiB of a
// dense leaf. A sparse leaf is at most 3/4 full; the member that would pass that
// turns it dense, so a leaf never holds more than a dense one.
const sparseMaxSlots = 4096

// sparseMinSlots is the size of a new sparse leaf.
const sparseMinSlots = 8

// Table is the set of answered targets (address x port), indexed by the target's
// index in the scan; a target is marked when its first valid answer arrives.
//
// Its memory follows the answers, not the size of the scan: the index space is cut
// into leaves of 65,535 consecutive targets, and only leaves holding an answer
// exist. A leaf with few answers is sparse (a small open-addressing hash set of
// 16-bit offsets, 2 bytes a slot, at most 3/4 full), one with many is dense (a
// bitmap, 8 KiB); a sparse leaf turns dense when it would grow past 8 KiB. The
// leaves are found through a hash table of leaf pointers, grown by doubling. So a
// table of A answers in L leaves holds at most min(8 KiB, about 5.3 bytes x answers)
// per leaf plus about 100 bytes of bookkeeping per leaf: never more than the one bit
// per target of a plain bitmap plus the bookkeeping, and nothing at all for a
// scan nothing answers.
//
// Mark is safe for concurrent use, also with Answered, Each and Unanswered. Readers
// take no lock: leaves, sparse sets and directories are published with atomic
// pointer stores, every slot and word is read and written atomically, and what a
// writer replaces (a grown sparse set, a grown directory) is never written again.
// Writers take a leaf's lock only to add to a sparse leaf, and the table's lock
// only to add a leaf; marking a dense leaf is one atomic OR. A verdict is emitted
// when its target is marked for the first time, so duplicates (SYN-ACK
// retransmissions, answers to retries) are dropped and the verdict itself needs no
// storage.
type Table struct {
	n   uint64
	dir atomic.Pointer[directory]
	mu  sync.Mutex // adding leaves and growing dir
	// leaves is the number of leaves in dir (under mu).
	leaves int
}

// directory is an open-addressing hash table (linear probing) of leaves by key,
// at most half full.
type directory struct {
	slots []atomic.Pointer[leaf]
	shift uint // 64 - log2(len(slots))
}

// leaf holds the answered offsets of the targets key*leafSpan ... +leafSpan-1.
// Exactly one of sparse and dense is set, but for the moment a sparse leaf turns
// dense: dense is stored before sparse is cleared.
type leaf struct {
	key    uint64
	dense  atomic.Pointer[[denseWords]uint64]
	sparse atomic.Pointer[sparseSet]
	mu     sync.Mutex // adding to sparse, turning the leaf dense
	count  int        // members of sparse (under mu)
}

// sparseSet is an open-addressing hash set (linear probing) of offset+1 values in
// 16-bit slots, two to a word so that they are read and written atomically.
type sparseSet struct {
	words []uint32
	shift uint // 32 - log2(slots)
}

// ScanSize returns the number of targets (addresses x ports) of a scan of
// targets on nports ports, or a *UsageError when it is larger than MaxTargets
// (also when the product does not fit 64 bits: an IPv6 prefix of 2^56
// addresses on many ports). The message suggests a hitlist for IPv6.
func ScanSize(targets *target.Set, nports uint64) (uint64, error) {
	hi, n := bits.Mul64(targets.Len(), nports)
	if hi == 0 && n <= MaxTargets {
		return n, nil
	}
	msg := fmt.Sprintf("a scan of %d addresses x %d ports is larger than the %d targets fastscan can index", targets.Len(), nports, uint64(MaxTargets))
	if targets.Len4() < targets.Len() {
		msg += ": scan fewer ports, or a hitlist of the IPv6 addresses in use (-iL FILE) instead of whole prefixes"
	} else {
		msg += ": scan fewer ports or fewer addresses"
	}
	return 0, &UsageError{msg}
}

// NewTable returns a table for n targets, all unanswered. It allocates almost
// nothing, whatever n.
func NewTable(n uint64) (*Table, error) {
	if n > MaxTargets {
		return nil, fmt.Errorf("scan of %d targets (addresses x ports) is larger than the %d fastscan can index", n, uint64(MaxTargets))
	}
	t := &Table{n: n}
	t.dir.Store(newDirectory(8))
	return t, nil
}

// Len returns the number of targets.
func (t *Table) Len() uint64 { return t.n }

// Mark records an answer for target i. It reports whether this was the first answer:
// of any number of Marks of i, also concurrent ones, exactly one returns true.
func (t *Table) Mark(i uint64) bool {
	key, off := i/leafSpan, uint32(i%leafSpan)
	l := t.dir.Load().find(key)
	if l == nil {
		var added bool
		if l, added = t.addLeaf(key, off); added {
			return true
		}
	}
	if d := l.dense.Load(); d != nil {
		return orBit(d, off)
	}
	if l.has(off) { // a duplicate needs no lock
		return false
	}
	l.mu.Lock()
	var first bool
	if d := l.dense.Load(); d != nil {
		first = orBit(d, off)
	} else {
		first = l.addSparse(off)
	}
	l.mu.Unlock()
	return first
}

// Answered reports whether target i has been answered.
func (t *Table) Answered(i uint64) bool {
	key, off := i/leafSpan, uint32(i%leafSpan)
	l := t.dir.Load().find(key)
	if l == nil {
		return false
	}
	return l.has(off)
}

// Unanswered calls fn for every target not answered, in index order, until fn returns false.
func (t *Table) Unanswered(fn func(i uint64) bool) {
	var offs []uint16
	for key := uint64(0); key*leafSpan < t.n; key++ {
		base := key * leafSpan
		end := min(uint64(leafSpan), t.n-base)
		l := t.dir.Load().find(key)
		if l == nil {
			for off := range end {
				if !fn(base + off) {
					return
				}
			}
			continue
		}
		if d := l.denseOrNil(); d != nil {
			for w := range d {
				word := ^atomic.LoadUint64(&d[w])
				for word != 0 {
					off := uint64(w)*64 + uint64(bits.TrailingZeros64(word))
					if off >= end {
						break
					}
					if !fn(base + off) {
						return
					}
					word &= word - 1
				}
			}
			continue
		}
		offs = l.sparseMembers(offs[:0])
		next := uint64(0)
		for _, o := range append(offs, uint16(end)) {
			for ; next < uint64(o); next++ {
				if !fn(base + next) {
					return
				}
			}
			next = uint64(o) + 1
		}
	}
}

// Each calls fn for every answered target, in index order. It may run while
// targets are marked: one marked during the call may or may not be seen.
func (t *Table) Each(fn func(i uint64)) {
	var ls []*leaf
	d := t.dir.Load()
	for s := range d.slots {
		if l := d.slots[s].Load(); l != nil {
			ls = append(ls, l)
		}
	}
	slices.SortFunc(ls, func(a, b *leaf) int { return cmpUint64(a.key, b.key) })
	var offs []uint16
	for _, l := range ls {
		base := l.key * leafSpan
		if d := l.denseOrNil(); d != nil {
			for w := range d {
				word := atomic.LoadUint64(&d[w])
				for word != 0 {
					fn(base + uint64(w)*64 + uint64(bits.TrailingZeros64(word)))
					word &= word - 1
				}
			}
			continue
		}
		offs = l.sparseMembers(offs[:0])
		for _, o := range offs {
			fn(base + uint64(o))
		}
	}
}

// bytes is the memory the table holds (directory, leaves, sets), by its own count.
func (t *Table) bytes() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	d := t.dir.Load()
	n := uint64(len(d.slots))*8 + 64
	for s := range d.slots {
		l := d.slots[s].Load()
		if l == nil {
			continue
		}
		n += leafBytes
		if l.dense.Load() != nil {
			n += denseWords * 8
		} else if sp := l.sparse.Load(); sp != nil {
			n += 32 + uint64(len(sp.words))*4
		}
	}
	return n
}

// leafBytes is the size of a leaf's header, as allocated.
const leafBytes = 48

func cmpUint64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// addLeaf adds the leaf of key holding off, unless another Mark added it first:
// then it returns that leaf and false.
func (t *Table) addLeaf(key uint64, off uint32) (*leaf, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	d := t.dir.Load()
	if l := d.find(key); l != nil {
		return l, false
	}
	l := &leaf{key: key, count: 1}
	sp := newSparseSet(sparseMinSlots)
	sp.add(off)
	l.sparse.Store(sp)
	if 2*(t.leaves+1) > len(d.slots) {
		grown := newDirectory(2 * len(d.slots))
		for s := range d.slots {
			if old := d.slots[s].Load(); old != nil {
				grown.insert(old)
			}
		}
		d = grown
		t.dir.Store(d)
	}
	d.insert(l) // publishes l, complete
	t.leaves++
	return l, true
}

func newDirectory(slots int) *directory {
	return &directory{slots: make([]atomic.Pointer[leaf], slots), shift: uint(64 - bits.TrailingZeros(uint(slots)))}
}

// find returns the leaf of key, nil if there is none.
func (d *directory) find(key uint64) *leaf {
	mask := uint64(len(d.slots) - 1)
	for s := (key * 0x9E3779B97F4A7C15) >> d.shift; ; s = (s + 1) & mask {
		l := d.slots[s].Load()
		if l == nil || l.key == key {
			return l
		}
	}
}

// insert puts l into the first free slot of its probe sequence (under Table.mu).
func (d *directory) insert(l *leaf) {
	mask := uint64(len(d.slots) - 1)
	s := (l.key * 0x9E3779B97F4A7C15) >> d.shift
	for d.slots[s].Load() != nil {
		s = (s + 1) & mask
	}
	d.slots[s].Store(l)
}

// orBit sets bit off of d and reports whether it was clear.
func orBit(d *[denseWords]uint64, off uint32) bool {
	bit := uint64(1) << (off & 63)
	return atomic.OrUint64(&d[off>>6], bit)&bit == 0
}

// denseOrNil returns the leaf's bitmap, or nil while it is sparse.
func (l *leaf) denseOrNil() *[denseWords]uint64 {
	if d := l.dense.Load(); d != nil {
		return d
	}
	if l.sparse.Load() == nil { // turned dense since the first load
		return l.dense.Load()
	}
	return nil
}

// has reports whether off is a member.
func (l *leaf) has(off uint32) bool {
	if d := l.dense.Load(); d != nil {
		return atomic.LoadUint64(&d[off>>6])&(uint64(1)<<(off&63)) != 0
	}
	sp := l.sparse.Load()
	if sp == nil { // turned dense since the first load: dense was stored before
		d := l.dense.Load()
		return atomic.LoadUint64(&d[off>>6])&(uint64(1)<<(off&63)) != 0
	}
	return sp.has(off)
}

// sparseMembers appends the offsets of a sparse leaf to dst, ascending.
func (l *leaf) sparseMembers(dst []uint16) []uint16 {
	sp := l.sparse.Load()
	if sp == nil {
		return dst
	}
	for w := range sp.words {
		word := atomic.LoadUint32(&sp.words[w])
		if v := uint16(word); v != 0 {
			dst = append(dst, v-1)
		}
		if v := uint16(word >> 16); v != 0 {
			dst = append(dst, v-1)
		}
	}
	slices.Sort(dst)
	return dst
}

// addSparse adds off to a sparse leaf and reports whether it was new; it grows the
// set, or turns the leaf dense, when it would pass 3/4 full. Under l.mu.
func (l *leaf) addSparse(off uint32) bool {
	sp := l.sparse.Load()
	if sp.has(off) {
		return false
	}
	slots := 2 * len(sp.words)
	if 4*(l.count+1) > 3*slots {
		if slots >= sparseMaxSlots {
			d := new([denseWords]uint64)
			for w := range sp.words {
				word := sp.words[w] // no one else writes: we hold l.mu
				if v := uint16(word); v != 0 {
					d[(v-1)>>6] |= 1 << ((v - 1) & 63)
				}
				if v := uint16(word >> 16); v != 0 {
					d[(v-1)>>6] |= 1 << ((v - 1) & 63)
				}
			}
			d[off>>6] |= 1 << (off & 63)
			l.dense.Store(d)
			l.sparse.Store(nil)
			l.count = 0
			return true
		}
		grown := newSparseSet(2 * slots)
		for w := range sp.words {
			word := sp.words[w]
			if v := uint16(word); v != 0 {
				grown.add(uint32(v - 1))
			}
			if v := uint16(word >> 16); v != 0 {
				grown.add(uint32(v - 1))
			}
		}
		grown.add(off)
		l.sparse.Store(grown)
		l.count++
		return true
	}
	sp.add(off)
	l.count++
	return true
}

func newSparseSet(slots int) *sparseSet {
	return &sparseSet{words: make([]uint32, slots/2), shift: uint(32 - bits.TrailingZeros(uint(slots)))}
}

// has reports whether off is in the set.
func (sp *sparseSet) has(off uint32) bool {
	v := off + 1
	mask := uint32(2*len(sp.words) - 1)
	for s := (v * 0x9E3779B1) >> sp.shift; ; s = (s + 1) & mask {
		h := atomic.LoadUint32(&sp.words[s>>1]) >> ((s & 1) * 16) & 0xffff
		if h == v {
			return true
		}
		if h == 0 {
			return false
		}
	}
}

// add puts off, not yet a member, into the first empty slot of its probe sequence.
// The set must have an empty slot; one writer at a time.
func (sp *sparseSet) add(off uint32) {
	v := off + 1
	mask := uint32(2*len(sp.words) - 1)
	s := (v * 0x9E3779B1) >> sp.shift
	for atomic.LoadUint32(&sp.words[s>>1])>>((s&1)*16)&0xffff != 0 {
		s = (s + 1) & mask
	}
	atomic.OrUint32(&sp.words[s>>1], v<<((s&1)*16))
}

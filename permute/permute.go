// Package permute provides the scan order: a keyed pseudo-random bijection
// on [0, n) that is evaluated in O(1) time and memory, so a scan of 2^40
// probes needs no shuffled list.
//
// The bijection is a four-round Feistel network over the smallest bit width
// w that holds n-1, split into a high half of w/2 bits and a low half of the
// remaining bits; the two halves take turns being XORed with a keyed hash of
// the other, which is invertible whatever the split. Values at or above n are
// mapped again ("cycle walking") until they land in [0, n); since the domain
// is less than 2n, this takes under two rounds of the network on average.
//
// The order is fixed by the seed and is not a cryptographic secret: it spreads
// the probes of a scan over the target space, it does not hide them.
package permute

import (
	"math/bits"

	"github.com/fastscan/fastscan/splitmix"
)

// rounds is the number of Feistel rounds. Four rounds of a pseudo-random
// function make a strong pseudo-random permutation (Luby and Rackoff).
const rounds = 4

// minWidth is the smallest domain width in bits; it gives the tiniest sets a
// choice of more than two orders.
const minWidth = 2

// Permutation is a keyed bijection on [0, n). The zero value is the empty
// permutation. A Permutation is immutable and safe for concurrent use.
type Permutation struct {
	n        uint64
	lowBits  uint   // width of the low half
	lowMask  uint64 // (1 << lowBits) - 1
	highMask uint64 // mask of the high half once shifted down
	xorKeys  [rounds]uint64
	mulKeys  [rounds]uint64
}

// New returns the permutation of [0, n) selected by seed. The same n and seed
// always give the same order; different seeds give unrelated orders. n may
// be anything; New(0, seed) is an empty permutation on which At panics.
func New(n uint64, seed uint64) Permutation {
	p := Permutation{n: n}
	width := uint(minWidth)
	if n > 0 {
		width = max(width, uint(bits.Len64(n-1)))
	}
	highBits := width / 2
	p.lowBits = width - highBits
	p.lowMask = 1<<p.lowBits - 1
	p.highMask = 1<<highBits - 1
	state := seed
	for r := range rounds {
		// The top bit keeps the multiplier's operand away from zero for
		// every half value; the low bit makes the multiplier odd.
		p.xorKeys[r] = splitmix.Next(&state) | 1<<63
		p.mulKeys[r] = splitmix.Next(&state) | 1
	}
	return p
}

// Len returns n, the size of the permutation's domain.
func (p *Permutation) Len() uint64 { return p.n }

// At returns the image of i, a number in [0, n). Distinct i in [0, n) give
// distinct images. At panics if i >= n. It does not allocate.
func (p *Permutation) At(i uint64) uint64 {
	if i >= p.n {
		panic("permute: At index out of range")
	}
	for {
		i = p.encrypt(i)
		if i < p.n {
			return i
		}
	}
}

// Inverse returns the i for which At(i) == j. It panics if j >= n. It does
// not allocate.
func (p *Permutation) Inverse(j uint64) uint64 {
	if j >= p.n {
		panic("permute: Inverse index out of range")
	}
	for {
		j = p.decrypt(j)
		if j < p.n {
			return j
		}
	}
}

// encrypt applies the Feistel network once to x, a value of the domain.
func (p *Permutation) encrypt(x uint64) uint64 {
	high, low := x>>p.lowBits, x&p.lowMask
	high ^= p.round(0, low) & p.highMask
	low ^= p.round(1, high) & p.lowMask
	high ^= p.round(2, low) & p.highMask
	low ^= p.round(3, high) & p.lowMask
	return high<<p.lowBits | low
}

// decrypt undoes encrypt.
func (p *Permutation) decrypt(x uint64) uint64 {
	high, low := x>>p.lowBits, x&p.lowMask
	low ^= p.round(3, high) & p.lowMask
	high ^= p.round(2, low) & p.highMask
	low ^= p.round(1, high) & p.lowMask
	high ^= p.round(0, low) & p.highMask
	return high<<p.lowBits | low
}

// round is the keyed round function: both halves of a full 64x64-bit
// product of the keyed input, folded together, so every output bit depends
// non-linearly on every input bit.
func (p *Permutation) round(r int, x uint64) uint64 {
	hi, lo := bits.Mul64(x^p.xorKeys[r], p.mulKeys[r])
	return hi ^ lo
}

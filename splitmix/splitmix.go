// Package splitmix is the SplitMix64 generator (Steele, Lea and Flood,
// "Fast splittable pseudorandom number generators", OOPSLA 2014), as in
// Sebastiano Vigna's reference splitmix64.c: the one place the project turns
// a 64-bit seed into a stream of independent-looking 64-bit words (round
// keys of permute, the SipHash key of cookie).
//
// It is not a cryptographic generator: its output reveals its state.
package splitmix

// Next advances *state by the golden-ratio increment and returns the next
// output of the SplitMix64 generator whose state it is. Seeding is setting
// *state; successive calls return the generator's sequence.
func Next(state *uint64) uint64 {
	*state += 0x9e3779b97f4a7c15
	z := *state
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

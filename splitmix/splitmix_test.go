package splitmix_test

import (
	"testing"

	"github.com/fastscan/fastscan/splitmix"
)

// The first five outputs of the reference implementation, splitmix64.c by
// Sebastiano Vigna (https://prng.di.unimi.it/splitmix64.c), with x set to
// the seed. The seed-1234567 sequence is the one Rosetta Code publishes
// ("Pseudo-random numbers/Splitmix64",
// https://rosettacode.org/wiki/Pseudo-random_numbers/Splitmix64); both
// sequences were checked against splitmix64.c's next() compiled with gcc.
var reference = []struct {
	seed uint64
	want []uint64
}{
	{0, []uint64{
		0xe220a8397b1dcdaf,
		0x6e789e6aa1b965f4,
		0x06c45d188009454f,
		0xf88bb8a8724c81ec,
		0x1b39896a51a8749b,
	}},
	{1234567, []uint64{
		6457827717110365317,
		3203168211198807973,
		9817491932198370423,
		4593380528125082431,
		16408922859458223821,
	}},
}

func TestNextReference(t *testing.T) {
	for _, r := range reference {
		state := r.seed
		for i, want := range r.want {
			if got := splitmix.Next(&state); got != want {
				t.Errorf("seed %d, output %d: got %#016x, want %#016x", r.seed, i, got, want)
			}
		}
	}
}

// TestNextState checks that the state is the seed plus one golden-ratio
// increment per call, wrapping, as in the reference.
func TestNextState(t *testing.T) {
	golden := uint64(0x9e3779b97f4a7c15)
	state := ^uint64(0)
	splitmix.Next(&state)
	splitmix.Next(&state)
	if want := ^uint64(0) + golden + golden; state != want {
		t.Fatalf("state after two calls from 2^64-1: %#x, want %#x", state, want)
	}
}

func TestNextAllocatesNothing(t *testing.T) {
	state := uint64(1)
	if n := testing.AllocsPerRun(100, func() { splitmix.Next(&state) }); n != 0 {
		t.Fatalf("Next allocates %v times", n)
	}
}

package packet_test

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/fastscan/fastscan/packet"
)

// refSum is a deliberately naive RFC 1071 ones' complement sum: one 16-bit
// word at a time, carry folded after every addition.
func refSum(b []byte) uint16 {
	var s uint32
	for i := 0; i < len(b); i += 2 {
		w := uint32(b[i]) << 8
		if i+1 < len(b) {
			w |= uint32(b[i+1])
		}
		s += w
		s = (s & 0xffff) + (s >> 16)
	}
	return uint16(s)
}

func TestChecksumKnownVectors(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want uint16 // folded sum, worked out by hand
	}{
		{"empty", nil, 0},
		// RFC 1071 section 3 example: 0001 f203 f4f5 f6f7 sums to ddf2.
		{"rfc1071", []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}, 0xddf2},
		{"odd byte is high byte", []byte{0xab}, 0xab00},
		{"carry wraps", []byte{0xff, 0xff, 0x00, 0x01}, 0x0001},
		{"all ones stays ones", []byte{0xff, 0xff, 0xff, 0xff}, 0xffff},
	}
	for _, tt := range tests {
		if got := packet.Checksum(tt.in, 0); got != tt.want {
			t.Errorf("%s: Checksum = %#04x, want %#04x", tt.name, got, tt.want)
		}
	}
	// A well-known IPv4 header (checksum b861) verifies to zero.
	hdr := []byte{0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61,
		0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7}
	if got := packet.InternetChecksum(hdr); got != 0 {
		t.Errorf("InternetChecksum over a valid header = %#04x, want 0", got)
	}
	if got := packet.IPv4(hdr).CalculateChecksum(); got != 0xb861 {
		t.Errorf("CalculateChecksum = %#04x, want 0xb861", got)
	}
}

func TestChecksumMatchesReferenceAllLengths(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 300; n++ {
		for range 5 {
			b := make([]byte, n)
			for i := range b {
				b[i] = byte(r.Uint32())
			}
			if r.IntN(4) == 0 { // exercise many carries
				for i := range b {
					b[i] = 0xff - byte(r.IntN(2))
				}
			}
			init := uint16(r.Uint32())
			want := refSum(append([]byte{byte(init >> 8), byte(init)}, b...))
			if got := packet.Checksum(b, init); got != want {
				t.Fatalf("len %d init %#x: Checksum = %#04x, reference %#04x", n, init, got, want)
			}
		}
	}
}

func TestChecksumCombine(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 10000 {
		a := make([]byte, 2*r.IntN(40))
		b := make([]byte, r.IntN(80))
		for i := range a {
			a[i] = byte(r.Uint32())
		}
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		got := packet.ChecksumCombine(packet.Checksum(a, 0), packet.Checksum(b, 0))
		if want := refSum(append(append([]byte{}, a...), b...)); got != want {
			t.Fatalf("ChecksumCombine = %#04x, want %#04x", got, want)
		}
	}
}

func TestPseudoHeaderChecksum(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 10000 {
		src, dst, length := r.Uint32(), r.Uint32(), uint16(r.Uint32())
		proto := uint8(r.Uint32())
		ph := make([]byte, 12)
		binary.BigEndian.PutUint32(ph[0:], src)
		binary.BigEndian.PutUint32(ph[4:], dst)
		ph[9] = proto
		binary.BigEndian.PutUint16(ph[10:], length)
		if got, want := packet.PseudoHeaderChecksum(proto, src, dst, length), refSum(ph); got != want {
			t.Fatalf("PseudoHeaderChecksum = %#04x, want %#04x", got, want)
		}
	}
}

// randomHeader returns random bytes of even length whose first word is not
// zero, as in every real IPv4 or TCP header (version, ports). Tests keep the
// first word unchanged: when everything but the checksum is zero the
// incremental update legitimately differs from recomputation (RFC 1624
// section 3), a case no real header reaches.
func randomHeader(r *rand.Rand) []byte {
	b := make([]byte, 2*(2+r.IntN(30)))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	if r.IntN(8) == 0 { // sparse headers make the 0x0000/0xffff corner likely
		for i := range b {
			if r.IntN(4) != 0 {
				b[i] = 0
			}
		}
	}
	b[0] |= 0x40
	return b
}

// setChecksum stores the full checksum in the 16-bit field at off.
func setChecksum(b []byte, off int) {
	binary.BigEndian.PutUint16(b[off:], 0)
	binary.BigEndian.PutUint16(b[off:], packet.InternetChecksum(b))
}

func TestUpdateChecksum16EqualsRecomputation(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for i := range 200000 {
		b := randomHeader(r)
		csumOff := 2 + 2*r.IntN(len(b)/2-1)
		setChecksum(b, csumOff)
		field := 2 + 2*r.IntN(len(b)/2-1)
		if field == csumOff {
			continue
		}
		old := binary.BigEndian.Uint16(b[field:])
		var new uint16
		switch i % 4 {
		case 0:
			new = 0
		case 1:
			new = 0xffff
		case 2:
			new = old
		default:
			new = uint16(r.Uint32())
		}
		hc := binary.BigEndian.Uint16(b[csumOff:])
		binary.BigEndian.PutUint16(b[field:], new)
		got := packet.UpdateChecksum16(hc, old, new)
		setChecksum(b, csumOff)
		if want := binary.BigEndian.Uint16(b[csumOff:]); got != want {
			t.Fatalf("UpdateChecksum16(%#04x, %#04x, %#04x) = %#04x, full recomputation %#04x (header % x)",
				hc, old, new, got, want, b)
		}
	}
}

func TestUpdateChecksum32EqualsRecomputation(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for i := range 200000 {
		b := randomHeader(r)
		if len(b) < 8 {
			continue
		}
		csumOff := 2 + 2*r.IntN(len(b)/2-1)
		setChecksum(b, csumOff)
		field := 2 + 2*r.IntN(len(b)/2-2)
		if field == csumOff || field+2 == csumOff {
			continue
		}
		old := binary.BigEndian.Uint32(b[field:])
		var new uint32
		switch i % 4 {
		case 0:
			new = 0
		case 1:
			new = 0xffffffff
		case 2:
			new = old
		default:
			new = r.Uint32()
		}
		hc := binary.BigEndian.Uint16(b[csumOff:])
		binary.BigEndian.PutUint32(b[field:], new)
		got := packet.UpdateChecksum32(hc, old, new)
		setChecksum(b, csumOff)
		if want := binary.BigEndian.Uint16(b[csumOff:]); got != want {
			t.Fatalf("UpdateChecksum32(%#04x, %#08x, %#08x) = %#04x, full recomputation %#04x",
				hc, old, new, got, want)
		}
	}
}

package engine

import (
	"runtime"
	"testing"

	"github.com/fastscan/fastscan/result"
	"github.com/fastscan/fastscan/target"
)

// TestNewWholeSpaceAllocatesLittle: a scan of every IPv4 address x every TCP port
// and one UDP port (2^48 targets) is accepted, and New allocates for it no more than
// for one address x one port (whose fixed cost is mostly the results queue): no
// state proportional to the addresses or the targets.
func TestNewWholeSpaceAllocatesLittle(t *testing.T) {
	allocs := func(spec, tcpSpec, udpSpec string, want uint64) uint64 {
		t.Helper()
		targets, err := target.ParseTargets([]string{spec}, nil)
		if err != nil {
			t.Fatal(err)
		}
		tcp, _ := target.ParsePorts(tcpSpec)
		udp, _ := target.ParsePorts(udpSpec)
		cfg := Config{Targets: targets, Ports: tcp, UDPPorts: udp, Rate: 1000, TrackHidden: true}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s, err := New(cfg)
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatal(err)
		}
		if s.total != want {
			t.Fatalf("%s: %d targets, want %d", spec, s.total, want)
		}
		return after.TotalAlloc - before.TotalAlloc
	}
	small := allocs("198.18.0.1", "80", "", 1)
	whole := allocs("0.0.0.0/0", "1-65535", "53", 1<<48)
	t.Logf("New allocated %d bytes for 1 target, %d for 2^48", small, whole)
	if whole > small+64<<10 {
		t.Fatalf("New allocated %d bytes for 2^48 targets, %d for one", whole, small)
	}
}

// TestHostTable: over all 2^32 addresses, probed and up hosts are counted once each,
// every up host keeps the reason of its first own answer, and the memory held
// follows those hosts.
func TestHostTable(t *testing.T) {
	h, err := newHostTable(1 << 32)
	if err != nil {
		t.Fatal(err)
	}
	reasons := []result.Reason{result.ReasonSYNACK, result.ReasonReset, result.ReasonPortUnreachable, result.ReasonUDPResponse}
	const hosts = 5000
	host := func(k uint64) uint64 { return (k * 858993459) % (1 << 32) } // spread over the space
	probed := 0
	for k := uint64(0); k < hosts; k++ {
		if h.markSent(host(k)) {
			probed++
		}
		if h.markSent(host(k)) { // another port of it
			t.Fatalf("host %d probed for the first time twice", host(k))
		}
		if k%2 == 0 {
			h.answered(host(k), reasons[k/2%4])
			h.answered(host(k), result.ReasonHostUnreachable) // later answers do not change it
		}
	}
	if got := probed; got != hosts {
		t.Errorf("probed %d, want %d", got, hosts)
	}
	if got := h.upCount.Load(); got != hosts/2 {
		t.Errorf("up %d, want %d", got, hosts/2)
	}
	for k := uint64(0); k < hosts; k++ {
		r, up := h.status(host(k))
		switch {
		case k%2 == 1 && up:
			t.Fatalf("host %d up with %v, never answered", host(k), r)
		case k%2 == 0 && (!up || r != reasons[k/2%4]):
			t.Fatalf("host %d: %v %v, want up with %v", host(k), r, up, reasons[k/2%4])
		}
	}
	if r, up := h.status(12345); up {
		t.Fatalf("a host never probed is up (%v)", r)
	}
	held := h.sent.bytes() + h.up.bytes()
	for r := range h.reasons {
		if set := h.reasons[r].Load(); set != nil {
			held += set.bytes()
		}
	}
	if perHost := float64(held) / hosts; perHost > 400 {
		t.Errorf("host table holds %d bytes: %.0f per host probed", held, perHost)
	}
}

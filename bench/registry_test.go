package bench

import (
	"testing"

	"github.com/fastscan/fastscan/registry"
)

// BenchmarkRegistryName measures naming the service of one result: an array
// index by port, no allocation.
func BenchmarkRegistryName(b *testing.B) {
	r := registry.Default()
	var sink int
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		sink += len(r.Name(uint16(i), registry.TCP))
	}
	_ = sink
}

// BenchmarkRegistryClassOf measures classifying one port and naming its class.
func BenchmarkRegistryClassOf(b *testing.B) {
	var sink int
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		sink += len(registry.ClassOf(uint16(i)).String())
	}
	_ = sink
}

// BenchmarkRegistryByName measures finding a service's ports by name.
func BenchmarkRegistryByName(b *testing.B) {
	r := registry.Default()
	var sink int
	b.ReportAllocs()
	for b.Loop() {
		sink += len(r.ByName("https"))
	}
	_ = sink
}

// BenchmarkRegistryTopPorts measures taking the 100 top TCP ports (a copy of
// the shipped list), once per scan.
func BenchmarkRegistryTopPorts(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := registry.TopPorts(registry.TCP, 100); err != nil {
			b.Fatal(err)
		}
	}
}

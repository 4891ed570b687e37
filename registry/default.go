package registry

import (
	"strings"
	"sync"

	"github.com/google/gopacket/layers"
)

// defaultRegistry builds the embedded table on first use.
var defaultRegistry = sync.OnceValue(buildDefault)

// Default returns the table fastscan ships, built on first use and shared:
// the IANA service names that the gopacket dependency carries
// (layers.TCPPortNames, layers.UDPPortNames and layers.SCTPPortNames, one
// name per port, taken from IANA's registry in 2017), a few assignments
// those maps lack (port ranges such as x11 on 6000-6063, later
// registrations such as mongodb on 27017, and second names such as nfs on
// 2049), and descriptions written by the fastscan authors for common
// services. Load a fresh copy of IANA's file with LoadFile for everything else.
func Default() *Registry { return defaultRegistry() }

// buildDefault assembles the embedded table.
func buildDefault() *Registry {
	services := make([]Service, 0, len(layers.TCPPortNames)+len(layers.UDPPortNames)+len(layers.SCTPPortNames)+len(supplement())+64)
	for port, name := range layers.TCPPortNames {
		services = append(services, Service{Name: name, Port: uint16(port), Proto: TCP})
	}
	for port, name := range layers.UDPPortNames {
		services = append(services, Service{Name: name, Port: uint16(port), Proto: UDP})
	}
	for port, name := range layers.SCTPPortNames {
		services = append(services, Service{Name: name, Port: uint16(port), Proto: SCTP})
	}
	// gopacket's maps hold one name per port, so every service so far is its
	// port's first; the supplement comes after them and never displaces one.
	for _, a := range supplement() {
		for port := int(a.lo); port <= int(a.hi); port++ {
			for _, p := range a.protos {
				services = append(services, Service{Name: a.name, Port: uint16(port), Proto: p})
			}
		}
	}
	desc := descriptions()
	for i := range services {
		services[i].Description = desc[strings.ToLower(services[i].Name)]
	}
	return newRegistry(services)
}

// assignment is an IANA assignment of a name to a port range.
type assignment struct {
	name   string
	lo, hi uint16
	protos []Proto
}

// supplement lists IANA assignments that gopacket's maps lack: its generator
// skipped port ranges and kept only the first name of a port, and its copy
// predates later registrations. Facts from the IANA registry, listed by hand.
func supplement() []assignment {
	return []assignment{
		{"x11", 6000, 6063, []Proto{TCP, UDP}},
		{"mongodb", 27017, 27017, []Proto{TCP}},
		{"nfs", 2049, 2049, []Proto{TCP, UDP}},
		{"submissions", 465, 465, []Proto{TCP}},
		{"auth", 113, 113, []Proto{TCP}},
	}
}

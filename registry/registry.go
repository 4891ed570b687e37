// Package registry answers what runs on a port: the IANA service names of
// every assigned TCP, UDP and SCTP port, the port classes of RFC 6335, and
// the ranked lists of the ports most often found open.
//
// Default returns the table fastscan ships; Load and LoadFile read a fresh
// copy of IANA's service-names-port-numbers.csv instead. Lookups by port are
// an index into an array by port number: O(1) and without allocation.
package registry

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Service is one assignment of a service name to a port and protocol.
type Service struct {
	Name        string // the IANA service name, such as "https"
	Port        uint16
	Proto       Proto
	Description string // a short description; may be empty
}

// Class returns the RFC 6335 class of the service's port.
func (s Service) Class() Class { return ClassOf(s.Port) }

// String returns the service as "name port/proto", for example "https 443/tcp".
func (s Service) String() string {
	return fmt.Sprintf("%s %d/%s", s.Name, s.Port, s.Proto)
}

// maxServices bounds the number of (name, port, protocol) assignments one
// registry holds, so that a hostile file of wide port ranges cannot exhaust
// memory. IANA's registry has about 13,000.
const maxServices = 1 << 18

// Registry maps ports to service names and back. A Registry is immutable
// once built and safe for concurrent use.
type Registry struct {
	// services is sorted by protocol, then port; the services of one port keep
	// the order they were assigned in (the order of the source).
	services []Service
	// start[p-1][port] is the index in services of the first service of port
	// over protocol p; the port's services end at start[p-1][port+1].
	start [numProtos][1<<16 + 1]uint32
	// byName maps a lower-case service name to the indexes of its services,
	// sorted by port, then protocol.
	byName map[string][]uint32
}

// newRegistry builds a registry from services listed in assignment order.
// It takes ownership of services.
func newRegistry(services []Service) *Registry {
	slices.SortStableFunc(services, func(a, b Service) int {
		if c := cmp.Compare(a.Proto, b.Proto); c != 0 {
			return c
		}
		return cmp.Compare(a.Port, b.Port)
	})
	services = slices.CompactFunc(services, func(a, b Service) bool {
		return a.Proto == b.Proto && a.Port == b.Port && strings.EqualFold(a.Name, b.Name)
	})
	r := &Registry{services: slices.Clip(services), byName: make(map[string][]uint32)}
	// Count the services of every (protocol, port), then turn counts into offsets.
	for _, s := range services {
		r.start[s.Proto-1][int(s.Port)+1]++
	}
	var total uint32
	for p := range r.start {
		r.start[p][0] = total
		for port := 1; port <= 1<<16; port++ {
			total += r.start[p][port]
			r.start[p][port] = total
		}
	}
	for i, s := range services {
		key := strings.ToLower(s.Name)
		r.byName[key] = append(r.byName[key], uint32(i))
	}
	for _, idx := range r.byName {
		slices.SortFunc(idx, func(a, b uint32) int {
			sa, sb := &r.services[a], &r.services[b]
			if c := cmp.Compare(sa.Port, sb.Port); c != 0 {
				return c
			}
			return cmp.Compare(sa.Proto, sb.Proto)
		})
	}
	return r
}

// span returns the index range in r.services of port's services over p.
func (r *Registry) span(port uint16, p Proto) (lo, hi uint32) {
	if !p.Valid() {
		return 0, 0
	}
	return r.start[p-1][port], r.start[p-1][int(port)+1]
}

// Name returns the first assigned service name of port over p, or "" when the
// port has none. It does not allocate.
func (r *Registry) Name(port uint16, p Proto) string {
	lo, hi := r.span(port, p)
	if lo == hi {
		return ""
	}
	return r.services[lo].Name
}

// First returns the first assigned service of port over p, and whether there
// is one. It does not allocate.
func (r *Registry) First(port uint16, p Proto) (Service, bool) {
	lo, hi := r.span(port, p)
	if lo == hi {
		return Service{}, false
	}
	return r.services[lo], true
}

// Lookup returns every service assigned to port over p, first assigned first,
// or nil when there is none.
func (r *Registry) Lookup(port uint16, p Proto) []Service {
	lo, hi := r.span(port, p)
	return r.copyOut(lo, hi)
}

// Range returns the services assigned to the ports lo through hi over p, in
// port order, or nil when there is none or lo > hi.
func (r *Registry) Range(lo, hi uint16, p Proto) []Service {
	if lo > hi || !p.Valid() {
		return nil
	}
	return r.copyOut(r.start[p-1][lo], r.start[p-1][int(hi)+1])
}

// ByName returns every service with the given name, ignoring letter case,
// sorted by port, then protocol; nil when the name is unknown.
func (r *Registry) ByName(name string) []Service {
	idx := r.byName[strings.ToLower(name)]
	if len(idx) == 0 {
		return nil
	}
	out := make([]Service, len(idx))
	for i, j := range idx {
		out[i] = r.services[j]
	}
	return out
}

// Len returns the number of (name, port, protocol) assignments in r.
func (r *Registry) Len() int { return len(r.services) }

// copyOut returns a copy of r.services[lo:hi], or nil when it is empty.
func (r *Registry) copyOut(lo, hi uint32) []Service {
	if lo == hi {
		return nil
	}
	return slices.Clone(r.services[lo:hi])
}

package registry

import (
	_ "embed"
	"fmt"
	"strings"
	"sync"
)

//go:generate go run ./internal/gen -o services.tsv ../../shared/iana/service-names-port-numbers.csv

// servicesTable is the built-in table: every service name IANA assigns to a
// TCP, UDP or SCTP port or port range, generated from IANA's CSV by
// registry/internal/gen. Facts only: name, ports, protocols.
//
//go:embed services.tsv
var servicesTable string

// defaultRegistry builds the embedded table on first use.
var defaultRegistry = sync.OnceValue(func() *Registry {
	r, err := parseTable(servicesTable, descriptions())
	if err != nil {
		panic(fmt.Sprintf("registry: the built-in table services.tsv: %v", err)) // tested: cannot happen
	}
	return r
})

// Default returns the table fastscan ships, built on first use and shared:
// every assignment of IANA's Service Name and Transport Protocol Port Number
// Registry to a TCP, UDP or SCTP port, port ranges included (x11 on
// 6000-6063, ircu on 6665-6669), generated from IANA's CSV with go generate
// (services.tsv says from which registrations), and short descriptions of
// common services written by the fastscan authors. Where IANA gives a port
// several names, the first one IANA lists is the port's name (see Name);
// Lookup returns them all in IANA's order. Load a fresh copy of IANA's file
// with LoadFile for assignments newer than the table.
func Default() *Registry { return defaultRegistry() }

// parseTable reads the generated table: '#' comment lines, then lines of
// "NAME<TAB>PORT or FIRST-LAST<TAB>PROTO,PROTO...", in the registry's order.
// desc gives descriptions by lower-case service name.
func parseTable(table string, desc map[string]string) (*Registry, error) {
	var services []Service
	for i, line := range strings.Split(strings.TrimSuffix(table, "\n"), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		fields := strings.Split(line, "\t")
		if len(fields) != 3 || fields[0] == "" {
			return nil, fmt.Errorf("line %d: %q: want NAME, PORTS and PROTOCOLS separated by tabs", i+1, line)
		}
		lo, hi, err := parsePortRange(fields[1])
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		var protos []Proto
		for s := range strings.SplitSeq(fields[2], ",") {
			p, err := ParseProto(s)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", i+1, err)
			}
			protos = append(protos, p)
		}
		d := desc[strings.ToLower(fields[0])]
		for port := int(lo); port <= int(hi); port++ {
			for _, p := range protos {
				services = append(services, Service{Name: fields[0], Port: uint16(port), Proto: p, Description: d})
			}
		}
	}
	return newRegistry(services), nil
}

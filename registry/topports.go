package registry

import (
	_ "embed"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// The ranked lists fastscan ships; topports/README.md says how they were made.
var (
	//go:embed topports/tcp.txt
	topTCPText string
	//go:embed topports/udp.txt
	topUDPText string
)

// topPortLists parses the shipped lists on first use.
var topPortLists = sync.OnceValues(func() ([numProtos][]uint16, error) {
	var lists [numProtos][]uint16
	var err error
	if lists[TCP-1], err = parseTopPorts(topTCPText); err != nil {
		return lists, fmt.Errorf("top tcp ports: %w", err)
	}
	if lists[UDP-1], err = parseTopPorts(topUDPText); err != nil {
		return lists, fmt.Errorf("top udp ports: %w", err)
	}
	return lists, nil
})

// TopPorts returns the n ports most often found open over p, most common
// first, from the ranked lists fastscan ships (see TopPortsLen for their
// lengths). It fails when n is below 1 or above the list's length, and for a
// protocol without a list (SCTP). The caller owns the returned slice.
func TopPorts(p Proto, n int) ([]uint16, error) {
	list, err := topPortList(p)
	if err != nil {
		return nil, err
	}
	if n < 1 || n > len(list) {
		return nil, fmt.Errorf("top ports: %d out of range: the %s list has 1 to %d ports", n, p, len(list))
	}
	return slices.Clone(list[:n]), nil
}

// TopPortsLen returns the length of the ranked list for p, or 0 when p has none.
func TopPortsLen(p Proto) int {
	list, _ := topPortList(p)
	return len(list)
}

// topPortList returns the shared ranked list for p; callers must not modify it.
func topPortList(p Proto) ([]uint16, error) {
	lists, err := topPortLists()
	if err != nil {
		return nil, err
	}
	if !p.Valid() || len(lists[p-1]) == 0 {
		return nil, fmt.Errorf("top ports: no ranked list for %s", p)
	}
	return lists[p-1], nil
}

// parseTopPorts parses a ranked list: one port a line, '#' starts a comment,
// blank lines are ignored. Port 0 and repeated ports are errors.
func parseTopPorts(text string) ([]uint16, error) {
	var ports []uint16
	seen := make(map[uint16]int)
	for i, line := range strings.Split(text, "\n") {
		if j := strings.IndexByte(line, '#'); j >= 0 {
			line = line[:j]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		port, err := parsePort(line)
		if err == nil && port == 0 {
			err = errors.New("port 0 is reserved")
		}
		if err != nil {
			return nil, fmt.Errorf("line %d: invalid port %q: %w", i+1, line, err)
		}
		if first, dup := seen[port]; dup {
			return nil, fmt.Errorf("line %d: port %d already ranked on line %d", i+1, port, first)
		}
		seen[port] = i + 1
		ports = append(ports, port)
	}
	if len(ports) == 0 {
		return nil, errors.New("no ports")
	}
	return ports, nil
}

package target

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// MaxPort is the largest TCP port number.
const MaxPort = 65535

// Ports is a set of TCP port numbers (1 to 65535) in ascending order, with a
// dense reverse index so that Index is O(1). The zero value is an empty set.
// A Ports is immutable once built and safe for concurrent readers.
type Ports struct {
	list  []uint16
	index *[MaxPort + 1]uint16 // index[port] is the position of port in list plus one; 0 means absent
}

// NewPorts returns the set of the given ports; duplicates are merged. It
// returns a *[ParseError] if a port is 0.
func NewPorts(ports []uint16) (Ports, error) {
	var seen [MaxPort + 1]bool
	for _, p := range ports {
		if p == 0 {
			return Ports{}, portError("0", "port 0 is not allowed")
		}
		seen[p] = true
	}
	return portsFromMask(&seen), nil
}

func portsFromMask(seen *[MaxPort + 1]bool) Ports {
	p := Ports{index: new([MaxPort + 1]uint16)}
	for port := 1; port <= MaxPort; port++ {
		if seen[port] {
			p.list = append(p.list, uint16(port))
			p.index[port] = uint16(len(p.list))
		}
	}
	return p
}

// ParsePorts parses a port specification: a comma separated list of ports
// and inclusive ranges, in nmap's syntax:
//
//	22          one port
//	1000-2000   a range
//	-100        1-100
//	60000-      60000-65535
//	-           1-65535 (all ports)
//
// for example "22,80,1000-2000". Duplicates and overlaps are merged. Port 0,
// ports above 65535, reversed ranges, empty entries and anything that is not
// a decimal number are errors; every error is a *[ParseError] naming the bad
// token.
func ParsePorts(spec string) (Ports, error) {
	if strings.TrimSpace(spec) == "" {
		return Ports{}, portError(spec, "no ports given")
	}
	var seen [MaxPort + 1]bool
	toks := strings.Split(spec, ",")
	for i, tok := range toks {
		tok = strings.TrimSpace(tok)
		if tok == "" {
			return Ports{}, emptyEntry(spec, toks, i)
		}
		lo, hi, err := parsePortRange(tok)
		if err != nil {
			return Ports{}, err
		}
		for port := lo; port <= hi; port++ {
			seen[port] = true
		}
	}
	return portsFromMask(&seen), nil
}

// emptyEntry is the error of the empty entry toks[i] of spec: the token is the
// whole list, as typed, and the reason says where the empty entry is.
func emptyEntry(spec string, toks []string, i int) *ParseError {
	switch {
	case i == 0:
		return portError(spec, "empty entry at the start of the list (a comma too many)")
	case i == len(toks)-1:
		return portError(spec, fmt.Sprintf("empty entry at the end of the list, after %q (a comma too many)", strings.TrimSpace(toks[i-1])))
	default:
		return portError(spec, fmt.Sprintf("empty entry after %q (two commas in a row)", strings.TrimSpace(toks[i-1])))
	}
}

// parsePortRange parses one token of a port specification into an inclusive
// range.
func parsePortRange(tok string) (lo, hi int, err error) {
	if tok == "" {
		return 0, 0, portError(tok, "empty entry in port list")
	}
	loText, hiText, isRange := strings.Cut(tok, "-")
	if !isRange {
		p, err := parsePort(tok, loText)
		return p, p, err
	}
	lo, hi = 1, MaxPort
	if loText != "" {
		if lo, err = parsePort(tok, loText); err != nil {
			return 0, 0, err
		}
	}
	if hiText != "" {
		if hi, err = parsePort(tok, hiText); err != nil {
			return 0, 0, err
		}
	}
	if hi < lo {
		return 0, 0, portError(tok, "range end is below its start")
	}
	return lo, hi, nil
}

// parsePort parses one port number s, part of token tok.
func parsePort(tok, s string) (int, error) {
	if !isDecimal(s) {
		return 0, portError(tok, "not a port number")
	}
	p, err := strconv.Atoi(s)
	if err != nil || p > MaxPort {
		return 0, portError(tok, "port number above 65535")
	}
	if p == 0 {
		return 0, portError(tok, "port 0 is not allowed")
	}
	return p, nil
}

// Len returns the number of ports in p.
func (p *Ports) Len() int { return len(p.list) }

// At returns the i-th port of p in ascending order. It panics if i is out of
// range. It does not allocate.
func (p *Ports) At(i int) uint16 { return p.list[i] }

// Index returns the position of port in p, the inverse of At, and whether
// port is in p at all. It runs in O(1) time and does not allocate.
func (p *Ports) Index(port uint16) (int, bool) {
	if p.index == nil {
		return 0, false
	}
	i := int(p.index[port])
	return i - 1, i != 0
}

// Contains reports whether port is in p.
func (p *Ports) Contains(port uint16) bool {
	_, ok := p.Index(port)
	return ok
}

// List returns a copy of the ports of p in ascending order.
func (p *Ports) List() []uint16 { return slices.Clone(p.list) }

// Range returns the smallest and largest port in p, or 0, 0 if p is empty.
func (p *Ports) Range() (lo, hi uint16) {
	if len(p.list) == 0 {
		return 0, 0
	}
	return p.list[0], p.list[len(p.list)-1]
}

// ParseProtoPorts parses a port specification that may name protocols, as nmap and
// masscan write it: "U:53,161,T:22,80" scans UDP 53 and 161 and TCP 22 and 80. A
// "T:" or "U:" prefix applies to its entry and every entry after it up to the next
// prefix; entries before any prefix are UDP when defaultUDP is set, TCP otherwise.
// Either result may be empty, not both. Errors are *[ParseError]s naming the token.
func ParseProtoPorts(spec string, defaultUDP bool) (tcp, udp Ports, err error) {
	if strings.TrimSpace(spec) == "" {
		return Ports{}, Ports{}, portError(spec, "no ports given")
	}
	var seenTCP, seenUDP [MaxPort + 1]bool
	current := &seenTCP
	if defaultUDP {
		current = &seenUDP
	}
	toks := strings.Split(spec, ",")
	for i, tok := range toks {
		tok = strings.TrimSpace(tok)
		if tok == "" {
			return Ports{}, Ports{}, emptyEntry(spec, toks, i)
		}
		switch {
		case strings.HasPrefix(tok, "T:") || strings.HasPrefix(tok, "t:"):
			current, tok = &seenTCP, tok[2:]
		case strings.HasPrefix(tok, "U:") || strings.HasPrefix(tok, "u:"):
			current, tok = &seenUDP, tok[2:]
		}
		lo, hi, err := parsePortRange(tok)
		if err != nil {
			return Ports{}, Ports{}, err
		}
		for port := lo; port <= hi; port++ {
			current[port] = true
		}
	}
	return portsFromMask(&seenTCP), portsFromMask(&seenUDP), nil
}

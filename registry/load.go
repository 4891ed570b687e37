package registry

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// ParseError is a malformed registry file: what is wrong, and where.
type ParseError struct {
	Line int   // 1-based line of the file where the bad record or field starts
	Err  error // what is wrong
}

// Error returns "line N: " followed by what is wrong.
func (e *ParseError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

// Unwrap returns what is wrong.
func (e *ParseError) Unwrap() error { return e.Err }

// The columns of IANA's service-names-port-numbers.csv that Load reads,
// found by their names in the header line.
const (
	columnName        = "Service Name"
	columnPort        = "Port Number"
	columnProto       = "Transport Protocol"
	columnDescription = "Description"
)

// LoadFile reads the IANA registry in CSV form from the named file; see Load.
func LoadFile(name string) (*Registry, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("opening registry: %w", err)
	}
	defer f.Close()
	r, err := Load(f)
	if err != nil {
		return nil, fmt.Errorf("registry %s: %w", name, err)
	}
	return r, nil
}

// Load reads the IANA Service Name and Transport Protocol Port Number
// Registry in the CSV form IANA publishes (service-names-port-numbers.csv).
//
// The first line names the columns; "Service Name", "Port Number" and
// "Transport Protocol" are required, "Description" is used when present, and
// the rest are ignored. Fields may be quoted and hold commas and line breaks.
// A port may be a range such as "6000-6063", which assigns the name to every
// port in it. Rows without a name (Reserved and Unassigned), without a port,
// or without a protocol, and rows for protocols other than TCP, UDP and SCTP,
// are skipped. When a port has several names, the first row is its first
// assigned name. Line breaks and runs of spaces in descriptions become one space.
//
// A malformed file gives a *ParseError naming the line.
func Load(r io.Reader) (*Registry, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true

	header, err := cr.Read()
	if err == io.EOF {
		return nil, &ParseError{Line: 1, Err: errors.New("empty file: want the IANA header line")}
	}
	if err != nil {
		return nil, readError(err)
	}
	cols, err := findColumns(header)
	if err != nil {
		return nil, &ParseError{Line: 1, Err: err}
	}

	var services []Service
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, readError(err)
		}
		line, _ := cr.FieldPos(0)
		if len(rec) <= cols.max {
			return nil, &ParseError{Line: line, Err: fmt.Errorf("%d fields, want at least %d", len(rec), cols.max+1)}
		}
		name := strings.TrimSpace(rec[cols.name])
		ports := strings.TrimSpace(rec[cols.port])
		proto := strings.TrimSpace(rec[cols.proto])
		if name == "" || ports == "" || proto == "" {
			continue
		}
		if i := strings.IndexFunc(name, isControl); i >= 0 {
			line, _ := cr.FieldPos(cols.name)
			return nil, &ParseError{Line: line, Err: fmt.Errorf("invalid service name %q: control character", name)}
		}
		lo, hi, err := parsePortRange(ports)
		if err != nil {
			line, _ := cr.FieldPos(cols.port)
			return nil, &ParseError{Line: line, Err: err}
		}
		p, err := ParseProto(proto)
		if err != nil {
			continue // a protocol with its own port space that fastscan does not use, such as dccp
		}
		if len(services)+int(hi-lo)+1 > maxServices {
			return nil, &ParseError{Line: line, Err: fmt.Errorf("more than %d port assignments", maxServices)}
		}
		var desc string
		if cols.description >= 0 && cols.description < len(rec) {
			desc = strings.Clone(strings.Join(strings.Fields(rec[cols.description]), " "))
		}
		name = strings.Clone(name) // do not keep the whole record's text alive
		for port := int(lo); port <= int(hi); port++ {
			services = append(services, Service{Name: name, Port: uint16(port), Proto: p, Description: desc})
		}
	}
	return newRegistry(services), nil
}

// columns holds the indexes of the columns Load reads; description is -1
// when the file has none.
type columns struct {
	name, port, proto, description int
	max                            int // the largest required index
}

// findColumns locates the columns Load needs in the header record.
func findColumns(header []string) (columns, error) {
	c := columns{name: -1, port: -1, proto: -1, description: -1}
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		switch {
		case strings.EqualFold(h, columnName):
			c.name = i
		case strings.EqualFold(h, columnPort):
			c.port = i
		case strings.EqualFold(h, columnProto):
			c.proto = i
		case strings.EqualFold(h, columnDescription):
			c.description = i
		}
	}
	for _, col := range []struct {
		index int
		name  string
	}{{c.name, columnName}, {c.port, columnPort}, {c.proto, columnProto}} {
		if col.index < 0 {
			return c, fmt.Errorf("no %q column in the header: not the IANA service names CSV", col.name)
		}
		c.max = max(c.max, col.index)
	}
	return c, nil
}

// parsePortRange parses a port ("22") or an inclusive range of ports ("6000-6063").
func parsePortRange(s string) (lo, hi uint16, err error) {
	a, b, isRange := strings.Cut(s, "-")
	lo, err = parsePort(a)
	if err != nil {
		return 0, 0, fmt.Errorf("invalid port %q: %w", s, err)
	}
	if !isRange {
		return lo, lo, nil
	}
	hi, err = parsePort(b)
	if err != nil {
		return 0, 0, fmt.Errorf("invalid port range %q: %w", s, err)
	}
	if lo > hi {
		return 0, 0, fmt.Errorf("invalid port range %q: first port above last", s)
	}
	return lo, hi, nil
}

// parsePort parses a decimal port number, 0 to 65535.
func parsePort(s string) (uint16, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("empty port number")
	}
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
			return 0, errors.New("above 65535")
		}
		return 0, errors.New("not a number")
	}
	return uint16(n), nil
}

// readError turns an error from the CSV reader into a *ParseError when it
// names a line.
func readError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &ParseError{Line: pe.Line, Err: pe.Err}
	}
	return fmt.Errorf("reading registry: %w", err)
}

// isControl reports whether r is an ASCII or Unicode C0/C1 control character.
func isControl(r rune) bool { return r < 0x20 || (r >= 0x7f && r < 0xa0) }

// Package merge combines the JSON-lines outputs of the shards of one scan (fastscan
// --shard I/N, one process per shard, on one machine or many) into the results of
// the whole scan: it checks that every file comes from the same scan, finds the
// shards that are missing or given twice, and keeps one result per address, port
// and protocol.
package merge

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/fastscan/fastscan/output"
	"github.com/fastscan/fastscan/result"
)

// Input is one file to merge: its name, for messages, and its content.
type Input struct {
	Name string
	R    io.Reader
}

// InputError is bad input: a file that cannot be read, a line that is not a
// result of fastscan's JSON lines, or files that are not shards of one scan.
type InputError struct {
	File string
	Line int // 1-based; 0 when the error is about the file as a whole
	Err  error
}

func (e *InputError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s line %d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.File, e.Err)
}

func (e *InputError) Unwrap() error { return e.Err }

// Duplicate is a shard whose results more than one file holds.
type Duplicate struct {
	Shard Shard
	Files []string // in the order given
}

// Merged is the whole scan put together from its shards.
type Merged struct {
	// ScanID is the scan records' id ("" for output without a scan record).
	ScanID string
	// Count is N, the number of shards the scan was split into; 0 when no file
	// holds a line.
	Count int
	// Results holds one result per address, port and protocol, ascending by
	// address, then port, then protocol (TCP first).
	Results []result.Result
	// Start is when the earliest shard started (its scan record), else the
	// earliest result's time; End is the latest result's time (else Start).
	Start, End time.Time
	// Missing are the shards of Count that no file holds.
	Missing []Shard
	// Empty are the files that hold nothing at all, not even a scan record.
	Empty []string
	// Duplicated are the shards found in more than one file.
	Duplicated []Duplicate
	// Removed counts the lines dropped because another line had the same
	// address, port and protocol; Conflicts counts those among them whose
	// verdict (state or reason) differed from the one kept.
	Removed, Conflicts int
}

// key is what makes a result unique in a scan.
type key struct {
	ip    netip.Addr
	port  uint16
	proto result.Proto
}

// Merger puts the shards of one scan together, one file at a time (Read), so that
// only one file needs to be open at once.
type Merger struct {
	m       Merged
	first   *origin // the first origin read, and where
	firstAt string
	index   map[key]int        // result -> its position in m.Results
	files   map[Shard][]string // shard -> the files holding it
	order   []Shard            // shards in the order first seen
	start   time.Time          // the earliest scan record's start
}

// New returns a Merger with nothing read yet.
func New() *Merger {
	return &Merger{index: map[key]int{}, files: map[Shard][]string{}}
}

// Merge reads every input with one Merger and returns its Result.
func Merge(inputs []Input) (*Merged, error) {
	g := New()
	for _, in := range inputs {
		if err := g.Read(in.Name, in.R); err != nil {
			return nil, err
		}
	}
	return g.Result(), nil
}

// maxLine bounds one JSON line (a result's line is about 200 bytes).
const maxLine = 64 << 10

// Read merges the file name, whose content r is: fastscan's JSON lines, a shard's
// output or any concatenation of shards' outputs. An *InputError says which line
// is bad input: a line that is neither a result nor a scan record, a line cut
// short (no line break at its end), a scan record of another scan than those read
// before, or of the same scan split a different way. After an error the Merger
// must not be used.
func (g *Merger) Read(name string, r io.Reader) error {
	br := bufio.NewReaderSize(r, maxLine)
	f := fileState{name: name, cur: unrecorded, seen: map[Shard]bool{}}
	for n := 1; ; n++ {
		line, err := br.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			return &InputError{name, n, fmt.Errorf("line longer than %d bytes: not fastscan's JSON lines", maxLine)}
		case err == io.EOF && len(line) > 0:
			return &InputError{name, n, errors.New("cut short: no line break at its end (was the scan writing it killed?)")}
		case err == io.EOF:
			if f.lines == 0 {
				g.m.Empty = append(g.m.Empty, name)
			}
			return nil
		case err != nil:
			return &InputError{name, 0, err}
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		f.lines++
		if err := g.add(&f, n, line); err != nil {
			return &InputError{name, n, err}
		}
	}
}

// fileState is what Read knows of the file it reads.
type fileState struct {
	name       string
	lines      int
	cur        origin // the origin of the results that follow
	registered bool   // cur is counted for this file
	seen       map[Shard]bool
}

// add merges one line of file f.
func (g *Merger) add(f *fileState, n int, line []byte) error {
	var l jsonLine
	r, fast := parseFast(line) // fastscan's own layout, most lines
	isRecord := false
	if !fast {
		var err error
		if r, isRecord, err = l.parse(line); err != nil {
			return err
		}
	}
	if isRecord {
		o, err := l.origin()
		if err != nil {
			return err
		}
		f.cur, f.registered = o, false
	}
	if !f.registered {
		if err := g.register(f, n); err != nil {
			return err
		}
	}
	if isRecord {
		return nil
	}
	k := key{r.IP, r.Port, r.Proto}
	i, dup := g.index[k]
	if !dup {
		g.index[k] = len(g.m.Results)
		g.m.Results = append(g.m.Results, r)
		return nil
	}
	g.m.Removed++
	kept := &g.m.Results[i]
	if kept.State != r.State || kept.Reason != r.Reason {
		g.m.Conflicts++
	}
	if better(&r, kept) {
		*kept = r
	}
	return nil
}

// register counts f.cur, read at line n of f: one scan only, split one way.
func (g *Merger) register(f *fileState, n int) error {
	o := f.cur
	if g.first == nil {
		g.first, g.firstAt = &o, fmt.Sprintf("%s line %d", f.name, n)
		g.m.ScanID, g.m.Count = o.scanID, o.shard.Count
	} else {
		if o.scanID != g.first.scanID {
			return fmt.Errorf("scan id %s, but %s has %s: not shards of one scan", idName(o.scanID), g.firstAt, idName(g.first.scanID))
		}
		if o.shard.Count != g.first.shard.Count {
			return fmt.Errorf("shard %s, but %s is shard %s: one scan split two ways", o.shard, g.firstAt, g.first.shard)
		}
	}
	f.registered = true
	if !o.start.IsZero() && (g.start.IsZero() || o.start.Before(g.start)) {
		g.start = o.start
	}
	if !f.seen[o.shard] {
		f.seen[o.shard] = true
		if len(g.files[o.shard]) == 0 {
			g.order = append(g.order, o.shard)
		}
		g.files[o.shard] = append(g.files[o.shard], f.name)
	}
	return nil
}

// better reports whether r should replace kept, a result for the same port from
// another line: a verdict a reply decided beats silence; otherwise the newer wins.
func better(r, kept *result.Result) bool {
	rSilent, keptSilent := r.Reason == result.ReasonNoResponse, kept.Reason == result.ReasonNoResponse
	if rSilent != keptSilent {
		return keptSilent
	}
	return r.TimeNanos > kept.TimeNanos
}

// idName is a scan id for messages.
func idName(id string) string {
	if id == "" {
		return "none"
	}
	return id
}

// Result sorts the results, works out the missing and duplicated shards and
// returns the merged scan. Call it once, after the last Read.
func (g *Merger) Result() *Merged {
	m := &g.m
	slices.SortFunc(m.Results, func(a, b result.Result) int {
		return cmp.Or(a.IP.Compare(b.IP), cmp.Compare(a.Port, b.Port), cmp.Compare(a.Proto, b.Proto))
	})
	m.Start = g.start
	for _, r := range m.Results {
		t := time.Unix(0, r.TimeNanos)
		if g.start.IsZero() && (m.Start.IsZero() || t.Before(m.Start)) {
			m.Start = t
		}
		if t.After(m.End) {
			m.End = t
		}
	}
	if m.End.IsZero() {
		m.End = m.Start
	}
	for _, s := range g.order {
		if f := g.files[s]; len(f) > 1 {
			m.Duplicated = append(m.Duplicated, Duplicate{Shard: s, Files: f})
		}
	}
	slices.SortFunc(m.Duplicated, func(a, b Duplicate) int { return cmp.Compare(a.Shard.Index, b.Shard.Index) })
	for i := range m.Count {
		if s := (Shard{Index: i, Count: m.Count}); len(g.files[s]) == 0 {
			m.Missing = append(m.Missing, s)
		}
	}
	g.index = nil
	return m
}

// jsonLine is one line of fastscan's JSON lines output, a result or a record, as
// far as merging reads it (output.JSONL writes it; a result's port_class, and its
// service unless service identification named it, follow from its port).
type jsonLine struct {
	SchemaVersion *int    `json:"schema_version"`
	IP            *string `json:"ip"`
	Port          *int    `json:"port"`
	Proto         *string `json:"proto"`
	State         *string `json:"state"`
	Reason        *string `json:"reason"`
	TTL           *int    `json:"ttl"`
	Timestamp     *string `json:"timestamp"`
	serviceFields
	recordFields
}

// minSchemaVersion is the oldest JSON lines layout merge reads: version 1 had
// no service_method and no service identification keys; the rest is the same.
const minSchemaVersion = 1

// serviceFields are the JSON members of service identification (schema version
// 2, -sV): output.JSONL writes them from result.Service.
type serviceFields struct {
	Service      string   `json:"service"`
	Method       string   `json:"service_method"`
	Product      string   `json:"product"`
	Version      string   `json:"version"`
	Info         string   `json:"info"`
	Banner       string   `json:"banner"`
	StartTLS     bool     `json:"starttls"`
	TLS          *jsonTLS `json:"tls"`
	ServiceError string   `json:"service_error"`
}

// jsonTLS is the JSON lines tls object.
type jsonTLS struct {
	Version     string    `json:"version"`
	CipherSuite string    `json:"cipher_suite"`
	ALPN        string    `json:"alpn"`
	SubjectCN   string    `json:"subject_cn"`
	SANs        []string  `json:"sans"`
	Issuer      string    `json:"issuer"`
	NotBefore   time.Time `json:"not_before"`
	NotAfter    time.Time `json:"not_after"`
	SHA256      string    `json:"sha256"`
}

// service returns the result.Service the members describe, or nil when they
// say no more than a line without service identification does (service_method
// "table" and nothing else: the registry's name, which every writer derives
// from the port again). Spoke, which JSON lines do not carry, is taken as true
// unless the verdict's reason is no-service.
func (f *serviceFields) service(reason result.Reason) *result.Service {
	if f.Method != "probed" && f.Product == "" && f.Version == "" && f.Info == "" && f.Banner == "" &&
		!f.StartTLS && f.TLS == nil && f.ServiceError == "" {
		return nil
	}
	s := &result.Service{
		Name: f.Service, Method: f.Method, Product: f.Product, Version: f.Version, Info: f.Info,
		Banner: f.Banner, StartTLS: f.StartTLS, Error: f.ServiceError, Spoke: reason != result.ReasonNoService,
	}
	if t := f.TLS; t != nil {
		s.TLS = &result.TLS{
			Version: t.Version, CipherSuite: t.CipherSuite, ALPN: t.ALPN, SubjectCN: t.SubjectCN, SANs: t.SANs,
			Issuer: t.Issuer, NotBefore: t.NotBefore, NotAfter: t.NotAfter, SHA256: t.SHA256,
		}
	}
	return s
}

// parse decodes line: a record (isRecord; recordFields says which), or a result.
func (l *jsonLine) parse(line []byte) (r result.Result, isRecord bool, err error) {
	if err := json.Unmarshal(line, l); err != nil {
		return r, false, fmt.Errorf("not a JSON object: %v", err)
	}
	if l.SchemaVersion == nil {
		return r, false, fmt.Errorf("no \"schema_version\": not fastscan's JSON lines")
	}
	if v := *l.SchemaVersion; v < minSchemaVersion || v > output.SchemaVersion {
		return r, false, fmt.Errorf("schema_version %d: this fastscan reads versions %d to %d", v, minSchemaVersion, output.SchemaVersion)
	}
	if l.isRecord() {
		return r, true, nil
	}
	for _, f := range []struct {
		name    string
		missing bool
	}{
		{"ip", l.IP == nil}, {"port", l.Port == nil}, {"proto", l.Proto == nil}, {"state", l.State == nil},
		{"reason", l.Reason == nil}, {"ttl", l.TTL == nil}, {"timestamp", l.Timestamp == nil},
	} {
		if f.missing {
			return r, false, fmt.Errorf("no %q: not a result of fastscan's JSON lines", f.name)
		}
	}
	ip, err := netip.ParseAddr(*l.IP)
	if err != nil || !ip.Is4() {
		return r, false, fmt.Errorf("invalid ip %q: not an IPv4 address", *l.IP)
	}
	if *l.Port < 1 || *l.Port > 65535 {
		return r, false, fmt.Errorf("invalid port %d", *l.Port)
	}
	if *l.TTL < 0 || *l.TTL > 255 {
		return r, false, fmt.Errorf("invalid ttl %d", *l.TTL)
	}
	t, err := time.Parse(time.RFC3339Nano, *l.Timestamp)
	if err != nil {
		return r, false, fmt.Errorf("invalid timestamp %q", *l.Timestamp)
	}
	r = result.Result{IP: ip, Port: uint16(*l.Port), TTL: uint8(*l.TTL), TimeNanos: t.UnixNano()}
	var ok bool
	if r.Proto, ok = lookup(*l.Proto, func(p result.Proto) string { return p.String() }); !ok {
		return r, false, fmt.Errorf("invalid proto %q", *l.Proto)
	}
	if r.State, ok = lookup(*l.State, func(s result.State) string { return s.String() }); !ok {
		return r, false, fmt.Errorf("invalid state %q", *l.State)
	}
	if r.Reason, ok = lookup(*l.Reason, func(x result.Reason) string { return x.String() }); !ok {
		return r, false, fmt.Errorf("invalid reason %q", *l.Reason)
	}
	if *l.SchemaVersion >= 2 {
		if l.Method != "" && l.Method != "probed" && l.Method != "table" {
			return r, false, fmt.Errorf("invalid service_method %q", l.Method)
		}
		r.Service = l.service(r.Reason)
	}
	return r, false, nil
}

// lookup finds the value of a result enumeration (1, 2, ... up to the first whose
// name is "unknown") named name.
func lookup[T ~uint8](name string, str func(T) string) (T, bool) {
	for v := T(1); v != 0; v++ {
		s := str(v)
		if s == "unknown" {
			break
		}
		if s == name {
			return v, true
		}
	}
	return 0, false
}

// Describe lists shards as "0/4, 2/4".
func Describe(shards []Shard) string {
	names := make([]string, len(shards))
	for i, s := range shards {
		names[i] = s.String()
	}
	return strings.Join(names, ", ")
}

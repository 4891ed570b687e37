package merge

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/fastscan/fastscan/output"
	"github.com/fastscan/fastscan/result"
)

// This file is the one place that knows how fastscan's JSON lines say which scan
// and which shard their results come from. A file fastscan writes starts with one
// scan record, the only kind of line with a "record" member:
//
//	{"schema_version":1,"record":"scan","scan_id":"3f6c…","shard":2,"shards":4,"fastscan_version":"0.1.0","start":"2026-12-01T10:00:00Z"}
//
// Every result line after it, up to the next scan record (files joined with cat),
// belongs to that scan and shard. Result lines before any scan record (output
// written without one) belong to a scan without an id that was not split: 0/1.

// Shard is one part of a scan split N ways: Index of Count, 0-based.
type Shard struct {
	Index, Count int
}

// Whole is the shard of a scan that was not split.
var Whole = Shard{Index: 0, Count: 1}

// String writes the shard as I/N, the way --shard takes it.
func (s Shard) String() string { return strconv.Itoa(s.Index) + "/" + strconv.Itoa(s.Count) }

// maxShards bounds N: no scheduler runs more tasks of one array than this.
const maxShards = 1 << 20

// ParseShard reads "I/N" (0 <= I < N).
func ParseShard(v string) (Shard, error) {
	a, b, ok := strings.Cut(v, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || !(Shard{i, n}).valid() {
		return Shard{}, fmt.Errorf("invalid shard %q: want I/N with 0 <= I < N", v)
	}
	return Shard{Index: i, Count: n}, nil
}

// valid reports whether 0 <= Index < Count <= maxShards.
func (s Shard) valid() bool {
	return s.Count >= 1 && s.Count <= maxShards && s.Index >= 0 && s.Index < s.Count
}

// origin is the scan and shard the results of a file come from.
type origin struct {
	scanID string
	shard  Shard
	start  time.Time // when the shard's run started; zero if unknown
}

// unrecorded is the origin of results before any scan record.
var unrecorded = origin{shard: Whole}

// scanRecord is the value of "record" in a scan record.
const scanRecord = "scan"

// hostNoteRecord is the value of "record" in a host note: written after the
// results of a scan (or shard), about one host (output.HostNoteRecord). The only
// note is open-everywhere: the host answered SYN-ACK on (nearly) every TCP port
// the shard probed.
const hostNoteRecord = "host-note"

// recordFields are the JSON members of a scan record and of a host note besides
// schema_version and ip; jsonLine embeds them, so that one decoding reads any line.
type recordFields struct {
	Record  *string `json:"record"`
	ScanID  *string `json:"scan_id"`
	Shard   *int    `json:"shard"`
	Shards  *int    `json:"shards"`
	Start   *string `json:"start"`
	Note    *string `json:"note"`
	SYNACKs *int    `json:"syn_acks"`
	Probed  *int    `json:"probed"`
}

// isRecord reports whether the line is a record (has "record"), not a result.
func (f *recordFields) isRecord() bool { return f.Record != nil }

// origin reads a scan record.
func (f *recordFields) origin() (origin, error) {
	var o origin
	if *f.Record != scanRecord {
		return o, fmt.Errorf("unknown record %q: this fastscan reads scan records, host notes and results", *f.Record)
	}
	switch {
	case f.ScanID == nil || *f.ScanID == "":
		return o, fmt.Errorf("scan record without a scan_id")
	case f.Shard == nil || f.Shards == nil:
		return o, fmt.Errorf("scan record without shard and shards")
	}
	o.scanID, o.shard = *f.ScanID, Shard{Index: *f.Shard, Count: *f.Shards}
	if !o.shard.valid() {
		return o, fmt.Errorf("scan record of shard %d of %d: want 0 <= shard < shards", *f.Shard, *f.Shards)
	}
	if f.Start != nil {
		t, err := time.Parse(time.RFC3339Nano, *f.Start)
		if err != nil {
			return o, fmt.Errorf("scan record: invalid start %q", *f.Start)
		}
		o.start = t
	}
	return o, nil
}

// isHostNote reports whether the record is a host note.
func (f *recordFields) isHostNote() bool { return *f.Record == hostNoteRecord }

// hostNote reads a host note: the address and counts of an open-everywhere note.
func (l *jsonLine) hostNote() (result.OpenEverywhere, error) {
	var h result.OpenEverywhere
	switch {
	case l.Note == nil || *l.Note != output.OpenEverywhereNote:
		return h, fmt.Errorf("host note without a note this fastscan knows (%q)", output.OpenEverywhereNote)
	case l.IP == nil || l.SYNACKs == nil || l.Probed == nil:
		return h, fmt.Errorf("host note without ip, syn_acks and probed")
	}
	ip, err := netip.ParseAddr(*l.IP)
	if err != nil || ip.Zone() != "" {
		return h, fmt.Errorf("host note: invalid ip %q", *l.IP)
	}
	if *l.SYNACKs < 0 || *l.SYNACKs > *l.Probed || *l.Probed > 1<<17 {
		return h, fmt.Errorf("host note: %d SYN-ACKs of %d ports probed", *l.SYNACKs, *l.Probed)
	}
	return result.OpenEverywhere{Addr: ip, SYNACKs: *l.SYNACKs, Probed: *l.Probed}, nil
}

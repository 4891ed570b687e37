package merge

import (
	"fmt"
	"strconv"
	"strings"
)

// This file is the one place that knows how a JSON line says which scan and which
// shard it comes from. Every line of a shard's output carries two members besides
// the result's:
//
//	"scan_id":"<id>"  the same for every shard of one scan
//	"shard":"I/N"     this process's shard: I of N, 0-based (0 <= I < N)
//
// A line without "shard" comes from a scan that was not split: shard 0/1. A line
// without "scan_id" has the empty id, which matches only other lines without one.

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
	if !ok || err1 != nil || err2 != nil || n < 1 || n > maxShards || i < 0 || i >= n {
		return Shard{}, fmt.Errorf("invalid shard %q: want I/N with 0 <= I < N", v)
	}
	return Shard{Index: i, Count: n}, nil
}

// origin is where one JSON line says it comes from.
type origin struct {
	scanID string
	shard  Shard
}

// originFields are the JSON members that name the scan and shard of a line;
// jsonLine embeds them, so one decoding reads them with the result.
type originFields struct {
	ScanID *string `json:"scan_id"`
	Shard  *string `json:"shard"`
}

// origin reads the scan id and shard of a decoded line.
func (f *originFields) origin() (origin, error) {
	var o origin
	if f.ScanID != nil {
		if *f.ScanID == "" {
			return o, fmt.Errorf("empty scan_id")
		}
		o.scanID = *f.ScanID
	}
	o.shard = Whole
	if f.Shard != nil {
		s, err := ParseShard(*f.Shard)
		if err != nil {
			return o, err
		}
		o.shard = s
	}
	return o, nil
}

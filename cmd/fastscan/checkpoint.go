package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"golang.org/x/sys/unix"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/RoaringBitmap/roaring/v2/roaring64"

	"github.com/fastscan/fastscan/result"
)

// checkpointVersion is the layout of the checkpoint body; a checkpoint of another
// version is refused.
const checkpointVersion = 3

// checkpointMagic starts every checkpoint record.
const checkpointMagic = "FASTSCAN-RESUME\n"

// A checkpoint file holds one or more records, each
//
//	magic (16 bytes) | body length (4 bytes, big endian) | body (JSON) | SHA-256 of all before (32 bytes)
//
// and the valid record with the highest sequence number is the checkpoint. The
// file is updated in place, never renamed (a scan that dropped its privileges may
// not write the directory, only the file it opened before): a new record never
// overwrites the newest valid one, it goes before it if it fits there, else after
// it, then the file is synced. A crash in the middle of a write leaves a record
// whose checksum fails, and the one before it stands. The file stays under about
// three records long. An empty file holds no checkpoint: its scan completed
// (a scan that cannot remove its checkpoint empties it).
const (
	checkpointHeader = len(checkpointMagic) + 4
	checkpointSum    = sha256.Size
)

// checkpoint is a scan's state on disk: enough to finish it later.
type checkpoint struct {
	Version int    `json:"version"`
	Seq     uint64 `json:"seq"`
	// Identity is scanIdentity of the scan's settings: a resumed scan whose
	// settings come out different (a target file changed) is refused.
	Identity string `json:"identity"`
	// Dir is the working directory, Args the command line (its seed included).
	Dir  string   `json:"dir"`
	Args []string `json:"args"`
	// Targets is the scan's size (addresses x ports), for a plain check.
	Targets uint64 `json:"targets"`
	// Pass and Position are where to continue: every position before Position of
	// pass Pass has been probed long enough ago for its reply to be in Answered.
	Pass     int    `json:"pass"`
	Position uint64 `json:"position"`
	// Answered is the set of targets whose results are in the files (within
	// their lengths), a serialized roaring64 bitmap of target indexes.
	Answered []byte `json:"answered"`
	// Files are the output files, each with the length of its whole records.
	Files []checkpointFile `json:"files"`
}

// checkpointFile is one output file of a checkpoint.
type checkpointFile struct {
	Path   string `json:"path"` // absolute
	Format string `json:"format"`
	Length int64  `json:"length"`
	// SHA256 is the hex SHA-256 of those Length bytes: a file changed since
	// (not only shortened) is refused.
	SHA256 string `json:"sha256"`
	// Kept are results the writer had not written yet (nmap XML and grepable:
	// hosts known only from filtered ports): the resumed writer keeps them again.
	// keptSize bytes each (keepResults).
	Kept []byte `json:"kept,omitempty"`
}

// keptSize is the size of one kept result in a checkpoint: address (16 bytes,
// an IPv4 one in its IPv4-mapped form), port, protocol, state, reason, TTL,
// time (nanoseconds), source address (16 bytes, all zero when unknown) and
// port, all big endian.
const keptSize = 16 + 2 + 4 + 8 + 16 + 2

// keepResults encodes kept results for a checkpoint.
func keepResults(rs []result.Result) []byte {
	b := make([]byte, 0, len(rs)*keptSize)
	for _, r := range rs {
		ip, src := r.IP.As16(), [16]byte{}
		if r.SourceIP.IsValid() {
			src = r.SourceIP.As16()
		}
		b = append(b, ip[:]...)
		b = binary.BigEndian.AppendUint16(b, r.Port)
		b = append(b, uint8(r.Proto), uint8(r.State), uint8(r.Reason), r.TTL)
		b = binary.BigEndian.AppendUint64(b, uint64(r.TimeNanos))
		b = append(b, src[:]...)
		b = binary.BigEndian.AppendUint16(b, r.SourcePort)
	}
	return b
}

// keptResults decodes what keepResults encoded.
func keptResults(b []byte) []result.Result {
	var rs []result.Result
	for ; len(b) >= keptSize; b = b[keptSize:] {
		r := result.Result{
			IP: netip.AddrFrom16([16]byte(b[0:16])).Unmap(), Port: binary.BigEndian.Uint16(b[16:]),
			Proto: result.Proto(b[18]), State: result.State(b[19]), Reason: result.Reason(b[20]), TTL: b[21],
			TimeNanos: int64(binary.BigEndian.Uint64(b[22:])), SourcePort: binary.BigEndian.Uint16(b[46:]),
		}
		if src := [16]byte(b[30:46]); src != [16]byte{} {
			r.SourceIP = netip.AddrFrom16(src).Unmap()
		}
		rs = append(rs, r)
	}
	return rs
}

// answered returns the checkpoint's answered set.
func (c *checkpoint) answered() (*roaring64.Bitmap, error) {
	b := roaring64.New()
	if len(c.Answered) > 0 {
		if err := b.UnmarshalBinary(c.Answered); err != nil {
			return nil, fmt.Errorf("answered targets: %w", err)
		}
	}
	return b, nil
}

// encodeCheckpoint is one record of c.
func encodeCheckpoint(c *checkpoint) ([]byte, error) {
	body, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	if len(body) > 1<<31 {
		return nil, errors.New("checkpoint too large")
	}
	rec := make([]byte, 0, checkpointHeader+len(body)+checkpointSum)
	rec = append(rec, checkpointMagic...)
	rec = binary.BigEndian.AppendUint32(rec, uint32(len(body)))
	rec = append(rec, body...)
	sum := sha256.Sum256(rec)
	return append(rec, sum[:]...), nil
}

// errNoCheckpoint: the file is empty, the scan it belonged to completed.
var errNoCheckpoint = errors.New("it holds no checkpoint: its scan completed (or was stopped before it began)")

// decodeCheckpoint returns the newest valid record of a checkpoint file's data,
// and where it lies in data.
func decodeCheckpoint(data []byte) (c *checkpoint, off, n int64, err error) {
	if len(data) == 0 {
		return nil, 0, 0, errNoCheckpoint
	}
	found := false
	for i := 0; ; {
		j := bytes.Index(data[i:], []byte(checkpointMagic))
		if j < 0 {
			break
		}
		at := i + j
		i = at + 1
		if len(data)-at < checkpointHeader {
			continue
		}
		size := int(binary.BigEndian.Uint32(data[at+len(checkpointMagic):]))
		end := at + checkpointHeader + size + checkpointSum
		if end > len(data) || end < at {
			continue
		}
		sum := sha256.Sum256(data[at : end-checkpointSum])
		if !bytes.Equal(sum[:], data[end-checkpointSum:end]) {
			continue
		}
		var x checkpoint
		if json.Unmarshal(data[at+checkpointHeader:end-checkpointSum], &x) != nil {
			continue
		}
		if !found || x.Seq > c.Seq {
			c, off, n, found = &x, int64(at), int64(end-at), true
		}
	}
	if !found {
		return nil, 0, 0, errors.New("not a fastscan checkpoint, or damaged (checksum mismatch)")
	}
	if c.Version != checkpointVersion {
		return nil, 0, 0, fmt.Errorf("a checkpoint of version %d, this fastscan reads version %d", c.Version, checkpointVersion)
	}
	return c, off, n, nil
}

// readCheckpoint reads the checkpoint in the file name, and where its record lies.
func readCheckpoint(name string) (*checkpoint, int64, int64, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, 0, 0, errors.Unwrap(err)
	}
	return decodeCheckpoint(data)
}

// checkpointFileWriter updates a checkpoint file in place (see checkpointMagic).
type checkpointFileWriter struct {
	f      *os.File
	dir    *os.File // the file's directory, opened with it: unlinkat needs no path to it
	off, n int64    // the newest valid record
	seq    uint64   // its sequence number
}

// unlink removes the checkpoint file named path through its directory, opened
// before privileges were dropped: an unprivileged scan may not look up the
// directory's path (a parent only root may enter), but may still remove a file in
// a directory it can write.
func (w *checkpointFileWriter) unlink(path string) error {
	if w.dir == nil {
		return os.Remove(path)
	}
	return unix.Unlinkat(int(w.dir.Fd()), filepath.Base(path), 0)
}

// close closes the file and its directory.
func (w *checkpointFileWriter) close() {
	w.f.Close()
	if w.dir != nil {
		w.dir.Close()
	}
}

// write writes c as the new checkpoint, syncs it, and only then counts it as the
// newest.
func (w *checkpointFileWriter) write(c *checkpoint) error {
	c.Version, c.Seq = checkpointVersion, w.seq+1
	rec, err := encodeCheckpoint(c)
	if err != nil {
		return err
	}
	n := int64(len(rec))
	at := int64(0)
	if n > w.off {
		at = w.off + w.n // after the newest record: it does not fit before it
	}
	if _, err := w.f.WriteAt(rec, at); err != nil {
		return err
	}
	if err := w.f.Sync(); err != nil {
		return err
	}
	w.off, w.n, w.seq = at, n, c.Seq
	return nil
}

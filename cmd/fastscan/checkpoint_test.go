package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2/roaring64"

	"github.com/fastscan/fastscan/engine"
	"github.com/fastscan/fastscan/result"
)

// testCheckpoint is a checkpoint with every field set; answered holds n targets
// spread over more than 32 bits of index.
func testCheckpoint(t *testing.T, n int) *checkpoint {
	t.Helper()
	b := roaring64.New()
	for i := 0; i < n; i++ {
		b.Add(uint64(i)*7919 + uint64(i%3)<<33)
	}
	answered, err := b.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return &checkpoint{
		Identity: "abc", Dir: "/tmp", Args: []string{"198.19.0.0/16", "-p", "80", "--seed", "7"}, Targets: 1 << 36,
		Pass: 1, Position: 12345, Answered: answered,
		Files: []checkpointFile{
			{Path: "/tmp/r.jsonl", Format: "jsonl", Length: 1000},
			{Path: "/tmp/r.xml", Format: "xml", Length: 2000, Kept: keepResults([]result.Result{{
				IP: netip.MustParseAddr("198.19.0.9"), Port: 80, Proto: result.TCP, State: result.Filtered,
				Reason: result.ReasonNoResponse, TTL: 3, TimeNanos: 42, SourceIP: netip.MustParseAddr("198.18.0.1"), SourcePort: 61000}, {
				IP: netip.MustParseAddr("2001:2::5"), Port: 22, Proto: result.TCP, State: result.Open,
				Reason: result.ReasonSYNACK, TTL: 64, TimeNanos: 43, SourceIP: netip.MustParseAddr("2001:2::1"), SourcePort: 61001}})},
		},
	}
}

// TestCheckpointRoundTrip: what is written is read back, the answered set intact.
func TestCheckpointRoundTrip(t *testing.T) {
	name := filepath.Join(t.TempDir(), "ck")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	w := &checkpointFileWriter{f: f}
	want := testCheckpoint(t, 5000)
	if err := w.write(want); err != nil {
		t.Fatal(err)
	}
	got, off, n, err := readCheckpoint(name)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) || off != 0 || n != w.n {
		t.Errorf("read back %+v at %d+%d, want %+v", got, off, n, want)
	}
	b, err := got.answered()
	if err != nil || b.GetCardinality() != 5000 || !b.Contains(4999*7919+1<<33) {
		t.Errorf("answered: %v, %d targets", err, b.GetCardinality())
	}
	if r := keptOf(got.Files[1]); len(r) != 2 || r[0] != keptOf(want.Files[1])[0] || r[0].IP != netip.MustParseAddr("198.19.0.9") ||
		r[1].IP != netip.MustParseAddr("2001:2::5") || r[1].SourceIP != netip.MustParseAddr("2001:2::1") || r[1].Port != 22 || r[1].State != result.Open {
		t.Errorf("kept results %+v", r)
	}
}

// TestCheckpointDamage: a damaged record fails its checksum; the writer never
// overwrites the newest record, so a torn or damaged newer record leaves the one
// before it; a file with none is refused, an empty one is a completed scan.
func TestCheckpointDamage(t *testing.T) {
	name := filepath.Join(t.TempDir(), "ck")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := &checkpointFileWriter{f: f}
	for i := 0; i < 40; i++ { // growing records: the file stays small
		if err := w.write(testCheckpoint(t, 100*i)); err != nil {
			t.Fatal(err)
		}
		if st, _ := f.Stat(); st.Size() > 3*w.n+100 {
			t.Fatalf("after %d records of about %d bytes the file is %d bytes", i+1, w.n, st.Size())
		}
	}
	data, _ := os.ReadFile(name)
	c, off, n, err := decodeCheckpoint(data)
	if err != nil || c.Seq != 40 || off != w.off || n != w.n {
		t.Fatalf("newest: %v seq %d at %d+%d, want 40 at %d+%d", err, c.Seq, off, n, w.off, w.n)
	}
	// Damage the newest record's body: the one before stands.
	bad := bytes.Clone(data)
	bad[off+int64(checkpointHeader)+10] ^= 1
	if c, _, _, err := decodeCheckpoint(bad); err != nil || c.Seq != 39 {
		t.Errorf("newest damaged: %v, seq %v; want the one before (39)", err, c)
	}
	// Torn: the newest record cut short (a crash in the middle of its write).
	if c, _, _, err := decodeCheckpoint(data[:off+n/2]); err != nil || c.Seq >= 40 {
		t.Errorf("newest torn: %v %v; want an older one", err, c)
	}
	// One record, damaged: refused, saying why.
	one, _ := encodeCheckpoint(testCheckpoint(t, 10))
	one[len(one)/2] ^= 0x40
	if _, _, _, err := decodeCheckpoint(one); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("damaged checkpoint: %v, want a checksum error", err)
	}
	if _, _, _, err := decodeCheckpoint([]byte("hello\n")); err == nil {
		t.Errorf("not a checkpoint: accepted")
	}
	if _, _, _, err := decodeCheckpoint(nil); err != errNoCheckpoint {
		t.Errorf("empty file: %v, want %v", err, errNoCheckpoint)
	}
}

// writeTestCheckpoint writes a checkpoint of the command line args (as captured
// parses it) in dir and returns its path.
func writeTestCheckpoint(t *testing.T, dir string, args ...string) string {
	t.Helper()
	s, code, stderr := captured(t, args...)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	wd, _ := os.Getwd()
	ck := &checkpoint{Identity: scanIdentity(&s), Dir: wd, Args: s.args,
		Targets: s.cfg.Targets.Len() * uint64(s.cfg.Ports.Len()+s.cfg.UDPPorts.Len())}
	name := filepath.Join(dir, "ck")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := (&checkpointFileWriter{f: f}).write(ck); err != nil {
		t.Fatal(err)
	}
	return name
}

// TestResumeSettings: --resume takes the checkpoint's command line (its random
// seed made explicit); it refuses other flags and targets, and a checkpoint whose
// settings come out different (the target file changed), with one line, exit 2.
func TestResumeSettings(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "targets.txt")
	if err := os.WriteFile(list, []byte("198.19.0.0/24\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	name := writeTestCheckpoint(t, dir, "-iL", list, "-p", "22,80", "-oJ", filepath.Join(dir, "r.jsonl"))
	ck, _, _, err := readCheckpoint(name)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(ck.Args); n < 2 || ck.Args[n-2] != "--seed" {
		t.Errorf("recorded command line %q: no explicit seed", ck.Args)
	}
	s, code, stderr := captured(t, "--resume", name)
	if code != exitOK || s.resume == nil || s.resumeFile != name || s.cfg.Targets.Len() != 256 {
		t.Fatalf("resume: exit %d, resume %v, checkpoint file %q: %s", code, s.resume != nil, s.resumeFile, stderr)
	}
	if want := ck.Args[len(ck.Args)-1]; strconv.FormatUint(s.cfg.Seed, 10) != want {
		t.Errorf("seed %d, the checkpoint's %s", s.cfg.Seed, want)
	}
	for _, args := range [][]string{
		{"--resume", name, "-p", "443"},
		{"--resume", name, "198.19.0.1"},
		{"--resume", filepath.Join(dir, "missing")},
	} {
		if _, code, stderr := captured(t, args...); code != exitUsage || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("%q: exit %d, %q; want one line, exit %d", args, code, stderr, exitUsage)
		}
	}
	if err := os.WriteFile(list, []byte("198.19.0.0/23\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, code, stderr := captured(t, "--resume", name); code != exitUsage || !strings.Contains(stderr, "settings differ") {
		t.Errorf("changed target file: exit %d, %q; want exit %d, settings differ", code, stderr, exitUsage)
	}
}

// TestResumeFiles: an output file missing or shorter than its checkpoint records
// is refused before anything is changed.
func TestResumeFiles(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "r.jsonl")
	s := settings{format: "text", extra: []extraOutput{{flag: "oJ", format: "jsonl", file: out}}}
	sum := sha256.Sum256([]byte("1234567890"))
	s.resume = &resumeState{path: "ck", ck: &checkpoint{Files: []checkpointFile{{Path: out, Format: "jsonl", Length: 10, SHA256: hex.EncodeToString(sum[:])}}}}
	if err := checkResumeFiles(&s); err == nil || !strings.Contains(err.Error(), "r.jsonl") {
		t.Errorf("missing file: %v", err)
	}
	os.WriteFile(out, []byte("12345"), 0o644)
	if err := checkResumeFiles(&s); err == nil || !strings.Contains(err.Error(), "fewer") {
		t.Errorf("short file: %v", err)
	}
	os.WriteFile(out, []byte("1234567890abc"), 0o644)
	if err := checkResumeFiles(&s); err != nil {
		t.Errorf("longer file (cut back when resuming): %v", err)
	}
	if d := s.resume.digests[pathKey(out)]; d == nil || !bytes.Equal(d.Sum(nil), sum[:]) {
		t.Errorf("the digest the resumed writer continues is not the recorded prefix's")
	}
	os.WriteFile(out, []byte("1234567899abc"), 0o644)
	if err := checkResumeFiles(&s); err == nil || !strings.Contains(err.Error(), "changed since the checkpoint") {
		t.Errorf("a byte of the recorded prefix changed: %v", err)
	}
	os.WriteFile(out, []byte("1234567890"), 0o644)
	s.extra = nil
	if err := checkResumeFiles(&s); err == nil {
		t.Errorf("a recorded file the scan does not write: accepted")
	}
}

// TestCheckpointFree: a new scan refuses a checkpoint file that holds an
// unfinished scan's checkpoint or something else, and leaves it as it was; an
// empty file (a completed scan's) or none is fine.
func TestCheckpointFree(t *testing.T) {
	dir := t.TempDir()
	name := writeTestCheckpoint(t, dir, "198.19.0.0/24", "-p", "22")
	before, _ := os.ReadFile(name)
	s := settings{resumeFile: name}
	if err := checkCheckpointFree(&s); err == nil || !strings.Contains(err.Error(), "unfinished scan") || !strings.Contains(err.Error(), "--resume "+name) {
		t.Errorf("an unfinished scan's checkpoint: %v", err)
	}
	if after, _ := os.ReadFile(name); !bytes.Equal(before, after) {
		t.Errorf("the checkpoint changed")
	}
	other := filepath.Join(dir, "notes.txt")
	os.WriteFile(other, []byte("precious\n"), 0o644)
	s.resumeFile = other
	if err := checkCheckpointFree(&s); err == nil || !strings.Contains(err.Error(), "not a fastscan checkpoint") {
		t.Errorf("a file that is no checkpoint: %v", err)
	}
	for _, ok := range []string{filepath.Join(dir, "new.resume"), filepath.Join(dir, "empty.resume")} {
		if strings.HasSuffix(ok, "empty.resume") {
			os.WriteFile(ok, nil, 0o600)
		}
		s.resumeFile = ok
		if err := checkCheckpointFree(&s); err != nil {
			t.Errorf("%s: %v", filepath.Base(ok), err)
		}
	}
	s.resumeFile, s.resume = name, &resumeState{path: name}
	if err := checkCheckpointFree(&s); err != nil {
		t.Errorf("--resume of that checkpoint: %v", err)
	}
}

// withStdin runs fn with standard input reading data.
func withStdin(t *testing.T, data string, fn func()) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() { w.WriteString(data); w.Close() }()
	old := os.Stdin
	os.Stdin = r
	defer func() { os.Stdin = old; r.Close() }()
	fn()
}

// TestResumeTargetsFromStdin: a scan that read its targets from standard input
// (-iL -) resumes with the same list given again; another list is refused with a
// line that says so.
func TestResumeTargetsFromStdin(t *testing.T) {
	for args, want := range map[string]bool{"-iL -": true, "--iL -": true, "-iL=-": true, "--input-file -": true,
		"-iL list.txt": false, "198.19.0.1 -p -": false, "-iL": false} {
		if got := targetsFromStdin(strings.Fields(args)); got != want {
			t.Errorf("%q: from standard input %v, want %v", args, got, want)
		}
	}
	dir := t.TempDir()
	var name string
	withStdin(t, "198.19.0.0/24\n", func() { name = writeTestCheckpoint(t, dir, "-iL", "-", "-p", "22") })
	withStdin(t, "198.19.0.0/24\n", func() {
		if s, code, stderr := captured(t, "--resume", name); code != exitOK || s.cfg.Targets.Len() != 256 {
			t.Errorf("the same list again: exit %d: %s", code, stderr)
		}
	})
	withStdin(t, "198.19.1.0/24\n", func() {
		if _, code, stderr := captured(t, "--resume", name); code != exitUsage || !strings.Contains(stderr, "standard input differ") {
			t.Errorf("another list: exit %d: %s", code, stderr)
		}
	})
}

// TestCheckpointPositionWaitsForDelivery: the checkpoint's position is a progress
// sample at least hold old by the clock and by the scan's delivery: while the
// receiver or the outputs lag behind, it does not advance.
func TestCheckpointPositionWaitsForDelivery(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	var pos uint64
	delivered := t0.UnixNano() - 1
	k := &checkpointer{
		progress:  func() engine.Progress { return engine.Progress{Position: pos} },
		delivered: func() int64 { return delivered },
		hold:      time.Second,
	}
	pos = 100
	k.sample(t0)
	pos = 200
	k.sample(t0.Add(1500 * time.Millisecond))
	if k.safe.pos != 0 {
		t.Fatalf("position %d although nothing was delivered since the first sample", k.safe.pos)
	}
	delivered = t0.Add(1200 * time.Millisecond).UnixNano()
	pos = 300
	k.sample(t0.Add(1600 * time.Millisecond))
	if k.safe.pos != 100 {
		t.Fatalf("position %d, want 100: the first sample is a hold old by clock and delivery", k.safe.pos)
	}
	delivered = t0.Add(time.Hour).UnixNano()
	k.sample(t0.Add(2400 * time.Millisecond))
	if k.safe.pos != 100 {
		t.Fatalf("position %d, want 100: the clock has not let the second sample be a hold old", k.safe.pos)
	}
	k.sample(t0.Add(2600 * time.Millisecond))
	if k.safe.pos != 300 {
		t.Fatalf("position %d, want 300", k.safe.pos)
	}
}

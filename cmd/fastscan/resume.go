package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"github.com/urfave/cli/v2"

	"github.com/fastscan/fastscan/engine"
	"github.com/fastscan/fastscan/output"
	"github.com/fastscan/fastscan/result"
)

// defaultResumeFile is where a scan keeps its checkpoint without --resume-file.
const defaultResumeFile = "fastscan.resume"

// checkpointEvery is how often a running scan replaces its checkpoint, and
// sampleEvery how often it notes its progress.
const (
	checkpointEvery = time.Second
	sampleEvery     = 250 * time.Millisecond
)

// resumeFlags are the flags of checkpoints and resuming.
func resumeFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "resume-file", Value: defaultResumeFile, Usage: "keep the scan's checkpoint in `FILE` while it runs (removed when the scan completes)"},
		&cli.StringFlag{Name: "resume", Usage: "continue the scan whose checkpoint is `FILE`, with its settings (no other flag or target may be given)"},
	}
}

// argsKey and resumeKey are the context keys of the command line run gives the
// app, and of the checkpoint a resumed scan continues.
type (
	argsKey   struct{}
	resumeKey struct{}
)

// resumeState is the checkpoint a resumed scan continues, and where it is.
type resumeState struct {
	path   string // absolute
	ck     *checkpoint
	off, n int64 // its record in the file
	// digests are the SHA-256 states of the output files' recorded prefixes
	// (by pathKey), checked by checkResumeFiles: the resumed writers go on
	// from them.
	digests map[string]hash.Hash
	// pcapLength is the length of the pcap file's whole packets, 0 when there
	// is none to continue.
	pcapLength int64
}

// file returns the checkpoint's record of the output file name.
func (r *resumeState) file(name string) (checkpointFile, bool) {
	key := pathKey(name)
	for _, f := range r.ck.Files {
		if pathKey(f.Path) == key {
			return f, true
		}
	}
	return checkpointFile{}, false
}

// resumeScan is fastscan --resume FILE: it reads the checkpoint and runs the
// command line it holds, from its working directory, as the continuation of it.
func resumeScan(c *cli.Context, stdout, stderr io.Writer, scanFn scanFunc) error {
	for _, name := range c.LocalFlagNames() {
		if name != "resume" {
			return usageError("--resume takes every setting from the checkpoint: give no other flag (got --%s)", name)
		}
	}
	if c.Args().Len() > 0 {
		return usageError("--resume takes every setting from the checkpoint: give no target (got %q)", c.Args().First())
	}
	name := c.String("resume")
	path, err := filepath.Abs(name)
	if err != nil {
		return usageError("cannot resume from %q: %v", name, err)
	}
	ck, off, n, err := readCheckpoint(path)
	if err != nil {
		return usageError("cannot resume from %q: %v", name, err)
	}
	if targetsFromStdin(ck.Args) && isTerminal(os.Stdin) {
		return usageError("cannot resume from %q: the scan read its targets from standard input: give the same list again (fastscan --resume %s < LIST)", name, name)
	}
	if err := os.Chdir(ck.Dir); err != nil {
		return usageError("cannot resume from %q: its working directory: %v", name, errors.Unwrap(err))
	}
	ctx := context.WithValue(c.Context, resumeKey{}, &resumeState{path: path, ck: ck, off: off, n: n})
	ctx = context.WithValue(ctx, argsKey{}, ck.Args)
	app := newApp(stdout, stderr, scanFn)
	return app.RunContext(ctx, reorderArgs(append([]string{"fastscan"}, ck.Args...), app.Flags, app.Commands))
}

// applyResume sets the checkpoint and command line parts of s: the arguments to
// record (the seed made explicit), the checkpoint file, and for a resumed scan the
// checkpoint it continues, refused when its settings no longer come out the same.
func applyResume(c *cli.Context, s *settings) error {
	args, _ := c.Context.Value(argsKey{}).([]string)
	s.args = slices.Clone(args)
	if !c.IsSet("seed") {
		s.args = append(s.args, "--seed", strconv.FormatUint(s.cfg.Seed, 10))
	}
	if f := s.shard.from; f != "" && f != "--shard" {
		// A shard from the scheduler's environment: --resume runs anywhere.
		s.args = append(s.args, "--shard", fmt.Sprintf("%d/%d", s.shard.shard, s.shard.shards))
	}
	s.resumeFile, s.resumeFileSet = c.String("resume-file"), c.IsSet("resume-file")
	if s.sorted != nil || s.sv.enabled {
		s.resumeFile = "" // --sort and -sV keep no checkpoint (parseSort, parseServices)
	}
	rs, _ := c.Context.Value(resumeKey{}).(*resumeState)
	if rs == nil {
		return nil
	}
	s.args = rs.ck.Args
	s.resumeFile, s.resumeFileSet, s.resume = rs.path, true, rs
	if scanIdentity(s) != rs.ck.Identity || s.cfg.Targets.Len()*uint64(s.cfg.Ports.Len()+s.cfg.UDPPorts.Len()) != rs.ck.Targets {
		if targetsFromStdin(rs.ck.Args) {
			return usageError("cannot resume from %q: the targets on standard input differ from the stopped scan's: give the same list again", rs.path)
		}
		return usageError("cannot resume from %q: the scan's settings differ from the checkpoint's (a target, exclusion or port file changed, or a host name resolves differently)", rs.path)
	}
	return nil
}

// scanIdentity is a hash of everything that decides which target a position or
// an index means (the shard included: a checkpoint's position is in the shard's
// own order), the probes and cookies, and what goes into which file: a resumed
// scan must come out the same. (scanID, shared by the shards, is another hash.)
func scanIdentity(s *settings) string {
	h := sha256.New()
	fmt.Fprintf(h, "seed %d\n", s.cfg.Seed)
	for _, r := range s.cfg.Targets.Ranges() {
		fmt.Fprintf(h, "target %v-%v\n", r.First, r.Last)
	}
	fmt.Fprintf(h, "tcp %v\nudp %v\n", s.cfg.Ports.List(), s.cfg.UDPPorts.List())
	fmt.Fprintf(h, "source ports %d-%d\nretries %d\nshow %d\n", s.cfg.SourcePortLo, s.cfg.SourcePortHi, s.cfg.Retries, s.cfg.Show)
	if s.cfg.Shards > 1 { // unsharded: the identity of checkpoints made before shards
		fmt.Fprintf(h, "shard %d/%d\n", s.cfg.Shard, s.cfg.Shards)
	}
	fmt.Fprintf(h, "output %s %q\n", s.format, s.output)
	for _, x := range s.extra {
		fmt.Fprintf(h, "output %s %q\n", x.format, x.file)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// fileOutputs are the output files of s (standard output and syslog excluded):
// the files a checkpoint records.
func fileOutputs(s *settings) []string {
	var names []string
	if s.output != "" && s.output != stdoutName {
		names = append(names, s.output)
	}
	for _, x := range s.extra {
		if x.file != "" && x.file != stdoutName {
			names = append(names, x.file)
		}
	}
	return names
}

// checkResumeFiles refuses to resume when an output file the checkpoint records
// is missing or shorter than recorded. Nothing is changed.
func checkResumeFiles(s *settings) error {
	rs := s.resume
	if rs == nil {
		return nil
	}
	names := fileOutputs(s)
	if len(names) != len(rs.ck.Files) {
		return usageError("cannot resume from %q: it records %d output files, the scan writes %d", rs.path, len(rs.ck.Files), len(names))
	}
	for _, name := range names {
		f, ok := rs.file(name)
		if !ok {
			return usageError("cannot resume from %q: it does not record the output file %q", rs.path, name)
		}
		st, err := os.Stat(name)
		if err != nil {
			return usageError("cannot resume from %q: output file %q: %v", rs.path, name, errors.Unwrap(err))
		}
		if !st.Mode().IsRegular() || st.Size() < f.Length {
			return usageError("cannot resume from %q: output file %q holds %d bytes, fewer than the %d recorded: it changed", rs.path, name, st.Size(), f.Length)
		}
		d, err := digestPrefix(name, f.Length)
		if err != nil {
			return usageError("cannot resume from %q: output file %q: %v", rs.path, name, err)
		}
		if hex.EncodeToString(d.Sum(nil)) != f.SHA256 {
			return usageError("cannot resume from %q: output file %q changed since the checkpoint (its first %d bytes are not what the scan wrote)", rs.path, name, f.Length)
		}
		if rs.digests == nil {
			rs.digests = map[string]hash.Hash{}
		}
		rs.digests[pathKey(name)] = d
	}
	if s.pcap != "" {
		f, err := os.Open(s.pcap)
		if err != nil {
			return nil // a new capture is made
		}
		defer f.Close()
		n, err := output.PcapWholeLength(f)
		if err != nil {
			return usageError("cannot resume from %q: pcap file %q: %v", rs.path, s.pcap, err)
		}
		rs.pcapLength = n
	}
	return nil
}

// openPcap creates the pcap file of s, or for a resumed scan continues the one
// its stopped run wrote, cut back to its whole packets.
func openPcap(s *settings) (*os.File, *output.Pcap, error) {
	if rs := s.resume; rs != nil && rs.pcapLength > 0 {
		f, err := os.OpenFile(s.pcap, os.O_WRONLY, 0)
		if err == nil {
			if err = f.Truncate(rs.pcapLength); err == nil {
				_, err = f.Seek(rs.pcapLength, io.SeekStart)
			}
			if err != nil {
				f.Close()
			}
		}
		if err != nil {
			return nil, nil, usageError("cannot continue pcap file %q: %v", s.pcap, errors.Unwrap(err))
		}
		return f, output.ContinuePcap(f), nil
	}
	f, err := os.Create(s.pcap)
	if err != nil {
		return nil, nil, usageError("cannot write pcap file %q: %v", s.pcap, errors.Unwrap(err))
	}
	p, err := output.NewPcap(f)
	if err != nil {
		f.Close()
		return nil, nil, cli.Exit(err.Error(), exitFailure)
	}
	return f, p, nil
}

// digestPrefix returns the SHA-256 state after the first n bytes of the file name.
func digestPrefix(name string, n int64) (hash.Hash, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, errors.Unwrap(err)
	}
	defer f.Close()
	d := sha256.New()
	if _, err := io.CopyN(d, f, n); err != nil {
		return nil, err
	}
	return d, nil
}

// checkCheckpointFree refuses a new scan whose checkpoint file holds another
// scan's checkpoint (one that did not complete) or something that is not a
// checkpoint at all: starting would destroy it. An empty file (a completed scan's)
// is fine. Nothing is changed.
func checkCheckpointFree(s *settings) error {
	if s.resume != nil || s.resumeFile == "" {
		return nil
	}
	data, err := os.ReadFile(s.resumeFile)
	if err != nil || len(data) == 0 {
		return nil // a missing file is created; one that cannot be read fails later, named
	}
	if _, _, _, err := decodeCheckpoint(data); err != nil {
		return usageError("checkpoint file %q exists and is not a fastscan checkpoint: refusing to overwrite it (give --resume-file another file)", s.resumeFile)
	}
	return usageError("checkpoint file %q holds an unfinished scan: continue it with 'fastscan --resume %s', or remove the file (or give this scan another --resume-file)", s.resumeFile, s.resumeFile)
}

// openCheckpoint opens the scan's checkpoint file for writing, before privileges
// are dropped: the file of the checkpoint a resumed scan continues, else a new
// one (an old file there is emptied). Without --resume-file, a checkpoint that
// cannot be created only costs a notice.
func openCheckpoint(s *settings, notice func(string)) (*checkpointFileWriter, string, error) {
	if rs := s.resume; rs != nil {
		f, err := os.OpenFile(rs.path, os.O_RDWR, 0)
		if err != nil {
			return nil, "", usageError("cannot write checkpoint file %q: %v", rs.path, errors.Unwrap(err))
		}
		return &checkpointFileWriter{f: f, dir: openDir(rs.path), off: rs.off, n: rs.n, seq: rs.ck.Seq}, rs.path, nil
	}
	path, err := filepath.Abs(s.resumeFile)
	if err == nil {
		var f *os.File
		if f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600); err == nil {
			return &checkpointFileWriter{f: f, dir: openDir(path)}, path, nil
		}
	}
	if s.resumeFileSet {
		return nil, "", usageError("cannot write checkpoint file %q: %v", s.resumeFile, errors.Unwrap(err))
	}
	notice(fmt.Sprintf("no checkpoint (cannot write %s: %v): this scan cannot be resumed", s.resumeFile, errors.Unwrap(err)))
	return nil, "", nil
}

// checkpointer keeps a running scan's checkpoint: every checkpointEvery, and
// once more when the scan stops. The position it records is the scan's progress
// of at least hold (the longest wait for a reply, plus a margin) earlier, by the
// clock and by the scan's delivery (sample), so that every reply to a probe
// before it has had time to arrive and be written;
// the answered set and the files' lengths are taken together, after a flush,
// under the outputs' lock (outputSet.snapshot).
type checkpointer struct {
	mu       sync.Mutex
	w        *checkpointFileWriter
	path     string
	base     checkpoint
	set      *outputSet
	progress func() engine.Progress
	// delivered is the scan's engine.Scanner.DeliveredUntil (nil: the clock
	// alone decides).
	delivered func() int64
	hold      time.Duration
	samples   []progressSample
	safe      progressSample // the newest sample at least hold old
	notice    func(string)
	failed    bool
	written   bool // a checkpoint was written (or the file is left to --resume)
}

type progressSample struct {
	at   time.Time
	pass int
	pos  uint64
}

// newCheckpointer makes the checkpointer of a scan whose outputs are set; it
// starts recording the answered targets in set.
func newCheckpointer(w *checkpointFileWriter, path string, s *settings, sc *engine.Scanner, set *outputSet, notice func(string)) (*checkpointer, error) {
	emitted := roaring64.New()
	start := progressSample{}
	if rs := s.resume; rs != nil {
		b, err := rs.ck.answered()
		if err != nil {
			return nil, err
		}
		emitted = b
		start.pass, start.pos = rs.ck.Pass, rs.ck.Position
	}
	dir, _ := os.Getwd()
	set.mu.Lock()
	set.emitted, set.index, set.hidden = emitted, sc.TargetIndex, sc.EachHidden
	set.mu.Unlock()
	return &checkpointer{
		w: w, path: path, set: set, progress: sc.Progress, delivered: sc.DeliveredUntil, hold: s.cfg.Wait + time.Second, safe: start, notice: notice,
		base: checkpoint{Identity: scanIdentity(s), Dir: dir, Args: s.args,
			Targets: s.cfg.Targets.Len() * uint64(s.cfg.Ports.Len()+s.cfg.UDPPorts.Len())},
	}, nil
}

// sample notes the scan's progress now. Called with k.mu held.
//
// A sample becomes the safe position once hold has passed since it was taken,
// both by the clock and by the scan's delivery (engine DeliveredUntil): a
// receiver or an output that lags behind (a loaded machine, a slow disk) holds
// the position back, so that every reply to a probe before it had its time to
// arrive and is in the outputs when the checkpoint is taken.
func (k *checkpointer) sample(now time.Time) {
	p := k.progress()
	k.samples = append(k.samples, progressSample{now, p.Pass, p.Position})
	mark := now.UnixNano()
	if k.delivered != nil {
		mark = min(mark, k.delivered())
	}
	i := 0
	for i < len(k.samples) && k.samples[i].at.UnixNano()+int64(k.hold) <= mark {
		k.safe = k.samples[i]
		i++
	}
	k.samples = k.samples[i:]
}

// write replaces the checkpoint. done: the scan finished every pass, its
// position is the end. Nothing is written once an output failed: the last
// checkpoint before the failure stays (the resumed scan cuts the files back to it).
func (k *checkpointer) write(done bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.sample(time.Now())
	at := k.safe
	if done {
		p := k.progress()
		at.pass, at.pos = p.Pass, p.Position
	}
	answered, files, ok := k.set.snapshot()
	if !ok {
		return
	}
	c := k.base
	c.Pass, c.Position, c.Answered, c.Files = at.pass, at.pos, answered, files
	k.written = true
	if err := k.w.write(&c); err != nil && !k.failed {
		k.failed = true
		k.notice(fmt.Sprintf("cannot write checkpoint file %s: %v (the last one written stays)", k.path, errors.Unwrap(err)))
	}
}

// every samples the progress every sampleEvery and writes the checkpoint every
// checkpointEvery until the returned stop is called.
func (k *checkpointer) every() (stop func()) {
	last := time.Now()
	return runEvery(sampleEvery, func(now time.Time) {
		if now.Sub(last) >= checkpointEvery {
			last = now
			k.write(false)
			return
		}
		k.mu.Lock()
		k.sample(now)
		k.mu.Unlock()
	})
}

// remove deletes the checkpoint of a completed scan; where the directory may no
// longer be written (privileges dropped), it empties the file instead, which
// --resume reads as a completed scan.
func (k *checkpointer) remove() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.w.unlink(k.path); err != nil {
		if err := k.w.f.Truncate(0); err == nil {
			k.w.f.Sync()
		}
	}
	k.w.close()
}

// openDir opens the directory of path, or returns nil.
func openDir(path string) *os.File {
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return nil
	}
	return d
}

// close closes the checkpoint file, which stays.
func (k *checkpointer) close() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.w.close()
}

// snapshot flushes every output and returns, taken together under the lock, the
// answered targets whose results the outputs hold and each output file's length
// of whole records and kept results; ok is false once an output failed.
func (s *outputSet) snapshot() (answered []byte, files []checkpointFile, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.outs {
		if !o.failed {
			if err := o.w.Flush(); err != nil {
				s.failed(o, err)
			}
		}
	}
	if s.err != nil || s.emitted == nil {
		return nil, nil, false
	}
	// On disk before the checkpoint says so: a power cut must not leave a
	// checkpoint that claims more than the files hold.
	for _, o := range s.outs {
		if o.f != nil && !o.failed {
			if err := o.f.Sync(); err != nil {
				s.failed(o, err)
				return nil, nil, false
			}
		}
	}
	for _, o := range s.outs {
		if o.res != nil {
			rec := checkpointFile{Path: o.path, Format: o.format, Length: o.base + o.res.Written(), Kept: keepResults(o.res.Kept())}
			if o.digest != nil {
				if o.digest.n != rec.Length {
					// Cannot happen after a flush of whole records; a
					// checkpoint that could not be checked is not written.
					s.failed(o, fmt.Errorf("%d bytes written, %d recorded", o.digest.n, rec.Length))
					return nil, nil, false
				}
				rec.SHA256 = hex.EncodeToString(o.digest.h.Sum(nil))
			}
			files = append(files, rec)
		}
	}
	// The answered set: the targets whose results are written, and those whose
	// verdict --show hid (nothing to write, so they can be claimed at any time).
	all := s.emitted
	if s.hidden != nil {
		all = s.emitted.Clone()
		s.hidden(func(idx uint64) { all.Add(idx) })
	}
	answered, err := all.MarshalBinary()
	return answered, files, err == nil
}

// keptOf returns the kept results of a checkpoint's file record.
func keptOf(f checkpointFile) []result.Result { return keptResults(f.Kept) }

// targetsFromStdin reports whether the command line args reads its targets from
// standard input (-iL -): a resumed scan must be given them again.
func targetsFromStdin(args []string) bool {
	for i, a := range args {
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "iL" && name != "input-file" {
			continue
		}
		if !hasValue && i+1 < len(args) {
			value = args[i+1]
		}
		if value == "-" {
			return true
		}
	}
	return false
}

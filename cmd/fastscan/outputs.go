package main

import (
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/RoaringBitmap/roaring/v2/roaring64"
	"golang.org/x/sys/unix"

	"github.com/fastscan/fastscan/output"
	"github.com/fastscan/fastscan/result"
)

// flushInterval is how often every output is flushed during a scan: a result
// reaches its files and the terminal at most this long after its reply (plus the
// write itself).
const flushInterval = 500 * time.Millisecond

// stdoutName is how the settings spell standard output for -o and -oX-style flags.
const stdoutName = "-"

// outputPath is one path the command line writes to, and the flag that names it.
type outputPath struct{ flag, path string }

// checkOutputPaths refuses a command line that writes two outputs to one place: the
// same file named twice, in any spelling (./s.txt and s.txt, a symbolic or hard
// link to it), or more than one output on standard output (the main format goes
// there unless -o names a file). Nothing has been created when it fails.
func checkOutputPaths(s *settings) error {
	var paths []outputPath
	onStdout := 0
	var stdoutFlags []string
	add := func(flag, path string) {
		if path == stdoutName {
			onStdout++
			stdoutFlags = append(stdoutFlags, flag)
			return
		}
		if path != "" {
			paths = append(paths, outputPath{flag, path})
		}
	}
	if s.output == "" {
		add("--format "+s.format+" (standard output without -o)", stdoutName)
	} else {
		add("-o", s.output)
	}
	for _, x := range s.extra {
		add("-"+x.flag, x.file)
	}
	add("--pcap", s.pcap)
	if s.status != stdoutName { // --status-json - is standard error
		add("--status-json", s.status)
	}
	add("--resume-file", s.resumeFile)
	if onStdout > 1 {
		return usageError("more than one output on standard output (%s): give all but one a file", orList(stdoutFlags))
	}
	type known struct {
		outputPath
		key  string
		info os.FileInfo
	}
	var seen []known
	for _, p := range paths {
		k := known{outputPath: p, key: pathKey(p.path)}
		k.info, _ = os.Stat(p.path)
		for _, o := range seen {
			if o.key == k.key || o.info != nil && k.info != nil && os.SameFile(o.info, k.info) {
				if o.path == p.path {
					return usageError("output file %q given twice (%s and %s)", p.path, o.flag, p.flag)
				}
				return usageError("output file %q is %q (%s and %s): give each output its own file", p.path, o.path, o.flag, p.flag)
			}
		}
		seen = append(seen, k)
	}
	return nil
}

// pathKey is path made absolute, with the symbolic links of its directory
// resolved: one key per file for files that do not exist yet.
func pathKey(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return filepath.Clean(path)
	}
	if dir, err := filepath.EvalSymlinks(filepath.Dir(abs)); err == nil {
		return filepath.Join(dir, filepath.Base(abs))
	}
	return abs
}

// outputSet is every output of a scan, one lock around all of them, so that the
// engine's collector (Write) and the flush ticker (Flush) may call it from two
// goroutines. An output that fails is not written again and is not closed (its
// file keeps its whole records); the others go on, and the scan is stopped through
// fail, the same orderly way as by a signal.
type outputSet struct {
	mu   sync.Mutex
	outs []*namedOutput
	fail func(error)
	err  *outputError // the first failure
	// emitted, when not nil, collects the target index (index) of every result
	// written: the answered set of the checkpoint (resume.go).
	emitted *roaring64.Bitmap
	index   func(*result.Result) (uint64, bool)
	// hidden, when not nil, yields the targets whose verdict --show hid
	// (engine.Scanner.EachHidden): answered too, as far as a checkpoint goes.
	hidden func(fn func(idx uint64))
}

// namedOutput is one output and where it goes.
type namedOutput struct {
	file   string // "" for standard output
	w      output.Writer
	failed bool
	// For an output file a checkpoint records: its absolute path and format,
	// the writer's Resumable side, and the length the file had when the writer
	// started (a resumed scan's).
	path, format string
	res          output.Resumable
	f            *os.File // the file, synced before a checkpoint records its length
	base         int64
	digest       *digestWriter // what the writer wrote to f, hashed (regular files only)
}

// digestWriter writes to w and keeps the SHA-256 and length of everything
// written to it (a resumed file's: of its prefix too).
type digestWriter struct {
	w io.Writer
	h hash.Hash
	n int64
}

func (d *digestWriter) Write(p []byte) (int, error) {
	n, err := d.w.Write(p)
	d.h.Write(p[:n])
	d.n += int64(n)
	return n, err
}

// outputError is a failed output: the file (or standard output) and why.
type outputError struct {
	file string // "" for standard output
	err  error
}

func (e *outputError) Error() string {
	reason := e.err
	var errno syscall.Errno
	if errors.As(e.err, &errno) {
		reason = errno
	}
	if e.file == "" {
		return fmt.Sprintf("cannot write to standard output: %v", reason)
	}
	return fmt.Sprintf("cannot write output file %q: %v", e.file, reason)
}

func (e *outputError) Unwrap() error { return e.err }

// brokenPipe reports whether standard output's reader went away (EPIPE): the exit
// status is then SIGPIPE's.
func (e *outputError) brokenPipe() bool { return e.file == "" && errors.Is(e.err, syscall.EPIPE) }

// failed marks o failed with err and stops the scan (the first failure only).
// Called with s.mu held.
func (s *outputSet) failed(o *namedOutput, err error) {
	o.failed = true
	if s.err == nil {
		s.err = &outputError{file: o.file, err: err}
		if s.fail != nil {
			s.fail(s.err)
		}
	}
}

// Write writes r to every output that has not failed. It returns no error: a
// failure stops the scan through fail, so that the results still arriving reach
// the other outputs.
func (s *outputSet) Write(r *result.Result) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.outs {
		if !o.failed {
			if err := o.w.Write(r); err != nil {
				s.failed(o, err)
			}
		}
	}
	if s.emitted != nil {
		if idx, ok := s.index(r); ok {
			s.emitted.Add(idx)
		}
	}
	return nil
}

// Flush flushes every output that has not failed.
func (s *outputSet) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.outs {
		if !o.failed {
			if err := o.w.Flush(); err != nil {
				s.failed(o, err)
			}
		}
	}
	return nil
}

// End tells every output how the scan ended.
func (s *outputSet) End(e output.End) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.outs {
		if en, ok := o.w.(output.Ender); ok && !o.failed {
			en.End(e)
		}
	}
}

// Close closes every output that has not failed and returns the first failure of
// the scan, if any (nil or an *outputError).
func (s *outputSet) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.outs {
		if !o.failed {
			if err := o.w.Close(); err != nil {
				s.failed(o, err)
			}
		}
	}
	if s.err != nil {
		return s.err
	}
	return nil
}

// flushEvery flushes every interval until the returned stop is called.
func (s *outputSet) flushEvery(interval time.Duration) (stop func()) {
	return runEvery(interval, func(time.Time) { s.Flush() })
}

// outputFailure returns err as an output failure, or nil if it is none.
func outputFailure(err error) *outputError {
	var oe *outputError
	if errors.As(err, &oe) {
		return oe
	}
	return nil
}

// checkDestinations checks, before any file is created or truncated, that every
// file the scan will write can be written: an existing one is opened for writing
// (without truncating it), a new one needs a writable directory. One that cannot
// is a usage error naming it, and no other file has been touched yet.
func checkDestinations(s *settings) error {
	type dest struct{ what, path string }
	dests := []dest{{"pcap file", s.pcap}, {"status file", s.status}}
	if s.output != "" {
		dests = append(dests, dest{"output file", s.output})
	}
	for _, x := range s.extra {
		dests = append(dests, dest{"output file", x.file})
	}
	if s.resume == nil && s.resumeFileSet {
		dests = append(dests, dest{"checkpoint file", s.resumeFile})
	}
	for _, d := range dests {
		if d.path == "" || d.path == "-" {
			continue
		}
		if err := writable(d.path); err != nil {
			return usageError("cannot write %s %q: %v", d.what, d.path, err)
		}
	}
	return nil
}

// writable reports why path cannot be written, or nil.
func writable(path string) error {
	if f, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil {
		return f.Close()
	} else if !errors.Is(err, fs.ErrNotExist) {
		return errors.Unwrap(err)
	}
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	if err != nil {
		return errors.Unwrap(err)
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if err := unix.Access(dir, unix.W_OK); err != nil {
		return err
	}
	return nil
}

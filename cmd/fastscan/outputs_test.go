package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/fastscan/fastscan/result"
)

// TestOutputPathTwice: one file named by two outputs, in any spelling, is refused
// with one line naming it, exit 2, before any file is created or anything sent.
func TestOutputPathTwice(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.Mkdir("sub", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("sub", "link"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("old.txt", []byte("precious\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link("old.txt", "hard.txt"); err != nil {
		t.Fatal(err)
	}
	abs := filepath.Join(dir, "s.txt")
	for _, c := range []struct {
		args []string
		path string
	}{
		{[]string{"-o", "s.txt", "-oJ", "s.txt"}, "s.txt"},
		{[]string{"-o", "s.txt", "-oJ", "./s.txt"}, "s.txt"},
		{[]string{"-oX", abs, "-oG", "s.txt"}, "s.txt"},
		{[]string{"-oC", "sub/../s.txt", "-oL", "s.txt"}, "s.txt"},
		{[]string{"-oJ", "link/x.json", "-oX", "sub/x.json"}, "x.json"},
		{[]string{"-oJ", "hard.txt", "-oX", "old.txt"}, "old.txt"},
		{[]string{"-o", "s.txt", "--pcap", "./s.txt"}, "s.txt"},
		{[]string{"-oJ", "s.txt", "--status-json", "s.txt"}, "s.txt"},
		{[]string{"--pcap", "s.txt", "--status-json", abs}, "s.txt"},
	} {
		_, code, stderr := captured(t, append([]string{"198.19.0.1", "-p", "80"}, c.args...)...)
		msg := strings.TrimSpace(stderr)
		if code != exitUsage || strings.Contains(msg, "\n") || !strings.Contains(msg, c.path) {
			t.Errorf("%q: exit %d, %q; want 2 and one line naming %s", c.args, code, msg, c.path)
		}
	}
	for _, name := range []string{"s.txt", "sub/x.json"} {
		if _, err := os.Stat(name); err == nil {
			t.Errorf("%s was created", name)
		}
	}
	if data, _ := os.ReadFile("old.txt"); string(data) != "precious\n" {
		t.Errorf("old.txt was touched: %q", data)
	}
	// Distinct files are fine, and --status-json - is standard error.
	if _, code, stderr := captured(t, "198.19.0.1", "-p", "80", "-o", "a.txt", "-oJ", "b.json", "--pcap", "c.pcap", "--status-json", "-"); code != exitOK {
		t.Errorf("distinct files: exit %d: %s", code, stderr)
	}
}

// TestOutputDash: "-" is standard output for -o and every -oX-style flag; one
// output at most may go there (the main format does when -o is not given).
func TestOutputDash(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "r.txt")
	for _, f := range []string{"oJ", "oX", "oG", "oC", "oL"} {
		s, code, stderr := captured(t, "198.19.0.1", "-p", "80", "-o", file, "-"+f, "-")
		if code != exitOK || len(s.extra) != 1 || s.extra[0].file != "-" {
			t.Errorf("-o FILE -%s -: exit %d %+v: %s", f, code, s.extra, stderr)
		}
		_, code, stderr = captured(t, "198.19.0.1", "-p", "80", "-"+f, "-")
		if msg := strings.TrimSpace(stderr); code != exitUsage || strings.Contains(msg, "\n") || !strings.Contains(msg, "standard output") {
			t.Errorf("-%s - without -o: exit %d, %q; want 2: two outputs on standard output", f, code, msg)
		}
	}
	if s, code, stderr := captured(t, "198.19.0.1", "-p", "80", "-o", "-"); code != exitOK || s.output != "-" {
		t.Errorf("-o -: exit %d: %s", code, stderr)
	}
	if _, code, _ := captured(t, "198.19.0.1", "-p", "80", "-o", "-", "-oJ", "-"); code != exitUsage {
		t.Errorf("-o - -oJ -: exit %d, want 2", code)
	}
	if _, code, _ := captured(t, "198.19.0.1", "-p", "80", "-oJ", "-", "-oX", "-", "-o", file); code != exitUsage {
		t.Errorf("-oJ - -oX -: exit %d, want 2", code)
	}

	// The writers: -o FILE -oJ - puts JSON lines on standard output, text in FILE.
	s, code, stderr := captured(t, "198.19.0.5", "-p", "22", "-o", file, "-oJ", "-")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var stdout strings.Builder
	w, closeFiles, err := openOutputsFor(&s, &stdout, scanInfo(&s), nil)
	if err != nil {
		t.Fatal(err)
	}
	r := result.Result{IP: s.cfg.Targets.At(0), Port: 22, Proto: result.TCP, State: result.Open, Reason: result.ReasonSYNACK}
	w.Write(&r)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	closeFiles()
	text, _ := os.ReadFile(file)
	if !strings.HasPrefix(stdout.String(), `{"schema_version":2,"ip":"198.19.0.5","port":22`) || !strings.HasPrefix(string(text), "198.19.0.5      22/tcp") {
		t.Errorf("stdout %q, file %q", stdout.String(), text)
	}
}

// TestInputFileStdin: -iL - reads the targets from standard input.
func TestInputFileStdin(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdin
	os.Stdin = r
	defer func() { os.Stdin = old; r.Close() }()
	go func() {
		io.WriteString(w, "# lab\n198.19.0.1\n198.19.1.0/30\n")
		w.Close()
	}()
	s, code, stderr := captured(t, "-iL", "-", "-p", "80")
	if code != exitOK || s.cfg.Targets.Len() != 5 {
		t.Fatalf("-iL -: exit %d, %d targets: %s", code, s.cfg.Targets.Len(), stderr)
	}
}

// failingWriter fails every Write after ok results with err.
type failingWriter struct {
	ok     int
	err    error
	writes int
	closed bool
}

func (f *failingWriter) Write(*result.Result) error {
	if f.writes++; f.writes > f.ok {
		return f.err
	}
	return nil
}
func (f *failingWriter) Flush() error { return nil }
func (f *failingWriter) Close() error { f.closed = true; return nil }

// TestOutputSetFailure: an output that fails stops the scan once, through fail,
// with an error naming its file; the other outputs still get every result and are
// closed; the failed one is not written again.
func TestOutputSetFailure(t *testing.T) {
	bad := &failingWriter{ok: 2, err: fmt.Errorf("writing results: %w", syscall.ENOSPC)}
	good := &failingWriter{ok: 1 << 30}
	var causes []error
	set := &outputSet{outs: []*namedOutput{{file: "/full/r.json", w: bad}, {file: "r.xml", w: good}},
		fail: func(err error) { causes = append(causes, err) }}
	var r result.Result
	for i := 0; i < 10; i++ {
		if err := set.Write(&r); err != nil {
			t.Fatal(err)
		}
	}
	err := set.Close()
	if len(causes) != 1 || err == nil || causes[0] != err {
		t.Fatalf("fail called %d times (%v), Close %v", len(causes), causes, err)
	}
	if want := `cannot write output file "/full/r.json": no space left on device`; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if bad.writes != 3 || bad.closed || good.writes != 10 || !good.closed {
		t.Errorf("failed output: %d writes, closed %v; good one: %d writes, closed %v", bad.writes, bad.closed, good.writes, good.closed)
	}
}

// TestEndStatus: the exit status of a scan stopped by a signal, a broken standard
// output or another output error.
func TestEndStatus(t *testing.T) {
	signalled := func(sig syscall.Signal) context.Context {
		ctx, cancel := context.WithCancelCause(context.Background())
		cancel(signalCause{sig})
		return ctx
	}
	enospc := &outputError{file: "r.json", err: syscall.ENOSPC}
	epipe := &outputError{err: syscall.EPIPE}
	failed, cancel := context.WithCancelCause(context.Background())
	cancel(enospc)
	for _, c := range []struct {
		name        string
		ctx         context.Context
		err         error
		interrupted bool
		want        int
		msg         string
	}{
		{"done", context.Background(), nil, false, exitOK, ""},
		{"SIGINT", signalled(syscall.SIGINT), nil, true, 130, ""},
		{"SIGTERM", signalled(syscall.SIGTERM), nil, true, 143, ""},
		{"SIGHUP", signalled(syscall.SIGHUP), nil, true, 129, ""},
		{"SIGHUP then a terminal gone", signalled(syscall.SIGHUP), &outputError{err: syscall.EIO}, true, 129, "cannot write to standard output: input/output error"},
		{"EPIPE", failed, epipe, true, 141, ""},
		{"ENOSPC", failed, enospc, true, exitFailure, `cannot write output file "r.json": no space left on device`},
	} {
		err := endStatus(c.ctx, c.err, c.interrupted)
		code, msg := exitOK, ""
		var ec cli.ExitCoder
		if errors.As(err, &ec) {
			code, msg = ec.ExitCode(), err.Error()
		}
		if code != c.want || msg != c.msg {
			t.Errorf("%s: exit %d %q, want %d %q", c.name, code, msg, c.want, c.msg)
		}
	}
}

package main

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/fastscan/fastscan/output"
	"github.com/fastscan/fastscan/result"
)

// TestFormatFlagsFromTable: every format of output.Formats with a file flag is
// accepted on the command line, with one dash or two, and writes its own format to
// the file; every format is a valid --format; --help offers them all.
func TestFormatFlagsFromTable(t *testing.T) {
	digits := regexp.MustCompile(`[0-9]+`)
	r := result.Result{IP: netip.MustParseAddr("198.19.0.5"), Port: 22, Proto: result.TCP, State: result.Open, Reason: result.ReasonSYNACK, TTL: 64,
		TimeNanos: 1795345200e9, SourceIP: netip.MustParseAddr("198.18.0.1"), SourcePort: 61000}
	n := 0
	for _, f := range output.Formats() {
		s, code, stderr := captured(t, "198.19.0.5", "-p", "22", "--format", f.Name)
		if code != exitOK || s.format != f.Name {
			t.Errorf("--format %s: exit %d, format %q: %s", f.Name, code, s.format, stderr)
		}
		if f.Flag == "" {
			continue
		}
		n++
		for _, dash := range []string{"-", "--"} {
			file := filepath.Join(t.TempDir(), "out."+f.Name)
			s, code, stderr := captured(t, "198.19.0.5", "-p", "22", dash+f.Flag, file, "-q")
			if code != exitOK || len(s.extra) != 1 || s.extra[0] != (extraOutput{flag: f.Flag, format: f.Name, file: file}) {
				t.Errorf("%s%s FILE: exit %d, extra outputs %+v: %s", dash, f.Flag, code, s.extra, stderr)
				continue
			}
			scan := scanInfo(&s)
			w, closeFiles, err := openOutputsFor(&s, &bytes.Buffer{}, scan, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Write(&r); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			closeFiles()
			got, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var want bytes.Buffer
			ww, err := output.New(f.Name, &want, output.Options{Services: s.services, Scan: scan})
			if err != nil {
				t.Fatal(err)
			}
			ww.Write(&r)
			ww.Close()
			// Times of day (XML's end, elapsed seconds) may differ; nothing else.
			if g, w := digits.ReplaceAll(got, []byte("0")), digits.ReplaceAll(want.Bytes(), []byte("0")); len(got) == 0 || !bytes.Equal(g, w) {
				t.Errorf("%s%s FILE wrote\n%s\nwant %s:\n%s", dash, f.Flag, got, f.Name, want.Bytes())
			}
		}
	}
	if n != 5 {
		t.Errorf("%d formats have a file flag, want 5 (oJ, oC, oL, oX, oG)", n)
	}

	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"fastscan", "--help"}, &stdout, &stderr, nil); code != exitOK {
		t.Fatalf("--help exit %d", code)
	}
	help := stdout.String()
	for _, f := range output.Formats() {
		if !strings.Contains(help, f.Name) {
			t.Errorf("--help does not offer --format %s", f.Name)
		}
		if f.Flag != "" && !strings.Contains(help, "-"+f.Flag+" FILE") {
			t.Errorf("--help lacks -%s FILE", f.Flag)
		}
	}
	if !strings.Contains(help, "output FORMAT: text, jsonl, ecs, csv, list, xml or grepable") {
		t.Errorf("--help's --format line changed:\n%s", help)
	}
}

package citest_test

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/fastscan/fastscan/citest"
)

// fakeTB records how a helper ended the test. Like testing's, its Fatalf and
// Skipf stop the goroutine.
type fakeTB struct {
	testing.TB
	failed, skipped bool
	msg             string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed, f.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (f *fakeTB) Skipf(format string, args ...any) {
	f.skipped, f.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls fn with a fake TB on a goroutine of its own and reports how it
// ended; stopped is false when fn returned normally.
func run(fn func(tb testing.TB)) (f *fakeTB, stopped bool) {
	f = &fakeTB{}
	done := make(chan bool)
	go func() {
		returned := false
		defer func() { done <- !returned }()
		fn(f)
		returned = true
	}()
	return f, <-done
}

func TestSkip(t *testing.T) {
	for _, c := range []struct {
		ci              string
		failed, skipped bool
		says            string
	}{
		{ci: "true", failed: true, says: "tool 7 is missing; CI=true, so failing instead of skipping"},
		{ci: "", skipped: true, says: "skipping: tool 7 is missing (with CI=true this fails)"},
		{ci: "1", skipped: true, says: "skipping: tool 7 is missing"}, // only "true" is CI
	} {
		t.Setenv("CI", c.ci)
		f, stopped := run(func(tb testing.TB) { citest.Skip(tb, "tool %d is missing", 7) })
		if !stopped || f.failed != c.failed || f.skipped != c.skipped || !strings.HasPrefix(f.msg, c.says) {
			t.Errorf("CI=%q: stopped %v, failed %v, skipped %v, message %q; want failed %v, skipped %v, message %q",
				c.ci, stopped, f.failed, f.skipped, f.msg, c.failed, c.skipped, c.says)
		}
	}
}

func TestRequireRoot(t *testing.T) {
	t.Setenv("CI", "true")
	f, stopped := run(citest.RequireRoot)
	if root := os.Geteuid() == 0; stopped == root || f.failed == root {
		t.Errorf("root %v: stopped %v, failed %v (%q)", root, stopped, f.failed, f.msg)
	}
	if stopped && !strings.Contains(f.msg, "needs root") {
		t.Errorf("message %q does not say the test needs root", f.msg)
	}
}

func TestRequireTool(t *testing.T) {
	t.Setenv("CI", "")
	var path string
	f, stopped := run(func(tb testing.TB) { path = citest.RequireTool(tb, "sh") })
	if stopped || !strings.HasSuffix(path, "/sh") {
		t.Errorf("RequireTool(sh) = %q, stopped %v (%q)", path, stopped, f.msg)
	}
	f, stopped = run(func(tb testing.TB) { citest.RequireTool(tb, "fastscan-no-such-tool") })
	if !stopped || !f.skipped || !strings.Contains(f.msg, "fastscan-no-such-tool is not installed") {
		t.Errorf("RequireTool(missing): stopped %v, skipped %v, message %q", stopped, f.skipped, f.msg)
	}
}

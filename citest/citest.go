// Package citest decides what a test does when something it needs is
// missing (root, a system tool, a data file): locally it skips with a
// message, but when the environment variable CI is "true" it fails, so that
// no test silently vanishes from a CI run.
package citest

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// Skip skips tb with the formatted message, or fails it (Fatal) when the
// environment variable CI is "true". Either way the test stops, and the
// message says which of the two happened and why.
func Skip(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		tb.Fatalf("%s; CI=true, so failing instead of skipping", msg)
		return // only a fake tb returns from Fatalf
	}
	tb.Skipf("skipping: %s (with CI=true this fails)", msg)
}

// RequireRoot returns if the process runs as root and otherwise calls [Skip]:
// the test needs CAP_NET_ADMIN and CAP_NET_RAW to build network namespaces
// and open raw sockets.
func RequireRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		Skip(tb, "this test needs root (CAP_NET_ADMIN, CAP_NET_RAW) for network namespaces and raw sockets; run it as root, e.g. sudo go test")
	}
}

// RequireTool returns the path of the program name (looked up in PATH) and
// otherwise calls [Skip]: the tests' system tools are installed by
// scripts/install-deps.sh.
func RequireTool(tb testing.TB, name string) string {
	tb.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		Skip(tb, "%s is not installed (scripts/install-deps.sh installs it, as root)", name)
	}
	return path
}

// Package labtest holds test helpers for tests that need the lab: a root
// check that skips locally but fails under CI, and a one-call lab for a test.
package labtest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/fastscan/fastscan/lab"
)

// upTimeout bounds how long Start waits for a lab to come up.
const upTimeout = 60 * time.Second

// RequireRoot skips the test with a clear message when the process is not
// root. When the environment variable CI is "true" the test fails instead,
// so that CI never silently skips the lab tests.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	const msg = "this test needs root: it builds network namespaces (run it as root, e.g. sudo go test)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + "; CI=true, so not skipping")
	}
	t.Skip(msg)
}

// Start requires root, brings a lab up and tears it down when the test and
// its subtests end. It fails the test if the lab cannot be built or torn down.
func Start(t testing.TB) *lab.Lab {
	t.Helper()
	RequireRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), upTimeout)
	defer cancel()
	l, err := lab.Up(ctx)
	if err != nil {
		t.Fatalf("lab up: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Down(); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	return l
}

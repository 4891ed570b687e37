// Package labtest holds the test helper for tests that need the lab: a
// one-call lab for a test, which requires root (skipping locally, failing
// under CI).
package labtest

import (
	"context"
	"testing"
	"time"

	"github.com/fastscan/fastscan/citest"
	"github.com/fastscan/fastscan/lab"
)

// upTimeout bounds how long Start waits for a lab to come up.
const upTimeout = 60 * time.Second

// Start requires root ([citest.RequireRoot]), brings a lab up and tears it down when the test and
// its subtests end. It fails the test if the lab cannot be built or torn down.
func Start(t testing.TB) *lab.Lab {
	t.Helper()
	citest.RequireRoot(t)
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

package netns_test

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/fastscan/fastscan/afpacket/afpackettest"
	"github.com/fastscan/fastscan/citest"
	"github.com/fastscan/fastscan/netns"
)

// newNamespace creates a network namespace (afpackettest.NewNetns) holding
// a veth pair, nsveth0 and nsveth1, deleted when the test ends.
func newNamespace(t *testing.T) string {
	t.Helper()
	citest.RequireRoot(t)
	n := afpackettest.NewNetns(t)
	n.IP(t, "link", "add", "nsveth0", "type", "veth", "peer", "name", "nsveth1")
	return n.Name
}

func interfaces() (string, error) {
	ifs, err := net.Interfaces()
	var names []string
	for _, i := range ifs {
		names = append(names, i.Name)
	}
	slices.Sort(names)
	return strings.Join(names, ","), err
}

// threadNamespaces counts the process's threads by the network namespace
// they are in (the target of /proc/self/task/TID/ns/net).
func threadNamespaces(t *testing.T) map[string]int {
	t.Helper()
	tasks, err := filepath.Glob("/proc/self/task/*/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, task := range tasks {
		if ns, err := os.Readlink(task); err == nil { // a thread may exit meanwhile
			count[ns]++
		}
	}
	return count
}

func TestDoRunsInsideTheNamespaceOnly(t *testing.T) {
	name := newNamespace(t)
	before, err := interfaces()
	if err != nil {
		t.Fatal(err)
	}
	var inside string
	if err := netns.Do(name, func() (err error) { inside, err = interfaces(); return err }); err != nil {
		t.Fatal(err)
	}
	if inside != "lo,nsveth0,nsveth1" {
		t.Errorf("interfaces inside the namespace: %s, want lo,nsveth0,nsveth1", inside)
	}
	if after, err := interfaces(); err != nil || after != before {
		t.Errorf("the caller's namespace changed: interfaces %s, then %s (%v)", before, after, err)
	}
}

func TestDoErrors(t *testing.T) {
	name := newNamespace(t)
	sentinel := errors.New("sentinel")
	if err := netns.Do(name, func() error { return sentinel }); !errors.Is(err, sentinel) {
		t.Errorf("Do returned %v, want fn's error", err)
	}
	if err := netns.Do(name, func() error { runtime.Goexit(); return nil }); err == nil || !strings.Contains(err.Error(), "did not return") {
		t.Errorf("Do returned %v for a function that never returned", err)
	}
}

func TestDoUnknownNamespace(t *testing.T) {
	err := netns.Do("fsn-no-such-namespace", func() error {
		t.Error("fn ran although the namespace does not exist")
		return nil
	})
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Do(unknown) = %v, want a not-exist error", err)
	}
}

func TestDoRejectsPaths(t *testing.T) {
	for _, name := range []string{"", ".", "..", "../proc/1/ns/net", "a/b"} {
		if err := netns.Do(name, func() error { t.Errorf("fn ran for %q", name); return nil }); err == nil {
			t.Errorf("Do(%q) accepted", name)
		}
	}
}

// TestDoLeavesNoThreadInside runs many functions in the namespace at once,
// some of which do not return, and then checks that every thread of the
// process is back in the caller's namespace.
func TestDoLeavesNoThreadInside(t *testing.T) {
	name := newNamespace(t)
	self, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() {
			_ = netns.Do(name, func() error {
				if i%8 == 0 {
					runtime.Goexit()
				}
				return nil
			})
		})
	}
	wg.Wait()
	runtime.Gosched()
	for ns, n := range threadNamespaces(t) {
		if ns != self {
			t.Errorf("%d threads are still in %s (the caller is in %s)", n, ns, self)
		}
	}
}

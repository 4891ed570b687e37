// Package netns runs code inside a named Linux network namespace: the one
// way the project's lab, test helpers and tests enter a namespace in-process.
//
// A network namespace belongs to an OS thread, not to a goroutine, so [Do]
// runs the function on a goroutine locked to its thread, and that thread
// goes back to the Go scheduler only once it is back in its original
// namespace. No other code ever runs in the namespace by accident.
package netns

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// Dir is where iproute2 (`ip netns add`) keeps the named network namespaces.
const Dir = "/run/netns"

// Do runs fn on an OS thread that has entered the network namespace name (a
// name under [Dir]) and returns fn's error.
//
// fn runs on a goroutine of its own, locked to its thread; goroutines fn
// starts run in the caller's namespace, not in name. Sockets fn opens belong
// to the namespace for their whole life, whichever thread uses them later.
// After fn the thread returns to the namespace it came from and is unlocked;
// if it cannot return, it stays locked and the runtime destroys it when the
// goroutine exits, so it never runs other code in the namespace.
//
// Do returns an error wrapping [fs.ErrNotExist] if the namespace does not
// exist (fn is not called then), and an error if fn did not return (it
// called [runtime.Goexit], e.g. through t.FailNow).
func Do(name string, fn func() error) error {
	if name == "" || name == "." || name == ".." || strings.ContainsRune(name, '/') {
		return fmt.Errorf("netns: invalid namespace name %q", name)
	}
	errc := make(chan error, 1)
	go run(name, fn, errc)
	return <-errc
}

// run is Do's goroutine: it sends exactly one error on errc.
func run(name string, fn func() error, errc chan<- error) {
	runtime.LockOSThread()
	// /proc/thread-self is this (locked) thread, not the process's main thread.
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		errc <- fmt.Errorf("netns: open current namespace: %w", err)
		return
	}
	defer orig.Close()
	if err := enter(filepath.Join(Dir, name)); err != nil {
		// setns failed or never ran: the thread is still where it was.
		runtime.UnlockOSThread()
		errc <- fmt.Errorf("netns: enter namespace %s: %w", name, err)
		return
	}
	// Left as it is if fn calls runtime.Goexit.
	err = fmt.Errorf("netns: function in namespace %s did not return", name)
	defer func() {
		// Back first, so the thread has left the namespace when Do returns.
		if unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		} // else: the goroutine exits locked and the runtime destroys the thread
		errc <- err
	}()
	err = fn()
}

// enter switches the current thread to the network namespace at path.
func enter(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
}

// Package privdrop gives up a process's privileges for the rest of its life, once
// it holds the sockets and files it needs: it switches a process started as root to
// an unprivileged user and clears every capability, on every thread.
//
// On Linux, user and group ids, capabilities, the capability bounding set, the
// no_new_privs flag and the keep-capabilities flag all belong to a thread, not to the
// process. Go runs goroutines on many threads, so a change made on one thread only
// would leave the others privileged. The user and group switch goes through the Go
// runtime (syscall.Setresuid and friends change every thread); the other settings are
// applied with syscall.AllThreadsSyscall. A binary built with cgo cannot use
// AllThreadsSyscall: there the switch from root still clears the effective,
// permitted and ambient capabilities of every thread (the kernel does it when all
// user ids leave 0), but the bounding set and no_new_privs reach only the calling
// thread, and a process that is not root but holds capabilities (setcap) cannot
// drop them on every thread, which Drop reports as an error. Drop checks the result
// in /proc/self/task/*/status before it returns.
package privdrop

import (
	"errors"
	"fmt"
	"strconv"
)

// Nobody is the user and group id of the unprivileged user nobody (and its group
// nogroup), which a process started as root without sudo becomes.
const Nobody = 65534

// Creds is a user and group to run as.
type Creds struct {
	UID, GID int
	// FromSudo says they are the user who ran sudo (SUDO_UID, SUDO_GID): the
	// files the process created as root should be given to that user.
	FromSudo bool
}

// Choose returns whom a process started as root becomes: the user who ran sudo, as
// SUDO_UID and SUDO_GID in the environment getenv reads, else nobody. A SUDO_UID of 0
// (root running sudo) means nobody too, and a missing or zero SUDO_GID the group
// nogroup (65534), so the result never keeps id 0. A SUDO_UID or SUDO_GID that is not
// a user or group id is an error rather than a silent fallback.
func Choose(getenv func(string) string) (Creds, error) {
	c := Creds{UID: Nobody, GID: Nobody}
	u, err := parseID("SUDO_UID", getenv("SUDO_UID"))
	if err != nil || u <= 0 {
		return c, err
	}
	g, err := parseID("SUDO_GID", getenv("SUDO_GID"))
	if err != nil {
		return c, err
	}
	c.UID, c.FromSudo = u, true
	if g > 0 {
		c.GID = g
	}
	return c, nil
}

// parseID reads a user or group id from the environment variable name; -1 when the
// variable is not set.
func parseID(name, v string) (int, error) {
	if v == "" {
		return -1, nil
	}
	// Ids are 32 bits and (uint32)(-1) means "unchanged" to setresuid.
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil || n == 1<<32-1 {
		return -1, fmt.Errorf("%s=%q is not a numeric id", name, v)
	}
	return int(n), nil
}

// Result says what Drop did.
type Result struct {
	// Switched: the process ran as root and now runs as the Creds given.
	Switched bool
	// Dropped: the process held capabilities and now holds none.
	Dropped bool
	// BoundingCleared: the capability bounding set is empty (this needs
	// CAP_SETPCAP, which root has and a setcap'd binary usually does not).
	BoundingCleared bool
	// AllThreads: the per-thread settings (bounding set, no_new_privs, the
	// capability sets of a process that was not root) reached every thread; false
	// in a binary built with cgo.
	AllThreads bool
}

// Nothing reports whether there was nothing to give up: the process was neither
// root nor held any capability.
func (r Result) Nothing() bool { return !r.Switched && !r.Dropped }

// ErrUnsupported is returned by Drop where it does not know how to drop privileges.
var ErrUnsupported = errors.New("privdrop: dropping privileges is not supported on this system")

package privdrop

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Drop gives up the process's privileges for good: when it runs as root (any of
// its user ids 0) it switches every thread to the user and group of to, with no
// supplementary groups; it empties the capability bounding set (when it may: with
// CAP_SETPCAP), clears the effective, permitted, inheritable and ambient
// capabilities, turns keep-capabilities off and sets no_new_privs, so that no
// execve can give anything back. It then reads every thread's status from
// /proc/self/task and fails if any thread still holds a capability or, after a
// switch, another user or group.
//
// A process that is neither root nor holds a capability has nothing to drop:
// Drop sets no_new_privs and returns a Result whose Nothing is true. to must not
// be root.
func Drop(to Creds) (Result, error) {
	var res Result
	if to.UID <= 0 || to.GID <= 0 {
		return res, fmt.Errorf("privdrop: refusing to switch to user %d group %d", to.UID, to.GID)
	}
	// The per-thread steps below act on this thread when they cannot act on all.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	ruid, euid, suid := unix.Getresuid()
	root := ruid == 0 || euid == 0 || suid == 0
	self, err := readStatus("/proc/thread-self/status")
	if err != nil {
		return res, err
	}
	held := self.CapEff|self.CapPrm|self.CapInh|self.CapAmb != 0
	res.AllThreads = AllThreadsSupported()
	each := func(trap, a1, a2, a3 uintptr) error {
		var errno syscall.Errno
		if res.AllThreads {
			_, _, errno = syscall.AllThreadsSyscall(trap, a1, a2, a3)
		} else {
			_, _, errno = unix.RawSyscall(trap, a1, a2, a3)
		}
		if errno != 0 {
			return errno
		}
		return nil
	}
	if !root && !held {
		// Nothing to give up; no_new_privs still keeps an execve from gaining any.
		_ = each(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0)
		return res, nil
	}

	if err := each(unix.SYS_PRCTL, unix.PR_SET_KEEPCAPS, 0, 0); err != nil {
		return res, fmt.Errorf("privdrop: prctl(PR_SET_KEEPCAPS, 0): %w", err)
	}
	if self.CapEff&(1<<unix.CAP_SETPCAP) != 0 {
		// Drop every capability the kernel knows, up to the first it does not
		// (EINVAL on this thread, before any other thread is touched).
		for c := uintptr(0); c < 64; c++ {
			err := each(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, c, 0)
			if errors.Is(err, unix.EINVAL) && c > 0 {
				break
			}
			if err != nil {
				return res, fmt.Errorf("privdrop: prctl(PR_CAPBSET_DROP, %d): %w", c, err)
			}
		}
		res.BoundingCleared = true
	}
	if root {
		// The Go runtime applies these to every thread (through libc with cgo).
		if err := syscall.Setgroups([]int{}); err != nil {
			return res, fmt.Errorf("privdrop: setgroups: %w", err)
		}
		if err := syscall.Setresgid(to.GID, to.GID, to.GID); err != nil {
			return res, fmt.Errorf("privdrop: setresgid(%d): %w", to.GID, err)
		}
		if err := syscall.Setresuid(to.UID, to.UID, to.UID); err != nil {
			return res, fmt.Errorf("privdrop: setresuid(%d): %w", to.UID, err)
		}
		res.Switched = true
	}
	// With every user id non-zero the kernel has cleared the effective, permitted
	// and ambient sets; capset clears the inheritable set too, and the sets of a
	// process that was not root.
	if err := each(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0); err != nil && !errors.Is(err, unix.EINVAL) {
		return res, fmt.Errorf("privdrop: prctl(PR_CAP_AMBIENT_CLEAR_ALL): %w", err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	err = each(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0)
	runtime.KeepAlive(&hdr)
	runtime.KeepAlive(&data)
	if err != nil {
		return res, fmt.Errorf("privdrop: capset: %w", err)
	}
	res.Dropped = held
	if err := each(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0); err != nil {
		return res, fmt.Errorf("privdrop: prctl(PR_SET_NO_NEW_PRIVS): %w", err)
	}
	return res, verify(res, to)
}

// verify checks every thread of the process against what Drop did.
func verify(res Result, to Creds) error {
	threads, err := Threads(0)
	if err != nil {
		return err
	}
	for _, t := range threads {
		if err := t.check(res, to); err != nil {
			if !res.AllThreads {
				err = fmt.Errorf("%w (this fastscan was built with cgo, which keeps it from changing every thread: build it with CGO_ENABLED=0)", err)
			}
			return err
		}
	}
	return nil
}

// check reports how t differs from what res promises.
func (t Thread) check(res Result, to Creds) error {
	fail := func(what string, v any) error {
		return fmt.Errorf("privdrop: thread %d still has %s %v", t.TID, what, v)
	}
	if res.Switched {
		for _, id := range t.UID {
			if id != to.UID {
				return fail("user ids", t.UID)
			}
		}
		for _, id := range t.GID {
			if id != to.GID {
				return fail("group ids", t.GID)
			}
		}
		if len(t.Groups) != 0 {
			return fail("supplementary groups", t.Groups)
		}
	}
	for _, c := range []struct {
		name string
		set  uint64
	}{{"CapEff", t.CapEff}, {"CapPrm", t.CapPrm}, {"CapInh", t.CapInh}, {"CapAmb", t.CapAmb}} {
		if c.set != 0 {
			return fail(c.name, fmt.Sprintf("%016x", c.set))
		}
	}
	if res.AllThreads {
		if res.BoundingCleared && t.CapBnd != 0 {
			return fail("CapBnd", fmt.Sprintf("%016x", t.CapBnd))
		}
		if !t.NoNewPrivs {
			return fail("NoNewPrivs", 0)
		}
	}
	return nil
}

// AllThreadsSupported reports whether per-thread settings can be applied to every
// thread of this process (syscall.AllThreadsSyscall): false in a binary built with
// cgo.
func AllThreadsSupported() bool {
	// getpid returns the same on every thread, as AllThreadsSyscall requires.
	_, _, errno := syscall.AllThreadsSyscall(unix.SYS_GETPID, 0, 0, 0)
	return errno != unix.ENOTSUP
}

// Thread is one thread's credentials, as /proc/PID/task/TID/status shows them.
type Thread struct {
	TID      int
	UID, GID [4]int // real, effective, saved, filesystem
	Groups   []int
	CapInh   uint64
	CapPrm   uint64
	CapEff   uint64
	CapBnd   uint64
	CapAmb   uint64
	// NoNewPrivs is the thread's no_new_privs flag.
	NoNewPrivs bool
}

// Threads reads the credentials of every thread of process pid (0: this process)
// from /proc/PID/task/*/status. Threads that end while it reads are left out.
func Threads(pid int) ([]Thread, error) {
	dir := "/proc/self/task"
	if pid != 0 {
		dir = fmt.Sprintf("/proc/%d/task", pid)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("privdrop: %w", err)
	}
	var threads []Thread
	for _, e := range entries {
		t, err := readStatus(filepath.Join(dir, e.Name(), "status"))
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ESRCH) {
			continue
		}
		if err != nil {
			return nil, err
		}
		threads = append(threads, t)
	}
	if len(threads) == 0 {
		return nil, fmt.Errorf("privdrop: no thread in %s", dir)
	}
	return threads, nil
}

// readStatus parses the fields of a /proc status file that Thread holds.
func readStatus(name string) (Thread, error) {
	var t Thread
	f, err := os.Open(name)
	if err != nil {
		return t, fmt.Errorf("privdrop: %w", err)
	}
	defer f.Close()
	seen := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(value)
		var perr error
		switch key {
		case "Pid":
			t.TID, perr = strconv.Atoi(strings.TrimSpace(value))
		case "Uid":
			perr = parseIDs(fields, &t.UID)
		case "Gid":
			perr = parseIDs(fields, &t.GID)
		case "Groups":
			for _, g := range fields {
				n, err := strconv.Atoi(g)
				if err != nil {
					perr = err
				}
				t.Groups = append(t.Groups, n)
			}
		case "CapInh":
			t.CapInh, perr = parseCaps(fields)
		case "CapPrm":
			t.CapPrm, perr = parseCaps(fields)
		case "CapEff":
			t.CapEff, perr = parseCaps(fields)
		case "CapBnd":
			t.CapBnd, perr = parseCaps(fields)
		case "CapAmb":
			t.CapAmb, perr = parseCaps(fields)
		case "NoNewPrivs":
			t.NoNewPrivs = strings.TrimSpace(value) == "1"
		default:
			continue
		}
		if perr != nil {
			return t, fmt.Errorf("privdrop: %s: %s: %v", name, key, perr)
		}
		seen++
	}
	if err := sc.Err(); err != nil {
		return t, fmt.Errorf("privdrop: %s: %w", name, err)
	}
	if seen < 10 {
		return t, fmt.Errorf("privdrop: %s: %d of the expected fields", name, seen)
	}
	return t, nil
}

// parseIDs reads the four ids of a Uid or Gid line.
func parseIDs(fields []string, dst *[4]int) error {
	if len(fields) != 4 {
		return fmt.Errorf("want 4 ids, got %d", len(fields))
	}
	for i, f := range fields {
		n, err := strconv.Atoi(f)
		if err != nil {
			return err
		}
		dst[i] = n
	}
	return nil
}

// parseCaps reads the hexadecimal capability set of a Cap* line.
func parseCaps(fields []string) (uint64, error) {
	if len(fields) != 1 {
		return 0, errors.New("want one hexadecimal set")
	}
	return strconv.ParseUint(fields[0], 16, 64)
}

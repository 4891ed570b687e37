package lab

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fastscan/fastscan/netns"
)

// NamePrefix starts the name of every namespace a lab creates; it is followed
// by a random hex id unique to the lab, a dash and the namespace's role
// ("s", "r", "w", "h1"..., "b" for the AnyIP nginx's), e.g. "fsl3fa9c1-s".
const NamePrefix = "fsl"

// IsLabNamespace reports whether name is the name of a namespace that a lab
// creates (of any lab instance): NamePrefix, six lower-case hex digits, a
// dash and a role ("s", "r", "w", "b", or "h" and digits).
func IsLabNamespace(name string) bool {
	id, role, ok := strings.Cut(name, "-")
	if !ok || len(id) != len(NamePrefix)+6 || !strings.HasPrefix(id, NamePrefix) {
		return false
	}
	for _, c := range id[len(NamePrefix):] {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	switch {
	case role == "s", role == "r", role == "w", role == "b":
		return true
	case len(role) > 1 && role[0] == 'h':
		return strings.Trim(role[1:], "0123456789") == ""
	}
	return false
}

// newLabID returns a fresh random name prefix for one lab, e.g. "fsl3fa9c1".
func newLabID() (string, error) {
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("lab: random id: %w", err)
	}
	return NamePrefix + hex.EncodeToString(b[:]), nil
}

// runIP runs `ip args...` and returns its error with ip's stderr attached.
func runIP(ctx context.Context, args ...string) error {
	return runTool(ctx, nil, "ip", args...)
}

// runTool runs a command with optional standard input and wraps a failure
// with the command line and its output.
func runTool(ctx context.Context, stdin []byte, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("lab: %s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

// writeSysctl writes value to the sysctl key (dotted, e.g.
// "net.ipv4.ip_forward") of the current thread's network namespace.
func writeSysctl(key, value string) error {
	path := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
	if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
		return fmt.Errorf("lab: sysctl %s=%s: %w", key, value, err)
	}
	return nil
}

// readSysctl reads a sysctl of the current thread's network namespace.
func readSysctl(key string) (string, error) {
	b, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(key, ".", "/"))
	if err != nil {
		return "", fmt.Errorf("lab: read sysctl %s: %w", key, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// LeftoverNamespaces lists the namespaces under /run/netns that some lab
// created (of any lab instance, including live ones of other processes).
func LeftoverNamespaces() ([]string, error) {
	entries, err := os.ReadDir(netns.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lab: list namespaces: %w", err)
	}
	var names []string
	for _, e := range entries {
		if IsLabNamespace(e.Name()) {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// RemoveNamespaces ends the processes still running in the named namespaces
// (KillNamespaceProcesses: the real servers of a lab whose owner was killed
// outlive it and would keep the namespace alive without its name), then
// deletes the namespaces with `ip netns delete`, skipping names that are not
// lab namespaces. It tries every name and returns the errors joined.
func RemoveNamespaces(ctx context.Context, names []string) error {
	var errs []error
	var labNames []string
	for _, n := range names {
		if !IsLabNamespace(n) {
			errs = append(errs, fmt.Errorf("lab: %q is not a lab namespace", n))
			continue
		}
		labNames = append(labNames, n)
	}
	if err := KillNamespaceProcesses(labNames); err != nil {
		errs = append(errs, err)
	}
	for _, n := range labNames {
		if err := deleteNamespace(ctx, n); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// killWait bounds how long KillNamespaceProcesses waits after SIGTERM before
// it sends SIGKILL.
const killWait = 5 * time.Second

// NamespacePIDs returns the processes whose network namespace is the named
// one (as `ip netns pids` finds them: a process's main thread); none for a
// namespace that does not exist.
func NamespacePIDs(name string) ([]int, error) {
	var want unix.Stat_t
	if err := unix.Stat(filepath.Join(netns.Dir, name), &want); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil, nil
		}
		return nil, fmt.Errorf("lab: namespace %s: %w", name, err)
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("lab: list processes: %w", err)
	}
	self := os.Getpid()
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		var st unix.Stat_t
		if unix.Stat("/proc/"+e.Name()+"/ns/net", &st) != nil {
			continue // gone, or a kernel thread
		}
		if st.Dev == want.Dev && st.Ino == want.Ino {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// KillNamespaceProcesses sends SIGTERM to every process in the named
// namespaces (NamespacePIDs; never the calling process), waits until they
// have left them, at most killWait, and sends SIGKILL to those left; then it
// waits (at most killWait again) until every process it signalled has ended
// (a process leaves its namespace early in its exit, before it is gone).
func KillNamespaceProcesses(names []string) error {
	list := func() ([]int, error) {
		var all []int
		for _, n := range names {
			pids, err := NamespacePIDs(n)
			if err != nil {
				return nil, err
			}
			all = append(all, pids...)
		}
		return all, nil
	}
	pids, err := list()
	if err != nil || len(pids) == 0 {
		return err
	}
	signalled := slices.Clone(pids)
	for _, pid := range pids {
		unix.Kill(pid, unix.SIGTERM)
	}
	deadline := time.Now().Add(killWait)
	for len(pids) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		if pids, err = list(); err != nil {
			return err
		}
	}
	for _, pid := range pids {
		unix.Kill(pid, unix.SIGKILL)
	}
	deadline = time.Now().Add(killWait)
	for slices.ContainsFunc(signalled, running) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// running reports whether process pid exists and is not a zombie.
func running(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// "pid (comm) S ...": the state follows the last ')'.
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && b[i+2] != 'Z'
}

// deleteNamespace removes one named namespace; a missing one is not an error.
func deleteNamespace(ctx context.Context, name string) error {
	if _, err := os.Stat(filepath.Join(netns.Dir, name)); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return runIP(ctx, "netns", "delete", name)
}

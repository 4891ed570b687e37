package lab_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fastscan/fastscan/citest"
	"github.com/fastscan/fastscan/lab/labtest"
	"github.com/fastscan/fastscan/netns"
)

// pidsIn returns the processes whose network namespace is ns's.
func pidsIn(t *testing.T, ns string) []int {
	t.Helper()
	var want syscall.Stat_t
	if err := syscall.Stat(filepath.Join(netns.Dir, ns), &want); err != nil {
		return nil
	}
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		var st syscall.Stat_t
		if syscall.Stat("/proc/"+e.Name()+"/ns/net", &st) == nil && st.Ino == want.Ino && st.Dev == want.Dev {
			pids = append(pids, pid)
		}
	}
	return pids
}

// The real servers run in their own namespace and Stop leaves no process
// and no namespace behind; a start that fails midway cleans up too.
func TestRealServersStopLeavesNothing(t *testing.T) {
	citest.RequireRoot(t)
	for _, tool := range []string{"sshd", "nginx", "redis-server", "smtpd", "ssh-keygen"} {
		citest.RequireTool(t, tool)
	}
	l := labtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// A directory that does not exist: the start fails after the host was made.
	_, err := l.StartRealServers(ctx, filepath.Join(t.TempDir(), "missing"))
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("start in a missing directory: %v", err)
	}
	for _, ns := range []string{l.ID() + "-h5"} {
		if _, err := os.Stat(filepath.Join(netns.Dir, ns)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("namespace %s left after a failed start (%v)", ns, err)
		}
	}

	rs, err := l.StartRealServers(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Stop()
	pids := pidsIn(t, rs.NS)
	// sshd, nginx (master and worker), redis-server, smtpd (several).
	if len(pids) < 5 {
		t.Errorf("%d processes in %s: %v", len(pids), rs.NS, pids)
	}
	for _, f := range []string{"sshd.pid", "nginx.pid", "redis.pid"} {
		if b, err := os.ReadFile(filepath.Join(rs.Dir, f)); err != nil || strings.TrimSpace(string(b)) == "" {
			t.Errorf("%s: %v: the server's pid file is not in the lab's directory", f, err)
		}
	}
	if err := rs.Stop(); err != nil {
		t.Fatal(err)
	}
	// A child that outlived its group's leader got SIGKILL and is
	// reparented: it is gone once it is a zombie (its reaper is the
	// machine's init, not the test), which can take a moment.
	for _, pid := range pids {
		deadline := time.Now().Add(3 * time.Second)
		for !goneOrZombie(pid) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if !goneOrZombie(pid) {
			cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
			t.Errorf("process %d (%q) still there after Stop", pid, cmdline)
		}
	}
	if _, err := os.Stat(filepath.Join(netns.Dir, rs.NS)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("namespace %s still there after Stop", rs.NS)
	}
	if err := rs.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

// Two real servers' hosts, in two labs, run at once (a `fastlab up` beside
// the tests): opensmtpd's control socket, whose path is built in, once made
// the second exit ("control socket already listening").
func TestRealServersTwoAtOnce(t *testing.T) {
	citest.RequireRoot(t)
	for _, tool := range []string{"sshd", "nginx", "redis-server", "smtpd", "ssh-keygen"} {
		citest.RequireTool(t, tool)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := range 2 {
		l := labtest.Start(t)
		rs, err := l.StartRealServers(ctx, t.TempDir())
		if err != nil {
			t.Fatalf("real servers %d: %v", i+1, err)
		}
		t.Cleanup(func() {
			if err := rs.Stop(); err != nil {
				t.Errorf("stop: %v", err)
			}
		})
	}
	if _, err := os.Stat("/run/smtpd.sock"); err == nil {
		t.Error("an smtpd of the lab made the machine's /run/smtpd.sock")
	}
}

// goneOrZombie reports that process pid has exited (reaped or not).
func goneOrZombie(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	// "pid (comm) S ...": the state follows the last ')'.
	i := strings.LastIndexByte(string(stat), ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}

// A host namespace whose link cannot be made is deleted again at once, not
// left for the lab's Down.
func TestAddHostNSFailureRemovesNamespace(t *testing.T) {
	citest.RequireRoot(t)
	l := labtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	name := l.ID() + "-h99"
	if err := l.AddHostNSUnlinkable(ctx, name); err == nil {
		t.Fatal("addHostNS with a missing peer namespace: no error")
	}
	if _, err := os.Stat(filepath.Join(netns.Dir, name)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("namespace %s still there after the failed addHostNS (%v)", name, err)
	}
}

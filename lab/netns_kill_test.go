package lab_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/fastscan/fastscan/citest"
	"github.com/fastscan/fastscan/lab"
	"github.com/fastscan/fastscan/lab/labtest"
)

// TestRemoveNamespacesEndsProcesses: processes left in a lab's namespaces (as
// the real servers of a `fastlab up` killed without its teardown) are found
// (NamespacePIDs agrees with /proc) and ended by RemoveNamespaces, also one
// that ignores SIGTERM, before the namespaces go.
func TestRemoveNamespacesEndsProcesses(t *testing.T) {
	citest.RequireRoot(t)
	l := labtest.Start(t)
	ns := l.HostNS(0)
	var cmds []*exec.Cmd
	exited := make(chan struct{}, 2)
	for _, script := range []string{"exec sleep 60", `trap "" TERM; sleep 60; :`} {
		cmd := exec.Command("ip", "netns", "exec", ns, "sh", "-c", script)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
		go func() { cmd.Wait(); exited <- struct{}{} }()
	}
	t.Cleanup(func() {
		for _, c := range cmds {
			c.Process.Kill()
		}
	})
	deadline := time.Now().Add(5 * time.Second)
	for len(pidsIn(t, ns)) < 3 { // sleep; sh and its sleep
		if time.Now().After(deadline) {
			t.Fatalf("processes in %s: %v", ns, pidsIn(t, ns))
		}
		time.Sleep(20 * time.Millisecond)
	}
	got, err := lab.NamespacePIDs(ns)
	if err != nil || !slices.Equal(got, pidsIn(t, ns)) {
		t.Fatalf("NamespacePIDs(%s) = %v, %v; /proc says %v", ns, got, err, pidsIn(t, ns))
	}
	start := time.Now()
	if err := lab.RemoveNamespaces(context.Background(), []string{ns}); err != nil {
		t.Fatal(err)
	}
	// Gone when it returns, not only out of the namespace.
	for _, pid := range got {
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil {
			if i := bytes.LastIndexByte(b, ')'); i < 0 || i+2 >= len(b) || b[i+2] != 'Z' {
				t.Errorf("process %d still runs after RemoveNamespaces returned: %s", pid, b)
			}
		}
	}
	for range cmds {
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			t.Fatal("a process in the namespace outlived RemoveNamespaces")
		}
	}
	t.Logf("ended in %v (one ignores SIGTERM)", time.Since(start).Round(time.Millisecond))
	if pids, err := lab.NamespacePIDs(ns); err != nil || len(pids) != 0 {
		t.Errorf("after removal: %v, %v", pids, err)
	}
}

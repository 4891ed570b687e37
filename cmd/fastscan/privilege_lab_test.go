package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fastscan/fastscan/citest"
	"github.com/fastscan/fastscan/lab"
	"github.com/fastscan/fastscan/lab/labtest"
	"github.com/fastscan/fastscan/privdrop"
)

// buildStatic builds fastscan with CGO_ENABLED=0, as make build does: the binary
// that can drop the bounding set and set no_new_privs on every thread.
func buildStatic(t *testing.T) string {
	t.Helper()
	goTool := citest.RequireTool(t, "go")
	bin := filepath.Join(t.TempDir(), "fastscan")
	cmd := exec.Command(goTool, "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestLabPrivileges starts slow lab scans as root and reads the running fastscan's
// /proc/PID/status and every /proc/PID/task/*/status: no thread is root or holds a
// capability once the scan sends, and the findings still equal the lab's truth.
func TestLabPrivileges(t *testing.T) {
	l := labtest.Start(t)
	static := buildStatic(t)
	// The test binary is fastscan too (TestMain); it uses cgo when a C compiler
	// was there to build it, and then cannot reach every thread with the
	// bounding set and no_new_privs.
	cgo := os.Args[0]

	for _, tc := range []struct {
		name   string
		bin    string
		env    []string
		want   privdrop.Creds
		static bool
	}{
		{name: "static/nobody", bin: static, want: privdrop.Creds{UID: privdrop.Nobody, GID: privdrop.Nobody}, static: true},
		{name: "static/sudo", bin: static, env: []string{"SUDO_UID=4242", "SUDO_GID=4343"}, want: privdrop.Creds{UID: 4242, GID: 4343, FromSudo: true}, static: true},
		{name: "testbinary/nobody", bin: cgo, want: privdrop.Creds{UID: privdrop.Nobody, GID: privdrop.Nobody}},
	} {
		t.Run(tc.name, func(t *testing.T) { testPrivilegeDrop(t, l, tc.bin, tc.env, tc.want, tc.static) })
	}
}

func testPrivilegeDrop(t *testing.T, l *lab.Lab, bin string, env []string, want privdrop.Creds, static bool) {
	dir := t.TempDir()
	jsonFile := filepath.Join(dir, "found.jsonl")
	existing := filepath.Join(dir, "existing.csv") // exists before: stays root's
	if err := os.WriteFile(existing, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// 256 x 3 probes at 300/s: about 2.6 s of sending, long enough to look at it.
	args := []string{"198.19.0.0/24", "-p", "22,80,1000", "-r", "300", "--show", "all", "--seed", "7",
		"--format", "jsonl", "-oJ", jsonFile, "-oC", existing}
	cmd := l.Command(ctx, bin, args...)
	cmd.Env = append(append(os.Environ(), runMainEnv+"=1"), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// ip netns exec execs fastscan: the pid is fastscan's.
	pid := cmd.Process.Pid
	var threads []privdrop.Thread
	var leader privdrop.Thread
	for {
		ts, err := privdrop.Threads(pid)
		if err == nil {
			threads = ts
			for _, th := range ts {
				if th.TID == pid {
					leader = th
				}
			}
			// The drop is a sequence of steps (user, capabilities, bounding set,
			// no_new_privs): look once the last has reached every thread, or
			// report what is there after the deadline below.
			if leader.UID[0] != 0 && leader.TID == pid && dropFinished(ts, static) {
				break
			}
		}
		if time.Since(start) > 10*time.Second {
			if leader.UID[0] != 0 {
				break // dropped root, but not all of it: the checks below say what is left
			}
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("fastscan never dropped root: threads %+v\nstderr:\n%s", ts, stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	// /proc/PID/status itself, as a user would read it.
	status, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"CapInh:\t0000000000000000", "CapPrm:\t0000000000000000", "CapEff:\t0000000000000000", "CapAmb:\t0000000000000000"} {
		if !strings.Contains(string(status), line+"\n") {
			t.Errorf("/proc/%d/status lacks %q:\n%s", pid, line, status)
		}
	}
	if len(threads) < 2 {
		t.Errorf("fastscan has %d threads: want several to check", len(threads))
	}
	for _, th := range threads {
		if th.UID != [4]int{want.UID, want.UID, want.UID, want.UID} || th.GID != [4]int{want.GID, want.GID, want.GID, want.GID} || len(th.Groups) != 0 {
			t.Errorf("thread %d: Uid %v Gid %v Groups %v, want %d and %d, no groups", th.TID, th.UID, th.GID, th.Groups, want.UID, want.GID)
		}
		if th.CapEff|th.CapPrm|th.CapInh|th.CapAmb != 0 {
			t.Errorf("thread %d: CapEff %016x CapPrm %016x CapInh %016x CapAmb %016x", th.TID, th.CapEff, th.CapPrm, th.CapInh, th.CapAmb)
		}
		if static && (th.CapBnd != 0 || !th.NoNewPrivs) {
			t.Errorf("thread %d: CapBnd %016x NoNewPrivs %v", th.TID, th.CapBnd, th.NoNewPrivs)
		}
	}
	if leader.CapBnd != 0 && static {
		t.Errorf("CapBnd %016x", leader.CapBnd)
	}
	err = cmd.Wait()
	out := scanOutput{stderr: stderr.String(), elapsed: time.Since(start)}
	if err != nil {
		t.Fatalf("fastscan: %v\n%s", err, stderr.String())
	}
	if out.elapsed < time.Second {
		t.Errorf("the scan took %v: too fast to have been looked at while it ran", out.elapsed)
	}
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var f finding
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			t.Fatalf("output line %q: %v", line, err)
		}
		out.findings = append(out.findings, f)
	}
	compareWithTruth(t, l.Truth(), out, netip.MustParseAddr("198.19.0.0"), netip.MustParseAddr("198.19.0.255"), []uint16{22, 80, 1000}, true)

	owner := func(name string) (int, int) {
		var st syscall.Stat_t
		if err := syscall.Stat(name, &st); err != nil {
			t.Fatal(err)
		}
		return int(st.Uid), int(st.Gid)
	}
	wantUID, wantGID := 0, 0
	if want.FromSudo {
		wantUID, wantGID = want.UID, want.GID
	}
	if u, g := owner(jsonFile); u != wantUID || g != wantGID {
		t.Errorf("%s owned by %d:%d, want %d:%d", jsonFile, u, g, wantUID, wantGID)
	}
	if u, _ := owner(existing); u != 0 {
		t.Errorf("the file that existed before is now owned by %d", u)
	}
	if data, err := os.ReadFile(jsonFile); err != nil || bytes.Count(data, []byte("\n")) != len(out.findings) {
		t.Errorf("%s: %d lines, %v; want the %d findings", jsonFile, bytes.Count(data, []byte("\n")), err, len(out.findings))
	}
}

// dropFinished reports whether every thread shows the end of the privilege drop: no
// capabilities, and in a static build an empty bounding set and no_new_privs.
func dropFinished(ts []privdrop.Thread, static bool) bool {
	for _, th := range ts {
		if th.UID[0] == 0 || th.CapEff|th.CapPrm|th.CapInh|th.CapAmb != 0 {
			return false
		}
		if static && (th.CapBnd != 0 || !th.NoNewPrivs) {
			return false
		}
	}
	return true
}

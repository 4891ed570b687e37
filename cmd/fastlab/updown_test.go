package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fastscan/fastscan/citest"
	"github.com/fastscan/fastscan/lab"
)

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startUp runs `fastlab up` (state under root) until the test ends and
// returns its lab id once the layout is printed.
func startUp(t *testing.T, root string) (id string, out *syncBuffer, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out = &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- newApp(out, out).RunContext(ctx, []string{"fastlab", "up", "--state-dir", root})
	}()
	var once sync.Once
	var upErr error
	stop = func() error {
		once.Do(func() { cancel(); upErr = <-done })
		return upErr
	}
	t.Cleanup(func() { stop() })
	deadline := time.Now().Add(90 * time.Second)
	for !strings.Contains(out.String(), "the lab stays up") {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("fastlab up ended: %v\n%s", err, out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("fastlab up printed no layout in time:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	m := regexp.MustCompile(`lab (fsl[0-9a-f]{6}) is up`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("fastlab up names no lab:\n%s", out)
	}
	return m[1], out, stop
}

// TestUpStartsExtraHostsAndDownStopsThem: fastlab up starts the real servers'
// host and the SYN proxy host and prints them; fastlab down <id> ends every
// process in the lab's namespaces (as after a `fastlab up` killed without its
// teardown: here the up runs in the test's own process, which down never
// signals), removes the namespaces and the state directory; up's own
// teardown after that finds nothing left to fail on.
func TestUpStartsExtraHostsAndDownStopsThem(t *testing.T) {
	citest.RequireRoot(t)
	for _, tool := range []string{"sshd", "nginx", "redis-server", "smtpd", "dpkg-query", "ssh-keygen"} {
		citest.RequireTool(t, tool)
	}
	// Under /run, as fastlab up's own state directory is (opensmtpd runs
	// with a /run of its own: its files must stay visible).
	root, err := os.MkdirTemp("/run", "fastlab-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	id, out, stop := startUp(t, root)
	if strings.Contains(out.String(), "not started") {
		t.Fatalf("an extra host was not started:\n%s", out)
	}
	v, err := installedVersions()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{lab.RealServersAddr.String(), lab.SynProxyAddr.String(), "also at " + lab.SynProxyAddr6.String(), "OpenSSH " + v.ssh,
		"nginx " + v.nginx, "Redis key-value store " + v.redis, "9004 silent", "services only on 22,25,80",
		"bin/fastscan 198.18.1.80 -p 22,25,80,443,2222,6379,8080 -sV", "bin/fastscan 2001:2:0:1::90 -p 1-1024 -sV"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("up's layout lacks %q:\n%s", want, out)
		}
	}
	pidFile, err := os.ReadFile(filepath.Join(root, id, upPIDFile))
	if err != nil || strings.TrimSpace(string(pidFile)) != strconv.Itoa(os.Getpid()) {
		t.Errorf("state %s: %q, %v; want this process's pid", upPIDFile, pidFile, err)
	}
	// The real servers' processes, in the host's namespace.
	var servers []int
	for _, n := range []string{id + "-h5", id + "-h6"} {
		pids, err := lab.NamespacePIDs(n)
		if err != nil {
			t.Fatal(err)
		}
		servers = append(servers, pids...)
	}
	if len(servers) < 4 { // sshd, nginx, redis-server, smtpd at least
		t.Fatalf("processes in the real servers' namespace: %v", servers)
	}
	var dout bytes.Buffer
	if err := newApp(&dout, &dout).Run([]string{"fastlab", "down", "--state-dir", root, id}); err != nil {
		t.Fatalf("down: %v\n%s", err, dout.String())
	}
	assertGone(t, id)
	if _, err := os.Stat(filepath.Join(root, id)); !os.IsNotExist(err) {
		t.Errorf("state directory left: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range servers {
		for alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("server process %d outlived fastlab down", pid)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if err := stop(); err != nil {
		t.Errorf("up's teardown after down: %v", err)
	}
}

// alive reports whether process pid runs (a zombie does not).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// pid (comm) state ...: the state follows the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] != 'Z' && syscall.Kill(pid, 0) == nil
}

func TestStateIDs(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"fsl0000a1", "fsl0000b2", "other", "fslzzzzzz"} {
		os.Mkdir(filepath.Join(root, d), 0o700)
	}
	ids, err := stateIDs(root)
	if err != nil || strings.Join(ids, ",") != "fsl0000a1,fsl0000b2" {
		t.Errorf("stateIDs = %v, %v", ids, err)
	}
	if ids, err := stateIDs(filepath.Join(root, "absent")); err != nil || len(ids) != 0 {
		t.Errorf("absent root: %v, %v", ids, err)
	}
}

// runMainEnv makes the test binary run fastlab's main (for tests that need
// `fastlab up` in a process of its own).
const runMainEnv = "FASTLAB_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestDownStopsRunningUp: fastlab down <id> sends the `fastlab up` keeping
// the lab (a process of its own) SIGTERM and waits for its teardown: up exits
// cleanly, and nothing of the lab is left.
func TestDownStopsRunningUp(t *testing.T) {
	citest.RequireRoot(t)
	root := t.TempDir()
	out := &syncBuffer{}
	cmd := exec.Command(os.Args[0], "up", "--state-dir", root)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	waited := false
	t.Cleanup(func() {
		if !waited {
			cmd.Process.Signal(syscall.SIGTERM)
			<-exited
		}
	})
	deadline := time.Now().Add(90 * time.Second)
	for !strings.Contains(out.String(), "the lab stays up") {
		select {
		case err := <-exited:
			waited = true
			t.Fatalf("fastlab up ended (%v) before it printed its layout:\n%s", err, out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("fastlab up printed no layout:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	m := regexp.MustCompile(`lab (fsl[0-9a-f]{6}) is up`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("fastlab up names no lab:\n%s", out)
	}
	id := m[1]
	var dout bytes.Buffer
	if err := newApp(&dout, &dout).Run([]string{"fastlab", "down", "--state-dir", root, id}); err != nil {
		t.Fatalf("down: %v\n%s", err, dout.String())
	}
	if want := "stopped fastlab up (pid " + strconv.Itoa(cmd.Process.Pid) + ")"; !strings.Contains(dout.String(), want) {
		t.Errorf("down's output lacks %q:\n%s", want, dout.String())
	}
	select {
	case err := <-exited:
		waited = true
		if err != nil {
			t.Errorf("fastlab up after SIGTERM: %v\n%s", err, out)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("fastlab up still runs after down returned")
	}
	assertGone(t, id)
	if _, err := os.Stat(filepath.Join(root, id)); !os.IsNotExist(err) {
		t.Errorf("state directory left: %v", err)
	}
}

// TestPrintExtraHosts: the layout names both hosts, their ports and the
// installed versions; a host that was not started is one line saying why.
func TestPrintExtraHosts(t *testing.T) {
	v := installed{ssh: "9.9p9", sshInfo: "Debian-1", nginx: "1.99.0", redis: "9.0.1"}
	var b bytes.Buffer
	printExtraHosts(&b, "fsl000001-s", &extraHosts{notes: []string{"real servers (198.18.1.80) not started: nginx not found"}}, v)
	out := b.String()
	if !strings.Contains(out, "real servers (198.18.1.80) not started: nginx not found\n") || strings.Contains(out, "9.9p9") ||
		strings.Contains(out, "bin/fastscan") {
		t.Errorf("layout without the hosts:\n%s", out)
	}
	for _, r := range realServerPorts(v) {
		if r.port == 0 || r.service == "" || r.product == "" {
			t.Errorf("real server %+v lacks a field", r)
		}
	}
	if got := realServerPortList(); got != "22,25,80,443,2222,6379,8080" {
		t.Errorf("realServerPortList() = %s", got)
	}
}

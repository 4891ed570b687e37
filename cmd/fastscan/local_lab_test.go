package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/fastscan/fastscan/afpacket/afpackettest"
	"github.com/fastscan/fastscan/citest"
)

// TestLocalInNamespace runs `fastscan local` (the test binary acting as
// fastscan) in a network namespace of its own that holds one listener of this
// test process: as root it names the process, as nobody it shows the socket
// with its user, hides the process and says so in one line on standard error.
func TestLocalInNamespace(t *testing.T) {
	citest.RequireRoot(t)
	ns := afpackettest.NewNetns(t) // loopback only
	dir, err := os.MkdirTemp("", "fastscan-local-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	bin := filepath.Join(dir, "fastscan")
	data, err := os.ReadFile(os.Args[0])
	if err == nil {
		err = os.WriteFile(bin, data, 0o755)
	}
	if err == nil {
		err = os.Chmod(dir, 0o755) // nobody may run it
	}
	if err != nil {
		t.Fatal(err)
	}
	comm, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Fatal(err)
	}
	me := strings.TrimSpace(string(comm))

	type result struct {
		out, errOut string
		code        int
	}
	// local runs fastscan local args... inside the namespace, as nobody if asked.
	local := func(nobody bool, args ...string) result {
		t.Helper()
		var r result
		err := ns.Run(func() error {
			cmd := exec.Command(bin, append([]string{"local"}, args...)...)
			cmd.Env = append(os.Environ(), runMainEnv+"=1")
			cmd.Dir = dir
			if nobody {
				cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
			}
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			r = result{stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()}
			if _, ok := err.(*exec.ExitError); ok {
				return nil
			}
			return err
		})
		if err != nil {
			t.Fatalf("fastscan local %v: %v", args, err)
		}
		return r
	}

	var ln net.Listener
	if err := ns.Run(func() (err error) { ln, err = net.Listen("tcp4", "127.0.0.1:0"); return err }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)

	r := local(false, "--port", port)
	want := fmt.Sprintf("port %s is in use by %s (pid %d, user root): tcp listen 127.0.0.1\n", port, me, os.Getpid())
	if r.code != 0 || r.out != want || r.errOut != "" {
		t.Errorf("as root: exit %d, %q, stderr %q; want 0, %q", r.code, r.out, r.errOut, want)
	}
	r = local(false, "--port", "1")
	if r.code != 1 || r.out != "port 1 is free: no tcp or udp socket uses it\n" {
		t.Errorf("a free port: exit %d, %q, stderr %q", r.code, r.out, r.errOut)
	}

	r = local(true, "--format", "jsonl")
	var row map[string]any
	if err := json.Unmarshal([]byte(r.out), &row); err != nil || strings.Count(r.out, "\n") != 1 {
		t.Fatalf("as nobody: exit %d, %q (%v), stderr %q; want the one socket", r.code, r.out, err, r.errOut)
	}
	if r.code != 0 || row["pid"] != 0.0 || row["process"] != "" || row["user"] != "root" || row["port"] != float64(ln.Addr().(*net.TCPAddr).Port) {
		t.Errorf("as nobody: exit %d, %v; want the socket, user root, no process", r.code, row)
	}
	if strings.Count(r.errOut, "\n") != 1 || !strings.Contains(r.errOut, "the processes of 1 socket are hidden") || !strings.Contains(r.errOut, "sudo") {
		t.Errorf("as nobody, standard error %q: want one line saying the process is hidden (run with sudo)", r.errOut)
	}
	r = local(true, "--port", port)
	want = fmt.Sprintf("port %s is in use by a process of user root (hidden: run with sudo to see it): tcp listen 127.0.0.1\n", port)
	if r.code != 0 || r.out != want {
		t.Errorf("as nobody: exit %d, %q; want 0, %q", r.code, r.out, want)
	}
}

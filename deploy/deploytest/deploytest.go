// Package deploytest holds what the tests of the deployment recipes (deploy/slurm,
// deploy/kubernetes) share: a private single-node Slurm cluster for one test, the
// static fastscan binary, and reading JSON lines findings to compare them with the
// lab's ground truth and with each other.
package deploytest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fastscan/fastscan/citest"
	"github.com/fastscan/fastscan/lab"
)

// Root returns the repository's top directory.
func Root(tb testing.TB) string {
	tb.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		tb.Fatal("deploytest: cannot locate the source tree")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// BuildStatic builds fastscan with CGO_ENABLED=0, as make build does, into a
// temporary directory and returns its path.
func BuildStatic(tb testing.TB) string {
	tb.Helper()
	goTool := citest.RequireTool(tb, "go")
	bin := filepath.Join(tb.TempDir(), "fastscan")
	cmd := exec.Command(goTool, "build", "-o", bin, "./cmd/fastscan")
	cmd.Dir = Root(tb)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// Cluster is a private single-node Slurm cluster (scripts/slurm-up.sh) in a
// temporary directory.
type Cluster struct {
	// Dir holds its configuration, state, logs and sockets.
	Dir string
	// Conf is its slurm.conf, for SLURM_CONF.
	Conf string
}

// upTimeout bounds slurm-up.sh; it waits at most about 30 s for the node itself.
const upTimeout = 90 * time.Second

// StartSlurm requires root and munge and Slurm's daemons and clients, starts a
// cluster and stops it (scripts/slurm-down.sh) when the test ends, whether it
// passed or failed. The stop fails the test if a daemon is left running.
func StartSlurm(t *testing.T) *Cluster {
	t.Helper()
	citest.RequireRoot(t)
	for _, tool := range []string{"munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo"} {
		if _, err := exec.LookPath(tool); err != nil {
			if _, err := os.Stat("/usr/sbin/" + tool); err != nil {
				citest.Skip(t, "%s is missing (scripts/install-deps.sh installs munge and Slurm)", tool)
			}
		}
	}
	dir, err := os.MkdirTemp("", "fastscan-slurm-")
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{Dir: dir, Conf: filepath.Join(dir, "slurm.conf")}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, filepath.Join(Root(t), "scripts", "slurm-down.sh"), dir).CombinedOutput()
		if err != nil {
			t.Errorf("slurm-down.sh: %v\n%s", err, out)
			return // the directory stays, for its logs
		}
		if t.Failed() {
			t.Logf("Slurm logs:\n%s", c.logs())
		}
		os.RemoveAll(dir)
	})
	ctx, cancel := context.WithTimeout(context.Background(), upTimeout)
	defer cancel()
	// This process owns the cluster: if it dies before its cleanup, the
	// script's watchdog stops the daemons.
	cmd := exec.CommandContext(ctx, filepath.Join(Root(t), "scripts", "slurm-up.sh"), dir, strconv.Itoa(os.Getpid()))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("slurm-up.sh: %v\n%s", err, out)
	}
	return c
}

// Command returns a Slurm client command (sbatch, squeue, ...) for this cluster.
func (c *Cluster) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "SLURM_CONF="+c.Conf)
	return cmd
}

// Daemons returns the pids of the cluster's munged, slurmctld and slurmd that are
// running (from their pid files).
func (c *Cluster) Daemons() map[string]int {
	running := map[string]int{}
	for name, file := range map[string]string{"munged": "munged.pid", "slurmctld": "slurmctld.pid", "slurmd": "slurmd.pid"} {
		b, err := os.ReadFile(filepath.Join(c.Dir, "run", file))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			continue
		}
		if Alive(pid, name) {
			running[name] = pid
		}
	}
	return running
}

// Alive reports whether process pid runs the command name (and is no zombie).
func Alive(pid int, name string) bool {
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil || strings.TrimSpace(string(comm)) != name {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, after, _ := bytes.Cut(stat, []byte(") "))
	return len(after) > 0 && after[0] != 'Z'
}

// logs returns the tail of every daemon log.
func (c *Cluster) logs() string {
	var b strings.Builder
	files, _ := filepath.Glob(filepath.Join(c.Dir, "log", "*.log"))
	for _, f := range files {
		data, _ := os.ReadFile(f)
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		fmt.Fprintf(&b, "--- %s\n%s\n", f, strings.Join(lines[max(0, len(lines)-30):], "\n"))
	}
	return b.String()
}

// Processes returns the pids of every running process whose command is name.
func Processes(name string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil && Alive(pid, name) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// SystemState describes the system paths munge and Slurm use by default: every
// file and directory under them with its size and modification time ("absent" for
// a path that does not exist). Two equal states mean nothing there was touched.
func SystemState(tb testing.TB) string {
	tb.Helper()
	var b strings.Builder
	for _, root := range []string{"/etc/munge", "/etc/slurm", "/run/munge", "/var/run/munge", "/var/lib/munge", "/var/log/munge",
		"/run/slurm", "/var/run/slurm", "/var/lib/slurm", "/var/log/slurm", "/var/spool/slurmd", "/var/spool/slurmctld", "/var/spool/slurm"} {
		err := filepath.Walk(root, func(path string, info os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, "%s %v %d %d\n", path, info.Mode(), info.Size(), info.ModTime().UnixNano())
			return nil
		})
		if os.IsNotExist(err) {
			fmt.Fprintf(&b, "%s absent\n", root)
		} else if err != nil {
			tb.Fatalf("system state: %v", err)
		}
	}
	return b.String()
}

// WithoutShardEnv is env without the variables fastscan takes a shard from
// (Slurm's and Kubernetes'), so that a test run under a scheduler gives its
// processes only what the test sets.
func WithoutShardEnv(env []string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
		return strings.HasPrefix(kv, "SLURM_") || strings.HasPrefix(kv, "JOB_COMPLETION_INDEX=")
	})
}

// Finding is one result of fastscan's JSON lines.
type Finding struct {
	IP     netip.Addr `json:"ip"`
	Port   uint16     `json:"port"`
	Proto  string     `json:"proto"`
	State  string     `json:"state"`
	Reason string     `json:"reason"`
}

// String is the finding as "198.19.1.10:22/tcp open syn-ack".
func (f Finding) String() string {
	return fmt.Sprintf("%v/%s %s %s", netip.AddrPortFrom(f.IP, f.Port), f.Proto, f.State, f.Reason)
}

// ReadFindings reads a JSON lines file into its findings, sorted by String.
func ReadFindings(tb testing.TB, file string) []Finding {
	tb.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		tb.Fatal(err)
	}
	var fs []Finding
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var f Finding
		if err := json.Unmarshal(sc.Bytes(), &f); err != nil {
			tb.Fatalf("%s: line %q: %v", file, sc.Text(), err)
		}
		fs = append(fs, f)
	}
	slices.SortFunc(fs, func(a, b Finding) int { return strings.Compare(a.String(), b.String()) })
	return fs
}

// CompareWithTruth checks TCP findings against the lab's ground truth for a scan
// of prefixes x ports that showed open and closed ports: every finding says what
// the truth says of its port, no port is reported twice, and every open port
// and every closed port of a live host in the scan is there.
func CompareWithTruth(tb testing.TB, truth lab.Truth, found []Finding, prefixes []netip.Prefix, ports []uint16) {
	tb.Helper()
	seen := map[netip.AddrPort]bool{}
	var open, closed int
	for _, f := range found {
		ap := netip.AddrPortFrom(f.IP, f.Port)
		if seen[ap] {
			tb.Errorf("%v reported twice", ap)
		}
		seen[ap] = true
		if want := truth.State(f.IP, f.Port).String(); f.Proto != "tcp" || f.State != want {
			tb.Errorf("%v: %s, truth says tcp %s", ap, f, want)
		}
		switch f.State {
		case "open":
			open++
		case "closed":
			closed++
		}
	}
	var wantOpen, wantClosed uint64
	for _, p := range prefixes {
		first, last := p.Masked().Addr(), lastAddr(p)
		o, c, _, _ := truth.Count(first, last, ports)
		wantOpen, wantClosed = wantOpen+o, wantClosed+c
		for _, ap := range truth.Open(first, last, ports) {
			if !seen[ap] {
				tb.Errorf("open port %v not found", ap)
			}
		}
	}
	if uint64(open) != wantOpen || uint64(closed) != wantClosed {
		tb.Errorf("found %d open and %d closed ports, the truth has %d and %d", open, closed, wantOpen, wantClosed)
	}
	if wantOpen == 0 {
		tb.Error("the scan's targets hold no open port: a test that cannot fail")
	}
}

// lastAddr is the last address of the IPv4 prefix p.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v |= uint32(1)<<(32-p.Bits()) - 1
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// SameFindings fails the test unless a and b (sorted, as ReadFindings returns
// them) hold the same findings, naming up to ten differences.
func SameFindings(tb testing.TB, aName string, a []Finding, bName string, b []Finding) {
	tb.Helper()
	in := func(fs []Finding) map[string]bool {
		m := map[string]bool{}
		for _, f := range fs {
			m[f.String()] = true
		}
		return m
	}
	ma, mb := in(a), in(b)
	diffs := 0
	for _, f := range a {
		if !mb[f.String()] {
			if diffs++; diffs <= 10 {
				tb.Errorf("%s has %s, %s does not", aName, f, bName)
			}
		}
	}
	for _, f := range b {
		if !ma[f.String()] {
			if diffs++; diffs <= 10 {
				tb.Errorf("%s has %s, %s does not", bName, f, aName)
			}
		}
	}
	if diffs > 0 || len(a) != len(b) {
		tb.Errorf("%s: %d findings, %s: %d, %d differences", aName, len(a), bName, len(b), diffs)
	}
}

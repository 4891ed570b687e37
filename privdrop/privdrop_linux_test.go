package privdrop

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fastscan/fastscan/citest"
)

// childEnv makes the test binary run dropChild instead of the tests: dropping is for
// good, so it happens in a process of its own.
const childEnv = "PRIVDROP_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		dropChild()
		return
	}
	os.Exit(m.Run())
}

// childReport is what dropChild prints.
type childReport struct {
	Result  Result
	Err     string
	Threads []Thread // every thread, read after the drop and after more threads started
	Before  int      // threads when Drop was called
}

// busyThreads starts n goroutines, each locked to its own thread, which stay until
// stop is closed: the process then has at least n threads besides the others.
func busyThreads(n int, stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			<-stop
		}()
	}
	return &wg
}

// dropChild drops privileges with many threads running, starts more threads, and
// prints a childReport as JSON.
func dropChild() {
	stop := make(chan struct{})
	busyThreads(8, stop)
	for {
		ts, err := Threads(0)
		if err == nil && len(ts) >= 9 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	var rep childReport
	before, _ := Threads(0)
	rep.Before = len(before)
	res, err := Drop(Creds{UID: Nobody, GID: Nobody})
	rep.Result = res
	if err != nil {
		rep.Err = err.Error()
	}
	// Threads started after the drop inherit it.
	busyThreads(4, stop)
	time.Sleep(50 * time.Millisecond)
	rep.Threads, err = Threads(0)
	if err != nil && rep.Err == "" {
		rep.Err = err.Error()
	}
	json.NewEncoder(os.Stdout).Encode(rep)
	close(stop)
}

// runChild runs binary (a build of this package's tests) as dropChild, through
// setpriv with setprivArgs when there are any.
func runChild(t *testing.T, binary string, setprivArgs ...string) childReport {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := []string{binary}
	if len(setprivArgs) > 0 {
		args = append(append([]string{citest.RequireTool(t, "setpriv")}, setprivArgs...), binary)
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	var rep childReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("child printed %q: %v\n%s", stdout.String(), err, stderr.String())
	}
	return rep
}

// builds returns the test binaries to run the child in: this one, and a build of
// the tests of the other kind: with cgo (where AllThreadsSyscall is not available,
// as in a fastscan built with CGO_ENABLED=1) or without (CGO_ENABLED=0, like the
// shipped fastscan). A cgo build is left out where no C compiler works.
func builds(t *testing.T) map[string]string {
	t.Helper()
	bins := map[string]string{}
	this, other, env, tags := "static", "cgo", "CGO_ENABLED=1", "privdropcgo"
	if !AllThreadsSupported() {
		this, other, env, tags = "cgo", "static", "CGO_ENABLED=0", ""
	}
	bins[this] = os.Args[0]
	goTool := citest.RequireTool(t, "go")
	dir := t.TempDir()
	os.Chmod(dir, 0o755) // nobody runs it too
	bin := filepath.Join(dir, "privdrop.test")
	cmd := exec.Command(goTool, "test", "-c", "-tags", tags, "-o", bin, ".")
	cmd.Env = append(os.Environ(), env)
	out, err := cmd.CombinedOutput()
	switch {
	case err == nil:
		bins[other] = bin
	case other == "cgo":
		t.Logf("no cgo build of the tests (%v): %s", err, out)
	default:
		t.Fatalf("building the tests with %s: %v\n%s", env, err, out)
	}
	return bins
}

// TestDropAsRoot drops root with many threads running, in a child process, and
// checks every thread of it in /proc/self/task/*/status, including threads started
// after the drop.
func TestDropAsRoot(t *testing.T) {
	citest.RequireRoot(t)
	for name, bin := range builds(t) {
		t.Run(name, func(t *testing.T) {
			rep := runChild(t, bin)
			if rep.Err != "" {
				t.Fatalf("Drop: %s", rep.Err)
			}
			res := rep.Result
			if !res.Switched || !res.Dropped || !res.BoundingCleared || res.AllThreads != (name == "static") {
				t.Errorf("result %+v", res)
			}
			// 8 locked threads and the main one at the drop, 12 locked ones after.
			if rep.Before < 9 || len(rep.Threads) < 13 {
				t.Errorf("%d threads at the drop, %d after: want at least 9 and 13", rep.Before, len(rep.Threads))
			}
			for _, th := range rep.Threads {
				if th.UID != [4]int{Nobody, Nobody, Nobody, Nobody} || th.GID != [4]int{Nobody, Nobody, Nobody, Nobody} || len(th.Groups) != 0 {
					t.Errorf("thread %d: uids %v gids %v groups %v", th.TID, th.UID, th.GID, th.Groups)
				}
				if th.CapEff|th.CapPrm|th.CapInh|th.CapAmb != 0 {
					t.Errorf("thread %d: CapEff %x CapPrm %x CapInh %x CapAmb %x", th.TID, th.CapEff, th.CapPrm, th.CapInh, th.CapAmb)
				}
				if name == "static" && (th.CapBnd != 0 || !th.NoNewPrivs) {
					t.Errorf("thread %d: CapBnd %x NoNewPrivs %v", th.TID, th.CapBnd, th.NoNewPrivs)
				}
			}
		})
	}
}

// TestDropCapabilitiesWithoutRoot drops the capabilities of an unprivileged process
// that holds CAP_NET_RAW (as a setcap'd fastscan does): every thread must lose them,
// which a cgo build cannot do, and must say so.
func TestDropCapabilitiesWithoutRoot(t *testing.T) {
	citest.RequireRoot(t) // to start a process that holds a capability without root
	for name, bin := range builds(t) {
		t.Run(name, func(t *testing.T) {
			rep := runChild(t, bin, "--reuid=65534", "--regid=65534", "--clear-groups",
				"--inh-caps=-all,+net_raw", "--ambient-caps=+net_raw")
			if name != "static" {
				if !strings.Contains(rep.Err, "CGO_ENABLED=0") {
					t.Fatalf("cgo build: error %q, want one that says to build with CGO_ENABLED=0", rep.Err)
				}
				return
			}
			if rep.Err != "" {
				t.Fatalf("Drop: %s", rep.Err)
			}
			if res := rep.Result; res.Switched || !res.Dropped || res.BoundingCleared {
				t.Errorf("result %+v, want dropped without a switch, bounding set kept (no CAP_SETPCAP)", res)
			}
			for _, th := range rep.Threads {
				if th.UID[0] != Nobody || th.CapEff|th.CapPrm|th.CapInh|th.CapAmb != 0 || !th.NoNewPrivs {
					t.Errorf("thread %+v", th)
				}
			}
		})
	}
}

// TestNothingToDrop runs Drop in an unprivileged process without capabilities.
func TestNothingToDrop(t *testing.T) {
	citest.RequireRoot(t) // to become nobody
	for name, bin := range builds(t) {
		t.Run(name, func(t *testing.T) {
			rep := runChild(t, bin, "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all")
			if rep.Err != "" || !rep.Result.Nothing() {
				t.Fatalf("result %+v, error %q: want nothing to drop", rep.Result, rep.Err)
			}
		})
	}
}

func TestThreadsOfThisProcess(t *testing.T) {
	ts, err := Threads(0)
	if err != nil {
		t.Fatal(err)
	}
	uid := os.Getuid()
	found := false
	for _, th := range ts {
		if th.UID[0] != uid {
			t.Errorf("thread %+v: uid %d, want %d", th, th.UID[0], uid)
		}
		found = found || th.TID == os.Getpid()
	}
	if !found {
		t.Errorf("threads %v lack the main thread %d", ts, os.Getpid())
	}
}

func TestReadStatus(t *testing.T) {
	status := `Name:	fastscan
Umask:	0022
State:	S (sleeping)
Tgid:	4242
Pid:	4243
Uid:	1000	1000	1000	1000
Gid:	1001	1001	1001	1001
FDSize:	64
Groups:	4 27 
CapInh:	0000000000000000
CapPrm:	0000000000002000
CapEff:	0000000000002000
CapBnd:	000001ffffffffff
CapAmb:	0000000000000000
NoNewPrivs:	1
Seccomp:	0
`
	name := filepath.Join(t.TempDir(), "status")
	if err := os.WriteFile(name, []byte(status), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := readStatus(name)
	if err != nil {
		t.Fatal(err)
	}
	want := Thread{TID: 4243, UID: [4]int{1000, 1000, 1000, 1000}, GID: [4]int{1001, 1001, 1001, 1001}, Groups: []int{4, 27},
		CapPrm: 0x2000, CapEff: 0x2000, CapBnd: 0x1ffffffffff, NoNewPrivs: true}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("readStatus = %+v, want %+v", got, want)
	}
	if err := os.WriteFile(name, []byte("Name:\tx\nUid:\t1 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readStatus(name); err == nil {
		t.Fatal("a malformed status file was read")
	}
}

package main

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/fastscan/fastscan/citest"
	"github.com/fastscan/fastscan/lab"
	"github.com/fastscan/fastscan/lab/labtest"
	"golang.org/x/sys/unix"
)

// TestLabExclude scans 198.19.0.0/20 with --exclude 198.19.4.0/22,198.19.9.7 in the
// lab: the findings are the ground truth of the /20 minus the excluded addresses, and
// nothing from an excluded address appears. The benchmarking range is named directly,
// so the default exclusion of reserved space leaves it alone.
func TestLabExclude(t *testing.T) {
	l := labtest.Start(t)
	truth := l.Truth()
	ports := []uint16{22, 80, 443, 5432}
	out := scanLab(t, l, "198.19.0.0/20", "--exclude", "198.19.4.0/22,198.19.9.7", "-p", "22,80,443,5432",
		"--show", "all", "-r", "100000", "--seed", "7")
	a := netip.MustParseAddr
	kept := []addrRange{
		{a("198.19.0.0"), a("198.19.3.255")},
		{a("198.19.8.0"), a("198.19.9.6")},
		{a("198.19.9.8"), a("198.19.15.255")},
	}
	compareRangesWithTruth(t, truth, out, kept, ports, true)
	for _, f := range out.findings {
		ip := a(f.IP)
		if u := u32(ip); u>>10 == u32(a("198.19.4.0"))>>10 || ip == a("198.19.9.7") {
			t.Errorf("finding from excluded address: %+v", f)
		}
	}
	if want := uint64(3071 * len(ports)); uint64(len(out.findings)) != want {
		t.Errorf("%d findings with --show all, want %d (3071 addresses x %d ports)", len(out.findings), want, len(ports))
	}
	if !strings.Contains(out.stderr, "3071 addresses x 4 ports") {
		t.Errorf("summary does not say 3071 addresses:\n%s", out.stderr)
	}
}

// asNobodyIn runs fastscan with args as the user nobody without any capability, in the
// lab's scanner namespace when l is not nil, otherwise in a new, empty network
// namespace; it returns standard output, standard error and the exit status.
func asNobodyIn(t *testing.T, l *lab.Lab, args ...string) (string, string, int) {
	t.Helper()
	citest.RequireRoot(t)
	setpriv := citest.RequireTool(t, "setpriv")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	nobody := append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", os.Args[0]}, args...)
	var cmd *exec.Cmd
	if l != nil {
		cmd = l.Command(ctx, setpriv, nobody...)
	} else {
		unshare := citest.RequireTool(t, "unshare")
		cmd = exec.CommandContext(ctx, unshare, append([]string{"--net", setpriv}, nobody...)...)
	}
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Run()
	return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
}

// TestDryRunAsNobody runs fastscan 0.0.0.0/0 -p 80 --dry-run as the user nobody
// without CAP_NET_RAW (a raw socket would fail), in a network namespace of its own
// with no interface up (nothing could leave the machine): the plan is complete,
// with the routes unknown.
func TestDryRunAsNobody(t *testing.T) {
	stdout, stderr, code := asNobodyIn(t, nil, "0.0.0.0/0", "-p", "80", "--dry-run")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	checkWholeSpaceDryRun(t, stdout, stderr)
	if !strings.Contains(stderr, "route for 16 of 16 ranges (the first from 1.0.0.0): unknown:") {
		t.Errorf("no unknown route in an empty namespace:\n%s", stderr)
	}
	// The same command line without --dry-run is refused for want of CAP_NET_RAW.
	if _, stderr, code := asNobodyIn(t, nil, "0.0.0.0/0", "-p", "80"); code != exitFailure || !strings.Contains(stderr, "CAP_NET_RAW") {
		t.Fatalf("scan as nobody: exit %d: %s", code, stderr)
	}
}

// TestLabDryRunAsNobody runs a dry run as nobody in the lab's scanner namespace: the
// route (interface, source, next hop) comes from the routing table without
// privileges, and no probe reaches the wire; the same scan for real sends its probes
// past the same counter.
func TestLabDryRunAsNobody(t *testing.T) {
	l := labtest.Start(t)
	dst := netip.MustParseAddr("198.19.0.1")
	wire := countOnWire(t, l, dst, unix.IPPROTO_TCP)
	stdout, stderr, code := asNobodyIn(t, l, "198.19.0.1", "198.18.1.0/24", "-p", "22,80", "--dry-run", "--exclude", "198.18.1.128/25")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if stdout != "198.18.1.0/25\n198.19.0.1/32\n" {
		t.Errorf("stdout %q", stdout)
	}
	for _, want := range []string{
		"addresses 129 in 2 ranges, 2 CIDR blocks (named 257, excluded 128)",
		"excluded 198.18.1.128/25: 128 addresses, user exclusion",
		"route for 1 of 2 ranges (the first from 198.18.1.0): interface " + lab.ScannerLANIface + ", source 198.18.1.1, next hop each target itself (on-link",
		"route for 1 of 2 ranges (the first from 198.19.0.1): interface " + lab.ScannerWANIface + ", source 198.18.0.1, next hop router 198.18.0.2",
		"warning: a scan would refuse this: the targets need more than one interface",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("plan lacks %q:\n%s", want, stderr)
		}
	}
	if got := wire.result(t); len(got) != 0 {
		t.Fatalf("a dry run put probes on the wire: %v", got)
	}
	control := countOnWire(t, l, dst, unix.IPPROTO_TCP)
	scanLab(t, l, "198.19.0.1", "-p", "22,80")
	if got := control.result(t); got[22] == 0 || got[80] == 0 {
		t.Fatalf("the counter saw %v of a real scan", got)
	}
}

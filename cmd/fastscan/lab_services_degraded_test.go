package main

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fastscan/fastscan/citest"
	"github.com/fastscan/fastscan/lab"
	"github.com/fastscan/fastscan/lab/labtest"
)

// TestLabServicesDegraded runs -sV (a SYN scan with a modest rate and
// retries) against the real servers over paths unlike the lab's clean
// bridge: random TCP loss on the host's link (3 % and 10 % each way), a
// 150 ± 30 ms delay each way (a round trip of about 300 ms; the lab's
// delay line), delay and loss (3 % and 10 %) together, a narrow link
// (64 kbit/s each way), and the servers sharing one CPU with the scanner,
// idle and under a busy loop pinned to the same CPU. Lossy paths are
// scanned three times (and their drops counted: the loss is real). Every
// real server is still identified with the installed package's product
// and version; each port's identification (its SYN-ACK to its line)
// stays within one --sv-timeout budget; no closed port is ever reported
// open; the wall times are logged side by side. At 10 % loss a port may,
// now and then, spend its budget before it is fully identified (random
// loss can lose a SYN three times, or a reply for seconds): such a port must
// still be reported open, say why in its service error, and be right in
// whatever it does report; and each port must be fully identified in at
// least two of the path's three scans. (Its SYN-ACK came, but if not a byte
// of the server's came through within the budget, -sV reports it filtered,
// no-service, as it must: that, too, is such a miss.)
func TestLabServicesDegraded(t *testing.T) {
	taskset := citest.RequireTool(t, "taskset")
	citest.RequireTool(t, "nft")
	citest.RequireTool(t, "tc")
	l, rs := labtest.StartRealServers(t)
	truth := realServersTruth(t, rs)
	var ports []uint16
	for p := range truth.real {
		ports = append(ports, p)
	}
	closed := []uint16{21, 23, 3306, 8443}
	ports = append(ports, closed...)
	slices.Sort(ports)
	type path struct {
		name   string
		imp    lab.Impairment
		cpu    string        // "": as is; "pinned": scanner and servers on CPU 0; "loaded": and a busy loop there
		budget time.Duration // --sv-timeout; 0: the default, 10 s
	}
	paths := []path{
		{name: "plain"},
		{name: "loss3", imp: lab.Impairment{LossPercent: 3}},
		{name: "loss10", imp: lab.Impairment{LossPercent: 10}},
		{name: "delay150", imp: lab.Impairment{Delay: 150 * time.Millisecond, Jitter: 30 * time.Millisecond}},
		{name: "delay150+loss3", imp: lab.Impairment{Delay: 150 * time.Millisecond, Jitter: 30 * time.Millisecond, LossPercent: 3}},
		// 443's two TLS connections take about 8 round trips (2.2 s here);
		// each loss costs a retransmission timeout of about 3 round trips,
		// doubling: over 10 s at times (see README, Service identification).
		{name: "delay150+loss10", imp: lab.Impairment{Delay: 150 * time.Millisecond, Jitter: 30 * time.Millisecond, LossPercent: 10},
			budget: 20 * time.Second},
		{name: "narrow64k", imp: lab.Impairment{RateKbit: 64}},
		{name: "narrow64k+loss3", imp: lab.Impairment{RateKbit: 64, LossPercent: 3}},
		{name: "pinned", cpu: "pinned"},
		{name: "pinned+busy", cpu: "loaded"},
	}
	walls := map[string][]time.Duration{}
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			restore, err := rs.Impair(ctx, p.imp)
			if err != nil {
				t.Fatal(err)
			}
			// Torn down however the subtest ends.
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := restore(ctx); err != nil {
					t.Errorf("restore the link: %v", err)
				}
			})
			var wrap []string
			if p.cpu != "" {
				wrap = pinToCPU0(t, rs, taskset, p.cpu == "loaded")
			}
			runs := 1
			if p.imp.LossPercent > 0 {
				runs = 3
			}
			budget := p.budget
			if budget == 0 {
				budget = 10 * time.Second
			}
			lenient := p.imp.LossPercent >= 10
			missed := map[uint16]int{}
			for run := range runs {
				for _, port := range scanDegraded(t, l, rs, truth, wrap, ports, closed, budget, lenient, func(d time.Duration) {
					walls[p.name] = append(walls[p.name], d)
				}) {
					missed[port]++
				}
				if t.Failed() {
					t.Fatalf("run %d of %d failed", run+1, runs)
				}
			}
			for port, n := range missed {
				if n > runs-2 {
					t.Errorf("port %d not fully identified in %d of %d scans", port, n, runs)
				}
			}
			if p.imp.LossPercent > 0 {
				dropped, err := rs.Dropped(ctx)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("%d TCP segments dropped in %d scans", dropped, runs)
				if dropped == 0 {
					t.Errorf("%d %% loss dropped nothing in %d scans: the path was not lossy", p.imp.LossPercent, runs)
				}
			}
		})
	}
	var sb strings.Builder
	for _, p := range paths {
		var ws []string
		for _, w := range walls[p.name] {
			ws = append(ws, w.Round(10*time.Millisecond).String())
		}
		note := ""
		if p.budget != 0 {
			note = fmt.Sprintf(" (--sv-timeout %v)", p.budget)
		}
		fmt.Fprintf(&sb, "  %-16s %s%s\n", p.name, strings.Join(ws, " "), note)
	}
	t.Logf("wall times (-r 100 --retries 4 --wait 2s, --sv-timeout 10s unless said):\n%s", sb.String())
}

// scanDegraded runs one -sV scan of the real servers (fastscan started by
// wrap) and checks it; it reports the wall time to wall. With lenient, a
// real server's port that is open, says why in its service error and is
// right in what it reports, but not fully identified, is returned instead of
// failing the test.
func scanDegraded(t *testing.T, l *lab.Lab, rs *lab.RealServers, truth realTruth, wrap []string, ports, closed []uint16,
	budget time.Duration, lenient bool, wall func(time.Duration)) (missed []uint16) {
	t.Helper()
	args := []string{rs.Addr.String(), "-p", portList(ports), "-sV", "--show", "all", "--wait", "2s", "-r", "100",
		"--retries", "4", "--sv-timeout", budget.String(), "--sv-per-host", "16"}
	found, arrived, stderr, elapsed, code := runSVTimed(t, l, wrap, args...)
	wall(elapsed)
	t.Logf("%v, exit %d\n%s", elapsed.Round(time.Millisecond), code, stderr)
	if code != exitOK {
		t.Errorf("exit %d", code)
		return nil
	}
	byPort := svByAddr(t, found, rs.Addr)[rs.Addr.String()]
	if lenient {
		truth, missed = truth.withoutMissed(t, byPort)
	}
	truth.check(t, rs.Addr, byPort, nil, false)
	// Loss may cost a closed port's reset (all retries lost:
	// filtered), never make it open.
	for _, port := range closed {
		if f := byPort[port]; f.State == "open" || f.Product != "" || f.ServiceMethod != "table" {
			t.Errorf("closed port %d: %+v", port, f)
		} else if f.State != "closed" {
			t.Logf("closed port %d reads %s %s (its resets lost)", port, f.State, f.Reason)
		}
	}
	// A port's line carries the time of its SYN-ACK and is written when
	// its identification ends, then flushed (every flushInterval): the
	// difference is its identification's time, plus at most a flush.
	limit := budget + flushInterval + 200*time.Millisecond
	var took []string
	for _, port := range slices.Sorted(maps.Keys(truth.real)) {
		f := byPort[port]
		if strings.Contains(f.ServiceError, "budget") && !slices.Contains(missed, port) {
			t.Errorf("port %d: %q", port, f.ServiceError)
		}
		ts, err := time.Parse(time.RFC3339Nano, f.Timestamp)
		if err != nil {
			t.Errorf("port %d: timestamp %q: %v", port, f.Timestamp, err)
			continue
		}
		d := arrived[port].Sub(ts)
		took = append(took, fmt.Sprintf("%d %v", port, d.Round(10*time.Millisecond)))
		if d > limit || d < 0 {
			t.Errorf("port %d: line written %v after its SYN-ACK: more than one %v budget and a flush (%v)", port, d, budget, limit)
		}
	}
	t.Logf("SYN-ACK to line written (identification, flush granularity %v): %s", flushInterval, strings.Join(took, ", "))
	checkSVSummary(t, stderr, found)
	return missed
}

// withoutMissed is tr without the ports of byPort that are not fully
// identified but say why (a service error) and are right in what they report
// (product, version, TLS use when given): open, or, when not a byte came
// through in the budget, filtered no-service with a time-out; it returns
// those ports. A port that reports something wrong, or is lost, stays in.
func (tr realTruth) withoutMissed(t *testing.T, byPort map[uint16]svFinding) (realTruth, []uint16) {
	t.Helper()
	out := tr
	out.real = maps.Clone(tr.real)
	var missed []uint16
	for _, port := range slices.Sorted(maps.Keys(tr.real)) {
		w, f := tr.real[port], byPort[port]
		full := f.ServiceMethod == "probed" && f.Service == w.service && f.Product == w.product && f.Version == w.version &&
			(f.TLS != nil) == w.tls && f.StartTLS == w.startTLS && f.ServiceError == ""
		timedOut := strings.Contains(f.ServiceError, "budget") || strings.Contains(f.ServiceError, "timeout")
		reported := f.State == "open" && f.Reason == "syn-ack" || f.State == "filtered" && f.Reason == "no-service" && timedOut
		if full || !reported || f.ServiceError == "" ||
			(f.Product != "" && f.Product != w.product) || (f.Version != "" && f.Version != w.version) || (f.TLS != nil && !w.tls) {
			continue
		}
		t.Logf("port %d not fully identified (%s): %q", port, f.ServiceMethod, f.ServiceError)
		delete(out.real, port)
		missed = append(missed, port)
	}
	return out, missed
}

// pinToCPU0 pins the real servers' processes to CPU 0 and returns the
// wrapper that starts the scanner there too; with busy, it also starts a
// busy loop on CPU 0, bounded to a minute and ended when the subtest ends.
// The servers' affinity is restored to every CPU when the subtest ends.
func pinToCPU0(t *testing.T, rs *lab.RealServers, taskset string, busy bool) []string {
	t.Helper()
	pin := func(cpus string) {
		pids, err := rs.PIDs()
		if err != nil {
			t.Fatal(err)
		}
		for _, pid := range pids {
			// -a: every thread (redis has several).
			if out, err := exec.Command(taskset, "-a", "-p", "-c", cpus, strconv.Itoa(pid)).CombinedOutput(); err != nil {
				t.Logf("taskset %d: %v: %s", pid, err, out) // a process that just exited
			}
		}
	}
	pin("0")
	t.Cleanup(func() { pin("0-" + strconv.Itoa(runtime.NumCPU()-1)) })
	if busy {
		loop := exec.Command(taskset, "-c", "0", "timeout", "60", "sh", "-c", "while :; do :; done")
		loop.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := loop.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			syscall.Kill(-loop.Process.Pid, syscall.SIGKILL)
			loop.Wait()
		})
	}
	return []string{taskset, "-c", "0"}
}

// timedLines records when each line written to it arrived.
type timedLines struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	partial int // bytes of buf's last, unfinished line
	times   []time.Time
}

func (w *timedLines) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := time.Now()
	for _, c := range b {
		if c == '\n' {
			w.times = append(w.times, now)
		}
	}
	return w.buf.Write(b)
}

// runSVTimed is runSVWrapped that also returns when each port's line
// arrived (only for the scanned address's TCP ports).
func runSVTimed(t *testing.T, l *lab.Lab, wrap []string, args ...string) ([]svFinding, map[uint16]time.Time, string, time.Duration, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	name, cmdArgs := os.Args[0], append(slices.Clone(args), "--format", "jsonl")
	if len(wrap) > 0 {
		name, cmdArgs = wrap[0], append(append(slices.Clone(wrap[1:]), os.Args[0]), cmdArgs...)
	}
	cmd := l.Command(ctx, name, cmdArgs...)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	var stdout timedLines
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	cmd.Run()
	elapsed := time.Since(start)
	found := parseSVLines(t, stdout.buf.Bytes())
	arrived := map[uint16]time.Time{}
	if len(found) != len(stdout.times) {
		t.Fatalf("%d findings, %d lines", len(found), len(stdout.times))
	}
	for i, f := range found {
		arrived[f.Port] = stdout.times[i]
	}
	return found, arrived, stderr.String(), elapsed, cmd.ProcessState.ExitCode()
}

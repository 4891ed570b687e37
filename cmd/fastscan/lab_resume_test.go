package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/gopacket/pcapgo"
	"golang.org/x/sys/unix"

	"github.com/fastscan/fastscan/lab"
	"github.com/fastscan/fastscan/lab/labtest"
	"github.com/fastscan/fastscan/output/outputtest"
)

// resumeCase is one scan the resume tests stop and resume: its targets (and the
// same as address ranges), ports, rate and extra flags.
type resumeCase struct {
	targets string
	ranges  []addrRange
	ports   []uint16
	rate    int
	flags   []string
	// stopBy is the latest random moment of a stop (after the receive ring is
	// up): about the first pass's length.
	stopBy time.Duration
	pcap   bool
}

// TestLabResume interrupts a scan of every kind of answer (open and closed
// ports, ICMP-prohibited and blackholed addresses) at random moments, with
// SIGKILL, SIGINT, SIGTERM or SIGHUP, and resumes it from its checkpoint each
// time until it completes: the files then hold exactly the lab's ground truth
// (every verdict: --show all), no line twice in JSON lines, CSV and list, valid
// nmap XML with the same ports, a pcap of whole packets, and the checkpoint is
// gone.
func TestLabResume(t *testing.T) {
	l := labtest.Start(t)
	a := netip.MustParseAddr
	// 4096 addresses x 16 ports at 12,000 probes/s: about 5.5 s for the first
	// pass, then a retry pass over the blackholed part and the cool-downs.
	c := resumeCase{targets: resumeTargets, ports: resumePorts, rate: 12000, flags: []string{"--show", "all"}, stopBy: 5 * time.Second, pcap: true,
		ranges: []addrRange{{a("198.19.120.0"), a("198.19.127.255")}, {a("198.19.128.0"), a("198.19.131.255")}, {a("198.19.192.0"), a("198.19.195.255")}}}
	for _, tc := range []struct {
		sig   syscall.Signal
		times int
	}{{syscall.SIGKILL, 3}, {syscall.SIGINT, 1}, {syscall.SIGTERM, 1}, {syscall.SIGHUP, 1}} {
		t.Run(tc.sig.String(), func(t *testing.T) { testResume(t, l, c, tc.sig, tc.times) })
	}
	// Two senders: the checkpoint's position is safe for both.
	c2 := c
	c2.flags = append([]string{"--senders", "2"}, c.flags...)
	t.Run("killed--senders2", func(t *testing.T) { testResume(t, l, c2, syscall.SIGKILL, 3) })
	// IPv6: live, blackholed and ICMPv6-prohibited addresses, 4096 in all.
	c6 := resumeCase{targets: "2001:2:0:100::f800-2001:2:0:100::ffff,2001:2:0:100::1:0-2001:2:0:100::1:3ff,2001:2:0:100::2:0-2001:2:0:100::2:3ff",
		ports: resumePorts, rate: 12000, flags: []string{"--show", "all"}, stopBy: 5 * time.Second, pcap: true,
		ranges: []addrRange{{a("2001:2:0:100::f800"), a("2001:2:0:100::ffff")}, {a("2001:2:0:100::1:0"), a("2001:2:0:100::1:3ff")}, {a("2001:2:0:100::2:0"), a("2001:2:0:100::2:3ff")}}}
	t.Run("killed-IPv6", func(t *testing.T) { testResume(t, l, c6, syscall.SIGKILL, 3) })
}

// TestLabResumeSlash16 is the test: a /16 x 16-port scan (1,048,576
// probes: a quarter of the addresses blackholed, a quarter refused by ICMP, the
// rest open and closed ports) stopped five times at random moments with each
// signal and resumed each time ends with the open ports of the ground truth,
// nothing twice, valid XML.
func TestLabResumeSlash16(t *testing.T) {
	l := labtest.Start(t)
	a := netip.MustParseAddr
	// 150,000/s: fast, but not so fast that a loaded CI machine's receiver drops
	// a reply twice over (first probe and retry): this tests resuming, not loss.
	c := resumeCase{targets: "198.19.0.0/16", ports: resumePorts, rate: 150000, stopBy: 6500 * time.Millisecond,
		ranges: []addrRange{{a("198.19.0.0"), a("198.19.255.255")}}}
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) { testResume(t, l, c, sig, 5) })
	}
}

func testResume(t *testing.T, l *lab.Lab, c resumeCase, sig syscall.Signal, times int) {
	dir := t.TempDir()
	files, outArgs := labOutputFiles(dir)
	ck := filepath.Join(dir, "scan.resume")
	var portList []string
	for _, p := range c.ports {
		portList = append(portList, fmt.Sprint(p))
	}
	args := append([]string{c.targets, "-p", strings.Join(portList, ","),
		"-r", fmt.Sprint(c.rate), "--resume-file", ck}, c.flags...)
	args = append(args, outArgs...)
	if c.pcap {
		files["pcap"] = filepath.Join(dir, "r.pcap")
		args = append(args, "--pcap", files["pcap"])
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(sig)))
	var stderr bytes.Buffer
	run := func(args []string, stopAfter time.Duration) (code int) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := labCommand(ctx, l, args...)
		stderr.Reset()
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		if stopAfter > 0 {
			if err := waitForRing(l, 30*time.Second); err != nil {
				t.Fatal(err)
			}
			select {
			case <-exited:
			case <-time.After(stopAfter):
				cmd.Process.Signal(sig)
			}
		}
		<-exited
		return cmd.ProcessState.ExitCode()
	}
	// completed: the checkpoint is gone, or empty where the scan, no longer
	// privileged, could not remove it from the directory.
	completed := func() bool {
		st, err := os.Stat(ck)
		return os.IsNotExist(err) || err == nil && st.Size() == 0
	}
	// Each resumed run has less left to do: its stop comes earlier, so that
	// all the stops land before the scan completes.
	stopAt := func(run int) time.Duration {
		by := c.stopBy * 2 / time.Duration(run+2)
		return 300*time.Millisecond + time.Duration(rng.Int64N(int64(by)))
	}
	stops := 0
	code := run(args, stopAt(0))
	for code != 0 {
		if sig == syscall.SIGKILL && code != -1 || sig != syscall.SIGKILL && code != 128+int(sig) {
			t.Fatalf("exit %d after %v\n%s", code, sig, stderr.String())
		}
		if completed() { // the signal came as the scan ended
			break
		}
		if sig != syscall.SIGKILL && !strings.Contains(stderr.String(), "to finish this scan later: fastscan --resume "+ck) {
			t.Errorf("a stopped scan does not say how to finish it:\n%s", stderr.String())
		}
		stops++
		if stops == 1 {
			// A new scan must not destroy the stopped one's checkpoint.
			before, _ := os.ReadFile(ck)
			if code := run(args, 0); code != exitUsage || !strings.Contains(stderr.String(), "unfinished scan") {
				t.Fatalf("a new scan over the checkpoint: exit %d: %s", code, stderr.String())
			}
			if after, _ := os.ReadFile(ck); !bytes.Equal(before, after) {
				t.Fatalf("a refused new scan changed the checkpoint")
			}
		}
		stopAfter := stopAt(stops)
		if stops >= times {
			stopAfter = 0 // the last run completes
		}
		code = run([]string{"--resume", ck}, stopAfter)
	}
	t.Logf("%v: stopped %d times, then completed", sig, stops)
	if stops == 0 {
		t.Errorf("the scan completed before the first %v", sig)
	}
	if !completed() {
		t.Errorf("a completed scan left its checkpoint")
	}

	checkResumed(t, l, files, c.ranges, c.ports, slices.Contains(c.flags, "all"), stderr.String())
}

// resumePorts are the ports of the resume tests, and resumeTargets their
// addresses: open and closed ports, ICMP-prohibited and blackholed addresses.
var (
	resumePorts   = []uint16{1, 7, 9, 21, 22, 23, 25, 80, 110, 135, 139, 443, 445, 3389, 5432, 8080}
	resumeTargets = "198.19.120.0/21,198.19.128.0/22,198.19.192.0/22"
)

// checkResumed checks the files of a scan that was stopped and resumed until it
// completed (stderr is the last run's): exactly the lab's truth, no line twice
// in JSON lines, CSV and list, one header, valid nmap XML with the same ports.
func checkResumed(t *testing.T, l *lab.Lab, files map[string]string, ranges []addrRange, ports []uint16, all bool, stderr string) {
	t.Helper()
	// Exactly the truth, nothing twice (compareRangesWithTruth fails duplicates).
	out := scanOutput{stderr: stderr}
	data, err := os.ReadFile(files["jsonl"])
	if err != nil {
		t.Fatal(err)
	}
	outputtest.NewValidator(t).ValidateLines(t, data)
	for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		var f finding
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			t.Fatalf("JSON line %q: %v", line, err)
		}
		out.findings = append(out.findings, f)
	}
	compareRangesWithTruth(t, l.Truth(), out, ranges, ports, all)
	if t.Failed() {
		t.Logf("the last run's standard error:\n%s", stderr)
	}
	results := len(out.findings)
	for _, format := range []string{"csv", "list"} {
		data, _ := os.ReadFile(files[format])
		lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
		seen := map[string]bool{}
		n := 0
		for _, line := range lines {
			if strings.HasPrefix(line, "#") || strings.HasPrefix(line, "ip,") {
				continue
			}
			if seen[line] {
				t.Errorf("%s: line %q twice", format, line)
			}
			seen[line] = true
			n++
		}
		if n != results {
			t.Errorf("%s holds %d results, JSON lines %d", format, n, results)
		}
		if strings.Count(string(data), lines[0]+"\n") != 1 && strings.Count(string(data), lines[0]+"\r\n") != 1 {
			t.Errorf("%s: header %q more than once", format, lines[0])
		}
	}
	xml, _ := os.ReadFile(files["xml"])
	outputtest.ValidateNmapXML(t, xml)
	if n := strings.Count(string(xml), "<port "); n != results {
		t.Errorf("XML holds %d ports, JSON lines %d", n, results)
	}
	if n := strings.Count(string(xml), "<nmaprun "); n != 1 {
		t.Errorf("XML has %d nmaprun elements", n)
	}
	if name := files["pcap"]; name != "" {
		// Whole packets only, the replies of every run one after another
		// (a SIGKILL may lose the last half second's).
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		r, err := pcapgo.NewReader(f)
		if err != nil {
			t.Fatalf("pcap: %v", err)
		}
		packets := 0
		for {
			_, _, err := r.ReadPacketData()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("pcap after %d packets: %v", packets, err)
			}
			packets++
		}
		if packets == 0 {
			t.Errorf("pcap holds no packet")
		}
	}
	gnmap, _ := os.ReadFile(files["grepable"])
	if n := strings.Count(string(gnmap), "# fastscan done"); n != 1 || !strings.HasPrefix(string(gnmap), "# fastscan ") {
		t.Errorf("grepable output has %d closing comments", n)
	}
}

// TestLabResumeDiskFull: the JSON lines file is on a disk that fills during the
// scan: the scan stops (exit 1) and keeps its last checkpoint; once there is room
// again, --resume finishes it with the ground truth in every file.
func TestLabResumeDiskFull(t *testing.T) {
	l := labtest.Start(t)
	dir := t.TempDir()
	full := filepath.Join(dir, "full")
	if err := os.Mkdir(full, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", full, "tmpfs", 0, "size=24m"); err != nil {
		t.Fatalf("mounting a small tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(full, 0); err != nil {
			t.Errorf("unmounting %s: %v", full, err)
		}
	})
	// All but 2 MiB taken: the JSON lines (about 13 MB) do not fit until it goes.
	filler := filepath.Join(full, "filler")
	if err := os.WriteFile(filler, make([]byte, 22<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	files, outArgs := labOutputFiles(dir)
	files["jsonl"] = filepath.Join(full, "r.jsonl")
	for i := 1; i < len(outArgs); i++ {
		if outArgs[i-1] == "-oJ" {
			outArgs[i] = files["jsonl"]
		}
	}
	ck := filepath.Join(dir, "scan.resume")
	var portList []string
	for _, p := range resumePorts {
		portList = append(portList, fmt.Sprint(p))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stderr bytes.Buffer
	cmd := labCommand(ctx, l, append([]string{resumeTargets, "-p", strings.Join(portList, ","), "-r", "30000", "--show", "all", "--resume-file", ck}, outArgs...)...)
	cmd.Stderr = &stderr
	cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != exitFailure || !strings.Contains(stderr.String(), "no space left on device") {
		t.Fatalf("exit %d, want %d with no space left\n%s", code, exitFailure, stderr.String())
	}
	if st, err := os.Stat(ck); err != nil || st.Size() == 0 {
		t.Fatalf("no checkpoint after the disk filled: %v", err)
	}
	os.Remove(filler)
	stderr.Reset()
	cmd = labCommand(ctx, l, "--resume", ck)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("resume: %v\n%s", err, stderr.String())
	}
	a := netip.MustParseAddr
	checkResumed(t, l, files, []addrRange{{a("198.19.120.0"), a("198.19.127.255")}, {a("198.19.128.0"), a("198.19.131.255")}, {a("198.19.192.0"), a("198.19.195.255")}},
		resumePorts, true, stderr.String())
}

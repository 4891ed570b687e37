package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fastscan/fastscan/citest"
	"github.com/fastscan/fastscan/lab"
	"github.com/fastscan/fastscan/lab/labtest"
	"github.com/fastscan/fastscan/output"
)

// nobodyArgs are setpriv's arguments that run a command as nobody with no
// capability (and none to gain).
var nobodyArgs = []string{"--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"}

// connectRanges are the lab's regions a connect scan test probes: a slice of
// the AnyIP range (with a single-address listener), the remote router, three
// LAN hosts (one answering ARP late), slices of the blackholed and the
// prohibited ranges. Neither the scanner's own addresses nor absent LAN hosts
// (down for a SYN scan, which never probes them; a connect scan lets the kernel
// try) are in it.
func connectRanges(tr lab.Truth) []addrRange {
	one := func(a netip.Addr) addrRange { return addrRange{a, a} }
	return []addrRange{
		{netip.MustParseAddr("198.19.1.0"), netip.MustParseAddr("198.19.1.15")},
		one(tr.RemoteWANAddr),
		one(tr.Hosts[0].Addr), one(tr.Hosts[1].Addr), one(tr.Hosts[3].Addr),
		{netip.MustParseAddr("198.19.128.0"), netip.MustParseAddr("198.19.128.3")},
		{netip.MustParseAddr("198.19.192.0"), netip.MustParseAddr("198.19.192.3")},
	}
}

// connectPorts are the ports probed: open and closed somewhere in connectRanges.
var connectPorts = []uint16{21, 22, 25, 80, 443, 445, 631, 1000, 3306, 5432, 8080}

// labConnectScan runs fastscan in the lab's scanner namespace (as nobody,
// through setpriv, when nobody is set) with args, JSON lines on standard
// output; it returns the output, and the exit status.
func labConnectScan(t *testing.T, l *lab.Lab, nobody bool, args ...string) (scanOutput, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	name, cmdArgs := os.Args[0], append(args, "--format", "jsonl")
	if nobody {
		setpriv := citest.RequireTool(t, "setpriv")
		name, cmdArgs = setpriv, append(append(slices.Clone(nobodyArgs), os.Args[0]), cmdArgs...)
	}
	cmd := l.Command(ctx, name, cmdArgs...)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	cmd.Run()
	out := scanOutput{stderr: stderr.String(), elapsed: time.Since(start)}
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		if line == "" {
			continue
		}
		var f finding
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			t.Fatalf("output line %q: %v\nstderr:\n%s", line, err, stderr.String())
		}
		out.findings = append(out.findings, f)
	}
	return out, cmd.ProcessState.ExitCode()
}

// targetArgs are the command line's targets for ranges.
func targetArgs(ranges []addrRange) []string {
	var out []string
	for _, r := range ranges {
		if r.first == r.last {
			out = append(out, r.first.String())
		} else {
			out = append(out, r.String())
		}
	}
	return out
}

// checkConnectReasons checks each finding's reason against the lab: open
// syn-ack, closed reset, the prohibited range admin-prohibited (the remote
// router's ICMP 3/13, read from the socket's error queue), the blackholed range
// no-response (the connection abandoned after the timeout).
func checkConnectReasons(t *testing.T, tr lab.Truth, out scanOutput) {
	t.Helper()
	for _, f := range out.findings {
		ip := netip.MustParseAddr(f.IP)
		var want string
		switch {
		case f.State == "open":
			want = "syn-ack"
		case f.State == "closed":
			want = "reset"
		case tr.ProhibitedPrefix.Contains(ip):
			want = "admin-prohibited"
		case tr.BlackholePrefix.Contains(ip):
			want = "no-response"
		}
		if f.Reason != want || f.TTL != 0 || f.Proto != "tcp" {
			t.Errorf("%s:%d %s: reason %q ttl %d proto %s, want %q, ttl 0 (no reply seen), tcp", f.IP, f.Port, f.State, f.Reason, f.TTL, f.Proto, want)
		}
	}
}

// TestLabConnect runs TCP connect scans (-sT) in the lab as the unprivileged
// user nobody, with no capability: open and closed ports equal the lab's
// ground truth, the prohibited range is filtered by the router's ICMP error,
// the blackholed range filtered for silence (no-response, after the timeout
// when nothing else answers); the same scan as root (which
// then drops to nobody itself) finds the same. Without -sT, nobody's scan falls
// back to a connect scan and says so in one line; with --no-fallback it
// refuses.
func TestLabConnect(t *testing.T) {
	l := labtest.Start(t)
	tr := l.Truth()
	ranges := connectRanges(tr)
	ports := make([]string, len(connectPorts))
	for i, p := range connectPorts {
		ports[i] = strconv.Itoa(int(p))
	}
	base := append(targetArgs(ranges), "-p", strings.Join(ports, ","), "--show", "closed,filtered", "--wait", "1s", "--seed", "5")

	t.Run("nobody", func(t *testing.T) {
		// nobody writes the XML file: a directory of the scans' own (TestMain).
		dir, err := os.MkdirTemp(os.Getenv(testCwdEnv), "connect-")
		if err == nil {
			err = os.Chmod(dir, 0o777)
		}
		if err != nil {
			t.Fatal(err)
		}
		// Every file format (-oJ, -oC, -oL, -oX, -oG), the status lines.
		files := map[string]string{}
		args := append(slices.Clone(base), "-sT")
		for _, f := range output.Formats() {
			if f.Flag != "" {
				files[f.Name] = filepath.Join(dir, "scan."+f.Name)
				args = append(args, "-"+f.Flag, files[f.Name])
			}
		}
		status := filepath.Join(dir, "status.jsonl")
		out, code := labConnectScan(t, l, true, append(args, "--status-json", status)...)
		if code != exitOK {
			t.Fatalf("exit %d\n%s", code, out.stderr)
		}
		for name, file := range files {
			data, err := os.ReadFile(file)
			if err != nil || !bytes.Contains(data, []byte("198.19.1.10")) || !bytes.Contains(data, []byte("5432")) {
				t.Errorf("%s output %s: %v; want the open port 198.19.1.10:5432 in it:\n%.400s", name, file, err, data)
			}
		}
		if data, err := os.ReadFile(files["jsonl"]); err != nil || bytes.Count(data, []byte("\n")) != len(out.findings) {
			t.Errorf("-oJ: %d lines, %v; want the %d findings of standard output", bytes.Count(data, []byte("\n")), err, len(out.findings))
		}
		if data, err := os.ReadFile(status); err != nil {
			t.Error(err)
		} else {
			lines := strings.Split(strings.TrimSpace(string(data)), "\n")
			var last statusLine
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil || last.Phase != "done" ||
				last.Sent != out.summaryCount(t, "probes sent") || last.Found != out.summaryCount(t, "open") {
				t.Errorf("last status line %q (%v) disagrees with the summary:\n%s", lines[len(lines)-1], err, out.stderr)
			}
		}
		xml := files["xml"]
		compareRangesWithTruth(t, tr, out, ranges, connectPorts, true)
		checkConnectReasons(t, tr, out)
		if strings.Contains(out.stderr, "instead") || !strings.Contains(out.stderr, "TCP connect") {
			t.Errorf("stderr: want the summary of a connect scan and no fallback notice:\n%s", out.stderr)
		}
		doc, err := os.ReadFile(xml)
		if err != nil || !bytes.Contains(doc, []byte(`<status state="up" reason="reset"`)) || !bytes.Contains(doc, []byte("</nmaprun>")) {
			t.Errorf("nmap XML as nobody: %v\n%.600s", err, doc)
		}
		t.Run("as root, same findings", func(t *testing.T) {
			root, code := labConnectScan(t, l, false, append(slices.Clone(base), "-sT")...)
			if code != exitOK {
				t.Fatalf("exit %d\n%s", code, root.stderr)
			}
			if a, b := findingSet(out), findingSet(root); !slices.Equal(a, b) {
				t.Errorf("as root %d findings, as nobody %d; they differ", len(b), len(a))
			}
		})
	})

	t.Run("silent ports time out", func(t *testing.T) {
		// Nothing but the blackholed range: no answer ever, so the scan waits
		// the whole timeout (--wait) before it calls the ports filtered.
		bh := []addrRange{{netip.MustParseAddr("198.19.130.0"), netip.MustParseAddr("198.19.130.7")}}
		out, code := labConnectScan(t, l, true, append(targetArgs(bh), "-sT", "-p", "22,80,443", "--show", "filtered", "--wait", "700ms", "--retries", "0")...)
		if code != exitOK {
			t.Fatalf("exit %d\n%s", code, out.stderr)
		}
		compareRangesWithTruth(t, tr, out, bh, []uint16{22, 80, 443}, true)
		checkConnectReasons(t, tr, out)
		if len(out.findings) != 24 || out.elapsed < 700*time.Millisecond {
			t.Errorf("%d findings after %v: want 24 filtered, after the 700 ms timeout", len(out.findings), out.elapsed)
		}
	})

	t.Run("interrupted", func(t *testing.T) {
		// 32,768 connections at 5,000/s as nobody, stopped by SIGINT after a
		// second: exit 130, every open port counted was written.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		setpriv := citest.RequireTool(t, "setpriv")
		cmd := l.Command(ctx, setpriv, append(slices.Clone(nobodyArgs), os.Args[0], "-sT", "198.19.0.0/17", "-p", "80", "-r", "5000", "--format", "jsonl")...)
		cmd.Env = append(os.Environ(), runMainEnv+"=1")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		// ip netns exec and setpriv exec fastscan: the pid is fastscan's.
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		out := scanOutput{stderr: stderr.String()}
		if code := cmd.ProcessState.ExitCode(); code != exitInterrupted || !strings.Contains(out.stderr, "interrupted") {
			t.Fatalf("exit %d, want %d and an interrupted summary:\n%s", code, exitInterrupted, out.stderr)
		}
		lines := strings.Count(stdout.String(), "\n")
		if open := out.summaryCount(t, "open"); lines == 0 || uint64(lines) != open || open >= 32768 {
			t.Errorf("%d open ports written, the summary counts %d (of 32,768)", lines, open)
		}
		if strings.Count(stdout.String(), `"state":"open"`) != lines {
			t.Errorf("port 80 is open on every AnyIP address; output:\n%.300s", stdout.String())
		}
	})

	t.Run("fallback", func(t *testing.T) {
		out, code := labConnectScan(t, l, true, base...)
		if code != exitOK {
			t.Fatalf("exit %d\n%s", code, out.stderr)
		}
		compareRangesWithTruth(t, tr, out, ranges, connectPorts, true)
		checkConnectReasons(t, tr, out)
		notices := 0
		for _, line := range strings.Split(out.stderr, "\n") {
			if strings.Contains(line, "running a TCP connect scan (-sT) instead") {
				notices++
				if !strings.Contains(line, "CAP_NET_RAW") {
					t.Errorf("the fallback notice %q does not say why", line)
				}
			}
		}
		if notices != 1 {
			t.Errorf("%d fallback notices, want one line:\n%s", notices, out.stderr)
		}
	})

	t.Run("no fallback", func(t *testing.T) {
		out, code := labConnectScan(t, l, true, append(slices.Clone(base), "--no-fallback")...)
		msg := strings.TrimSpace(out.stderr)
		if code != exitFailure || len(out.findings) != 0 || strings.Contains(msg, "\n") || !strings.Contains(msg, "CAP_NET_RAW") || !strings.Contains(msg, "--no-fallback") {
			t.Errorf("exit %d, %d findings, stderr %q: want exit %d, nothing found, one line naming CAP_NET_RAW and --no-fallback", code, len(out.findings), msg, exitFailure)
		}
	})
}

// findingSet is the sorted "ip port state reason" lines of a scan's findings.
func findingSet(out scanOutput) []string {
	var s []string
	for _, f := range out.findings {
		s = append(s, f.IP+" "+strconv.Itoa(int(f.Port))+" "+f.State+" "+f.Reason)
	}
	slices.Sort(s)
	return s
}

// TestConnectWithoutRoot scans listeners of this test on the host's loopback as
// nobody: with -sT quietly, without it after the one-line fallback notice;
// listening ports open, the others closed. A connect scan refuses what it
// cannot do (UDP, --pcap, -g, -i) with one line and exit 2, nothing sent.
func TestConnectWithoutRoot(t *testing.T) {
	citest.RequireRoot(t) // to become nobody
	var open []string
	for range 3 {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		open = append(open, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	}
	closed := []string{}
	for len(closed) < 3 {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closed = append(closed, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
		ln.Close()
	}
	ports := strings.Join(append(slices.Clone(open), closed...), ",")
	for _, explicit := range []bool{true, false} {
		args := []string{"127.0.0.1", "-p", ports, "--show", "closed", "--format", "jsonl"}
		if explicit {
			args = append(args, "-sT")
		}
		stdout, stderr, code := asNobody(t, args...)
		if code != exitOK {
			t.Fatalf("-sT %v: exit %d\n%s", explicit, code, stderr)
		}
		if got := strings.Contains(stderr, "running a TCP connect scan (-sT) instead"); got == explicit {
			t.Errorf("-sT %v: fallback notice %v:\n%s", explicit, got, stderr)
		}
		states := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
			var f finding
			if err := json.Unmarshal([]byte(line), &f); err != nil {
				t.Fatalf("-sT %v: %q: %v", explicit, line, err)
			}
			states[strconv.Itoa(int(f.Port))] = f.State
		}
		for _, p := range open {
			if states[p] != "open" {
				t.Errorf("-sT %v: port %s %q, want open", explicit, p, states[p])
			}
		}
		for _, p := range closed {
			if states[p] != "closed" {
				t.Errorf("-sT %v: port %s %q, want closed", explicit, p, states[p])
			}
		}
	}
	for _, bad := range [][]string{
		{"-sT", "-p", "U:53"}, {"-sT", "-sU", "-p", "53"}, {"-sT", "-p", "80", "--pcap", "x.pcap"},
		{"-sT", "-p", "80", "-g", "53"}, {"-sT", "-p", "80", "-i", "lo"}, {"-sT", "-sS", "-p", "80"},
		{"-sT", "-p", "80", "--max-parallelism", "5"}, {"-sT", "-p", "80", "--no-fallback"},
	} {
		_, stderr, code := asNobody(t, append([]string{"127.0.0.1"}, bad...)...)
		if msg := strings.TrimSpace(stderr); code != exitUsage || strings.Contains(msg, "\n") || msg == "" {
			t.Errorf("%q: exit %d, %q; want one line, exit %d", bad, code, msg, exitUsage)
		}
	}
	// Without the privilege, and with what a connect scan cannot do: no
	// fallback, the advice, exit 1.
	_, stderr, code := asNobody(t, "127.0.0.1", "-p", "U:53")
	if msg := strings.TrimSpace(stderr); code != exitFailure || !strings.Contains(msg, "CAP_NET_RAW") || !strings.Contains(msg, "UDP") || strings.Contains(msg, "\n") {
		t.Errorf("UDP as nobody: exit %d, %q; want one line, CAP_NET_RAW and why no connect scan, exit %d", code, msg, exitFailure)
	}
}

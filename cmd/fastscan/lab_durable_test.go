package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"github.com/google/gopacket/pcapgo"
	"io"

	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fastscan/fastscan/lab"
	"github.com/fastscan/fastscan/lab/labtest"
	"github.com/fastscan/fastscan/output/outputtest"
)

// labCommand is the fastscan command with args in the lab's scanner namespace.
func labCommand(ctx context.Context, l *lab.Lab, args ...string) *exec.Cmd {
	cmd := l.Command(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	return cmd
}

// TestLabFlushLatency scans slowly (100 probes per second) and watches the JSON
// lines file and standard output as the scan goes: every open port must reach both
// within 1.5 s of its reply (the timestamp in its line), not at the end.
func TestLabFlushLatency(t *testing.T) {
	l := labtest.Start(t)
	first, last := netip.MustParseAddr("198.19.0.0"), netip.MustParseAddr("198.19.0.255")
	open, _, _, _ := l.Truth().Count(first, last, []uint16{80})
	if open < 10 {
		t.Fatalf("the lab has %d open ports in %v-%v: too few to measure", open, first, last)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	file := filepath.Join(t.TempDir(), "r.jsonl")
	// 256 probes at 100/s: 2.6 s.
	cmd := labCommand(ctx, l, "198.19.0.0/24", "-p", "80", "-r", "100", "--retries", "0", "--format", "jsonl", "-oJ", file, "-q")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	latency := func(line []byte, seen time.Time) time.Duration {
		var f finding
		if err := json.Unmarshal(line, &f); err != nil {
			t.Errorf("line %q: %v", line, err)
			return 0
		}
		ts, err := time.Parse(time.RFC3339Nano, f.Timestamp)
		if err != nil {
			t.Errorf("timestamp %q: %v", f.Timestamp, err)
		}
		return seen.Sub(ts)
	}
	var mu sync.Mutex
	var stdoutWorst time.Duration
	var stdoutLines int
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			d := latency(sc.Bytes(), time.Now())
			mu.Lock()
			stdoutWorst, stdoutLines = max(stdoutWorst, d), stdoutLines+1
			mu.Unlock()
		}
	}()
	exited := make(chan error, 1)
	go func() { <-readDone; exited <- cmd.Wait() }()
	var fileWorst time.Duration
	var fileLines int
	var done bool
	for !done {
		select {
		case err := <-exited:
			if err != nil {
				t.Fatalf("fastscan: %v\n%s", err, stderr.String())
			}
			done = true
		case <-time.After(10 * time.Millisecond):
		}
		if done {
			break
		}
		data, _ := os.ReadFile(file)
		now := time.Now()
		lines := strings.Split(string(data), "\n")
		for _, line := range lines[fileLines : len(lines)-1] {
			fileWorst = max(fileWorst, latency([]byte(line), now))
			fileLines++
		}
	}
	t.Logf("%d open ports: %d seen in the file while scanning, worst %v; on standard output worst %v", open, fileLines, fileWorst, stdoutWorst)
	if fileLines < int(open)*3/4 {
		t.Errorf("only %d of %d open ports reached the file before the scan ended", fileLines, open)
	}
	if fileWorst > 1500*time.Millisecond {
		t.Errorf("a result reached the file %v after its reply, want under 1.5 s", fileWorst)
	}
	if stdoutLines != int(open) || stdoutWorst > 1500*time.Millisecond {
		t.Errorf("standard output: %d lines, worst %v after the reply; want %d, under 1.5 s", stdoutLines, stdoutWorst, open)
	}
}

// checkWholeRecords checks that every output file of a scan that was stopped at
// any moment holds whole records only: each JSON line parses, the CSV rows are
// whole, the list and grepable lines end, the nmap XML is a prefix of whole
// elements that closing tags make valid. It returns the JSON lines.
func checkWholeRecords(t *testing.T, files map[string]string) int {
	t.Helper()
	read := func(format string) string {
		data, err := os.ReadFile(files[format])
		if err != nil {
			t.Fatal(err)
		}
		return cutPageTear(t, format, string(data))
	}
	data := read("jsonl")
	if data != "" && !strings.HasSuffix(data, "\n") {
		t.Errorf("JSON lines end mid-line: %q", data[max(0, len(data)-100):])
	}
	jsonLines := 0
	for _, line := range strings.Split(strings.TrimSuffix(data, "\n"), "\n") {
		if line == "" {
			continue
		}
		var f finding
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			t.Errorf("JSON line %q: %v", line, err)
		}
		jsonLines++
	}
	if data := read("csv"); data != "" {
		if !strings.HasSuffix(data, "\r\n") {
			t.Errorf("CSV ends mid-row: %q", data[max(0, len(data)-100):])
		}
		rows, err := csv.NewReader(strings.NewReader(data)).ReadAll()
		if err != nil {
			t.Errorf("CSV: %v", err)
		}
		for _, row := range rows {
			if len(row) != 11 {
				t.Errorf("CSV row %q", row)
			}
		}
	}
	for _, format := range []string{"list", "grepable"} {
		if data := read(format); data != "" && !strings.HasSuffix(data, "\n") {
			t.Errorf("%s ends mid-line: %q", format, data[max(0, len(data)-100):])
		}
	}
	if data := read("xml"); data != "" {
		outputtest.ValidateNmapXMLPrefix(t, []byte(data))
	}
	return jsonLines
}

// labOutputFiles names one file per file format in dir, and the flags that write them.
func labOutputFiles(dir string) (map[string]string, []string) {
	files := map[string]string{}
	var args []string
	for format, flag := range map[string]string{"jsonl": "oJ", "csv": "oC", "list": "oL", "xml": "oX", "grepable": "oG"} {
		files[format] = filepath.Join(dir, "r."+format)
		args = append(args, "-"+flag, files[format])
	}
	return files, args
}

// TestLabKill kills a scan with SIGKILL while it writes: every output file holds
// whole records only, and results are on disk (the XML's hosts too).
func TestLabKill(t *testing.T) {
	l := labtest.Start(t)
	for _, after := range []time.Duration{700 * time.Millisecond, 1300 * time.Millisecond} {
		t.Run(after.String(), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			files, args := labOutputFiles(t.TempDir())
			pcapFile := files["xml"] + ".pcap"
			args = append(args, "--pcap", pcapFile)
			// 32,768 probes at 15,000/s, every verdict shown: more than 64 KiB a second.
			cmd := labCommand(ctx, l, append([]string{"198.19.0.0/17", "-p", "80", "-r", "15000", "--show", "all", "-q"}, args...)...)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			if err := waitForRing(l, 30*time.Second); err != nil {
				t.Fatal(err)
			}
			time.Sleep(after)
			cmd.Process.Kill()
			cmd.Wait()
			n := checkWholeRecords(t, files)
			xml, _ := os.ReadFile(files["xml"])
			if n == 0 || !strings.Contains(string(xml), "<host ") {
				t.Errorf("after %v: %d JSON lines, XML of %d bytes without a host: results written only at the end", after, n, len(xml))
			}
			// The pcap holds whole packets, as many as have been flushed.
			packets := wholePcapPackets(t, pcapFile)
			if packets == 0 {
				t.Errorf("after %v: no reply in the pcap", after)
			}
			t.Logf("killed after %v: %d JSON lines, %d pcap packets on disk", after, n, packets)
		})
	}
}

// TestLabBrokenPipe: "fastscan ... | head -1": standard output's reader goes away.
// The scan stops the orderly way with SIGPIPE's status (141), and every other
// output holds every result: the JSON lines file as many open ports as the summary
// counts, the XML complete and valid.
func TestLabBrokenPipe(t *testing.T) {
	l := labtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	jsonFile, xmlFile := filepath.Join(dir, "r.jsonl"), filepath.Join(dir, "r.xml")
	// 65,536 probes at 20,000/s: about 3.3 s; head leaves after the first line.
	cmd := labCommand(ctx, l, "198.19.0.0/16", "-p", "80", "-r", "20000", "-oJ", jsonFile, "-oX", xmlFile)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	first, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("first line: %v", err)
	}
	stdout.Close()
	start := time.Now()
	cmd.Wait()
	code := cmd.ProcessState.ExitCode()
	t.Logf("first line %q; exit %d %v after the reader left", strings.TrimSpace(first), code, time.Since(start))
	if code != exitBrokenPipe {
		t.Fatalf("exit %d (%v), want %d\n%s", code, cmd.ProcessState, exitBrokenPipe, stderr.String())
	}
	out := scanOutput{stderr: stderr.String()}
	if !strings.Contains(out.stderr, "interrupted") {
		t.Errorf("summary does not say interrupted:\n%s", out.stderr)
	}
	open := out.summaryCount(t, "open")
	data, err := os.ReadFile(jsonFile)
	if err != nil {
		t.Fatal(err)
	}
	if got := uint64(strings.Count(string(data), "\n")); got != open || open >= 65536 {
		t.Errorf("JSON lines file holds %d results, the summary counts %d open (of 65,536)", got, open)
	}
	xml, err := os.ReadFile(xmlFile)
	if err != nil {
		t.Fatal(err)
	}
	outputtest.ValidateNmapXML(t, xml)
	if got := uint64(strings.Count(string(xml), `state="open"`)); got != open {
		t.Errorf("XML holds %d open ports, the summary counts %d", got, open)
	}
}

// TestLabDiskFull writes JSON lines and CSV to a small tmpfs that fills during the
// scan: exit 1 with one error naming the file, both files hold whole records only,
// and the outputs elsewhere (standard output, nmap XML) are complete.
func TestLabDiskFull(t *testing.T) {
	l := labtest.Start(t)
	dir := t.TempDir()
	full := filepath.Join(dir, "full")
	if err := os.Mkdir(full, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", full, "tmpfs", 0, "size=100k"); err != nil {
		t.Fatalf("mounting a small tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(full, 0); err != nil {
			t.Errorf("unmounting %s: %v", full, err)
		}
	})
	files := map[string]string{"jsonl": filepath.Join(full, "r.jsonl"), "csv": filepath.Join(full, "r.csv"),
		"list": filepath.Join(dir, "r.list"), "grepable": filepath.Join(dir, "r.gnmap"), "xml": filepath.Join(dir, "r.xml")}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// 65,536 probes at 50,000/s, every verdict shown: about 15 MB of JSON lines.
	cmd := labCommand(ctx, l, "198.19.0.0/16", "-p", "80", "-r", "50000", "--show", "all", "--format", "jsonl",
		"-oJ", files["jsonl"], "-oC", files["csv"], "-oL", files["list"], "-oG", files["grepable"], "-oX", files["xml"])
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != exitFailure {
		t.Fatalf("exit %d, want %d\n%s", code, exitFailure, stderr.String())
	}
	msg := lastLine(stderr.String())
	if !strings.Contains(msg, full) || !strings.Contains(msg, "no space left on device") {
		t.Errorf("error %q: want one naming the file on the full disk", msg)
	}
	if !strings.Contains(stderr.String(), "interrupted") {
		t.Errorf("summary does not say interrupted:\n%s", stderr.String())
	}
	n := checkWholeRecords(t, files)
	if n == 0 {
		t.Errorf("no JSON line reached the disk before it was full")
	}
	// Every result went to standard output and to the files with room.
	results := strings.Count(stdout.String(), "\n")
	outputtest.NewValidator(t).ValidateLines(t, stdout.Bytes())
	if results <= n || results >= 65536 {
		t.Errorf("%d results on standard output, %d in the full file: the scan did not stop at the error", results, n)
	}
	list, _ := os.ReadFile(files["list"])
	if got := strings.Count(string(list), "\n") - 2; got != results {
		t.Errorf("list file holds %d results, standard output %d", got, results)
	}
	xml, _ := os.ReadFile(files["xml"])
	outputtest.ValidateNmapXML(t, xml)
	if !strings.Contains(string(xml), fmt.Sprintf(`errormsg="cannot write output file &quot;%s`, full)) {
		t.Errorf("XML does not say why the scan stopped:\n%s", xml[max(0, len(xml)-400):])
	}
	var sum int
	for _, st := range []string{"open", "closed", "filtered"} {
		sum += strings.Count(string(xml), `<state state="`+st+`"`)
	}
	if sum != results {
		t.Errorf("XML holds %d ports, standard output %d", sum, results)
	}
}

// wholePcapPackets reads a pcap file to its end and fails the test unless it ends
// with a whole packet; it returns the number of packets.
func wholePcapPackets(t *testing.T, name string) int {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	n := 0
	for {
		_, _, err := r.ReadPacketData()
		if err == io.EOF {
			return n
		}
		if err != nil {
			t.Fatalf("%s: packet %d: %v (not whole packets)", name, n+1, err)
		}
		n++
	}
}

// recordEnds are what ends a whole record in each text format.
var recordEnds = map[string]string{"jsonl": "\n", "csv": "\r\n", "list": "\n", "grepable": "\n", "xml": "</host>\n"}

// cutPageTear allows the one tear the kernel may make: a write(2) of several pages
// that SIGKILL interrupts stops at a page boundary (generic_perform_write checks for
// a fatal signal before each page), so a file whose length is a multiple of the page
// size may end inside a record. Such a tail is cut off (and logged); anywhere else a
// partial record is the writer's fault and the checks that follow fail.
func cutPageTear(t *testing.T, format, data string) string {
	end := recordEnds[format]
	if len(data) == 0 || len(data)%os.Getpagesize() != 0 || strings.HasSuffix(data, end) ||
		(format == "xml" && strings.HasSuffix(data, "</nmaprun>\n")) {
		return data
	}
	cut := strings.LastIndex(data, end)
	if format == "xml" && cut < 0 {
		cut = strings.Index(data, "<debugging") // the header ends with <debugging .../>
		if cut >= 0 {
			cut = strings.Index(data[cut:], "\n") + cut
			end = "\n"
		}
	}
	if cut < 0 {
		return ""
	}
	t.Logf("%s: %d bytes, a page multiple, end inside a record: SIGKILL cut a multi-page write at a page boundary; %d bytes of whole records kept", format, len(data), cut+len(end))
	return data[:cut+len(end)]
}

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fastscan/fastscan/citest"
	"github.com/fastscan/fastscan/cookie"
	"github.com/fastscan/fastscan/lab"
	"github.com/fastscan/fastscan/lab/labtest"
	"github.com/fastscan/fastscan/output/outputtest"
	"github.com/fastscan/fastscan/packet"
	"github.com/fastscan/fastscan/packet/packettest"
	"github.com/fastscan/fastscan/registry"
)

// runMainEnv makes the test binary act as the fastscan command (see TestMain), so the
// end-to-end tests run the real command inside the lab without building another binary.
const runMainEnv = "FASTSCAN_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		// The scans of the tests keep their default checkpoint (fastscan.resume)
		// in a directory of their own inside the test run's, not in the
		// package's source directory (where a killed scan's would stop the next).
		if dir := os.Getenv(testCwdEnv); dir != "" {
			own, err := os.MkdirTemp(dir, "scan-")
			if err == nil {
				err = os.Chdir(own)
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(exitFailure)
			}
		}
		main()
		return
	}
	dir, err := os.MkdirTemp("", "fastscan-test-cwd-")
	if err == nil {
		err = os.Chmod(dir, 0o1777) // scans run as nobody make their directory in it too
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(exitFailure)
	}
	os.Setenv(testCwdEnv, dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testCwdEnv names the working directory of the scans the tests run as
// subprocesses (TestMain).
const testCwdEnv = "FASTSCAN_TEST_CWD"

// finding is one JSON line of fastscan's output.
type finding struct {
	IP        string `json:"ip"`
	Port      uint16 `json:"port"`
	Proto     string `json:"proto"`
	State     string `json:"state"`
	Reason    string `json:"reason"`
	TTL       int    `json:"ttl"`
	Service   string `json:"service"`
	PortClass string `json:"port_class"`
	Timestamp string `json:"timestamp"`
	// The scan record of a sharded scan (its first line) has these instead.
	Record string `json:"record"`
	ScanID string `json:"scan_id"`
	Shard  int    `json:"shard"`
	Shards int    `json:"shards"`
}

// scanOutput is what one fastscan run in the lab produced.
type scanOutput struct {
	findings []finding
	records  []finding // scan records (a sharded scan's first line)
	notes    []string  // host-note records (after the results), as written
	stderr   string
	elapsed  time.Duration
}

// summaryCount reads "name N" from the summary on stderr.
func (o scanOutput) summaryCount(t *testing.T, name string) uint64 {
	t.Helper()
	m := regexp.MustCompile(regexp.QuoteMeta(name) + ` (\d+)`).FindStringSubmatch(o.stderr)
	if m == nil {
		t.Fatalf("summary has no %q:\n%s", name, o.stderr)
	}
	n, _ := strconv.ParseUint(m[1], 10, 64)
	return n
}

// scanLab runs fastscan with args (plus --format jsonl) in the lab's scanner namespace.
func scanLab(t *testing.T, l *lab.Lab, args ...string) scanOutput {
	t.Helper()
	return scanLabEnv(t, l, nil, args...)
}

// scanLabEnv is scanLab with more environment variables (NAME=VALUE).
func scanLabEnv(t *testing.T, l *lab.Lab, env []string, args ...string) scanOutput {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := l.Command(ctx, os.Args[0], append(args, "--format", "jsonl")...)
	cmd.Env = append(append(os.Environ(), runMainEnv+"=1"), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	out := scanOutput{stderr: stderr.String(), elapsed: time.Since(start)}
	if err != nil {
		t.Fatalf("fastscan %s: %v\nstderr:\n%s", strings.Join(args, " "), err, stderr.String())
	}
	// Every JSON line the lab tests see must match the published schema.
	outputtest.NewValidator(t).ValidateLines(t, stdout.Bytes())
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var f finding
		if err := json.Unmarshal(sc.Bytes(), &f); err != nil {
			t.Fatalf("output line %q: %v", sc.Text(), err)
		}
		if f.Record == "host-note" { // after the results (open-everywhere hosts)
			out.notes = append(out.notes, sc.Text())
			continue
		}
		if f.Record != "" {
			if len(out.findings) > 0 || len(out.records) > 0 || len(out.notes) > 0 {
				t.Errorf("scan record %q after the first line", sc.Text())
			}
			out.records = append(out.records, f)
			continue
		}
		out.findings = append(out.findings, f)
	}
	return out
}

// compareWithTruth checks every finding against the lab's ground truth and that every
// open port of the truth was found. With all set, every probed port must be reported.
func compareWithTruth(t *testing.T, truth lab.Truth, out scanOutput, first, last netip.Addr, ports []uint16, all bool) {
	t.Helper()
	compareRangesWithTruth(t, truth, out, []addrRange{{first, last}}, ports, all)
}

// addrRange is an inclusive range of addresses.
type addrRange struct{ first, last netip.Addr }

// compareRangesWithTruth is compareWithTruth for a scan of several ranges.
func compareRangesWithTruth(t *testing.T, truth lab.Truth, out scanOutput, ranges []addrRange, ports []uint16, all bool) {
	t.Helper()
	seen := map[netip.AddrPort]bool{}
	got := map[string]uint64{}
	for _, f := range out.findings {
		ip, err := netip.ParseAddr(f.IP)
		if err != nil {
			t.Fatalf("finding with bad ip: %+v", f)
		}
		ap := netip.AddrPortFrom(ip, f.Port)
		if seen[ap] {
			t.Errorf("%v reported twice", ap)
		}
		seen[ap] = true
		got[f.State]++
		if want := truth.State(ip, f.Port).String(); f.State != want {
			t.Errorf("%v: scanner says %s (%s), truth is %s", ap, f.State, f.Reason, want)
		}
		wantService := registry.Default().Name(f.Port, registry.TCP)
		if wantService == "" {
			wantService = "unknown"
		}
		if f.Service != wantService || f.PortClass != registry.ClassOf(f.Port).String() {
			t.Errorf("%v: service %q class %q, want %q %q", ap, f.Service, f.PortClass, wantService, registry.ClassOf(f.Port))
		}
	}
	var open, closed, filtered, down uint64
	var truthOpen []netip.AddrPort
	for _, r := range ranges {
		o, c, f, d := truth.Count(r.first, r.last, ports)
		open, closed, filtered, down = open+o, closed+c, filtered+f, down+d
		truthOpen = append(truthOpen, truth.Open(r.first, r.last, ports)...)
	}
	var missed int
	for _, ap := range truthOpen {
		if !seen[ap] {
			missed++
			if missed <= 10 {
				t.Errorf("open port %v not found", ap)
			}
		}
	}
	if missed > 0 {
		t.Errorf("%d of %d open ports missed", missed, open)
	}
	if got["open"] != open {
		t.Errorf("found %d open ports, truth has %d", got["open"], open)
	}
	if all {
		if got["closed"] != closed || got["filtered"] != filtered {
			t.Errorf("closed %d filtered %d, truth has closed %d filtered %d", got["closed"], got["filtered"], closed, filtered)
		}
	}
	if n := out.summaryCount(t, "hosts down"); n*uint64(len(ports)) != down {
		t.Errorf("summary says %d hosts down (%d targets), truth has %d down targets", n, n*uint64(len(ports)), down)
	}
	t.Logf("%v x %d ports: open %d closed %d filtered %d down %d in %v", ranges, len(ports), open, closed, filtered, down, out.elapsed)
}

func portRange(lo, hi int) []uint16 {
	var ps []uint16
	for p := lo; p <= hi; p++ {
		ps = append(ps, uint16(p))
	}
	return ps
}

// TestLab runs the real command against the lab and compares with its ground truth.
func TestLab(t *testing.T) {
	l := labtest.Start(t)
	truth := l.Truth()

	t.Run("RoutedSlash16", func(t *testing.T) {
		// 65,536 probes: every address of the routed /16 on one port.
		out := scanLab(t, l, "198.19.0.0/16", "-p", "80", "-r", "200000", "--show", "all", "--retries", "2", "--seed", "1")
		compareWithTruth(t, truth, out, netip.MustParseAddr("198.19.0.0"), netip.MustParseAddr("198.19.255.255"), []uint16{80}, true)
		var icmp uint64
		for _, f := range out.findings {
			if f.Reason == "admin-prohibited" {
				icmp++
			}
		}
		if icmp == 0 {
			t.Errorf("no filtered verdict came from an ICMP admin-prohibited reply")
		}
	})

	t.Run("RoutedSpecificListeners", func(t *testing.T) {
		out := scanLab(t, l, "198.19.1.0/24,198.19.100.200", "-p", "22,5432,8080", "--show", "all")
		special := netip.MustParseAddr("198.19.100.200")
		compareRangesWithTruth(t, truth, out, []addrRange{
			{netip.MustParseAddr("198.19.1.0"), netip.MustParseAddr("198.19.1.255")},
			{special, special},
		}, []uint16{22, 5432, 8080}, true)
	})

	t.Run("LANSlash24", func(t *testing.T) {
		out := scanLab(t, l, "198.18.1.0/24", "-p", "1-1024", "-r", "100000", "--show", "all")
		compareWithTruth(t, truth, out, netip.MustParseAddr("198.18.1.0"), netip.MustParseAddr("198.18.1.255"), portRange(1, 1024), true)
	})

	t.Run("LANHostAllPorts", func(t *testing.T) {
		h := truth.Hosts[0]
		out := scanLab(t, l, h.Addr.String(), "-p-", "-r", "200000")
		compareWithTruth(t, truth, out, h.Addr, h.Addr, portRange(1, 65535), false)
	})

	t.Run("Loopback", func(t *testing.T) {
		var port uint16
		err := l.Do(l.ScannerNS(), func() error {
			ln, err := net.Listen("tcp4", "127.0.0.1:0")
			if err != nil {
				return err
			}
			t.Cleanup(func() { ln.Close() })
			port = uint16(ln.Addr().(*net.TCPAddr).Port)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		out := scanLab(t, l, "127.0.0.1", "-p", fmt.Sprintf("%d,%d", port, port+1), "--show", "closed")
		want := map[uint16]string{port: "open", port + 1: "closed"}
		if len(out.findings) != 2 {
			t.Fatalf("findings %+v, want %v", out.findings, want)
		}
		for _, f := range out.findings {
			if f.IP != "127.0.0.1" || want[f.Port] != f.State {
				t.Errorf("finding %+v, want %v", f, want)
			}
		}
	})

	t.Run("ForgedReplies", func(t *testing.T) { testForgedReplies(t, l) })

	t.Run("AllOutputsAgree", func(t *testing.T) { testAllOutputs(t, l) })

	t.Run("StatusJSON", func(t *testing.T) { testStatusJSON(t, l) })

	t.Run("Pcap", func(t *testing.T) { testPcap(t, l) })
}

// testForgedReplies injects SYN-ACKs into the scanner's namespace while it scans
// blackholed addresses (which never answer): SYN-ACKs whose acknowledgement number is
// wrong must produce nothing, and one with the right cookie (computed from the fixed
// seed) must produce exactly one open port, proving the injected frames do arrive.
func testForgedReplies(t *testing.T, l *lab.Lab) {
	truth := l.Truth()
	const seed = 99
	first := netip.MustParseAddr("198.19.128.0") // blackholed
	genuine := netip.MustParseAddr("198.19.128.7")
	local := truth.ScannerWANAddr
	key := cookie.NewKey(seed)
	flow := func(ip netip.Addr, lport uint16) packettest.Flow {
		return packettest.Flow{
			LocalMAC: truth.ScannerWANMAC, TargetMAC: truth.RemoteWANMAC,
			LocalIP: u32(local), TargetIP: u32(ip), LocalPort: lport, TargetPort: 80,
		}
	}
	var frames [][]byte
	for i := 0; i < 16; i++ {
		ip := netip.AddrFrom4([4]byte{198, 19, 128, byte(i)})
		ack := key.Sum(u32(local), u32(ip), 61000+uint16(i), 80) + 1
		frames = append(frames, packettest.SYNACK(t, flow(ip, 61000+uint16(i)), ack+1+uint32(i))) // wrong ack
	}
	// The genuine reply goes with every round: the scanner must report it once.
	frames = append(frames, packettest.SYNACK(t, flow(genuine, 61005), key.Sum(u32(local), u32(genuine), 61005, 80)+1))

	// Inject every 20 ms, for at most 5 s, while the scan runs.
	done := make(chan struct{})
	injectErr := make(chan error, 1)
	go func() { injectErr <- injectFrames(l, frames, done, 20*time.Millisecond, 5*time.Second) }()
	out := scanLab(t, l, first.String()+"-198.19.128.15", "-p", "80", "-r", "10", "--retries", "0", "--wait", "1s", "--seed", strconv.Itoa(seed))
	close(done)
	if err := <-injectErr; err != nil {
		t.Fatalf("injecting forged replies: %v", err)
	}
	if len(out.findings) != 1 || out.findings[0].IP != genuine.String() || out.findings[0].State != "open" {
		t.Fatalf("findings %+v, want only the genuine %v:80 open", out.findings, genuine)
	}
	if n := out.summaryCount(t, "invalid replies"); n == 0 {
		t.Errorf("summary counts no invalid replies, yet forged ones were injected:\n%s", out.stderr)
	}
}

func u32(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

// String formats the range for test logs.
func (r addrRange) String() string { return r.first.String() + "-" + r.last.String() }

// TestLabInterrupt stops a scan with SIGINT, SIGTERM or SIGHUP halfway: the command
// must exit with status 128 + the signal's number, say it was interrupted, and have
// written every open port its summary counts.
func TestLabInterrupt(t *testing.T) {
	l := labtest.Start(t)
	for _, sig := range []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) { testInterrupt(t, l, sig) })
	}
}

// testInterrupt stops a scan with sig halfway: exit status 128 + sig, the summary says it
// was interrupted, every open port it counts was written, and every output file is
// complete: the XML valid, the pcap readable by tcpdump, the CSV whole.
func testInterrupt(t *testing.T, l *lab.Lab, sig os.Signal) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	xmlFile, pcapFile, csvFile := filepath.Join(dir, "r.xml"), filepath.Join(dir, "r.pcap"), filepath.Join(dir, "r.csv")
	statusFile := filepath.Join(dir, "status.jsonl")
	// 32,768 probes at 20,000/s: about 1.6 s; interrupted after 0.6 s.
	cmd := l.Command(ctx, os.Args[0], "198.19.0.0/17", "-p", "80", "-r", "20000", "--format", "jsonl",
		"-oX", xmlFile, "--pcap", pcapFile, "-oC", csvFile, "--status-json", statusFile)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Once the receive ring is open the scan is under way (on a loaded machine a
	// fixed delay from the start may end before the first probe).
	if err := waitForRing(l, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	// ip netns exec replaces itself with the command, so this is fastscan's process.
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if code, want := cmd.ProcessState.ExitCode(), 128+int(sig.(syscall.Signal)); code != want {
		t.Fatalf("exit %d (%v), want %d\n%s", code, err, want, stderr.String())
	}
	out := scanOutput{stderr: stderr.String()}
	if !strings.Contains(out.stderr, "interrupted") {
		t.Errorf("summary does not say interrupted:\n%s", out.stderr)
	}
	outputtest.NewValidator(t).ValidateLines(t, stdout.Bytes())
	lines := strings.Count(stdout.String(), "\n")
	open := out.summaryCount(t, "open")
	if lines == 0 || uint64(lines) != open {
		t.Errorf("%d open ports written, summary counts %d", lines, open)
	}
	if open >= 32768 {
		t.Errorf("scan was not interrupted: %d open", open)
	}
	// The XML of an interrupted scan is complete and valid.
	data, err := os.ReadFile(xmlFile)
	if err != nil {
		t.Fatal(err)
	}
	outputtest.ValidateNmapXML(t, data)
	if got := uint64(strings.Count(string(data), `state="open"`)); got != open {
		t.Errorf("XML holds %d open ports, summary counts %d", got, open)
	}
	// It counts only the hosts a probe reached, up (they answered) or down.
	run := outputtest.ParseNmapXML(t, data)
	if hs := run.Runstats.Hosts; hs.Total == 0 || hs.Total >= 32768 || hs.Up+hs.Down != hs.Total || uint64(hs.Up) < open {
		t.Errorf("runstats of the interrupted scan: up %d down %d total %d (%d open ports, 32,768 targets)", hs.Up, hs.Down, hs.Total, open)
	}
	// It says the scan did not finish, and why.
	cause := map[os.Signal]string{os.Interrupt: "interrupt", syscall.SIGTERM: "terminated", syscall.SIGHUP: "hangup"}[sig]
	if want := ` exit="error" errormsg="interrupted: ` + cause + ` signal received"/>`; !strings.Contains(string(data), want) {
		t.Errorf("XML of the interrupted scan lacks %q:\n%s", want, data[max(0, len(data)-600):])
	}
	// The last status line says interrupted.
	status, err := os.ReadFile(statusFile)
	if err != nil {
		t.Fatal(err)
	}
	statusLines := strings.Split(strings.TrimSpace(string(status)), "\n")
	var last statusLine
	if err := json.Unmarshal([]byte(statusLines[len(statusLines)-1]), &last); err != nil || last.Phase != "interrupted" {
		t.Errorf("last status line %q (%v): want phase interrupted", statusLines[len(statusLines)-1], err)
	}
	// The CSV has its header and one whole row per open port.
	f, err := os.Open(csvFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil || uint64(len(rows)) != open+1 {
		t.Errorf("CSV after %v: %d rows (%v), want %d", sig, len(rows), err, open+1)
	}
	// The pcap is readable to its end.
	if tcpdump, err := exec.LookPath("tcpdump"); err == nil {
		dump, err := exec.Command(tcpdump, "-n", "-r", pcapFile).CombinedOutput()
		if err != nil || strings.Contains(string(dump), "truncated") {
			t.Errorf("tcpdump -r after %v: %v\n%s", sig, err, dump)
		}
	}
}

// asNobody runs the command with args as the unprivileged user nobody, without any
// capability, and returns its standard output, standard error and exit status.
func asNobody(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	citest.RequireRoot(t) // to become the unprivileged user
	setpriv := citest.RequireTool(t, "setpriv")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, setpriv, append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
		os.Args[0]}, args...)...)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Run()
	return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
}

// TestWithoutCapNetRaw runs a scan as an unprivileged user that refuses the
// connect scan fallback (--no-fallback): one line saying how to get
// CAP_NET_RAW, exit status 1, nothing sent.
func TestWithoutCapNetRaw(t *testing.T) {
	_, stderr, code := asNobody(t, "127.0.0.1", "-p", "80", "--no-fallback")
	if code != exitFailure {
		t.Fatalf("exit %d, want %d: %s", code, exitFailure, stderr)
	}
	msg := strings.TrimSpace(stderr)
	if strings.Contains(msg, "\n") || !strings.Contains(msg, "CAP_NET_RAW") || !strings.Contains(msg, "setcap") || !strings.Contains(msg, "sudo") {
		t.Fatalf("stderr %q: want one line naming CAP_NET_RAW, sudo and setcap", msg)
	}
}

// TestRegistryWithoutRoot runs "fastscan registry" as an unprivileged user: it needs
// no capabilities at all.
func TestRegistryWithoutRoot(t *testing.T) {
	stdout, stderr, code := asNobody(t, "registry", "--json", "ssh")
	if code != exitOK || !strings.Contains(stdout, `"port":22,"proto":"tcp","service":"ssh"`) {
		t.Fatalf("registry as nobody: exit %d, printed %s%s", code, stdout, stderr)
	}
}

// testAllOutputs writes one scan in every format at once (JSON lines on stdout, CSV,
// list and JSON lines files) and checks that each holds the same findings, read back
// with a CSV reader and the list layout; an output file that cannot be created fails
// before anything is sent.
func testAllOutputs(t *testing.T, l *lab.Lab) {
	dir := t.TempDir()
	csvFile, listFile, jsonFile := filepath.Join(dir, "r.csv"), filepath.Join(dir, "r.lst"), filepath.Join(dir, "r.jsonl")
	xmlFile, grepFile := filepath.Join(dir, "r.xml"), filepath.Join(dir, "r.gnmap")
	out := scanLab(t, l, "198.19.100.200,198.19.192.1", "-p", "22,80,5432,8080", "--show", "all",
		"-oC", csvFile, "-oL", listFile, "-oJ", jsonFile, "-oX", xmlFile, "-oG", grepFile)
	want := map[string]string{}
	for _, f := range out.findings {
		want[fmt.Sprintf("%s:%d", f.IP, f.Port)] = f.State
	}
	if len(want) != 8 {
		t.Fatalf("stdout has %d findings, want 8", len(want))
	}
	check := func(name string, got map[string]string) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s holds %v, stdout %v", name, got, want)
		}
	}

	f, err := os.Open(csvFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil || len(rows) == 0 || rows[0][0] != "ip" {
		t.Fatalf("CSV: %v, rows %q", err, rows)
	}
	got := map[string]string{}
	for _, row := range rows[1:] {
		got[row[0]+":"+row[1]] = row[3]
	}
	check("CSV", got)

	data, err := os.ReadFile(listFile)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if lines[0] != "#fastscan" || lines[len(lines)-1] != "# end" {
		t.Fatalf("list lacks its header or end: %q", data)
	}
	got = map[string]string{}
	for _, line := range lines[1 : len(lines)-1] {
		var state, proto, ip string
		var port, when int64
		if _, err := fmt.Sscanf(line, "%s %s %d %s %d", &state, &proto, &port, &ip, &when); err != nil || proto != "tcp" {
			t.Fatalf("list line %q: %v", line, err)
		}
		got[fmt.Sprintf("%s:%d", ip, port)] = state
	}
	check("list", got)

	data, err = os.ReadFile(jsonFile)
	if err != nil {
		t.Fatal(err)
	}
	got = map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var fd finding
		if err := json.Unmarshal([]byte(line), &fd); err != nil {
			t.Fatalf("JSON line %q: %v", line, err)
		}
		got[fmt.Sprintf("%s:%d", fd.IP, fd.Port)] = fd.State
	}
	check("JSON lines file", got)

	data, err = os.ReadFile(xmlFile)
	if err != nil {
		t.Fatal(err)
	}
	outputtest.ValidateNmapXML(t, data)
	doc := outputtest.ParseNmapXML(t, data)
	got = map[string]string{}
	for _, h := range doc.Hosts {
		for _, p := range h.Ports {
			got[fmt.Sprintf("%s:%d", h.Addr.Addr, p.ID)] = p.State.State
		}
	}
	check("nmap XML", got)

	data, err = os.ReadFile(grepFile)
	if err != nil {
		t.Fatal(err)
	}
	got = map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		host, ports, ok := strings.Cut(line, "\tPorts: ")
		if !ok {
			continue
		}
		addr := strings.TrimSuffix(strings.TrimPrefix(host, "Host: "), " ()")
		for _, entry := range strings.Split(ports, ", ") {
			f := strings.Split(entry, "/")
			got[addr+":"+f[0]] = f[1]
		}
	}
	check("grepable", got)

	// An output file that cannot be created: exit 2, one line, nothing scanned.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bad := filepath.Join(dir, "no-such-dir", "x.csv")
	cmd := l.Command(ctx, os.Args[0], "198.19.0.1", "-p", "80", "-oC", bad)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	msg, _ := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != exitUsage || !strings.Contains(string(msg), bad) || strings.Contains(string(msg), "probes sent") {
		t.Errorf("uncreatable output file: exit %d, output %q; want 2 naming it and no scan", code, msg)
	}
}

// testStatusJSON runs a scan of about 1.5 s with --status-json: a line every second
// and a last one at the end, whose counters equal the summary's.
func testStatusJSON(t *testing.T, l *lab.Lab) {
	status := filepath.Join(t.TempDir(), "status.jsonl")
	out := scanLab(t, l, "198.19.0.0/18", "-p", "80", "-r", "11000", "--status-json", status)
	data, err := os.ReadFile(status)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) < 2 {
		t.Fatalf("status has %d lines, want a periodic one and a last one:\n%s", len(lines), data)
	}
	var last statusLine
	for i, line := range lines {
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		var st statusLine
		if err := dec.Decode(&st); err != nil {
			t.Fatalf("status line %d %q: %v", i, line, err)
		}
		if _, err := time.Parse(time.RFC3339, st.Time); err != nil {
			t.Errorf("status time %q: %v", st.Time, err)
		}
		last = st
	}
	if last.Phase != "done" || last.Percent != 100 || last.ETASeconds != 0 {
		t.Errorf("last status %+v: want done, 100%%, no ETA", last)
	}
	if last.Sent != out.summaryCount(t, "probes sent") || last.Found != out.summaryCount(t, "open") {
		t.Errorf("last status %+v disagrees with the summary:\n%s", last, out.stderr)
	}
}

// testPcap records the replies of a scan with --pcap and reads them back with
// tcpdump: one packet per accepted reply, SYN-ACKs for the open ports.
func testPcap(t *testing.T, l *lab.Lab) {
	tcpdump := citest.RequireTool(t, "tcpdump")
	name := filepath.Join(t.TempDir(), "r.pcap")
	out := scanLab(t, l, "198.19.100.192/28,198.19.192.0/30", "-p", "22,80,8080,9", "--pcap", name)
	dump, err := exec.Command(tcpdump, "-n", "-r", name).Output()
	if err != nil {
		t.Fatalf("tcpdump -r: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(dump)), "\n")
	if got, want := uint64(len(lines)), out.summaryCount(t, "replies"); got != want {
		t.Fatalf("tcpdump reads %d packets, the summary counts %d replies:\n%s", got, want, dump)
	}
	synacks := 0
	for _, line := range lines {
		if strings.Contains(line, "Flags [S.]") {
			synacks++
		}
	}
	// Every open port's SYN-ACK; a loaded machine may add retransmissions, which
	// the summary counts as duplicates; a loss sample's second probe its own
	// (second answers).
	open, dups, second := out.summaryCount(t, "open"), out.summaryCount(t, "duplicates"), out.summaryCount(t, "second answers")
	if uint64(synacks) < open || uint64(synacks) > open+dups+second {
		t.Errorf("%d SYN-ACKs in the pcap, %d open ports found, %d duplicates, %d second answers", synacks, open, dups, second)
	}
}

// TestLabECS scans the lab with --format ecs and validates every document against
// the ECS schema; the findings equal the ground truth.
func TestLabECS(t *testing.T) {
	l := labtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := l.Command(ctx, os.Args[0], "198.19.100.192/29", "-p", "22,8080,9", "--show", "all", "--format", "ecs", "-q")
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("fastscan --format ecs: %v", err)
	}
	if n := outputtest.NewECSValidator(t).ValidateLines(t, out); n != 8*3 {
		t.Fatalf("%d ECS documents, want %d", n, 8*3)
	}
	truth := l.Truth()
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var doc struct {
			Destination struct {
				IP   string `json:"ip"`
				Port uint16 `json:"port"`
			} `json:"destination"`
			Source struct {
				IP string `json:"ip"`
			} `json:"source"`
			Fastscan struct {
				State string `json:"state"`
			} `json:"fastscan"`
		}
		if err := json.Unmarshal([]byte(line), &doc); err != nil {
			t.Fatal(err)
		}
		want := truth.State(netip.MustParseAddr(doc.Destination.IP), doc.Destination.Port).String()
		if doc.Fastscan.State != want || doc.Source.IP != truth.ScannerWANAddr.String() {
			t.Errorf("%s:%d %s from %s; truth %s from %s", doc.Destination.IP, doc.Destination.Port, doc.Fastscan.State, doc.Source.IP, want, truth.ScannerWANAddr)
		}
	}
}

// rsyslogConfig is the collector of the SIEM pipeline test: TCP syslog in (octet
// counting), mmjsonparse on every message, parsed JSON to one file, failures to another.
const rsyslogConfig = `global(workDirectory="{{dir}}")
module(load="imtcp")
module(load="mmjsonparse")
input(type="imtcp" address="127.0.0.1" port="{{port}}" ruleset="scan")
template(name="json" type="string" string="%$!all-json%\n")
ruleset(name="scan") {
  action(type="mmjsonparse" cookie="")
  if $parsesuccess == "OK" then {
    action(type="omfile" file="{{dir}}/parsed.jsonl" template="json")
  } else {
    action(type="omfile" file="{{dir}}/failed.log")
  }
}
`

// TestLabSyslogPipeline ships a lab scan's results to a real rsyslog (Debian's, run
// in the foreground in the scanner namespace with its own config and pid file) and
// checks that every finding arrived and parsed, with the same content.
func TestLabSyslogPipeline(t *testing.T) {
	l := labtest.Start(t)
	rsyslogd := citest.RequireTool(t, "rsyslogd")
	dir := t.TempDir()
	const port = "10514"
	conf := strings.NewReplacer("{{dir}}", dir, "{{port}}", port).Replace(rsyslogConfig)
	if err := os.WriteFile(filepath.Join(dir, "rsyslog.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	collector := l.Command(ctx, rsyslogd, "-n", "-f", filepath.Join(dir, "rsyslog.conf"), "-i", filepath.Join(dir, "rsyslog.pid"))
	var collectorOut bytes.Buffer
	collector.Stdout, collector.Stderr = &collectorOut, &collectorOut
	if err := collector.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			collector.Process.Signal(syscall.SIGTERM)
			collector.Wait()
		}
	}
	defer stop()
	// Wait until it listens (bounded).
	ready := false
	for i := 0; i < 50 && !ready; i++ {
		l.Do(l.ScannerNS(), func() error {
			c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, 100*time.Millisecond)
			if err == nil {
				ready = true
				c.Close()
			}
			return nil
		})
		if !ready {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if !ready {
		t.Fatalf("rsyslogd did not start listening:\n%s", collectorOut.String())
	}

	out := scanLab(t, l, "198.19.100.192/28,198.19.192.0/30", "-p", "22,8080,9", "--show", "all",
		"--syslog", "tcp://127.0.0.1:"+port)
	if strings.Contains(out.stderr, "could not be delivered") {
		t.Errorf("undelivered results: %s", out.stderr)
	}
	want := map[string]finding{}
	for _, f := range out.findings {
		f.Timestamp = "" // rsyslog keeps the value; compared separately below
		want[fmt.Sprintf("%s:%d", f.IP, f.Port)] = f
	}

	// rsyslog writes asynchronously: wait for every line, then stop it.
	parsed := filepath.Join(dir, "parsed.jsonl")
	for i := 0; i < 100; i++ {
		data, _ := os.ReadFile(parsed)
		if strings.Count(string(data), "\n") >= len(want) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	if data, err := os.ReadFile(filepath.Join(dir, "failed.log")); err == nil && len(data) > 0 {
		t.Errorf("rsyslog could not parse some messages:\n%s", data)
	}
	data, err := os.ReadFile(parsed)
	if err != nil {
		t.Fatalf("rsyslog wrote nothing: %v\n%s", err, collectorOut.String())
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != len(want) {
		t.Fatalf("rsyslog parsed %d messages, fastscan found %d", len(lines), len(want))
	}
	for _, line := range lines {
		var f finding
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			t.Fatalf("rsyslog's JSON %q: %v", line, err)
		}
		if _, err := time.Parse(time.RFC3339Nano, f.Timestamp); err != nil {
			t.Errorf("timestamp %q: %v", f.Timestamp, err)
		}
		f.Timestamp = ""
		key := fmt.Sprintf("%s:%d", f.IP, f.Port)
		if want[key] != f {
			t.Errorf("%s: rsyslog has %+v, fastscan wrote %+v", key, f, want[key])
		}
	}
}

// compareUDPWithTruth checks a UDP scan's findings (all states shown) against the
// lab's UDP ground truth, exactly, for first..last x ports.
func compareUDPWithTruth(t *testing.T, truth lab.Truth, out scanOutput, first, last netip.Addr, ports []uint16) {
	t.Helper()
	got := map[string]uint64{}
	seen := map[netip.AddrPort]bool{}
	for _, f := range out.findings {
		ip := netip.MustParseAddr(f.IP)
		ap := netip.AddrPortFrom(ip, f.Port)
		if f.Proto != "udp" || seen[ap] {
			t.Errorf("finding %+v: not UDP, or reported twice", f)
		}
		seen[ap] = true
		got[f.State]++
		if want := truth.StateUDP(ip, f.Port).String(); f.State != want {
			t.Errorf("%v/udp: scanner says %s (%s), truth is %s", ap, f.State, f.Reason, want)
		}
	}
	open, closed, filtered, openFiltered, down := truth.CountUDP(first, last, ports)
	if got["open"] != open || got["closed"] != closed || got["filtered"] != filtered || got["open|filtered"] != openFiltered {
		t.Errorf("found %v; truth has open %d closed %d filtered %d open|filtered %d", got, open, closed, filtered, openFiltered)
	}
	if n := out.summaryCount(t, "hosts down"); n*uint64(len(ports)) != down {
		t.Errorf("summary says %d hosts down, truth has %d down targets", n, down)
	}
	t.Logf("%v-%v x %d UDP ports: open %d closed %d filtered %d open|filtered %d down %d in %v",
		first, last, len(ports), open, closed, filtered, openFiltered, down, out.elapsed)
}

// TestLabUDP scans the lab's routed range and LAN over UDP and compares with the
// exact UDP ground truth: open (a DNS, NTP or SNMP answer), closed (ICMP port
// unreachable), filtered (ICMP admin-prohibited) and open|filtered (silence).
func TestLabUDP(t *testing.T) {
	l := labtest.Start(t)
	truth := l.Truth()
	t.Run("Routed", func(t *testing.T) {
		ports := []uint16{9, 53, 123, 161}
		out := scanLab(t, l, "198.19.0.0/18,198.19.128.0/24,198.19.192.0/24", "-sU", "-p", "9,53,123,161",
			"-r", "100000", "--show", "all", "--retries", "2", "--wait", "500ms")
		// The scan covers three blocks; the truth is counted per block.
		var sub scanOutput
		for _, r := range []addrRange{
			{netip.MustParseAddr("198.19.0.0"), netip.MustParseAddr("198.19.63.255")},
			{netip.MustParseAddr("198.19.128.0"), netip.MustParseAddr("198.19.128.255")},
			{netip.MustParseAddr("198.19.192.0"), netip.MustParseAddr("198.19.192.255")},
		} {
			sub = scanOutput{stderr: "hosts down 0", elapsed: out.elapsed}
			for _, f := range out.findings {
				if ip := netip.MustParseAddr(f.IP); ip.Compare(r.first) >= 0 && ip.Compare(r.last) <= 0 {
					sub.findings = append(sub.findings, f)
				}
			}
			compareUDPWithTruth(t, truth, sub, r.first, r.last, ports)
		}
	})
	t.Run("LAN", func(t *testing.T) {
		out := scanLab(t, l, "198.18.1.0/24", "-sU", "-p", "1-200", "-r", "50000", "--show", "all")
		compareUDPWithTruth(t, truth, out, netip.MustParseAddr("198.18.1.0"), netip.MustParseAddr("198.18.1.255"), portRange(1, 200))
	})
	t.Run("MixedWithTCP", func(t *testing.T) {
		out := scanLab(t, l, "198.19.100.200", "-p", "U:53,9,T:22,9", "--show", "all")
		want := map[string]string{"53/udp": "open", "9/udp": "closed", "22/tcp": "open", "9/tcp": "closed"}
		got := map[string]string{}
		for _, f := range out.findings {
			got[fmt.Sprintf("%d/%s", f.Port, f.Proto)] = f.State
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("findings %v, want %v", got, want)
		}
	})
}

// TestLabFlood: while fastscan scans, the remote namespace floods the scanner with
// unrelated and forged packets - SYN-ACKs and RSTs with wrong acknowledgement numbers
// for real targets, DNS answers with wrong ids to a port the cookie did not pick,
// ICMP errors quoting probes we never sent, traffic to other ports and addresses.
// The findings of the TCP and UDP scan must still equal the ground truth exactly,
// and the summary must count the forgeries it rejected.
func TestLabFlood(t *testing.T) {
	l := labtest.Start(t)
	truth := l.Truth()
	local := truth.ScannerWANAddr
	rng := rand.New(rand.NewPCG(7, 7))
	flow := func(ip uint32, port, lport uint16) packettest.Flow {
		return packettest.Flow{LocalMAC: truth.ScannerWANMAC, TargetMAC: truth.RemoteWANMAC,
			LocalIP: u32(local), TargetIP: ip, LocalPort: lport, TargetPort: port}
	}
	syn, err := packet.NewSYNTemplate(packet.SYNParams{SrcMAC: truth.ScannerWANMAC, DstMAC: truth.RemoteWANMAC, SrcIP: u32(local)})
	if err != nil {
		t.Fatal(err)
	}
	probe := make([]byte, 128)
	var frames [][]byte
	forged := 0 // packets the scanner must see and reject for their cookie
	for i := 0; i < 2400; i++ {
		ip := 0xC6130000 | uint32(rng.IntN(4096)) // in the scan
		lport := uint16(61000 + rng.IntN(4536))   // in the scanner's port range
		switch i % 6 {
		case 0:
			frames = append(frames, packettest.SYNACK(t, flow(ip, 80, lport), rng.Uint32()))
			forged++
		case 1:
			frames = append(frames, packettest.RST(t, flow(ip, 22, lport), rng.Uint32()))
			forged++
		case 2: // to a port the scanner never sends from
			frames = append(frames, packettest.SYNACK(t, flow(ip, 80, uint16(1+rng.IntN(60000))), rng.Uint32()))
		case 3: // from an address that is not a target
			frames = append(frames, packettest.SYNACK(t, flow(0xC6138000|uint32(rng.IntN(4096)), 80, lport), rng.Uint32()))
		case 4: // ICMP quoting a probe fastscan never sent (a sequence number not its cookie)
			n := syn.Put(probe, nil, ip, 80, lport, rng.Uint32(), 1)
			frames = append(frames, packettest.ICMPUnreachable(t, probe[:n], u32(truth.RemoteWANAddr), 13))
			forged++
		case 5: // a DNS answer from a target, with a random id, to a random port of ours
			answer := []byte{0, 0, 0x81, 0x80, 0, 0, 0, 0, 0, 0, 0, 0}
			binary.BigEndian.PutUint16(answer, uint16(rng.Uint32()))
			frames = append(frames, packettest.UDP(t, flow(ip, 53, lport), answer))
			forged++
		}
	}

	done := make(chan struct{})
	injected := make(chan error, 1)
	go func() {
		// Once the scanner's receive ring is open, the scan is under way (on a
		// loaded machine a fixed delay may end before the process has started).
		if err := waitForRing(l, 30*time.Second); err != nil {
			injected <- err
			return
		}
		time.Sleep(50 * time.Millisecond)
		injected <- injectFrames(l, frames, done, 0, 0)
	}()
	// 4096 addresses x 3 ports at 8,000/s: about 1.5 s, with the flood inside it.
	out := scanLab(t, l, "198.19.0.0/20", "-p", "T:22,80,U:53", "-r", "8000", "--show", "all", "--seed", "5")
	close(done)
	if err := <-injected; err != nil {
		t.Fatalf("injecting: %v", err)
	}
	tcp, udp := out, out
	tcp.findings, udp.findings = nil, nil
	for _, f := range out.findings {
		if f.Proto == "udp" {
			udp.findings = append(udp.findings, f)
		} else {
			tcp.findings = append(tcp.findings, f)
		}
	}
	first, last := netip.MustParseAddr("198.19.0.0"), netip.MustParseAddr("198.19.15.255")
	compareWithTruth(t, truth, tcp, first, last, []uint16{22, 80}, true)
	compareUDPWithTruth(t, truth, udp, first, last, []uint16{53})
	if n := out.summaryCount(t, "invalid replies"); n != uint64(forged) {
		t.Errorf("summary counts %d invalid replies, %d forgeries were sent", n, forged)
	}
}

// waitForRing waits until a packet socket bound to every protocol (the receive
// ring of a scan) exists in the scanner's namespace: /proc/thread-self/net/packet
// lists that namespace's packet sockets.
func waitForRing(l *lab.Lab, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		var open bool
		err := l.Do(l.ScannerNS(), func() error {
			data, err := os.ReadFile("/proc/thread-self/net/packet")
			if err != nil {
				return err
			}
			for _, line := range strings.Split(string(data), "\n")[1:] {
				if f := strings.Fields(line); len(f) > 3 && f[3] == "0003" {
					open = true
				}
			}
			return nil
		})
		if err != nil || open {
			return err
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("no receive ring in %s after %v", l.ScannerNS(), limit)
}

// injectFrames sends frames from the lab's remote namespace to the scanner's wan0
// with a raw socket, as the remote network could: once when every is 0, else every
// every until done is closed or limit has passed.
func injectFrames(l *lab.Lab, frames [][]byte, done <-chan struct{}, every, limit time.Duration) error {
	truth := l.Truth()
	return l.Do(l.RemoteNS(), func() error {
		ifc, err := net.InterfaceByName(lab.RemoteWANIface)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		sa := &unix.SockaddrLinklayer{Ifindex: ifc.Index, Halen: 6}
		copy(sa.Addr[:], truth.ScannerWANMAC[:])
		deadline := time.Now().Add(limit)
		for {
			for _, f := range frames {
				select {
				case <-done:
					return nil
				default:
				}
				if err := unix.Sendto(fd, f, 0, sa); err != nil {
					return err
				}
			}
			if every == 0 || time.Now().After(deadline) {
				return nil
			}
			time.Sleep(every)
		}
	})
}

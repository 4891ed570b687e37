package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fastscan/fastscan/lab"
	"github.com/fastscan/fastscan/lab/labtest"
	"github.com/fastscan/fastscan/output/outputtest"
)

// foreignCases are captures of another scanner: tcpdump on the lab scanner's wan0
// while nmap scans foreignTargets x foreignPorts (make testdata records them). They
// hold every packet both ways - nmap's SYNs, its resets, the connect scan's
// handshakes and aborts, ICMP errors - and no fastscan cookie, so they are read in
// passive mode (--no-validate).
var foreignCases = map[string]foreignCase{
	"nmap-syn":      {[]string{"-sS"}, foreignTargets}, // raw SYNs; nmap resets each SYN-ACK (RST, no ACK)
	"nmap-connect":  {[]string{"-sT"}, foreignTargets}, // connect(): handshakes, then aborts with RST+ACK
	"nmap6-syn":     {[]string{"-6", "-sS"}, foreignTargets6},
	"nmap6-connect": {[]string{"-6", "-sT"}, foreignTargets6},
}

// foreignCase is how nmap scanned for one capture.
type foreignCase struct {
	flags   []string
	targets []string
}

// The targets of the foreign captures (open, closed, ICMP-prohibited and silent
// addresses) and their ports; foreignTargets6 are the IPv6 lab's: live, one
// with 8080 open, blackholed, admin-prohibited and port-unreachable.
var (
	foreignTargets  = []string{"198.19.0.0/28", "198.19.100.200/32", "198.19.128.0/30", "198.19.192.0/30"}
	foreignTargets6 = []string{"2001:2:0:100::/124", "2001:2:0:100::c8c8/128", "2001:2:0:100::1:0/126", "2001:2:0:100::2:0/126", "2001:2:0:100::3:8000/126"}
	foreignPorts    = []uint16{22, 80, 5432, 8080}
)

// TestRecordForeignCaptures records the captures of foreignCases with nmap and
// tcpdump in the lab. It runs only when FASTSCAN_RECORD=1 (make testdata): it
// rewrites files in testdata.
func TestRecordForeignCaptures(t *testing.T) {
	if os.Getenv("FASTSCAN_RECORD") != "1" {
		t.Skip("records testdata/replay only when FASTSCAN_RECORD=1 (make testdata)")
	}
	nmap, err := exec.LookPath("nmap")
	if err != nil {
		t.Fatal("nmap is not installed: make testdata installs it (scripts/install-deps.sh --record)")
	}
	tcpdump, err := exec.LookPath("tcpdump")
	if err != nil {
		t.Fatal("tcpdump is not installed (scripts/install-deps.sh installs it)")
	}
	l := labtest.Start(t)
	var ports []string
	for _, p := range foreignPorts {
		ports = append(ports, fmt.Sprint(p))
	}
	for name, fc := range foreignCases {
		file, err := filepath.Abs(filepath.Join(replayDir, name+".pcap"))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		// -Z root: write the file as root, not as the tcpdump user.
		dump := l.Command(ctx, tcpdump, "-i", lab.ScannerWANIface, "-w", file, "-U", "-n", "-Z", "root", "tcp or icmp or icmp6")
		var dumpErr lockedBuffer // written by exec's copying goroutine, read here
		dump.Stderr = &dumpErr
		if err := dump.Start(); err != nil {
			cancel()
			t.Fatal(err)
		}
		for i := 0; i < 100 && !strings.Contains(dumpErr.String(), "listening on"); i++ {
			time.Sleep(50 * time.Millisecond)
		}
		args := append(slices.Clone(fc.flags), "-n", "-Pn", "-T4", "--max-retries", "1", "-p", strings.Join(ports, ","))
		args = append(args, fc.targets...)
		out, err := l.Command(ctx, nmap, args...).CombinedOutput()
		time.Sleep(500 * time.Millisecond) // the last answers
		dump.Process.Signal(syscall.SIGINT)
		dump.Wait()
		cancel()
		if err != nil {
			t.Fatalf("nmap %v: %v\n%s", args, err, out)
		}
		t.Logf("%s: nmap %s\n%s\ntcpdump: %s", name, strings.Join(args, " "), out, dumpErr.String())
	}
}

// TestReplayForeignCaptures reads the captures of another scanner in passive mode and
// compares the open and closed ports with the lab's ground truth exactly: every one
// found, nothing else reported - in particular nothing about the scanner's own
// address, whose SYNs, resets and connection aborts are in the capture too.
func TestReplayForeignCaptures(t *testing.T) {
	truth := lab.DefaultTruth()
	v := outputtest.NewValidator(t)
	for name, fc := range foreignCases {
		t.Run(name, func(t *testing.T) {
			var want []string
			for _, s := range fc.targets {
				p := netip.MustParsePrefix(s)
				for ip := p.Masked().Addr(); p.Contains(ip); ip = ip.Next() {
					for _, port := range foreignPorts {
						if st := truth.State(ip, port); st == lab.StateOpen || st == lab.StateClosed {
							want = append(want, fmt.Sprintf("%s:%d %s", ip, port, st))
						}
					}
				}
			}
			slices.Sort(want)
			file := filepath.Join(replayDir, name+".pcap")
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), []string{"fastscan", "replay", "--no-validate", "--show", "closed", "--format", "jsonl", "-q", file},
				&stdout, &stderr, nil)
			if code != exitOK {
				t.Fatalf("replay exit %d: %s", code, stderr.String())
			}
			v.ValidateLines(t, stdout.Bytes())
			var got []string
			for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
				var f finding
				if err := json.Unmarshal([]byte(line), &f); err != nil {
					t.Fatalf("%q: %v", line, err)
				}
				got = append(got, fmt.Sprintf("%s:%d %s", f.IP, f.Port, f.State))
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("passive replay of %s:\n got %d: %v\nwant %d: %v", file, len(got), got, len(want), want)
			}
		})
	}
}

// lockedBuffer is a bytes.Buffer that one goroutine may write while another reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

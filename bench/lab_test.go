package bench

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
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/fastscan/fastscan/citest"
	"github.com/fastscan/fastscan/engine"
	"github.com/fastscan/fastscan/lab"
	"github.com/fastscan/fastscan/lab/labtest"
)

// BenchmarkLabScan scans the lab with the real fastscan binary and reports the probe
// rate achieved end to end (start to exit, cool-down included) and how many of the
// ground truth's open ports were missed. Run it with -benchtime=1x: each iteration is
// a whole scan.
//
//	sudo go test -run '^$' -bench LabScan -benchtime=1x ./bench/
//
// With FASTSCAN_COMPARE naming another fastscan binary (an older build, say), every
// iteration also runs that binary on the same scan in the same lab, right after,
// and reports its time and the ratio of the two: figures side by side from one run
// of one machine, whatever else the machine is doing.
//
//	FASTSCAN_COMPARE=/tmp/fastscan-old sudo -E go test -run '^$' -bench LabScan -benchtime=1x -count=5 ./bench/
func BenchmarkLabScan(b *testing.B) {
	citest.RequireRoot(b)
	bin := filepath.Join(b.TempDir(), "fastscan")
	build := exec.Command("go", "build", "-o", bin, "../cmd/fastscan")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("building fastscan: %v\n%s", err, out)
	}
	compare := os.Getenv("FASTSCAN_COMPARE")
	l := labtest.Start(b)
	truth := l.Truth()
	h := truth.Hosts[0]
	sixteen := []uint16{20, 21, 22, 23, 25, 53, 79, 80, 81, 442, 443, 444, 3306, 5432, 8080, 8443}
	cases := []struct {
		name        string
		first, last netip.Addr
		ports       []uint16
		args        []string
	}{
		// Exactly 1,048,576 probes: a /16 x 16 ports, no retries.
		{"Routed16x16portsNoRetry", netip.MustParseAddr("198.19.0.0"), netip.MustParseAddr("198.19.255.255"), sixteen,
			[]string{"198.19.0.0/16", "-p", "20-23,25,53,79-81,442-444,3306,5432,8080,8443", "-r", "350000", "--retries", "0"}},
		// The same with the default retry: the 262,144 blackholed targets are probed twice.
		{"Routed16x16ports", netip.MustParseAddr("198.19.0.0"), netip.MustParseAddr("198.19.255.255"), sixteen,
			[]string{"198.19.0.0/16", "-p", "20-23,25,53,79-81,442-444,3306,5432,8080,8443", "-r", "350000"}},
		// 65,535 probes: every port of one LAN host.
		{"HostAllPorts", h.Addr, h.Addr, allPorts(),
			[]string{h.Addr.String(), "-p-", "-r", "350000"}},
		// The same at 200,000 probes/s with the cool-down sized by round trips only
		// (--wait 5s would let an unmeasured RTO wait 1 s per pass).
		{"HostAllPortsWait5s", h.Addr, h.Addr, allPorts(),
			[]string{h.Addr.String(), "-p-", "-r", "200000", "--wait", "5s"}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			want := truth.Open(c.first, c.last, c.ports)
			for b.Loop() {
				found, sent, elapsed := benchScan(b, l, bin, c.args)
				missed := 0
				for _, ap := range want {
					if !found[ap] {
						missed++
					}
				}
				b.ReportMetric(float64(sent)/elapsed.Seconds(), "probes/s")
				b.ReportMetric(elapsed.Seconds(), "s/scan")
				b.ReportMetric(float64(missed), "missed-open")
				if compare != "" {
					oldFound, _, oldElapsed := benchScan(b, l, compare, c.args)
					oldMissed := 0
					for _, ap := range want {
						if !oldFound[ap] {
							oldMissed++
						}
					}
					b.ReportMetric(oldElapsed.Seconds(), "old-s/scan")
					b.ReportMetric(float64(oldMissed), "old-missed-open")
					b.ReportMetric(elapsed.Seconds()/oldElapsed.Seconds(), "new/old")
				}
			}
		})
	}
}

func allPorts() []uint16 {
	ps := make([]uint16, 0, 65535)
	for p := 1; p <= 65535; p++ {
		ps = append(ps, uint16(p))
	}
	return ps
}

// benchScan runs one scan in the lab and returns the open ports found, the probes
// sent (from the summary) and the wall time from start to exit.
func benchScan(b *testing.B, l *lab.Lab, bin string, args []string) (map[netip.AddrPort]bool, uint64, time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := l.Command(ctx, bin, append(args, "--format", "jsonl")...)
	cmd.Dir = b.TempDir() // its checkpoint goes there, not into bench/
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		b.Fatalf("fastscan %v: %v\n%s", args, err, stderr.String())
	}
	elapsed := time.Since(start)
	found := map[netip.AddrPort]bool{}
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		var f struct {
			IP    string `json:"ip"`
			Port  uint16 `json:"port"`
			State string `json:"state"`
		}
		if err := json.Unmarshal(sc.Bytes(), &f); err != nil {
			b.Fatalf("output line %q: %v", sc.Text(), err)
		}
		if f.State == "open" {
			found[netip.AddrPortFrom(netip.MustParseAddr(f.IP), f.Port)] = true
		}
	}
	m := regexp.MustCompile(`probes sent (\d+)`).FindStringSubmatch(stderr.String())
	if m == nil {
		b.Fatalf("no summary in:\n%s", stderr.String())
	}
	sent, _ := strconv.ParseUint(m[1], 10, 64)
	return found, sent, elapsed
}

// BenchmarkLabSenders runs the 1,048,576-probe lab scan (a /16 x 16 ports,
// without retries and with the default one) with the real binary at a rate no
// single sender reaches, once with
// --senders 1 and once with --senders N (every CPU the process may use, 2 at
// least), alternating which goes first, and reports each one's probe rate, wall
// time and missed open ports, and the ratio: figures side by side from one run.
//
//	sudo go test -run '^$' -bench LabSenders -benchtime=3x ./bench/
func BenchmarkLabSenders(b *testing.B) {
	citest.RequireRoot(b)
	bin := filepath.Join(b.TempDir(), "fastscan")
	build := exec.Command("go", "build", "-o", bin, "../cmd/fastscan")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("building fastscan: %v\n%s", err, out)
	}
	l := labtest.Start(b)
	sixteen := []uint16{20, 21, 22, 23, 25, 53, 79, 80, 81, 442, 443, 444, 3306, 5432, 8080, 8443}
	want := l.Truth().Open(netip.MustParseAddr("198.19.0.0"), netip.MustParseAddr("198.19.255.255"), sixteen)
	many := max(engine.DefaultSenders(), 2)
	for _, retries := range []string{"0", "1"} {
		b.Run("Retries"+retries, func(b *testing.B) {
			benchLabSenders(b, l, bin, want, many, retries)
		})
	}
}

// benchLabSenders is one part of BenchmarkLabSenders: --retries retries.
func benchLabSenders(b *testing.B, l *lab.Lab, bin string, want []netip.AddrPort, many int, retries string) {
	args := func(senders int) []string {
		return []string{"198.19.0.0/16", "-p", "20-23,25,53,79-81,442-444,3306,5432,8080,8443", "-r", "2000000",
			"--retries", retries, "--senders", strconv.Itoa(senders)}
	}
	type tally struct {
		pps, secs, missed float64
	}
	got := map[int]*tally{1: {}, many: {}}
	i := 0
	for b.Loop() {
		order := []int{1, many}
		if i%2 == 1 {
			order = []int{many, 1}
		}
		i++
		for _, senders := range order {
			found, sent, elapsed := benchScan(b, l, bin, args(senders))
			missed := 0
			for _, ap := range want {
				if !found[ap] {
					missed++
				}
			}
			t := got[senders]
			t.pps += float64(sent) / elapsed.Seconds()
			t.secs += elapsed.Seconds()
			t.missed += float64(missed)
		}
	}
	n := float64(i)
	for _, senders := range []int{1, many} {
		t := got[senders]
		b.ReportMetric(t.pps/n, fmt.Sprintf("probes/s-%d", senders))
		b.ReportMetric(t.secs/n, fmt.Sprintf("s/scan-%d", senders))
		b.ReportMetric(t.missed/n, fmt.Sprintf("missed-open-%d", senders))
	}
	b.ReportMetric(got[1].secs/got[many].secs, fmt.Sprintf("speedup-%d/1", many))
}

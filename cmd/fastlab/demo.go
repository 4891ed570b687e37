package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/fastscan/fastscan/lab"
	"github.com/fastscan/fastscan/target"
)

// demoScan is one scan the demo runs inside the lab's scanner namespace.
type demoScan struct {
	Title  string   // what the scan shows
	Flags  []string // fastscan flags before the target
	Target string   // one CIDR block
	Ports  string   // fastscan's -p specification
	// Host names the extra host the scan needs (hostRealServers,
	// hostSynProxy), "" for the lab's own ground truth.
	Host string
	// JSONL is the file (in the demo's working directory) the scan writes
	// JSON lines to (-oJ, among Flags), read by Check.
	JSONL string
	// Check compares what the scan found with the ground truth; nil for
	// none. A mismatch fails the demo.
	Check func(r demoRun) error
}

// The extra hosts a demo scan may need.
const (
	hostRealServers = "real servers"
	hostSynProxy    = "SYN proxy"
)

// demoRun is what one demo scan left: its JSON lines, its standard error
// (the summary) and the installed servers' versions.
type demoRun struct {
	lines    []demoLine
	stderr   string
	versions installed
}

// demoLine is one JSON line of a scan (a result or a host note), the fields
// the demo's checks read.
type demoLine struct {
	Record  string `json:"record"`
	IP      string `json:"ip"`
	Port    uint16 `json:"port"`
	State   string `json:"state"`
	Reason  string `json:"reason"`
	Service string `json:"service"`
	Method  string `json:"service_method"`
	Product string `json:"product"`
	Version string `json:"version"`
	Info    string `json:"info"`
	SynAcks int    `json:"syn_acks"`
	Probed  int    `json:"probed"`
	TLS     *struct {
		SubjectCN string `json:"subject_cn"`
	} `json:"tls"`
}

// demoScans is the list of scans `fastlab demo` runs, in order. Edit here.
// The scans of the extra hosts (Host) come last: their hosts are started
// before the first of them, and would be found by the LAN scans of the lab's
// own ground truth otherwise.
func demoScans() []demoScan {
	return []demoScan{
		{
			Title:  "one routed address, every state: open, closed (--show all)",
			Flags:  []string{"--show", "all"},
			Target: "198.19.100.200/32",
			Ports:  "22,80,443,5432,8080",
		},
		{
			Title:  "four addresses behind a rejecting router: filtered, with the ICMP reason (--show all)",
			Flags:  []string{"--show", "all"},
			Target: "198.19.192.0/30",
			Ports:  "80",
		},
		{
			Title:  "routed /16 x 16 ports: 1,048,576 probes at 300,000/s (results to /dev/null, see the summary)",
			Flags:  []string{"-r", "300000", "-o", "/dev/null"},
			Target: "198.19.0.0/16",
			Ports:  "20-23,25,53,79-81,442-444,3306,5432,8080,8443",
		},
		{
			Title:  "bridged LAN /24 x 1-1024: ARP first, three hosts, everything else down",
			Flags:  []string{"-r", "100000"},
			Target: "198.18.1.0/24",
			Ports:  "1-1024",
		},
		{
			Title:  "IPv6: a routed /110 x 22 (live, blackholed and ICMPv6-refusing parts; --show all)",
			Flags:  []string{"-r", "100000", "--show", "all", "-o", "/dev/null"},
			Target: "2001:2:0:100::/110",
			Ports:  "22",
		},
		{
			Title:  "IPv6 LAN /120 x 1-1024: neighbour discovery first, four hosts",
			Flags:  []string{"-r", "100000"},
			Target: "2001:2:0:1::/120",
			Ports:  "1-1024",
		},
		{
			Title:  "one LAN host, all 65,535 ports",
			Flags:  []string{"-r", "300000"},
			Target: "198.18.1.10/32",
			Ports:  "1-65535",
		},
		{
			Title:  "service identification (-sV) of the real servers' host: product and version of each, against what the installed packages say",
			Flags:  []string{"-sV", "--sv-timeout", "3s", "-oJ", "realservers.jsonl"},
			Target: lab.RealServersAddr.String() + "/32",
			Ports:  realServerPortList(),
			Host:   hostRealServers,
			JSONL:  "realservers.jsonl",
			Check:  checkRealServers,
		},
		{
			Title:  "a host behind a SYN proxy x 1-1024: SYN-ACK on every port, flagged in the summary (results to /dev/null)",
			Flags:  []string{"-o", "/dev/null", "-oJ", "synproxy.jsonl"},
			Target: lab.SynProxyAddr.String() + "/32",
			Ports:  "1-1024",
			Host:   hostSynProxy,
			JSONL:  "synproxy.jsonl",
			Check:  checkSynProxyFlagged,
		},
		{
			Title:  "the same with -sV: open only where a service answers",
			Flags:  []string{"-sV", "--sv-timeout", "3s", "-oJ", "synproxy-sv.jsonl"},
			Target: lab.SynProxyAddr.String() + "/32",
			Ports:  "1-1024",
			Host:   hostSynProxy,
			JSONL:  "synproxy-sv.jsonl",
			Check:  checkSynProxyServices,
		},
	}
}

// args is the fastscan command line (without the program) of the scan.
func (d demoScan) args() []string {
	return append(append([]string{}, d.Flags...), d.Target, "-p", d.Ports)
}

// scanGrace is how long a scan may take to exit after an interrupt.
const scanGrace = 5 * time.Second

// maxListedOpen is the most open ports the demo lists one by one.
const maxListedOpen = 20

// demoCommand is `fastlab demo`: run fastscan in a fresh lab.
func demoCommand() *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "bring a lab up, run fastscan in it against known ground truth, tear it down",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "scanner", Value: "bin/fastscan", Usage: "path of the fastscan `BINARY`"},
		},
		Action: func(c *cli.Context) error {
			scanner, err := filepath.Abs(c.String("scanner"))
			if err != nil {
				return fmt.Errorf("demo: %w", err)
			}
			if _, err := os.Stat(scanner); err != nil {
				return fmt.Errorf("demo: scanner binary (build it with make build): %w", err)
			}
			return runDemo(c.Context, c.App.Writer, c.App.ErrWriter, scanner, demoScans())
		},
	}
}

// runDemo brings a lab up (with the extra hosts its scans need), runs every
// scan, checks those with a Check, and always tears the lab down.
func runDemo(ctx context.Context, stdout, stderr io.Writer, scanner string, scans []demoScan) (err error) {
	l, err := lab.Up(ctx)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	var x *extraHosts
	defer func() {
		fmt.Fprintf(stdout, "\ntearing lab %s down\n", l.ID())
		if x != nil {
			if serr := x.stop(); serr != nil {
				err = errors.Join(err, fmt.Errorf("demo: down: %w", serr))
			}
		}
		if derr := l.Down(); derr != nil {
			err = errors.Join(err, fmt.Errorf("demo: down: %w", derr))
		}
	}()
	fmt.Fprintf(stdout, "lab %s is up; scanner namespace %s\n", l.ID(), l.ScannerNS())
	workDir, err := os.MkdirTemp("", "fastlab-demo-")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer os.RemoveAll(workDir)
	if err := os.Chmod(workDir, 0o777); err != nil { // the scan drops root: it must still write there
		return fmt.Errorf("demo: %w", err)
	}
	var versions installed
	var failed []string
	for i, s := range scans {
		if ctx.Err() != nil {
			return fmt.Errorf("demo: interrupted: %w", ctx.Err())
		}
		if s.Host != "" && x == nil {
			// Only now: on the LAN they would be in the scans of the
			// lab's own ground truth before.
			fmt.Fprintf(stdout, "\nstarting the real servers' host %s and the SYN proxy host %s\n", lab.RealServersAddr, lab.SynProxyAddr)
			if x, err = startExtraHosts(ctx, l, filepath.Join(workDir, "servers"), true); err != nil {
				return fmt.Errorf("demo: %w", err)
			}
			for _, n := range x.notes {
				fmt.Fprintf(stdout, "%s: its scans are skipped\n", n)
			}
			if x.rs != nil {
				if versions, err = installedVersions(); err != nil {
					return fmt.Errorf("demo: %w", err)
				}
			}
		}
		fmt.Fprintf(stdout, "\n== scan %d of %d: %s\n", i+1, len(scans), s.Title)
		if (s.Host == hostRealServers && x.rs == nil) || (s.Host == hostSynProxy && x.sp == nil) {
			fmt.Fprintf(stdout, "-- skipped: the %s host is not running\n", s.Host)
			continue
		}
		if err := printExpected(stdout, l.Truth(), s, versions); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		fmt.Fprintf(stdout, "$ ip netns exec %s %s %s\n", l.ScannerNS(), scanner, strings.Join(s.args(), " "))
		var summary bytes.Buffer
		cmd := l.Command(ctx, scanner, s.args()...)
		cmd.Dir = workDir // the scan's checkpoint goes there, not into the caller's directory
		cmd.Stdout, cmd.Stderr = stdout, io.MultiWriter(stderr, &summary)
		cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
		cmd.WaitDelay = scanGrace
		start := time.Now()
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(stdout, "-- fastscan failed after %v: %v\n", time.Since(start).Round(time.Millisecond), err)
			failed = append(failed, s.Target)
			continue
		}
		fmt.Fprintf(stdout, "-- fastscan finished in %v\n", time.Since(start).Round(time.Millisecond))
		if s.Check == nil {
			continue
		}
		r := demoRun{stderr: summary.String(), versions: versions}
		err := readDemoLines(filepath.Join(workDir, s.JSONL), &r.lines)
		if err == nil {
			err = s.Check(r)
		}
		if err != nil {
			fmt.Fprintf(stdout, "-- MISMATCH with the ground truth: %v\n", err)
			failed = append(failed, s.Target+" (mismatch)")
			continue
		}
		fmt.Fprintln(stdout, "-- checked: as the ground truth says")
	}
	if len(failed) > 0 {
		return fmt.Errorf("demo: fastscan failed on %s", strings.Join(failed, ", "))
	}
	return nil
}

// readDemoLines parses a scan's JSON lines file.
func readDemoLines(path string, lines *[]demoLine) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	for _, ln := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		if len(ln) == 0 {
			continue
		}
		var d demoLine
		if err := json.Unmarshal(ln, &d); err != nil {
			return fmt.Errorf("%s: line %q: %w", path, ln, err)
		}
		*lines = append(*lines, d)
	}
	return nil
}

// printExpected prints what the ground truth says the scan must find.
func printExpected(w io.Writer, t lab.Truth, s demoScan, v installed) error {
	switch s.Host {
	case hostRealServers:
		fmt.Fprintf(w, "ground truth: the installed packages (sshd -V, dpkg-query, nginx -v, redis-server --version):\n")
		for _, r := range realServerPorts(v) {
			fmt.Fprintf(w, "  expected open: %s:%d %s\n", lab.RealServersAddr, r.port, r.describe())
		}
		return nil
	case hostSynProxy:
		fmt.Fprintf(w, "ground truth: SYN-ACK on every port; services only on %s (%s), every other port resets the connection\n",
			portList(lab.SynProxyPorts), synProxyServiceList())
		return nil
	}
	prefix, err := netip.ParsePrefix(s.Target)
	if err != nil {
		return fmt.Errorf("demo scan target %q: %w", s.Target, err)
	}
	ps, err := target.ParsePorts(s.Ports)
	if err != nil {
		return fmt.Errorf("demo scan ports %q: %w", s.Ports, err)
	}
	ports := ps.List()
	first, last := lab.PrefixBounds(prefix)
	open, closed, filtered, down := t.Count(first, last, ports)
	fmt.Fprintf(w, "ground truth for %s x %d ports: %d open, %d closed, %d filtered, %d down (no host)\n",
		s.Target, len(ports), open, closed, filtered, down)
	if open <= maxListedOpen {
		for _, ap := range t.Open(first, last, ports) {
			fmt.Fprintf(w, "  expected open: %s\n", ap)
		}
	}
	return nil
}

// prefixRange returns the first and last address of an IPv4 prefix.
func prefixRange(p netip.Prefix) (first, last netip.Addr) {
	p = p.Masked()
	first = p.Addr()
	b := first.As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := (uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])) | host
	return first, netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

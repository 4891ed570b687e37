package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/fastscan/fastscan/compare"
	"github.com/fastscan/fastscan/lab"
	"github.com/fastscan/fastscan/target"
)

// cmpWorkload is one scan every tool is asked to do.
type cmpWorkload struct {
	Name   string // short name, the --workloads value
	Target string // one CIDR block
	Ports  string // port list in the syntax fastscan, masscan and nmap share
	LAN    bool   // on the bridged LAN (lan0), else routed (wan0)
}

// cmpWorkloads are the workloads of `fastlab compare`, in table order.
func cmpWorkloads(t lab.Truth) []cmpWorkload {
	return []cmpWorkload{
		{Name: "host", Target: netip.PrefixFrom(t.Hosts[0].Addr, 32).String(), Ports: "1-65535", LAN: true},
		{Name: "routed16x1", Target: t.RoutedRange.String(), Ports: "80"},
		{Name: "routed16x16", Target: t.RoutedRange.String(), Ports: "20-23,25,53,79-81,442-444,3306,5432,8080,8443"},
		{Name: "lan24", Target: t.LANPrefix.String(), Ports: "1-1024", LAN: true},
	}
}

// cmpTools are the tools `fastlab compare` knows, in their default order.
var cmpTools = []string{"fastscan", "masscan", "zmap", "nmap"}

// cmpOptions are the settings of one comparison.
type cmpOptions struct {
	Scanner   string        // the fastscan binary
	Rounds    int           // rounds of every (workload, tool)
	Workloads []string      // workload names; all when empty
	Tools     []string      // tool names; all when empty
	Rate      int           // the target rate every tool with a rate setting gets
	Timeout   time.Duration // the longest one run may take
	Wait      int           // seconds of cool-down for masscan (--wait) and zmap (-c)
}

// cmpInvocation is how one tool runs one workload.
type cmpInvocation = toolInvocation[compare.Findings]

// invocation returns how tool runs workload w in the lab, writing into dir.
func invocation(tool string, w cmpWorkload, t lab.Truth, o cmpOptions, dir string) cmpInvocation {
	rate := strconv.Itoa(o.Rate)
	out := filepath.Join(dir, tool+"-"+w.Name)
	iface, nextHop := lab.ScannerWANIface, t.RemoteWANMAC
	if w.LAN {
		iface, nextHop = lab.ScannerLANIface, t.Hosts[0].MAC
	}
	single := !strings.ContainsAny(w.Ports, ",-")
	switch tool {
	case "fastscan":
		return cmpInvocation{Bin: o.Scanner, Out: out + ".jsonl", Parse: compare.ParseFastscanJSONL,
			Args: []string{"-n", "-q", w.Target, "-p", w.Ports, "-r", rate, "--format", "jsonl", "-o", out + ".jsonl"}}
	case "masscan":
		note := "--router-mac " + macString(nextHop) + " (the remote router)"
		if w.LAN {
			note = "--router-mac " + macString(nextHop) + " (H1): masscan sends every probe to one MAC, it does no ARP per LAN host (without --router-mac it waits for a gateway's MAC and sends nothing)"
			if w.Target == netip.PrefixFrom(t.Hosts[0].Addr, 32).String() {
				note = "--router-mac " + macString(nextHop) + " (the host's MAC)"
			}
		}
		return cmpInvocation{Bin: "masscan", Out: out + ".lst", Parse: compare.ParseMasscanList, Note: note,
			Args: []string{w.Target, "-p", w.Ports, "--rate", rate, "-e", iface, "--router-mac", macString(nextHop),
				"--wait", strconv.Itoa(o.Wait), "-oL", out + ".lst"}}
	case "zmap":
		if !single {
			return cmpInvocation{NA: "zmap 2.1.1 scans one port per run (-p 80,443: \"invalid numeric value\")"}
		}
		if w.LAN {
			return cmpInvocation{NA: "zmap does no ARP per LAN host: every probe goes to one gateway MAC (-G)"}
		}
		// zmap's default blocklist (/etc/zmap/blacklist.conf) holds 198.18.0.0/15, the lab: an empty one instead.
		block := filepath.Join(dir, "zmap-blocklist.conf")
		return cmpInvocation{Bin: "zmap", Out: out + ".csv", Parse: compare.ParseZmapCSV,
			Note: "-G " + macString(nextHop) + " (the remote router), empty blocklist (-b)",
			Args: []string{"-q", "-i", iface, "-S", t.ScannerWANAddr.String(), "-G", macString(nextHop), "-p", w.Ports,
				"-r", rate, "-c", strconv.Itoa(o.Wait), "-b", block, "-O", "csv",
				"-f", "saddr,sport,classification,success,repeat", "-o", out + ".csv", w.Target}}
	case "nmap":
		return cmpInvocation{Bin: "nmap", Out: out + ".xml", Parse: compare.ParseNmapXML,
			Note: "-sS -n, default host discovery and timing",
			Args: []string{"-n", "-sS", "-p", w.Ports, "--max-rate", rate, "-oX", out + ".xml", w.Target}}
	}
	return cmpInvocation{NA: "unknown tool"}
}

// compareCommand is `fastlab compare`: fastscan side by side with masscan,
// zmap and nmap in a fresh lab.
func compareCommand() *cli.Command {
	return &cli.Command{
		Name:  "compare",
		Usage: "bring a lab up, run fastscan, masscan, zmap and nmap on the same workloads, print one table, tear the lab down",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "scanner", Value: "bin/fastscan", Usage: "path of the fastscan `BINARY`"},
			&cli.IntFlag{Name: "rounds", Value: 3, Usage: "rounds of every workload and tool (tools alternate between rounds)"},
			&cli.StringFlag{Name: "workloads", Usage: "comma list of workloads: host, routed16x1, routed16x16, lan24 (default all)"},
			&cli.StringFlag{Name: "tools", Usage: "comma list of tools: fastscan, masscan, zmap, nmap (default all)"},
			&cli.IntFlag{Name: "rate", Value: 300000, Usage: "target packets/s given to every tool that takes a rate"},
			&cli.DurationFlag{Name: "timeout", Value: 60 * time.Second, Usage: "the longest one run may take"},
			&cli.IntFlag{Name: "wait", Value: 2, Usage: "seconds of cool-down for masscan (--wait) and zmap (-c)"},
		},
		Action: func(c *cli.Context) error {
			scanner, err := filepath.Abs(c.String("scanner"))
			if err != nil {
				return fmt.Errorf("compare: %w", err)
			}
			if _, err := os.Stat(scanner); err != nil {
				return fmt.Errorf("compare: scanner binary (build it with make build): %w", err)
			}
			o := cmpOptions{Scanner: scanner, Rounds: c.Int("rounds"), Rate: c.Int("rate"),
				Timeout: c.Duration("timeout"), Wait: c.Int("wait"),
				Workloads: splitList(c.String("workloads")), Tools: splitList(c.String("tools"))}
			return runCompare(c.Context, c.App.Writer, c.App.ErrWriter, o)
		},
	}
}

// splitList splits a comma list, dropping empty entries.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// checkOptions validates o and fills in the defaults.
func checkOptions(o *cmpOptions, t lab.Truth) error {
	if o.Rounds < 1 || o.Rate < 1 || o.Timeout <= 0 || o.Wait < 0 {
		return errors.New("compare: --rounds, --rate and --timeout must be positive, --wait at least 0")
	}
	var names []string
	for _, w := range cmpWorkloads(t) {
		names = append(names, w.Name)
	}
	if len(o.Workloads) == 0 {
		o.Workloads = names
	}
	for _, w := range o.Workloads {
		if !slices.Contains(names, w) {
			return fmt.Errorf("compare: unknown workload %q (have %s)", w, strings.Join(names, ", "))
		}
	}
	if len(o.Tools) == 0 {
		o.Tools = cmpTools
	}
	for _, tool := range o.Tools {
		if !slices.Contains(cmpTools, tool) {
			return fmt.Errorf("compare: unknown tool %q (have %s)", tool, strings.Join(cmpTools, ", "))
		}
	}
	return nil
}

// runCompare brings a lab up, runs every round and always tears the lab down.
// The table goes to stdout, progress to stderr.
func runCompare(ctx context.Context, stdout, stderr io.Writer, o cmpOptions) error {
	truth := lab.DefaultTruth()
	if err := checkOptions(&o, truth); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "fastlab-compare-")
	if err != nil {
		return fmt.Errorf("compare: %w", err)
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "zmap-blocklist.conf"), nil, 0o644); err != nil {
		return fmt.Errorf("compare: %w", err)
	}
	return inLab(ctx, stderr, "compare", func(l *lab.Lab) error {
		fmt.Fprintf(stderr, "lab %s is up; scanner namespace %s\n", l.ID(), l.ScannerNS())
		cells, err := compareRounds(ctx, stderr, l, truth, o, dir)
		if err != nil {
			return err
		}
		fmt.Fprint(stdout, compareHeader(o, l.ID()))
		if err := compare.Render(stdout, "fastscan", cells); err != nil {
			return fmt.Errorf("compare: %w", err)
		}
		return nil
	})
}

// compareRounds runs every round of o in lab l, writing progress to stderr,
// and returns the table's cells, one per (workload, tool) in table order.
func compareRounds(ctx context.Context, stderr io.Writer, l *lab.Lab, truth lab.Truth, o cmpOptions, dir string) ([]compare.Cell, error) {
	var workloads []cmpWorkload
	for _, w := range cmpWorkloads(truth) {
		if slices.Contains(o.Workloads, w.Name) {
			workloads = append(workloads, w)
		}
	}
	// One cell per (workload, tool), in table order.
	cells := map[string]*compare.Cell{}
	var order []*compare.Cell
	invs := map[string]cmpInvocation{}
	for _, w := range workloads {
		for _, tool := range o.Tools {
			inv := invocation(tool, w, truth, o, dir)
			if inv.NA == "" && inv.Bin != o.Scanner {
				if _, err := exec.LookPath(inv.Bin); err != nil {
					inv = cmpInvocation{NA: tool + " is not installed (scripts/install-deps.sh --compare)"}
				}
			}
			c := &compare.Cell{Workload: w.Name, Tool: tool, NA: inv.NA, Note: inv.Note}
			cells[w.Name+"/"+tool] = c
			invs[w.Name+"/"+tool] = inv
			order = append(order, c)
		}
	}
	timedOut := map[string]bool{}
	for round := range o.Rounds {
		for _, w := range workloads {
			want := wantOpen(truth, w)
			for _, tool := range inTurn(o.Tools, round) {
				key := w.Name + "/" + tool
				inv, c := invs[key], cells[key]
				if inv.NA != "" {
					continue
				}
				if timedOut[key] {
					if !strings.Contains(c.Note, "not rerun") {
						c.Note = strings.TrimPrefix(c.Note+"; not rerun after a timeout", "; ")
					}
					continue
				}
				if err := ctx.Err(); err != nil {
					return nil, fmt.Errorf("compare: interrupted: %w", err)
				}
				r := runOne(ctx, l, inv, want, o.Timeout)
				if ctx.Err() != nil {
					return nil, fmt.Errorf("compare: interrupted: %w", ctx.Err())
				}
				if isTimeout(r.Failed) {
					timedOut[key] = true
				}
				c.Runs = append(c.Runs, r)
				fmt.Fprintf(stderr, "round %d %-11s %-8s %7.2f s missed %d extra %d rss %d KiB %s\n",
					round+1, w.Name, tool, r.Wall.Seconds(), r.Missed, r.Extra, r.MaxRSSKiB, r.Failed)
			}
		}
	}
	return values(order), nil
}

// compareHeader describes the machine and the settings above the table.
func compareHeader(o cmpOptions, labID string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "fastlab compare: lab %s; %s\n", labID, machineLine())
	fmt.Fprintf(&b, "rate: %d packets/s for every tool (fastscan -r, masscan --rate, zmap -r, nmap --max-rate: a cap, nmap's own timing decides below it)\n", o.Rate)
	fmt.Fprintf(&b, "cool-down: masscan --wait %d, zmap -c %d (their defaults 10 s and 8 s); fastscan and nmap their defaults; the scanner's neighbour table is flushed before every run\n", o.Wait, o.Wait)
	b.WriteString(roundsLine(o.Rounds, o.Timeout))
	b.WriteString("median wall: start to exit, median of the completed runs; missed/extra: vs the lab's ground truth (min-max over runs when they differ); peak RSS: wait4 ru_maxrss, largest run\n")
	fmt.Fprintf(&b, "user CPU, kernel CPU: the whole machine's user and system+irq+softirq time during the run (/proc/stat), medians; the kernel's share is the packet processing of both the scanner's and the lab's namespaces, which share these %d CPUs: kernel CPU / %d is the shortest wall time the kernel alone allows\n", runtime.NumCPU(), runtime.NumCPU())
	b.WriteString("workloads: host = LAN host 198.18.1.10 x 1-65535; routed16x1 = 198.19.0.0/16 x 80; routed16x16 = 198.19.0.0/16 x 16 ports; lan24 = LAN 198.18.1.0/24 x 1-1024\n\n")
	return b.String()
}

// wantOpen returns the open ports the truth holds for workload w.
func wantOpen(t lab.Truth, w cmpWorkload) []netip.AddrPort {
	prefix := netip.MustParsePrefix(w.Target)
	ps, err := target.ParsePorts(w.Ports)
	if err != nil {
		panic(fmt.Sprintf("compare workload %s ports %q: %v", w.Name, w.Ports, err))
	}
	first, last := prefixRange(prefix)
	return t.Open(first, last, ps.List())
}

// runOne runs one invocation in the lab's scanner namespace, bounded by
// timeout, and scores its output against want.
func runOne(ctx context.Context, l *lab.Lab, inv cmpInvocation, want []netip.AddrPort, timeout time.Duration) compare.Run {
	m, found, err := runAndRead(ctx, l, inv, timeout, false)
	r := compare.Run{Wall: m.Wall, CPU: m.CPU, MaxRSSKiB: m.MaxRSSKiB, Failed: m.Failed}
	switch {
	case r.Failed != "":
	case err != nil:
		r.Failed = err.Error()
	default:
		r.Missed, r.Extra = compare.Score(found, want)
	}
	return r
}

// measured is what runMeasured saw of one run of a tool.
type measured struct {
	Wall      time.Duration
	MaxRSSKiB int64
	// ToolCPU is the tool's own CPU time, user and system (wait4's rusage).
	ToolCPU time.Duration
	CPU     compare.CPUTimes
	Failed  string // why the run did not complete ("" when it did)
}

// runMeasured runs bin with args in the lab's scanner namespace, in dir,
// bounded by timeout (then interrupted), and measures its wall time, its
// peak RSS (wait4's ru_maxrss: `ip netns exec` execs the tool, so it is the
// tool's) and the machine's CPU time meanwhile.
func runMeasured(ctx context.Context, l *lab.Lab, bin string, args []string, dir string, timeout time.Duration) measured {
	// Every run starts from an empty neighbour table in the scanner namespace:
	// what an earlier run's ARP left there would otherwise help (fastscan) or
	// hinder (masscan, measured: it then kept waiting past its --wait) the next.
	if out, err := exec.CommandContext(ctx, "ip", "-n", l.ScannerNS(), "neigh", "flush", "all").CombinedOutput(); err != nil {
		return measured{Failed: fmt.Sprintf("ip neigh flush: %v: %s", err, lastLine(string(out)))}
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := l.Command(rctx, bin, args...)
	cmd.Dir = dir // masscan writes paused.conf into its working directory
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
	cmd.WaitDelay = scanGrace
	cpu0, cpuErr := readCPU()
	start := time.Now()
	err := cmd.Run()
	r := measured{Wall: time.Since(start)}
	if cpu1, err1 := readCPU(); cpuErr == nil && err1 == nil {
		r.CPU = cpu1.Sub(cpu0)
	}
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			r.MaxRSSKiB = ru.Maxrss
			r.ToolCPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
	}
	switch {
	case rctx.Err() != nil && ctx.Err() == nil:
		r.Failed = fmt.Sprintf("timed out after %v", timeout)
	case err != nil:
		r.Failed = fmt.Sprintf("%v: %s", err, lastLine(stderr.String()))
	}
	return r
}

// readCPU reads the machine's cumulative CPU times.
func readCPU() (compare.CPUTimes, error) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return compare.CPUTimes{}, err
	}
	defer f.Close()
	return compare.ParseProcStat(f)
}

// lastLine returns the last non-empty line of s (carriage returns count as
// line ends: masscan redraws its status line).
func lastLine(s string) string {
	lines := strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' })
	for i := len(lines) - 1; i >= 0; i-- {
		if t := strings.TrimSpace(lines[i]); t != "" {
			return t
		}
	}
	return ""
}

// toolInvocation is how one tool runs once; Parse reads the output file it
// writes into a T (compare.Findings, compare.Services).
type toolInvocation[T any] struct {
	NA    string   // why the tool cannot run; the rest is then unset
	Note  string   // how it was run, shown in the table
	Bin   string   // program
	Args  []string // its arguments
	Out   string   // the output file it writes
	Parse func(io.Reader) (T, error)
}

// inLab brings a fresh lab up, runs fn with it and always tears the lab down
// (saying so on stderr). name ("compare", "svbench") starts the errors.
func inLab(ctx context.Context, stderr io.Writer, name string, fn func(*lab.Lab) error) (err error) {
	l, err := lab.Up(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	defer func() {
		fmt.Fprintf(stderr, "tearing lab %s down\n", l.ID())
		if derr := l.Down(); derr != nil {
			err = errors.Join(err, fmt.Errorf("%s: down: %w", name, derr))
		}
	}()
	return fn(l)
}

// inTurn returns the tools in the order they run in round (from 0): each
// round starts with the next tool.
func inTurn(tools []string, round int) []string {
	out := make([]string, len(tools))
	for i := range tools {
		out[i] = tools[(i+round)%len(tools)]
	}
	return out
}

// roundsLine is the line of a table's header that says how the rounds ran.
func roundsLine(rounds int, timeout time.Duration) string {
	return fmt.Sprintf("%d round(s), tools alternating (each round starts with the next tool); a run is stopped after %v\n", rounds, timeout)
}

// machineLine describes this machine (CPUs, kernel release) and the time,
// for a table's header.
func machineLine() string {
	kernel := "unknown"
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		kernel = unix.ByteSliceToString(u.Release[:])
	}
	return fmt.Sprintf("machine: nproc %d, kernel %s, %s", runtime.NumCPU(), kernel, time.Now().UTC().Format("2006-01-02 15:04 MST"))
}

// values returns the values ps point to, in order.
func values[T any](ps []*T) []T {
	out := make([]T, len(ps))
	for i, p := range ps {
		out[i] = *p
	}
	return out
}

// runAndRead runs inv once in the lab's scanner namespace (runMeasured,
// bounded by timeout) and parses the output file it wrote: err is why the
// file could not be read or parsed. After a failed run it reads nothing,
// except after a timeout when partial is set (what the tool had written by
// then).
func runAndRead[T any](ctx context.Context, l *lab.Lab, inv toolInvocation[T], timeout time.Duration, partial bool) (m measured, got T, err error) {
	os.Remove(inv.Out)
	m = runMeasured(ctx, l, inv.Bin, inv.Args, filepath.Dir(inv.Out), timeout)
	if m.Failed != "" && !(partial && isTimeout(m.Failed)) {
		return m, got, nil
	}
	f, err := os.Open(inv.Out)
	if err != nil {
		return m, got, fmt.Errorf("no output: %w", err)
	}
	defer f.Close()
	got, err = inv.Parse(f)
	return m, got, err
}

// isTimeout reports whether a run's failure (measured.Failed) is that it
// was stopped at its timeout.
func isTimeout(failed string) bool {
	return strings.HasPrefix(failed, "timed out")
}

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/fastscan/fastscan/compare"
	"github.com/fastscan/fastscan/lab"
	"github.com/fastscan/fastscan/svcid"
)

// svTools are the tools `fastlab svbench` knows, in their default order:
// fastscan -sV (scan and identification), nmap -sV, and svcid, the
// identification alone (svcid.Pool with its defaults, no scan: `fastlab
// identify`).
var svTools = []string{"fastscan", "nmap", "svcid"}

// svOptions are the settings of one service identification benchmark.
type svOptions struct {
	Scanner string // the fastscan binary
	Self    string // this fastlab binary (runs `fastlab identify`)
	Count   int    // addresses identified (port 80 of each)
	Rounds  int    // rounds of every tool
	// NmapRounds is how many of the first rounds nmap runs in (nmap -sV
	// takes tens of minutes on 10,000 ports); 0: every round.
	NmapRounds int
	Tools      []string      // tool names
	Rate       int           // fastscan's -r
	Timing     string        // nmap's timing template, e.g. "4" (-T4); "" for nmap's default
	Timeout    time.Duration // the longest one run may take
	Keep       string        // a directory to keep the tools' outputs in (the last round's); "": none kept
}

// svInvocation is how one tool runs the benchmark.
type svInvocation = toolInvocation[compare.Services]

// svTargets returns the benchmark's targets: the first count addresses of
// the AnyIP nginx's prefix, as the fewest CIDR blocks (both fastscan and
// nmap take a list of them).
func svTargets(count int) ([]netip.Prefix, error) {
	p := lab.AnyIPNginxPrefix
	size := 1 << (32 - p.Bits())
	if count < 1 || count > size {
		return nil, fmt.Errorf("svbench: --count %d: want 1 to %d (the addresses of %v)", count, size, p)
	}
	return rangeCIDRs(p.Addr(), count), nil
}

// rangeCIDRs splits the count addresses from first (an IPv4 address) into
// the fewest CIDR blocks, in order.
func rangeCIDRs(first netip.Addr, count int) []netip.Prefix {
	a4 := first.As4()
	v := uint64(a4[0])<<24 | uint64(a4[1])<<16 | uint64(a4[2])<<8 | uint64(a4[3])
	end := v + uint64(count)
	var out []netip.Prefix
	for v < end {
		bits := 32
		// The largest aligned block at v that fits.
		for bits > 0 {
			size := uint64(1) << (32 - (bits - 1))
			if v%size != 0 || v+size > end {
				break
			}
			bits--
		}
		a := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
		out = append(out, netip.PrefixFrom(a, bits))
		v += uint64(1) << (32 - bits)
	}
	return out
}

// svWanted returns every target's port.
func svWanted(targets []netip.Prefix, port uint16) []netip.AddrPort {
	var out []netip.AddrPort
	for _, p := range targets {
		for a := p.Addr(); p.Contains(a); a = a.Next() {
			out = append(out, netip.AddrPortFrom(a, port))
		}
	}
	return out
}

// svInvocationFor returns how tool runs on targets, writing into dir.
func svInvocationFor(tool string, targets []netip.Prefix, o svOptions, dir string) svInvocation {
	port := strconv.Itoa(lab.AnyIPNginxPort)
	var tgt []string
	for _, p := range targets {
		tgt = append(tgt, p.String())
	}
	out := filepath.Join(dir, tool)
	switch tool {
	case "fastscan":
		return svInvocation{Bin: o.Scanner, Out: out + ".jsonl", Parse: compare.ParseFastscanServices,
			Note: "-sV -r " + strconv.Itoa(o.Rate) + ", identification defaults",
			Args: append([]string{"-n", "-q", "-sV", "-p", port, "-r", strconv.Itoa(o.Rate), "--format", "jsonl", "-o", out + ".jsonl"}, tgt...)}
	case "nmap":
		args := []string{"-n", "-Pn", "-sS", "-sV", "-p", port}
		note := "-sS -sV -Pn -n, default --version-intensity (7)"
		if o.Timing != "" {
			args = append(args, "-T"+o.Timing)
			note += ", -T" + o.Timing
		} else {
			note += ", default timing (-T3)"
		}
		return svInvocation{Bin: "nmap", Out: out + ".xml", Parse: compare.ParseNmapServices, Note: note,
			Args: append(append(args, "-oX", out+".xml"), tgt...)}
	case "svcid":
		return svInvocation{Bin: o.Self, Out: out + ".jsonl", Parse: compare.ParseFastscanServices,
			Note: "identification only (no scan): every target's port handed to one svcid.Pool, its defaults",
			Args: append([]string{"identify", "-p", port, "-o", out + ".jsonl"}, tgt...)}
	}
	return svInvocation{NA: "unknown tool"}
}

// svbenchCommand is `fastlab svbench`: service identification of the AnyIP
// nginx's addresses by fastscan -sV, nmap -sV and the svcid pool alone.
func svbenchCommand() *cli.Command {
	return &cli.Command{
		Name: "svbench",
		Usage: "bring a lab up with nginx answering HTTP on every address of " + lab.AnyIPNginxPrefix.String() +
			", identify port 80 of --count of them with fastscan -sV, nmap -sV and svcid alone, print one table, tear it all down",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "scanner", Value: "bin/fastscan", Usage: "path of the fastscan `BINARY`"},
			&cli.IntFlag{Name: "count", Value: 10000, Usage: "addresses to identify (port 80 of each)"},
			&cli.IntFlag{Name: "rounds", Value: 3, Usage: "rounds of every tool (tools alternate between rounds)"},
			&cli.IntFlag{Name: "nmap-rounds", Usage: "nmap runs in the first `N` rounds only (default every round: nmap -sV takes over an hour on 10,000 ports here)"},
			&cli.StringFlag{Name: "tools", Usage: "comma list of tools: fastscan, nmap, svcid (default all)"},
			&cli.IntFlag{Name: "rate", Value: 100000, Usage: "fastscan's -r (packets/s)"},
			&cli.StringFlag{Name: "nmap-timing", Value: "4", Usage: "nmap's timing template `N` (-TN); empty for nmap's default"},
			&cli.DurationFlag{Name: "timeout", Value: 30 * time.Minute, Usage: "the longest one run may take"},
			&cli.StringFlag{Name: "keep", Usage: "keep the tools' outputs (the last round's) in `DIR` (made if missing)"},
		},
		Action: func(c *cli.Context) error {
			scanner, err := filepath.Abs(c.String("scanner"))
			if err != nil {
				return fmt.Errorf("svbench: %w", err)
			}
			self, err := os.Executable()
			if err != nil {
				return fmt.Errorf("svbench: %w", err)
			}
			o := svOptions{Scanner: scanner, Self: self, Count: c.Int("count"), Rounds: c.Int("rounds"), NmapRounds: c.Int("nmap-rounds"),
				Tools: splitList(c.String("tools")), Rate: c.Int("rate"), Timing: c.String("nmap-timing"),
				Timeout: c.Duration("timeout"), Keep: c.String("keep")}
			return runSvbench(c.Context, c.App.Writer, c.App.ErrWriter, o)
		},
	}
}

// checkSvOptions validates o and fills in the defaults.
func checkSvOptions(o *svOptions) error {
	if o.Rounds < 1 || o.Rate < 1 || o.Timeout <= 0 || o.NmapRounds < 0 {
		return errors.New("svbench: --rounds, --rate and --timeout must be positive, --nmap-rounds at least 0")
	}
	if o.Timing != "" && (len(o.Timing) != 1 || o.Timing[0] < '0' || o.Timing[0] > '5') {
		return fmt.Errorf("svbench: --nmap-timing %q: want 0 to 5, or empty", o.Timing)
	}
	if len(o.Tools) == 0 {
		o.Tools = svTools
	}
	for _, tool := range o.Tools {
		if !slices.Contains(svTools, tool) {
			return fmt.Errorf("svbench: unknown tool %q (have %s)", tool, strings.Join(svTools, ", "))
		}
	}
	return nil
}

// nginxVersion returns what the installed nginx says its version is
// (nginx -v): the version every identification must report.
func nginxVersion(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "nginx", "-v").CombinedOutput()
	m := regexp.MustCompile(`nginx version: nginx/(\S+)`).FindSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("nginx -v: %v: %q", err, strings.TrimSpace(string(out)))
	}
	return string(m[1]), nil
}

// scannerHasSV reports whether the fastscan binary knows -sV (its --help
// names it).
func scannerHasSV(ctx context.Context, bin string) bool {
	out, _ := exec.CommandContext(ctx, bin, "--help").CombinedOutput()
	return regexp.MustCompile(`(?m)-sV\b`).Match(out)
}

// runSvbench brings a lab and the AnyIP nginx up, runs every round and
// always tears everything down. The table goes to stdout, progress to
// stderr.
func runSvbench(ctx context.Context, stdout, stderr io.Writer, o svOptions) error {
	if err := checkSvOptions(&o); err != nil {
		return err
	}
	targets, err := svTargets(o.Count)
	if err != nil {
		return err
	}
	version, err := nginxVersion(ctx)
	if err != nil {
		return fmt.Errorf("svbench: %w (run scripts/install-deps.sh)", err)
	}
	dir, err := os.MkdirTemp("", "fastlab-svbench-")
	if err != nil {
		return fmt.Errorf("svbench: %w", err)
	}
	defer os.RemoveAll(dir)
	outDir := dir
	if o.Keep != "" {
		if outDir, err = filepath.Abs(o.Keep); err != nil {
			return fmt.Errorf("svbench: %w", err)
		}
		if err := os.MkdirAll(outDir, 0o755); err != nil {
			return fmt.Errorf("svbench: %w", err)
		}
	}
	return inLab(ctx, stderr, "svbench", func(l *lab.Lab) (err error) {
		srvDir := filepath.Join(dir, "nginx")
		if err := os.Mkdir(srvDir, 0o700); err != nil {
			return fmt.Errorf("svbench: %w", err)
		}
		srv, err := l.StartAnyIPNginx(ctx, srvDir)
		if err != nil {
			return fmt.Errorf("svbench: %w", err)
		}
		defer func() {
			if serr := srv.Stop(); serr != nil {
				err = errors.Join(err, fmt.Errorf("svbench: stop nginx: %w", serr))
			}
		}()
		fmt.Fprintf(stderr, "lab %s is up; nginx %s answers on %v:%d in %s\n", l.ID(), version, srv.Prefix, srv.Port, srv.NS())
		invs := svInvocations(ctx, targets, o, outDir)
		want := compare.Service{Name: "http", Product: "nginx", Version: version}
		cells, err := svbenchRounds(ctx, stderr, l, invs, o, svWanted(targets, srv.Port), want)
		if err != nil {
			return err
		}
		fmt.Fprint(stdout, svbenchHeader(o, l.ID(), version, targets))
		if err := compare.RenderID(stdout, "nmap", cells); err != nil {
			return fmt.Errorf("svbench: %w", err)
		}
		fmt.Fprintln(stdout)
		for _, c := range cells {
			if inv := invs[c.Tool]; inv.NA == "" {
				fmt.Fprintf(stdout, "    %s %s\n", filepath.Base(inv.Bin), strings.Join(inv.Args, " "))
			}
		}
		return nil
	})
}

// svInvocations returns how each tool of o runs on targets, writing into
// dir; a tool that cannot run here has its NA set.
func svInvocations(ctx context.Context, targets []netip.Prefix, o svOptions, dir string) map[string]svInvocation {
	invs := map[string]svInvocation{}
	for _, tool := range o.Tools {
		inv := svInvocationFor(tool, targets, o, dir)
		switch {
		case inv.NA != "":
		case tool == "fastscan":
			if _, err := os.Stat(o.Scanner); err != nil {
				inv = svInvocation{NA: "no fastscan binary (make build): " + err.Error()}
			} else if !scannerHasSV(ctx, o.Scanner) {
				inv = svInvocation{NA: "this fastscan has no -sV"}
			}
		case tool == "nmap":
			if _, err := exec.LookPath("nmap"); err != nil {
				inv = svInvocation{NA: "nmap is not installed (scripts/install-deps.sh)"}
			}
		}
		invs[tool] = inv
	}
	return invs
}

// svbenchRounds runs every round of o in lab l, writing progress to stderr:
// each tool's identifications of the wanted ports, each of which should be
// want. It returns the table's cells, one per tool in o's order.
func svbenchRounds(ctx context.Context, stderr io.Writer, l *lab.Lab, invs map[string]svInvocation, o svOptions,
	wanted []netip.AddrPort, want compare.Service) ([]compare.IDCell, error) {
	cells := map[string]*compare.IDCell{}
	var order []*compare.IDCell
	for _, tool := range o.Tools {
		c := &compare.IDCell{Tool: tool, Note: invs[tool].Note, NA: invs[tool].NA}
		cells[tool] = c
		order = append(order, c)
	}
	timedOut := map[string]bool{}
	for round := range o.Rounds {
		for _, tool := range inTurn(o.Tools, round) {
			inv, c := invs[tool], cells[tool]
			if inv.NA != "" || timedOut[tool] || tool == "nmap" && o.NmapRounds > 0 && round >= o.NmapRounds {
				continue
			}
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("svbench: interrupted: %w", err)
			}
			r := runIdentification(ctx, l, inv, wanted, want, o.Timeout)
			if ctx.Err() != nil {
				return nil, fmt.Errorf("svbench: interrupted: %w", ctx.Err())
			}
			if isTimeout(r.Failed) {
				timedOut[tool] = true
				c.Note = strings.TrimPrefix(c.Note+"; not rerun after a timeout", "; ")
			}
			c.Runs = append(c.Runs, r)
			fmt.Fprintf(stderr, "round %d %-8s %8.2f s right %d wrong %d missing %d extra %d rss %d KiB %s %s\n",
				round+1, tool, r.Wall.Seconds(), r.Score.Right, r.Score.Wrong, r.Score.Missing, r.Score.Extra,
				r.MaxRSSKiB, r.Failed, r.Score.Example)
		}
	}
	return values(order), nil
}

// runIdentification runs one invocation and scores its identifications.
func runIdentification(ctx context.Context, l *lab.Lab, inv svInvocation, wanted []netip.AddrPort, want compare.Service, timeout time.Duration) compare.IDRun {
	m, got, err := runAndRead(ctx, l, inv, timeout, true)
	r := compare.IDRun{Wall: m.Wall, MaxRSSKiB: m.MaxRSSKiB, ToolCPU: m.ToolCPU, CPU: m.CPU, Failed: m.Failed}
	switch {
	case isTimeout(r.Failed):
		// What the tool had written when it was stopped (nmap writes each
		// host group as it ends).
		if got != nil {
			sc := compare.ScoreServices(got, wanted, want)
			r.Failed += fmt.Sprintf(", by then %d right, %d wrong", sc.Right, sc.Wrong)
		}
	case r.Failed != "":
	case err != nil:
		r.Failed = err.Error()
	default:
		r.Score = compare.ScoreServices(got, wanted, want)
	}
	return r
}

// svbenchHeader describes the machine and the settings above the table.
func svbenchHeader(o svOptions, labID, version string, targets []netip.Prefix) string {
	var b strings.Builder
	fmt.Fprintf(&b, "fastlab svbench: lab %s; %s\n", labID, machineLine())
	fmt.Fprintf(&b, "targets: port %d of %d addresses (%d CIDR blocks from %v), every one nginx %s (nginx -v) behind one AnyIP route; %s\n",
		lab.AnyIPNginxPort, o.Count, len(targets), targets[0].Addr(), version, lab.AnyIPNginxTuning)
	fmt.Fprintf(&b, "right: service http, product nginx, version %s; the server shares the scanner's %d CPUs\n", version, runtime.NumCPU())
	b.WriteString(roundsLine(o.Rounds, o.Timeout))
	if o.NmapRounds > 0 && o.NmapRounds < o.Rounds {
		fmt.Fprintf(&b, "nmap ran in the first %d round(s) only (--nmap-rounds)\n", o.NmapRounds)
	}
	b.WriteString("wall: start to exit; peak RSS: wait4 ru_maxrss, largest run; tool CPU: the tool's own user+system time (wait4 rusage), median; " +
		"machine user/kernel CPU: the whole machine's (/proc/stat) during the run, medians: nginx's, the lab's kernels' and any other load of the machine included\n\n")
	return b.String()
}

// identifyCommand is `fastlab identify`: the svcid pool alone, for the
// benchmark's svcid column. It runs where it is started (svbench starts it
// in the scanner namespace).
func identifyCommand() *cli.Command {
	return &cli.Command{
		Name:      "identify",
		Usage:     "identify the services on port -p of every address given (svcid.Pool with its defaults), one JSON line per port",
		ArgsUsage: "CIDR...",
		Hidden:    true,
		Flags: []cli.Flag{
			&cli.UintFlag{Name: "p", Value: 80, Usage: "the `PORT` of every address"},
			&cli.StringFlag{Name: "o", Usage: "write to `FILE` (default standard output)"},
		},
		Action: func(c *cli.Context) error {
			var targets []netip.Prefix
			for _, a := range c.Args().Slice() {
				p, err := netip.ParsePrefix(a)
				if err != nil {
					return fmt.Errorf("identify: %w", err)
				}
				targets = append(targets, p)
			}
			if c.Uint("p") < 1 || c.Uint("p") > 65535 {
				return fmt.Errorf("identify: -p %d: not a port", c.Uint("p"))
			}
			w := c.App.Writer
			if name := c.String("o"); name != "" {
				f, err := os.Create(name)
				if err != nil {
					return fmt.Errorf("identify: %w", err)
				}
				defer f.Close()
				w = f
			}
			return identify(c.Context, w, svWanted(targets, uint16(c.Uint("p"))))
		},
	}
}

// identify hands every port to one svcid.Pool (its defaults) and writes one
// JSON line per result, in the keys fastscan -sV writes them.
func identify(ctx context.Context, w io.Writer, ports []netip.AddrPort) error {
	id, err := svcid.New(svcid.Config{})
	if err != nil {
		return fmt.Errorf("identify: %w", err)
	}
	p := id.NewPool(ctx)
	for _, ap := range ports {
		p.Submit(ap)
	}
	p.Close()
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	for r := range p.Results() {
		line := struct {
			IP      string `json:"ip"`
			Port    uint16 `json:"port"`
			Proto   string `json:"proto"`
			State   string `json:"state"`
			Service string `json:"service"`
			Method  string `json:"service_method"`
			Product string `json:"product,omitempty"`
			Version string `json:"version,omitempty"`
			Error   string `json:"service_error,omitempty"`
		}{IP: r.Addr.Addr().String(), Port: r.Addr.Port(), Proto: "tcp", State: "open",
			Service: r.Service, Method: string(r.Method), Product: r.Product, Version: r.Version}
		if r.Err != nil {
			line.Error = r.Err.Error()
		}
		if err := enc.Encode(line); err != nil {
			return fmt.Errorf("identify: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("identify: %w", err)
	}
	return ctx.Err()
}

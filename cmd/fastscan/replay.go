package main

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/urfave/cli/v2"

	"github.com/fastscan/fastscan/capture"
	"github.com/fastscan/fastscan/engine"
	"github.com/fastscan/fastscan/result"
)

const replayExamples = `Examples:
   fastscan replay --seed 42 198.19.0.0/24 -p 22,80 scan.pcap
        the findings of a scan made with --seed 42 --pcap scan.pcap, from the capture
   fastscan replay --seed 42 198.19.0.0/24 -p U:53,T:22 --format xml scan.pcap
        the same, as nmap XML
   fastscan replay --no-validate someone-elses.pcap
        passive: the SYN-ACKs and the resets answering SYNs in any capture, as open and closed ports

Replay runs the same parsing, cookie validation, de-duplication and verdicts as a live
scan, on a pcap or pcapng file, without root and without sending anything. Give the
--seed, targets and ports of the scan that made the capture (add --source-ip or
--source-port if that scan had them); replies that do not carry that scan's cookies
are rejected. Targets that never answered are not reported: a capture holds replies,
not probes. With --no-validate, targets and ports are optional filters.`

// replayCommand returns "fastscan replay", which runs the reply pipeline on a
// recorded capture.
func replayCommand() *cli.Command {
	return &cli.Command{
		Name:        "replay",
		Usage:       "find ports in a recorded capture (pcap or pcapng), without root",
		UsageText:   "fastscan replay --seed S [flags] [TARGET...] CAPTURE",
		Description: replayExamples,
		Flags: append(replayFlags(),
			&cli.BoolFlag{Name: "no-validate", Usage: "passive: report every SYN-ACK as open and every RST+ACK with sequence 0 as closed, without cookies (for captures fastscan did not make)"},
		),
		Action: func(c *cli.Context) error {
			args := c.Args().Slice()
			if len(args) == 0 {
				return usageError("no capture file: fastscan replay [flags] [TARGET...] CAPTURE")
			}
			file, specs := args[len(args)-1], args[:len(args)-1]
			return runReplay(c, file, specs)
		},
	}
}

// sendOnlyFlags are the scan flags about sending and timing, which cannot change
// what a capture holds: replay accepts and ignores them, so that the command line of
// the scan that made a capture replays as it is, and hides them from its help.
var sendOnlyFlags = []string{"rate", "interface", "router-mac", "retries", "wait", "tx-ring", "arp-wait", "keep-privileges"}

// liveOnlyFlags are the scan flags that promise output only a live scan makes (its
// status lines, its capture of replies, its metrics): replay refuses them rather than ignore them.
var liveOnlyFlags = []string{"status-json", "pcap", "metrics", "metrics-linger", "dry-run", "sort"}

// replayFlags are the scan's flags, those of sendOnlyFlags and liveOnlyFlags hidden
// from replay's help.
func replayFlags() []cli.Flag {
	flags := scanFlags()
	for _, f := range flags {
		if name := f.Names()[0]; !slices.Contains(sendOnlyFlags, name) && !slices.Contains(liveOnlyFlags, name) &&
			name != "sV" && !slices.Contains(svFlagNames, name) {
			continue
		}
		switch f := f.(type) {
		case nmapStyleBool:
			f.Hidden = true
		case *cli.StringFlag:
			f.Hidden = true
		case *cli.IntFlag:
			f.Hidden = true
		case *cli.Float64Flag:
			f.Hidden = true
		case *cli.DurationFlag:
			f.Hidden = true
		case *cli.BoolFlag:
			f.Hidden = true
		}
	}
	return flags
}

// runReplay replays file with the settings of the command line.
func runReplay(c *cli.Context, file string, specs []string) error {
	stdout, stderr := c.App.Writer, c.App.ErrWriter
	for _, name := range liveOnlyFlags {
		if c.IsSet(name) {
			return usageError("--%s does not apply to replay: only a live scan writes it", name)
		}
	}
	if c.Bool("dry-run") {
		return usageError("--dry-run does not apply to replay: replay sends nothing anyway")
	}
	for _, name := range svFlagNames {
		if c.IsSet(name) {
			return usageError("--%s does not apply to replay: -sV connects to live ports, and replay connects to nothing", name)
		}
	}
	if c.Bool("sV") {
		return usageError("-sV does not apply to replay: identifying a service means connecting to it, and replay connects to nothing")
	}
	passive := c.Bool("no-validate")
	if !passive && !c.IsSet("seed") {
		return usageError("replay needs the --seed of the scan that made the capture (or --no-validate)")
	}
	allTargets := false
	if passive {
		// Targets and ports are only filters: without them, everything counts
		// (IPv6 too: 0.0.0.0/0 stands in for the settings, which need targets).
		if len(specs) == 0 && !c.IsSet("input-file") {
			specs, allTargets = []string{"0.0.0.0/0"}, true
		}
		// Reserved space is skipped so as not to probe it; a filter keeps it.
		if err := c.Set("no-default-excludes", "true"); err != nil {
			return err
		}
		if !c.IsSet("ports") && !c.IsSet("top-ports") {
			if err := c.Set("ports", "1-65535"); err != nil {
				return err
			}
		}
	}
	// The interface is where a live scan sent from: the capture may come from
	// another machine, which had interfaces this one lacks.
	if err := c.Set("interface", ""); err != nil {
		return err
	}
	s, err := parseSettingsFor(c, specs)
	if err != nil {
		return err
	}
	src, err := capture.Open(file)
	if err != nil {
		return usageError("%v", err)
	}
	defer src.Close()
	w, closeFiles, err := openOutputs(&s, stdout, nil)
	if err != nil {
		return err
	}
	defer closeFiles()

	var sum engine.Summary
	if passive {
		filter := func(ip netip.Addr, port uint16) bool {
			return (allTargets || s.cfg.Targets.Contains(ip)) && s.cfg.Ports.Contains(port)
		}
		show := func(r *result.Result) error {
			if r.State == result.Open || s.cfg.Show.Has(r.State) {
				return w.Write(r)
			}
			return nil
		}
		sum, err = engine.Passive(c.Context, src, filter, show)
	} else {
		scanner, nerr := engine.New(s.cfg)
		if nerr != nil {
			return cli.Exit(nerr.Error(), exitFailure)
		}
		sum, err = scanner.Replay(c.Context, src, s.cfg.SourceIP, w.Write)
	}
	// A capture holds replies, not probes: the engine knows no hosts probed, so the
	// writers count hosts from the results (End.HostUp stays nil).
	w.End(scanEnd(c.Context, sum, err))
	closeErr := w.Close()
	if err != nil {
		return cli.Exit(err.Error(), exitFailure)
	}
	if closeErr != nil {
		return cli.Exit(closeErr.Error(), exitFailure)
	}
	if !s.quiet {
		fmt.Fprintf(stderr, "fastscan replay of %s: replies %d, open %d, closed %d, filtered %d, invalid replies %d, duplicates %d\n",
			file, sum.Replies, sum.Open, sum.Closed, sum.Filtered, sum.Invalid, sum.Duplicates)
	}
	return nil
}

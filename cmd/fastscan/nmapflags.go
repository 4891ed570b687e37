package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/fastscan/fastscan/engine"
)

// verbosity is what -v, -vv and -d ask for on standard error.
type verbosity struct {
	verbose int // -v: 1, -vv: 2 (each -v counts one)
	debug   int // -d: 1 (each -d counts one)
}

// nmapFlags are the flags nmap and masscan users type out of habit: verbosity,
// the version, and nmap's spellings of what fastscan does anyway.
func nmapFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Count: new(int), Usage: "-v: the plan (the dry run's report) on standard error before sending; -vv: also hosts probed and up, and ARP, at the end"},
		&cli.BoolFlag{Name: "debug", Aliases: []string{"d"}, Count: new(int), Usage: "as -vv, plus the scan's internals on standard error before sending: seed, source ports, senders, send path"},
		&cli.BoolFlag{Name: "version", Aliases: []string{"V"}, Usage: "print the version and exit"},
		nmapStyleBool{&cli.BoolFlag{Name: "sS", Usage: "TCP SYN scan: the default (with -sU: TCP and UDP, ports without T:/U: both ways)"}},
		nmapStyleBool{&cli.BoolFlag{Name: "Pn", Usage: "accepted for nmap: fastscan never pings before scanning, every target is probed (on-link hosts that do not answer ARP are counted down)"}},
		&cli.BoolFlag{Name: "open", Usage: "show only open ports (the default; contradicts --show)"},
		nmapStyleString{&cli.StringFlag{Name: "oN", Usage: "also write the text format to `FILE` (fastscan's text stands in for nmap's normal output)"}},
		nmapStyleString{&cli.StringFlag{Name: "oA", Usage: "also write `BASE`.nmap (text), BASE.xml (nmap XML) and BASE.gnmap (grepable)"}},
	}
}

// nmapOutputs are the outputs of -oN FILE (the text format: fastscan has no
// nmap "normal" format of its own) and -oA BASE (BASE.nmap as text, BASE.xml as
// nmap XML, BASE.gnmap grepable).
func nmapOutputs(c *cli.Context) []extraOutput {
	var out []extraOutput
	if file := c.String("oN"); file != "" {
		out = append(out, extraOutput{flag: "oN", format: "text", file: file})
	}
	if base := c.String("oA"); base != "" {
		out = append(out,
			extraOutput{flag: "oA", format: "text", file: base + ".nmap"},
			extraOutput{flag: "oA", format: "xml", file: base + ".xml"},
			extraOutput{flag: "oA", format: "grepable", file: base + ".gnmap"})
	}
	return out
}

// parseVerbosity reads -v and -d.
func parseVerbosity(c *cli.Context) verbosity {
	return verbosity{verbose: c.Count("verbose"), debug: c.Count("debug")}
}

// expandRepeated spells nmap's repeated one-letter flags -vv and -dd (any number
// of letters) as one flag per letter, which the flag parser counts. Arguments
// after "--" are left alone.
func expandRepeated(args []string) []string {
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		if len(a) > 2 && a[0] == '-' && a[1] != '-' && (strings.Trim(a[1:], "v") == "" || strings.Trim(a[1:], "d") == "") {
			for range a[1:] {
				out = append(out, "-"+a[1:2])
			}
			continue
		}
		out = append(out, a)
	}
	return out
}

// announce writes what -v and -d ask for before the first probe: the plan and
// the internals. lookup finds the route, as in the dry run.
func announce(w io.Writer, s *settings, lookup routeLookup) {
	if s.verbosity.verbose == 0 && s.verbosity.debug == 0 {
		return
	}
	var blocks uint64
	for range s.cfg.Targets.Prefixes() {
		blocks++
	}
	plan := dryRunPlan(s, blocks, lookup)
	plan = strings.Replace(plan, "fastscan dry run: nothing is sent\n", "fastscan plan:\n", 1)
	io.WriteString(w, plan)
	if s.verbosity.debug > 0 {
		sendPath := "sendmmsg"
		if s.cfg.TxRing {
			sendPath = "PACKET_TX_RING"
		}
		if s.cfg.Connect {
			sendPath = scanKind(s)
		}
		fmt.Fprintf(w, "fastscan debug: seed %d, source ports %d-%d, senders %d (%s), retries %d, wait %v, arp-wait %v, show %v\n",
			s.cfg.Seed, s.cfg.SourcePortLo, s.cfg.SourcePortHi, s.cfg.Senders, sendPath, s.cfg.Retries, s.cfg.Wait, s.cfg.ARPWait, s.cfg.Show)
	}
}

// announceEnd writes what -vv and -d ask for after the scan: the hosts and ARP.
func announceEnd(w io.Writer, s *settings, sum engine.Summary) {
	if s.verbosity.verbose < 2 && s.verbosity.debug == 0 {
		return
	}
	fmt.Fprintf(w, "fastscan: hosts probed %d, up %d (answered at least one probe), down %d\n", sum.HostsProbed, sum.HostsUp, sum.HostsDown)
	if a := sum.ARP; a.Requests > 0 {
		fmt.Fprintf(w, "fastscan: ARP requests %d, found %d, silent %d, median round trip %v (max %v)\n", a.Requests, a.Found, a.Silent, a.MedianRTT, a.MaxRTT)
	}
}

package main

import (
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/fastscan/fastscan/engine"
	"github.com/fastscan/fastscan/output"
)

// version is fastscan's version, shown by --version and in nmap XML.
const version = "0.1.0"

const examples = `Examples:
   sudo fastscan -r 10000 10.0.0.0/24 -p 1-65535
        every port of a /24 at 10,000 probes per second
   sudo fastscan 192.168.1.1-50 -p 22,80,443 --show closed,filtered
        three ports on fifty hosts, also listing closed and filtered ports
   sudo fastscan -iL targets.txt -p- -o found.jsonl --format jsonl
        targets from a file, all ports, JSON lines into a file
   sudo fastscan localhost -p 1-1024
        this machine's own low ports over loopback
   sudo fastscan 10.0.0.0/24 --top-ports 100
        the 100 ports most often found open on the internet
   sudo fastscan 10.0.0.0/24 -p U:53,123,161,T:22,80
        UDP and TCP in one scan (or -sU -p 53,161 for UDP only)
   sudo fastscan 10.0.0.0/16 -p 22 --exclude 10.0.4.0/22,10.0.9.7 --excludefile skip.txt
        a /16 without a /22, one address and those listed in skip.txt
   fastscan -sT 10.0.0.0/24 -p 22,80,443 --max-parallelism 2000
        a TCP connect scan through the kernel: no root, no capability
   fastscan 0.0.0.0/0 -p 80 --dry-run > blocks.txt
        the plan only, nothing sent, no root needed: the CIDR blocks to blocks.txt, the
        counts, exclusions, route and duration on standard error
   sudo fastscan 10.0.0.0/16 -p 1-1024 --seed 7 --shard 2/4 -oJ shard-2.jsonl
        the third of four shards of one scan (run the others anywhere, same --seed);
        --shards 4 takes the index from a Kubernetes Indexed Job, a Slurm job array
        task is a shard by itself
   sudo fastscan 10.0.0.0/24 -p 22,25,80,443,2222,6379 -sV -oJ services.jsonl
        with the product and version of every open port's service (OpenSSH 9.2p1,
        nginx 1.22.1, TLS certificates...) in every output; -sT -sV without root
   fastscan merge shard-*.jsonl -oX scan.xml
        the shards' JSON lines as one scan, in any format (see fastscan merge --help)
   fastscan registry 5432
        what runs on a port (see fastscan registry --help; no root needed)
   fastscan local --port 2200
        is port 2200 free on this machine, or who holds it (see fastscan local --help)

Targets: addresses (10.0.0.1), CIDR blocks (10.0.0.0/24), ranges (10.0.0.1-10.0.0.50
or 10.0.0.1-50), comma lists, and host names (resolved once, before sending).
Flags and targets may be mixed in any order.
Reserved space (private, loopback, multicast, ... : IANA's special-purpose blocks)
inside a larger target is skipped unless named directly or --no-default-excludes.

fastscan's SYN scan needs CAP_NET_RAW: run it with sudo, or once
   sudo setcap cap_net_raw+ep $(which fastscan)
Without it fastscan says so and runs a TCP connect scan (-sT) instead, which
needs no privilege (--no-fallback exits instead).
Once its sockets and files are open it drops every capability and, started as
root, runs as the user who ran sudo (else nobody).`

func newApp(stdout, stderr io.Writer, scanFn scanFunc) *cli.App {
	app := &cli.App{
		Name:            "fastscan",
		Version:         version,
		Usage:           "fast, accurate TCP SYN port scanner",
		UsageText:       "fastscan [flags] TARGET...\n   fastscan registry [flags] [PORT | LO-HI | NAME]...\n   fastscan replay --seed S [flags] [TARGET...] CAPTURE\n   fastscan merge [flags] FILE...\n   fastscan local [flags]",
		Description:     examples,
		HideHelpCommand: true,
		HideVersion:     true, // -V and --version are nmapFlags', -v is verbosity
		Writer:          stdout,
		ErrWriter:       stderr,
		Flags:           scanFlags(),
		Commands:        []*cli.Command{registryCommand(), replayCommand(), mergeCommand(), localCommand()},
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			return usageError("%s (see fastscan --help)", flagError(c.App.Flags, err))
		},
		ExitErrHandler: func(*cli.Context, error) {},
		Action: func(c *cli.Context) error {
			if c.Bool("version") {
				fmt.Fprintf(stdout, "fastscan version %s\n", version)
				return nil
			}
			if c.IsSet("resume") {
				return resumeScan(c, stdout, stderr, scanFn)
			}
			s, err := parseSettings(c)
			if err != nil {
				return err
			}
			if s.dryRun {
				return dryRun(s, stdout, stderr)
			}
			return scanFn(c.Context, s, stdout, stderr)
		},
	}
	return app
}

func scanFlags() []cli.Flag {
	flags := []cli.Flag{
		&cli.StringFlag{Name: "ports", Aliases: []string{"p"}, Usage: "ports to scan: `PORTS` like 22,80,1000-2000; - or 1-65535 for all; U:53,T:22 mixes UDP and TCP"},
		nmapStyleBool{&cli.BoolFlag{Name: "udp", Aliases: []string{"sU"}, Usage: "scan UDP instead of TCP (ports in -p without T:/U: are UDP; --top-ports takes the UDP list)"}},
		&cli.IntFlag{Name: "top-ports", Usage: "scan the `N` ports most often found open on the internet (with -p: both)"},
		&cli.Float64Flag{Name: "rate", Aliases: []string{"r", "max-rate"}, Value: engine.DefaultRate, Usage: "probes per second"},
		&cli.BoolFlag{Name: "adaptive", Usage: "lower the rate while the estimated loss is high, raise it back towards -r when it falls"},
		&cli.BoolFlag{Name: "no-loss-estimate", Usage: "send no second probes to a sample of the targets (the loss estimate costs 1/16 to 1/128 more TCP probes)"},
		nmapStyleString{&cli.StringFlag{Name: "input-file", Aliases: []string{"iL"}, Usage: "read targets from `FILE`, one per line, # comments (- for standard input)"}},
		&cli.StringSliceFlag{Name: "exclude", Usage: "never scan `LIST`: addresses, CIDR blocks, ranges, comma lists, like the targets; may be repeated"},
		&cli.StringFlag{Name: "excludefile", Usage: "never scan the addresses listed in `FILE` (the -iL format: one per line, # comments)"},
		&cli.BoolFlag{Name: "no-default-excludes", Usage: "also scan the reserved blocks (private, loopback, multicast, ...) inside larger targets; a reserved block named directly is always scanned"},
		&cli.StringFlag{Name: "interface", Aliases: []string{"i"}, Usage: "send on interface `NAME` (default: from the routing table)"},
		&cli.StringFlag{Name: "source-ip", Usage: "source `ADDRESS` of the probes (default: the route's); an IPv4 and an IPv6 one, comma-separated, for a scan of both"},
		&cli.BoolFlag{Name: "4", Usage: "resolve host names to their IPv4 addresses (A records): the default"},
		&cli.BoolFlag{Name: "6", Usage: "resolve host names to their IPv6 addresses (AAAA records) instead"},
		&cli.StringFlag{Name: "source-port", Aliases: []string{"g"}, Value: "61000-65535", Usage: "source port `RANGE` of the probes, or one port (nmap's -g N); replies are accepted only there"},
		&cli.StringFlag{Name: "router-mac", Usage: "next-hop `MAC` for off-link targets (default: ARP for the gateway)"},
		&cli.IntFlag{Name: "retries", Value: 1, Usage: "send a probe that got no answer this many more `TIMES`"},
		&cli.DurationFlag{Name: "wait", Value: engine.DefaultWait, Usage: "longest cool-down after the last probe; ends sooner when replies stop"},
		&cli.StringFlag{Name: "seed", Usage: "fix the scan order and cookie key with a `NUMBER` (default: random)"},
		outputFlag(),
		formatFlag(),
	}
	flags = append(flags, shardFlags()...)
	flags = append(flags, privilegeFlags()...)
	flags = append(flags, resumeFlags()...)
	flags = append(flags, formatFileFlags()...)
	flags = append(flags, nmapFlags()...)
	flags = append(flags, connectFlags()...)
	flags = append(flags, serviceFlags()...)
	return append(flags, []cli.Flag{
		&cli.StringFlag{Name: "syslog", Usage: "also send every result to a syslog collector at `URL` (tcp://HOST:PORT or udp://HOST:PORT)"},
		&cli.StringFlag{Name: "syslog-format", Value: "jsonl", Usage: "what syslog messages carry: `FORMAT` jsonl or ecs"},
		&cli.StringFlag{Name: "pcap", Usage: "write every reply accepted to `FILE` (pcap, for tcpdump and Wireshark)"},
		&cli.StringFlag{Name: "show", Usage: "also show `STATES`: closed, filtered (open ports are always shown)"},
		&cli.BoolFlag{Name: "sort", Usage: "text output grouped by host and sorted, nmap-style, with the count of ports not shown, written when the scan ends or is stopped (results are held in memory until then, about 64 bytes each; the scan keeps no checkpoint)"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress line and no summary"},
		&cli.BoolFlag{Name: "dry-run", Usage: "print the plan and send nothing (no privileges needed): the targets' CIDR blocks on standard output; counts, exclusions, route and duration on standard error"},
		&cli.StringFlag{Name: "status-json", Usage: "write a JSON status line every second to `FILE` (- for standard error)"},
		&cli.StringFlag{Name: "metrics", Usage: "serve Prometheus/OpenMetrics metrics at http://`ADDR`/metrics while scanning (ADDR: IP:PORT, e.g. 127.0.0.1:9464)"},
		&cli.DurationFlag{Name: "metrics-linger", Value: defaultMetricsLinger, Usage: "after the scan, keep serving --metrics until one scrape has read the final values, at most `DURATION` (0: stop at once)"},
		registryFileFlag(),
		&cli.BoolFlag{Name: "tx-ring", Usage: "send through a PACKET_TX_RING instead of sendmmsg", Hidden: true},
		&cli.DurationFlag{Name: "arp-wait", Value: engine.DefaultARPWait, Usage: "the longest timeout of one ARP request (the router's, on-link targets'); timeouts adapt to the ARP round trips measured, from 20 ms up", Hidden: true},
	}...)
}

// outputFlag is -o FILE: where the main format goes.
func outputFlag() cli.Flag {
	return &cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write results to `FILE` instead of standard output (-: standard output)"}
}

// formatFlag is --format: the main output format.
func formatFlag() cli.Flag {
	return &cli.StringFlag{Name: "format", Value: "text", Usage: "output `FORMAT`: " + orList(output.FormatNames())}
}

// formatFileFlags are the nmap-style flags that write one more format to a file
// (-oX FILE), one per output format that has a Flag.
func formatFileFlags() []cli.Flag {
	var flags []cli.Flag
	for _, f := range output.Formats() {
		if f.Flag != "" {
			flags = append(flags, nmapStyleString{&cli.StringFlag{Name: f.Flag, Usage: "also write " + f.Usage + " to `FILE` (-: standard output, with -o FILE)"}})
		}
	}
	return flags
}

// orList joins names as "a, b or c".
func orList(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// progressInterval is how often the progress line is redrawn.
const progressInterval = 250 * time.Millisecond

// nmapStyleString and nmapStyleBool are flags whose two-letter names, which nmap
// spells with one dash (-iL, -oX, -sU), show that way in the help. Go's flag parsing
// takes one dash or two for any name, so both forms work.
type (
	nmapStyleString struct{ *cli.StringFlag }
	nmapStyleBool   struct{ *cli.BoolFlag }
)

// String is the flag's help line, nmap's names with one dash.
func (f nmapStyleString) String() string {
	return singleDash(cli.FlagStringer(f.StringFlag), f.Names())
}

// String is the flag's help line, nmap's names with one dash.
func (f nmapStyleBool) String() string { return singleDash(cli.FlagStringer(f.BoolFlag), f.Names()) }

// singleDash rewrites the two-letter names among names in a help line from --iL to
// -iL. (urfave/cli writes one-letter names with one dash and longer ones with two.)
func singleDash(line string, names []string) string {
	for _, name := range names {
		if len(name) == 2 {
			line = regexp.MustCompile(`--`+regexp.QuoteMeta(name)+`\b`).ReplaceAllString(line, "-"+name)
		}
	}
	return line
}

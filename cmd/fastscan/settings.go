package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/fastscan/fastscan/engine"
	"github.com/fastscan/fastscan/output"
	"github.com/fastscan/fastscan/registry"
	"github.com/fastscan/fastscan/result"
	"github.com/fastscan/fastscan/target"
)

// settings is everything the command line asks for, checked.
type settings struct {
	cfg         engine.Config
	output      string // file name; "" for standard output
	format      string
	extra       []extraOutput // -oJ FILE, -oX FILE, ...: more formats into more files
	quiet       bool
	portSpec    string // the TCP ports, as a compact list of ranges ("22,80,1000-2000")
	udpPortSpec string // the UDP ports, the same way
	pcap        string // --pcap FILE: the replies accepted
	syslog      string // --syslog URL
	syslogAs    string // --syslog-format
	// syslogWriter is the running syslog sender, set by scan.
	syslogWriter *output.Syslog
	status       string             // --status-json: a file, "-" for standard error, "" for none
	metrics      metricsOptions     // --metrics, --metrics-linger (metrics.go)
	services     *registry.Registry // names the services of results
	privOptions                     // -n, --keep-privileges (privilege.go)
	scope        target.Scope       // the targets named, and what was excluded from them
	dryRun       bool               // --dry-run: print the plan, send nothing
	verbosity                       // -v, -vv, -d (nmapflags.go)
	shard        shardSpec          // --shard, --shards or the scheduler's environment (shard.go)
	// args is the command line a checkpoint records (with the seed), resumeFile
	// the checkpoint file (--resume-file; resumeFileSet when given), resume the
	// checkpoint a resumed scan continues (resume.go).
	args          []string
	resumeFile    string
	resumeFileSet bool
	resume        *resumeState
	// sorted, when --sort is given, is every sorted text output, which the
	// engine tells of the verdicts it hides (cfg.Hidden).
	sorted *sortedOutputs

	// connect: -sT, --no-fallback (connect.go).
	connect connectOptions
	// sv: -sV and its flags (services.go).
	sv serviceOptions
}

// extraOutput is one more output format written to its own file.
type extraOutput struct {
	flag, format, file string
}

// scanFunc performs the scan the settings describe.
type scanFunc func(ctx context.Context, s settings, stdout, stderr io.Writer) error

// parseSettings reads and checks every flag and target. Every error is a usage error
// naming the bad token; nothing has been sent when it returns.
func parseSettings(c *cli.Context) (settings, error) {
	return parseSettingsFor(c, c.Args().Slice())
}

// parseSettingsFor is parseSettings with the target specifications given.
func parseSettingsFor(c *cli.Context, specs []string) (settings, error) {
	var s settings
	var file targetFile
	typed := specs
	if f := c.String("input-file"); f != "" {
		var err error
		if file, err = readTargetFile(f); err != nil {
			return s, err
		}
		specs = append(specs[:len(specs):len(specs)], file.specs...)
	}
	if len(specs) == 0 {
		return s, usageError("no targets: give addresses, CIDR blocks or ranges, or -iL FILE (see fastscan --help)")
	}
	hosts := newHostNames(c) // host names are looked up last, in hosts.resolve
	scope, err := parseScopeDeferred(c, specs, hosts.check, func() bool { return len(hosts.names) > 0 })
	if err != nil {
		return s, file.locate(err, typed)
	}
	s.cfg.Targets, s.scope = scope.Targets, scope
	s.dryRun = c.Bool("dry-run")

	if s.cfg.Ports, s.cfg.UDPPorts, err = parseScanPorts(c); err != nil {
		return s, err
	}
	s.portSpec = compactPorts(s.cfg.Ports.List())
	s.udpPortSpec = compactPorts(s.cfg.UDPPorts.List())
	if s.services, err = loadRegistry(c.String("registry")); err != nil {
		return s, err
	}

	if s.cfg.Rate = c.Float64("rate"); !(s.cfg.Rate > 0) || s.cfg.Rate > 100e6 {
		return s, usageError("invalid rate %q: must be above 0 and at most 100000000 probes per second", typedValue(c, "rate"))
	}
	s.cfg.EstimateLoss, s.cfg.Adaptive = !c.Bool("no-loss-estimate"), c.Bool("adaptive")
	if s.cfg.Adaptive && !s.cfg.EstimateLoss {
		return s, usageError("--adaptive needs the loss estimate: drop --no-loss-estimate")
	}
	if s.cfg.Retries = c.Int("retries"); s.cfg.Retries < 0 || s.cfg.Retries > 100 {
		return s, usageError("invalid retries %q: must be 0 to 100", typedValue(c, "retries"))
	}
	if s.cfg.Wait = c.Duration("wait"); s.cfg.Wait <= 0 {
		return s, usageError("invalid wait %q: must be above 0", typedValue(c, "wait"))
	}
	if s.cfg.ARPWait = c.Duration("arp-wait"); s.cfg.ARPWait <= 0 {
		return s, usageError("invalid arp-wait %q: must be above 0", typedValue(c, "arp-wait"))
	}
	if name := c.String("interface"); name != "" {
		if _, err := net.InterfaceByName(name); err != nil {
			return s, usageError("unknown interface %q", name)
		}
		s.cfg.Interface = name
	}
	if c.Bool("4") && c.Bool("6") {
		return s, usageError("-4 and -6 exclude each other: host names resolve to one family")
	}
	if v := c.String("source-ip"); v != "" {
		for tok := range strings.SplitSeq(v, ",") {
			a, err := netip.ParseAddr(strings.TrimSpace(tok))
			switch {
			case err != nil || a.Zone() != "" || a.Is4In6():
				return s, usageError("invalid source-ip %q: not an IPv4 or IPv6 address", tok)
			case a.Is4() && !s.cfg.SourceIP.IsValid():
				s.cfg.SourceIP = a
			case a.Is6() && !s.cfg.SourceIP6.IsValid():
				s.cfg.SourceIP6 = a
			default:
				return s, usageError("invalid source-ip %q: one address per family", v)
			}
		}
	}
	if v := c.String("router-mac"); v != "" {
		hw, err := net.ParseMAC(v)
		if err != nil || len(hw) != 6 {
			return s, usageError("invalid router-mac %q: not an Ethernet MAC address", v)
		}
		var mac [6]byte
		copy(mac[:], hw)
		s.cfg.RouterMAC = &mac
	}
	if s.cfg.SourcePortLo, s.cfg.SourcePortHi, err = parsePortRange(c.String("source-port")); err != nil {
		return s, err
	}
	if v := c.String("seed"); v != "" {
		seed, err := strconv.ParseUint(v, 0, 64)
		if err != nil {
			return s, usageError("invalid seed %q: not a whole number", v)
		}
		s.cfg.Seed = seed
	} else {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return s, fmt.Errorf("choosing a random seed: %w", err)
		}
		s.cfg.Seed = binary.LittleEndian.Uint64(b[:])
	}
	if s.shard, err = parseShard(c, os.Getenv); err != nil {
		return s, err
	}
	s.cfg.Shard, s.cfg.Shards = s.shard.shard, s.shard.shards
	if s.cfg.Senders, err = parseSenders(c, s.cfg.Rate); err != nil {
		return s, err
	}
	if s.cfg.Show, err = parseShow(c.String("show")); err != nil {
		return s, err
	}
	if c.Bool("open") && c.IsSet("show") { // --open is the default: open only
		return s, usageError("--open and --show %q contradict: --open shows open ports only", c.String("show"))
	}
	if err := parseOutputs(c, &s); err != nil {
		return s, err
	}
	s.quiet = c.Bool("quiet")
	s.verbosity = parseVerbosity(c)
	s.status = c.String("status-json")
	s.pcap = c.String("pcap")
	if s.metrics, err = parseMetrics(c); err != nil {
		return s, err
	}
	s.syslog, s.syslogAs = c.String("syslog"), c.String("syslog-format")
	if s.syslog != "" {
		if _, err := output.NewSyslogCheck(s.syslog, s.syslogAs); err != nil {
			return s, usageError("%v", err)
		}
	}
	s.cfg.TxRing = c.Bool("tx-ring")
	s.privOptions = parsePrivOptions(c)
	if err := parseConnect(c, &s); err != nil {
		return s, err
	}
	s.resumeFile = c.String("resume-file")
	if c.Bool("sort") {
		if err := parseSort(c, &s); err != nil {
			return s, err
		}
	}
	if err := parseServices(c, &s); err != nil {
		return s, err
	}
	if err := checkOutputPaths(&s); err != nil {
		return s, err
	}
	if err := hosts.resolve(&s, specs); err != nil {
		return s, file.locate(err, typed)
	}
	if _, err := engine.ScanSize(&s.cfg.Targets, uint64(s.cfg.Ports.Len()+s.cfg.UDPPorts.Len())); err != nil {
		return s, usageError("%v", err)
	}
	err = applyResume(c, &s)
	return s, err
}

// sortedOutputs are the text outputs of a scan with --sort (output.SortedText).
type sortedOutputs struct{ outs []*output.SortedText }

// hidden tells every sorted output of a verdict the engine did not show. The
// outputs are all made before the scan runs.
func (o *sortedOutputs) hidden(r result.Result) {
	for _, t := range o.outs {
		t.Hidden(r)
	}
}

// parseSort checks --sort: it sorts the text outputs (the main format, -oN,
// -oA's BASE.nmap), so it needs one; the sorted report is written only when
// the scan ends, so the scan keeps no checkpoint (--resume-file is refused).
func parseSort(c *cli.Context, s *settings) error {
	text := s.format == "text"
	for _, x := range s.extra {
		text = text || x.format == "text"
	}
	if !text {
		return usageError("--sort sorts the text output, and this scan writes none (--format %s): drop --sort, or add -oN FILE", s.format)
	}
	if c.IsSet("resume-file") {
		return usageError("--sort and --resume-file contradict: the sorted report is written only when the scan ends, so a checkpoint could not hold its results (add -oJ FILE to keep them as they come)")
	}
	s.resumeFile = "" // no checkpoint
	s.sorted = &sortedOutputs{}
	s.cfg.Hidden = s.sorted.hidden
	return nil
}

// parseOutputs reads the output flags: --format, -o and the -oX-style flags
// (formatFileFlags). Whether two of them name one file is checked later
// (checkOutputPaths).
func parseOutputs(c *cli.Context, s *settings) error {
	s.format = c.String("format")
	if _, ok := output.LookupFormat(s.format); !ok {
		return usageError("invalid format %q: want one of %s", s.format, strings.Join(output.FormatNames(), ", "))
	}
	s.output = c.String("output")
	for _, f := range output.Formats() {
		if f.Flag == "" {
			continue
		}
		if file := c.String(f.Flag); file != "" {
			s.extra = append(s.extra, extraOutput{flag: f.Flag, format: f.Name, file: file})
		}
	}
	s.extra = append(s.extra, nmapOutputs(c)...)
	return nil
}

// parseScanPorts reads -p (with nmap's T:/U: prefixes), --udp and --top-ports;
// with -p and --top-ports both, the scan covers both.
func parseScanPorts(c *cli.Context) (tcp, udp target.Ports, err error) {
	var tcpList, udpList []uint16
	udpDefault := c.Bool("udp")
	if c.IsSet("ports") {
		t, u, err := target.ParseProtoPorts(c.String("ports"), udpDefault)
		if err != nil {
			return tcp, udp, usageError("%v", err)
		}
		if udpDefault && c.Bool("sS") { // -sS -sU: ports without T:/U: both ways
			t, _, _ = target.ParseProtoPorts(c.String("ports"), false)
		}
		tcpList, udpList = t.List(), u.List()
	}
	if c.IsSet("top-ports") {
		proto := registry.TCP
		if udpDefault {
			proto = registry.UDP
		}
		top, err := registry.TopPorts(proto, c.Int("top-ports"))
		if err != nil {
			return tcp, udp, usageError("invalid top-ports %q: %v", c.String("top-ports"), err)
		}
		if udpDefault {
			udpList = append(udpList, top...)
		} else {
			tcpList = append(tcpList, top...)
		}
		if udpDefault && c.Bool("sS") {
			topTCP, err := registry.TopPorts(registry.TCP, c.Int("top-ports"))
			if err != nil {
				return tcp, udp, usageError("invalid top-ports %q: %v", c.String("top-ports"), err)
			}
			tcpList = append(tcpList, topTCP...)
		}
	}
	if len(tcpList)+len(udpList) == 0 {
		return tcp, udp, usageError("no ports: pass -p, e.g. -p 22,80,443, -p 1-65535 or -p U:53,T:22, or --top-ports N")
	}
	if tcp, err = target.NewPorts(tcpList); err != nil {
		return tcp, udp, usageError("%v", err)
	}
	if udp, err = target.NewPorts(udpList); err != nil {
		return tcp, udp, usageError("%v", err)
	}
	return tcp, udp, nil
}

// compactPorts writes ascending ports as comma-separated ranges: 22,80,1000-2000.
func compactPorts(ports []uint16) string {
	var b []byte
	for i := 0; i < len(ports); {
		j := i
		for j+1 < len(ports) && ports[j+1] == ports[j]+1 {
			j++
		}
		if len(b) > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, uint64(ports[i]), 10)
		if j > i {
			b = append(b, '-')
			b = strconv.AppendUint(b, uint64(ports[j]), 10)
		}
		i = j + 1
	}
	return string(b)
}

// targetFile is the -iL file's specifications and the line of each.
type targetFile struct {
	name  string
	specs []string
	lines []int
}

// readTargetFile reads -iL FILE (- for standard input).
func readTargetFile(name string) (targetFile, error) {
	tf := targetFile{name: name}
	var err error
	if name == "-" { // -iL -: standard input
		tf.name = "standard input"
		if tf.specs, tf.lines, err = target.ReadTargetFileLines(os.Stdin); err != nil {
			return tf, usageError("cannot read targets from standard input: %v", err)
		}
		return tf, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return tf, usageError("cannot read input file %q: %v", name, errors.Unwrap(err))
	}
	defer f.Close()
	if tf.specs, tf.lines, err = target.ReadTargetFileLines(f); err != nil {
		return tf, usageError("cannot read input file %q: %v", name, err)
	}
	return tf, nil
}

// locate names the file and line of the target an error is about, when the
// target came from the file and not from the command line (typed): err unchanged
// otherwise.
func (tf targetFile) locate(err error, typed []string) error {
	var ec cli.ExitCoder
	if len(tf.specs) == 0 || !errors.As(err, &ec) {
		return err
	}
	msg := err.Error()
	for _, spec := range typed {
		if strings.HasPrefix(msg, fmt.Sprintf("invalid target %q:", spec)) {
			return err
		}
	}
	for i, spec := range tf.specs {
		if strings.HasPrefix(msg, fmt.Sprintf("invalid target %q:", spec)) {
			return cli.Exit(fmt.Sprintf("%s line %d: %s", tf.name, tf.lines[i], msg), ec.ExitCode())
		}
	}
	return err
}

// parseShow reads --show: a comma list of states to show besides open.
func parseShow(v string) (result.StateSet, error) {
	var set result.StateSet
	if v == "" {
		return set, nil
	}
	for _, tok := range strings.Split(v, ",") {
		switch strings.TrimSpace(tok) {
		case "open":
			set = set.With(result.Open)
		case "closed":
			set = set.With(result.Closed)
		case "filtered":
			set = set.With(result.Filtered).With(result.OpenFiltered)
		case "open|filtered":
			set = set.With(result.OpenFiltered)
		case "all":
			set = set.With(result.Open).With(result.Closed).With(result.Filtered).With(result.OpenFiltered)
		default:
			return 0, usageError("invalid show %q: want open, closed, filtered, open|filtered or all", tok)
		}
	}
	return set, nil
}

// parsePortRange reads --source-port: "LO-HI" or a single port.
func parsePortRange(v string) (lo, hi uint16, err error) {
	bad := usageError("invalid source-port %q: want a port range like 61000-65535", v)
	a, b, ok := strings.Cut(v, "-")
	if !ok {
		b = a
	}
	l, err1 := strconv.ParseUint(strings.TrimSpace(a), 10, 16)
	h, err2 := strconv.ParseUint(strings.TrimSpace(b), 10, 16)
	if err1 != nil || err2 != nil || l == 0 || h < l {
		return 0, 0, bad
	}
	return uint16(l), uint16(h), nil
}

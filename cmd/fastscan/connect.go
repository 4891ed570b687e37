package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/fastscan/fastscan/link/connect"
)

// connectOptions are the command line's choices about connect scans (-sT,
// README "Without root").
type connectOptions struct {
	// noFallback refuses to fall back to a connect scan when raw sockets are not
	// permitted (--no-fallback).
	noFallback bool
	// conflict names what on the command line a connect scan cannot do (UDP
	// ports, --pcap, ...): "" when it can stand in for the SYN scan.
	conflict string
	// fellBack: raw sockets were not permitted and the scan runs as -sT.
	fellBack bool
}

// connectFlags are -sT, --max-parallelism and --no-fallback.
func connectFlags() []cli.Flag {
	return []cli.Flag{
		nmapStyleBool{&cli.BoolFlag{Name: "sT", Usage: "TCP connect scan: through the kernel's connect(2), no raw socket and no privilege needed (TCP only; open = connected, closed = refused, filtered = an ICMP error or no answer within --wait)"}},
		&cli.IntFlag{Name: "max-parallelism", Value: connect.DefaultParallelism, Usage: "-sT: at most `N` connections at once (lowered to fit the open-file limit, ulimit -n)"},
		&cli.BoolFlag{Name: "no-fallback", Usage: "without the privilege for raw sockets, exit instead of running a TCP connect scan (-sT)"},
	}
}

// parseConnect reads -sT, --max-parallelism and --no-fallback into s, after the
// other flags: with -sT, whatever a connect scan cannot do is a usage error.
func parseConnect(c *cli.Context, s *settings) error {
	s.connect.noFallback = c.Bool("no-fallback")
	s.connect.conflict = connectConflict(c, s)
	p := c.Int("max-parallelism")
	if p < connect.MinParallelism || p > connect.MaxParallelism {
		return usageError("invalid max-parallelism %q: must be %d to %d connections", typedValue(c, "max-parallelism"), connect.MinParallelism, connect.MaxParallelism)
	}
	s.cfg.Parallelism = p
	if !c.Bool("sT") {
		return nil // --max-parallelism holds if the scan falls back
	}
	if c.Bool("sS") {
		return usageError("-sS and -sT contradict: a scan is a SYN scan (raw sockets) or a connect scan (the kernel's connect)")
	}
	if s.connect.conflict != "" {
		return usageError("-sT: %s", s.connect.conflict)
	}
	if s.connect.noFallback {
		return usageError("--no-fallback and -sT contradict: -sT is the fallback, asked for")
	}
	s.useConnect()
	return nil
}

// connectConflict names the first thing on the command line a connect scan
// cannot do, "" if there is none.
func connectConflict(c *cli.Context, s *settings) string {
	switch {
	case s.cfg.UDPPorts.Len() > 0:
		return "a connect scan probes TCP only: UDP ports need raw sockets (drop -sU and the U: ports)"
	case s.cfg.Targets.Len4() < s.cfg.Targets.Len():
		return "IPv6 targets: the connect scan is IPv4 only so far (scan IPv6 with the SYN scan, which needs CAP_NET_RAW)"
	case s.pcap != "":
		return "--pcap: a connect scan receives no packets of its own to write (the kernel handles them)"
	case c.IsSet("interface"):
		return "--interface: a connect scan lets the kernel route each connection"
	case c.IsSet("router-mac"):
		return "--router-mac: a connect scan lets the kernel find the next hop"
	case c.IsSet("source-port"):
		return "--source-port: a connect scan takes the kernel's local ports"
	case c.Bool("tx-ring"):
		return "--tx-ring: a connect scan sends through the kernel's TCP stack"
	case s.cfg.Adaptive:
		return "--adaptive: a connect scan has no loss estimate to adapt to (the kernel retransmits its own SYNs)"
	}
	return ""
}

// useConnect makes the settings a connect scan: the kernel's connect(2), no
// loss estimate (a second connection to a sample of the targets would tell
// nothing the kernel's own SYN retransmissions do not hide).
func (s *settings) useConnect() {
	s.cfg.Connect = true
	s.cfg.EstimateLoss, s.cfg.Adaptive = false, false
}

// errNoRawSockets is the error of a machine that does not permit raw sockets.
var errNoRawSockets = errors.New(needCapNetRaw)

// rawOrConnect checks that raw sockets are permitted for a SYN scan; when they
// are not, it makes the scan a connect scan and says so on stderr in one line,
// unless --no-fallback or a flag a connect scan cannot honour forbids it. A
// connect scan (-sT) needs no check.
func rawOrConnect(s *settings, stderr io.Writer) error {
	if s.cfg.Connect {
		return nil
	}
	err := checkRawSocket()
	switch {
	case err == nil:
		return nil
	case !errors.Is(err, errNoRawSockets):
		return cli.Exit(err.Error(), exitFailure)
	case s.connect.noFallback:
		return cli.Exit(needCapNetRaw+" (--no-fallback: no connect scan instead)", exitFailure)
	case s.connect.conflict != "":
		return cli.Exit(needCapNetRaw+"; a connect scan (-sT) cannot stand in: "+s.connect.conflict, exitFailure)
	}
	fmt.Fprintln(stderr, "fastscan: raw sockets are not permitted (no CAP_NET_RAW): running a TCP connect scan (-sT) instead; --no-fallback refuses")
	s.useConnect()
	s.connect.fellBack = true
	if s.args != nil && s.resume == nil {
		// A checkpoint's command line: a resumed scan stays a connect scan.
		s.args = append(s.args, "-sT")
	}
	return nil
}

// checkRawSocket opens and closes an AF_PACKET socket: errNoRawSockets when the
// machine does not permit it.
func checkRawSocket() error {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return errNoRawSockets
		}
		return fmt.Errorf("opening a raw socket: %w", err)
	}
	unix.Close(fd)
	return nil
}

// scanKind names the kind of scan for the summary and -d.
func scanKind(s *settings) string {
	if s.cfg.Connect {
		return "TCP connect (-sT, at most " + strconv.Itoa(s.cfg.Parallelism) + " connections at once)"
	}
	return "SYN"
}

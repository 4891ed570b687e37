package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/fastscan/fastscan/engine"
	"github.com/fastscan/fastscan/route"
	"github.com/fastscan/fastscan/target"
)

// maxDryRunRoutes bounds the route lookups of a dry run: the first address of at
// most this many target ranges.
const maxDryRunRoutes = 64

// routeLookup is route.Lookup, or a test's stand-in.
type routeLookup func(dst netip.Addr, iface string) (route.Route, error)

// dryRun prints the plan of the scan the settings describe and sends nothing: it
// opens no raw socket, needs no privileges and creates no file. Standard output gets
// the targets, one CIDR block a line; standard error the counts, each exclusion with
// its reason, the route (netlink, which needs no privileges; no ARP) and the
// estimated duration.
func dryRun(s settings, stdout, stderr io.Writer) error {
	return dryRunWith(s, stdout, stderr, route.Lookup)
}

// dryRunWith is dryRun with the route lookup given.
func dryRunWith(s settings, stdout, stderr io.Writer, lookup routeLookup) error {
	out := bufio.NewWriterSize(stdout, 64<<10)
	var blocks uint64
	for p := range s.cfg.Targets.Prefixes() {
		blocks++
		out.WriteString(p.String())
		out.WriteByte('\n')
	}
	if err := out.Flush(); err != nil {
		return cli.Exit(fmt.Sprintf("writing the dry run: %v", err), exitFailure)
	}
	if _, err := io.WriteString(stderr, dryRunPlan(&s, blocks, lookup)); err != nil {
		return cli.Exit(fmt.Sprintf("writing the dry run: %v", err), exitFailure)
	}
	return nil
}

// dryRunPlan is the dry run's report on standard error.
func dryRunPlan(s *settings, blocks uint64, lookup routeLookup) string {
	var b strings.Builder
	t := &s.cfg.Targets
	ranges := t.Ranges()
	nports := uint64(s.cfg.Ports.Len() + s.cfg.UDPPorts.Len())
	probes := t.Len() * nports
	fmt.Fprintf(&b, "fastscan dry run: nothing is sent\n")
	fmt.Fprintf(&b, "addresses %d in %d ranges, %d CIDR blocks (named %d, excluded %d)\n",
		t.Len(), len(ranges), blocks, s.scope.Named.Len(), s.scope.Named.Len()-t.Len())
	var ports []string
	if s.cfg.Ports.Len() > 0 {
		ports = append(ports, fmt.Sprintf("TCP %s", s.portSpec))
	}
	if s.cfg.UDPPorts.Len() > 0 {
		ports = append(ports, fmt.Sprintf("UDP %s", s.udpPortSpec))
	}
	fmt.Fprintf(&b, "ports %d: %s\n", nports, strings.Join(ports, ", "))
	fmt.Fprintf(&b, "probes %d (addresses x ports)", probes)
	if s.cfg.Retries > 0 {
		fmt.Fprintf(&b, ", at most %d with %d %s of the unanswered", probes*uint64(1+s.cfg.Retries), s.cfg.Retries, plural(uint64(s.cfg.Retries), "retry pass", "retry passes"))
	}
	b.WriteString("\n")
	if n := uint64(max(s.cfg.Shards, 1)); n > 1 {
		i := uint64(s.cfg.Shard)
		share := uint64(0)
		if i < probes {
			share = (probes - i + n - 1) / n
		}
		fmt.Fprintf(&b, "shard %d/%d (from %s): %d of the %d probes (every %d%s position of the scan order, from position %d), scan id %s\n",
			i, n, s.shard.from, share, probes, n, ordinalSuffix(n), i, scanID(s))
		probes = share
	}
	fmt.Fprintf(&b, "senders %d, each at %s probes/s\n", s.cfg.Senders, strconv.FormatFloat(s.cfg.Rate/float64(max(s.cfg.Senders, 1)), 'f', -1, 64))
	if s.cfg.EstimateLoss && s.cfg.Ports.Len() > 0 && nports > 0 {
		// The loss estimate's second probes: one per sampled TCP target.
		k := engine.LossStride(probes)
		extra := probes * uint64(s.cfg.Ports.Len()) / nports / k
		fmt.Fprintf(&b, "loss estimate: about %d second probes (1 in %d TCP targets of the first pass; --no-loss-estimate: none)\n", extra, k)
		probes += extra
	}
	for _, x := range s.scope.Excluded {
		b.WriteString(exclusionLine(x, s.scope.Excluded))
	}
	b.WriteString(routeLines(s, ranges, lookup))
	fmt.Fprintf(&b, "estimated duration %s at -r %s probes/s", formatDuration(float64(probes)/s.cfg.Rate), strconv.FormatFloat(s.cfg.Rate, 'f', -1, 64))
	if s.cfg.Retries > 0 {
		fmt.Fprintf(&b, " (first pass; up to %s more if no target answers, for %d %s)",
			formatDuration(float64(probes*uint64(s.cfg.Retries))/s.cfg.Rate), s.cfg.Retries, plural(uint64(s.cfg.Retries), "retry pass", "retry passes"))
	}
	fmt.Fprintf(&b, ", plus at most %v of waiting for replies after each pass\n", s.cfg.Wait)
	return b.String()
}

// exclusionLine describes one exclusion and what it removed; all are every
// exclusion, to name the reserved block a smaller one lies in.
func exclusionLine(x target.Exclusion, all []target.Exclusion) string {
	n := x.Removed.Len()
	count := fmt.Sprintf("%d %s", n, plural(n, "address", "addresses"))
	if x.Default {
		inside := ""
		if outer := outerBlock(x, all); outer != "" {
			inside = " (inside " + outer + ")"
		}
		return fmt.Sprintf("excluded %s: %s%s, reserved: %s, %s\n", x.Spec, count, inside, x.Reserved.Name, x.Reserved.RFC)
	}
	if n == 0 {
		count += " (none of them a target)"
	}
	return fmt.Sprintf("excluded %s: %s, user exclusion\n", x.Spec, count)
}

// routeLines says where the probes would go: the route of the first address of each
// target range (at most maxDryRunRoutes of them), ranges with the same route on one line.
func routeLines(s *settings, ranges []target.Range, lookup routeLookup) string {
	type group struct {
		desc  string
		first netip.Addr
		n     int
	}
	var groups []*group
	byDesc := map[string]*group{}
	ifaces := map[string]bool{}
	looked := min(len(ranges), maxDryRunRoutes)
	for _, r := range ranges[:looked] {
		desc := describeRoute(s, r.First, lookup, ifaces)
		g := byDesc[desc]
		if g == nil {
			g = &group{desc: desc, first: r.First}
			byDesc[desc] = g
			groups = append(groups, g)
		}
		g.n++
	}
	var b strings.Builder
	for _, g := range groups {
		if len(ranges) > 1 {
			fmt.Fprintf(&b, "route for %d of %d ranges (the first from %v): %s\n", g.n, len(ranges), g.first, g.desc)
		} else {
			fmt.Fprintf(&b, "route: %s\n", g.desc)
		}
	}
	if looked < len(ranges) {
		fmt.Fprintf(&b, "route lookups: the first address of the first %d of %d ranges\n", looked, len(ranges))
	}
	if len(ifaces) > 1 {
		b.WriteString("warning: a scan would refuse this: the targets need more than one interface; scan them separately\n")
	}
	return b.String()
}

// describeRoute is the route to dst as the scan would take it: interface, source
// address and next hop (no ARP: a dry run resolves no MAC address).
func describeRoute(s *settings, dst netip.Addr, lookup routeLookup, ifaces map[string]bool) string {
	rt, err := lookup(dst, s.cfg.Interface)
	if err != nil {
		// The innermost cause ("network is unreachable"), without the address, so
		// that ranges failing alike share a line.
		for errors.Unwrap(err) != nil {
			err = errors.Unwrap(err)
		}
		return fmt.Sprintf("unknown: %v", err)
	}
	ifaces[rt.Iface.Name] = true
	src := rt.SrcIP.String()
	if s.cfg.SourceIP.IsValid() {
		src = s.cfg.SourceIP.String() + " (--source-ip)"
	}
	var hop string
	resolve := "ARP"
	if rt.SrcIP.Is6() && !rt.SrcIP.Is4In6() {
		resolve = "neighbour discovery"
	}
	switch {
	case s.cfg.Connect:
		hop = "the kernel's choice (TCP connect scan, -sT)"
	case rt.Loopback() && resolve == "ARP":
		hop = "this host (loopback, through a raw IP socket)"
	case rt.Loopback():
		hop = "this host (loopback)"
	case rt.OnLink():
		hop = "each target itself (on-link; its MAC by " + resolve + " when the scan starts)"
	case s.cfg.RouterMAC != nil && resolve == "ARP":
		hop = fmt.Sprintf("router %v, MAC %v (--router-mac)", rt.Gateway, net.HardwareAddr(s.cfg.RouterMAC[:]))
	default:
		hop = fmt.Sprintf("router %v (its MAC by %s when the scan starts)", rt.Gateway, resolve)
	}
	return fmt.Sprintf("interface %s, source %s, next hop %s", rt.Iface.Name, src, hop)
}

// formatDuration writes a number of seconds for people: 1.5s, 2m30s, 102h50m26s,
// 31.2 days, 8.9 years.
func formatDuration(secs float64) string {
	const day, year = 86400, 365.25 * 86400
	switch {
	case math.IsInf(secs, 0) || math.IsNaN(secs):
		return "forever"
	case secs < 10:
		return time.Duration(secs * float64(time.Second)).Round(time.Millisecond).String()
	case secs < 2*day:
		return time.Duration(secs * float64(time.Second)).Round(time.Second).String()
	case secs < year:
		return fmt.Sprintf("%.1f days", secs/day)
	}
	return fmt.Sprintf("%.1f years", secs/year)
}

// plural is one or many, by n.
func plural(n uint64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// ordinalSuffix is the English suffix of the ordinal n: st, nd, rd or th.
func ordinalSuffix(n uint64) string {
	switch {
	case n%100 >= 11 && n%100 <= 13:
		return "th"
	case n%10 == 1:
		return "st"
	case n%10 == 2:
		return "nd"
	case n%10 == 3:
		return "rd"
	}
	return "th"
}

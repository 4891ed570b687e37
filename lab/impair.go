package lab

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Impairment degrades the link between the LAN and the real servers' host,
// both directions alike: a path unlike the lab's clean bridge. (The kernels
// the lab runs on may lack sch_netem: the delay is the lab's own delay
// line, see delay.go.)
type Impairment struct {
	// Delay, when not 0, holds every frame that long in each direction
	// (the round-trip time grows by twice Delay), plus or minus up to
	// Jitter, uniformly; frames keep their order.
	Delay, Jitter time.Duration
	// LossPercent (0-100) drops that share of the TCP segments at random,
	// as a lossy wire does: nftables netdev ingress and egress chains on
	// the host's interface (numgen random), so neither side's TCP stack
	// knows of the drop.
	LossPercent int
	// RateKbit, when not 0, limits each direction to that many kbit/s (a
	// tbf qdisc on the host's interface and on the bridge's port of it):
	// a 1,500-byte segment takes 12,000/RateKbit ms on the wire.
	RateKbit int
}

// impairTable is the nftables table of an Impairment's losses.
const impairTable = "fastlab_impair"

// Impair applies imp to the host's link and returns the function that
// removes it again (idempotent; Stop removes it too, with the namespace).
// Call the remover also when a test fails.
func (rs *RealServers) Impair(ctx context.Context, imp Impairment) (restore func(context.Context) error, err error) {
	if imp.LossPercent < 0 || imp.LossPercent > 100 || imp.RateKbit < 0 || imp.Delay < 0 || imp.Jitter < 0 || imp.Jitter > imp.Delay {
		return nil, fmt.Errorf("lab: impairment %+v out of range", imp)
	}
	port := rs.l.lanPort(rs.NS)
	var undo []func(context.Context) error
	restore = func(ctx context.Context) error {
		var errs []error
		for i := len(undo) - 1; i >= 0; i-- {
			errs = append(errs, undo[i](ctx))
		}
		undo = nil
		return errors.Join(errs...)
	}
	defer func() {
		if err != nil {
			err = errors.Join(fmt.Errorf("lab: impair the real servers' link: %w", err), restore(ctx))
		}
	}()
	if imp.LossPercent > 0 {
		var sb strings.Builder
		fmt.Fprintf(&sb, "table netdev %s {\n", impairTable)
		for _, hook := range []string{"ingress", "egress"} {
			fmt.Fprintf(&sb, "\tchain %s {\n\t\ttype filter hook %s device %q priority 0; policy accept;\n", hook, hook, HostIface)
			fmt.Fprintf(&sb, "\t\tmeta l4proto tcp numgen random mod 100 < %d counter drop\n\t}\n", imp.LossPercent)
		}
		sb.WriteString("}\n")
		if err := rs.host.run(ctx, []byte(sb.String()), "nft", "-f", "-"); err != nil {
			return restore, err
		}
		undo = append(undo, func(ctx context.Context) error {
			return rs.host.run(ctx, nil, "nft", "delete", "table", "netdev", impairTable)
		})
	}
	if imp.Delay > 0 {
		undoDelay, err := rs.insertDelay(ctx, imp.Delay, imp.Jitter)
		if err != nil {
			return restore, err
		}
		undo = append(undo, undoDelay)
	}
	if imp.RateKbit > 0 {
		for _, dev := range [][2]string{{rs.NS, HostIface}, {rs.l.SwitchNS(), port}} {
			// A bucket of one full segment; a queue of up to 4 s.
			if err := runIP(ctx, "-n", dev[0], "link", "show", dev[1]); err != nil {
				return restore, err
			}
			if err := runTool(ctx, nil, "tc", "-n", dev[0], "qdisc", "add", "dev", dev[1], "root", "tbf",
				"rate", strconv.Itoa(imp.RateKbit)+"kbit", "burst", "1600", "latency", "4s"); err != nil {
				return restore, err
			}
			undo = append(undo, func(ctx context.Context) error {
				return runTool(ctx, nil, "tc", "-n", dev[0], "qdisc", "del", "dev", dev[1], "root")
			})
		}
	}
	return restore, nil
}

// impairDrops matches the packet counts of the loss rules' counters.
var impairDrops = regexp.MustCompile(`counter packets (\d+)`)

// Dropped returns how many TCP segments the impairment's loss has dropped
// (both directions) since Impair; 0 without loss.
func (rs *RealServers) Dropped(ctx context.Context) (int, error) {
	out, err := exec.CommandContext(ctx, "ip", "netns", "exec", rs.NS, "nft", "list", "table", "netdev", impairTable).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "No such file") {
			return 0, nil
		}
		return 0, fmt.Errorf("lab: nft list table %s: %w: %s", impairTable, err, strings.TrimSpace(string(out)))
	}
	n := 0
	for _, m := range impairDrops.FindAllStringSubmatch(string(out), -1) {
		v, _ := strconv.Atoi(m[1])
		n += v
	}
	return n, nil
}

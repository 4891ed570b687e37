package lab

import (
	"context"
	"fmt"
)

// limitTable is the nftables table of LimitRate in R.
const limitTable = "fastlab_limit"

// LimitRate makes the path to the AnyIP range drop TCP SYNs above pps per
// second, as a policer on the way would (netem is not available here): an
// nftables rule in R's prerouting, on what arrives by its WAN interface,
// "limit rate over pps/second burst burst packets drop". Replies, the
// scanner kernel's resets and UDP pass. The IPv6 AnyIP range gets the same
// rule in a table of its own: each family is limited to pps on its own.
// The returned remove takes the rules away again (Down does too, with the
// namespace).
func (l *Lab) LimitRate(ctx context.Context, pps, burst int) (remove func(context.Context) error, err error) {
	if pps <= 0 || burst <= 0 {
		return nil, fmt.Errorf("lab: limit rate %d/s burst %d: both must be above 0", pps, burst)
	}
	rules := fmt.Sprintf(`table ip %s {
	chain prerouting {
		type filter hook prerouting priority -150; policy accept;
		iifname %q ip daddr %s tcp flags & (syn | ack) == syn limit rate over %d/second burst %d packets drop
	}
}
table ip6 %s {
	chain prerouting {
		type filter hook prerouting priority -150; policy accept;
		iifname %q ip6 daddr %s tcp flags & (syn | ack) == syn limit rate over %d/second burst %d packets drop
	}
}
`, limitTable, RemoteWANIface, l.truth.AnyIPPrefix, pps, burst, limitTable, RemoteWANIface, l.truth.AnyIPPrefix6, pps, burst)
	if err := runTool(ctx, []byte(rules), "ip", "netns", "exec", l.RemoteNS(), "nft", "-f", "-"); err != nil {
		return nil, fmt.Errorf("lab: limiting the rate to %s: %w", l.truth.AnyIPPrefix, err)
	}
	return func(ctx context.Context) error {
		rules := fmt.Sprintf("delete table ip %s\ndelete table ip6 %s\n", limitTable, limitTable)
		if err := runTool(ctx, []byte(rules), "ip", "netns", "exec", l.RemoteNS(), "nft", "-f", "-"); err != nil {
			return fmt.Errorf("lab: removing the rate limit: %w", err)
		}
		return nil
	}, nil
}

package main

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/fastscan/fastscan/lab/labtest"
)

// TestLabSenders: lab scans with two senders and with one (routed: answering,
// silent and prohibited ranges; on-link) both equal the lab's ground truth, every
// verdict shown.
func TestLabSenders(t *testing.T) {
	l := labtest.Start(t)
	truth := l.Truth()
	routedPorts := []uint16{22, 80, 443, 8080}
	routed := labRoutedMix()
	for _, senders := range []string{"2", "1"} {
		t.Run("Routed/"+senders, func(t *testing.T) {
			out := scanLab(t, l, labRoutedMixSpec, "-p", "22,80,443,8080", "-r", "100000", "--show", "all",
				"--retries", "2", "--seed", "11", "--senders", senders)
			compareRangesWithTruth(t, truth, out, routed, routedPorts, true)
			if len(out.records) != 0 {
				t.Errorf("an unsharded scan wrote scan records: %+v", out.records)
			}
		})
		t.Run("LAN/"+senders, func(t *testing.T) {
			out := scanLab(t, l, "198.18.1.0/24", "-p", "1-256", "-r", "100000", "--show", "all", "--senders", senders)
			compareWithTruth(t, truth, out, netip.MustParseAddr("198.18.1.0"), netip.MustParseAddr("198.18.1.255"), portRange(1, 256), true)
		})
	}
}

// TestLabShards: the four shards of one lab scan - two with two senders, one
// taking its index from a Kubernetes Indexed Job's environment, one from a Slurm
// job array's - report disjoint verdicts whose union is the lab's ground truth,
// each output starting with one scan record of the same scan id and its own shard.
// Silence verdicts (the blackholed range) come only from the shard that probed.
func TestLabShards(t *testing.T) {
	l := labtest.Start(t)
	truth := l.Truth()
	ports := []uint16{22, 80, 443, 8080}
	common := []string{labRoutedMixSpec, "-p", "22,80,443,8080", "-r", "50000", "--show", "all", "--retries", "2", "--seed", "12"}
	runs := []struct {
		env  []string
		args []string
	}{
		{nil, []string{"--shard", "0/4", "--senders", "2"}},
		{nil, []string{"--shard", "1/4"}},
		{[]string{envK8sIndex + "=2"}, []string{"--shards", "4", "--senders", "2"}},
		{[]string{envSlurmTask + "=4", envSlurmCount + "=4", envSlurmMin + "=1"}, nil},
	}
	var union scanOutput
	seen := map[netip.AddrPort]int{}
	scanID := ""
	for i, r := range runs {
		out := scanLabEnv(t, l, r.env, append(append([]string{}, common...), r.args...)...)
		if len(out.records) != 1 {
			t.Fatalf("shard %d: %d scan records, want 1", i, len(out.records))
		}
		rec := out.records[0]
		if rec.Shard != i || rec.Shards != 4 || len(rec.ScanID) != 32 {
			t.Errorf("shard %d: scan record %+v, want shard %d of 4 with a scan id", i, rec, i)
		}
		if scanID == "" {
			scanID = rec.ScanID
		} else if rec.ScanID != scanID {
			t.Errorf("shard %d: scan id %s, shard 0's is %s", i, rec.ScanID, scanID)
		}
		for _, f := range out.findings {
			ap := netip.AddrPortFrom(netip.MustParseAddr(f.IP), f.Port)
			if other, dup := seen[ap]; dup {
				t.Errorf("%v reported by shards %d and %d", ap, other, i)
			}
			seen[ap] = i
		}
		if n, want := out.summaryCount(t, fmt.Sprintf("shard %d/4:", i)), uint64(3*1024*4-i+3)/4; n != want {
			t.Errorf("shard %d: summary says %d targets, want %d", i, n, want)
		}
		union.findings = append(union.findings, out.findings...)
		union.stderr = out.stderr
	}
	compareRangesWithTruth(t, truth, union, labRoutedMix(), ports, true)
}

// labRoutedMixSpec is a /22 of each kind of the lab's routed network: answering
// (AnyIP), blackholed (silence: filtered) and prohibited (ICMP 3/13: filtered).
const labRoutedMixSpec = "198.19.0.0/22,198.19.128.0/22,198.19.192.0/22"

// labRoutedMix is labRoutedMixSpec as ranges.
func labRoutedMix() []addrRange {
	var out []addrRange
	for _, p := range []string{"198.19.0.0/22", "198.19.128.0/22", "198.19.192.0/22"} {
		pfx := netip.MustParsePrefix(p)
		last := pfx.Addr().As4()
		last[2] |= 3
		last[3] = 255
		out = append(out, addrRange{pfx.Addr(), netip.AddrFrom4(last)})
	}
	return out
}

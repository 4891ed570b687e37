package main

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/fastscan/fastscan/lab/labtest"
)

// TestLabNmapFlags scans the lab with nmap's spellings: one fixed source port
// (-g: every probe and every retry from it, the cookie still telling replies
// apart), --max-rate, -sS, -Pn and -vv. The verdicts equal the lab's ground
// truth; -vv's plan and host counts are on standard error.
func TestLabNmapFlags(t *testing.T) {
	l := labtest.Start(t)
	truth := l.Truth()
	out := scanLab(t, l, "198.19.1.0/24,198.19.100.200", "-p", "22,5432,8080", "--show", "all",
		"-g", "40123", "--max-rate", "20000", "-sS", "-Pn", "-vv", "--retries", "1")
	special := netip.MustParseAddr("198.19.100.200")
	compareRangesWithTruth(t, truth, out, []addrRange{
		{netip.MustParseAddr("198.19.1.0"), netip.MustParseAddr("198.19.1.255")},
		{special, special},
	}, []uint16{22, 5432, 8080}, true)
	for _, want := range []string{"fastscan plan:\n", "addresses 257 in 2 ranges", "fastscan: hosts probed 257,"} {
		if !strings.Contains(out.stderr, want) {
			t.Errorf("-vv: stderr lacks %q:\n%s", want, out.stderr)
		}
	}
	if strings.Contains(out.stderr, "fastscan debug:") {
		t.Errorf("-vv printed -d's internals:\n%s", out.stderr)
	}
}

package main

import (
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/fastscan/fastscan/lab/labtest"
)

// TestLabServicesIPv6 scans the real servers' host on its IPv6 address with
// -sV (a SYN scan: -sT is IPv4 only), then on both its addresses in one
// scan: every address is identified as the IPv4 one is (the installed
// packages' products and versions, the lab's certificate, ssh probed on
// 2222, the hostile servers within their budgets, closed ports closed), in
// JSON lines (schema-valid, addresses as RFC 5952 writes them) and nmap XML
// (valid against nmap.dtd, addrtype ipv6).
func TestLabServicesIPv6(t *testing.T) {
	l, rs := labtest.StartRealServers(t)
	truth := realServersTruth(t, rs)
	// RFC 5952's form, independent of netip's: lower case, the longest
	// run of zero fields compressed, no leading zeros.
	if got, want := rs.Addr6.String(), "2001:2:0:1::80"; got != want {
		t.Fatalf("the host's IPv6 address reads %s, the test expects %s", got, want)
	}
	ports, closed := svPorts()
	const budget = 3 * time.Second
	for _, tc := range []struct {
		name  string
		addrs []netip.Addr
	}{
		{"IPv6", []netip.Addr{rs.Addr6}},
		{"Mixed", []netip.Addr{rs.Addr, rs.Addr6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			xmlFile := filepath.Join(t.TempDir(), "sv.xml")
			var args []string
			for _, a := range tc.addrs {
				args = append(args, a.String())
			}
			args = append(args, "-p", portList(ports), "-sV", "--show", "all", "--wait", "1s", "-r", "2000",
				"--sv-timeout", budget.String(), "--sv-per-host", "16", "--seed", "7", "-oX", xmlFile)
			found, stderr, elapsed, code := runSV(t, l, false, args...)
			t.Logf("%s scan: %v, exit %d\n%s", tc.name, elapsed.Round(time.Millisecond), code, stderr)
			if code != exitOK {
				t.Fatalf("exit %d", code)
			}
			byAddr := svByAddr(t, found, tc.addrs...)
			for _, a := range tc.addrs {
				if n := len(byAddr[a.String()]); n != len(ports) {
					t.Errorf("%s: %d ports written of %d scanned (--show all)", a, n, len(ports))
				}
				truth.check(t, a, byAddr[a.String()], closed, true)
			}
			checkServicesXML(t, xmlFile, byAddr)
			// Both addresses' identifications run at once (--sv-per-host
			// is per address): the cool-down, one budget, slack.
			if limit := time.Second + budget + 4*time.Second; elapsed > limit {
				t.Errorf("the scan took %v: more than its cool-down and one %v budget (%v)", elapsed, budget, limit)
			}
			checkSVSummary(t, stderr, found)
		})
	}
}

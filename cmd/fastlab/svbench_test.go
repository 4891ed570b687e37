package main

import (
	"bytes"
	"context"
	"net/netip"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fastscan/fastscan/citest"
	"github.com/fastscan/fastscan/lab"
)

// The benchmark's targets are exactly --count addresses of the AnyIP
// nginx's prefix, as the fewest CIDR blocks.
func TestSvTargets(t *testing.T) {
	for _, tc := range []struct {
		count  int
		blocks []string
	}{
		{1, []string{"198.18.128.0/32"}},
		{64, []string{"198.18.128.0/26"}},
		{100, []string{"198.18.128.0/26", "198.18.128.64/27", "198.18.128.96/30"}},
		{10000, []string{"198.18.128.0/19", "198.18.160.0/22", "198.18.164.0/23", "198.18.166.0/24", "198.18.167.0/28"}},
		{32768, []string{"198.18.128.0/17"}},
	} {
		got, err := svTargets(tc.count)
		if err != nil {
			t.Fatalf("count %d: %v", tc.count, err)
		}
		var s []string
		for _, p := range got {
			s = append(s, p.String())
		}
		if strings.Join(s, " ") != strings.Join(tc.blocks, " ") {
			t.Errorf("count %d: %v, want %v", tc.count, s, tc.blocks)
		}
		wanted := svWanted(got, 80)
		if len(wanted) != tc.count || wanted[0].Addr() != lab.AnyIPNginxPrefix.Addr() {
			t.Fatalf("count %d: %d ports from %v", tc.count, len(wanted), wanted[0])
		}
		for i, ap := range wanted {
			if !lab.AnyIPNginxPrefix.Contains(ap.Addr()) || i > 0 && wanted[i-1].Addr().Next() != ap.Addr() {
				t.Fatalf("count %d: port %d %v not the next address of the prefix", tc.count, i, ap)
			}
		}
	}
	for _, bad := range []int{0, -1, 32769} {
		if _, err := svTargets(bad); err == nil {
			t.Errorf("count %d accepted", bad)
		}
	}
}

// Every tool scans only the benchmark's targets, resolves no names and
// identifies versions.
func TestSvInvocationsStayInTheLab(t *testing.T) {
	o := svOptions{Scanner: "/bin/fastscan", Self: "/bin/fastlab", Count: 10000, Rounds: 1, Rate: 1000, Timing: "4", Timeout: time.Minute}
	if err := checkSvOptions(&o); err != nil {
		t.Fatal(err)
	}
	targets, _ := svTargets(o.Count)
	for _, tool := range svTools {
		inv := svInvocationFor(tool, targets, o, "/tmp/x")
		if inv.NA != "" {
			t.Fatalf("%s: %s", tool, inv.NA)
		}
		args := " " + strings.Join(inv.Args, " ") + " "
		var addrs int
		for _, a := range inv.Args {
			if p, err := netip.ParsePrefix(a); err == nil {
				if !lab.AnyIPNginxPrefix.Contains(p.Addr()) || p.Bits() < lab.AnyIPNginxPrefix.Bits() {
					t.Errorf("%s: target %v outside %v", tool, p, lab.AnyIPNginxPrefix)
				}
				addrs += 1 << (32 - p.Bits())
			}
		}
		if addrs != o.Count {
			t.Errorf("%s: %d target addresses, want %d", tool, addrs, o.Count)
		}
		if tool != "svcid" && (!strings.Contains(args, " -n ") || !strings.Contains(args, " -sV ")) {
			t.Errorf("%s: %s lacks -n or -sV", tool, args)
		}
	}
	for _, bad := range []svOptions{{Rounds: 0, Rate: 1, Timeout: time.Second}, {Rounds: 1, Rate: 1, Timeout: time.Second, Tools: []string{"zgrab"}},
		{Rounds: 1, Rate: 1, Timeout: time.Second, Timing: "9"}} {
		if err := checkSvOptions(&bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// TestSvbenchSmall runs `fastlab svbench` on 16 addresses, one round, in a
// real lab with Debian's nginx: fastscan -sV, nmap -sV and svcid each identify every port
// as the installed nginx (nginx -v), and the lab and nginx are gone
// afterwards.
func TestSvbenchSmall(t *testing.T) {
	citest.RequireRoot(t)
	citest.RequireTool(t, "nginx")
	citest.RequireTool(t, "nmap")
	self := filepath.Join(t.TempDir(), "fastlab")
	if out, err := exec.Command("go", "build", "-o", self, ".").CombinedOutput(); err != nil {
		t.Fatalf("build fastlab: %v\n%s", err, out)
	}
	scanner := filepath.Join(t.TempDir(), "fastscan")
	if out, err := exec.Command("go", "build", "-o", scanner, "../fastscan").CombinedOutput(); err != nil {
		t.Fatalf("build fastscan: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	version, err := nginxVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	o := svOptions{Scanner: scanner, Self: self, Count: 16, Rounds: 1, Rate: 10000, Timing: "4", Timeout: time.Minute}
	if err := runSvbench(ctx, &stdout, &stderr, o); err != nil {
		t.Fatalf("svbench: %v\n%s", err, stderr.String())
	}
	table := stdout.String()
	t.Logf("\n%s", table)
	if !strings.Contains(table, "version "+version) {
		t.Errorf("the table does not name nginx %s", version)
	}
	ran := 0
	for _, line := range strings.Split(table, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 15 || !strings.HasPrefix(line, "| ") || strings.HasPrefix(line, "| tool") || strings.HasPrefix(line, "| ---") {
			continue
		}
		tool := strings.TrimSpace(cells[1])
		if strings.TrimSpace(cells[2]) == "n/a" {
			t.Errorf("%s did not run: %s", tool, line)
			continue
		}
		ran++
		// right, wrong, missing, extra
		if got := []string{strings.TrimSpace(cells[5]), strings.TrimSpace(cells[6]), strings.TrimSpace(cells[7]), strings.TrimSpace(cells[8])}; strings.Join(got, " ") != "16 0 0 0" {
			t.Errorf("%s: right/wrong/missing/extra %v, want 16 0 0 0: %s", tool, got, line)
		}
	}
	if ran != len(svTools) {
		t.Errorf("%d tools ran, want %d", ran, len(svTools))
	}
	m := regexp.MustCompile(`lab (fsl[0-9a-f]{6}) is up`).FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("no lab id in the progress:\n%s", stderr.String())
	}
	left, err := lab.LeftoverNamespaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range left {
		if strings.HasPrefix(ns, m[1]+"-") {
			t.Errorf("namespace %s left", ns)
		}
	}
}

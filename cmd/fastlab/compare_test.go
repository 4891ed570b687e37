package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fastscan/fastscan/citest"
	"github.com/fastscan/fastscan/lab"
)

func TestCompareInvocationsStayInTheLab(t *testing.T) {
	tr := lab.DefaultTruth()
	o := cmpOptions{Scanner: "/bin/fastscan", Rounds: 1, Rate: 300000, Timeout: time.Minute, Wait: 2}
	if err := checkOptions(&o, tr); err != nil {
		t.Fatal(err)
	}
	for _, w := range cmpWorkloads(tr) {
		for _, tool := range cmpTools {
			inv := invocation(tool, w, tr, o, "/tmp/x")
			if inv.NA != "" {
				continue
			}
			args := strings.Join(inv.Args, " ")
			if !strings.Contains(args, w.Target) || !strings.Contains(args, "300000") {
				t.Errorf("%s %s: %s lacks the target or the rate", tool, w.Name, args)
			}
			if tool == "nmap" || tool == "fastscan" {
				if !strings.Contains(" "+args+" ", " -n ") {
					t.Errorf("%s %s: %s may resolve names (no -n)", tool, w.Name, args)
				}
			}
			if tool == "masscan" && !strings.Contains(args, "--router-mac") || tool == "zmap" && !strings.Contains(args, "-G") {
				t.Errorf("%s %s: %s gives no next-hop MAC", tool, w.Name, args)
			}
		}
	}
	// zmap 2.x takes one port: only the /16 x 1 port workload.
	for _, w := range cmpWorkloads(tr) {
		inv := invocation("zmap", w, tr, o, "/tmp/x")
		if (inv.NA == "") != (w.Name == "routed16x1") {
			t.Errorf("zmap %s: NA %q", w.Name, inv.NA)
		}
	}
	for _, bad := range []cmpOptions{{Rounds: 0, Rate: 1, Timeout: time.Second}, {Rounds: 1, Rate: 1, Timeout: time.Second, Tools: []string{"hping"}},
		{Rounds: 1, Rate: 1, Timeout: time.Second, Workloads: []string{"/8"}}} {
		if err := checkOptions(&bad, tr); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// TestCompareHostFastscanNmap runs `fastlab compare --rounds 1 --workloads host`
// for fastscan and nmap in a real lab.
func TestCompareHostFastscanNmap(t *testing.T) {
	citest.RequireRoot(t)
	citest.RequireTool(t, "ip")
	citest.RequireTool(t, "nft")
	citest.RequireTool(t, "nmap")
	bin := filepath.Join(t.TempDir(), "fastscan")
	build := exec.Command("go", "build", "-o", bin, "../fastscan")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building fastscan: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out bytes.Buffer
	err := newApp(&out, io.Discard).RunContext(ctx, []string{"fastlab", "compare", "--scanner", bin,
		"--rounds", "1", "--workloads", "host", "--tools", "fastscan,nmap", "--timeout", "60s"})
	if err != nil {
		t.Fatalf("compare: %v\n%s", err, out.String())
	}
	rows := map[string][]string{}
	for _, line := range strings.Split(out.String(), "\n") {
		if !strings.HasPrefix(line, "| host |") {
			continue
		}
		cols := strings.Split(line, "|")
		for i := range cols {
			cols[i] = strings.TrimSpace(cols[i])
		}
		rows[cols[2]] = cols
	}
	for _, tool := range []string{"fastscan", "nmap"} {
		if rows[tool] == nil {
			t.Fatalf("no %s row:\n%s", tool, out.String())
		}
	}
	// | workload | tool | median wall | vs | missed | extra | rss | user CPU | kernel CPU | runs | note |
	if f := rows["fastscan"]; f[5] != "0" || f[6] != "0" || f[10] != "1/1" || !strings.HasSuffix(f[9], " s") || f[9] == "0.00 s" {
		t.Errorf("fastscan missed %s, extra %s, kernel CPU %s, runs %s:\n%s", f[5], f[6], f[9], f[10], out.String())
	}
	if !strings.Contains(out.String(), "nproc") || !strings.Contains(out.String(), "300000 packets/s") {
		t.Errorf("header lacks the machine or the rate:\n%s", out.String())
	}
}

// Tools take turns: each round starts with the next tool, and every tool
// runs once a round.
func TestInTurn(t *testing.T) {
	tools := []string{"a", "b", "c"}
	for round, want := range []string{"a b c", "b c a", "c a b", "a b c"} {
		if got := strings.Join(inTurn(tools, round), " "); got != want {
			t.Errorf("round %d: %s, want %s", round, got, want)
		}
	}
	x, y := 1, 2
	if got := values([]*int{&x, &y}); len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Errorf("values: %v", got)
	}
}

// Both tables' headers start with the machine and say how the rounds ran.
func TestHeadersShareMachineAndRounds(t *testing.T) {
	targets, err := svTargets(16)
	if err != nil {
		t.Fatal(err)
	}
	for name, h := range map[string]string{
		"compare": compareHeader(cmpOptions{Rounds: 2, Rate: 1, Timeout: time.Minute, Wait: 2}, "fsl000000"),
		"svbench": svbenchHeader(svOptions{Count: 16, Rounds: 2, Timeout: time.Minute}, "fsl000000", "1.22.1", targets),
	} {
		first := "fastlab " + name + " lab fsl000000; machine: nproc "
		if !strings.HasPrefix(strings.Replace(h, ":", "", 1), first) || !strings.Contains(h, ", kernel ") {
			t.Errorf("%s header starts %q", name, strings.SplitN(h, "\n", 2)[0])
		}
		if !strings.Contains(h, "\n2 round(s), tools alternating (each round starts with the next tool); a run is stopped after 1m0s\n") {
			t.Errorf("%s header lacks the rounds line:\n%s", name, h)
		}
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fastscan/fastscan/registry"
)

// runRegistryCmd runs "fastscan registry args..." through the real command line
// and returns its standard output, exit status and standard error.
func runRegistryCmd(t *testing.T, args ...string) (string, int, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	noScan := func(context.Context, settings, io.Writer, io.Writer) error {
		t.Fatalf("registry %v started a scan", args)
		return nil
	}
	code := run(context.Background(), append([]string{"fastscan", "registry"}, args...), &stdout, &stderr, noScan)
	return stdout.String(), code, stderr.String()
}

func TestRegistryCommandPort(t *testing.T) {
	out, code, msg := runRegistryCmd(t, "443")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, msg)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "PORT") {
		t.Fatalf("output:\n%s\nwant a header and three rows", out)
	}
	for i, proto := range []string{"tcp", "udp", "sctp"} {
		if f := strings.Fields(lines[i+1]); len(f) < 4 || f[0] != "443" || f[1] != proto || f[2] != "https" || f[3] != "system" {
			t.Errorf("row %d = %q, want 443 %s https system", i+1, lines[i+1], proto)
		}
	}
}

func TestRegistryCommandUnassignedPortShowsItsClass(t *testing.T) {
	out, code, _ := runRegistryCmd(t, "49152", "--proto", "tcp")
	if f := strings.Fields(lastLine(out)); code != 0 || len(f) < 4 || f[0] != "49152" || f[1] != "tcp" || f[2] != "-" || f[3] != "dynamic" {
		t.Errorf("exit %d, output:\n%s", code, out)
	}
}

func TestRegistryCommandName(t *testing.T) {
	out, code, _ := runRegistryCmd(t, "--json", "SSH")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var rows []registryRow
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r registryRow
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		rows = append(rows, r)
	}
	if len(rows) != 3 || rows[0] != (registryRow{Port: 22, Proto: "tcp", Service: "ssh", Class: "system", Description: rows[0].Description}) || rows[0].Description == "" {
		t.Errorf("rows = %+v", rows)
	}
	if !strings.Contains(out, `"port_class":"system"`) || !strings.Contains(out, `"service":"ssh"`) {
		t.Errorf("JSON keys differ from the scan results': %s", out)
	}
}

func TestRegistryCommandRangeWithFlagAfterIt(t *testing.T) {
	out, code, msg := runRegistryCmd(t, "6000-6010", "--proto", "udp")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, msg)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 12 {
		t.Fatalf("%d lines, want a header and 11 rows:\n%s", len(lines), out)
	}
	for _, l := range lines[1:] {
		if f := strings.Fields(l); f[1] != "udp" || f[2] != "x11" || f[3] != "user" {
			t.Errorf("row %q, want udp x11 user", l)
		}
	}
}

// TestRegistryCommandPortInARange checks a port that IANA assigns only as part
// of a range (ircu on 6665-6669): the built-in table names it, as IANA does
// (registry's TestSeedPortsNameTheirIANAService checks the name against IANA's file).
func TestRegistryCommandPortInARange(t *testing.T) {
	want := registry.Default().Name(6666, registry.TCP)
	if want == "" {
		t.Fatal("the built-in table names no service on 6666/tcp")
	}
	out, code, msg := runRegistryCmd(t, "6666", "--proto", "tcp")
	if f := strings.Fields(lastLine(out)); code != 0 || len(f) < 4 || f[0] != "6666" || f[2] != want || f[3] != "user" {
		t.Errorf("exit %d (%s), output:\n%s\nwant 6666 tcp %s user", code, msg, out, want)
	}
}

func TestRegistryCommandClass(t *testing.T) {
	out, code, _ := runRegistryCmd(t, "--class", "system", "--proto", "sctp", "--json")
	if code != 0 || strings.Count(out, "\n") < 5 || strings.Contains(out, `"user"`) || strings.Contains(out, `"tcp"`) {
		t.Errorf("exit %d, output:\n%s", code, out)
	}
	out, code, _ = runRegistryCmd(t, "--class", "dynamic")
	if code != 0 || strings.TrimSpace(out) != "no assigned services match" {
		t.Errorf("--class dynamic: exit %d, output %q", code, out)
	}
}

func TestRegistryCommandBadInput(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"no-such-service"}, `unknown service "no-such-service"`},
		{[]string{"70000"}, `invalid port "70000"`},
		{[]string{"0"}, `invalid port "0": port 0 is reserved`},
		{[]string{"10-5"}, `invalid port range "10-5"`},
		{[]string{"22", "--proto", "icmp"}, `unknown protocol "icmp"`},
		{[]string{"--class", "odd"}, `unknown port class "odd"`},
		{[]string{"22", "--bogus"}, "--bogus"},
		{[]string{}, "give a port"},
		{[]string{"22", "--registry", "/nonexistent/registry.csv"}, "/nonexistent/registry.csv"},
	} {
		out, code, msg := runRegistryCmd(t, tc.args...)
		if code != 2 || !strings.Contains(msg, tc.msg) || strings.Count(msg, "\n") != 1 || out != "" {
			t.Errorf("registry %v: exit %d, message %q, output %q; want exit 2 and one line with %q", tc.args, code, msg, out, tc.msg)
		}
	}
}

func TestRegistryCommandFile(t *testing.T) {
	name := filepath.Join(t.TempDir(), "registry.csv")
	csv := "Service Name,Port Number,Transport Protocol,Description\nmine,5432,tcp,\"My own\ndatabase\"\n"
	if err := os.WriteFile(name, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code, _ := runRegistryCmd(t, "5432", "--proto", "tcp", "--registry", name)
	if code != 0 || !strings.Contains(lastLine(out), "mine") || !strings.Contains(out, "My own database") {
		t.Errorf("--registry: exit %d, output:\n%s", code, out)
	}
	t.Setenv("FASTSCAN_REGISTRY", name)
	out, code, _ = runRegistryCmd(t, "mine")
	if code != 0 || !strings.Contains(out, "5432") {
		t.Errorf("FASTSCAN_REGISTRY: exit %d, output:\n%s", code, out)
	}
	if _, code, _ := runRegistryCmd(t, "postgresql"); code != 2 {
		t.Errorf("the file must replace the built-in table, but postgresql was found")
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"os/user"
	"slices"
	"strings"
	"testing"

	"github.com/fastscan/fastscan/output/outputtest"
	"github.com/fastscan/fastscan/registry"
)

// fixtureProc is localports' fixture /proc tree: sshd (pid 100) on 0.0.0.0:22
// and [::]:22, nginx (200 and 201) on 127.0.0.1:8080, curl (300, uid 1000)
// connected to it and to 3306 and 53, python3 (400, uid 65534) on
// 127.0.0.1:2200/tcp and [::1]:5353/udp, an unowned UDP socket on 0.0.0.0:53
// (uid 101) and a time-wait socket on 10.0.0.10:22.
const fixtureProc = "../../localports/testdata/proc"

// runLocalCmd runs "fastscan local --proc fixtureProc args..." and returns its
// standard output, exit status and standard error.
func runLocalCmd(t *testing.T, args ...string) (string, int, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	noScan := func(context.Context, settings, io.Writer, io.Writer) error {
		t.Fatalf("local %v started a scan", args)
		return nil
	}
	code := run(context.Background(), append([]string{"fastscan", "local", "--proc", fixtureProc}, args...), &stdout, &stderr, noScan)
	return stdout.String(), code, stderr.String()
}

// userOf is the name the system gives uid (the number when it has none).
func userOf(uid string) string {
	if u, err := user.LookupId(uid); err == nil {
		return u.Username
	}
	return uid
}

func TestLocalTable(t *testing.T) {
	out, code, msg := runLocalCmd(t)
	if code != 0 || msg != "" {
		t.Fatalf("exit %d, stderr %q", code, msg)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 12 || strings.Join(strings.Fields(lines[0]), " ") != "PROTO LOCAL REMOTE STATE BOUND PID PROCESS USER SERVICE CLASS" {
		t.Fatalf("output:\n%s\nwant a header and 11 sockets", out)
	}
	svc := func(port uint16, p registry.Proto) string { return orUnknown(registry.Default().Name(port, p)) }
	want := map[string]string{
		"0.0.0.0:22":      "tcp 0.0.0.0:22 * listen all 100 sshd " + userOf("0") + " " + svc(22, registry.TCP) + " system",
		"10.0.0.10:22":    "tcp 10.0.0.10:22 10.0.0.11:54321 time-wait one - - - " + svc(22, registry.TCP) + " system",
		"127.0.0.1:8080":  "tcp 127.0.0.1:8080 * listen one 200 (+1) nginx " + userOf("33") + " " + svc(8080, registry.TCP) + " user",
		"127.0.0.1:48378": "tcp 127.0.0.1:48378 127.0.0.1:8080 established one 300 curl " + userOf("1000") + " " + svc(48378, registry.TCP) + " user",
		"0.0.0.0:53":      "udp 0.0.0.0:53 * unconnected all - - " + userOf("101") + " " + svc(53, registry.UDP) + " system",
		"[::1]:5353":      "udp [::1]:5353 * unconnected one 400 python3 " + userOf("65534") + " " + svc(5353, registry.UDP) + " user",
	}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if w, ok := want[f[1]]; ok && f[2] != "127.0.0.1:48378" {
			if got := strings.Join(f, " "); got != w {
				t.Errorf("row %q\nwant %q", got, w)
			}
			delete(want, f[1])
		}
	}
	if len(want) != 0 {
		t.Errorf("rows missing: %v", want)
	}
}

func TestLocalJSONLines(t *testing.T) {
	out, code, msg := runLocalCmd(t, "--format", "jsonl")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, msg)
	}
	v := outputtest.NewLocalValidator(t)
	if n := v.ValidateLines(t, []byte(out)); n != 11 {
		t.Errorf("%d lines, want 11", n)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	// Members exactly, in this order.
	dec := json.NewDecoder(strings.NewReader(lines[0]))
	var keys []string
	dec.Token()
	for dec.More() {
		k, _ := dec.Token()
		keys = append(keys, k.(string))
		var skip json.RawMessage
		dec.Decode(&skip)
	}
	if !slices.Equal(keys, localColumns) {
		t.Errorf("members %v, want %v", keys, localColumns)
	}
	var got map[string]any
	for _, l := range lines {
		if strings.Contains(l, `"port":2200`) {
			json.Unmarshal([]byte(l), &got)
		}
	}
	want := map[string]any{"proto": "tcp", "local_ip": "127.0.0.1", "port": 2200.0, "remote_ip": "0.0.0.0", "remote_port": 0.0,
		"state": "listen", "pid": 400.0, "process": "python3", "user": userOf("65534"), "service": orUnknown(registry.Default().Name(2200, registry.TCP)), "port_class": "user"}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("2200/tcp: %s = %v, want %v", k, got[k], w)
		}
	}
	// The schema rejects what breaks the layout.
	for _, bad := range []string{
		strings.Replace(lines[0], `"proto":"tcp"`, `"proto":"sctp"`, 1),
		strings.Replace(lines[0], `"port":22`, `"port":"22"`, 1),
		strings.Replace(lines[0], `"local_ip":"0.0.0.0"`, `"local_ip":"0.0.0.300"`, 1),
		strings.Replace(lines[0], `{`, `{"extra":1,`, 1),
	} {
		if bad == lines[0] || v.ValidateLine([]byte(bad)) == nil {
			t.Errorf("the schema accepts %s", bad)
		}
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func TestLocalCSV(t *testing.T) {
	out, code, _ := runLocalCmd(t, "--format", "csv", "--proto", "udp")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(recs) != 4 || !slices.Equal(recs[0], localColumns) {
		t.Fatalf("csv: %v\n%s", err, out)
	}
	if got := strings.Join(recs[3], ","); got != "udp,127.0.0.1,55000,127.0.0.1,53,connected,300,curl,"+userOf("1000")+","+orUnknown(registry.Default().Name(55000, registry.UDP))+",dynamic" {
		t.Errorf("row %s", got)
	}
}

func TestLocalPortAnswer(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--port", "22"}, 0, "port 22 is in use by sshd (pid 100, user " + userOf("0") + "): tcp listen 0.0.0.0, tcp listen ::; no process: tcp time-wait 10.0.0.10 -> 10.0.0.11:54321\n"},
		{[]string{"--port", "8080", "--listening"}, 0, "port 8080 is in use by nginx (pid 200 and 1 more process, user " + userOf("33") + "): tcp listen 127.0.0.1\n"},
		{[]string{"-p", "53", "--proto", "udp"}, 0, "port 53/udp is in use by no process: udp unconnected 0.0.0.0\n"},
		{[]string{"--port", "2201"}, 1, "port 2201 is free: no tcp or udp socket uses it\n"},
		{[]string{"--port", "22", "--proto", "udp"}, 1, "port 22/udp is free: no udp socket uses it\n"},
		{[]string{"--port", "8080", "--pid", "300"}, 1, "port 8080: no socket matches\n"},
	} {
		out, code, msg := runLocalCmd(t, tc.args...)
		if code != tc.code || out != tc.want || msg != "" {
			t.Errorf("local %v: exit %d, output %q, stderr %q; want exit %d, %q", tc.args, code, out, msg, tc.code, tc.want)
		}
	}
	// A list of ports: the table, and the same exit statuses.
	out, code, _ := runLocalCmd(t, "--port", "22,2200-2300", "--listening")
	if code != 0 || strings.Count(out, "\n") != 4 || !strings.Contains(out, "python3") {
		t.Errorf("a port list: exit %d, output:\n%s", code, out)
	}
	out, code, _ = runLocalCmd(t, "-p2200-", "--listening", "--format", "jsonl")
	if code != 0 || strings.Count(out, "\n") != 3 {
		t.Errorf("-p2200-: exit %d, output:\n%s\nwant 2200/tcp, 5353/udp and 8080/tcp", code, out)
	}
	out, code, _ = runLocalCmd(t, "--port", "1-10", "--format", "jsonl")
	if code != 1 || out != "" {
		t.Errorf("no socket on 1-10 in JSON lines: exit %d, output %q; want 1 and nothing", code, out)
	}
}

func TestLocalFilters(t *testing.T) {
	count := func(args ...string) int {
		out, code, msg := runLocalCmd(t, append(args, "--format", "jsonl")...)
		if code != 0 {
			t.Fatalf("local %v: exit %d: %s", args, code, msg)
		}
		return strings.Count(out, "\n")
	}
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"--listening"}, 6},
		{[]string{"-l", "--proto", "tcp"}, 4},
		{[]string{"--pid", "300"}, 3},
		{[]string{"--process", "nginx"}, 2},
		{[]string{"--process", "nginx", "--listening"}, 1},
	} {
		if got := count(tc.args...); got != tc.want {
			t.Errorf("local %v: %d sockets, want %d", tc.args, got, tc.want)
		}
	}
}

func TestLocalBadInput(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--port", "0"}, `invalid port "0"`},
		{[]string{"--port", "22x"}, `"22x"`},
		{[]string{"--port", "70000"}, `"70000"`},
		{[]string{"--port", ""}, "no ports"},
		{[]string{"--proto", "sctp"}, `invalid --proto "sctp"`},
		{[]string{"--proto", "icmp"}, `invalid --proto "icmp"`},
		{[]string{"--pid", "-1"}, "invalid --pid -1"},
		{[]string{"--pid", "x"}, "x"},
		{[]string{"--format", "xml"}, `invalid --format "xml"`},
		{[]string{"--bogus"}, "bogus"},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"--registry", "/nonexistent/registry.csv"}, "/nonexistent/registry.csv"},
	} {
		out, code, msg := runLocalCmd(t, tc.args...)
		if code != 2 || !strings.Contains(msg, tc.msg) || strings.Count(msg, "\n") != 1 || out != "" {
			t.Errorf("local %v: exit %d, message %q, output %q; want exit 2 and one line with %q", tc.args, code, msg, out, tc.msg)
		}
	}
}

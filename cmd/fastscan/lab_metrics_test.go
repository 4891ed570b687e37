package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fastscan/fastscan/citest"
	"github.com/fastscan/fastscan/lab"
	"github.com/fastscan/fastscan/lab/labtest"
)

// Addresses inside the lab's scanner namespace (its own loopback).
const (
	// Below 1024: only a listener opened before privileges are dropped gets it.
	labMetricsAddr    = "127.0.0.1:947"
	labPrometheusAddr = "127.0.0.1:9090"
)

// TestLabMetricsPrometheus scrapes a lab scan's --metrics with a real Prometheus
// server running in the scanner's namespace, sees the scan's progress while it
// runs, and reads the final values back through Prometheus' HTTP API: they equal
// the scan's own summary and the lab's ground truth. The metrics port is below
// 1024 and the scan runs as nobody by then: the listener is opened before the
// privileges are dropped. A --metrics address already
// in use (Prometheus' own) is a usage error before anything is sent.
func TestLabMetricsPrometheus(t *testing.T) {
	prom := citest.RequireTool(t, "prometheus")
	l := labtest.Start(t)
	api := startPrometheus(t, l, prom)

	// Prometheus' address is taken: exit 2, one line, no output, no scan.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	busy := l.Command(ctx, os.Args[0], "198.19.0.1", "-p", "80", "--metrics", labPrometheusAddr, "--format", "jsonl")
	busy.Env = append(os.Environ(), runMainEnv+"=1")
	var bout, berr bytes.Buffer
	busy.Stdout, busy.Stderr = &bout, &berr
	err := busy.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitUsage || bout.Len() != 0 ||
		strings.Count(strings.TrimSpace(berr.String()), "\n") != 0 || !strings.Contains(berr.String(), `"`+labPrometheusAddr+`"`) ||
		!strings.Contains(berr.String(), "in use") {
		t.Errorf("--metrics on a used address: %v, stdout %q, stderr %q; want exit %d and one line naming it", err, bout.String(), berr.String(), exitUsage)
	}

	// 4096 addresses x 4 ports at 1000/s: about 16 s of sending.
	first, last := netip.MustParseAddr("198.19.0.0"), netip.MustParseAddr("198.19.15.255")
	ports := []uint16{22, 80, 443, 8080}
	const rate = 1000
	args := []string{"198.19.0.0/20", "-p", "22,80,443,8080", "-r", strconv.Itoa(rate), "--wait", "1s",
		"--metrics", labMetricsAddr, "--metrics-linger", "10s", "--format", "jsonl"}
	cmd := l.Command(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	// While it runs, Prometheus sees probes sent and the scan not finished.
	var live float64
	var scanErr error
	running := true
	for running && live == 0 {
		select {
		case scanErr = <-exited:
			running = false
		case <-time.After(500 * time.Millisecond):
			sent, ok := api.query(t, `fastscan_probes_sent_total and on() fastscan_finished == 0`)
			if ok && sent > 0 {
				live = sent
				// Served on by the unprivileged user the scan became.
				if uid := procUID(t, cmd.Process.Pid); uid == 0 {
					t.Errorf("scan still runs as root while sending")
				}
			}
		}
	}
	if running {
		scanErr = <-exited
	}
	elapsed := time.Since(start)
	if scanErr != nil {
		t.Fatalf("fastscan %s: %v\nstderr:\n%s", strings.Join(args, " "), scanErr, stderr.String())
	}
	if live == 0 {
		t.Errorf("Prometheus never saw the scan running (it took %v)", elapsed)
	}
	out := scanOutput{stderr: stderr.String(), elapsed: elapsed}
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		var f finding
		if err := json.Unmarshal(sc.Bytes(), &f); err != nil {
			t.Fatalf("output line %q: %v", sc.Text(), err)
		}
		out.findings = append(out.findings, f)
	}
	compareWithTruth(t, l.Truth(), out, first, last, ports, false)
	truthOpen, truthClosed, _, _ := l.Truth().Count(first, last, ports)
	sent := out.summaryCount(t, "probes sent")
	if live >= float64(sent) {
		t.Errorf("seen while running: %v probes sent, the whole scan %d", live, sent)
	}

	// The final values, as Prometheus stored them (the last sample of each
	// series: once the server is gone its series are stale).
	deadline := time.Now().Add(10 * time.Second)
	for {
		if v, ok := api.query(t, `max_over_time(fastscan_finished[2m])`); ok && v == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus never scraped the final values (scan took %v)\nstderr:\n%s", elapsed, out.stderr)
		}
		time.Sleep(250 * time.Millisecond)
	}
	for _, c := range []struct {
		query string
		want  float64
	}{
		{`fastscan_probes_sent_total`, float64(sent)},
		{`fastscan_replies_total`, float64(out.summaryCount(t, "replies"))},
		{`fastscan_ports{state="open"}`, float64(truthOpen)},
		{`fastscan_ports{state="closed"}`, float64(truthClosed)},
		{`fastscan_ports{state="filtered"}`, 0},
		{`fastscan_ring_drops_total`, float64(out.summaryCount(t, "ring drops"))},
		{`fastscan_invalid_replies_total`, float64(out.summaryCount(t, "invalid replies"))},
		{`fastscan_rate_target`, rate},
		{`fastscan_progress_ratio`, 1},
	} {
		q := `last_over_time(` + c.query + `[2m])`
		got, ok := api.query(t, q)
		if !ok || got != c.want {
			t.Errorf("%s = %v (found %v), want %v", q, got, ok, c.want)
		}
	}
	if o := out.summaryCount(t, "open"); o != truthOpen {
		t.Errorf("summary open %d, truth %d", o, truthOpen)
	}
	t.Logf("scan %v, %d probes, %d open; Prometheus saw %v probes sent mid-scan", elapsed.Round(time.Millisecond), sent, truthOpen, live)
}

// startPrometheus runs a Prometheus server in the lab's scanner namespace on
// labPrometheusAddr, scraping labMetricsAddr every second, with its own
// configuration and data directory; it is stopped when the test ends, before
// the lab is torn down. It returns once the server answers.
func startPrometheus(t *testing.T, l *lab.Lab, prom string) *promAPI {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "prometheus.yml")
	yml := fmt.Sprintf("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"+
		"scrape_configs:\n  - job_name: fastscan\n    static_configs:\n      - targets: ['%s']\n", labMetricsAddr)
	if err := os.WriteFile(conf, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", l.ScannerNS(), prom,
		"--config.file="+conf, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+labPrometheusAddr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // not left behind by a killed test
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		logf.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logf.Name()); err == nil {
				t.Logf("prometheus log:\n%s", b)
			}
		}
	})
	api := &promAPI{c: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		// Connections are made inside the scanner namespace.
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var c net.Conn
			err := l.Do(l.ScannerNS(), func() error {
				var err error
				c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
				return err
			})
			return c, err
		},
	}}}
	t.Cleanup(api.c.CloseIdleConnections)
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := api.c.Get("http://" + labPrometheusAddr + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return api
			}
		}
		select {
		case <-done:
			t.Fatal("prometheus exited at start")
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready after 20 s: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// promAPI asks the lab's Prometheus server through its HTTP API.
type promAPI struct{ c *http.Client }

// query evaluates the PromQL expression q now; ok is false when the result is
// empty (not scraped yet). More than one series, or an error, fails the test.
func (a *promAPI) query(t *testing.T, q string) (v float64, ok bool) {
	t.Helper()
	resp, err := a.c.Get("http://" + labPrometheusAddr + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		t.Fatalf("query %s: %v", q, err)
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r.Status != "success" {
		t.Fatalf("query %s: %v %s %s", q, err, r.Status, r.Error)
	}
	switch len(r.Data.Result) {
	case 0:
		return 0, false
	case 1:
	default:
		t.Fatalf("query %s: %d series, want one", q, len(r.Data.Result))
	}
	str, _ := r.Data.Result[0].Value[1].(string)
	v, err = strconv.ParseFloat(str, 64)
	if err != nil {
		t.Fatalf("query %s: value %v: %v", q, r.Data.Result[0].Value[1], err)
	}
	return v, true
}

// procUID is the real user id of process pid (-1 if it is gone).
func procUID(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "Uid:" {
			uid, _ := strconv.Atoi(f[1])
			return uid
		}
	}
	t.Fatalf("/proc/%d/status has no Uid", pid)
	return -1
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/fastscan/fastscan/lab"
)

// extraHosts are the LAN hosts fastlab starts beside a lab's own: the real
// servers' host (lab.StartRealServers) and the SYN proxy host
// (lab.StartSynProxy). A nil member was not started; notes say why, one line
// each.
type extraHosts struct {
	rs    *lab.RealServers
	sp    *lab.SynProxy
	notes []string
}

// startExtraHosts starts the real servers (their files in dir) and the SYN
// proxy host in l. Missing packages of the real servers are a note, as is any
// failure of either host when strict is false; with strict (the demo) a
// failure other than missing packages is an error, after stopping what was
// started.
func startExtraHosts(ctx context.Context, l *lab.Lab, dir string, strict bool) (*extraHosts, error) {
	x := &extraHosts{}
	if err := lab.RealServersMissing(); err != nil {
		x.notes = append(x.notes, fmt.Sprintf("real servers (%s) not started: %v", lab.RealServersAddr, errors.Unwrap(err)))
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return x, fmt.Errorf("real servers: %w", err)
	} else if rs, err := l.StartRealServers(ctx, dir); err != nil {
		// rs is not nil: what was started, already stopped.
		if strict {
			return x, err
		}
		x.notes = append(x.notes, fmt.Sprintf("real servers (%s) not started: %s", lab.RealServersAddr, oneLine(err)))
	} else {
		x.rs = rs
	}
	if sp, err := l.StartSynProxy(ctx); err != nil {
		if strict {
			return x, errors.Join(err, x.stop())
		}
		x.notes = append(x.notes, fmt.Sprintf("SYN proxy host (%s) not started: %s", lab.SynProxyAddr, oneLine(err)))
	} else {
		x.sp = sp
	}
	return x, nil
}

// oneLine joins the lines of an error's message.
func oneLine(err error) string { return strings.Join(strings.Fields(err.Error()), " ") }

// stop stops whatever was started.
func (x *extraHosts) stop() error {
	var errs []error
	if x.sp != nil {
		errs = append(errs, x.sp.Stop())
	}
	if x.rs != nil {
		errs = append(errs, x.rs.Stop())
	}
	return errors.Join(errs...)
}

// printExtraHosts describes the extra hosts (and why one is missing).
func printExtraHosts(w io.Writer, scannerNS string, x *extraHosts, v installed) {
	var b strings.Builder
	fmt.Fprintf(&b, "\nextra LAN hosts (outside the ground truth above; for -sV):\n")
	for _, n := range x.notes {
		fmt.Fprintf(&b, "  %s\n", n)
	}
	if x.rs != nil {
		also := ""
		if x.rs.Addr6.IsValid() {
			also = ", also at " + x.rs.Addr6.String()
		}
		fmt.Fprintf(&b, "  %-15s real servers from Debian's packages%s (namespace %s, files in %s):\n", x.rs.Addr, also, x.rs.NS, x.rs.Dir)
		for _, s := range realServerPorts(v) {
			fmt.Fprintf(&b, "    %5d  %s\n", s.port, s.describe())
		}
		fmt.Fprintf(&b, "    %s  hostile servers: %s\n", hostileRange(), hostileList())
	}
	if x.sp != nil {
		fmt.Fprintf(&b, "  %-15s behind the kernel's nftables synproxy, also at %s (namespace %s): SYN-ACK on every TCP port;\n", x.sp.Addr, x.sp.Addr6, x.sp.NS)
		fmt.Fprintf(&b, "                  services only on %s (%s)\n", portList(lab.SynProxyPorts), synProxyServiceList())
	}
	if x.rs != nil || x.sp != nil {
		fmt.Fprintf(&b, "\nidentify their services (see the README's \"Service identification\"):\n")
	}
	if x.rs != nil {
		fmt.Fprintf(&b, "  sudo ip netns exec %s bin/fastscan %s -p 22,25,80,443,2222,6379,8080 -sV\n", scannerNS, x.rs.Addr)
	}
	if x.sp != nil {
		fmt.Fprintf(&b, "  sudo ip netns exec %s bin/fastscan %s -p 1-1024 -sV\n", scannerNS, x.sp.Addr)
		fmt.Fprintf(&b, "  sudo ip netns exec %s bin/fastscan %s -p 1-1024 -sV\n", scannerNS, x.sp.Addr6)
	}
	io.WriteString(w, b.String())
}

// realServer is what the real servers' host runs on one port, as -sV must
// name it: product and version from the installed package's own words.
type realServer struct {
	port             uint16
	service, product string
	version          string // "" when the service does not say it (SMTP)
	info             string // the version's comment (SSH's), "" if none
	tls              bool
}

// describe is the server in words, for the layout.
func (s realServer) describe() string {
	d := s.service + ": " + s.product
	if s.version != "" {
		d += " " + s.version
	}
	if s.info != "" {
		d += " (" + s.info + ")"
	}
	if s.tls {
		d += " (TLS, the lab's certificate " + lab.RealCertName + ")"
	}
	return d
}

// realServerPorts is the real servers' host's ground truth, in port order.
func realServerPorts(v installed) []realServer {
	return []realServer{
		{port: lab.PortSSH, service: "ssh", product: "OpenSSH", version: v.ssh, info: v.sshInfo},
		{port: lab.PortSMTP, service: "smtp", product: "OpenSMTPD"},
		{port: lab.PortHTTP, service: "http", product: "nginx", version: v.nginx},
		{port: lab.PortHTTPS, service: "http", product: "nginx", version: v.nginx, tls: true},
		{port: lab.PortSSHAlt, service: "ssh", product: "OpenSSH", version: v.ssh, info: v.sshInfo},
		{port: lab.PortRedis, service: "redis", product: "Redis key-value store", version: v.redis},
		{port: lab.PortHTTPAlt, service: "http", product: "nginx", version: v.nginx},
	}
}

// hostileRange is the hostile servers' ports, first-last.
func hostileRange() string {
	lo, hi := uint16(65535), uint16(0)
	for _, p := range lab.HostilePorts {
		lo, hi = min(lo, p), max(hi, p)
	}
	return fmt.Sprintf("%d-%d", lo, hi)
}

// hostileList names the hostile servers in port order.
func hostileList() string {
	names := make([]string, 0, len(lab.HostilePorts))
	for k, p := range lab.HostilePorts {
		names = append(names, fmt.Sprintf("%d %s", p, k))
	}
	slices.Sort(names) // the ports have as many digits
	return strings.Join(names, ", ")
}

// synProxyServiceList names SynProxyPorts' services.
func synProxyServiceList() string {
	s := make([]string, len(lab.SynProxyPorts))
	for i, p := range lab.SynProxyPorts {
		s[i] = lab.SynProxyServices[p]
	}
	return strings.Join(s, ", ")
}

// installed is what the installed packages of the real servers say of their
// versions ("" for one that could not be asked).
type installed struct {
	ssh, sshInfo, nginx, redis string
}

// installedVersions asks the installed programs: sshd -V (and dpkg-query for
// openssh-server's full version), nginx -v, redis-server --version.
func installedVersions() (installed, error) {
	var v installed
	var errs []error
	for _, q := range []struct {
		dst  *string
		re   string
		name string
		args []string
	}{
		{&v.ssh, `OpenSSH_([0-9][0-9.p]*)`, "/usr/sbin/sshd", []string{"-V"}},
		{&v.nginx, `nginx/([0-9][0-9.]*)`, "nginx", []string{"-v"}},
		{&v.redis, `v=([0-9][0-9.]*)`, "redis-server", []string{"--version"}},
	} {
		out, err := exec.Command(q.name, q.args...).CombinedOutput()
		m := regexp.MustCompile(q.re).FindStringSubmatch(string(out))
		if m == nil {
			errs = append(errs, fmt.Errorf("%s %s: %v, output %q lacks %s", q.name, strings.Join(q.args, " "), err, out, q.re))
			continue
		}
		*q.dst = m[1]
	}
	// sshd -V says "OpenSSH_9.2", its identification string "OpenSSH_9.2p1
	// Debian-2+deb12u10": the package's version has the rest.
	out, err := exec.Command("dpkg-query", "-W", "-f", "${Version}", "openssh-server").Output()
	pkg := strings.TrimSpace(string(out))
	if _, after, ok := strings.Cut(pkg, ":"); ok {
		pkg = after // the epoch
	}
	upstream, revision, _ := strings.Cut(pkg, "-")
	switch {
	case err != nil || upstream == "":
		errs = append(errs, fmt.Errorf("dpkg-query openssh-server: %v, output %q", err, out))
	case v.ssh != "" && !strings.HasPrefix(upstream, v.ssh):
		errs = append(errs, fmt.Errorf("dpkg says openssh-server %s, sshd -V says %s", pkg, v.ssh))
	default:
		v.ssh = upstream
		if revision != "" {
			v.sshInfo = "Debian-" + revision
		}
	}
	return v, errors.Join(errs...)
}

// stateRoot holds one directory per lab that `fastlab up` keeps running:
// its pid (upPIDFile) and the real servers' files, so that `fastlab down`
// finds and stops them.
const stateRoot = "/run/fastlab"

// upPIDFile is the name of the file, in a lab's state directory, holding the
// pid of the `fastlab up` that keeps the lab.
const upPIDFile = "up.pid"

// upStopWait bounds how long `fastlab down` waits for a `fastlab up` it sent
// SIGTERM to finish its teardown.
const upStopWait = 45 * time.Second

// stateIDs lists the lab ids with a state directory under root.
func stateIDs(root string) ([]string, error) {
	entries, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range entries {
		if e.IsDir() && lab.IsLabNamespace(e.Name()+"-s") {
			ids = append(ids, e.Name())
		}
	}
	return ids, nil
}

// stopUp ends the `fastlab up` that keeps lab id running, if one does: it
// sends it SIGTERM and waits for it to tear its lab down (at most wait). It
// reports the pid it stopped (0 if none ran).
func stopUp(root, id string, wait time.Duration) (int, error) {
	b, err := os.ReadFile(filepath.Join(root, id, upPIDFile))
	if err != nil {
		return 0, nil // no up of this lab (or it ended)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 || pid == os.Getpid() {
		return 0, nil
	}
	// The pid may have been reused: only a fastlab (or its test binary).
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil || !strings.Contains(string(cmdline), "fastlab") {
		return 0, nil
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return 0, nil
	}
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		if syscall.Kill(pid, 0) != nil {
			return pid, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return pid, fmt.Errorf("fastlab up (pid %d) of lab %s still runs %v after SIGTERM", pid, id, wait)
}

package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fastscan/fastscan/citest"
	"github.com/fastscan/fastscan/lab"
	"github.com/fastscan/fastscan/lab/labtest"
	"github.com/fastscan/fastscan/output/outputtest"
	"github.com/fastscan/fastscan/registry"
)

// svFinding is one JSON line of a -sV scan (schema version 2).
type svFinding struct {
	IP            string `json:"ip"`
	Port          uint16 `json:"port"`
	Proto         string `json:"proto"`
	State         string `json:"state"`
	Reason        string `json:"reason"`
	Service       string `json:"service"`
	ServiceMethod string `json:"service_method"`
	Product       string `json:"product"`
	Version       string `json:"version"`
	Info          string `json:"info"`
	Banner        string `json:"banner"`
	StartTLS      bool   `json:"starttls"`
	ServiceError  string `json:"service_error"`
	Timestamp     string `json:"timestamp"`
	TLS           *struct {
		Version   string    `json:"version"`
		ALPN      string    `json:"alpn"`
		SubjectCN string    `json:"subject_cn"`
		SANs      []string  `json:"sans"`
		Issuer    string    `json:"issuer"`
		NotBefore time.Time `json:"not_before"`
		NotAfter  time.Time `json:"not_after"`
		SHA256    string    `json:"sha256"`
	} `json:"tls"`
}

// labCert reads the certificate the lab generated for nginx, from its file.
func labCert(t *testing.T, rs *lab.RealServers) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(rs.Dir, "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "CERTIFICATE" {
		t.Fatalf("%s/cert.pem holds no certificate", rs.Dir)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// svPorts are the ports a -sV lab test scans on the real servers' host: every
// real server, every hostile server, and ports nothing listens on.
func svPorts() (ports []uint16, closed []uint16) {
	ports = []uint16{lab.PortSSH, lab.PortSSHAlt, lab.PortHTTP, lab.PortHTTPAlt, lab.PortHTTPS, lab.PortRedis, lab.PortSMTP}
	for _, p := range lab.HostilePorts {
		ports = append(ports, p)
	}
	closed = []uint16{21, 23, 3306, 8443}
	ports = append(ports, closed...)
	slices.Sort(ports)
	return ports, closed
}

func portList(ports []uint16) string {
	s := make([]string, len(ports))
	for i, p := range ports {
		s[i] = strconv.Itoa(int(p))
	}
	return strings.Join(s, ",")
}

// parseSVLines parses and validates (JSON Schema) the JSON lines of a -sV scan.
func parseSVLines(t *testing.T, stdout []byte) []svFinding {
	t.Helper()
	outputtest.NewValidator(t).ValidateLines(t, stdout)
	var out []svFinding
	sc := bufio.NewScanner(bytes.NewReader(stdout))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var f svFinding
		if err := json.Unmarshal(sc.Bytes(), &f); err != nil {
			t.Fatalf("output line %q: %v", sc.Text(), err)
		}
		out = append(out, f)
	}
	return out
}

// runSV runs fastscan in the lab's scanner namespace with args and JSON lines
// on standard output (as nobody, without any capability, through setpriv,
// when nobody is set); it returns them parsed, standard error, the wall time
// and the exit status.
func runSV(t *testing.T, l *lab.Lab, nobody bool, args ...string) ([]svFinding, string, time.Duration, int) {
	t.Helper()
	var wrap []string
	if nobody {
		wrap = append([]string{citest.RequireTool(t, "setpriv")}, nobodyArgs...)
	}
	return runSVWrapped(t, l, wrap, args...)
}

// runSVWrapped is runSV with fastscan started by the command wrap (such as
// setpriv or taskset and their arguments; none if empty).
func runSVWrapped(t *testing.T, l *lab.Lab, wrap []string, args ...string) ([]svFinding, string, time.Duration, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	name, cmdArgs := os.Args[0], append(slices.Clone(args), "--format", "jsonl")
	if len(wrap) > 0 {
		name, cmdArgs = wrap[0], append(append(slices.Clone(wrap[1:]), os.Args[0]), cmdArgs...)
	}
	cmd := l.Command(ctx, name, cmdArgs...)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	cmd.Run()
	elapsed := time.Since(start)
	return parseSVLines(t, []byte(stdout.String())), stderr.String(), elapsed, cmd.ProcessState.ExitCode()
}

// svSummary reads the summary's service identification line: identified, not
// backed by a service, SYN-ACKs.
var svSummary = regexp.MustCompile(`service identification: (\d+) identified, (\d+) of (\d+) SYN-ACKs not backed by a service`)

// TestLabServices scans the lab's real servers with -sV (a SYN scan, and -sT
// -sV), as root (so the scan drops to nobody before it sends: the
// identification's connections are made without privileges), and compares
// what it reports with what the installed packages say of themselves and with
// the certificate the lab generated; the hostile servers cost at most their
// budget; no closed port is reported open; the summary counts them.
func TestLabServices(t *testing.T) {
	l, rs := labtest.StartRealServers(t)
	truth := realServersTruth(t, rs)
	ports, closed := svPorts()
	const budget = 3 * time.Second
	// syn: as root, which drops to nobody before the first probe (and the
	// first connection); connect: -sT -sV; nobody: started without any
	// privilege, falling back to a connect scan.
	for _, mode := range []string{"syn", "connect", "nobody"} {
		t.Run(mode, func(t *testing.T) {
			args := []string{rs.Addr.String(), "-p", portList(ports), "-sV", "--show", "all", "--wait", "1s", "-r", "2000",
				"--sv-timeout", budget.String(), "--sv-per-host", "16", "--seed", "7"}
			if mode == "connect" {
				args = append(args, "-sT")
			}
			xmlFile := ""
			if mode == "syn" {
				xmlFile = filepath.Join(t.TempDir(), "sv.xml")
				args = append(args, "-oX", xmlFile)
			}
			found, stderr, elapsed, code := runSV(t, l, mode == "nobody", args...)
			if mode == "nobody" && !strings.Contains(stderr, "running a TCP connect scan (-sT) instead") {
				t.Errorf("nobody's scan did not fall back to a connect scan:\n%s", stderr)
			}
			t.Logf("%s scan: %v, exit %d\n%s", mode, elapsed.Round(time.Millisecond), code, stderr)
			if code != exitOK {
				t.Fatalf("exit %d", code)
			}
			byAddr := svByAddr(t, found, rs.Addr)
			byPort := byAddr[rs.Addr.String()]
			if len(byPort) != len(ports) {
				t.Errorf("%d ports written of %d scanned (--show all)", len(byPort), len(ports))
			}
			if xmlFile != "" {
				checkServicesXML(t, xmlFile, byAddr)
			}
			truth.check(t, rs.Addr, byPort, closed, true)
			// Every port's identification ran at once, each within its budget:
			// the scan takes its cool-down (--wait) and one budget, plus slack.
			if limit := time.Second + budget + 4*time.Second; elapsed > limit {
				t.Errorf("the scan took %v: more than its cool-down and one %v budget (%v)", elapsed, budget, limit)
			}
			checkSVSummary(t, stderr, found)
		})
	}
}

// svWant is what a real server is identified as.
type svWant struct {
	service, product, version string
	tls, startTLS             bool
}

// realTruth is what the installed packages and the lab's certificate say
// of the real servers.
type realTruth struct {
	real   map[uint16]svWant
	sshRev string // the openssh-server package's Debian revision
	cert   *x509.Certificate
}

// realServersTruth asks the installed packages what they are, and reads the
// certificate the lab generated.
func realServersTruth(t *testing.T, rs *lab.RealServers) realTruth {
	t.Helper()
	sshUp, sshRev := labtest.DebianVersion(t, "openssh-server")
	sshdSays := labtest.SelfReport(t, `OpenSSH_([0-9][0-9.p]*)`, "/usr/sbin/sshd", "-V")
	nginxSays := labtest.SelfReport(t, `nginx/([0-9][0-9.]*)`, "nginx", "-v")
	redisSays := labtest.SelfReport(t, `v=([0-9][0-9.]*)`, "redis-server", "--version")
	t.Logf("installed: openssh-server %s-%s (sshd -V: %s), nginx %s, redis %s", sshUp, sshRev, sshdSays, nginxSays, redisSays)
	if !strings.HasPrefix(sshUp, sshdSays) {
		t.Fatalf("dpkg says openssh-server %s, sshd -V says %s", sshUp, sshdSays)
	}
	if name := registry.Default().Name(lab.PortSSHAlt, registry.TCP); name == "ssh" {
		t.Fatalf("the registry names %d ssh: the test would prove nothing", lab.PortSSHAlt)
	}
	return realTruth{
		real: map[uint16]svWant{
			lab.PortSSH:     {"ssh", "OpenSSH", sshUp, false, false},
			lab.PortSSHAlt:  {"ssh", "OpenSSH", sshUp, false, false},
			lab.PortHTTP:    {"http", "nginx", nginxSays, false, false},
			lab.PortHTTPAlt: {"http", "nginx", nginxSays, false, false},
			lab.PortHTTPS:   {"http", "nginx", nginxSays, true, false},
			lab.PortRedis:   {"redis", "Redis key-value store", redisSays, false, false},
			lab.PortSMTP:    {"smtp", "OpenSMTPD", "", false, true},
		},
		sshRev: sshRev,
		cert:   labCert(t, rs),
	}
}

// svByAddr splits a -sV scan's findings by address (each written once, TCP,
// at one of addrs, in RFC 5952's form).
func svByAddr(t *testing.T, found []svFinding, addrs ...netip.Addr) map[string]map[uint16]svFinding {
	t.Helper()
	byAddr := map[string]map[uint16]svFinding{}
	for _, a := range addrs {
		byAddr[a.String()] = map[uint16]svFinding{}
	}
	for _, f := range found {
		byPort, ok := byAddr[f.IP]
		if !ok || f.Proto != "tcp" {
			t.Errorf("a line for %s %s:%d", f.Proto, f.IP, f.Port)
			continue
		}
		if _, dup := byPort[f.Port]; dup {
			t.Errorf("%s port %d written twice", f.IP, f.Port)
		}
		byPort[f.Port] = f
	}
	return byAddr
}

// check compares one address's findings with the truth: every real server
// open and identified (probed) with the installed package's product and
// version, the TLS fields the lab's certificate's, the closed ports closed;
// with hostile, the hostile servers as their misbehaviour allows.
func (tr realTruth) check(t *testing.T, addr netip.Addr, byPort map[uint16]svFinding, closed []uint16, hostile bool) {
	t.Helper()
	for _, port := range slices.Sorted(maps.Keys(tr.real)) {
		w, f := tr.real[port], byPort[port]
		t.Logf("%s %5d %s %s: %s (%s) %q %q %q starttls=%v tls=%v banner %.50q err %q", addr, port, f.State, f.Reason, f.Service, f.ServiceMethod,
			f.Product, f.Version, f.Info, f.StartTLS, f.TLS != nil, f.Banner, f.ServiceError)
		if f.State != "open" || f.Reason != "syn-ack" || f.ServiceMethod != "probed" || f.Service != w.service || f.Product != w.product ||
			f.Version != w.version || (f.TLS != nil) != w.tls || f.StartTLS != w.startTLS || f.Banner == "" {
			t.Errorf("%s port %d: %+v; want open, syn-ack, probed %+v", addr, port, f, w)
		}
	}
	if _, ok := tr.real[lab.PortSSH]; ok && byPort[lab.PortSSH].Info != "Debian-"+tr.sshRev {
		f := byPort[lab.PortSSH]
		t.Errorf("%s ssh info %q; want Debian-%s (the package's revision)", addr, f.Info, tr.sshRev)
	}
	if tl := byPort[lab.PortHTTPS].TLS; tl != nil {
		cert := tr.cert
		sum := sha256.Sum256(cert.Raw)
		wantSANs := slices.Clone(cert.DNSNames)
		for _, ip := range cert.IPAddresses {
			wantSANs = append(wantSANs, ip.String())
		}
		if tl.SubjectCN != cert.Subject.CommonName || tl.Issuer != cert.Issuer.String() || !tl.NotAfter.Equal(cert.NotAfter) ||
			!tl.NotBefore.Equal(cert.NotBefore) || tl.SHA256 != hex.EncodeToString(sum[:]) || !slices.Equal(tl.SANs, wantSANs) {
			t.Errorf("%s 443 TLS %+v; the lab's certificate: CN %q issuer %q SANs %v not-before %v not-after %v sha256 %x",
				addr, *tl, cert.Subject.CommonName, cert.Issuer, wantSANs, cert.NotBefore, cert.NotAfter, sum)
		}
		if tl.Version == "" || tl.ALPN != "h2" {
			t.Errorf("%s 443 TLS version %q ALPN %q; want a version and h2", addr, tl.Version, tl.ALPN)
		}
	}
	for _, port := range closed {
		if f := byPort[port]; f.State != "closed" || f.Reason != "reset" || f.Product != "" || f.ServiceError != "" || f.ServiceMethod != "table" {
			t.Errorf("%s closed port %d: %+v", addr, port, f)
		}
	}
	if !hostile {
		return
	}
	// The hostile servers: those that say something stay open
	// (unidentified), those that never say a byte are no-service.
	for kind, port := range lab.HostilePorts {
		f := byPort[port]
		t.Logf("%s %-8s %d: %s %s %s (%s) err %q banner %.40q", addr, kind, port, f.State, f.Reason, f.Service, f.ServiceMethod, f.ServiceError, f.Banner)
		switch kind {
		case lab.HostileReset, lab.HostileSilent:
			// The connect scan sees the reset server's handshake
			// complete even when the reset came first (ECONNRESET):
			// a SYN-ACK, then no service.
			if f.State != "filtered" || f.Reason != "no-service" || f.ServiceError == "" || f.Banner != "" {
				t.Errorf("%s %s: %+v; want filtered, no-service, with the error", addr, kind, f)
			}
		default:
			if f.State != "open" || f.Reason != "syn-ack" || f.Banner == "" {
				t.Errorf("%s %s: %+v; want open (it sent bytes)", addr, kind, f)
			}
		}
	}
}

// checkSVSummary checks the summary's service identification line and open
// count against the findings.
func checkSVSummary(t *testing.T, stderr string, found []svFinding) {
	t.Helper()
	m := svSummary.FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no service identification line in the summary")
	}
	identified, noService, open := 0, 0, 0
	for _, f := range found {
		if f.ServiceMethod == "probed" {
			identified++
		}
		switch f.Reason {
		case "no-service":
			noService++
			open++
		case "syn-ack":
			open++
		}
	}
	if m[1] != strconv.Itoa(identified) || m[2] != strconv.Itoa(noService) || m[3] != strconv.Itoa(open) {
		t.Errorf("summary %q; want %d identified, %d of %d", m[0], identified, noService, open)
	}
	if !strings.Contains(stderr, "open "+strconv.Itoa(open-noService)+",") {
		t.Errorf("the summary does not count %d open ports (the no-service ones filtered)", open-noService)
	}
}

// TestLabServicesInterrupted stops a -sV scan with SIGINT while the silent
// and the trickling hostile servers hold their identification (a budget of a
// minute): exit 130, and no open port is lost: every port a server listens on
// is written, once, those not identified with the interruption as their
// service error; the JSON lines are valid.
func TestLabServicesInterrupted(t *testing.T) {
	l, rs := labtest.StartRealServers(t)
	ports, closed := svPorts()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := l.Command(ctx, os.Args[0], rs.Addr.String(), "-p", portList(ports), "-sV", "--format", "jsonl", "--wait", "1s",
		"--sv-timeout", "1m", "--sv-per-host", "16", "--show", "all")
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	var stdout, stderr lockedBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Once sshd's line is written the identification is under way; the
	// silent server holds its port for the minute.
	deadline := time.Now().Add(45 * time.Second)
	for !bytes.Contains([]byte(stdout.String()), []byte(`"port":22,`)) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("no line for port 22 after 45 s:\n%s\n%s", []byte(stdout.String()), stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	signalled := time.Now()
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	t.Logf("stopped %v after SIGINT\n%s", time.Since(signalled).Round(time.Millisecond), stderr.String())
	if code, want := cmd.ProcessState.ExitCode(), 128+int(syscall.SIGINT); code != want {
		t.Fatalf("exit %d (%v), want %d", code, err, want)
	}
	if d := time.Since(signalled); d > 5*time.Second {
		t.Errorf("the scan took %v to stop after SIGINT", d)
	}
	found := parseSVLines(t, []byte(stdout.String()))
	byPort := map[uint16]svFinding{}
	for _, f := range found {
		if _, dup := byPort[f.Port]; dup {
			t.Errorf("port %d written twice", f.Port)
		}
		byPort[f.Port] = f
	}
	for _, port := range ports {
		f, ok := byPort[port]
		switch {
		case !ok:
			t.Errorf("port %d lost", port)
		case slices.Contains(closed, port):
			if f.State != "closed" {
				t.Errorf("closed port %d: %+v", port, f)
			}
		case port == lab.HostilePorts[lab.HostileReset]:
			if f.State != "filtered" || f.Reason != "no-service" {
				t.Errorf("reset server %d: %+v; want no-service", port, f)
			}
		case port == lab.HostilePorts[lab.HostileSilent]:
			if f.State != "open" || f.Reason != "syn-ack" || !strings.Contains(f.ServiceError, "interrupted") {
				t.Errorf("silent server %d: %+v; want open, its identification interrupted", port, f)
			}
		default:
			if f.State != "open" {
				t.Errorf("port %d: %+v; want open", port, f)
			}
		}
	}
	if !strings.Contains(stderr.String(), "not finished (interrupted)") {
		t.Errorf("the summary does not count the identifications cut short")
	}
}

// checkServicesXML checks the nmap XML of a -sV scan: valid (nmap.dtd), and
// each port's state, reason and <service> the same as its JSON line's, with
// method probed conf 10 for the ports identified, tunnel ssl for TLS.
func checkServicesXML(t *testing.T, name string, byAddr map[string]map[uint16]svFinding) {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	outputtest.ValidateNmapXML(t, data)
	run := outputtest.ParseNmapXML(t, data)
	// A host whose ports were written across flushes (identified later) has
	// more than one host element: merged by address, as readers do.
	n, want := 0, 0
	for _, byPort := range byAddr {
		want += len(byPort)
	}
	for _, h := range run.Hosts {
		byPort, ok := byAddr[h.Addr.Addr]
		if !ok {
			t.Errorf("XML host %s (%s)", h.Addr.Addr, h.Addr.AddrType)
			continue
		}
		if wantType := map[bool]string{false: "ipv4", true: "ipv6"}[strings.Contains(h.Addr.Addr, ":")]; h.Addr.AddrType != wantType {
			t.Errorf("XML host %s addrtype %q, want %q", h.Addr.Addr, h.Addr.AddrType, wantType)
		}
		for _, p := range h.Ports {
			checkServiceXMLPort(t, h.Addr.Addr, p, byPort)
			n++
		}
	}
	if n != want {
		t.Errorf("XML holds %d of the %d ports", n, want)
	}
}

// checkServiceXMLPort compares one XML port with its JSON line.
func checkServiceXMLPort(t *testing.T, addr string, p outputtest.NmapPort, byPort map[uint16]svFinding) {
	t.Helper()
	f, ok := byPort[p.ID]
	if !ok {
		t.Errorf("XML %s port %d has no JSON line", addr, p.ID)
		return
	}
	sv := p.Service
	if p.State.State != f.State || p.State.Reason != f.Reason || sv.Name != f.Service || sv.Method != f.ServiceMethod ||
		sv.Product != f.Product || sv.Version != f.Version {
		t.Errorf("XML %s port %d: %+v; JSON line %+v", addr, p.ID, p, f)
	}
	if f.ServiceMethod == "probed" && sv.Conf != "10" {
		t.Errorf("XML %s port %d: conf %q for a probed service", addr, p.ID, sv.Conf)
	}
	if (f.TLS != nil) != (sv.Tunnel == "ssl") {
		t.Errorf("XML %s port %d: tunnel %q, JSON tls %v", addr, p.ID, sv.Tunnel, f.TLS != nil)
	}
}

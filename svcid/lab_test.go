package svcid_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fastscan/fastscan/lab"
	"github.com/fastscan/fastscan/lab/labtest"
	"github.com/fastscan/fastscan/svcid"
)

// TestLabRealServers identifies Debian's real servers in the lab and checks
// the products and versions against what the installed packages say of
// themselves, and the TLS fields against the certificate the lab made.
func TestLabRealServers(t *testing.T) {
	l, rs := labtest.StartRealServers(t)
	id, err := svcid.New(svcid.Config{Dial: l.DialContext, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}

	sshUp, sshRev := labtest.DebianVersion(t, "openssh-server")
	sshdSays := labtest.SelfReport(t, `OpenSSH_([0-9][0-9.p]*)`, "/usr/sbin/sshd", "-V")
	nginxSays := labtest.SelfReport(t, `nginx/([0-9][0-9.]*)`, "nginx", "-v")
	redisSays := labtest.SelfReport(t, `v=([0-9][0-9.]*)`, "redis-server", "--version")
	t.Logf("installed: openssh-server %s-%s (sshd -V: %s), nginx %s, redis %s", sshUp, sshRev, sshdSays, nginxSays, redisSays)
	if !strings.HasPrefix(sshUp, sshdSays) {
		t.Fatalf("dpkg says openssh-server %s, sshd -V says %s", sshUp, sshdSays)
	}

	type want struct {
		service, product, version string
		tls, startTLS             bool
	}
	cases := map[uint16]want{
		lab.PortSSH:     {"ssh", "OpenSSH", sshUp, false, false},
		lab.PortSSHAlt:  {"ssh", "OpenSSH", sshUp, false, false},
		lab.PortHTTP:    {"http", "nginx", nginxSays, false, false},
		lab.PortHTTPAlt: {"http", "nginx", nginxSays, false, false},
		lab.PortHTTPS:   {"http", "nginx", nginxSays, true, false},
		lab.PortRedis:   {"redis", "Redis key-value store", redisSays, false, false},
		lab.PortSMTP:    {"smtp", "OpenSMTPD", "", false, true},
	}
	ports := slices.Sorted(func(yield func(uint16) bool) {
		for p := range cases {
			if !yield(p) {
				return
			}
		}
	})
	// All at once through a pool, as a scan would hand them over.
	p := id.NewPool(context.Background())
	for _, port := range ports {
		p.Submit(netip.AddrPortFrom(rs.Addr, port))
	}
	p.Close()
	got := map[uint16]svcid.Result{}
	for r := range p.Results() {
		got[r.Addr.Port()] = r
	}
	for _, port := range ports {
		w, r := cases[port], got[port]
		t.Logf("%d: %s (%s) %q %q %q starttls=%v tls=%v banner %.60q err %v, %v, %d bytes, %d conns",
			port, r.Service, r.Method, r.Product, r.Version, r.Info, r.StartTLS, r.TLS != nil, r.Banner, r.Err, r.Elapsed.Round(time.Millisecond), r.BytesRead, r.Connections)
		if r.Method != svcid.MethodProbed || r.Service != w.service || r.Product != w.product || r.Version != w.version ||
			(r.TLS != nil) != w.tls || r.StartTLS != w.startTLS {
			t.Errorf("port %d: got %s (%s) %q %q tls=%v starttls=%v; want %+v", port, r.Service, r.Method, r.Product, r.Version, r.TLS != nil, r.StartTLS, w)
		}
	}
	// OpenSSH's comment is Debian's package revision.
	if r := got[lab.PortSSH]; r.Info != "Debian-"+sshRev {
		t.Errorf("ssh info %q; want Debian-%s", r.Info, sshRev)
	}
	// 2222 is not ssh by the port table: named by what answered.
	if name := id.Config().Table(lab.PortSSHAlt); name == "ssh" {
		t.Errorf("the registry names %d ssh: the test proves nothing", lab.PortSSHAlt)
	}
	for _, port := range []uint16{lab.PortHTTP, lab.PortHTTPAlt, lab.PortHTTPS} {
		if title := got[port].Fields["title"]; title != lab.RealPageTitle {
			t.Errorf("port %d: title %q; want %q", port, title, lab.RealPageTitle)
		}
	}
	if tlsInfo := got[lab.PortHTTPS].TLS; tlsInfo != nil {
		c := rs.Cert
		sum := sha256.Sum256(c.Raw)
		wantSANs := slices.Clone(c.DNSNames)
		for _, ip := range c.IPAddresses {
			wantSANs = append(wantSANs, ip.String())
		}
		if tlsInfo.SubjectCN != c.Subject.CommonName || tlsInfo.Issuer != c.Issuer.String() || !tlsInfo.NotAfter.Equal(c.NotAfter) ||
			!tlsInfo.NotBefore.Equal(c.NotBefore) || tlsInfo.SHA256 != hex.EncodeToString(sum[:]) || !slices.Equal(tlsInfo.SANs, wantSANs) {
			t.Errorf("TLS %+v; the lab's certificate: CN %q issuer %q SANs %v not-after %v sha256 %x", *tlsInfo, c.Subject.CommonName, c.Issuer, wantSANs, c.NotAfter, sum)
		}
		if tlsInfo.ALPN != "h2" || tlsInfo.Version == "" || tlsInfo.RecordVersion == "" {
			t.Errorf("TLS version %q record %q ALPN %q; want h2 (nginx listens with http2)", tlsInfo.Version, tlsInfo.RecordVersion, tlsInfo.ALPN)
		}
	}
}

// TestLabHostileServers: each of the lab's hostile servers costs at most
// the port's time and byte budget, and reading from them little memory.
func TestLabHostileServers(t *testing.T) {
	l, rs := labtest.StartRealServers(t)
	const (
		timeout  = 3 * time.Second
		maxBytes = 32 << 10
	)
	id, err := svcid.New(svcid.Config{Dial: l.DialContext, Timeout: timeout, MaxBytes: maxBytes, GreetingWait: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// Side by side: the hostile ports and a real one, all at once.
	p := id.NewPool(context.Background())
	for _, port := range lab.HostilePorts {
		p.Submit(netip.AddrPortFrom(rs.Addr, port))
	}
	start := time.Now()
	p.Submit(netip.AddrPortFrom(rs.Addr, lab.PortSSH))
	p.Close()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	n := 0
	for r := range p.Results() {
		n++
		kind := ""
		for k, port := range lab.HostilePorts {
			if port == r.Addr.Port() {
				kind = string(k)
			}
		}
		t.Logf("%-8s %5d: %v, %d bytes, %d conns, %s (%s), err %v", kind, r.Addr.Port(), r.Elapsed.Round(time.Millisecond), r.BytesRead, r.Connections, r.Service, r.Method, r.Err)
		if r.Elapsed > timeout+time.Second || r.BytesRead > maxBytes {
			t.Errorf("%s: %v and %d bytes; the budget is %v and %d bytes", kind, r.Elapsed, r.BytesRead, timeout, maxBytes)
		}
		switch lab.HostileServer(kind) {
		case lab.HostileEndless:
			if !errors.Is(r.Err, svcid.ErrByteBudget) {
				t.Errorf("endless: err %v; want the byte budget", r.Err)
			}
		case lab.HostileTrickle, lab.HostileSilent:
			if !errors.Is(r.Err, svcid.ErrTimeBudget) {
				t.Errorf("%s: err %v; want the time budget", kind, r.Err)
			}
		case lab.HostileReset, lab.HostileGarbage:
			if r.Method != svcid.MethodTable {
				t.Errorf("%s identified as %s", kind, r.Service)
			}
		case "":
			if r.Service != "ssh" || r.Elapsed > timeout/2 {
				t.Errorf("the real sshd beside the hostile servers: %s in %v", r.Service, r.Elapsed)
			}
		}
	}
	runtime.ReadMemStats(&ms1)
	if n != len(lab.HostilePorts)+1 {
		t.Errorf("%d results", n)
	}
	if total := time.Since(start); total > timeout+2*time.Second {
		t.Errorf("the pool took %v for ports with a %v budget each, run concurrently", total, timeout)
	}
	if alloc := ms1.TotalAlloc - ms0.TotalAlloc; alloc > 64*maxBytes {
		t.Errorf("allocated %d bytes for %d ports of %d-byte budgets", alloc, n, maxBytes)
	}
}

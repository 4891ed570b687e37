package lab_test

import (
	"bufio"
	"context"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/fastscan/fastscan/citest"
	"github.com/fastscan/fastscan/lab"
	"github.com/fastscan/fastscan/lab/labtest"
)

// The delay line holds each frame its delay in each direction (a TCP
// handshake takes a round trip: twice the delay), data crosses it intact
// (sshd's greeting, nginx's page over IPv4 and IPv6), and restoring the link
// brings the round trip back.
func TestRealServersImpairDelay(t *testing.T) {
	citest.RequireRoot(t)
	for _, tool := range []string{"sshd", "nginx", "redis-server", "smtpd", "ssh-keygen", "nft", "tc"} {
		citest.RequireTool(t, tool)
	}
	l := labtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rs, err := l.StartRealServers(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Stop()
	// connect returns the fastest of three handshakes with ap.
	connect := func(ap netip.AddrPort) time.Duration {
		best := time.Hour
		for range 3 {
			start := time.Now()
			c, err := l.DialContext(ctx, "tcp", ap.String())
			if err != nil {
				t.Fatalf("connect %v: %v", ap, err)
			}
			best = min(best, time.Since(start))
			c.Close()
		}
		return best
	}
	ssh := netip.AddrPortFrom(rs.Addr, lab.PortSSH)
	plain := connect(ssh)
	const delay = 100 * time.Millisecond
	restore, err := rs.Impair(ctx, lab.Impairment{Delay: delay})
	if err != nil {
		t.Fatal(err)
	}
	defer restore(context.Background())
	delayed := connect(ssh)
	t.Logf("handshake %v plain, %v with %v each way", plain, delayed, delay)
	if delayed < 2*delay || delayed > 2*delay+150*time.Millisecond {
		t.Errorf("handshake %v through a %v delay each way; want about %v", delayed, delay, 2*delay)
	}
	for _, a := range []netip.Addr{rs.Addr, rs.Addr6} {
		c, err := l.DialContext(ctx, "tcp", netip.AddrPortFrom(a, lab.PortSSH).String())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if !strings.HasPrefix(line, "SSH-2.0-OpenSSH_") {
			t.Errorf("%v: sshd's greeting through the delay line: %q, %v", a, line, err)
		}
		c, err = l.DialContext(ctx, "tcp", netip.AddrPortFrom(a, lab.PortHTTP).String())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "GET / HTTP/1.0\r\n\r\n")
		page, err := io.ReadAll(c)
		c.Close()
		if !strings.Contains(string(page), lab.RealPageTitle) {
			t.Errorf("%v: nginx's page through the delay line: %q, %v", a, page, err)
		}
	}
	if err := restore(ctx); err != nil {
		t.Fatal(err)
	}
	if again := connect(ssh); again > plain+50*time.Millisecond {
		t.Errorf("handshake %v after the delay line was removed (%v before)", again, plain)
	}
}

package lab_test

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fastscan/fastscan/lab"
	"github.com/fastscan/fastscan/lab/labtest"
	"github.com/fastscan/fastscan/netns"
)

// TestSynProxy: through the kernel's SYN proxy, on both of the host's
// addresses (IPv4 and IPv6), a connection to a backed port reaches its server
// (its greeting arrives), one to any other port is set up by the proxy and then
// reset (ECONNRESET, where a host without the proxy refuses: ECONNREFUSED);
// Stop leaves no namespace behind.
func TestSynProxy(t *testing.T) {
	l := labtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sp, err := l.StartSynProxy(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Stop()
	if sp.Addr != lab.SynProxyAddr || sp.Addr6 != lab.SynProxyAddr6 {
		t.Errorf("addresses %v and %v, want %v and %v", sp.Addr, sp.Addr6, lab.SynProxyAddr, lab.SynProxyAddr6)
	}
	plain := l.Truth().Hosts[0]
	for _, fam := range []struct {
		name        string
		addr, plain netip.Addr
	}{{"ipv4", sp.Addr, plain.Addr}, {"ipv6", sp.Addr6, plain.Addr6}} {
		t.Run(fam.name, func(t *testing.T) { checkSynProxyAddr(ctx, t, l, fam.addr, fam.plain) })
	}
	if err := sp.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(netns.Dir, sp.NS)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("namespace %s left after Stop (%v)", sp.NS, err)
	}
	if err := sp.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if !strings.HasPrefix(sp.NS, l.ID()+"-h") {
		t.Errorf("namespace %s is not the lab's", sp.NS)
	}
}

// checkSynProxyAddr checks the SYN proxy host at addr: each backed port's
// server greets a connection, every other port tried is reset by the proxy,
// and port 23 of plain (a LAN host of the same family without the proxy)
// refuses.
func checkSynProxyAddr(ctx context.Context, t *testing.T, l *lab.Lab, addr, plain netip.Addr) {
	t.Helper()
	for _, port := range lab.SynProxyPorts {
		if lab.SynProxyServices[port] == "http" {
			continue // waitReady read its page already
		}
		c, err := l.DialContext(ctx, "tcp", netip.AddrPortFrom(addr, port).String())
		if err != nil {
			t.Fatalf("port %d: %v", port, err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		b := make([]byte, 256)
		n, err := c.Read(b)
		c.Close()
		want := map[string]string{"ssh": lab.SynProxySSHBanner, "smtp": lab.SynProxySMTPBanner}[lab.SynProxyServices[port]]
		if string(b[:n]) != want {
			t.Errorf("port %d: greeting %q (%v), want %q", port, b[:n], err, want)
		}
	}
	resetOrRefused := func(ap netip.AddrPort) error {
		c, err := l.DialContext(ctx, "tcp", ap.String())
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = c.Read(make([]byte, 16))
		return err
	}
	for _, port := range []uint16{1, 23, 443, 8080, 65535} {
		if err := resetOrRefused(netip.AddrPortFrom(addr, port)); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("port %d without a listener: %v, want the proxy's connection reset", port, err)
		}
	}
	// A LAN host without the proxy refuses a closed port.
	closed := netip.AddrPortFrom(plain, 23)
	if err := resetOrRefused(closed); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("%v: %v, want refused (the test tells a proxy from a host only if this refuses)", closed, err)
	}
}

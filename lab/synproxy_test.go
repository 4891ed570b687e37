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

// TestSynProxy: through the kernel's SYN proxy, a connection to a backed port
// reaches its server (its greeting arrives), one to any other port is set up by
// the proxy and then reset (ECONNRESET, where a host without the proxy refuses:
// ECONNREFUSED); Stop leaves no namespace behind.
func TestSynProxy(t *testing.T) {
	l := labtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sp, err := l.StartSynProxy(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Stop()
	for _, port := range lab.SynProxyPorts {
		if lab.SynProxyServices[port] == "http" {
			continue // waitReady read its page already
		}
		c, err := l.DialContext(ctx, "tcp4", netip.AddrPortFrom(sp.Addr, port).String())
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
		c, err := l.DialContext(ctx, "tcp4", ap.String())
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = c.Read(make([]byte, 16))
		return err
	}
	for _, port := range []uint16{1, 23, 443, 8080, 65535} {
		if err := resetOrRefused(netip.AddrPortFrom(sp.Addr, port)); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("port %d without a listener: %v, want the proxy's connection reset", port, err)
		}
	}
	// A LAN host without the proxy refuses a closed port.
	closed := netip.AddrPortFrom(l.Truth().Hosts[0].Addr, 23)
	if err := resetOrRefused(closed); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("%v: %v, want refused (the test tells a proxy from a host only if this refuses)", closed, err)
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

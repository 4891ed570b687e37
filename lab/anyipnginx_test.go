package lab_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fastscan/fastscan/citest"
	"github.com/fastscan/fastscan/lab"
	"github.com/fastscan/fastscan/lab/labtest"
	"github.com/fastscan/fastscan/netns"
)

// The AnyIP nginx answers HTTP on the first, a middle and the last address
// of its prefix, from the scanner namespace, as the installed nginx says it
// is (nginx -v); Stop leaves no process, namespace or route behind.
func TestAnyIPNginx(t *testing.T) {
	citest.RequireRoot(t)
	citest.RequireTool(t, "nginx")
	out, err := exec.Command("nginx", "-v").CombinedOutput()
	m := regexp.MustCompile(`nginx/(\S+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("nginx -v: %v: %q", err, out)
	}
	want := "nginx/" + string(m[1])
	l := labtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n, err := l.StartAnyIPNginx(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			n.Stop()
		}
	})
	for _, a := range []string{"198.18.128.0", "198.18.170.99", "198.18.255.255"} {
		ap := netip.AddrPortFrom(netip.MustParseAddr(a), n.Port)
		if !n.Prefix.Contains(ap.Addr()) {
			t.Fatalf("%v outside %v", ap, n.Prefix)
		}
		server, title, err := httpGet(ctx, l, ap)
		if err != nil {
			t.Fatalf("GET %v: %v\n%s", ap, err, n.Logs())
		}
		if server != want || title != n.Title {
			t.Errorf("GET %v: Server %q title %q, want %q %q", ap, server, title, want, n.Title)
		}
	}
	ns := n.NS()
	if err := n.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	stopped = true
	if pids := pidsIn(t, ns); len(pids) > 0 {
		t.Errorf("processes %v left in %s", pids, ns)
	}
	if _, err := os.Stat(filepath.Join(netns.Dir, ns)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("namespace %s left after Stop (%v)", ns, err)
	}
	routes, _ := exec.Command("ip", "-n", l.ScannerNS(), "route", "show", lab.AnyIPNginxPrefix.String()).CombinedOutput()
	if strings.TrimSpace(string(routes)) != "" {
		t.Errorf("scanner's route left after Stop: %s", routes)
	}
}

// httpGet asks ap for / from the scanner namespace and returns the response's
// Server header and the page's title.
func httpGet(ctx context.Context, l *lab.Lab, ap netip.AddrPort) (server, title string, err error) {
	c, err := l.DialContext(ctx, "tcp", ap.String())
	if err != nil {
		return "", "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(c, "GET / HTTP/1.0\r\nHost: %s\r\n\r\n", ap.Addr()); err != nil {
		return "", "", err
	}
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "Server: "); ok {
			server = strings.TrimSpace(v)
		}
		if m := regexp.MustCompile(`<title>(.*)</title>`).FindStringSubmatch(line); m != nil {
			title = m[1]
		}
	}
	return server, title, sc.Err()
}

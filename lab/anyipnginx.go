package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// The AnyIP web server: one nginx (Debian's) bound to 0.0.0.0:AnyIPNginxPort
// in a namespace of its own, where every address of AnyIPNginxPrefix is local
// (an AnyIP route on lo), so that the one process answers HTTP on tens of
// thousands of addresses: the real-server workload of the service
// identification benchmark (`fastlab svbench`). The namespace B hangs off
// the remote router R, and AnyIPNginxPrefix is routed like the lab's other
// routed ranges, scanner -> R -> B:
//
//	scanner S ── wan0 ── R ── bn0 198.18.2.1/30 ──── eth0 198.18.2.2/30 ── B
//	route AnyIPNginxPrefix via 198.18.0.2   route via 198.18.2.2     local AnyIPNginxPrefix dev lo
//
// Nothing of Truth changes: AnyIPNginxPrefix is outside RoutedRange and the
// LAN.

// AnyIPNginxPrefix is the range every address of which the AnyIP nginx
// answers on (32,768 addresses), inside 198.18.0.0/15 and apart from the
// lab's other ranges.
var AnyIPNginxPrefix = netip.MustParsePrefix("198.18.128.0/17")

// AnyIPNginxPort is the port the AnyIP nginx listens on (HTTP).
const AnyIPNginxPort = 80

// The point-to-point link between R and B.
var (
	anyIPLinkPrefix = netip.MustParsePrefix("198.18.2.0/30")
	anyIPRouterAddr = netip.MustParseAddr("198.18.2.1") // R's end, bn0
	anyIPHostAddr   = netip.MustParseAddr("198.18.2.2") // B's end, eth0
)

// anyIPRouterIface is R's end of the link to B.
const anyIPRouterIface = "bn0"

// AnyIPNginxTuning is what the AnyIP nginx and its namespace are tuned with
// so that ten thousand connections in a few seconds are all accepted: the
// same for every client (said in the benchmark's README table).
const AnyIPNginxTuning = "nginx: worker_processes 1, worker_connections 16384, worker_rlimit_nofile 65536, " +
	"listen backlog=65535, access_log off; its namespace: net.core.somaxconn=65535, " +
	"net.ipv4.tcp_max_syn_backlog=65535"

// anyIPBacklog is the AnyIP nginx's listen backlog and its namespace's
// somaxconn and tcp_max_syn_backlog.
const anyIPBacklog = 65535

// AnyIPNginx is the running AnyIP nginx. Stop it (also when a test fails):
// its process outlives the lab's Down otherwise.
type AnyIPNginx struct {
	// Prefix is the range nginx answers on (AnyIPNginxPrefix), on Port.
	Prefix netip.Prefix
	// Port is AnyIPNginxPort.
	Port uint16
	// Title is the page's title (RealPageTitle).
	Title string

	rs *RealServers // the process, its namespace and its logs
}

// NS returns the namespace nginx runs in.
func (n *AnyIPNginx) NS() string { return n.rs.NS }

// Dir returns the directory of nginx's configuration, pid file and logs.
func (n *AnyIPNginx) Dir() string { return n.rs.Dir }

// Logs returns nginx's logs (for a failing test's message).
func (n *AnyIPNginx) Logs() string {
	return n.rs.Logs() + "--- error log:\n" + tail(n.rs.path("nginx-error.log"))
}

// tail returns the end of a file.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 600 {
		b = b[len(b)-600:]
	}
	return string(b)
}

// StartAnyIPNginx adds the namespace B (l.ID()+"-b", deleted by Down too),
// links it to the remote router, routes AnyIPNginxPrefix from the scanner
// through R to B, makes the prefix local in B and starts nginx there
// (AnyIPNginxTuning). dir must be an empty directory of the caller's. It
// returns when the first and the last address of the prefix accept a
// connection from the scanner namespace; on error it stops whatever it had
// started.
func (l *Lab) StartAnyIPNginx(ctx context.Context, dir string) (n *AnyIPNginx, err error) {
	rs := &RealServers{Addr: AnyIPNginxPrefix.Addr(), NS: l.id + "-b", Dir: dir, l: l, conns: make(map[net.Conn]struct{})}
	n = &AnyIPNginx{Prefix: AnyIPNginxPrefix, Port: AnyIPNginxPort, Title: RealPageTitle, rs: rs}
	defer func() {
		if err != nil {
			err = fmt.Errorf("lab: AnyIP nginx: %w", err)
			if serr := n.Stop(); serr != nil {
				err = errors.Join(err, serr)
			}
		}
	}()
	if err := n.addHost(ctx); err != nil {
		return n, err
	}
	if err := n.startNginx(); err != nil {
		return n, err
	}
	return n, n.waitReady(ctx)
}

// addHost creates B, links it to R and sets the sysctls and the routes.
func (n *AnyIPNginx) addHost(ctx context.Context) error {
	rs := n.rs
	l, t := rs.l, rs.l.truth
	bits := anyIPLinkPrefix.Bits()
	var err error
	rs.host, err = l.addHostNS(ctx, rs.NS, hostLink{peer: anyIPRouterIface, peerNS: l.RemoteNS(),
		peerAddr: netip.PrefixFrom(anyIPRouterAddr, bits), addr: netip.PrefixFrom(anyIPHostAddr, bits)})
	if err != nil {
		return err
	}
	err = rs.host.do(func() error {
		for k, v := range map[string]string{
			"net.core.somaxconn":           strconv.Itoa(anyIPBacklog),
			"net.ipv4.tcp_max_syn_backlog": strconv.Itoa(anyIPBacklog),
		} {
			if err := writeSysctl(k, v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return runIPs(ctx, [][]string{
		{"-n", rs.NS, "route", "add", "local", AnyIPNginxPrefix.String(), "dev", "lo"},
		// Back to the scanner (no default route anywhere in the lab).
		{"-n", rs.NS, "route", "add", t.WANPrefix.String(), "via", anyIPRouterAddr.String(), "dev", HostIface},
		{"-n", l.RemoteNS(), "route", "add", AnyIPNginxPrefix.String(), "via", anyIPHostAddr.String(), "dev", anyIPRouterIface},
		{"-n", l.ScannerNS(), "route", "add", AnyIPNginxPrefix.String(), "via", t.RemoteWANAddr.String(), "dev", ScannerWANIface},
	})
}

// startNginx writes nginx's configuration and page and starts it.
func (n *AnyIPNginx) startNginx() error {
	rs := n.rs
	www := rs.path("www")
	if err := os.MkdirAll(www, 0o755); err != nil {
		return err
	}
	page := "<!DOCTYPE html>\n<html><head><title>" + n.Title + "</title></head><body>fastscan lab</body></html>\n"
	if err := os.WriteFile(filepath.Join(www, "index.html"), []byte(page), 0o644); err != nil {
		return err
	}
	// Workers run as root: they read the caller's directory (a test's
	// TempDir is private to root).
	conf := fmt.Sprintf(`daemon off;
user root;
worker_processes 1;
worker_rlimit_nofile 65536;
pid %[1]s/nginx.pid;
error_log %[1]s/nginx-error.log;
events { worker_connections 16384; }
http {
	access_log off;
	client_body_temp_path %[1]s/nginx-body;
	proxy_temp_path %[1]s/nginx-proxy;
	fastcgi_temp_path %[1]s/nginx-fastcgi;
	uwsgi_temp_path %[1]s/nginx-uwsgi;
	scgi_temp_path %[1]s/nginx-scgi;
	default_type text/html;
	server {
		listen 0.0.0.0:%[2]d backlog=%[3]d;
		root %[4]s;
	}
}
`, rs.Dir, n.Port, anyIPBacklog, www)
	if err := os.WriteFile(rs.path("nginx.conf"), []byte(conf), 0o644); err != nil {
		return err
	}
	return rs.start("nginx", "nginx", "-p", rs.Dir, "-c", rs.path("nginx.conf"), "-e", rs.path("nginx-error.log"))
}

// waitReady waits until the prefix's first and last addresses accept a
// connection from the scanner namespace, or nginx has exited.
func (n *AnyIPNginx) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, realServersReady)
	defer cancel()
	last := lastAddr(n.Prefix)
	for _, a := range []netip.Addr{n.Prefix.Addr(), last} {
		ap := netip.AddrPortFrom(a, n.Port)
		for {
			c, err := n.rs.l.DialContext(ctx, "tcp", ap.String())
			if err == nil {
				c.Close()
				break
			}
			if exited := n.rs.exited(); exited != "" {
				return fmt.Errorf("%s exited before %v accepted connections: %s", exited, ap, n.rs.logTail(exited))
			}
			if ctx.Err() != nil {
				return fmt.Errorf("%v accepts no connection after %v: %w", ap, realServersReady, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// lastAddr returns the last IPv4 address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v |= ^uint32(0) >> p.Bits()
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// Stop ends nginx (SIGTERM, SIGKILL after a while), deletes B (and with it
// the link to R and R's route) and the scanner's route to the prefix. It is
// idempotent.
func (n *AnyIPNginx) Stop() error {
	err := n.rs.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), downTimeout)
	defer cancel()
	// Absent when the route was never added or the lab is down.
	runIP(ctx, "-n", n.rs.l.ScannerNS(), "route", "del", AnyIPNginxPrefix.String())
	return err
}

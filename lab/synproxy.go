package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fastscan/fastscan/netns"
)

// The SYN proxy host: one more LAN host whose own kernel answers every TCP SYN
// with a SYN-ACK, whatever the port, through nftables' synproxy statement (the
// kernel's SYN proxy, as a host defending itself against SYN floods runs it):
// SYNs are not tracked, and a packet of no or an invalid connection goes to
// synproxy, which answers a SYN with a SYN cookie and, when the client's ACK
// carries a valid cookie, opens the connection to the local listener - or
// resets the client's connection when nothing listens on the port. Only
// SynProxyPorts are backed by listeners (small Go servers that speak first,
// or HTTP). The host is dual-stack: the proxy and the listeners are the same
// on both of its addresses. The host is outside Truth, as the real servers'
// host is.

// SynProxyAddr is the LAN address of the SYN proxy host.
var SynProxyAddr = netip.MustParseAddr("198.18.1.90")

// SynProxyAddr6 is the same host's IPv6 LAN address, behind the same SYN
// proxy, with the same listeners.
var SynProxyAddr6 = netip.MustParseAddr("2001:2:0:1::90")

// SynProxyPorts are the ports of SynProxyAddr (and SynProxyAddr6) with a
// listener behind the SYN proxy, ascending, and SynProxyServices the service
// each speaks (as -sV names it). Every other port answers SYN-ACK too, and resets the connection that
// follows.
var (
	SynProxyPorts    = []uint16{22, 25, 80}
	SynProxyServices = map[uint16]string{22: "ssh", 25: "smtp", 80: "http"}
)

// Greetings of SynProxyPorts' servers (HTTP answers a request with a page,
// Server: SynProxyHTTPServer).
const (
	SynProxySSHBanner  = "SSH-2.0-fastlab_synproxy\r\n"
	SynProxySMTPBanner = "220 synproxy.fastlab.test ESMTP fastlab\r\n"
	SynProxyHTTPServer = "fastlab-synproxy"
)

// synProxyTable is the nftables table of the SYN proxy in the host's namespace.
const synProxyTable = "fastlab_synproxy"

// SynProxy is the running SYN proxy host. Stop it (also when a test fails;
// the lab's Down deletes its namespace too).
type SynProxy struct {
	// Addr is the host's address (SynProxyAddr), Addr6 its IPv6 address
	// (SynProxyAddr6), NS its namespace.
	Addr, Addr6 netip.Addr
	NS          string

	l       *Lab
	host    *hostNS // nil until StartSynProxy has made it
	mu      sync.Mutex
	lns     []net.Listener
	conns   map[net.Conn]struct{}
	serving sync.WaitGroup
	stopped bool
}

// StartSynProxy adds the SYN proxy host at SynProxyAddr and SynProxyAddr6
// (namespace l.ID()+"-h"+N, two past Truth's hosts, so that it can run beside
// the real servers' host), makes its interface verify checksums on receive
// (validateChecksumsOnReceive), installs the nftables SYN proxy in its
// namespace and starts the listeners of SynProxyPorts on both addresses. It
// returns when every backed port of both addresses serves a connection from
// the scanner namespace; on error it deletes what it made. It needs a kernel
// with nftables' synproxy (CONFIG_NFT_SYNPROXY).
func (l *Lab) StartSynProxy(ctx context.Context) (sp *SynProxy, err error) {
	sp = &SynProxy{Addr: SynProxyAddr, Addr6: SynProxyAddr6, NS: l.id + "-h" + strconv.Itoa(len(l.truth.Hosts)+2), l: l,
		conns: make(map[net.Conn]struct{})}
	defer func() {
		if err != nil {
			err = fmt.Errorf("lab: SYN proxy: %w", err)
			if serr := sp.Stop(); serr != nil {
				err = errors.Join(err, serr)
			}
		}
	}()
	if sp.host, err = l.addHostNS(ctx, sp.NS, l.lanLink(sp.NS, sp.Addr, sp.Addr6)); err != nil {
		return sp, err
	}
	if err := sp.validateChecksumsOnReceive(); err != nil {
		return sp, err
	}
	if err := sp.addSynProxy(ctx); err != nil {
		return sp, err
	}
	if err := sp.listen(); err != nil {
		return sp, err
	}
	return sp, sp.waitReady(ctx)
}

// addSynProxy installs the SYN proxy: SYNs arriving on the LAN interface are
// not tracked (raw priority), and in input every TCP packet of no (untracked)
// or an unknown (invalid) connection goes to synproxy; what it does not take
// and is invalid is dropped. Loose pick-up of connections must be off, so that
// the ACK completing a proxied handshake is invalid and reaches synproxy. The
// table is of the inet family: the same rules proxy IPv4 and IPv6 (the
// neighbour discovery the IPv6 address needs is untracked, not invalid, so the
// drop spares it).
//
// No timestamp (nor sack-perm) option: with it, this kernel's synproxy
// completes the handshake with the local listener late - the listener
// ignores the proxy's ACK and retransmits its SYN-ACK after 1 s (tcpdump in
// the host's namespace) - so every greeting of a server that speaks first
// arrived a second late, at the edge of -sV's greeting wait. Without it the
// greeting arrives at once (and no window scaling is negotiated: synproxy
// keeps the client's wscale in the timestamp).
func (sp *SynProxy) addSynProxy(ctx context.Context) error {
	rules := fmt.Sprintf(`table inet %[1]s {
	chain prerouting {
		type filter hook prerouting priority raw; policy accept;
		iifname %[2]q tcp flags & (fin | syn | rst | ack) == syn notrack
	}
	chain input {
		type filter hook input priority filter; policy accept;
		iifname %[2]q meta l4proto tcp ct state invalid,untracked synproxy mss 1460 wscale 7
		iifname %[2]q ct state invalid drop
	}
}
`, synProxyTable, HostIface)
	if err := sp.host.run(ctx, []byte(rules), "nft", "-f", "-"); err != nil {
		return fmt.Errorf("nftables synproxy (a kernel without CONFIG_NFT_SYNPROXY?): %w", err)
	}
	return sp.host.do(func() error { return writeSysctl("net.netfilter.nf_conntrack_tcp_loose", "0") })
}

// validateChecksumsOnReceive makes the host's interface check the TCP
// checksum of what it receives and mark it verified, as a NIC's receive
// checksum offload does - without it, the SYN proxy drops a scanner's IPv6
// SYNs. nftables' synproxy statement checks a packet's TCP checksum with the
// IPv4 pseudo-header whatever its family (nft_synproxy_do_eval calls
// nf_ip_checksum; xtables' ip6t_SYNPROXY uses nf_ip6_checksum), unless the
// checksum is already verified or left to offload. A kernel socket's packets
// cross the veth pair as checksum-partial and pass; a raw scanner's frames
// (AF_PACKET, the checksum computed) arrive as unverified, so every IPv6 SYN
// failed the wrong check and was dropped before synproxy counted it
// (/proc/net/stat/synproxy, nft monitor trace: "synproxy ... verdict drop").
// GRO verifies and marks the checksum: it is switched off and on again on the
// host's end (which gives the veth its NAPI receive path), and TSO is
// switched off on the bridge's end, whose TSO would keep the frames it relays
// off that path.
func (sp *SynProxy) validateChecksumsOnReceive() error {
	if err := sp.host.do(func() error {
		if err := setEthtoolFeature(HostIface, unix.ETHTOOL_SGRO, false); err != nil {
			return err
		}
		return setEthtoolFeature(HostIface, unix.ETHTOOL_SGRO, true)
	}); err != nil {
		return fmt.Errorf("GRO on %s: %w", HostIface, err)
	}
	port := sp.l.lanPort(sp.NS)
	if err := netns.Do(sp.l.SwitchNS(), func() error { return setEthtoolFeature(port, unix.ETHTOOL_STSO, false) }); err != nil {
		return fmt.Errorf("TSO off on the bridge port %s: %w", port, err)
	}
	return nil
}

// listen opens the listeners of SynProxyPorts on both of the host's
// addresses in its namespace and serves them on goroutines until Stop.
func (sp *SynProxy) listen() error {
	for _, ap := range sp.backedAddrPorts() {
		network := "tcp4"
		if ap.Addr().Is6() {
			network = "tcp6"
		}
		var ln net.Listener
		err := sp.host.do(func() error {
			var err error
			ln, err = net.Listen(network, ap.String())
			return err
		})
		if err != nil {
			return fmt.Errorf("listener on %v: %w", ap, err)
		}
		sp.mu.Lock()
		sp.lns = append(sp.lns, ln)
		sp.mu.Unlock()
		sp.serve(ln, ap.Port())
	}
	return nil
}

// backedAddrPorts lists the backed ports (SynProxyPorts) of both of the host's
// addresses, IPv4 first.
func (sp *SynProxy) backedAddrPorts() []netip.AddrPort {
	var aps []netip.AddrPort
	for _, a := range []netip.Addr{sp.Addr, sp.Addr6} {
		for _, p := range SynProxyPorts {
			aps = append(aps, netip.AddrPortFrom(a, p))
		}
	}
	return aps
}

// serve serves ln, the listener of port, on a goroutine until Stop: the
// HTTP page, or the greeting of the port's service.
func (sp *SynProxy) serve(ln net.Listener, port uint16) {
	sp.serving.Add(1)
	if SynProxyServices[port] == "http" {
		srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(synProxyPage)}
		go func() { defer sp.serving.Done(); srv.Serve(ln) }()
		return
	}
	banner := SynProxySSHBanner
	if SynProxyServices[port] == "smtp" {
		banner = SynProxySMTPBanner
	}
	go sp.serveBanner(ln, banner)
}

// synProxyPage is the HTTP server's page.
func synProxyPage(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Server", SynProxyHTTPServer)
	w.Header().Set("Content-Type", "text/html")
	fmt.Fprint(w, "<!DOCTYPE html>\n<html><head><title>fastlab behind a SYN proxy</title></head><body>synproxy</body></html>\n")
}

// serveBanner accepts connections, writes banner and reads until the client
// goes (at most a minute).
func (sp *SynProxy) serveBanner(ln net.Listener, banner string) {
	defer sp.serving.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		sp.mu.Lock()
		if sp.stopped {
			sp.mu.Unlock()
			c.Close()
			return
		}
		sp.conns[c] = struct{}{}
		sp.serving.Add(1)
		sp.mu.Unlock()
		go func() {
			defer sp.serving.Done()
			defer func() {
				sp.mu.Lock()
				delete(sp.conns, c)
				sp.mu.Unlock()
				c.Close()
			}()
			c.SetDeadline(time.Now().Add(time.Minute))
			if _, err := c.Write([]byte(banner)); err != nil {
				return
			}
			b := make([]byte, 1024)
			for {
				n, err := c.Read(b)
				if err != nil {
					return
				}
				if strings.HasPrefix(banner, "220 ") && n > 0 {
					// SMTP: a short answer to anything (EHLO, QUIT), then the end on QUIT.
					if strings.HasPrefix(strings.ToUpper(string(b[:n])), "QUIT") {
						c.Write([]byte("221 bye\r\n"))
						return
					}
					c.Write([]byte("250 synproxy.fastlab.test\r\n"))
				}
			}
		}()
	}
}

// waitReady waits until every backed port of both addresses gives its
// greeting (or page) to a connection from the scanner namespace: the
// connection went through the SYN proxy, so the proxy works for both families.
func (sp *SynProxy) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, realServersReady)
	defer cancel()
	for _, ap := range sp.backedAddrPorts() {
		for {
			err := sp.greeted(ctx, ap)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return fmt.Errorf("%v gives no greeting through the SYN proxy after %v: %w", ap, realServersReady, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// greeted connects to ap from the scanner namespace and reads its first bytes
// (sending an HTTP request to the HTTP port).
func (sp *SynProxy) greeted(ctx context.Context, ap netip.AddrPort) error {
	c, err := sp.l.DialContext(ctx, "tcp", ap.String())
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if SynProxyServices[ap.Port()] == "http" {
		if _, err := c.Write([]byte("HEAD / HTTP/1.0\r\n\r\n")); err != nil {
			return err
		}
	}
	b := make([]byte, 64)
	n, err := c.Read(b)
	if n == 0 {
		return fmt.Errorf("no greeting: %w", err)
	}
	return nil
}

// Backed reports whether a listener is behind port of the SYN proxy host.
func (sp *SynProxy) Backed(port uint16) bool { return slices.Contains(SynProxyPorts, port) }

// Stop closes the listeners and their connections and deletes the host (its
// veth pair, then its namespace, with the nftables rules). It is idempotent.
func (sp *SynProxy) Stop() error {
	sp.mu.Lock()
	if sp.stopped {
		sp.mu.Unlock()
		return nil
	}
	sp.stopped = true
	for _, ln := range sp.lns {
		ln.Close()
	}
	for c := range sp.conns {
		c.Close()
	}
	sp.mu.Unlock()
	sp.serving.Wait()
	if sp.host == nil { // addHostNS failed, and deleted what it had made
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), downTimeout)
	defer cancel()
	return sp.host.remove(ctx)
}

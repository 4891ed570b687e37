package lab_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/gopacket/layers"

	"github.com/fastscan/fastscan/citest"
	"github.com/fastscan/fastscan/lab"
	"github.com/fastscan/fastscan/lab/labtest"
	"github.com/fastscan/fastscan/udpprobe"
)

// udpAsk sends req to dst from the scanner namespace with an unconnected
// UDP socket, so that a reply from any source is received, and returns the
// first reply and its source.
func udpAsk(l *lab.Lab, dst netip.AddrPort, req []byte, timeout time.Duration) (reply []byte, from netip.AddrPort, err error) {
	err = l.Do(l.ScannerNS(), func() error {
		c, err := net.ListenUDP(udpNetwork(dst.Addr()), nil)
		if err != nil {
			return fmt.Errorf("listen: %w", err)
		}
		defer c.Close()
		if _, err := c.WriteToUDPAddrPort(req, dst); err != nil {
			return fmt.Errorf("send: %w", err)
		}
		if err := c.SetReadDeadline(time.Now().Add(timeout)); err != nil {
			return fmt.Errorf("deadline: %w", err)
		}
		buf := make([]byte, 2048)
		n, src, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return fmt.Errorf("receive: %w", err)
		}
		reply, from = buf[:n], netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
		return nil
	})
	return reply, from, err
}

// udpConnected sends payload to dst from the scanner namespace with a
// connected UDP socket, which reports ICMP errors, and returns the error of
// the read that follows (nil if a datagram came back).
func udpConnected(l *lab.Lab, dst netip.AddrPort, payload []byte, timeout time.Duration) error {
	return l.Do(l.ScannerNS(), func() error {
		c, err := net.DialUDP(udpNetwork(dst.Addr()), nil, net.UDPAddrFromAddrPort(dst))
		if err != nil {
			return fmt.Errorf("dial: %w", err)
		}
		defer c.Close()
		if dst.Addr().Is6() {
			// ICMPv6 address unreachable is a soft error for Linux: only a
			// socket with IPV6_RECVERR hears of it.
			if err := setRecvErr6(c); err != nil {
				return err
			}
		}
		if _, err := c.Write(payload); err != nil {
			return fmt.Errorf("send: %w", err)
		}
		if err := c.SetReadDeadline(time.Now().Add(timeout)); err != nil {
			return fmt.Errorf("deadline: %w", err)
		}
		_, err = c.Read(make([]byte, 2048))
		return err
	})
}

// setRecvErr6 sets IPV6_RECVERR on an IPv6 UDP socket.
func setRecvErr6(c *net.UDPConn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return fmt.Errorf("raw conn: %w", err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IPV6, syscall.IPV6_RECVERR, 1)
	}); err != nil {
		return fmt.Errorf("raw conn: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("IPV6_RECVERR: %w", serr)
	}
	return nil
}

// udpNetwork is "udp4" or "udp6", after a's family.
func udpNetwork(a netip.Addr) string {
	if a.Is4() {
		return "udp4"
	}
	return "udp6"
}

// parallel runs fn(i) for i in [0, n) concurrently and waits for all.
func parallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { fn(i) })
	}
	wg.Wait()
}

func TestUDPGroundTruthWithSockets(t *testing.T) {
	l := labtest.Start(t)
	tr := l.Truth()
	rng := rand.New(rand.NewPCG(3, 4))
	anyLo, anyHi := tr.AnyIPPrefix.Addr().As4(), tr.AnyIPPrefix.Addr().As4()
	anyHi[2], anyHi[3] = 127, 255

	// Live addresses: a sample of the AnyIP range, its ends, the remote
	// router's own address and every LAN host.
	live := []netip.Addr{netip.AddrFrom4(anyLo), netip.AddrFrom4(anyHi), tr.RemoteWANAddr}
	for range 12 {
		live = append(live, netip.AddrFrom4([4]byte{anyLo[0], anyLo[1], byte(rng.IntN(128)), byte(rng.IntN(256))}))
	}
	for _, h := range tr.Hosts {
		live = append(live, h.Addr)
	}
	var open, closed []netip.AddrPort
	for _, ip := range live {
		for _, p := range []uint16{53, 123, 161, 9, uint16(1024 + rng.IntN(64000))} {
			switch s := tr.StateUDP(ip, p); s {
			case lab.StateOpen:
				open = append(open, netip.AddrPortFrom(ip, p))
			case lab.StateClosed:
				closed = append(closed, netip.AddrPortFrom(ip, p))
			default:
				t.Fatalf("truth: live %s:%d is %v", ip, p, s)
			}
		}
	}
	if len(open) < 3*15+3 || len(closed) < 2*len(live) {
		t.Fatalf("sample has %d open and %d closed endpoints; the truth lost its UDP services", len(open), len(closed))
	}

	t.Run("open ports answer from the probed address", func(t *testing.T) {
		parallel(len(open), func(i int) {
			ep := open[i]
			r := serviceRequest(ep.Port(), i)
			reply, from, err := udpAsk(l, ep, r.req, 2*time.Second)
			if err != nil {
				t.Errorf("%s to %s: %v; truth says open", r.name, ep, err)
				return
			}
			if from != ep {
				t.Errorf("%s to %s: reply from %s, want the probed address and port", r.name, ep, from)
			}
			if err := r.check(reply, ep.Addr()); err != nil {
				t.Errorf("%s to %s: %v", r.name, ep, err)
			}
		})
	})

	t.Run("the scanner's probes are answered", func(t *testing.T) {
		parallel(len(open), func(i int) {
			ep := open[i]
			probe := udpprobe.ForPort(ep.Port())
			cookie := uint64(0x9e3779b97f4a7c15) * uint64(i+1)
			buf := make([]byte, 2048)
			reply, from, err := udpAsk(l, ep, buf[:probe.Put(buf, cookie)], 2*time.Second)
			if err != nil {
				t.Errorf("%s probe to %s: %v; truth says open", probe.Name, ep, err)
				return
			}
			if from != ep || !udpprobe.Match(ep.Port(), reply, cookie) {
				t.Errorf("%s probe to %s: reply % x from %s does not match the probe", probe.Name, ep, reply, from)
			}
		})
	})

	t.Run("closed ports answer ICMP port unreachable", func(t *testing.T) {
		parallel(len(closed), func(i int) {
			if err := udpConnected(l, closed[i], []byte("probe"), 2*time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("UDP to %s: %v; truth says closed (want ECONNREFUSED)", closed[i], err)
			}
		})
	})

	t.Run("open ports drop what is not their protocol", func(t *testing.T) {
		dns := dnsQuery(5, "x.lab", layers.DNSTypeA, layers.DNSClassIN)
		cases := []struct {
			ep      netip.AddrPort
			payload []byte
		}{
			{netip.AddrPortFrom(live[3], 53), nil},
			{netip.AddrPortFrom(live[4], 53), []byte("GET / HTTP/1.0\r\n\r\n")},
			{netip.AddrPortFrom(live[5], 123), dns},
			{netip.AddrPortFrom(live[6], 161), ntpRequest(4, 1)},
			{netip.AddrPortFrom(tr.Hosts[0].Addr, 123), nil},
			{netip.AddrPortFrom(tr.Hosts[1].Addr, 161), dns},
		}
		parallel(len(cases), func(i int) {
			c := cases[i]
			if tr.StateUDP(c.ep.Addr(), c.ep.Port()) != lab.StateOpen {
				t.Errorf("truth: %s is not open", c.ep)
				return
			}
			if err := udpConnected(l, c.ep, c.payload, 700*time.Millisecond); !isTimeout(err) {
				t.Errorf("%q to open %s: %v, want silence (a timeout)", c.payload, c.ep, err)
			}
		})
	})

	t.Run("blackhole is silent", func(t *testing.T) {
		bl := tr.BlackholePrefix.Addr().As4()
		eps := []netip.AddrPort{
			netip.AddrPortFrom(netip.AddrFrom4([4]byte{bl[0], bl[1], bl[2] + 3, 7}), 53),
			netip.AddrPortFrom(netip.AddrFrom4([4]byte{bl[0], bl[1], bl[2] + 63, 255}), 9),
		}
		parallel(len(eps), func(i int) {
			ep := eps[i]
			if s := tr.StateUDP(ep.Addr(), ep.Port()); s != lab.StateOpenFiltered {
				t.Errorf("truth: %s is %v, not open|filtered", ep, s)
			}
			if err := udpConnected(l, ep, serviceRequest(53, i).req, 700*time.Millisecond); !isTimeout(err) {
				t.Errorf("UDP to blackholed %s: %v, want a timeout", ep, err)
			}
		})
	})

	t.Run("prohibited answers ICMP admin-prohibited", func(t *testing.T) {
		pr := tr.ProhibitedPrefix.Addr().As4()
		eps := []netip.AddrPort{
			netip.AddrPortFrom(netip.AddrFrom4([4]byte{pr[0], pr[1], pr[2] + 1, 1}), 53),
			netip.AddrPortFrom(netip.AddrFrom4([4]byte{pr[0], pr[1], pr[2] + 63, 254}), 9),
		}
		parallel(len(eps), func(i int) {
			ep := eps[i]
			if s := tr.StateUDP(ep.Addr(), ep.Port()); s != lab.StateFiltered {
				t.Errorf("truth: %s is %v, not filtered", ep, s)
			}
			// Linux reports ICMP 3/13 on a connected UDP socket as
			// EHOSTUNREACH (icmp_err_convert: a hard error).
			if err := udpConnected(l, ep, serviceRequest(53, i).req, 2*time.Second); !errors.Is(err, syscall.EHOSTUNREACH) {
				t.Errorf("UDP to prohibited %s: %v, want EHOSTUNREACH", ep, err)
			}
		})
	})
}

// TestDownStopsUDPResponders checks that Down closes the responders and
// that their serving goroutines return.
func TestDownStopsUDPResponders(t *testing.T) {
	citest.RequireRoot(t)
	before := runtime.NumGoroutine()
	l, err := lab.Up(context.Background())
	if err != nil {
		t.Fatalf("Up: %v", err)
	}
	during := runtime.NumGoroutine()
	if err := l.Down(); err != nil {
		t.Fatalf("Down: %v", err)
	}
	if during <= before {
		t.Errorf("%d goroutines while the lab is up, %d before: no responders are served", during, before)
	}
	deadline := time.Now().Add(2 * time.Second)
	after := runtime.NumGoroutine()
	for after > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		after = runtime.NumGoroutine()
	}
	if after > before {
		t.Errorf("%d goroutines after Down, %d before: serving goroutines leaked", after, before)
	}
}

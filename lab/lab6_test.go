package lab_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/gopacket/layers"

	"github.com/fastscan/fastscan/lab"
	"github.com/fastscan/fastscan/lab/labtest"
)

// The IPv6 half of the lab, checked against its ground truth from the
// scanner namespace with the kernel's own sockets (connect, UDP) and its
// own neighbour discovery: nothing here shares code with a scanner.

// addrIn returns the address of prefix p with v ORed into its last 16 bits:
// the v-th address of p when v is below p's size (p a /112 or longer).
func addrIn(p netip.Prefix, v uint16) netip.Addr {
	b := p.Masked().Addr().As16()
	b[14], b[15] = b[14]|byte(v>>8), b[15]|byte(v)
	return netip.AddrFrom16(b)
}

// dial6All connects over TCP from the scanner namespace to every endpoint
// at once (IPv4 or IPv6), each with the given timeout.
func dial6All(t *testing.T, l *lab.Lab, eps []netip.AddrPort, timeout time.Duration) []dialResult {
	t.Helper()
	res := make([]dialResult, len(eps))
	parallel(len(eps), func(i int) {
		start := time.Now()
		err := l.Do(l.ScannerNS(), func() error {
			d := net.Dialer{Timeout: timeout}
			c, err := d.Dial("tcp", eps[i].String())
			if err == nil {
				c.Close()
			}
			return err
		})
		res[i] = dialResult{err: err, elapsed: time.Since(start)}
	})
	return res
}

// neighbours6 returns the scanner's IPv6 neighbours on lan0 that have a MAC
// (address -> lladdr), as `ip -6 neigh` shows them.
func neighbours6(t *testing.T, l *lab.Lab) map[string]string {
	t.Helper()
	out, err := l.Command(context.Background(), "ip", "-6", "neigh", "show", "dev", lab.ScannerLANIface).CombinedOutput()
	if err != nil {
		t.Fatalf("ip -6 neigh: %v: %s", err, out)
	}
	neigh := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		for i := 1; i+1 < len(f); i++ {
			if f[i] == "lladdr" {
				neigh[f[0]] = f[i+1]
			}
		}
	}
	return neigh
}

func TestGroundTruthIPv6WithSockets(t *testing.T) {
	l := labtest.Start(t)
	tr := l.Truth()
	rng := rand.New(rand.NewPCG(6, 6))

	// A sample of the AnyIP /112 (its ends included), the single-address
	// listeners and their neighbours, the remote router's own address and
	// every LAN host, open and closed ports.
	anyIP := []netip.Addr{addrIn(tr.AnyIPPrefix6, 0), addrIn(tr.AnyIPPrefix6, 0xffff)}
	for range 12 {
		anyIP = append(anyIP, addrIn(tr.AnyIPPrefix6, uint16(rng.IntN(65536))))
	}
	var eps []netip.AddrPort
	for _, ip := range anyIP {
		eps = append(eps,
			netip.AddrPortFrom(ip, tr.AnyIPPorts[rng.IntN(len(tr.AnyIPPorts))]),
			netip.AddrPortFrom(ip, uint16(1+rng.IntN(65535))))
	}
	for _, ap := range tr.AddrPorts6 {
		eps = append(eps, ap, netip.AddrPortFrom(ap.Addr().Next(), ap.Port()))
	}
	eps = append(eps, netip.AddrPortFrom(tr.RemoteWANAddr6, tr.AnyIPPorts[0]), netip.AddrPortFrom(tr.RemoteWANAddr6, 9))
	for _, h := range tr.Hosts {
		for _, p := range h.Ports {
			eps = append(eps, netip.AddrPortFrom(h.Addr6, p), netip.AddrPortFrom(h.Addr6, p-1))
		}
	}
	opened := 0
	for i, r := range dial6All(t, l, eps, 2*time.Second) {
		want := tr.State(eps[i].Addr(), eps[i].Port())
		switch {
		case want == lab.StateOpen && r.err != nil:
			t.Errorf("connect %s: %v; truth says open", eps[i], r.err)
		case want == lab.StateClosed && !errors.Is(r.err, syscall.ECONNREFUSED):
			t.Errorf("connect %s: %v; truth says closed (want ECONNREFUSED)", eps[i], r.err)
		case want != lab.StateOpen && want != lab.StateClosed:
			t.Errorf("sample %s has state %v; test expects only open or closed here", eps[i], want)
		}
		if want == lab.StateOpen {
			opened++
		}
	}
	if opened < len(anyIP)+len(tr.AddrPorts6)+1+len(tr.Hosts) {
		t.Errorf("only %d of the sample are open in the truth", opened)
	}

	t.Run("unanswered and rejected regions", func(t *testing.T) {
		cases := []struct {
			ep      netip.AddrPort
			want    lab.State
			errs    []error // any of them; nil: a timeout
			maxTime time.Duration
		}{
			{netip.AddrPortFrom(addrIn(tr.BlackholePrefix6, 7), 22), lab.StateFiltered, nil, 0},
			{netip.AddrPortFrom(addrIn(tr.BlackholePrefix6, 0xffff), 80), lab.StateFiltered, nil, 0},
			// The first ICMPv6 error comes back while connect() holds the
			// socket lock; the one after the first retransmission (1 s) ends it.
			{netip.AddrPortFrom(addrIn(tr.ProhibitedPrefix6, 1), 22), lab.StateFiltered, []error{syscall.EACCES}, 3 * time.Second},
			{netip.AddrPortFrom(addrIn(tr.ProhibitedPrefix6, 0xfffe), 443), lab.StateFiltered, []error{syscall.EACCES}, 3 * time.Second},
			{netip.AddrPortFrom(addrIn(tr.AddrUnreachablePrefix6, 1), 22), lab.StateFiltered, []error{syscall.EHOSTUNREACH}, 3 * time.Second},
			{netip.AddrPortFrom(addrIn(tr.AddrUnreachablePrefix6, 0x7fff), 80), lab.StateFiltered, []error{syscall.EHOSTUNREACH}, 3 * time.Second},
			// Port unreachable is a hard error for TCP in Linux (ECONNREFUSED), but
			// it comes from the router, not the host: filtered, as nmap says.
			{netip.AddrPortFrom(addrIn(tr.PortUnreachablePrefix6, 0x8000), 22), lab.StateFiltered, []error{syscall.ECONNREFUSED}, 3 * time.Second},
			{netip.AddrPortFrom(addrIn(tr.PortUnreachablePrefix6, 0xffff), 80), lab.StateFiltered, []error{syscall.ECONNREFUSED}, 3 * time.Second},
			// Nobody at these LAN addresses answers NDP.
			{netip.AddrPortFrom(tr.LANPrefix6.Addr().Next().Next(), 22), lab.StateDown, nil, 0},
			{netip.AddrPortFrom(netip.MustParseAddr("2001:2:0:1::11"), 22), lab.StateDown, nil, 0},
		}
		eps := make([]netip.AddrPort, len(cases))
		for i, c := range cases {
			eps[i] = c.ep
			if s := tr.State(c.ep.Addr(), c.ep.Port()); s != c.want {
				t.Fatalf("truth: %s is %v, want %v", c.ep, s, c.want)
			}
		}
		for i, r := range dial6All(t, l, eps, 1500*time.Millisecond) {
			c := cases[i]
			switch {
			case c.errs == nil && !isTimeout(r.err):
				t.Errorf("connect %s (%v): %v, want a timeout", c.ep, c.want, r.err)
			case c.errs != nil && !errors.Is(r.err, c.errs[0]):
				t.Errorf("connect %s (%v): %v, want %v", c.ep, c.want, r.err, c.errs[0])
			case c.maxTime > 0 && r.elapsed > c.maxTime:
				t.Errorf("connect %s took %v; an ICMPv6 error should end it sooner", c.ep, r.elapsed)
			}
		}
		if code, ok := tr.Unreachable(cases[2].ep.Addr()); !ok || code != lab.ICMPv6ProhibitedCode {
			t.Errorf("Unreachable(%v) = %d, %v", cases[2].ep.Addr(), code, ok)
		}
	})

	t.Run("LAN hosts answer NDP with their MACs and absent ones not", func(t *testing.T) {
		neigh := neighbours6(t, l)
		for _, h := range tr.Hosts {
			if got, want := neigh[h.Addr6.String()], net.HardwareAddr(h.MAC[:]).String(); got != want {
				t.Errorf("scanner's IPv6 neighbour %s has MAC %q, want %s (its own)", h.Addr6, got, want)
			}
		}
		for _, absent := range []string{"2001:2:0:1::2", "2001:2:0:1::11"} {
			if mac, ok := neigh[absent]; ok {
				t.Errorf("absent LAN address %s answered NDP with %s", absent, mac)
			}
		}
	})
}

// serviceRequest6 is serviceRequest for an IPv6 address: DNS asks for AAAA
// and wants the probed address back.
func serviceRequest6(port uint16, seq int) udpRequest {
	if port != 53 {
		return serviceRequest(port, seq)
	}
	q := dnsQuery(uint16(0x6000+seq), "probe6.fastscan.lab", layers.DNSTypeAAAA, layers.DNSClassIN)
	return udpRequest{"dns", q, func(reply []byte, local netip.Addr) error {
		r, err := checkDNSReply(q, reply)
		if err != nil {
			return err
		}
		if r.ResponseCode != layers.DNSResponseCodeNoErr || len(r.Answers) != 1 || r.Answers[0].Type != layers.DNSTypeAAAA {
			return fmt.Errorf("rcode %v with %d answers, want NOERROR with one AAAA", r.ResponseCode, len(r.Answers))
		}
		if a, ok := netip.AddrFromSlice(r.Answers[0].IP); !ok || a != local {
			return fmt.Errorf("AAAA record %v, want the probed address %v", r.Answers[0].IP, local)
		}
		return nil
	}}
}

func TestUDPGroundTruthIPv6WithSockets(t *testing.T) {
	l := labtest.Start(t)
	tr := l.Truth()
	rng := rand.New(rand.NewPCG(6, 17))

	live := []netip.Addr{addrIn(tr.AnyIPPrefix6, 0), addrIn(tr.AnyIPPrefix6, 0xffff), tr.RemoteWANAddr6}
	for range 8 {
		live = append(live, addrIn(tr.AnyIPPrefix6, uint16(rng.IntN(65536))))
	}
	for _, h := range tr.Hosts {
		live = append(live, h.Addr6)
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
	if len(open) < 3*11+3 || len(closed) < 2*len(live) {
		t.Fatalf("sample has %d open and %d closed endpoints; the truth lost its UDP services", len(open), len(closed))
	}

	t.Run("open ports answer from the probed address", func(t *testing.T) {
		parallel(len(open), func(i int) {
			ep := open[i]
			r := serviceRequest6(ep.Port(), i)
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

	t.Run("closed ports answer ICMPv6 port unreachable", func(t *testing.T) {
		parallel(len(closed), func(i int) {
			if err := udpConnected(l, closed[i], []byte("probe"), 2*time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("UDP to %s: %v; truth says closed (want ECONNREFUSED)", closed[i], err)
			}
		})
	})

	t.Run("routed regions", func(t *testing.T) {
		cases := []struct {
			ep   netip.AddrPort
			want lab.State
			err  error // nil: a timeout
		}{
			{netip.AddrPortFrom(addrIn(tr.BlackholePrefix6, 3), 53), lab.StateOpenFiltered, nil},
			{netip.AddrPortFrom(addrIn(tr.ProhibitedPrefix6, 3), 53), lab.StateFiltered, syscall.EACCES},
			{netip.AddrPortFrom(addrIn(tr.AddrUnreachablePrefix6, 3), 53), lab.StateFiltered, syscall.EHOSTUNREACH},
			{netip.AddrPortFrom(addrIn(tr.PortUnreachablePrefix6, 0x8003), 53), lab.StateClosed, syscall.ECONNREFUSED},
		}
		parallel(len(cases), func(i int) {
			c := cases[i]
			if s := tr.StateUDP(c.ep.Addr(), c.ep.Port()); s != c.want {
				t.Errorf("truth: %s is %v, want %v", c.ep, s, c.want)
				return
			}
			err := udpConnected(l, c.ep, serviceRequest6(53, i).req, 1500*time.Millisecond)
			if (c.err == nil && !isTimeout(err)) || (c.err != nil && !errors.Is(err, c.err)) {
				t.Errorf("UDP to %s (%v): %v, want %v (nil: a timeout)", c.ep, c.want, err, c.err)
			}
		})
	})
}

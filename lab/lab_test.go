package lab_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fastscan/fastscan/citest"
	"github.com/fastscan/fastscan/lab"
	"github.com/fastscan/fastscan/lab/labtest"
	"github.com/fastscan/fastscan/netns"
)

// labNamespacesWithID lists the namespaces under /run/netns named after id.
func labNamespacesWithID(t *testing.T, id string) []string {
	t.Helper()
	entries, err := os.ReadDir(netns.Dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), id+"-") {
			names = append(names, e.Name())
		}
	}
	return names
}

func TestUpDownLeavesNothingBehind(t *testing.T) {
	citest.RequireRoot(t)
	l, err := lab.Up(context.Background())
	if err != nil {
		t.Fatalf("Up: %v", err)
	}
	for _, ns := range l.Namespaces() {
		if _, err := os.Stat(filepath.Join(netns.Dir, ns)); err != nil {
			t.Errorf("namespace %s missing while the lab is up: %v", ns, err)
		}
		if !lab.IsLabNamespace(ns) {
			t.Errorf("namespace %s does not look like a lab namespace", ns)
		}
	}
	if err := l.Down(); err != nil {
		t.Fatalf("Down: %v", err)
	}
	if left := labNamespacesWithID(t, l.ID()); len(left) > 0 {
		t.Errorf("namespaces left after Down: %v", left)
	}
	if err := l.Down(); err != nil {
		t.Errorf("second Down: %v", err)
	}
}

func TestFailedUpCleansUp(t *testing.T) {
	citest.RequireRoot(t)
	for _, step := range lab.BuildSteps() {
		t.Run(step, func(t *testing.T) {
			id, err := lab.NewLabID()
			if err != nil {
				t.Fatal(err)
			}
			l, err := lab.UpFailingAt(context.Background(), id, step)
			if !errors.Is(err, lab.ErrInjected) {
				t.Fatalf("UpFailingAt(%s) error = %v, want the injected failure", step, err)
			}
			if l != nil {
				t.Error("a failed Up returned a lab")
			}
			if left := labNamespacesWithID(t, id); len(left) > 0 {
				t.Errorf("namespaces left after a failure at %s: %v", step, left)
				_ = lab.RemoveNamespaces(context.Background(), left)
			}
		})
	}
}

func TestUpFailsWithCancelledContext(t *testing.T) {
	citest.RequireRoot(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if l, err := lab.Up(ctx); err == nil {
		l.Down()
		t.Fatal("Up with a cancelled context succeeded")
	}
}

// dialResult is what one connect() from the scanner namespace saw.
type dialResult struct {
	err     error
	elapsed time.Duration
}

// dialAll connects from the scanner namespace to every endpoint at once,
// each with the given timeout.
func dialAll(t *testing.T, l *lab.Lab, eps []netip.AddrPort, timeout time.Duration) []dialResult {
	t.Helper()
	res := make([]dialResult, len(eps))
	var wg sync.WaitGroup
	for i, ep := range eps {
		wg.Go(func() {
			start := time.Now()
			err := l.Do(l.ScannerNS(), func() error {
				d := net.Dialer{Timeout: timeout}
				c, err := d.Dial("tcp4", ep.String())
				if err == nil {
					c.Close()
				}
				return err
			})
			res[i] = dialResult{err: err, elapsed: time.Since(start)}
		})
	}
	wg.Wait()
	return res
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestGroundTruthWithSockets(t *testing.T) {
	l := labtest.Start(t)
	tr := l.Truth()
	rng := rand.New(rand.NewPCG(1, 2))
	anyLo := tr.AnyIPPrefix.Addr().As4()

	// A sample of the AnyIP range, the specific listeners, the remote
	// router's own address and every LAN host, open and closed ports.
	var eps []netip.AddrPort
	for range 12 {
		ip := netip.AddrFrom4([4]byte{anyLo[0], anyLo[1], byte(rng.IntN(128)), byte(rng.IntN(256))})
		eps = append(eps,
			netip.AddrPortFrom(ip, tr.AnyIPPorts[rng.IntN(len(tr.AnyIPPorts))]),
			netip.AddrPortFrom(ip, uint16(1+rng.IntN(65535))))
	}
	for _, ap := range tr.AddrPorts {
		eps = append(eps, ap, netip.AddrPortFrom(ap.Addr().Next(), ap.Port()))
	}
	eps = append(eps, netip.AddrPortFrom(tr.RemoteWANAddr, tr.AnyIPPorts[0]), netip.AddrPortFrom(tr.RemoteWANAddr, 9))
	for _, h := range tr.Hosts {
		for _, p := range h.Ports {
			eps = append(eps, netip.AddrPortFrom(h.Addr, p), netip.AddrPortFrom(h.Addr, p-1))
		}
	}
	for i, r := range dialAll(t, l, eps, 2*time.Second) {
		want := tr.State(eps[i].Addr(), eps[i].Port())
		switch {
		case want == lab.StateOpen && r.err != nil:
			t.Errorf("connect %s: %v; truth says open", eps[i], r.err)
		case want == lab.StateClosed && !errors.Is(r.err, syscall.ECONNREFUSED):
			t.Errorf("connect %s: %v; truth says closed (want ECONNREFUSED)", eps[i], r.err)
		case want != lab.StateOpen && want != lab.StateClosed:
			t.Errorf("sample %s has state %v; test expects only open or closed here", eps[i], want)
		}
	}

	t.Run("blackhole times out", func(t *testing.T) {
		bl := tr.BlackholePrefix.Addr().As4()
		eps := []netip.AddrPort{
			netip.AddrPortFrom(netip.AddrFrom4([4]byte{bl[0], bl[1], bl[2] + 3, 7}), 22),
			netip.AddrPortFrom(netip.AddrFrom4([4]byte{bl[0], bl[1], bl[2] + 60, 250}), 80),
		}
		for i, r := range dialAll(t, l, eps, 1200*time.Millisecond) {
			if tr.State(eps[i].Addr(), eps[i].Port()) != lab.StateFiltered {
				t.Fatalf("truth: %s is not filtered", eps[i])
			}
			if !isTimeout(r.err) {
				t.Errorf("connect %s: %v, want a timeout", eps[i], r.err)
			}
		}
	})

	t.Run("prohibited fails fast with ICMP", func(t *testing.T) {
		pr := tr.ProhibitedPrefix.Addr().As4()
		eps := []netip.AddrPort{
			netip.AddrPortFrom(netip.AddrFrom4([4]byte{pr[0], pr[1], pr[2] + 1, 1}), 22),
			netip.AddrPortFrom(netip.AddrFrom4([4]byte{pr[0], pr[1], pr[2] + 63, 254}), 443),
		}
		// The first ICMP error comes back while connect() still holds the
		// socket lock, so the kernel only notes it; the error after the
		// first SYN retransmission (1 s) aborts the connect.
		for i, r := range dialAll(t, l, eps, 4*time.Second) {
			if tr.State(eps[i].Addr(), eps[i].Port()) != lab.StateFiltered {
				t.Fatalf("truth: %s is not filtered", eps[i])
			}
			if !errors.Is(r.err, syscall.EHOSTUNREACH) && !errors.Is(r.err, syscall.EACCES) {
				t.Errorf("connect %s: %v, want EHOSTUNREACH", eps[i], r.err)
			}
			if r.elapsed > 3*time.Second {
				t.Errorf("connect %s took %v; an ICMP error should end it sooner", eps[i], r.elapsed)
			}
		}
	})

	t.Run("absent LAN addresses do not answer", func(t *testing.T) {
		lan := tr.LANPrefix.Addr().As4()
		eps := []netip.AddrPort{
			netip.AddrPortFrom(netip.AddrFrom4([4]byte{lan[0], lan[1], lan[2], 11}), 22),
			netip.AddrPortFrom(netip.AddrFrom4([4]byte{lan[0], lan[1], lan[2], 200}), 80),
		}
		for i, r := range dialAll(t, l, eps, time.Second) {
			if tr.State(eps[i].Addr(), eps[i].Port()) != lab.StateDown {
				t.Fatalf("truth: %s is not down", eps[i])
			}
			if r.err == nil || errors.Is(r.err, syscall.ECONNREFUSED) {
				t.Errorf("connect %s: %v; nothing should answer there", eps[i], r.err)
			}
		}
	})

	t.Run("LAN hosts have their MACs and absent ones none", func(t *testing.T) {
		out, err := l.Command(context.Background(), "ip", "-4", "neigh", "show", "dev", lab.ScannerLANIface).CombinedOutput()
		if err != nil {
			t.Fatalf("ip neigh: %v: %s", err, out)
		}
		neigh := map[string]string{} // address -> lladdr
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			f := strings.Fields(line)
			for i := 1; i+1 < len(f); i++ {
				if f[i] == "lladdr" {
					neigh[f[0]] = f[i+1]
				}
			}
		}
		for _, h := range tr.Hosts {
			if got, want := neigh[h.Addr.String()], net.HardwareAddr(h.MAC[:]).String(); got != want {
				t.Errorf("scanner's neighbour %s has MAC %q, want %s", h.Addr, got, want)
			}
		}
		for _, absent := range []string{"198.18.1.11", "198.18.1.200"} {
			if mac, ok := neigh[absent]; ok {
				t.Errorf("absent LAN address %s answered ARP with %s", absent, mac)
			}
		}
	})
}

func TestCommandRunsInScannerNamespace(t *testing.T) {
	l := labtest.Start(t)
	out, err := l.Command(context.Background(), "ip", "-o", "-4", "addr", "show").CombinedOutput()
	if err != nil {
		t.Fatalf("ip addr in scanner namespace: %v: %s", err, out)
	}
	tr := l.Truth()
	for _, want := range []string{tr.ScannerWANAddr.String() + "/30", tr.ScannerLANAddr.String() + "/24", "127.0.0.1/8"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("scanner namespace lacks %s:\n%s", want, out)
		}
	}
	if lines := strings.Count(strings.TrimSpace(string(out)), "\n") + 1; lines != 3 {
		t.Errorf("scanner namespace has %d IPv4 addresses, want 3:\n%s", lines, out)
	}
	routes, err := l.Command(context.Background(), "ip", "route", "show", "default").CombinedOutput()
	if err != nil || strings.TrimSpace(string(routes)) != "" {
		t.Errorf("scanner namespace has a default route (%v): %s", err, routes)
	}
}

func TestDoRunsInsideTheNamespaceOnly(t *testing.T) {
	l := labtest.Start(t)
	names := func() (names []string, err error) {
		ifs, err := net.Interfaces()
		for _, i := range ifs {
			names = append(names, i.Name)
		}
		return names, err
	}
	before, err := names()
	if err != nil {
		t.Fatal(err)
	}
	var inside []string
	if err := l.Do(l.ScannerNS(), func() (err error) { inside, err = names(); return err }); err != nil {
		t.Fatal(err)
	}
	if want := []string{"lo", lab.ScannerWANIface, lab.ScannerLANIface}; strings.Join(inside, ",") != strings.Join(want, ",") {
		t.Errorf("interfaces in the scanner namespace = %v, want %v", inside, want)
	}
	after, err := names()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(before, ",") != strings.Join(after, ",") {
		t.Errorf("the caller's namespace changed: interfaces %v, then %v", before, after)
	}
	sentinel := errors.New("sentinel")
	if err := l.Do(l.RemoteNS(), func() error { return sentinel }); !errors.Is(err, sentinel) {
		t.Errorf("Do returned %v, want fn's error", err)
	}
}

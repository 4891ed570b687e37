package lab_test

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fastscan/fastscan/lab/labtest"
)

// LimitRate polices the IPv6 AnyIP range as it does the IPv4 one: SYNs
// above the rate are dropped on the way in, and remove lifts the limit.
func TestLimitRateIPv6(t *testing.T) {
	l := labtest.Start(t)
	tr := l.Truth()
	var send, rtcp int
	if err := l.Do(l.ScannerNS(), func() error {
		var err error
		if send, err = unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP); err != nil {
			return err
		}
		if err := unix.SetsockoptInt(send, unix.IPPROTO_IPV6, unix.IPV6_CHECKSUM, 16); err != nil {
			return err
		}
		if rtcp, err = unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP); err != nil {
			return err
		}
		return unix.SetsockoptInt(rtcp, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 32<<20)
	}); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(send)
	defer unix.Close(rtcp)

	// burst sends n SYNs to distinct AnyIP addresses as fast as the socket
	// takes them and returns how many addresses answered, and the time the
	// sending took.
	const n = 2000
	port := tr.AnyIPPorts[0]
	burst := func(first uint16) (int, time.Duration) {
		a := &answers6{synAck: map[netip.Addr]bool{}, rst: map[netip.Addr]bool{}, icmp: map[uint8]map[netip.Addr]bool{}, from: map[netip.Addr]bool{}}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() { read6(rtcp, -1, unix.IPPROTO_TCP, port, a, stop) })
		start := time.Now()
		for i := range n {
			dst := addrIn(tr.AnyIPPrefix6, first+uint16(i))
			if err := sendRetrying(send, syn6(30000+uint16(i), port, uint32(i)), &unix.SockaddrInet6{Addr: dst.As16()}); err != nil {
				t.Errorf("send: %v", err)
				break
			}
		}
		sent := time.Since(start)
		time.Sleep(time.Second)
		close(stop)
		wg.Wait()
		return len(a.synAck), sent
	}

	const pps, limitBurst = 1000, 50
	remove, err := l.LimitRate(context.Background(), pps, limitBurst)
	if err != nil {
		t.Fatal(err)
	}
	got, sent := burst(0)
	// At most the burst plus the rate over the time the probes took to
	// arrive (sending them, with a margin for queued ones).
	if most := limitBurst + int(float64(pps)*(sent+100*time.Millisecond).Seconds()); got > most || got == 0 || got >= n {
		t.Errorf("limited: %d of %d SYNs (sent in %v) answered, want between 1 and %d", got, n, sent, most)
	}
	t.Logf("limited to %d/s: %d of %d SYNs sent in %v answered", pps, got, n, sent)
	if err := remove(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, sent := burst(n); got < n*99/100 {
		t.Errorf("after remove: %d of %d SYNs (sent in %v) answered", got, n, sent)
	}
}

package lab_test

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fastscan/fastscan/lab"
	"github.com/fastscan/fastscan/lab/labtest"
)

// answers6 are the answers to a burst of IPv6 SYNs, per probed address.
type answers6 struct {
	mu     sync.Mutex
	synAck map[netip.Addr]bool
	rst    map[netip.Addr]bool
	icmp   map[uint8]map[netip.Addr]bool // ICMPv6 destination unreachable, by code: the quoted destination
	from   map[netip.Addr]bool           // sources of the ICMPv6 errors
}

// count runs pick under the lock.
func (a *answers6) count(pick func(*answers6) (int, int)) (int, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return pick(a)
}

// syn6 builds a TCP SYN header (20 bytes); the kernel fills in the checksum
// (IPV6_CHECKSUM) and the IPv6 header.
func syn6(srcPort, dstPort uint16, seq uint32) []byte {
	tcp := make([]byte, 20)
	binary.BigEndian.PutUint16(tcp[0:], srcPort)
	binary.BigEndian.PutUint16(tcp[2:], dstPort)
	binary.BigEndian.PutUint32(tcp[4:], seq)
	tcp[12], tcp[13] = 5<<4, 0x02
	binary.BigEndian.PutUint16(tcp[14:], 1024)
	return tcp
}

// udp6 builds a UDP header with an 8-byte payload; the kernel fills in the
// checksum (IPV6_CHECKSUM) and the IPv6 header.
func udp6(srcPort, dstPort uint16) []byte {
	u := make([]byte, 16)
	binary.BigEndian.PutUint16(u[0:], srcPort)
	binary.BigEndian.PutUint16(u[2:], dstPort)
	binary.BigEndian.PutUint16(u[4:], 16)
	copy(u[8:], "fastlab6")
	return u
}

// TestBurstAnswersIPv6 sends raw IPv6 SYNs from the scanner namespace to
// every address of the AnyIP /112 (65,536: the issue's "routed IPv6 prefix
// x 1 port") and to samples of the other routed regions, then UDP
// datagrams to a closed port of every AnyIP address, and checks that the
// lab answers every probe as Truth says, paced by a 1 ms pause every 100
// probes: SYN-ACK, RST, ICMPv6 1/1, 1/3, 1/4 from the remote router,
// nothing, and for UDP ICMPv6 port unreachable from each probed address.
// No rate limit may hide an answer.
func TestBurstAnswersIPv6(t *testing.T) {
	l := labtest.Start(t)
	tr := l.Truth()
	var send, sendUDP, rtcp, ricmp int
	err := l.Do(l.ScannerNS(), func() error {
		var err error
		if send, err = unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP); err != nil {
			return fmt.Errorf("raw send socket: %w", err)
		}
		if err := unix.SetsockoptInt(send, unix.IPPROTO_IPV6, unix.IPV6_CHECKSUM, 16); err != nil {
			return fmt.Errorf("IPV6_CHECKSUM: %w", err)
		}
		if sendUDP, err = unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP); err != nil {
			return fmt.Errorf("raw UDP send socket: %w", err)
		}
		if err := unix.SetsockoptInt(sendUDP, unix.IPPROTO_IPV6, unix.IPV6_CHECKSUM, 6); err != nil {
			return fmt.Errorf("IPV6_CHECKSUM: %w", err)
		}
		if rtcp, err = unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP); err != nil {
			return fmt.Errorf("raw TCP socket: %w", err)
		}
		if ricmp, err = unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMPV6); err != nil {
			return fmt.Errorf("raw ICMPv6 socket: %w", err)
		}
		for _, fd := range []int{rtcp, ricmp} {
			if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 32<<20); err != nil {
				return fmt.Errorf("SO_RCVBUFFORCE: %w", err)
			}
			tv := unix.NsecToTimeval((20 * time.Millisecond).Nanoseconds())
			if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
				return fmt.Errorf("SO_RCVTIMEO: %w", err)
			}
		}
		return nil
	})
	t.Cleanup(func() {
		for _, fd := range []int{send, sendUDP, rtcp, ricmp} {
			if fd > 0 {
				unix.Close(fd)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}

	regions := []struct {
		name   string
		prefix netip.Prefix
		n      int
		port   uint16
		state  lab.State
		answer func(*answers6) (int, int) // addresses answered as expected, wrongly
		udp    bool                       // UDP probes (ICMPv6 from the probed address), not SYNs
	}{
		{"open /112", tr.AnyIPPrefix6, 65536, tr.AnyIPPorts[1], lab.StateOpen, func(a *answers6) (int, int) { return len(a.synAck), len(a.rst) + icmpCount(a) }, false},
		{"closed", tr.AnyIPPrefix6, 1500, 81, lab.StateClosed, func(a *answers6) (int, int) { return len(a.rst), len(a.synAck) + icmpCount(a) }, false},
		{"prohibited", tr.ProhibitedPrefix6, 1500, 22, lab.StateFiltered, func(a *answers6) (int, int) {
			return len(a.icmp[lab.ICMPv6ProhibitedCode]), len(a.synAck) + len(a.rst) + icmpCount(a) - len(a.icmp[lab.ICMPv6ProhibitedCode])
		}, false},
		{"address unreachable", tr.AddrUnreachablePrefix6, 1500, 22, lab.StateFiltered, func(a *answers6) (int, int) {
			return len(a.icmp[lab.ICMPv6AddrUnreachableCode]), len(a.synAck) + len(a.rst) + icmpCount(a) - len(a.icmp[lab.ICMPv6AddrUnreachableCode])
		}, false},
		{"port unreachable", tr.PortUnreachablePrefix6, 1500, 22, lab.StateFiltered, func(a *answers6) (int, int) {
			return len(a.icmp[lab.ICMPv6PortUnreachableCode]), len(a.synAck) + len(a.rst) + icmpCount(a) - len(a.icmp[lab.ICMPv6PortUnreachableCode])
		}, false},
		{"blackhole", tr.BlackholePrefix6, 1500, 22, lab.StateFiltered, func(a *answers6) (int, int) {
			return 0, len(a.synAck) + len(a.rst) + icmpCount(a)
		}, false},
		{"UDP closed /112", tr.AnyIPPrefix6, 65536, 9, lab.StateClosed, func(a *answers6) (int, int) {
			return len(a.icmp[lab.ICMPv6PortUnreachableCode]), len(a.synAck) + len(a.rst) + icmpCount(a) - len(a.icmp[lab.ICMPv6PortUnreachableCode])
		}, true},
	}
	for _, reg := range regions {
		t.Run(reg.name, func(t *testing.T) {
			a := &answers6{synAck: map[netip.Addr]bool{}, rst: map[netip.Addr]bool{}, icmp: map[uint8]map[netip.Addr]bool{}, from: map[netip.Addr]bool{}}
			stop := make(chan struct{})
			var wg sync.WaitGroup
			proto := byte(unix.IPPROTO_TCP)
			if reg.udp {
				proto = unix.IPPROTO_UDP
			}
			wg.Go(func() { read6(rtcp, ricmp, proto, reg.port, a, stop) })
			start := time.Now()
			for i := range reg.n {
				dst := addrIn(reg.prefix, uint16(i))
				state, fd, probe := tr.State(dst, reg.port), send, syn6(40000+uint16(i%20000), reg.port, uint32(i)*7919)
				if reg.udp {
					state, fd, probe = tr.StateUDP(dst, reg.port), sendUDP, udp6(40000+uint16(i%20000), reg.port)
				}
				if got := state; got != reg.state {
					close(stop)
					wg.Wait()
					t.Fatalf("truth: %s:%d is %v, not %v", dst, reg.port, got, reg.state)
				}
				if err := sendRetrying(fd, probe, &unix.SockaddrInet6{Addr: dst.As16()}); err != nil {
					close(stop)
					wg.Wait()
					t.Fatalf("send probe %d: %v", i, err)
				}
				if i%100 == 99 {
					time.Sleep(time.Millisecond) // about 100,000 probes/s
				}
			}
			sent := time.Since(start)
			deadline := time.Now().Add(2 * time.Second)
			if reg.name == "blackhole" {
				deadline = time.Now().Add(500 * time.Millisecond)
			}
			for time.Now().Before(deadline) {
				if got, _ := a.count(reg.answer); got >= reg.n {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			close(stop)
			wg.Wait()
			got, wrong := reg.answer(a)
			t.Logf("%d probes sent in %v: %d addresses answered as expected, %d wrongly", reg.n, sent, got, wrong)
			if wrong > 0 {
				t.Errorf("%d addresses answered in a way the truth does not allow", wrong)
			}
			if reg.name != "blackhole" && got < reg.n*99/100 {
				t.Errorf("only %d of %d probed addresses answered; something drops or rate-limits replies", got, reg.n)
			}
			// Every ICMPv6 error comes from the remote router's address: for
			// the AnyIP range too, as Linux sends ICMPv6 errors from the
			// offending packet's destination only when that address is
			// assigned to an interface, which AnyIP addresses are not (ICMP
			// for IPv4 does come from the AnyIP address).
			for from := range a.from {
				if want := tr.RemoteWANAddr6; from != want {
					t.Errorf("ICMPv6 error from %s, want the remote router %s", from, want)
				}
			}
		})
	}
}

// icmpCount is the number of addresses any ICMPv6 error quoted.
func icmpCount(a *answers6) int {
	n := 0
	for _, s := range a.icmp {
		n += len(s)
	}
	return n
}

// read6 reads the raw TCP and ICMPv6 sockets until stop is closed, keeping
// the answers to probes of protocol proto for port.
func read6(rtcp, ricmp int, proto byte, port uint16, a *answers6, stop <-chan struct{}) {
	buf := make([]byte, 2048)
	for {
		select {
		case <-stop:
			return
		default:
		}
		got := false
		for _, fd := range []int{rtcp, ricmp} {
			if fd < 0 {
				continue
			}
			for range 4096 {
				n, from, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT)
				if err != nil {
					break
				}
				got = true
				sa, ok := from.(*unix.SockaddrInet6)
				if !ok {
					continue
				}
				src := netip.AddrFrom16(sa.Addr)
				a.mu.Lock()
				switch {
				case fd == rtcp && n >= 14 && binary.BigEndian.Uint16(buf[0:]) == port:
					if flags := buf[13]; flags&0x12 == 0x12 {
						a.synAck[src] = true
					} else if flags&0x04 != 0 {
						a.rst[src] = true
					}
				case fd == ricmp && n >= 8+40+4 && buf[0] == 1 && buf[8+6] == proto &&
					binary.BigEndian.Uint16(buf[8+40+2:]) == port:
					quoted := netip.AddrFrom16([16]byte(buf[8+24 : 8+40]))
					if a.icmp[buf[1]] == nil {
						a.icmp[buf[1]] = map[netip.Addr]bool{}
					}
					a.icmp[buf[1]][quoted] = true
					a.from[src] = true
				}
				a.mu.Unlock()
			}
		}
		if !got {
			time.Sleep(time.Millisecond)
		}
	}
}

package lab_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fastscan/fastscan/lab"
	"github.com/fastscan/fastscan/lab/labtest"
)

// rawSockets are the scanner-namespace raw sockets of the burst test.
type rawSockets struct {
	send, tcp, icmp int
}

func openRawSockets(t *testing.T, l *lab.Lab) rawSockets {
	t.Helper()
	var rs rawSockets
	err := l.Do(l.ScannerNS(), func() error {
		var err error
		if rs.send, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW); err != nil {
			return fmt.Errorf("raw send socket: %w", err)
		}
		for _, s := range []struct {
			fd    *int
			proto int
		}{{&rs.tcp, unix.IPPROTO_TCP}, {&rs.icmp, unix.IPPROTO_ICMP}} {
			if *s.fd, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, s.proto); err != nil {
				return fmt.Errorf("raw receive socket: %w", err)
			}
			if err = unix.SetsockoptInt(*s.fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 32<<20); err != nil {
				return fmt.Errorf("SO_RCVBUFFORCE: %w", err)
			}
			tv := unix.NsecToTimeval((50 * time.Millisecond).Nanoseconds())
			if err = unix.SetsockoptTimeval(*s.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
				return fmt.Errorf("SO_RCVTIMEO: %w", err)
			}
		}
		return nil
	})
	t.Cleanup(func() {
		for _, fd := range []int{rs.send, rs.tcp, rs.icmp} {
			if fd > 0 {
				unix.Close(fd)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// checksum is the Internet checksum of b with an initial sum.
func checksum(sum uint32, b []byte) uint16 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// synPacket builds an IPv4 + TCP SYN packet (checksums included).
// sendRetrying sends b to to on the raw socket fd; a full socket buffer on
// a loaded machine (ENOBUFS) is waited out and the same packet sent again, a
// bounded number of times.
func sendRetrying(fd int, b []byte, to unix.Sockaddr) error {
	err := unix.Sendto(fd, b, 0, to)
	for try := 0; errors.Is(err, unix.ENOBUFS) && try < 50; try++ {
		time.Sleep(2 * time.Millisecond)
		err = unix.Sendto(fd, b, 0, to)
	}
	return err
}

func synPacket(src, dst netip.Addr, srcPort, dstPort uint16, seq uint32) []byte {
	p := make([]byte, 40)
	p[0], p[8], p[9] = 0x45, 64, unix.IPPROTO_TCP
	binary.BigEndian.PutUint16(p[2:], 40)
	binary.BigEndian.PutUint16(p[6:], 0x4000)
	s, d := src.As4(), dst.As4()
	copy(p[12:16], s[:])
	copy(p[16:20], d[:])
	binary.BigEndian.PutUint16(p[10:], checksum(0, p[:20]))
	tcp := p[20:]
	binary.BigEndian.PutUint16(tcp[0:], srcPort)
	binary.BigEndian.PutUint16(tcp[2:], dstPort)
	binary.BigEndian.PutUint32(tcp[4:], seq)
	tcp[12], tcp[13] = 5<<4, 0x02
	binary.BigEndian.PutUint16(tcp[14:], 1024)
	var pseudo uint32
	for _, b := range [][]byte{s[:], d[:]} {
		pseudo += uint32(binary.BigEndian.Uint16(b[0:])) + uint32(binary.BigEndian.Uint16(b[2:]))
	}
	pseudo += unix.IPPROTO_TCP + 20
	binary.BigEndian.PutUint16(tcp[16:], checksum(pseudo, tcp))
	return p
}

// replies are the answers seen per probed address.
type replies struct {
	synAck, rst, icmpProhibited map[netip.Addr]bool
	icmpFrom                    map[netip.Addr]bool
}

// readIPv4 polls the raw sockets fds until deadline or until done says so, and
// hands every IPv4 packet they hold (at least a basic header long) to handle,
// with the length of its IP header.
func readIPv4(fds []int, deadline time.Time, done func() bool, handle func(fd int, pkt []byte, ihl int)) {
	buf := make([]byte, 2048)
	for time.Now().Before(deadline) && !done() {
		for _, fd := range fds {
			for {
				n, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT)
				if err != nil {
					break
				}
				if n >= 20 {
					handle(fd, buf[:n], int(buf[0]&0x0f)*4)
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// collect reads both receive sockets until deadline or until want distinct
// addresses have answered in total.
func collect(t *testing.T, rs rawSockets, deadline time.Time, want int) replies {
	t.Helper()
	r := replies{map[netip.Addr]bool{}, map[netip.Addr]bool{}, map[netip.Addr]bool{}, map[netip.Addr]bool{}}
	done := func() bool { return len(r.synAck)+len(r.rst)+len(r.icmpProhibited) >= want }
	readIPv4([]int{rs.tcp, rs.icmp}, deadline, done, func(fd int, pkt []byte, ihl int) {
		src := netip.AddrFrom4([4]byte(pkt[12:16]))
		switch {
		case fd == rs.tcp && len(pkt) >= ihl+14:
			flags := pkt[ihl+13]
			if flags&0x12 == 0x12 {
				r.synAck[src] = true
			} else if flags&0x04 != 0 {
				r.rst[src] = true
			}
		case fd == rs.icmp && len(pkt) >= ihl+8+20 && pkt[ihl] == 3 && pkt[ihl+1] == lab.ICMPProhibitedCode:
			quoted := pkt[ihl+8:]
			r.icmpProhibited[netip.AddrFrom4([4]byte(quoted[16:20]))] = true
			r.icmpFrom[src] = true
		}
	})
	return r
}

// TestBurstAnswers sends bursts of raw SYNs from the scanner namespace and
// checks that the lab answers every one of them the way Truth says: SYN-ACK
// for open, RST for closed, ICMP admin-prohibited (and no TCP) for the
// prohibited range, nothing at all for the blackhole. This checks that no
// rate limit (ICMP or otherwise) hides answers from a fast scanner.
func TestBurstAnswers(t *testing.T) {
	l := labtest.Start(t)
	tr := l.Truth()
	rs := openRawSockets(t, l)
	const (
		n     = 1500 // probes per region; bounded
		batch = 100  // probes between short pauses
		// minAnswered is the share of probes that must be answered: default
		// ICMP rate limits answer about 3% of such a burst, so 99% proves
		// they are lifted while tolerating a rare drop on a busy machine.
		minAnswered = n * 99 / 100
	)
	regions := []struct {
		name   string
		prefix netip.Prefix
		port   uint16
		state  lab.State
		want   func(replies) (int, int) // (matching answers, wrong answers)
	}{
		{"open", tr.AnyIPPrefix, tr.AnyIPPorts[1], lab.StateOpen, func(r replies) (int, int) { return len(r.synAck), len(r.rst) + len(r.icmpProhibited) }},
		{"closed", tr.AnyIPPrefix, 81, lab.StateClosed, func(r replies) (int, int) { return len(r.rst), len(r.synAck) + len(r.icmpProhibited) }},
		{"prohibited", tr.ProhibitedPrefix, tr.AnyIPPorts[0], lab.StateFiltered, func(r replies) (int, int) {
			return len(r.icmpProhibited), len(r.synAck) + len(r.rst)
		}},
		{"blackhole", tr.BlackholePrefix, tr.AnyIPPorts[0], lab.StateFiltered, func(r replies) (int, int) {
			return 0, len(r.synAck) + len(r.rst) + len(r.icmpProhibited)
		}},
	}
	for _, reg := range regions {
		t.Run(reg.name, func(t *testing.T) {
			base := reg.prefix.Addr().As4()
			start := time.Now()
			for i := range n {
				dst := netip.AddrFrom4([4]byte{base[0], base[1], base[2] + byte(i>>8), byte(i)})
				if got := tr.State(dst, reg.port); got != reg.state {
					t.Fatalf("truth: %s:%d is %v, not %v", dst, reg.port, got, reg.state)
				}
				pkt := synPacket(tr.ScannerWANAddr, dst, 40000+uint16(i%20000), reg.port, uint32(i)*7919)
				if err := sendRetrying(rs.send, pkt, &unix.SockaddrInet4{Addr: dst.As4()}); err != nil {
					t.Fatalf("send probe %d: %v", i, err)
				}
				if i%batch == batch-1 {
					// About 100,000 probes/s: far above any default ICMP
					// limit, and gentle enough for a loaded 2-core machine.
					time.Sleep(time.Millisecond)
				}
			}
			sent := time.Since(start)
			wait := 1500 * time.Millisecond
			if reg.name == "blackhole" {
				wait = 500 * time.Millisecond // only checks that nothing comes back
			}
			r := collect(t, rs, time.Now().Add(wait), n)
			got, wrong := reg.want(r)
			t.Logf("%d probes sent in %v: %d answered as expected, %d wrongly", n, sent, got, wrong)
			if wrong > 0 {
				t.Errorf("%d addresses answered in a way the truth does not allow", wrong)
			}
			if reg.name != "blackhole" && got < minAnswered {
				t.Errorf("only %d of %d probed addresses answered; something drops or rate-limits replies", got, n)
			}
			if reg.name == "prohibited" {
				for from := range r.icmpFrom {
					if from != tr.RemoteWANAddr {
						t.Errorf("ICMP error from %s, want the remote router %s", from, tr.RemoteWANAddr)
					}
				}
			}
		})
	}
}

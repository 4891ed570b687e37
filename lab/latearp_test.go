package lab_test

import (
	"encoding/binary"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fastscan/fastscan/lab"
	"github.com/fastscan/fastscan/lab/labtest"
)

// The slow LAN host answers an ARP request once, LateARPDelay after it, with its
// MAC; the others answer at once.
func TestLateARPHostAnswersLate(t *testing.T) {
	l := labtest.Start(t)
	tr := l.Truth()
	var fd int
	err := l.Do(l.ScannerNS(), func() error {
		ifc, err := net.InterfaceByName(lab.ScannerLANIface)
		if err != nil {
			return err
		}
		if fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0x0608); err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: 0x0608, Ifindex: ifc.Index})
	})
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	for _, h := range tr.Hosts {
		req := make([]byte, 42)
		for i := range 6 {
			req[i] = 0xff
		}
		copy(req[6:], tr.ScannerLANMAC[:])
		binary.BigEndian.PutUint16(req[12:], 0x0806)
		copy(req[14:], []byte{0, 1, 8, 0, 6, 4, 0, 1})
		copy(req[22:], tr.ScannerLANMAC[:])
		src, dst := tr.ScannerLANAddr.As4(), h.Addr.As4()
		copy(req[28:], src[:])
		copy(req[38:], dst[:])
		start := time.Now()
		if _, err := unix.Write(fd, req); err != nil {
			t.Fatal(err)
		}
		var replies []time.Duration
		buf := make([]byte, 1600)
		for time.Since(start) < 4*lab.LateARPDelay {
			pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			unix.Poll(pfd, 5)
			for {
				n, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT)
				if err != nil {
					break
				}
				if n >= 42 && binary.BigEndian.Uint16(buf[20:]) == 2 && [4]byte(buf[28:32]) == dst {
					if [6]byte(buf[22:28]) != h.MAC {
						t.Errorf("%v answered ARP with MAC %x", h.Addr, buf[22:28])
					}
					replies = append(replies, time.Since(start))
				}
			}
		}
		if len(replies) != 1 {
			t.Errorf("%v: %d ARP replies (%v), want 1", h.Addr, len(replies), replies)
			continue
		}
		t.Logf("%v answered ARP after %v", h.Addr, replies[0])
		if h.ARPDelay > 0 && (replies[0] < h.ARPDelay || replies[0] > h.ARPDelay+40*time.Millisecond) {
			t.Errorf("%v answered ARP after %v, want %v late", h.Addr, replies[0], h.ARPDelay)
		}
		if h.ARPDelay == 0 && replies[0] > 20*time.Millisecond {
			t.Errorf("%v answered ARP after %v, want at once", h.Addr, replies[0])
		}
	}
}

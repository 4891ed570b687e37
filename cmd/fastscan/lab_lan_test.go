package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fastscan/fastscan/citest"
	"github.com/fastscan/fastscan/compare"
	"github.com/fastscan/fastscan/lab"
	"github.com/fastscan/fastscan/lab/labtest"
)

// The on-link LAN: ARP runs beside the sender (engine/onlink.go). These tests scan
// the lab's /24 x 1-1024 with the scanner's neighbour table emptied first, as a
// first scan of a LAN finds it.

// flushNeighbours empties the scanner namespace's neighbour table.
func flushNeighbours(t *testing.T, l *lab.Lab) {
	t.Helper()
	if out, err := l.Command(context.Background(), "ip", "neigh", "flush", "all").CombinedOutput(); err != nil {
		t.Fatalf("ip neigh flush: %v: %s", err, out)
	}
}

// lanPorts is 1-1024.
func lanPorts() []uint16 {
	ps := make([]uint16, 1024)
	for i := range ps {
		ps[i] = uint16(i + 1)
	}
	return ps
}

// Every host of the LAN, the one answering ARP 50 ms late included, with every
// port as the truth has it; nothing else.
func TestLabLANFindsEveryHost(t *testing.T) {
	l := labtest.Start(t)
	truth := l.Truth()
	first, last := netip.MustParseAddr("198.18.1.0"), netip.MustParseAddr("198.18.1.255")
	late := 0
	for _, h := range truth.Hosts {
		if h.ARPDelay > 0 {
			late++
		}
	}
	if late == 0 {
		t.Fatal("the lab has no host answering ARP late")
	}
	for round := range 2 {
		flushNeighbours(t, l)
		out := scanLab(t, l, "198.18.1.0/24", "-p", "1-1024", "-r", "300000", "--show", "open,closed")
		compareWithTruth(t, truth, out, first, last, lanPorts(), true)
		t.Logf("round %d: %v", round, out.elapsed)
	}
}

// frameCounter counts the frames leaving the scanner's LAN interface: TCP SYNs by
// destination, ARP requests by the address asked for.
type frameCounter struct {
	mu   sync.Mutex
	syns map[netip.Addr]int
	arps map[netip.Addr]int
}

// captureLAN captures on lan0 in the scanner namespace until stop is called.
func captureLAN(t *testing.T, l *lab.Lab) (*frameCounter, func()) {
	t.Helper()
	var fd int
	err := l.Do(l.ScannerNS(), func() error {
		ifc, err := net.InterfaceByName(lab.ScannerLANIface)
		if err != nil {
			return err
		}
		const all = 0x0300 // htons(ETH_P_ALL)
		if fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, all); err != nil {
			return err
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 64<<20); err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: all, Ifindex: ifc.Index})
	})
	if err != nil {
		t.Fatal(err)
	}
	c := &frameCounter{syns: map[netip.Addr]int{}, arps: map[netip.Addr]int{}}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 2048)
		for {
			select {
			case <-done:
				return
			default:
			}
			pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			unix.Poll(pfd, 10)
			for {
				n, from, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT)
				if err != nil {
					break
				}
				if ll, ok := from.(*unix.SockaddrLinklayer); !ok || ll.Pkttype != unix.PACKET_OUTGOING {
					continue
				}
				c.add(buf[:n])
			}
		}
	}()
	return c, func() {
		close(done)
		wg.Wait()
		unix.Close(fd)
	}
}

// add counts one outgoing frame.
func (c *frameCounter) add(f []byte) {
	if len(f) < 42 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch binary.BigEndian.Uint16(f[12:]) {
	case 0x0806: // ARP request: the target protocol address
		if binary.BigEndian.Uint16(f[20:]) == 1 {
			c.arps[netip.AddrFrom4([4]byte(f[38:42]))]++
		}
	case 0x0800:
		ihl := int(f[14]&0x0f) * 4
		if f[23] == unix.IPPROTO_TCP && len(f) >= 14+ihl+14 && f[14+ihl+13]&0x17 == 0x02 { // SYN alone
			c.syns[netip.AddrFrom4([4]byte(f[30:34]))]++
		}
	}
}

// A LAN address that never answers ARP is asked three times (two retries) and
// gets no probe at all; each host that answered gets each port exactly once.
func TestLabLANSilentHostGetsNothing(t *testing.T) {
	l := labtest.Start(t)
	truth := l.Truth()
	flushNeighbours(t, l)
	c, stop := captureLAN(t, l)
	out := scanLab(t, l, "198.18.1.0/24", "-p", "1-1024", "-r", "300000")
	time.Sleep(50 * time.Millisecond) // the capture's last frames
	stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	silent := netip.MustParseAddr("198.18.1.77")
	if _, ok := truth.Host(silent); ok {
		t.Fatalf("%v is a lab host", silent)
	}
	if c.syns[silent] != 0 || c.arps[silent] != 3 {
		t.Errorf("%v (no ARP answer): %d SYNs, %d ARP requests; want 0 and 3", silent, c.syns[silent], c.arps[silent])
	}
	for ip, n := range c.syns {
		if _, ok := truth.Host(ip); !ok {
			t.Errorf("%d SYNs to %v, which never answered ARP", n, ip)
		}
	}
	for _, h := range truth.Hosts {
		if c.syns[h.Addr] != 1024 {
			t.Errorf("%v got %d SYNs, want one per port (1024)", h.Addr, c.syns[h.Addr])
		}
	}
	if n := out.summaryCount(t, "hosts down"); n != 256-uint64(len(truth.Hosts)) {
		t.Errorf("%d hosts down, want %d", n, 256-len(truth.Hosts))
	}
	t.Logf("ARP requests to %v: %d; SYNs to the hosts: %v", silent, c.arps[silent], c.syns)
}

// The LAN /24 x 1-1024 side by side with nmap -sS, in one run, alternating, the
// neighbour table emptied before every run: fastscan's best time is at most
// nmap's best, both with its default timing and with nmap told to go as fast as
// it can (-T5 --min-rate). Every tool's findings are scored against the truth.
func TestLabLANFasterThanNmap(t *testing.T) {
	l := labtest.Start(t)
	nmap := citest.RequireTool(t, "nmap")
	bin := buildStatic(t)
	truth := l.Truth()
	want := truth.Open(netip.MustParseAddr("198.18.1.0"), netip.MustParseAddr("198.18.1.255"), lanPorts())
	dir := t.TempDir()
	type tool struct {
		name  string
		bin   string
		args  []string
		out   string
		parse func(*os.File) (compare.Findings, error)
		best  time.Duration
		worst time.Duration
	}
	jsonl, xml := filepath.Join(dir, "fastscan.jsonl"), filepath.Join(dir, "nmap.xml")
	tools := []*tool{
		{name: "fastscan", bin: bin, out: jsonl, args: []string{"-n", "-q", "198.18.1.0/24", "-p", "1-1024", "-r", "300000", "--format", "jsonl", "-o", jsonl},
			parse: func(f *os.File) (compare.Findings, error) { return compare.ParseFastscanJSONL(f) }},
		{name: "nmap -sS", bin: nmap, out: xml, args: []string{"-n", "-sS", "-p", "1-1024", "--max-rate", "300000", "-oX", xml, "198.18.1.0/24"},
			parse: func(f *os.File) (compare.Findings, error) { return compare.ParseNmapXML(f) }},
		{name: "nmap -sS -T5 --min-rate 300000", bin: nmap, out: xml, args: []string{"-n", "-sS", "-p", "1-1024", "-T5", "--min-rate", "300000", "-oX", xml, "198.18.1.0/24"},
			parse: func(f *os.File) (compare.Findings, error) { return compare.ParseNmapXML(f) }},
	}
	const rounds = 5
	for round := range rounds {
		for i := range tools {
			tl := tools[(i+round)%len(tools)]
			flushNeighbours(t, l)
			os.Remove(tl.out)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			cmd := l.Command(ctx, tl.bin, tl.args...)
			start := time.Now()
			out, err := cmd.CombinedOutput()
			elapsed := time.Since(start)
			cancel()
			if err != nil {
				t.Fatalf("%s: %v\n%s", tl.name, err, out)
			}
			f, err := os.Open(tl.out)
			if err != nil {
				t.Fatal(err)
			}
			found, err := tl.parse(f)
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			missed, extra := compare.Score(found, want)
			if tl.name == "fastscan" && (missed != 0 || extra != 0) {
				t.Errorf("fastscan round %d: %d open ports missed, %d extra", round, missed, extra)
			}
			if missed != 0 || extra != 0 {
				t.Logf("%s round %d: %d missed, %d extra", tl.name, round, missed, extra)
			}
			if tl.best == 0 || elapsed < tl.best {
				tl.best = elapsed
			}
			tl.worst = max(tl.worst, elapsed)
		}
	}
	line := ""
	for _, tl := range tools {
		line += fmt.Sprintf("%s best %.2f s (worst %.2f s, %.2fx fastscan's best); ", tl.name, tl.best.Seconds(), tl.worst.Seconds(), tl.best.Seconds()/tools[0].best.Seconds())
	}
	t.Logf("LAN 198.18.1.0/24 x 1-1024, best of %d: %s", rounds, line)
	for _, tl := range tools[1:] {
		if tools[0].best > tl.best {
			t.Errorf("fastscan's best %v is slower than %s's best %v", tools[0].best, tl.name, tl.best)
		}
	}
}

package lab

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fastscan/fastscan/netns"
)

// A delay line: the lab's stand-in for netem's delay (the machines it runs
// on may lack sch_netem). The bridge's port of a host is taken off the
// bridge, a second veth pair joins the bridge in its place, and a relay
// copies every frame between the two (AF_PACKET sockets in the switch
// namespace), each after its delay. The sockets use PACKET_VNET_HDR, so a
// frame's pending checksum and segmentation (veth offloads) cross the relay
// as they came, and the kernel finishes them on the way out.

// delayLine relays frames between two interfaces, each after a delay.
type delayLine struct {
	fds  [2]int
	stop chan struct{}
	wg   sync.WaitGroup
}

// virtioNetHdrLen is the size of struct virtio_net_hdr, which precedes
// every frame on a socket with PACKET_VNET_HDR.
const virtioNetHdrLen = 10

// delayPoll is how often a blocked read looks whether the line stops.
const delayPoll = 100 * time.Millisecond

// startDelayLine opens the relay between interfaces a and b of namespace
// ns: each frame waits delay plus or minus up to jitter (uniform), in
// order (a frame never overtakes the one before it in its direction).
func startDelayLine(ns, a, b string, delay, jitter time.Duration) (*delayLine, error) {
	d := &delayLine{fds: [2]int{-1, -1}, stop: make(chan struct{})}
	for i, name := range []string{a, b} {
		err := netns.Do(ns, func() error {
			ifc, err := net.InterfaceByName(name)
			if err != nil {
				return err
			}
			fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
			if err != nil {
				return fmt.Errorf("packet socket: %w", err)
			}
			d.fds[i] = fd
			if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1); err != nil {
				return fmt.Errorf("PACKET_VNET_HDR: %w", err)
			}
			tv := unix.NsecToTimeval(int64(delayPoll))
			if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
				return fmt.Errorf("SO_RCVTIMEO: %w", err)
			}
			if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20); err != nil {
				return fmt.Errorf("SO_RCVBUF: %w", err)
			}
			return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifc.Index})
		})
		if err != nil {
			d.close()
			return nil, fmt.Errorf("delay line on %s: %w", name, err)
		}
	}
	for i := range 2 {
		q := make(chan delayed, 4096)
		d.wg.Add(2)
		go d.read(d.fds[i], q, delay, jitter)
		go d.write(d.fds[1-i], q)
	}
	return d, nil
}

// delayed is a frame (with its virtio_net_hdr) and when it goes out.
type delayed struct {
	due   time.Time
	frame []byte
}

// read takes the frames arriving on fd and queues them with their times.
func (d *delayLine) read(fd int, q chan<- delayed, delay, jitter time.Duration) {
	defer d.wg.Done()
	defer close(q)
	var last time.Time
	buf := make([]byte, virtioNetHdrLen+65536+64)
	for {
		select {
		case <-d.stop:
			return
		default:
		}
		n, from, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			return
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue // the relay's own writes
		}
		wait := delay
		if jitter > 0 {
			wait += time.Duration(rand.Int64N(int64(2*jitter)+1)) - jitter
		}
		due := time.Now().Add(wait)
		if due.Before(last) {
			due = last
		}
		last = due
		select {
		case q <- delayed{due, append([]byte(nil), buf[:n]...)}:
		default: // the line is full: the frame is lost, as on a real queue
		}
	}
}

// write sends the queued frames on fd, each at its time.
func (d *delayLine) write(fd int, q <-chan delayed) {
	defer d.wg.Done()
	for f := range q {
		if w := time.Until(f.due); w > 0 {
			select {
			case <-time.After(w):
			case <-d.stop:
				for range q { // let read end
				}
				return
			}
		}
		unix.Write(fd, f.frame) // a frame the kernel refuses is lost
	}
}

// close stops the relay and closes its sockets.
func (d *delayLine) close() {
	select {
	case <-d.stop:
	default:
		close(d.stop)
	}
	d.wg.Wait()
	for _, fd := range d.fds {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}

// insertDelay puts a delay line between the bridge and the host's port:
// the port leaves the bridge, a veth pair (port+"d" on the bridge, port+"e"
// its peer) takes its place, and the relay joins port and port+"e". The
// returned function undoes it.
func (rs *RealServers) insertDelay(ctx context.Context, delay, jitter time.Duration) (func(context.Context) error, error) {
	sw, port := rs.l.SwitchNS(), rs.l.lanPort(rs.NS)
	onBridge, peer := port+"d", port+"e"
	undoLinks := func(ctx context.Context) error {
		return errors.Join(runIP(ctx, "-n", sw, "link", "del", onBridge),
			runIP(ctx, "-n", sw, "link", "set", port, "master", "br0"))
	}
	if err := runIPs(ctx, [][]string{
		{"-n", sw, "link", "add", onBridge, "type", "veth", "peer", "name", peer},
		{"-n", sw, "link", "set", port, "nomaster"},
		{"-n", sw, "link", "set", onBridge, "master", "br0", "up"},
		{"-n", sw, "link", "set", peer, "up"},
	}); err != nil {
		return nil, errors.Join(err, undoLinks(ctx))
	}
	d, err := startDelayLine(sw, port, peer, delay, jitter)
	if err != nil {
		return nil, errors.Join(err, undoLinks(ctx))
	}
	return func(ctx context.Context) error {
		d.close()
		return undoLinks(ctx)
	}, nil
}

// htons converts a 16-bit value to network byte order.
func htons(v uint16) uint16 { return v<<8 | v>>8 }

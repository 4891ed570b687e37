//go:build linux

package connect

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// epollSys is the real Sys: non-blocking TCP sockets with IP_RECVERR, watched by
// one epoll set (level-triggered: a socket is reported until it is closed).
type epollSys struct {
	epfd   int
	events []unix.EpollEvent
	// The error queue read (Finish, on the receiving goroutine only).
	msg unix.Msghdr
	oob [128]byte
}

// NewSys returns the kernel's Sys: sockets and an epoll set.
func NewSys() (Sys, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("connect scan: %w", os.NewSyscallError("epoll_create1", err))
	}
	return &epollSys{epfd: epfd, events: make([]unix.EpollEvent, 256)}, nil
}

// Connect implements Sys: socket, IP_RECVERR (ICMP errors are queued with their
// type, code and sender), bind to bind if given, a non-blocking connect(2), and
// the socket added to the epoll set under tag. An error known at once (no route,
// a local firewall, a refusal on the spot) is the outcome, done.
func (s *epollSys) Connect(bind netip.Addr, dst netip.AddrPort, tag uint64) (int, Outcome, bool, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, Outcome{}, false, os.NewSyscallError("socket", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_IP, unix.IP_RECVERR, 1); err != nil {
		unix.Close(fd)
		return -1, Outcome{}, false, os.NewSyscallError("setsockopt IP_RECVERR", err)
	}
	if bind.IsValid() {
		// The port comes with connect(2), per 4-tuple: binding does not use up
		// the local port range.
		unix.SetsockoptInt(fd, unix.SOL_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
		sa := unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: bind.As4()}
		if _, _, e := unix.Syscall(unix.SYS_BIND, uintptr(fd), uintptr(unsafe.Pointer(&sa)), unix.SizeofSockaddrInet4); e != 0 {
			unix.Close(fd)
			return -1, Outcome{}, false, os.NewSyscallError("bind", e)
		}
	}
	sa := unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: dst.Addr().As4()}
	binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], dst.Port())
	_, _, e := unix.Syscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&sa)), unix.SizeofSockaddrInet4)
	switch e {
	case unix.EINPROGRESS:
	case 0:
		// Connected on the spot.
		o := Outcome{Kind: Connected}
		if selfConnected(fd) {
			o = Outcome{Kind: Refused, Errno: unix.ECONNREFUSED}
		}
		closeConnected(fd)
		return -1, o, true, nil
	case unix.ECONNREFUSED:
		unix.Close(fd)
		return -1, Outcome{Kind: Refused, Errno: e}, true, nil
	case unix.EMFILE, unix.ENFILE, unix.EADDRNOTAVAIL, unix.ENOBUFS, unix.ENOMEM, unix.EAGAIN, unix.EINVAL, unix.EBADF:
		unix.Close(fd)
		return -1, Outcome{}, false, os.NewSyscallError("connect", e)
	default:
		// No route, a local firewall, ...: the kernel decided at once.
		unix.Close(fd)
		return -1, Outcome{Kind: Failed, Errno: e}, true, nil
	}
	ev := unix.EpollEvent{Events: unix.EPOLLOUT, Fd: int32(uint32(tag)), Pad: int32(uint32(tag >> 32))}
	if err := unix.EpollCtl(s.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		unix.Close(fd)
		return -1, Outcome{}, false, os.NewSyscallError("epoll_ctl", err)
	}
	return fd, Outcome{}, false, nil
}

// Wait implements Sys.
func (s *epollSys) Wait(timeout time.Duration, tags []uint64) (int, error) {
	msec := 0
	if timeout > 0 {
		msec = int((timeout + time.Millisecond - 1) / time.Millisecond)
	}
	events := s.events[:min(len(s.events), len(tags))]
	n, err := unix.EpollWait(s.epfd, events, msec)
	if err == unix.EINTR {
		return 0, nil
	}
	if err != nil {
		return 0, os.NewSyscallError("epoll_wait", err)
	}
	for i, ev := range events[:n] {
		tags[i] = uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
	}
	return n, nil
}

// Finish implements Sys: the socket's error (SO_ERROR) and its error queue say
// how the connection ended; the socket is closed (a connected one with a reset).
func (s *epollSys) Finish(fd int) Outcome {
	errno, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	var e syscall.Errno
	if err != nil && errors.As(err, &e) {
		errno = int(e)
	}
	o := Outcome{Errno: syscall.Errno(errno)}
	icmp, queued := s.readErrQueue(fd)
	switch {
	case queued && (errno != 0 || !connected(fd)):
		// An ICMP error ended it (or, a soft error noted while connect(2) held
		// the socket, will end it at the next retransmission).
		icmp.Errno = o.Errno
		o = icmp
	case errno == 0 && selfConnected(fd):
		// A closed port of this host's own address that the kernel also
		// picked as the local port: TCP's simultaneous open connected the
		// socket to itself. Nothing listens there.
		o.Kind, o.Errno = Refused, unix.ECONNREFUSED
	case errno == 0:
		o.Kind = Connected
	case o.Errno == unix.ECONNRESET || o.Errno == unix.EPIPE:
		// A reset after the handshake (the kernel says ECONNREFUSED for one
		// in SYN-SENT; ECONNRESET once established, EPIPE after the peer's
		// FIN): the target answered the SYN with a SYN-ACK, then the service
		// went away before the link looked. Open, as a SYN scan sees it.
		o.Kind = Connected
	case o.Errno == unix.ECONNREFUSED:
		o.Kind = Refused
	default:
		o.Kind = Failed
	}
	if o.Kind == Connected && errno == 0 {
		closeConnected(fd)
	} else {
		unix.Close(fd)
	}
	return o
}

// readErrQueue reads the first ICMP error queued on the socket (IP_RECVERR).
func (s *epollSys) readErrQueue(fd int) (Outcome, bool) {
	s.msg = unix.Msghdr{Control: &s.oob[0]}
	s.msg.SetControllen(len(s.oob))
	n, _, e := unix.Syscall(unix.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(&s.msg)), unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT)
	if e != 0 || int(n) < 0 {
		return Outcome{}, false
	}
	oob := s.oob[:s.msg.Controllen]
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < unix.SizeofCmsghdr || l > len(oob) {
			break
		}
		data := oob[unix.SizeofCmsghdr:l]
		if h.Level == unix.SOL_IP && h.Type == unix.IP_RECVERR && len(data) >= sizeofSockExtendedErr {
			ee := (*unix.SockExtendedErr)(unsafe.Pointer(&data[0]))
			if ee.Origin != unix.SO_EE_ORIGIN_ICMP {
				return Outcome{}, false
			}
			o := Outcome{Kind: Unreachable, ICMPType: ee.Type, ICMPCode: ee.Code}
			// SO_EE_OFFENDER: the ICMP error's sender follows the structure.
			if off := data[sizeofSockExtendedErr:]; len(off) >= unix.SizeofSockaddrInet4 &&
				binary.LittleEndian.Uint16(off) == unix.AF_INET {
				o.From = netip.AddrFrom4([4]byte(off[4:8]))
			}
			return o, true
		}
		l = (l + 7) &^ 7 // CMSG_ALIGN
		if l >= len(oob) {
			break
		}
		oob = oob[l:]
	}
	return Outcome{}, false
}

// connected reports whether the socket has a peer: the handshake completed.
func connected(fd int) bool {
	var sa unix.RawSockaddrInet4
	l := uint32(unix.SizeofSockaddrInet4)
	_, _, e := unix.Syscall(unix.SYS_GETPEERNAME, uintptr(fd), uintptr(unsafe.Pointer(&sa)), uintptr(unsafe.Pointer(&l)))
	return e == 0
}

// selfConnected reports whether a connected socket is connected to itself
// (local address and port equal to the peer's): what connect(2) to a closed
// port of this host's own address in the local port range may do.
func selfConnected(fd int) bool {
	var local, peer unix.RawSockaddrInet4
	ll, pl := uint32(unix.SizeofSockaddrInet4), uint32(unix.SizeofSockaddrInet4)
	if _, _, e := unix.Syscall(unix.SYS_GETSOCKNAME, uintptr(fd), uintptr(unsafe.Pointer(&local)), uintptr(unsafe.Pointer(&ll))); e != 0 {
		return false
	}
	if _, _, e := unix.Syscall(unix.SYS_GETPEERNAME, uintptr(fd), uintptr(unsafe.Pointer(&peer)), uintptr(unsafe.Pointer(&pl))); e != 0 {
		return false
	}
	return local.Port == peer.Port && local.Addr == peer.Addr
}

// closeConnected closes a connected socket with a reset: SO_LINGER 0, no FIN
// handshake and no TIME_WAIT, so a scan of many open ports leaves nothing behind.
func closeConnected(fd int) {
	unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	unix.Close(fd)
}

// Abort implements Sys.
func (s *epollSys) Abort(fd int) { unix.Close(fd) }

// Close implements Sys.
func (s *epollSys) Close() error { return unix.Close(s.epfd) }

// Limit raises the soft open-file limit (RLIMIT_NOFILE) to the hard one where it
// may and returns how many connections may be in flight at once: requested,
// lowered to leave the scan's other descriptors room under the soft limit (see
// Parallelism), and the soft limit itself.
func Limit(requested int) (n int, soft uint64, err error) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return 0, 0, fmt.Errorf("connect scan: reading the open-file limit: %w", err)
	}
	if lim.Cur < lim.Max {
		raised := unix.Rlimit{Cur: lim.Max, Max: lim.Max}
		if unix.Setrlimit(unix.RLIMIT_NOFILE, &raised) == nil {
			lim = raised
		}
	}
	n, err = Parallelism(requested, lim.Cur)
	return n, lim.Cur, err
}

// sizeofSockExtendedErr is the size of struct sock_extended_err.
const sizeofSockExtendedErr = int(unsafe.Sizeof(unix.SockExtendedErr{}))

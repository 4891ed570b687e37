package route

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// netlinkTimeout bounds how long a netlink exchange waits for the kernel.
const netlinkTimeout = 5 * time.Second

// netlinkConn is a NETLINK_ROUTE socket for request/response exchanges with
// the kernel. It belongs to the network namespace of the thread that opened
// it.
type netlinkConn struct {
	fd  int
	seq uint32
	buf []byte
}

func dialNetlink() (*netlinkConn, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("route: netlink socket: %w", err)
	}
	tv := unix.NsecToTimeval(netlinkTimeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("route: netlink SO_RCVTIMEO: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("route: netlink bind: %w", err)
	}
	return &netlinkConn{fd: fd, buf: make([]byte, 1<<16)}, nil
}

// Close closes the netlink socket.
func (c *netlinkConn) Close() error { return unix.Close(c.fd) }

// execute sends one request of type typ with the given flags and body (the
// family header followed by attributes) and calls fn with the type and body
// of every answer until the kernel is done. A negative answer (NLMSG_ERROR
// with an errno) is returned as a unix.Errno.
func (c *netlinkConn) execute(typ, flags uint16, body []byte, fn func(typ uint16, body []byte) error) error {
	c.seq++
	req := make([]byte, unix.SizeofNlMsghdr+len(body))
	ne := binary.NativeEndian
	ne.PutUint32(req[0:], uint32(len(req)))
	ne.PutUint16(req[4:], typ)
	ne.PutUint16(req[6:], flags|unix.NLM_F_REQUEST)
	ne.PutUint32(req[8:], c.seq)
	copy(req[unix.SizeofNlMsghdr:], body)
	if err := unix.Sendto(c.fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("netlink send: %w", err)
	}
	for {
		n, _, err := unix.Recvfrom(c.fd, c.buf, 0)
		if err != nil {
			return fmt.Errorf("netlink receive: %w", err)
		}
		for b := c.buf[:n]; len(b) >= unix.SizeofNlMsghdr; {
			l := int(ne.Uint32(b[0:]))
			if l < unix.SizeofNlMsghdr || l > len(b) {
				return fmt.Errorf("netlink: malformed message of length %d", l)
			}
			mtype, mflags, seq := ne.Uint16(b[4:]), ne.Uint16(b[6:]), ne.Uint32(b[8:])
			data := b[unix.SizeofNlMsghdr:l]
			b = b[min(len(b), align4(l)):]
			if seq != c.seq {
				continue // a stale answer to an earlier request
			}
			switch mtype {
			case unix.NLMSG_DONE:
				return nil
			case unix.NLMSG_ERROR:
				if len(data) < 4 {
					return fmt.Errorf("netlink: short error message")
				}
				if errno := -int32(ne.Uint32(data)); errno != 0 {
					return unix.Errno(errno)
				}
				return nil // an acknowledgement
			}
			if err := fn(mtype, data); err != nil {
				return err
			}
			if mflags&unix.NLM_F_MULTI == 0 {
				return nil
			}
		}
	}
}

// attrTypeMask clears the NLA_F_NESTED and NLA_F_NET_BYTEORDER flag bits of
// an attribute type.
const attrTypeMask = 0x3fff

func align4(n int) int { return (n + 3) &^ 3 }

// appendAttr appends a route attribute (struct rtattr) to b.
func appendAttr(b []byte, typ uint16, val []byte) []byte {
	var h [unix.SizeofRtAttr]byte
	binary.NativeEndian.PutUint16(h[0:], uint16(unix.SizeofRtAttr+len(val)))
	binary.NativeEndian.PutUint16(h[2:], typ)
	b = append(b, h[:]...)
	b = append(b, val...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// eachAttr calls fn for every well-formed attribute in b.
func eachAttr(b []byte, fn func(typ uint16, val []byte)) {
	for len(b) >= unix.SizeofRtAttr {
		l := int(binary.NativeEndian.Uint16(b[0:]))
		if l < unix.SizeofRtAttr || l > len(b) {
			return
		}
		fn(binary.NativeEndian.Uint16(b[2:])&attrTypeMask, b[unix.SizeofRtAttr:l])
		b = b[min(len(b), align4(l)):]
	}
}

// ipv4 decodes a 4-byte address attribute (network order) to a uint32
// holding its numeric value; ok is false for other lengths.
func ipv4(val []byte) (uint32, bool) {
	if len(val) != 4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(val), true
}

// attrAddr decodes a 4- or 16-byte address attribute; ok is false for other
// lengths.
func attrAddr(val []byte) (netip.Addr, bool) {
	switch len(val) {
	case 4:
		return netip.AddrFrom4([4]byte(val)), true
	case 16:
		return netip.AddrFrom16([16]byte(val)), true
	}
	return netip.Addr{}, false
}

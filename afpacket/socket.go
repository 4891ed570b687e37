package afpacket

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultSendBuffer is the SO_SNDBUF size requested for transmit sockets.
// Large send buffers let a whole batch sit in the kernel while the device
// drains it, instead of failing with ENOBUFS part-way through.
const DefaultSendBuffer = 4 << 20

// maxRetries bounds how often a send that failed with EAGAIN, ENOBUFS or
// EINTR is retried before the error is returned to the caller.
const maxRetries = 100

// retryPause is how long a transmitter backs off before retrying a send that
// hit a full queue (EAGAIN/ENOBUFS).
const retryPause = 50 * time.Microsecond

// htons converts a 16-bit value to network byte order, as the sll_protocol
// field and the protocol argument of socket(2) expect.
func htons(v uint16) uint16 { return v<<8 | v>>8 }

// TxOptions tunes a transmit socket. The zero value gives the defaults.
type TxOptions struct {
	// SendBuffer is the SO_SNDBUF size in bytes; 0 means DefaultSendBuffer.
	// It is set with SO_SNDBUFFORCE when possible, so it may exceed
	// net.core.wmem_max.
	SendBuffer int
	// QdiscBypass sets PACKET_QDISC_BYPASS: frames go straight to the
	// driver, skipping the traffic-control layer (and its queueing).
	QdiscBypass bool
}

// openTxSocket opens an AF_PACKET SOCK_RAW socket with protocol 0 (so it
// receives nothing), applies o and binds it to ifindex.
func openTxSocket(ifindex int, o TxOptions) (int, error) {
	if ifindex <= 0 {
		return -1, fmt.Errorf("afpacket: invalid interface index %d", ifindex)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("afpacket: socket: %w", err)
	}
	if err := configureTxSocket(fd, ifindex, o); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

func configureTxSocket(fd, ifindex int, o TxOptions) error {
	sndbuf := o.SendBuffer
	if sndbuf <= 0 {
		sndbuf = DefaultSendBuffer
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, sndbuf); err != nil {
		// Without CAP_NET_ADMIN the kernel caps the size at wmem_max.
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, sndbuf); err != nil {
			return fmt.Errorf("afpacket: setsockopt SO_SNDBUF: %w", err)
		}
	}
	if o.QdiscBypass {
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1); err != nil {
			return fmt.Errorf("afpacket: setsockopt PACKET_QDISC_BYPASS: %w", err)
		}
	}
	// Protocol 0 in the bind keeps the socket deaf: no receive hook is
	// registered, yet the device is remembered for sending.
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifindex}); err != nil {
		return fmt.Errorf("afpacket: bind to interface %d: %w", ifindex, err)
	}
	return nil
}

// temporaryErrno reports whether a send error means "queue full (or
// interrupted), try again".
func temporaryErrno(e unix.Errno) bool {
	return e == unix.EAGAIN || e == unix.ENOBUFS || e == unix.EINTR
}

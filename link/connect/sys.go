package connect

import (
	"errors"
	"net/netip"
	"syscall"
	"time"
)

// Kind is how a connection attempt ended.
type Kind uint8

// The ends of a connection attempt.
const (
	// Connected: the handshake completed (the target answered the SYN with a SYN-ACK).
	Connected Kind = iota + 1
	// Refused: the target answered with a reset (ECONNREFUSED, no ICMP error queued).
	Refused
	// Unreachable: an ICMP destination-unreachable error ended the attempt; the
	// kernel queued it on the socket's error queue (IP_RECVERR) with its type,
	// code and sender.
	Unreachable
	// Failed: the kernel ended the attempt with an error and no ICMP message
	// (Errno): no route (ENETUNREACH), a local firewall (EPERM, EACCES), ...
	Failed
)

// String names the kind.
func (k Kind) String() string {
	switch k {
	case Connected:
		return "connected"
	case Refused:
		return "refused"
	case Unreachable:
		return "unreachable"
	case Failed:
		return "failed"
	}
	return "unknown"
}

// Outcome is how one connection attempt ended.
type Outcome struct {
	Kind Kind
	// ICMPType and ICMPCode are the ICMP error's (Unreachable).
	ICMPType, ICMPCode uint8
	// From is the ICMP error's sender (Unreachable): the target itself, a
	// router, or this host (a failed ARP resolution). Zero when unknown.
	From netip.Addr
	// Errno is the kernel's error (Failed; for the others the errno it reported,
	// if any).
	Errno syscall.Errno
}

// Sys is the kernel side of a connect link: non-blocking TCP connections and
// their outcomes. The real one (NewSys) is sockets and an epoll set; tests give
// a model (package connecttest) so that the link's logic runs without a network.
//
// Connect is called by the link's sending goroutines, possibly at once; Wait,
// Finish and Abort by its receiving goroutine only.
type Sys interface {
	// Connect starts a connection from bind (the zero Addr: the kernel's choice)
	// to dst. Its outcome is reported by Wait under tag, unless done: then o is
	// the outcome, known at once, and nothing is left to release. A non-nil err
	// means no attempt was started (Transient tells whether a later one may
	// succeed).
	Connect(bind netip.Addr, dst netip.AddrPort, tag uint64) (h int, o Outcome, done bool, err error)
	// Wait waits up to timeout for connections whose outcome is known and
	// writes their tags into tags, returning how many. A connection is reported
	// by every Wait until it is finished or aborted (level-triggered).
	Wait(timeout time.Duration, tags []uint64) (int, error)
	// Finish reads the outcome of a connection Wait reported and releases it
	// (a connected one with a reset: SO_LINGER 0, no TIME_WAIT).
	Finish(h int) Outcome
	// Abort releases a connection that is still undecided.
	Abort(h int)
	// Close releases the Sys itself, after every connection was released.
	Close() error
}

// Transient reports whether err, from Sys.Connect, says the machine is short of
// something a finishing connection gives back (file descriptors, local ports,
// buffers), so that the attempt may be repeated.
func Transient(err error) bool {
	for _, e := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.EADDRNOTAVAIL, syscall.ENOBUFS, syscall.ENOMEM, syscall.EAGAIN} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

package lab

import (
	"context"
	"net/netip"
	"time"
)

// UpFailingAt is Up with a chosen lab id that fails on purpose right after
// the build step named step has run; for testing the cleanup path.
func UpFailingAt(ctx context.Context, id, step string) (*Lab, error) {
	return up(ctx, upOptions{id: id, failAt: step})
}

// ErrInjected is the error UpFailingAt injects.
var ErrInjected = errInjected

// NewLabID exposes newLabID to tests.
func NewLabID() (string, error) { return newLabID() }

// BuildSteps returns the names of Up's build steps, in order.
func BuildSteps() []string {
	var names []string
	for _, s := range (&Lab{}).steps() {
		names = append(names, s.name)
	}
	return names
}

// AnswerUDP runs the lab's UDP responder for port on one request as the
// serving goroutines do; nil when the lab has no responder for port or the
// request gets no answer.
func AnswerUDP(port uint16, req []byte, local netip.Addr, now time.Time) []byte {
	answer, ok := udpAnswerer(port)
	if !ok {
		return nil
	}
	return answer(req, local, now, nil)
}

// AddHostNSUnlinkable runs addHostNS for namespace name with a veth peer in a
// namespace that does not exist, so that it fails after it has added name.
func (l *Lab) AddHostNSUnlinkable(ctx context.Context, name string) error {
	_, err := l.addHostNS(ctx, name, hostLink{peer: "hx", peerNS: l.id + "-h0nosuch",
		addr: netip.MustParsePrefix("198.18.1.99/24")})
	return err
}

package svcid

import (
	"context"
	"errors"
	"net"
	"strings"
	"syscall"

	"github.com/fastscan/fastscan/result"
)

// ResultService converts r into the form a scan's results carry (result.Service),
// for the output writers. It allocates; call it once per identified port.
func (r *Result) ResultService() *result.Service {
	s := &result.Service{
		Name:     r.Service,
		Method:   string(r.Method),
		Product:  r.Product,
		Version:  r.Version,
		Info:     r.Info,
		Banner:   r.Banner,
		StartTLS: r.StartTLS,
		Spoke:    r.BytesRead > 0,
	}
	if r.Err != nil {
		s.Error = ShortError(r.Err)
	}
	if t := r.TLS; t != nil {
		s.TLS = &result.TLS{
			Version:     t.Version,
			CipherSuite: t.CipherSuite,
			ALPN:        t.ALPN,
			SubjectCN:   t.SubjectCN,
			SANs:        append([]string(nil), t.SANs...),
			Issuer:      t.Issuer,
			NotBefore:   t.NotBefore,
			NotAfter:    t.NotAfter,
			SHA256:      t.SHA256,
		}
	}
	return s
}

// ShortError says why an identification stopped short in a few words, for a
// result's service error: the budget spent ("time budget spent"), or the
// system call and the kernel's error ("connect: connection refused",
// "read: connection reset by peer"), without the address the result already
// carries.
func ShortError(err error) string {
	for _, budget := range []error{ErrTimeBudget, ErrByteBudget, ErrConnBudget} {
		if errors.Is(err, budget) {
			return strings.TrimPrefix(budget.Error(), "svcid: ")
		}
	}
	var errno syscall.Errno
	var sys *net.OpError
	op := func() string {
		if sys.Op == "dial" {
			return "connect"
		}
		return sys.Op
	}
	switch {
	case errors.As(err, &sys) && errors.As(err, &errno):
		return op() + ": " + errno.Error()
	case errors.As(err, &sys) && sys.Timeout():
		return op() + ": timeout"
	case errors.Is(err, context.DeadlineExceeded):
		return "time budget spent"
	}
	msg := err.Error()
	if u := errors.Unwrap(err); u != nil {
		msg = u.Error() // without the address
	}
	return msg
}

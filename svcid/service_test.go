package svcid_test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/fastscan/fastscan/svcid"
)

func TestResultService(t *testing.T) {
	after := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	r := svcid.Result{
		Service: svcid.ServiceHTTP, Method: svcid.MethodProbed,
		Product: "nginx", Version: "1.22.1", Info: "200 OK", Banner: "HTTP/1.1 200 OK\\r\\n",
		TLS:       &svcid.TLSInfo{Version: "TLS 1.3", ALPN: "http/1.1", SubjectCN: "lab", SANs: []string{"a", "b"}, NotAfter: after, SHA256: "ab"},
		BytesRead: 20, Err: fmt.Errorf("198.18.1.80:80: %w", svcid.ErrTimeBudget),
	}
	s := r.ResultService()
	if s.Name != "http" || s.Method != "probed" || s.Product != "nginx" || s.Version != "1.22.1" || !s.Spoke ||
		s.Error != "time budget spent" || s.TLS == nil || s.TLS.SubjectCN != "lab" || !s.TLS.NotAfter.Equal(after) {
		t.Fatalf("Service() = %+v", s)
	}
	r.TLS.SANs[0] = "changed"
	if s.TLS.SANs[0] != "a" {
		t.Error("Service shares the SANs slice with the Result")
	}
	silent := svcid.Result{Service: "http-alt", Method: svcid.MethodTable}
	if s := silent.ResultService(); s.Spoke || s.TLS != nil || s.Error != "" {
		t.Errorf("a port that sent nothing: %+v", s)
	}
}

func TestShortError(t *testing.T) {
	ap := "198.18.1.80:9005"
	reset := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNRESET)}
	for _, c := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("%s: %w", ap, svcid.ErrTimeBudget), "time budget spent"},
		{fmt.Errorf("%s: %w", ap, svcid.ErrByteBudget), "byte budget spent"},
		{fmt.Errorf("%s: connect: %w", ap, reset), "connect: connection reset by peer"},
		{fmt.Errorf("%s: %w", ap, &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}), "read: connection reset by peer"},
		{fmt.Errorf("%s: %w", ap, errors.New("tls: handshake failure")), "tls: handshake failure"},
	} {
		if got := svcid.ShortError(c.err); got != c.want {
			t.Errorf("ShortError(%q) = %q, want %q", c.err, got, c.want)
		}
	}
}

package svcid_test

import (
	"errors"
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
		BytesRead: 20, Err: errors.New("svcid: time budget spent"),
	}
	s := r.ResultService()
	if s.Name != "http" || s.Method != "probed" || s.Product != "nginx" || s.Version != "1.22.1" || !s.Spoke ||
		s.Error != "svcid: time budget spent" || s.TLS == nil || s.TLS.SubjectCN != "lab" || !s.TLS.NotAfter.Equal(after) {
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

package svcid

import "github.com/fastscan/fastscan/result"

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
		s.Error = r.Err.Error()
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

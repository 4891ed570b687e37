package result

import "time"

// Service is what service identification (-sV) learnt about an open TCP port
// by talking to it. A Result carries one only when identification ran on its
// port (Result.Service is nil otherwise), so results without it stay small and
// are never allocated for.
type Service struct {
	// Name is the protocol that answered ("ssh", "http", "ssl", ...) when
	// Method is "probed", else the port registry's name for the port.
	Name string
	// Method says how Name was found: "probed" (the service spoke its
	// protocol) or "table" (nothing recognisable answered; the registry's name).
	Method string
	// Product, Version and Info are what the rules made of the service's
	// answers; any may be empty.
	Product, Version, Info string
	// Banner is the start of the first bytes the port sent, escaped and bounded.
	Banner string
	// StartTLS reports that a plaintext protocol offered to switch to TLS.
	StartTLS bool
	// TLS is the TLS handshake's outcome when the port spoke TLS; nil otherwise.
	TLS *TLS
	// Spoke reports that a connection completed and the service sent or
	// answered anything at all: the port is backed by a real service, not
	// only by a SYN-ACK (a SYN proxy or tarpit answers SYN-ACK for every port).
	Spoke bool
	// Error is why identification stopped short, if it did ("" otherwise).
	Error string
}

// TLS is what a TLS handshake with a service showed.
type TLS struct {
	// Version is the negotiated protocol version, e.g. "TLS 1.3".
	Version string
	// CipherSuite is the negotiated cipher suite's name.
	CipherSuite string
	// ALPN is the negotiated application protocol ("" if none).
	ALPN string
	// SubjectCN is the leaf certificate's subject common name.
	SubjectCN string
	// SANs are the leaf certificate's subject alternative names.
	SANs []string
	// Issuer is the leaf certificate's issuer (RFC 2253 form).
	Issuer string
	// NotBefore and NotAfter bound the leaf certificate's validity.
	NotBefore, NotAfter time.Time
	// SHA256 is the SHA-256 fingerprint of the leaf certificate, lower-case hex.
	SHA256 string
}

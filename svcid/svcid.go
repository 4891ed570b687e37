// Package svcid identifies the service behind a TCP port that a scan found
// open: it opens an ordinary kernel TCP connection (through an injected
// dialer), reads the greeting or sends the hello of a protocol, and names the
// service, its product and version.
//
// Protocols are written from their specifications: SSH identification strings
// (RFC 4253 §4.2), HTTP/1.1 responses (RFC 9112: status, Server, the page's
// title), TLS (crypto/tls without verification: version, ALPN, the leaf
// certificate; then HTTP inside), the greetings and capabilities of SMTP (RFC
// 5321, EHLO and STARTTLS of RFC 3207), FTP (RFC 959, FEAT of RFC 2389, AUTH
// TLS of RFC 4217), POP3 (RFC 1939, CAPA and STLS of RFC 2449/2595), IMAP (RFC
// 9051, CAPABILITY and STARTTLS), Redis (RESP: PING, INFO server), MySQL (the
// initial handshake packet, protocol 10) and PostgreSQL (SSLRequest and the
// startup message's ErrorResponse, protocol 3.0).
//
// Which product and version a parsed field means is decided by the rules in
// rules.txt (embedded; see [ParseRules]), written for fastscan.
//
// Every port costs at most its budget: a connect timeout, a total time
// (every connection and probe of the port) and a number of bytes read
// ([Config]). A server that sends garbage, sends forever, trickles, accepts
// and never writes, or resets costs that and no more. [Pool] runs
// identifications concurrently, bounded overall and per host, with new
// connections at a limited rate.
package svcid

import (
	"net/netip"
	"time"
)

// Method says how a [Result]'s service name was found.
type Method string

const (
	// MethodProbed: the service answered and was recognised by what it said.
	MethodProbed Method = "probed"
	// MethodTable: nothing recognisable answered; the name is the port
	// registry's name for the port number (empty when it has none).
	MethodTable Method = "table"
)

// Service names in results (nmap's names where nmap has one).
const (
	ServiceSSH        = "ssh"
	ServiceHTTP       = "http"
	ServiceTLS        = "ssl" // TLS with nothing recognised inside
	ServiceSMTP       = "smtp"
	ServiceFTP        = "ftp"
	ServicePOP3       = "pop3"
	ServiceIMAP       = "imap"
	ServiceRedis      = "redis"
	ServiceMySQL      = "mysql"
	ServicePostgreSQL = "postgresql"
)

// Result is what was learnt about one port.
type Result struct {
	// Addr is the port identified.
	Addr netip.AddrPort
	// Service is the protocol's name (the Service* constants) when Method
	// is MethodProbed, else the registry's name for the port ("" if none).
	Service string
	// Method says how Service was found.
	Method Method
	// Product and Version are what the rules (rules.txt) made of the fields
	// the service sent; either may be empty.
	Product, Version string
	// Info is further detail: the rules' info column, or what the
	// protocol says beside its version (SSH comments, the HTTP status line).
	Info string
	// Fields are the values parsed from the service's answers that the
	// rules matched against (e.g. "software", "server", "title",
	// "redis_version"), each bounded in length.
	Fields map[string]string
	// StartTLS reports that a plaintext protocol (SMTP, FTP, POP3, IMAP)
	// offered to switch to TLS (STARTTLS, AUTH TLS, STLS).
	StartTLS bool
	// TLS describes the TLS handshake, when the port spoke TLS (directly,
	// or after PostgreSQL's SSLRequest); nil otherwise.
	TLS *TLSInfo
	// Banner is the start of the first bytes the port sent, escaped
	// (see [EscapeBanner]) and bounded by Config.BannerBytes.
	Banner string
	// Connections is how many TCP connections were opened (attempted).
	Connections int
	// BytesRead counts every byte read from the port, at most
	// Config.MaxBytes.
	BytesRead int
	// Elapsed is the wall time spent on the port.
	Elapsed time.Duration
	// Err is why the identification stopped short, if it did (its text
	// begins with the address: "198.18.1.80:22: svcid: time budget spent"): the
	// connection refused or timed out, the time or byte budget spent.
	// A port whose service was identified may still carry an error of a
	// later step.
	Err error
}

// TLSInfo is what a TLS handshake showed.
type TLSInfo struct {
	// Version is the negotiated protocol version, e.g. "TLS 1.3".
	Version string
	// RecordVersion is the version in the header of the server's first
	// record, e.g. "TLS 1.2" (TLS 1.3 servers keep 0x0303 there).
	RecordVersion string
	// CipherSuite is the negotiated cipher suite's name.
	CipherSuite string
	// ALPN is the negotiated application protocol ("" if none).
	ALPN string
	// SubjectCN is the leaf certificate's subject common name.
	SubjectCN string
	// SANs are the leaf certificate's subject alternative names: DNS names,
	// then IP addresses, then e-mail addresses and URIs.
	SANs []string
	// Issuer is the leaf certificate's issuer (RFC 2253 form).
	Issuer string
	// NotBefore and NotAfter bound the leaf certificate's validity.
	NotBefore, NotAfter time.Time
	// SHA256 is the SHA-256 fingerprint of the leaf certificate's DER
	// encoding, lower-case hex.
	SHA256 string
	// Chain is the number of certificates the server sent.
	Chain int
}

package svcid

import (
	"context"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// scriptDial returns a dialer whose every connection reads data, then EOF,
// and swallows every write: a server that says data whatever it is told,
// in memory and without goroutines (a fuzz execution is microseconds).
func scriptDial(data []byte) DialFunc {
	return func(context.Context, string, string) (net.Conn, error) {
		return &scriptConn{data: data}, nil
	}
}

type scriptConn struct {
	data   []byte
	closed bool
}

func (c *scriptConn) Read(p []byte) (int, error) {
	if c.closed {
		return 0, net.ErrClosed
	}
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.data)
	c.data = c.data[n:]
	return n, nil
}

func (c *scriptConn) Write(p []byte) (int, error) {
	if c.closed {
		return 0, net.ErrClosed
	}
	return len(p), nil
}

func (c *scriptConn) Close() error                     { c.closed = true; return nil }
func (c *scriptConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *scriptConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *scriptConn) SetDeadline(time.Time) error      { return nil }
func (c *scriptConn) SetReadDeadline(time.Time) error  { return nil }
func (c *scriptConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzIdentify runs a whole identification against a server that answers
// every connection with the fuzzer's bytes: it never panics, stays within
// its byte budget and returns bounded text.
func FuzzIdentify(f *testing.F) {
	for _, s := range []string{
		"SSH-2.0-OpenSSH_9.2p1\r\n", "220 x ESMTP OpenSMTPD\r\n250-x\r\n250 STARTTLS\r\n",
		"220 (vsFTPd 3.0.3)\r\n530 no\r\n211-F\r\n AUTH TLS\r\n211 End\r\n", "+OK ready\r\n+OK\r\nSTLS\r\n.\r\n",
		"* OK ready\r\n* CAPABILITY STARTTLS\r\na1 OK\r\n", "HTTP/1.1 200 OK\r\nServer: nginx\r\n\r\n<title>t</title>",
		"-ERR wrong\r\n", "+PONG\r\n$20\r\nredis_version:7.0.15\r\n", "NE\x00\x00\x00\x1dSFATAL\x00VFATAL\x00C28000\x00Mx\x00\x00",
		"\x15\x00\x00\x00\x0a8.0.36\x00\x2a\x00\x00\x00abcdefgh\x00", "\x16\x03\x03\x00\x05hello", "",
	} {
		f.Add([]byte(s), uint16(22))
	}
	f.Add([]byte("+PONG\r\n"), uint16(6379))
	f.Add([]byte("N"), uint16(5432))
	f.Add([]byte("HTTP/1.1 400 x\r\n\r\nThe plain HTTP request was sent to HTTPS port"), uint16(80))
	rules := DefaultRules() // parsed once: compiling the rules costs more than an identification
	f.Fuzz(func(t *testing.T, data []byte, port uint16) {
		const maxBytes = 4096
		id, err := New(Config{Dial: scriptDial(data), MaxBytes: maxBytes, Timeout: 2 * time.Second,
			GreetingWait: 20 * time.Millisecond, Rules: rules, Table: func(uint16) string { return "table" }})
		if err != nil {
			t.Fatal(err)
		}
		// TLS handshakes cost ten times the rest: only one input in eight
		// runs crypto/tls, the others its stand-in.
		id.noHandshake = len(data)%8 != 0
		r := id.Identify(context.Background(), netip.AddrPortFrom(netip.MustParseAddr("198.18.1.80"), port))
		if r.BytesRead > maxBytes || r.Connections > DefaultMaxConnections {
			t.Fatalf("read %d bytes over %d connections", r.BytesRead, r.Connections)
		}
		if len(r.Banner) > 4*DefaultBannerBytes {
			t.Fatalf("banner of %d bytes", len(r.Banner))
		}
		fuzzBounded(t, "result", r.Product, r.Version, r.Info)
		for _, v := range r.Fields {
			fuzzBounded(t, "field", v)
		}
		if (r.Method == MethodProbed) == (r.Service == "table") {
			t.Fatalf("service %q by method %q", r.Service, r.Method)
		}
	})
}

// fuzzBounded fails when a result's text is long or not escaped.
func fuzzBounded(t *testing.T, what string, ss ...string) {
	t.Helper()
	for _, s := range ss {
		if len(s) > 4*256 {
			t.Fatalf("%s: %d bytes", what, len(s))
		}
		if !utf8.ValidString(s) || strings.ContainsAny(s, "\r\n\x00") {
			t.Fatalf("%s: %q is not escaped", what, s)
		}
	}
}

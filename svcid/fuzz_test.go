package svcid_test

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/fastscan/fastscan/svcid"
)

// bounded fails when a parsed field is longer than the parsers allow or not
// printable text.
func bounded(t *testing.T, what string, ss ...string) {
	t.Helper()
	for _, s := range ss {
		if len(s) > 4*256 {
			t.Fatalf("%s: a field of %d bytes", what, len(s))
		}
		if !utf8.ValidString(s) || strings.ContainsAny(s, "\r\n\x00") {
			t.Fatalf("%s: field %q is not escaped", what, s)
		}
	}
}

// FuzzParsers runs every banner parser on the same bytes: none panics, and
// every field it returns is bounded, escaped text.
func FuzzParsers(f *testing.F) {
	for _, s := range []string{
		"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10\r\n",
		"x\r\nSSH-1.99-Cisco-1.25\n",
		"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nX-Powered-By: PHP\r\n\r\n<html><TITLE>a &amp; b</title>",
		"HTTP/1.0 301 Moved\nLocation: /x\n\n",
		"220-a ESMTP\r\n220 b\r\n", "211-Features:\r\n AUTH TLS\r\n211 End\r\n",
		"+OK\r\nSTLS\r\n.\r\n", "* CAPABILITY IMAP4rev1 STARTTLS\r\na1 OK done\r\n",
		"$30\r\n# Server\r\nredis_version:7.0.15\r\n\r\n", "-NOAUTH Authentication required.\r\n", ":12\r\n",
		string(mysqlGreeting("8.0.36")), "\x10\x00\x00\x00\xff\x15\x04#28000Access denied",
		string(pgError("FATAL", "28000", "no")), "R\x00\x00\x00\x08\x00\x00\x00\x03",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if id, ok := svcid.ParseSSH(b); ok {
			bounded(t, "ssh", id.ProtoVersion, id.Software, id.Comments)
		}
		if r, ok := svcid.ParseHTTP(b); ok {
			bounded(t, "http", r.Proto, r.Reason, r.Server, r.PoweredBy, r.Location, r.Title)
			if r.Status < 100 || r.Status > 999 {
				t.Fatalf("status %d", r.Status)
			}
		}
		_, r := svcid.ParseCodeReply(b)
		bounded(t, "code reply", r.Lines...)
		_, r = svcid.ParsePOP3(b, true)
		bounded(t, "pop3", r.Lines...)
		_, r = svcid.ParseIMAP(b, "a1")
		bounded(t, "imap", r.Lines...)
		if len(r.Lines) > 64 {
			t.Fatalf("%d lines kept", len(r.Lines))
		}
		if resp, ok := svcid.ParseRESP(b); ok {
			if len(resp.Text) > len(b) {
				t.Fatal("RESP text longer than its input")
			}
			fields := map[string]string{}
			svcid.ParseRedisInfo(resp.Text, fields)
			for _, v := range fields {
				bounded(t, "redis info", v)
			}
		}
		if g, ok := svcid.ParseMySQL(b); ok {
			bounded(t, "mysql", g.Version, g.ErrMsg)
		}
		if m, ok := svcid.ParsePGMessage(b); ok {
			bounded(t, "postgresql", m.Severity, m.Code, m.Message)
		}
		e := svcid.EscapeBanner(b, 64)
		if len(e) > 4*64 || !utf8.ValidString(e) {
			t.Fatalf("EscapeBanner: %q", e)
		}
	})
}

// pipeDial returns a dialer whose every connection is served by a server
// that sends data, reads whatever comes and closes.
func pipeDial(data []byte) svcid.DialFunc {
	return func(ctx context.Context, _, _ string) (net.Conn, error) {
		c, s := net.Pipe()
		go func() {
			defer s.Close()
			go io.Copy(io.Discard, s)
			s.Write(data)
		}()
		return c, nil
	}
}

// FuzzIdentify runs a whole identification against a server that answers
// every connection with the fuzzer's bytes: it never panics, stays within
// its byte budget and returns bounded text.
func FuzzIdentify(f *testing.F) {
	for _, s := range []string{
		"SSH-2.0-OpenSSH_9.2p1\r\n", "220 x ESMTP OpenSMTPD\r\n250-x\r\n250 STARTTLS\r\n",
		"220 (vsFTPd 3.0.3)\r\n530 no\r\n211-F\r\n AUTH TLS\r\n211 End\r\n", "+OK ready\r\n+OK\r\nSTLS\r\n.\r\n",
		"* OK ready\r\n* CAPABILITY STARTTLS\r\na1 OK\r\n", "HTTP/1.1 200 OK\r\nServer: nginx\r\n\r\n<title>t</title>",
		"-ERR wrong\r\n", "+PONG\r\n$20\r\nredis_version:7.0.15\r\n", "N" + string(pgError("FATAL", "28000", "x")),
		string(mysqlGreeting("8.0.36")), "\x16\x03\x03\x00\x05hello", "",
	} {
		f.Add([]byte(s), uint16(22))
	}
	f.Add([]byte("+PONG\r\n"), uint16(6379))
	f.Add([]byte("N"), uint16(5432))
	f.Add([]byte("HTTP/1.1 400 x\r\n\r\nThe plain HTTP request was sent to HTTPS port"), uint16(80))
	f.Fuzz(func(t *testing.T, data []byte, port uint16) {
		const maxBytes = 4096
		id, err := svcid.New(svcid.Config{Dial: pipeDial(data), MaxBytes: maxBytes, Timeout: 2 * time.Second,
			GreetingWait: 20 * time.Millisecond, Table: func(uint16) string { return "table" }})
		if err != nil {
			t.Fatal(err)
		}
		r := id.Identify(context.Background(), netipAddrPort(port))
		if r.BytesRead > maxBytes || r.Connections > svcid.DefaultMaxConnections {
			t.Fatalf("read %d bytes over %d connections", r.BytesRead, r.Connections)
		}
		if len(r.Banner) > 4*svcid.DefaultBannerBytes {
			t.Fatalf("banner of %d bytes", len(r.Banner))
		}
		bounded(t, "result", r.Product, r.Version, r.Info)
		for _, v := range r.Fields {
			bounded(t, "field", v)
		}
		if (r.Method == svcid.MethodProbed) == (r.Service == "table") {
			t.Fatalf("service %q by method %q", r.Service, r.Method)
		}
	})
}

package svcid_test

import (
	"strings"
	"testing"
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

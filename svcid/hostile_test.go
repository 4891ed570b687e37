package svcid_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/fastscan/fastscan/svcid"
)

// Hostile servers: each is written to cost as much as it can.
var hostile = map[string]func(c net.Conn){
	// garbage: random bytes, then silence.
	"garbage": func(c net.Conn) {
		b := make([]byte, 4096)
		rand.Read(b)
		c.Write(b)
		drain(c)
	},
	// endless: sends as fast as it can until the client goes.
	"endless": func(c net.Conn) {
		b := make([]byte, 32<<10)
		rand.Read(b)
		for {
			if _, err := c.Write(b); err != nil {
				return
			}
		}
	},
	// endless-lines: an endless SSH-looking preamble, line after line.
	"endless-lines": func(c net.Conn) {
		line := []byte("this is a very long preamble line before an SSH identification string\r\n")
		for {
			if _, err := c.Write(line); err != nil {
				return
			}
		}
	},
	// trickle: "SSH-2.0-..." one byte a second.
	"trickle": func(c net.Conn) {
		for _, b := range []byte("SSH-2.0-OpenSSH_9.2p1 Debian\r\n") {
			if _, err := c.Write([]byte{b}); err != nil {
				return
			}
			time.Sleep(time.Second)
		}
	},
	// silent: accepts and never writes.
	"silent": func(c net.Conn) {
		drain(c)
	},
	// reset: accepts and resets at once.
	"reset": func(c net.Conn) {
		c.(*net.TCPConn).SetLinger(0)
	},
	// http-endless-header: an HTTP response whose headers never end.
	"http-endless-header": func(c net.Conn) {
		c.Write([]byte("HTTP/1.1 200 OK\r\n"))
		for {
			if _, err := c.Write([]byte("X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n")); err != nil {
				return
			}
		}
	},
	// tls-trickle: a TLS handshake record header, then a byte a second.
	"tls-trickle": func(c net.Conn) {
		for _, b := range []byte{0x16, 0x03, 0x03, 0x40, 0x00, 1, 2, 3, 4, 5, 6, 7, 8} {
			if _, err := c.Write([]byte{b}); err != nil {
				return
			}
			time.Sleep(time.Second)
		}
	},
}

// drain reads until the client goes.
func drain(c net.Conn) {
	b := make([]byte, 4096)
	for {
		if _, err := c.Read(b); err != nil {
			return
		}
	}
}

// Every hostile server costs at most the port's time budget (plus slack for
// a loaded machine) and byte budget, and little memory.
func TestHostileServersWithinBudget(t *testing.T) {
	const (
		timeout  = 2 * time.Second
		maxBytes = 16 << 10
		slack    = time.Second
	)
	for name, handle := range hostile {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ap, _ := serve(t, "127.0.0.1:0", handle)
			// A TLS-first port for the TLS attackers; the others as unknown ports.
			id := quick(t, func(c *svcid.Config) {
				c.Timeout, c.MaxBytes, c.GreetingWait = timeout, maxBytes, 300*time.Millisecond
				if name == "tls-trickle" {
					c.Rules = rulesWithPorts(t, svcid.ProbeTLS, ap.Port())
				}
			})
			start := time.Now()
			r := id.Identify(context.Background(), ap)
			elapsed := time.Since(start)
			if elapsed > timeout+slack {
				t.Errorf("took %v; the budget is %v", elapsed, timeout)
			}
			if r.BytesRead > maxBytes {
				t.Errorf("read %d bytes; the budget is %d", r.BytesRead, maxBytes)
			}
			if r.Method == svcid.MethodProbed && name != "http-endless-header" && name != "trickle" {
				t.Errorf("a hostile server identified as %q %q", r.Service, r.Product)
			}
			if len(r.Banner) > 4*svcid.DefaultBannerBytes {
				t.Errorf("banner of %d bytes", len(r.Banner))
			}
			t.Logf("%s: %v, %d bytes, %d connections, err %v, banner %.40q", name, elapsed.Round(time.Millisecond), r.BytesRead, r.Connections, r.Err, r.Banner)
			switch name {
			case "http-endless-header":
				if !errors.Is(r.Err, svcid.ErrByteBudget) {
					t.Errorf("err %v; want the byte budget", r.Err)
				}
			case "trickle", "silent", "tls-trickle":
				if !errors.Is(r.Err, svcid.ErrTimeBudget) {
					t.Errorf("err %v; want the time budget", r.Err)
				}
			}
		})
	}
}

// Reading from a server that sends forever allocates about the byte budget,
// not what the server sends.
func TestEndlessServerMemoryBounded(t *testing.T) {
	const maxBytes = 64 << 10
	// No line end: the greeting never completes, svcid reads to its budget.
	ap, _ := serve(t, "127.0.0.1:0", func(c net.Conn) {
		b := bytes.Repeat([]byte("A"), 32<<10)
		for {
			if _, err := c.Write(b); err != nil {
				return
			}
		}
	})
	id := quick(t, func(c *svcid.Config) { c.MaxBytes = maxBytes })
	var before, after runtime.MemStats
	best := uint64(1 << 62)
	for range 3 { // best of three: other tests' goroutines allocate too
		runtime.GC()
		runtime.ReadMemStats(&before)
		r := id.Identify(context.Background(), ap)
		runtime.ReadMemStats(&after)
		if r.BytesRead > maxBytes || !errors.Is(r.Err, svcid.ErrByteBudget) {
			t.Fatalf("read %d bytes (err %v); want the byte budget, %d", r.BytesRead, r.Err, maxBytes)
		}
		best = min(best, after.TotalAlloc-before.TotalAlloc)
	}
	if best > 8*maxBytes {
		t.Errorf("identifying an endless sender allocated %d bytes; the byte budget is %d", best, maxBytes)
	}
	t.Logf("allocated %d bytes for a %d-byte budget", best, maxBytes)
}

package output

import (
	"bufio"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fastscan/fastscan/output/outputtest"
)

// rfc5424 matches the header fastscan writes: PRI, version, a UTC timestamp with at
// most six fractional digits, host, app, procid, msgid, no structured data.
var rfc5424 = regexp.MustCompile(`^<134>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z scanner\.lab fastscan - finding - (\{.*\})$`)

// readOctetCounted reads RFC 6587 octet-counted frames until EOF.
func readOctetCounted(t *testing.T, r *bufio.Reader) []string {
	t.Helper()
	var msgs []string
	for {
		n, err := r.ReadString(' ')
		if err == io.EOF {
			return msgs
		}
		if err != nil {
			t.Fatal(err)
		}
		size, err := strconv.Atoi(strings.TrimSuffix(n, " "))
		if err != nil {
			t.Fatalf("frame length %q: %v", n, err)
		}
		buf := make([]byte, size)
		if _, err := io.ReadFull(r, buf); err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, string(buf))
	}
}

func TestSyslogTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []string)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		got <- readOctetCounted(t, bufio.NewReader(c))
	}()
	s, err := NewSyslog("tcp://"+ln.Addr().String(), Options{}, "jsonl", "scanner.lab")
	if err != nil {
		t.Fatal(err)
	}
	r := sample()
	for port := uint16(1); port <= 100; port++ {
		r.Port = port
		s.Write(&r)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var msgs []string
	select {
	case msgs = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("collector got nothing")
	}
	if len(msgs) != 100 || s.Sent() != 100 || s.Undelivered() != 0 {
		t.Fatalf("%d messages arrived, %d sent, %d undelivered; want 100, 100, 0", len(msgs), s.Sent(), s.Undelivered())
	}
	v := outputtest.NewValidator(t)
	for _, m := range msgs {
		parts := rfc5424.FindStringSubmatch(m)
		if parts == nil {
			t.Fatalf("not an RFC 5424 message as expected: %q", m)
		}
		if err := v.ValidateLine([]byte(parts[2])); err != nil {
			t.Fatalf("MSG %s: %v", parts[2], err)
		}
	}
}

func TestSyslogUDP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	s, err := NewSyslog("udp://"+pc.LocalAddr().String(), Options{Scan: Scan{ID: "scan-1", Version: "test"}}, "ecs", "scanner.lab")
	if err != nil {
		t.Fatal(err)
	}
	r := sample()
	for i := 0; i < 5; i++ {
		s.Write(&r)
	}
	s.Close()
	v := outputtest.NewECSValidator(t)
	buf := make([]byte, 65536)
	for i := 0; i < 5; i++ {
		pc.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
		parts := rfc5424.FindStringSubmatch(string(buf[:n]))
		if parts == nil || v.ValidateLine([]byte(parts[2])) != nil {
			t.Fatalf("datagram %q", buf[:n])
		}
	}
}

// TestSyslogUnreachableCollector: nothing listens, so every message is counted as
// undelivered, and neither Write nor Close hangs.
func TestSyslogUnreachableCollector(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s, err := NewSyslog("tcp://"+addr, Options{}, "jsonl", "")
	if err != nil {
		t.Fatal(err)
	}
	r := sample()
	start := time.Now()
	for i := 0; i < 3; i++ {
		s.Write(&r)
	}
	s.Close()
	if s.Undelivered() != 3 || s.Sent() != 0 {
		t.Fatalf("undelivered %d, sent %d; want 3, 0", s.Undelivered(), s.Sent())
	}
	if time.Since(start) > 10*time.Second {
		t.Fatalf("took %v", time.Since(start))
	}
}

// TestSyslogStalledCollector: the collector accepts connections and never reads.
// Writes go on without waiting, Close returns soon after its wait, and every message
// is counted exactly once, as sent (handed to the kernel) or undelivered.
func TestSyslogStalledCollector(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns []net.Conn // held open and never read
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	defer func() {
		ln.Close()
		<-accepted
		for _, c := range conns {
			c.Close()
		}
	}()
	s, err := NewSyslog("tcp://"+ln.Addr().String(), Options{}, "jsonl", "scanner.lab")
	if err != nil {
		t.Fatal(err)
	}
	s.closeWait = 300 * time.Millisecond
	// More than the queue holds, and far more bytes than loopback socket buffers.
	const n = syslogQueue + 20000
	r := sample()
	start := time.Now()
	for i := 0; i < n; i++ {
		r.Port = uint16(i)
		s.Write(&r)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("writing %d results took %v: Write waited for the collector", n, d)
	}
	start = time.Now()
	s.Close()
	// Close waits closeWait, then cuts the stalled write short (not waiting for
	// its own 5 s timeout).
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Close took %v with a stalled collector", d)
	}
	sent, lost := s.Sent(), s.Undelivered()
	t.Logf("%d written: %d sent, %d undelivered", n, sent, lost)
	if sent+lost != n {
		t.Errorf("sent %d + undelivered %d = %d, want every one of the %d messages counted once", sent, lost, sent+lost, n)
	}
	if lost < n-syslogQueue {
		t.Errorf("undelivered %d, want at least the %d that found the queue full", lost, n-syslogQueue)
	}
}

func TestSyslogBadTarget(t *testing.T) {
	for _, target := range []string{"", "localhost:514", "http://x:1", "tcp://nohost", "udp://:514x"} {
		if _, err := NewSyslog(target, Options{}, "jsonl", ""); err == nil {
			t.Errorf("NewSyslog(%q) accepted", target)
		}
	}
	if _, err := NewSyslog("tcp://127.0.0.1:514", Options{}, "xml", ""); err == nil {
		t.Error("syslog accepted the xml format")
	}
}

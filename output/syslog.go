package output

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fastscan/fastscan/result"
)

// Syslog limits.
const (
	// syslogQueue is how many messages may wait for a slow collector; more are
	// counted as undelivered instead of stalling the scan.
	syslogQueue = 1 << 16
	// syslogCloseWait is how long Close waits for the queue to drain.
	syslogCloseWait = 5 * time.Second
	// syslogDialTimeout bounds each connection attempt.
	syslogDialTimeout = 2 * time.Second
	// syslogWriteTimeout bounds each message's write: a collector that accepts the
	// connection and then stops reading fails the write instead of holding it.
	syslogWriteTimeout = 5 * time.Second
	// syslogPRI is facility local0 (16), severity informational (6): 16*8+6.
	syslogPRI = "<134>1 "
)

// lineFormatter formats a result as one line without a line break (JSONL, ECS).
type lineFormatter interface {
	appendLine(b []byte, r *result.Result) []byte
}

// Syslog sends every result as an RFC 5424 message whose MSG is a JSON line (or an
// ECS document) to a collector over TCP, with octet-counting framing (RFC 6587), or
// over UDP, one datagram per message. Timestamps carry microseconds (RFC 5424 allows
// at most six fractional digits).
//
// Write never waits for the network: messages go through a queue to a sending
// goroutine that connects, and reconnects after an error. Messages that find the
// queue full, or that cannot be sent, are counted; Undelivered says how many. Every
// message written is counted once, as sent or as undelivered, when Close returns.
type Syslog struct {
	network, addr, host string
	format              lineFormatter
	line                []byte
	queue               chan []byte
	undelivered         atomic.Uint64
	sent                atomic.Uint64
	done                chan struct{} // closed when the sender has finished
	closeOnce           sync.Once
	closeWait           time.Duration // syslogCloseWait; shorter in tests

	// abandon tells the sender to stop trying: Close has waited long enough. It
	// comes with stopDial, which cuts short a connection attempt under way.
	abandon  atomic.Bool
	dialCtx  context.Context
	stopDial context.CancelFunc
	// connMu guards conn, which the sender owns and Close may cut short.
	connMu sync.Mutex
	conn   net.Conn
}

// NewSyslogCheck checks a syslog target and format as NewSyslog would, without
// connecting or starting anything.
func NewSyslogCheck(target, format string) (network string, err error) {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "tcp" && u.Scheme != "udp") || u.Hostname() == "" || u.Port() == "" {
		return "", fmt.Errorf("invalid syslog target %q: want tcp://HOST:PORT or udp://HOST:PORT", target)
	}
	if format != "jsonl" && format != "ecs" {
		return "", fmt.Errorf("invalid syslog format %q: syslog carries jsonl or ecs", format)
	}
	return u.Scheme, nil
}

// NewSyslog returns a Syslog writer for target, "tcp://host:port" or
// "udp://host:port", whose messages carry the lines of format ("jsonl" or "ecs") and
// name host as their HOSTNAME.
func NewSyslog(target string, o Options, format, host string) (*Syslog, error) {
	network, err := NewSyslogCheck(target, format)
	if err != nil {
		return nil, err
	}
	u, _ := url.Parse(target)
	var f lineFormatter = NewJSONL(nil, o.Services)
	if format == "ecs" {
		f = NewECS(nil, o.Services, o.Scan)
	}
	if host == "" {
		host = "-"
	}
	s := &Syslog{network: network, addr: u.Host, host: host, format: f,
		queue: make(chan []byte, syslogQueue), done: make(chan struct{}), closeWait: syslogCloseWait}
	s.dialCtx, s.stopDial = context.WithCancel(context.Background())
	go s.send()
	return s, nil
}

// Write queues r as one message.
func (s *Syslog) Write(r *result.Result) error {
	b := append(s.line[:0], syslogPRI...)
	b = time.Unix(0, r.TimeNanos).UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z07:00")
	b = append(b, ' ')
	b = append(b, s.host...)
	b = append(b, " fastscan - finding - "...)
	b = s.format.appendLine(b, r)
	s.line = b
	msg := make([]byte, 0, len(b)+8)
	if s.network == "tcp" {
		msg = strconv.AppendInt(msg, int64(len(b)), 10)
		msg = append(msg, ' ')
	}
	msg = append(msg, b...)
	select {
	case s.queue <- msg:
	default:
		s.undelivered.Add(1)
	}
	return nil
}

// send delivers queued messages until the queue is closed, counting each as sent or
// undelivered.
func (s *Syslog) send() {
	defer close(s.done)
	defer s.dropConn()
	for msg := range s.queue {
		if !s.abandon.Load() && s.deliver(msg) {
			s.sent.Add(1)
		} else {
			s.undelivered.Add(1)
		}
	}
}

// deliver writes msg to the collector, connecting first if need be, and tries once
// more on a fresh connection if that fails.
func (s *Syslog) deliver(msg []byte) bool {
	for attempt := 0; attempt < 2; attempt++ {
		conn := s.connect()
		if conn == nil {
			if attempt == 0 {
				select { // a moment before trying again, unless Close gives up
				case <-time.After(100 * time.Millisecond):
				case <-s.dialCtx.Done():
				}
			}
			continue
		}
		if _, err := conn.Write(msg); err == nil {
			return true
		}
		s.dropConn()
	}
	return false
}

// connect returns the connection to the collector with a fresh write deadline,
// dialling if there is none; nil when dialling fails or Close has given up.
func (s *Syslog) connect() net.Conn {
	if s.abandon.Load() {
		return nil
	}
	s.connMu.Lock()
	conn := s.conn
	s.connMu.Unlock()
	if conn == nil {
		d := net.Dialer{Timeout: syslogDialTimeout}
		c, err := d.DialContext(s.dialCtx, s.network, s.addr)
		if err != nil {
			return nil
		}
		conn = c
	}
	s.connMu.Lock()
	defer s.connMu.Unlock()
	s.conn = conn
	// Checked under connMu: either Close sees this connection and cuts its write
	// short, or the sender sees that Close has given up.
	if s.abandon.Load() {
		return nil
	}
	if err := conn.SetWriteDeadline(time.Now().Add(syslogWriteTimeout)); err != nil {
		return nil
	}
	return conn
}

// dropConn closes the connection, if any.
func (s *Syslog) dropConn() {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
}

// Close waits up to five seconds for the queued messages to go out and closes the
// connection. Then it gives up: a write still waiting on a collector that does not
// read, or a connection attempt under way, is cut short, and that message and every
// one still queued count as undelivered.
func (s *Syslog) Close() error {
	s.closeOnce.Do(func() { close(s.queue) })
	defer s.stopDial()
	select {
	case <-s.done:
		return nil
	case <-time.After(s.closeWait):
	}
	s.abandon.Store(true)
	s.stopDial()
	s.connMu.Lock()
	if s.conn != nil {
		s.conn.SetWriteDeadline(time.Unix(1, 0))
	}
	s.connMu.Unlock()
	<-s.done
	return nil
}

// Flush does nothing: messages go to the sender goroutine as they are written.
func (s *Syslog) Flush() error { return nil }

// Sent returns how many messages were handed to the network.
func (s *Syslog) Sent() uint64 { return s.sent.Load() }

// Undelivered returns how many messages were dropped: queue full, or sending failed.
func (s *Syslog) Undelivered() uint64 { return s.undelivered.Load() }

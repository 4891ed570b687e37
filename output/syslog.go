package output

import (
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
// queue full, or that cannot be sent, are counted; Undelivered says how many.
type Syslog struct {
	network, addr, host string
	format              lineFormatter
	line                []byte
	queue               chan []byte
	undelivered         atomic.Uint64
	sent                atomic.Uint64
	done                sync.WaitGroup
	closeOnce           sync.Once
}

// NewSyslogCheck checks a syslog target and format as NewSyslog would, without
// connecting or starting anything.
func NewSyslogCheck(target, format string) (network string, err error) {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "tcp" && u.Scheme != "udp") || u.Hostname() == "" || u.Port() == "" {
		return "", fmt.Errorf("invalid syslog target %q: want tcp://HOST:PORT or udp://HOST:PORT", target)
	}
	if f := Format(format); f != FormatJSONL && f != FormatECS {
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
	if Format(format) == FormatECS {
		f = NewECS(nil, o.Services, o.Scan)
	}
	if host == "" {
		host = "-"
	}
	s := &Syslog{network: network, addr: u.Host, host: host, format: f, queue: make(chan []byte, syslogQueue)}
	s.done.Add(1)
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

// send delivers queued messages until the queue is closed.
func (s *Syslog) send() {
	defer s.done.Done()
	var conn net.Conn
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	for msg := range s.queue {
		for attempt := 0; ; attempt++ {
			if conn == nil {
				c, err := net.DialTimeout(s.network, s.addr, syslogDialTimeout)
				if err != nil {
					if attempt == 0 {
						time.Sleep(100 * time.Millisecond)
						continue
					}
					s.undelivered.Add(1)
					break
				}
				conn = c
			}
			if _, err := conn.Write(msg); err != nil {
				conn.Close()
				conn = nil
				if attempt == 0 {
					continue
				}
				s.undelivered.Add(1)
				break
			}
			s.sent.Add(1)
			break
		}
	}
}

// Close waits up to five seconds for the queued messages to go out and closes the
// connection. Messages still queued then count as undelivered.
func (s *Syslog) Close() error {
	s.closeOnce.Do(func() { close(s.queue) })
	finished := make(chan struct{})
	go func() { s.done.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(syslogCloseWait):
		s.undelivered.Add(uint64(len(s.queue)))
	}
	return nil
}

// Sent returns how many messages were handed to the network.
func (s *Syslog) Sent() uint64 { return s.sent.Load() }

// Undelivered returns how many messages were dropped: queue full, or sending failed.
func (s *Syslog) Undelivered() uint64 { return s.undelivered.Load() }

package svcid

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/fastscan/fastscan/registry"
)

// Defaults of [Config]'s zero fields.
const (
	DefaultConnectTimeout = 3 * time.Second
	DefaultTimeout        = 10 * time.Second
	DefaultGreetingWait   = 2 * time.Second
	DefaultMaxBytes       = 32 << 10
	DefaultBannerBytes    = 256
	DefaultMaxConnections = 4
	DefaultConcurrency    = 64
	DefaultPerHost        = 8
)

// Budget errors: a Result's Err wraps one of them when the port spent its
// budget before it was identified.
var (
	// ErrTimeBudget: the port's total time (Config.Timeout) ran out.
	ErrTimeBudget = errors.New("svcid: time budget spent")
	// ErrByteBudget: the port sent Config.MaxBytes bytes.
	ErrByteBudget = errors.New("svcid: byte budget spent")
	// ErrConnBudget: Config.MaxConnections connections were opened.
	ErrConnBudget = errors.New("svcid: connection budget spent")
)

// DialFunc opens a TCP connection (network "tcp", address "ip:port"); its
// context carries the connect timeout. net.Dialer's DialContext is one.
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// Config sets an [Identifier]'s dialer and budgets. Zero fields take the
// Default* values.
type Config struct {
	// Dial opens connections; nil: a net.Dialer.
	Dial DialFunc
	// ConnectTimeout bounds each connection attempt.
	ConnectTimeout time.Duration
	// Timeout is the total time one port may take: every connection, wait
	// and probe of it.
	Timeout time.Duration
	// GreetingWait is how long svcid waits for a server to speak first on
	// a port where the client does not (see rules.txt's ports lines), and
	// for the answer to its first request to a port whose protocol it only
	// guesses. Once a server has spoken, its answers may take the rest of
	// Timeout.
	GreetingWait time.Duration
	// MaxBytes is how many bytes svcid reads from one port at most, over
	// all its connections.
	MaxBytes int
	// BannerBytes bounds Result.Banner (before escaping).
	BannerBytes int
	// MaxConnections bounds the connections opened to one port.
	MaxConnections int
	// Concurrency bounds the ports a [Pool] identifies at once.
	Concurrency int
	// PerHost bounds the ports of one address a [Pool] identifies at once.
	PerHost int
	// Rate bounds new connections per second (every connection of every
	// port, across the Identifier's pools); 0: no limit.
	Rate float64
	// Rules are the match rules; nil: [DefaultRules].
	Rules *Rules
	// Table names a port no service was recognised on; nil: the IANA name
	// from the built-in port registry.
	Table func(port uint16) string
	// ServerName is sent as TLS SNI and HTTP Host when not empty; else the
	// Host is the address and no SNI is sent.
	ServerName string
	// UserAgent is the HTTP User-Agent; "": "fastscan".
	UserAgent string
}

// withDefaults returns c with its zero fields set and checks it.
func (c Config) withDefaults() (Config, error) {
	for name, v := range map[string]int64{
		"ConnectTimeout": int64(c.ConnectTimeout), "Timeout": int64(c.Timeout), "GreetingWait": int64(c.GreetingWait),
		"MaxBytes": int64(c.MaxBytes), "BannerBytes": int64(c.BannerBytes), "MaxConnections": int64(c.MaxConnections),
		"Concurrency": int64(c.Concurrency), "PerHost": int64(c.PerHost),
	} {
		if v < 0 {
			return c, fmt.Errorf("svcid: %s must not be negative (%d)", name, v)
		}
	}
	if c.Rate < 0 {
		return c, fmt.Errorf("svcid: Rate must not be negative (%g)", c.Rate)
	}
	def := func(p *time.Duration, d time.Duration) {
		if *p == 0 {
			*p = d
		}
	}
	defInt := func(p *int, d int) {
		if *p == 0 {
			*p = d
		}
	}
	def(&c.ConnectTimeout, DefaultConnectTimeout)
	def(&c.Timeout, DefaultTimeout)
	def(&c.GreetingWait, DefaultGreetingWait)
	defInt(&c.MaxBytes, DefaultMaxBytes)
	defInt(&c.BannerBytes, DefaultBannerBytes)
	defInt(&c.MaxConnections, DefaultMaxConnections)
	defInt(&c.Concurrency, DefaultConcurrency)
	defInt(&c.PerHost, DefaultPerHost)
	if c.Dial == nil {
		c.Dial = (&net.Dialer{}).DialContext
	}
	if c.Rules == nil {
		c.Rules = DefaultRules()
	}
	if c.Table == nil {
		reg := registry.Default()
		c.Table = func(port uint16) string { return reg.Name(port, registry.TCP) }
	}
	if c.UserAgent == "" {
		c.UserAgent = "fastscan"
	}
	return c, nil
}

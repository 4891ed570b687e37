package svcid

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Identifier identifies services; one is safe for concurrent use, and its
// rate limit is shared by everything it does.
type Identifier struct {
	cfg   Config
	limit *limiter
	// noHandshake (tests only): a TLS probe reads what the port sends and
	// fails as against a server that does not speak TLS, without the
	// cryptography, so that a fuzz execution stays microseconds.
	noHandshake bool
}

// New returns an Identifier with cfg's zero fields set to the defaults. It
// fails only for negative budgets or rate.
func New(cfg Config) (*Identifier, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Identifier{cfg: c, limit: newLimiter(c.Rate)}, nil
}

// Config returns the Identifier's configuration, defaults filled in.
func (id *Identifier) Config() Config { return id.cfg }

// Identify identifies the service on ap within the port's budgets and
// returns what it learnt; it returns early when ctx ends. The wait for the
// first connection's rate-limit token is not counted in the port's time.
func (id *Identifier) Identify(ctx context.Context, ap netip.AddrPort) Result {
	res := Result{Addr: ap}
	if err := id.limit.wait(ctx); err != nil {
		res.Err = fmt.Errorf("%v: %w", ap, err)
		res.Method, res.Service = MethodTable, id.cfg.Table(ap.Port())
		return res
	}
	start := time.Now()
	ctx, cancel := context.WithDeadline(ctx, start.Add(id.cfg.Timeout))
	defer cancel()
	deadline, _ := ctx.Deadline()
	s := &session{id: id, cfg: &id.cfg, ap: ap, deadline: deadline, res: &res, fields: make(map[string]string), limited: true}
	s.run(ctx)
	res.Elapsed = time.Since(start)
	res.BytesRead = s.read
	res.Connections = s.conns
	if len(s.banner) > 0 {
		res.Banner = EscapeBanner(s.banner, id.cfg.BannerBytes)
	} else if len(s.rawBanner) > 0 {
		res.Banner = EscapeBanner(s.rawBanner, id.cfg.BannerBytes)
	}
	if s.service != "" {
		res.Service, res.Method = s.service, MethodProbed
		res.Fields = s.fields
		res.Product, res.Version, res.Info, _ = id.cfg.Rules.Match(s.service, s.fields)
	} else {
		res.Service, res.Method = id.cfg.Table(ap.Port()), MethodTable
		if len(s.fields) > 0 {
			res.Fields = s.fields
			res.Product, res.Version, res.Info, _ = id.cfg.Rules.Match("", s.fields)
		}
	}
	if s.err != nil {
		res.Err = fmt.Errorf("%v: %w", ap, s.err)
	}
	return res
}

// session is the identification of one port.
type session struct {
	id       *Identifier
	cfg      *Config
	ap       netip.AddrPort
	deadline time.Time
	res      *Result
	limited  bool // the first connection's token was taken already

	conns     int
	read      int    // bytes read over all connections
	banner    []byte // the first plaintext the port sent
	rawBanner []byte // the first raw bytes (TLS records...) when no plaintext came
	service   string
	fields    map[string]string
	err       error // the most telling error
	tried     uint16
	queue     []string
	wantTLS   bool // the identified plaintext service said to use TLS
}

// Probe steps of a session, besides the Probe* names of rules.txt.
const probeGreet = "greet" // wait for a greeting; HTTP if the server stays silent

// probeBit is a probe's bit in session.tried.
func probeBit(p string) uint16 {
	switch p {
	case probeGreet:
		return 1
	case ProbeHTTP:
		return 2
	case ProbeTLS:
		return 4
	case ProbeTLSGreet:
		return 8
	case ProbeRedis:
		return 16
	case ProbePostgreSQL:
		return 32
	}
	return 0
}

// run tries probes until the service is identified or a budget is spent.
func (s *session) run(ctx context.Context) {
	first := s.cfg.Rules.FirstProbe(s.ap.Port())
	if first == "" {
		first = probeGreet
	}
	s.queue = append(s.queue, first, ProbeHTTP, ProbeTLS)
	for len(s.queue) > 0 {
		p := s.queue[0]
		s.queue = s.queue[1:]
		if s.tried&probeBit(p) != 0 || (p == ProbeHTTP && s.tried&probeBit(probeGreet) != 0) {
			continue
		}
		if s.service != "" && !(p == ProbeTLS && s.wantTLS) {
			return
		}
		if err := ctx.Err(); err != nil {
			s.setErr(ErrTimeBudget)
			return
		}
		if s.conns >= s.cfg.MaxConnections {
			if s.service == "" {
				s.setErr(ErrConnBudget)
			}
			return
		}
		if s.read >= s.cfg.MaxBytes {
			return
		}
		s.tried |= probeBit(p)
		if done := s.probe(ctx, p); done {
			return
		}
	}
}

// isTimeout reports a connection attempt that timed out (not one refused
// or unreachable).
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// suggest puts a probe at the front of the queue: the answer of another
// probe says the port speaks that protocol.
func (s *session) suggest(p string) {
	s.queue = append([]string{p}, s.queue...)
}

// setErr records err unless a more telling error (a budget) is recorded.
func (s *session) setErr(err error) {
	if err == nil {
		return
	}
	if s.err == nil || !(errors.Is(s.err, ErrTimeBudget) || errors.Is(s.err, ErrByteBudget)) {
		s.err = err
	}
}

// identified records the service and its fields.
func (s *session) identified(service string, fields map[string]string) {
	s.service = service
	for k, v := range fields {
		if v != "" {
			s.fields[k] = v
		}
	}
}

// dial opens the next connection of the port, after its rate-limit token.
func (s *session) dial(ctx context.Context) (*countConn, error) {
	if !s.limited {
		if err := s.id.limit.wait(ctx); err != nil {
			return nil, ErrTimeBudget
		}
	}
	s.limited = false
	s.conns++
	dctx, cancel := context.WithTimeout(ctx, s.cfg.ConnectTimeout)
	defer cancel()
	c, err := s.cfg.Dial(dctx, "tcp", s.ap.String())
	if err != nil {
		if ctx.Err() != nil {
			return nil, ErrTimeBudget
		}
		return nil, fmt.Errorf("connect: %w", err)
	}
	if err := c.SetDeadline(s.deadline); err != nil {
		c.Close()
		return nil, fmt.Errorf("connect: %w", err)
	}
	return &countConn{Conn: c, s: s}, nil
}

// dialAgain is dial, made again after a timeout: the port answered the
// scan's SYN, so a connection attempt that timed out most likely lost its
// handshake on the way (ConnectTimeout cuts the kernel's SYN retransmissions
// at 1 s, 3 s, 7 s short). A fresh attempt, while the port's time and
// connections last, recovers it.
func (s *session) dialAgain(ctx context.Context) (*countConn, error) {
	c, err := s.dial(ctx)
	for err != nil && isTimeout(err) && s.conns < s.cfg.MaxConnections && ctx.Err() == nil {
		c, err = s.dial(ctx)
	}
	return c, err
}

// probe runs one probe on a fresh connection; done reports that nothing
// more is to be tried.
func (s *session) probe(ctx context.Context, p string) (done bool) {
	c, err := s.dialAgain(ctx)
	if err != nil {
		s.setErr(err)
		// A refused or unreachable port stays so: no other probe.
		return true
	}
	defer c.Close()
	// Closing the connection when ctx ends unblocks any read or write.
	stop := context.AfterFunc(ctx, func() { c.Conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	ex := &exchange{s: s, c: c}
	switch p {
	case probeGreet:
		return s.greet(ctx, ex, true)
	case ProbeHTTP:
		return s.http(ctx, ex)
	case ProbeTLS, ProbeTLSGreet:
		return s.tls(ctx, c, p == ProbeTLSGreet)
	case ProbeRedis:
		return s.redis(ctx, ex)
	case ProbePostgreSQL:
		return s.postgres(ctx, ex, c)
	}
	return false
}

// countConn counts the bytes read against the port's budget and keeps the
// first ones.
type countConn struct {
	net.Conn
	s   *session
	raw []byte // the first bytes read (bounded by BannerBytes)
}

// Read implements io.Reader within the byte budget.
func (c *countConn) Read(p []byte) (int, error) {
	left := c.s.cfg.MaxBytes - c.s.read
	if left <= 0 {
		return 0, ErrByteBudget
	}
	if len(p) > left {
		p = p[:left]
	}
	n, err := c.Conn.Read(p)
	c.s.read += n
	if keep := c.s.cfg.BannerBytes - len(c.raw); keep > 0 && n > 0 {
		c.raw = append(c.raw, p[:min(n, keep)]...)
		if len(c.s.rawBanner) == 0 {
			c.s.rawBanner = c.raw
		}
	}
	return n, err
}

// exchange reads a connection's (plaintext) answers into one buffer.
type exchange struct {
	s   *session
	c   net.Conn // a *countConn, or a *tls.Conn over one
	buf []byte
	err error // sticky: EOF, reset, budget
	tls *tls.Conn
}

// errSilent: the wait for an answer passed without one (the port's budget
// is not spent).
var errSilent = errors.New("no answer")

// send writes p.
func (e *exchange) send(p []byte) error {
	if e.err != nil {
		return e.err
	}
	if _, err := e.c.Write(p); err != nil {
		e.err = e.s.budgetErr(err)
		return e.err
	}
	return nil
}

// read reads until done(buf[from:]) holds, wait passes (errSilent), the
// port's time or bytes run out, or the connection ends. It returns
// buf[from:] and why it stopped (nil when done held).
func (e *exchange) read(from int, wait time.Duration, done func([]byte) bool) ([]byte, error) {
	until := time.Now().Add(wait)
	if until.After(e.s.deadline) {
		until = e.s.deadline
	}
	defer func() {
		if len(e.s.banner) == 0 && len(e.buf) > 0 {
			e.s.banner = e.buf[:min(len(e.buf), e.s.cfg.BannerBytes)]
		}
	}()
	for {
		if from <= len(e.buf) && done(e.buf[from:]) {
			return e.buf[from:], nil
		}
		if e.err != nil {
			return e.buf[from:], e.err
		}
		if cap(e.buf)-len(e.buf) < 512 {
			n := max(2*cap(e.buf), 2048)
			n = min(n, e.s.cfg.MaxBytes+512)
			if n <= cap(e.buf) {
				e.err = ErrByteBudget
				continue
			}
			nb := make([]byte, len(e.buf), n)
			copy(nb, e.buf)
			e.buf = nb
		}
		if err := e.c.SetReadDeadline(until); err != nil {
			e.err = err
			continue
		}
		n, err := e.c.Read(e.buf[len(e.buf):cap(e.buf)])
		e.buf = e.buf[:len(e.buf)+n]
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && time.Now().Before(e.s.deadline) {
				if done(e.buf[from:]) {
					return e.buf[from:], nil
				}
				return e.buf[from:], errSilent
			}
			e.err = e.s.budgetErr(err)
		}
	}
}

// replyWait is how long svcid waits for the rest of what a server that
// has spoken already says, or for its answer to a request of the protocol
// it speaks: the rest of the port's budget (read stops at the deadline).
// GreetingWait bounds only the guesses: whether a server speaks first, and
// the first request to a port whose protocol is not known yet. A path with
// a long round trip and losses makes a live server's answer take a few
// retransmission timeouts (seconds); with GreetingWait, SMTP's EHLO answer
// came too late and its 500 to FTP's FEAT named the server ftp.
func (s *session) replyWait() time.Duration { return s.cfg.Timeout }

// firstAnswerWait is how long the answer to probe p's first request is
// awaited: the rest of the budget (replyWait) on a port whose rules name p
// its protocol (a ports line, such as redis on 6379), where a request or
// its answer lost once or twice on a long lossy path is worth waiting for;
// GreetingWait where p is one guess among others.
func (s *session) firstAnswerWait(p string) time.Duration {
	if s.cfg.Rules.FirstProbe(s.ap.Port()) == p {
		return s.replyWait()
	}
	return s.cfg.GreetingWait
}

// budgetErr maps an error at or past the port's deadline to ErrTimeBudget.
func (s *session) budgetErr(err error) error {
	if errors.Is(err, ErrByteBudget) {
		return ErrByteBudget
	}
	if !time.Now().Before(s.deadline) {
		return ErrTimeBudget
	}
	return err
}

// endErr records why a probe learnt nothing: EOF and silence are not
// errors of the port.
func (s *session) endErr(err error) {
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, errSilent) {
		return
	}
	s.setErr(err)
}

// hasLine reports a complete line.
func hasLine(b []byte) bool { return bytes.IndexByte(b, '\n') >= 0 }

// greetingDone reports a complete first line, or a complete MySQL packet.
func greetingDone(b []byte) bool {
	if len(b) >= 5 && b[3] == 0 && (b[4] == 10 || b[4] == 0xff) {
		if n := int(b[0]) | int(b[1])<<8 | int(b[2])<<16; n > 0 && n <= 1<<16 {
			return len(b) >= 4+n
		}
	}
	return hasLine(b)
}

// greet waits for the server to speak first and identifies what it says;
// a silent server gets an HTTP request when sayHTTP is set.
func (s *session) greet(ctx context.Context, ex *exchange, sayHTTP bool) bool {
	// Wait GreetingWait for the first byte; once the server speaks, give
	// it the port's time to finish its greeting.
	b, err := ex.read(0, s.cfg.GreetingWait, func(b []byte) bool { return len(b) > 0 })
	if len(b) > 0 {
		b, err = ex.read(0, s.cfg.Timeout, greetingDone)
	}
	if len(b) == 0 {
		if errors.Is(err, errSilent) && sayHTTP {
			return s.http(ctx, ex)
		}
		s.endErr(err)
		return errors.Is(err, ErrTimeBudget) || errors.Is(err, ErrByteBudget)
	}
	s.endErr(err)
	if errors.Is(err, ErrTimeBudget) || errors.Is(err, ErrByteBudget) {
		s.greeting(ctx, ex, b)
		return true
	}
	return s.greeting(ctx, ex, b)
}

// greeting identifies a server by the first thing it said and carries on
// the protocol's exchange where that tells more.
func (s *session) greeting(ctx context.Context, ex *exchange, b []byte) bool {
	switch {
	case bytes.HasPrefix(b, []byte("SSH-")) || bytes.Contains(firstLines(b, 8), []byte("\nSSH-")):
		// Lines before the identification string are allowed: read on.
		b, _ = ex.read(0, s.replyWait(), func(b []byte) bool { _, ok := ParseSSH(completeLines(b)); return ok })
		if id, ok := ParseSSH(completeLines(b)); ok {
			s.identified(ServiceSSH, map[string]string{"protoversion": id.ProtoVersion, "software": id.Software, "comments": id.Comments})
		}
		return true
	case isMySQL(b):
		if g, ok := ParseMySQL(b); ok {
			s.identified(ServiceMySQL, map[string]string{"server_version": g.Version, "error": g.ErrMsg})
		}
		return true
	case len(b) >= 3 && isDigits(b[:3]):
		return s.smtpOrFTP(ex)
	case bytes.HasPrefix(b, []byte("+OK")):
		return s.pop3(ex)
	case bytes.HasPrefix(b, []byte("* OK")) || bytes.HasPrefix(b, []byte("* PREAUTH")) || bytes.HasPrefix(b, []byte("* BYE")):
		return s.imap(ex)
	case bytes.HasPrefix(b, []byte("HTTP/")):
		return s.httpAnswer(ctx, ex, 0)
	}
	s.fields["banner"] = field(firstLine(b))
	return s.other(b)
}

// other identifies an answer that was not the one expected; it returns
// false when another probe should be tried.
func (s *session) other(b []byte) bool {
	switch {
	case len(b) == 0:
		return false
	case bytes.HasPrefix(b, []byte("SSH-")):
		if id, ok := ParseSSH(completeLines(b)); ok {
			s.identified(ServiceSSH, map[string]string{"protoversion": id.ProtoVersion, "software": id.Software, "comments": id.Comments})
			return true
		}
	case isMySQL(b):
		if g, ok := ParseMySQL(b); ok {
			s.identified(ServiceMySQL, map[string]string{"server_version": g.Version, "error": g.ErrMsg})
			return true
		}
	case isTLSRecord(b):
		s.suggest(ProbeTLS)
		return false
	case isRedisError(b):
		s.suggest(ProbeRedis)
		return false
	case (len(b) >= 3 && isDigits(b[:3])) || bytes.HasPrefix(b, []byte("+OK")) || bytes.HasPrefix(b, []byte("* ")):
		// A greeting that came late: listen again from the start.
		s.suggest(probeGreet)
		s.tried &^= probeBit(probeGreet)
		return false
	}
	if _, ok := s.fields["banner"]; !ok {
		s.fields["banner"] = field(firstLine(b))
	}
	return false
}

func firstLines(b []byte, n int) []byte {
	end := 0
	for i := 0; i < n; i++ {
		j := bytes.IndexByte(b[end:], '\n')
		if j < 0 {
			return b
		}
		end += j + 1
	}
	return b[:end]
}

// completeLines returns b up to its last line end.
func completeLines(b []byte) []byte {
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		return b[:i+1]
	}
	return nil
}

func isMySQL(b []byte) bool {
	_, ok := ParseMySQL(b)
	return ok
}

func isTLSRecord(b []byte) bool {
	return len(b) >= 3 && (b[0] == 0x15 || b[0] == 0x16) && b[1] == 3 && b[2] <= 4
}

func isRedisError(b []byte) bool {
	for _, p := range []string{"-ERR", "-NOAUTH", "-DENIED", "-WRONGPASS", "+PONG"} {
		if bytes.HasPrefix(b, []byte(p)) {
			return true
		}
	}
	return false
}

// codeReplyDone reports a complete SMTP/FTP reply.
func codeReplyDone(b []byte) bool { _, r := ParseCodeReply(b); return r.Done }

// replyText joins the reply's lines without their codes.
func replyText(lines []string) string {
	var parts []string
	for _, l := range lines {
		if len(l) >= 4 && isDigits([]byte(l[:3])) {
			l = l[4:]
		}
		parts = append(parts, strings.TrimSpace(l))
	}
	t := strings.Join(parts, " ")
	if len(t) > maxField {
		t = t[:maxField]
	}
	return t
}

// smtpOrFTP tells SMTP from FTP (both greet with 220) and asks what the
// server offers: EHLO (SMTP) or FEAT (FTP).
func (s *session) smtpOrFTP(ex *exchange) bool {
	b, err := ex.read(0, s.replyWait(), codeReplyDone)
	code, greet := ParseCodeReply(b)
	if !greet.Done {
		s.endErr(err)
		s.fields["banner"] = field(firstLine(b))
		return true
	}
	text := replyText(greet.Lines)
	upper := strings.ToUpper(text)
	port := s.ap.Port()
	isFTP := strings.Contains(upper, "FTP") || port == 21 || port == 990 || port == 2121
	isSMTP := strings.Contains(upper, "SMTP") || port == 25 || port == 465 || port == 587 || port == 2525
	if code != 220 && code != 120 && code != 421 && code != 554 {
		s.fields["banner"] = text
		return true
	}
	if isSMTP || !isFTP {
		from := len(ex.buf)
		if err := ex.send([]byte("EHLO fastscan.invalid\r\n")); err == nil {
			b, err = ex.read(from, s.replyWait(), codeReplyDone)
			code, r := ParseCodeReply(b)
			if r.Done && code == 250 {
				s.identified(ServiceSMTP, map[string]string{"banner": text})
				for _, l := range r.Lines[1:] {
					if len(l) > 4 && strings.EqualFold(strings.Fields(l[4:] + " x")[0], "STARTTLS") {
						s.res.StartTLS = true
					}
				}
				ex.send([]byte("QUIT\r\n"))
				return true
			}
			if isSMTP && r.Done {
				s.identified(ServiceSMTP, map[string]string{"banner": text})
				return true
			}
			s.endErr(err)
			if strings.Contains(upper, "SMTP") {
				// No answer within the budget: the greeting still says
				// what the server is (and FTP's FEAT would get a 500).
				s.identified(ServiceSMTP, map[string]string{"banner": text})
				return true
			}
		}
	}
	from := len(ex.buf)
	if err := ex.send([]byte("FEAT\r\n")); err == nil {
		b, err = ex.read(from, s.replyWait(), codeReplyDone)
		code, r := ParseCodeReply(b)
		if r.Done && (code == 211 || code == 214 || code/100 == 5 || isFTP) {
			s.identified(ServiceFTP, map[string]string{"banner": text})
			for _, l := range r.Lines {
				u := strings.ToUpper(strings.TrimSpace(l))
				if strings.HasPrefix(u, "AUTH") && (strings.Contains(u, "TLS") || strings.Contains(u, "SSL")) {
					s.res.StartTLS = true
				}
			}
			ex.send([]byte("QUIT\r\n"))
			return true
		}
		s.endErr(err)
	}
	s.fields["banner"] = text
	return true
}

// pop3 asks a POP3 server for its capabilities (CAPA, RFC 2449).
func (s *session) pop3(ex *exchange) bool {
	b, _ := ex.read(0, s.replyWait(), hasLine)
	_, g := ParsePOP3(b, false)
	text := ""
	if len(g.Lines) > 0 {
		text = strings.TrimSpace(strings.TrimPrefix(g.Lines[0], "+OK"))
	}
	s.identified(ServicePOP3, map[string]string{"banner": text})
	from := len(ex.buf)
	if err := ex.send([]byte("CAPA\r\n")); err != nil {
		return true
	}
	b, err := ex.read(from, s.replyWait(), func(b []byte) bool { _, r := ParsePOP3(b, true); return r.Done })
	s.endErr(err)
	if ok, r := ParsePOP3(b, true); ok {
		for _, l := range r.Lines[1:] {
			if strings.EqualFold(strings.TrimSpace(l), "STLS") {
				s.res.StartTLS = true
			}
		}
	}
	ex.send([]byte("QUIT\r\n"))
	return true
}

// imap asks an IMAP server for its capabilities.
func (s *session) imap(ex *exchange) bool {
	b, _ := ex.read(0, s.replyWait(), hasLine)
	_, g := ParseIMAP(b, "")
	text := ""
	if len(g.Lines) > 0 {
		text = g.Lines[0]
		for _, p := range []string{"* OK", "* PREAUTH", "* BYE"} {
			text = strings.TrimPrefix(text, p)
		}
		if strings.HasPrefix(strings.TrimSpace(text), "[") {
			if i := strings.IndexByte(text, ']'); i >= 0 {
				if hasWord(text[:i], "STARTTLS") {
					s.res.StartTLS = true
				}
				text = text[i+1:]
			}
		}
		text = strings.TrimSpace(text)
	}
	s.identified(ServiceIMAP, map[string]string{"banner": text})
	from := len(ex.buf)
	if err := ex.send([]byte("a1 CAPABILITY\r\n")); err != nil {
		return true
	}
	b, err := ex.read(from, s.replyWait(), func(b []byte) bool { _, r := ParseIMAP(b, "a1"); return r.Done })
	s.endErr(err)
	if ok, r := ParseIMAP(b, "a1"); ok {
		for _, l := range r.Lines {
			if strings.HasPrefix(l, "* CAPABILITY") && hasWord(l, "STARTTLS") {
				s.res.StartTLS = true
			}
		}
	}
	ex.send([]byte("a2 LOGOUT\r\n"))
	return true
}

// hasWord reports whether w is one of s's space-separated words (ASCII
// case-insensitive).
func hasWord(s, w string) bool {
	for _, f := range strings.Fields(s) {
		if strings.EqualFold(strings.Trim(f, "[]"), w) {
			return true
		}
	}
	return false
}

// httpBodyWant is how much of a body svcid reads looking for the title.
const httpBodyWant = 16 << 10

// notHTTPLine reports an answer whose first line is complete and is not an
// HTTP status line: a server-first protocol whose greeting came late (after
// the greeting wait, on a lossy path), which may keep the connection open
// after it complained of the request; the answer is identified as it is,
// without waiting out the port's budget.
func notHTTPLine(b []byte) bool {
	return hasLine(b) && !bytes.HasPrefix(b, []byte("HTTP/"))
}

// httpDone reports a response read far enough: the headers and the title,
// or the whole Content-Length, or httpBodyWant bytes of body.
func httpDone(b []byte) bool {
	i := bytes.Index(b, []byte("\r\n\r\n"))
	sep := 4
	if j := bytes.Index(b, []byte("\n\n")); j >= 0 && (i < 0 || j < i) {
		i, sep = j, 2
	}
	if i < 0 {
		return false
	}
	head, body := b[:i], b[i+sep:]
	if len(body) >= httpBodyWant || bytes.Contains(asciiLower(body), []byte("</title")) {
		return true
	}
	for _, l := range bytes.Split(head, []byte("\n")) {
		name, v, ok := bytes.Cut(l, []byte(":"))
		if ok && strings.EqualFold(string(bytes.TrimSpace(name)), "content-length") {
			n, err := strconv.Atoi(string(bytes.TrimSpace(v)))
			return err == nil && len(body) >= n
		}
	}
	return false
}

// httpRequest is the request svcid sends.
func (s *session) httpRequest() []byte {
	host := s.cfg.ServerName
	if host == "" {
		host = s.ap.Addr().String()
		if s.ap.Addr().Is6() {
			host = "[" + host + "]"
		}
	}
	if p := s.ap.Port(); p != 80 && p != 443 {
		host += ":" + strconv.Itoa(int(p))
	}
	return []byte("GET / HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: " + s.cfg.UserAgent +
		"\r\nAccept: */*\r\nConnection: close\r\n\r\n")
}

// http sends an HTTP request and identifies the answer.
func (s *session) http(ctx context.Context, ex *exchange) bool {
	from := len(ex.buf)
	if err := ex.send(s.httpRequest()); err != nil {
		s.endErr(err)
		return errors.Is(err, ErrTimeBudget)
	}
	return s.httpAnswer(ctx, ex, from)
}

// httpAnswer reads and identifies an answer to an HTTP request (or a
// server's first words) from ex.buf[from:].
func (s *session) httpAnswer(ctx context.Context, ex *exchange, from int) bool {
	b, err := ex.read(from, s.cfg.Timeout, func(b []byte) bool { return httpDone(b) || notHTTPLine(b) })
	r, ok := ParseHTTP(b)
	if !ok {
		s.endErr(err)
		if len(b) > 0 && !bytes.HasPrefix(b, []byte("HTTP/")) {
			if s.other(b) {
				return true
			}
		}
		return errors.Is(err, ErrTimeBudget) || errors.Is(err, ErrByteBudget)
	}
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, errSilent) && !r.HeaderDone {
		s.setErr(err)
	}
	s.identified(ServiceHTTP, map[string]string{
		"status": strconv.Itoa(r.Status), "server": r.Server, "title": r.Title, "powered_by": r.PoweredBy,
	})
	if ex.tls == nil && r.Status == 400 && plainToTLS(b) {
		// The port wants TLS: its HTTP over TLS tells more.
		s.wantTLS = true
		s.suggest(ProbeTLS)
		s.tried &^= probeBit(ProbeTLS)
		return false
	}
	return true
}

// plainToTLS recognises the answers of HTTPS servers to plaintext HTTP.
func plainToTLS(b []byte) bool {
	l := asciiLower(b)
	return bytes.Contains(l, []byte("plain http request was sent to https port")) ||
		bytes.Contains(l, []byte("speaking plain http to an ssl-enabled server")) ||
		bytes.Contains(l, []byte("client sent an http request to an https server"))
}

// tlsConfig is the client's TLS configuration: no verification, every
// version and cipher suite crypto/tls has.
func (s *session) tlsConfig(alpn []string) *tls.Config {
	var suites []uint16
	for _, c := range tls.CipherSuites() {
		suites = append(suites, c.ID)
	}
	for _, c := range tls.InsecureCipherSuites() {
		suites = append(suites, c.ID)
	}
	return &tls.Config{
		InsecureSkipVerify: true, // identification, not trust: the certificate is reported, not checked
		ServerName:         s.cfg.ServerName,
		NextProtos:         alpn,
		MinVersion:         tls.VersionTLS10,
		CipherSuites:       suites,
		// Classical key shares only: the post-quantum hybrid's key generation
		// costs more than the rest of a handshake, and tells nothing more.
		CurvePreferences: []tls.CurveID{tls.X25519, tls.CurveP256, tls.CurveP384, tls.CurveP521},
	}
}

// handshake runs a TLS client handshake over c and records it.
func (s *session) handshake(ctx context.Context, c *countConn, alpn []string) (*tls.Conn, error) {
	if s.id.noHandshake {
		var b [512]byte
		if _, err := c.Write([]byte{0x16, 3, 1, 0, 0}); err != nil {
			return nil, s.budgetErr(err)
		}
		if _, err := c.Read(b[:]); err != nil {
			return nil, s.budgetErr(err)
		}
		return nil, errors.New("tls: not a TLS server (test stub)")
	}
	tc := tls.Client(c, s.tlsConfig(alpn))
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, s.budgetErr(err)
	}
	st := tc.ConnectionState()
	info := &TLSInfo{
		Version:     tls.VersionName(st.Version),
		CipherSuite: tls.CipherSuiteName(st.CipherSuite),
		ALPN:        st.NegotiatedProtocol,
		Chain:       len(st.PeerCertificates),
	}
	if len(c.raw) >= 3 {
		info.RecordVersion = tls.VersionName(uint16(c.raw[1])<<8 | uint16(c.raw[2]))
	}
	if len(st.PeerCertificates) > 0 {
		leaf := st.PeerCertificates[0]
		sum := sha256.Sum256(leaf.Raw)
		info.SubjectCN = leaf.Subject.CommonName
		info.Issuer = leaf.Issuer.String()
		info.NotBefore, info.NotAfter = leaf.NotBefore, leaf.NotAfter
		info.SHA256 = hex.EncodeToString(sum[:])
		info.SANs = append(info.SANs, leaf.DNSNames...)
		for _, ip := range leaf.IPAddresses {
			info.SANs = append(info.SANs, ip.String())
		}
		info.SANs = append(info.SANs, leaf.EmailAddresses...)
		for _, u := range leaf.URIs {
			info.SANs = append(info.SANs, u.String())
		}
	}
	if s.res.TLS == nil || s.res.TLS.ALPN == "" {
		s.res.TLS = info
	}
	return tc, nil
}

// tls handshakes, then speaks HTTP inside (or, with greeting, first waits
// for the server's greeting).
func (s *session) tls(ctx context.Context, c *countConn, greeting bool) bool {
	alpn := []string{"h2", "http/1.1"}
	if greeting {
		alpn = nil
	}
	tc, err := s.handshake(ctx, c, alpn)
	if err != nil {
		s.endErr(err)
		if errors.Is(err, ErrTimeBudget) || errors.Is(err, ErrByteBudget) {
			return true
		}
		// Not TLS: perhaps what the port said instead tells.
		return s.other(c.raw)
	}
	ex := &exchange{s: s, c: tc, tls: tc}
	if tc.ConnectionState().NegotiatedProtocol == "h2" {
		// HTTP/2 was chosen: HTTP/1.1 needs a connection of its own.
		tc.Close()
		if s.conns >= s.cfg.MaxConnections {
			s.identified(ServiceHTTP, nil)
			return true
		}
		c2, err := s.dialAgain(ctx) // the second connection's handshake may be lost too
		if err != nil {
			s.setErr(err)
			s.identified(ServiceHTTP, nil)
			return true
		}
		defer c2.Close()
		stop := context.AfterFunc(ctx, func() { c2.Conn.SetDeadline(time.Unix(1, 0)) })
		defer stop()
		if tc, err = s.handshake(ctx, c2, []string{"http/1.1"}); err != nil {
			s.endErr(err)
			s.identified(ServiceHTTP, nil)
			return true
		}
		ex = &exchange{s: s, c: tc, tls: tc}
	}
	defer tc.Close()
	if greeting {
		if s.greet(ctx, ex, true) && s.service != "" {
			return true
		}
	} else if s.http(ctx, ex) && s.service != "" {
		return true
	}
	if s.service == "" {
		s.service = ServiceTLS
	}
	return true
}

// Redis (RESP): PING, then INFO server.
const (
	redisPing = "*1\r\n$4\r\nPING\r\n"
	redisInfo = "*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n"
)

// redis identifies a Redis server (and its version, if it needs no
// password).
func (s *session) redis(_ context.Context, ex *exchange) bool {
	if err := ex.send([]byte(redisPing)); err != nil {
		s.endErr(err)
		return false
	}
	b, err := ex.read(0, s.firstAnswerWait(ProbeRedis), func(b []byte) bool { return bytes.Contains(b, []byte("\r\n")) })
	r, ok := ParseRESP(b)
	if !ok || (r.Type != '+' && r.Type != '-') {
		s.endErr(err)
		return s.other(b)
	}
	if r.Type == '-' {
		if !isRedisError(b) {
			return s.other(b)
		}
		s.identified(ServiceRedis, map[string]string{"error": field(r.Text)})
		return true
	}
	if !bytes.EqualFold(r.Text, []byte("PONG")) {
		return s.other(b)
	}
	s.identified(ServiceRedis, nil)
	from := len(ex.buf)
	if err := ex.send([]byte(redisInfo)); err != nil {
		s.endErr(err)
		return true
	}
	b, err = ex.read(from, s.replyWait(), func(b []byte) bool {
		if !bytes.Contains(b, []byte("\r\n")) {
			return false
		}
		r, ok := ParseRESP(b)
		return !ok || r.Type != '$' || r.Complete
	})
	s.endErr(err)
	if r, ok := ParseRESP(b); ok {
		switch r.Type {
		case '$', '=':
			f := make(map[string]string)
			ParseRedisInfo(r.Text, f)
			s.identified(ServiceRedis, f)
		case '-':
			s.identified(ServiceRedis, map[string]string{"error": field(r.Text)})
		}
	}
	return true
}

// PostgreSQL protocol 3.0 messages (frontend).
const (
	pgSSLRequest = "\x00\x00\x00\x08\x04\xd2\x16\x2f" // length 8, code 80877103
	pgTerminate  = "X\x00\x00\x00\x04"
)

// pgStartup is a StartupMessage for user and database "fastscan".
func pgStartup() []byte {
	body := "\x00\x03\x00\x00user\x00fastscan\x00database\x00fastscan\x00application_name\x00fastscan\x00\x00"
	n := len(body) + 4
	return append([]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}, body...)
}

// pgMessageDone reports a complete backend message.
func pgMessageDone(b []byte) bool {
	if len(b) < 5 {
		return false
	}
	n := int(b[1])<<24 | int(b[2])<<16 | int(b[3])<<8 | int(b[4])
	return n < 4 || n > 1<<20 || len(b) >= 1+n
}

// postgres asks for TLS (SSLRequest), then sends a startup message; the
// server's answer (an authentication request or an error) tells it is
// PostgreSQL.
func (s *session) postgres(ctx context.Context, ex *exchange, c *countConn) bool {
	if err := ex.send([]byte(pgSSLRequest)); err != nil {
		s.endErr(err)
		return false
	}
	b, err := ex.read(0, s.firstAnswerWait(ProbePostgreSQL), func(b []byte) bool { return len(b) >= 1 })
	if len(b) == 0 {
		s.endErr(err)
		return errors.Is(err, ErrTimeBudget)
	}
	switch b[0] {
	case 'S':
		tc, err := s.handshake(ctx, c, nil)
		if err != nil {
			s.endErr(err)
			return true
		}
		defer tc.Close()
		ex = &exchange{s: s, c: tc, tls: tc}
	case 'N':
		if len(b) > 1 {
			return s.other(b)
		}
	case 'E':
		return s.pgAnswer(ex, 0)
	default:
		return s.other(b)
	}
	from := len(ex.buf)
	if err := ex.send(pgStartup()); err != nil {
		s.endErr(err)
		return true
	}
	return s.pgAnswer(ex, from)
}

// pgAnswer identifies the backend message at ex.buf[from:].
func (s *session) pgAnswer(ex *exchange, from int) bool {
	b, err := ex.read(from, s.replyWait(), pgMessageDone)
	m, ok := ParsePGMessage(b)
	if !ok {
		s.endErr(err)
		return s.other(b)
	}
	s.identified(ServicePostgreSQL, map[string]string{
		"protocol": "3.0", "severity": m.Severity, "code": m.Code, "message": m.Message,
	})
	ex.send([]byte(pgTerminate))
	return true
}

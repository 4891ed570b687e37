package svcid

import (
	"bytes"
	"encoding/binary"
	"strconv"
	"strings"
)

// maxField bounds the length of every parsed field.
const maxField = 256

// The parsers below read bytes a server sent (possibly hostile, possibly
// cut short by the byte budget) and never panic, never loop without
// consuming input and return bounded strings (see the fuzz tests).

// field returns s as a printable, bounded field value: control bytes and
// invalid UTF-8 become escapes (EscapeBanner), spaces are trimmed.
func field(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) > maxField {
		b = b[:maxField]
	}
	return EscapeBanner(b, maxField)
}

// EscapeBanner returns the first max bytes of b as text: printable ASCII as
// is, backslash as \\, tab, CR and LF as \t \r \n, every other byte as \xNN.
// The result is at most 4*max bytes long.
func EscapeBanner(b []byte, max int) string {
	if len(b) > max {
		b = b[:max]
	}
	var sb strings.Builder
	sb.Grow(len(b))
	const hex = "0123456789abcdef"
	for _, c := range b {
		switch {
		case c == '\\':
			sb.WriteString(`\\`)
		case c == '\t':
			sb.WriteString(`\t`)
		case c == '\r':
			sb.WriteString(`\r`)
		case c == '\n':
			sb.WriteString(`\n`)
		case c >= 0x20 && c < 0x7f:
			sb.WriteByte(c)
		default:
			sb.WriteString(`\x`)
			sb.WriteByte(hex[c>>4])
			sb.WriteByte(hex[c&0xf])
		}
	}
	return sb.String()
}

// firstLine returns b up to its first CR or LF.
func firstLine(b []byte) []byte {
	if i := bytes.IndexAny(b, "\r\n"); i >= 0 {
		return b[:i]
	}
	return b
}

// SSHIdent is an SSH identification string (RFC 4253 §4.2):
// SSH-protoversion-softwareversion SP comments CR LF.
type SSHIdent struct {
	ProtoVersion, Software, Comments string
}

// ParseSSH finds the identification string in what an SSH server sent
// first: lines before it that do not start with "SSH-" are allowed by the
// RFC and skipped. ok is false when no line starts with "SSH-".
func ParseSSH(b []byte) (id SSHIdent, ok bool) {
	for len(b) > 0 {
		line := b
		rest := []byte(nil)
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, rest = b[:i], b[i+1:]
		}
		line = bytes.TrimRight(line, "\r")
		if after, found := bytes.CutPrefix(line, []byte("SSH-")); found {
			proto, sw, _ := bytes.Cut(after, []byte("-"))
			sw, comments, _ := bytes.Cut(sw, []byte(" "))
			return SSHIdent{ProtoVersion: field(proto), Software: field(sw), Comments: field(comments)}, true
		}
		b = rest
	}
	return SSHIdent{}, false
}

// HTTPResponse is the part of an HTTP/1.x response svcid reads.
type HTTPResponse struct {
	Proto      string // "HTTP/1.1"
	Status     int    // 200
	Reason     string // "OK"
	Server     string // the Server header
	PoweredBy  string // the X-Powered-By header
	Location   string // the Location header
	Title      string // the HTML page's <title>, entities of the common five decoded
	HeaderDone bool   // the header section ended (an empty line was seen)
}

// ParseHTTP parses the status line, headers and title of an HTTP/1.x
// response from its first bytes (which may be cut short). ok is false when
// b does not start with "HTTP/d.d SP ddd".
func ParseHTTP(b []byte) (r HTTPResponse, ok bool) {
	line := firstLine(b)
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/")) || line[8] != ' ' {
		return r, false
	}
	code, err := strconv.Atoi(string(line[9:12]))
	if err != nil || code < 100 || code > 999 || (len(line) > 12 && line[12] != ' ') {
		return r, false
	}
	r.Proto, r.Status = field(line[:8]), code
	if len(line) > 13 {
		r.Reason = field(line[13:])
	}
	rest := b[len(line):]
	if i := bytes.IndexByte(rest, '\n'); i >= 0 {
		rest = rest[i+1:]
	} else {
		rest = nil
	}
	var body []byte
	for {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break // no more complete header lines
		}
		l := bytes.TrimRight(rest[:i], "\r")
		rest = rest[i+1:]
		if len(l) == 0 {
			r.HeaderDone = true
			body = rest
			break
		}
		name, value, found := bytes.Cut(l, []byte(":"))
		if !found {
			continue
		}
		switch strings.ToLower(string(bytes.TrimSpace(name))) {
		case "server":
			r.Server = field(value)
		case "x-powered-by":
			r.PoweredBy = field(value)
		case "location":
			r.Location = field(value)
		}
	}
	r.Title = htmlTitle(body)
	return r, true
}

// htmlTitle returns the text of the first <title> element in body.
func htmlTitle(body []byte) string {
	lower := asciiLower(body)
	i := bytes.Index(lower, []byte("<title"))
	if i < 0 {
		return ""
	}
	j := bytes.IndexByte(lower[i:], '>')
	if j < 0 {
		return ""
	}
	start := i + j + 1
	end := bytes.Index(lower[start:], []byte("</title"))
	if end < 0 {
		end = len(body) - start
	}
	t := bytes.Join(bytes.Fields(body[start:start+end]), []byte(" "))
	if len(t) > maxField {
		t = t[:maxField]
	}
	s := string(t)
	if strings.IndexByte(s, '&') >= 0 {
		s = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&quot;", `"`, "&#39;", "'", "&amp;", "&").Replace(s)
	}
	return field([]byte(s))
}

// Reply is a reply of a line-based protocol (SMTP, FTP, POP3, IMAP): its
// lines, without their line ends, as far as they were complete.
type Reply struct {
	Lines []string
	// Done: the reply ended (the last line of a multi-line SMTP/FTP reply,
	// POP3's "." after +OK, the tagged IMAP line).
	Done bool
}

// maxReplyLines bounds the lines kept of one reply.
const maxReplyLines = 64

// ParseCodeReply parses an SMTP (RFC 5321 §4.2) or FTP (RFC 959 §4.2)
// reply: lines "ddd-text" continue it, "ddd text" (the same code) ends it.
// FTP's continuation lines may also start with anything else. code is 0
// when b does not start with three digits.
func ParseCodeReply(b []byte) (code int, r Reply) {
	if len(b) < 3 || !isDigits(b[:3]) || (len(b) > 3 && b[3] != ' ' && b[3] != '-' && b[3] != '\r' && b[3] != '\n') {
		return 0, r
	}
	code, _ = strconv.Atoi(string(b[:3]))
	lines(b, func(l []byte) bool {
		if len(r.Lines) < maxReplyLines {
			r.Lines = append(r.Lines, field(l))
		}
		if len(l) >= 3 && string(l[:3]) == string(b[:3]) && (len(l) == 3 || l[3] == ' ') {
			r.Done = true
			return false
		}
		return true
	})
	return code, r
}

// ParsePOP3 parses a POP3 reply (RFC 1939): "+OK" or "-ERR" and, when
// multi is true (CAPA), the lines up to the one holding a single ".".
func ParsePOP3(b []byte, multi bool) (ok bool, r Reply) {
	if !bytes.HasPrefix(b, []byte("+OK")) && !bytes.HasPrefix(b, []byte("-ERR")) {
		return false, r
	}
	first := true
	lines(b, func(l []byte) bool {
		if first {
			first = false
			r.Lines = append(r.Lines, field(l))
			if !multi || !bytes.HasPrefix(l, []byte("+OK")) {
				r.Done = true
				return false
			}
			return true
		}
		if string(l) == "." {
			r.Done = true
			return false
		}
		if len(r.Lines) < maxReplyLines {
			r.Lines = append(r.Lines, field(l))
		}
		return true
	})
	return bytes.HasPrefix(b, []byte("+OK")), r
}

// ParseIMAP parses IMAP responses (RFC 9051 §7) up to the tagged line of
// tag ("" means: the greeting, one untagged line). ok is false when the first
// line is neither untagged ("* ") nor tagged.
func ParseIMAP(b []byte, tag string) (ok bool, r Reply) {
	if !bytes.HasPrefix(b, []byte("* ")) && (tag == "" || !bytes.HasPrefix(b, []byte(tag+" "))) {
		return false, r
	}
	lines(b, func(l []byte) bool {
		if len(r.Lines) < maxReplyLines {
			r.Lines = append(r.Lines, field(l))
		}
		if tag == "" || bytes.HasPrefix(l, []byte(tag+" ")) {
			r.Done = true
			return false
		}
		return true
	})
	return true, r
}

// lines calls fn for every complete (LF-terminated) line of b, without its
// CR LF, until fn returns false.
func lines(b []byte, fn func(line []byte) bool) {
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return
		}
		if !fn(bytes.TrimRight(b[:i], "\r")) {
			return
		}
		b = b[i+1:]
	}
}

func isDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

// RESP is one Redis reply (RESP2/3): its type byte and, for a simple
// string, an error or a bulk string, its text.
type RESP struct {
	Type     byte   // '+', '-', '$', ':', '*', ...
	Text     []byte // the simple string, error, or bulk string's content
	Complete bool   // a bulk string was read in full
}

// maxBulk bounds the bulk string size accepted as a reply (INFO server is
// about 1 KiB).
const maxBulk = 1 << 20

// ParseRESP parses the first reply in b. ok is false when b does not start
// with a RESP reply of a known type and a complete first line.
func ParseRESP(b []byte) (r RESP, ok bool) {
	i := bytes.Index(b, []byte("\r\n"))
	if len(b) == 0 || i < 1 {
		return r, false
	}
	r.Type = b[0]
	head := b[1:i]
	switch r.Type {
	case '+', '-':
		r.Text = head
		return r, true
	case ':':
		if _, err := strconv.ParseInt(string(head), 10, 64); err != nil {
			return r, false
		}
		r.Text = head
		return r, true
	case '$', '=':
		n, err := strconv.Atoi(string(head))
		if err != nil || n < -1 || n > maxBulk {
			return r, false
		}
		if n == -1 {
			return r, true
		}
		body := b[i+2:]
		if len(body) >= n {
			r.Text, r.Complete = body[:n], true
		} else {
			r.Text = body
		}
		return r, true
	case '*', '%', '_', ',', '#', '!', '(', '|', '~', '>':
		return r, true
	}
	return r, false
}

// ParseRedisInfo returns the fields of an INFO reply's text ("key:value"
// lines; "#" lines are section headers) that svcid keeps: redis_version,
// redis_mode, os.
func ParseRedisInfo(text []byte, into map[string]string) {
	lines(append(text[:len(text):len(text)], '\n'), func(l []byte) bool {
		k, v, found := bytes.Cut(l, []byte(":"))
		if !found {
			return true
		}
		switch key := string(k); key {
		case "redis_version", "redis_mode", "os", "valkey_version":
			into[key] = field(v)
		}
		return true
	})
}

// MySQLGreeting is what the first packet of a MySQL/MariaDB server says.
type MySQLGreeting struct {
	Protocol int    // 10 for the handshake; 0xff for an ERR packet
	Version  string // the handshake's server version
	ErrCode  int    // the ERR packet's error code
	ErrMsg   string // the ERR packet's message
}

// ParseMySQL parses the first packet a MySQL server sends: a 3-byte
// little-endian payload length, a sequence id (0), then either the initial
// handshake (protocol version 10, NUL-terminated server version, ...) or an
// ERR packet (0xff, error code, message). ok is false for anything else.
func ParseMySQL(b []byte) (g MySQLGreeting, ok bool) {
	if len(b) < 5 || b[3] != 0 {
		return g, false
	}
	n := int(b[0]) | int(b[1])<<8 | int(b[2])<<16
	if n < 2 || n > 1<<16 {
		return g, false
	}
	p := b[4:]
	if len(p) > n {
		p = p[:n]
	}
	switch p[0] {
	case 10:
		end := bytes.IndexByte(p[1:], 0)
		if end < 1 || end > 64 {
			return g, false
		}
		v := p[1 : 1+end]
		for _, c := range v {
			if c < 0x20 || c >= 0x7f {
				return g, false
			}
		}
		// Then a 4-byte connection id and 8 bytes of the scramble and a filler 0.
		if len(p) >= 1+end+1+4+8+1 && p[1+end+1+4+8] != 0 {
			return g, false
		}
		return MySQLGreeting{Protocol: 10, Version: field(v)}, true
	case 0xff:
		if len(p) < 3 {
			return g, false
		}
		msg := p[3:]
		if len(msg) > 0 && msg[0] == '#' && len(msg) >= 6 {
			msg = msg[6:] // "#" and a five-character SQL state
		}
		return MySQLGreeting{Protocol: 0xff, ErrCode: int(binary.LittleEndian.Uint16(p[1:3])), ErrMsg: field(msg)}, true
	}
	return g, false
}

// PGMessage is a PostgreSQL backend message's type and, for an
// ErrorResponse or NoticeResponse, its fields.
type PGMessage struct {
	Type     byte // 'E', 'N', 'R', ...
	Severity string
	Code     string // SQLSTATE
	Message  string
}

// ParsePGMessage parses one backend message (protocol 3.0): a type byte, an
// int32 length that counts itself, the body. For 'E' and 'N' the body is
// fields (a code byte, a NUL-terminated string) up to a 0 byte. ok is false
// when b does not hold a plausible message header.
func ParsePGMessage(b []byte) (m PGMessage, ok bool) {
	if len(b) < 5 {
		return m, false
	}
	m.Type = b[0]
	n := binary.BigEndian.Uint32(b[1:5])
	if n < 4 || n > 1<<20 {
		return m, false
	}
	switch m.Type {
	case 'E', 'N':
	case 'R':
		return m, n >= 8
	default:
		return m, false
	}
	body := b[5:]
	if uint32(len(body)) > n-4 {
		body = body[:n-4]
	}
	for len(body) > 0 && body[0] != 0 {
		code := body[0]
		end := bytes.IndexByte(body[1:], 0)
		if end < 0 {
			break
		}
		v := body[1 : 1+end]
		switch code {
		case 'S', 'V':
			if m.Severity == "" || code == 'V' {
				m.Severity = field(v)
			}
		case 'C':
			m.Code = field(v)
		case 'M':
			m.Message = field(v)
		}
		body = body[1+end+1:]
	}
	return m, m.Severity != "" || m.Code != ""
}

// asciiLower returns a copy of b with A-Z lowered and every other byte as
// it is: the same length, unlike bytes.ToLower on invalid UTF-8.
func asciiLower(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		out[i] = c
	}
	return out
}

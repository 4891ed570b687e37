package svcid

import (
	"bufio"
	_ "embed"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

//go:embed rules.txt
var defaultRules string

// Probe names used in the rules' "ports" lines: the hello svcid sends first
// on a port where the client speaks first.
const (
	ProbeHTTP       = "http"
	ProbeTLS        = "tls"
	ProbeTLSGreet   = "tls-greeting"
	ProbeRedis      = "redis"
	ProbePostgreSQL = "postgresql"
)

// maxRules bounds a rules file (a guard against feeding it something else).
const maxRules = 10000

// maxExpand bounds the length of a product, version or info made by a rule.
const maxExpand = 128

// Rule is one "match" line of a rules file.
type Rule struct {
	// Line is the rule's line number in its file.
	Line int
	// Service is the service the rule applies to, "*" for any.
	Service string
	// Field is the parsed field the pattern is matched against.
	Field string
	// Pattern is the compiled regular expression.
	Pattern *regexp.Regexp
	// Product, Version and Info are templates: $1..$9 and ${field}.
	Product, Version, Info string
}

// Rules is a parsed rules file: the match rules in order and the client-first
// ports of each probe. Its methods are safe for concurrent use.
type Rules struct {
	rules []Rule
	ports map[uint16]string
}

// RulesError is a bad line of a rules file.
type RulesError struct {
	Line int    // 1-based line number
	Text string // the line as written (bounded)
	Err  error
}

// Error implements error.
func (e *RulesError) Error() string {
	return fmt.Sprintf("svcid rules: line %d %q: %v", e.Line, e.Text, e.Err)
}

// Unwrap returns the underlying error.
func (e *RulesError) Unwrap() error { return e.Err }

// DefaultRules parses the rules embedded in the package (rules.txt). It
// panics only if that file is broken, which a test forbids.
func DefaultRules() *Rules {
	r, err := ParseRules(defaultRules)
	if err != nil {
		panic(err)
	}
	return r
}

// DefaultRulesText returns the text of the embedded rules file.
func DefaultRulesText() string { return defaultRules }

// ParseRules parses a rules file (the format is described at the top of
// rules.txt). It returns the first bad line as a *RulesError.
func ParseRules(text string) (*Rules, error) {
	rs := &Rules{ports: make(map[uint16]string)}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 4096), 64*1024)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimRight(sc.Text(), " \r")
		if line == "" || strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		bad := func(format string, args ...any) error {
			t := line
			if len(t) > 80 {
				t = t[:80]
			}
			return &RulesError{Line: n, Text: t, Err: fmt.Errorf(format, args...)}
		}
		cols := splitTabs(line)
		switch cols[0] {
		case "ports":
			if len(cols) != 3 {
				return nil, bad("a ports line has 3 columns, not %d", len(cols))
			}
			switch cols[1] {
			case ProbeHTTP, ProbeTLS, ProbeTLSGreet, ProbeRedis, ProbePostgreSQL:
			default:
				return nil, bad("unknown probe %q", cols[1])
			}
			for _, p := range strings.Split(cols[2], ",") {
				v, err := strconv.ParseUint(p, 10, 16)
				if err != nil || v == 0 {
					return nil, bad("bad port %q", p)
				}
				if old, dup := rs.ports[uint16(v)]; dup {
					return nil, bad("port %d already listed for %s", v, old)
				}
				rs.ports[uint16(v)] = cols[1]
			}
		case "match":
			if len(cols) != 7 {
				return nil, bad("a match line has 7 columns, not %d", len(cols))
			}
			if len(rs.rules) >= maxRules {
				return nil, bad("more than %d rules", maxRules)
			}
			re, err := regexp.Compile(cols[3])
			if err != nil {
				return nil, bad("pattern: %w", err)
			}
			r := Rule{Line: n, Service: cols[1], Field: cols[2], Pattern: re,
				Product: dash(cols[4]), Version: dash(cols[5]), Info: dash(cols[6])}
			for _, t := range []string{r.Product, r.Version, r.Info} {
				if err := checkTemplate(t, re.NumSubexp()); err != nil {
					return nil, bad("%w", err)
				}
			}
			rs.rules = append(rs.rules, r)
		default:
			return nil, bad("unknown line kind %q (match or ports)", cols[0])
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("svcid rules: line %d: %w", n+1, err)
	}
	return rs, nil
}

// splitTabs splits a line at runs of tabs.
func splitTabs(line string) []string {
	f := strings.FieldsFunc(line, func(r rune) bool { return r == '\t' })
	if len(f) == 0 {
		return []string{""}
	}
	return f
}

// dash maps the empty-column marker "-" to "".
func dash(s string) string {
	if s == "-" {
		return ""
	}
	return s
}

// checkTemplate rejects references to groups the pattern does not have and
// unterminated ${...}.
func checkTemplate(t string, groups int) error {
	for i := 0; i < len(t); i++ {
		if t[i] != '$' || i+1 >= len(t) {
			continue
		}
		switch c := t[i+1]; {
		case c >= '1' && c <= '9':
			if int(c-'0') > groups {
				return fmt.Errorf("template %q uses $%c but the pattern has %d groups", t, c, groups)
			}
		case c == '{':
			if !strings.Contains(t[i:], "}") {
				return fmt.Errorf("template %q: unterminated ${", t)
			}
		}
	}
	return nil
}

// Rules returns the match rules in order (shared: do not modify).
func (rs *Rules) Rules() []Rule { return rs.rules }

// FirstProbe returns the probe to send first on port (one of the Probe*
// names), or "" when svcid should first wait for the server to speak.
func (rs *Rules) FirstProbe(port uint16) string { return rs.ports[port] }

// Match applies the rules of service (and of "*") to fields, in order, and
// returns what the first matching rule makes of them. ok is false when no
// rule matches.
func (rs *Rules) Match(service string, fields map[string]string) (product, version, info string, ok bool) {
	for i := range rs.rules {
		r := &rs.rules[i]
		if r.Service != service && r.Service != "*" {
			continue
		}
		v, has := fields[r.Field]
		if !has {
			continue
		}
		m := r.Pattern.FindStringSubmatch(v)
		if m == nil {
			continue
		}
		return expand(r.Product, m, fields), expand(r.Version, m, fields), expand(r.Info, m, fields), true
	}
	return "", "", "", false
}

// expand fills a template from the match groups and the fields, trimmed and
// bounded to maxExpand bytes.
func expand(t string, m []string, fields map[string]string) string {
	if !strings.Contains(t, "$") {
		return t
	}
	var b strings.Builder
	for i := 0; i < len(t) && b.Len() < maxExpand; i++ {
		c := t[i]
		if c != '$' || i+1 >= len(t) {
			b.WriteByte(c)
			continue
		}
		n := t[i+1]
		switch {
		case n >= '1' && n <= '9':
			if g := int(n - '0'); g < len(m) {
				b.WriteString(m[g])
			}
			i++
		case n == '{':
			end := strings.IndexByte(t[i:], '}')
			if end < 0 {
				b.WriteString(t[i:])
				i = len(t)
				continue
			}
			b.WriteString(fields[t[i+2:i+end]])
			i += end
		default:
			b.WriteByte(c)
		}
	}
	s := strings.TrimSpace(b.String())
	if len(s) > maxExpand {
		s = s[:maxExpand]
	}
	return s
}

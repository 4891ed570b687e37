package merge

import (
	"bytes"
	"net/netip"
	"time"

	"github.com/fastscan/fastscan/result"
)

// parseFast reads a result line without service identification laid out exactly
// as output.JSONL writes it (its keys in its order, no spaces, no escape in any
// string; schema version 1, or 2 with service_method "table" and no -sV key)
// without reflection. ok is false for any other line, valid or not, which
// jsonLine.parse then reads (and judges) with encoding/json; a line parseFast
// accepts, parse accepts too, as the same result (FuzzFastLine checks it).
func parseFast(line []byte) (r result.Result, ok bool) {
	p := fastParser{b: line}
	var ip, proto, state, reason, ts []byte
	var port, ttl int
	v2 := p.lit(`{"schema_version":2,"ip":`)
	if !v2 && !p.lit(`{"schema_version":1,"ip":`) || !p.str(&ip) ||
		!p.lit(`,"port":`) || !p.num(&port) ||
		!p.lit(`,"proto":`) || !p.str(&proto) ||
		!p.lit(`,"state":`) || !p.str(&state) ||
		!p.lit(`,"reason":`) || !p.str(&reason) ||
		!p.lit(`,"ttl":`) || !p.num(&ttl) ||
		!p.lit(`,"service":`) || !p.str(nil) ||
		v2 && !p.lit(`,"service_method":"table"`) ||
		!p.lit(`,"port_class":`) || !p.str(nil) ||
		!p.lit(`,"timestamp":`) || !p.str(&ts) ||
		!p.lit(`}`) || len(bytes.TrimRight(p.b, " \t\r\n")) != 0 {
		return r, false
	}
	a, err := netip.ParseAddr(string(ip))
	if err != nil || !a.Is4() || port < 1 || port > 65535 || ttl > 255 {
		return r, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(ts))
	if err != nil {
		return r, false
	}
	r = result.Result{IP: a, Port: uint16(port), TTL: uint8(ttl), TimeNanos: t.UnixNano()}
	if r.Proto, ok = lookup(string(proto), func(p result.Proto) string { return p.String() }); !ok {
		return r, false
	}
	if r.State, ok = lookup(string(state), func(s result.State) string { return s.String() }); !ok {
		return r, false
	}
	if r.Reason, ok = lookup(string(reason), func(x result.Reason) string { return x.String() }); !ok {
		return r, false
	}
	return r, true
}

// fastParser consumes a line from the front.
type fastParser struct{ b []byte }

// lit consumes s.
func (p *fastParser) lit(s string) bool {
	if len(p.b) < len(s) || string(p.b[:len(s)]) != s {
		return false
	}
	p.b = p.b[len(s):]
	return true
}

// str consumes a JSON string without escapes or control characters and stores
// its content in v (unless v is nil).
func (p *fastParser) str(v *[]byte) bool {
	if len(p.b) == 0 || p.b[0] != '"' {
		return false
	}
	for i := 1; i < len(p.b); i++ {
		switch c := p.b[i]; {
		case c == '"':
			if v != nil {
				*v = p.b[1:i]
			}
			p.b = p.b[i+1:]
			return true
		case c == '\\' || c < 0x20:
			return false
		}
	}
	return false
}

// num consumes a JSON number that is a whole number from 0 to 99999, written as
// JSON writes it (no leading zero, sign, fraction or exponent).
func (p *fastParser) num(v *int) bool {
	n, i := 0, 0
	for ; i < len(p.b) && i < 6 && p.b[i] >= '0' && p.b[i] <= '9'; i++ {
		n = n*10 + int(p.b[i]-'0')
	}
	if i == 0 || i > 5 || i > 1 && p.b[0] == '0' {
		return false
	}
	if i < len(p.b) && (p.b[i] == '.' || p.b[i] == 'e' || p.b[i] == 'E') {
		return false
	}
	*v, p.b = n, p.b[i:]
	return true
}

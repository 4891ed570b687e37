package udpprobe

import (
	"testing"
)

// TestIsMessage: every probe's own request is a message of its protocol (a
// reflected request is the protocol speaking, so it must echo the cookie to
// count); short or foreign payloads are not.
func TestIsMessage(t *testing.T) {
	for _, p := range All() {
		if p.CookieLen == 0 {
			if IsMessage(p.Port, []byte(p.Payload)) {
				t.Errorf("%s (port %d) has no cookie, but IsMessage is true", p.Name, p.Port)
			}
			continue
		}
		buf := make([]byte, len(p.Payload))
		p.Put(buf, 0x0123456789abcdef)
		if !IsMessage(p.Port, buf) {
			t.Errorf("%s (port %d): its own request is not a message of its protocol", p.Name, p.Port)
		}
		for _, foreign := range []string{"", "pong", "\x00", "HTTP/1.1 400 Bad Request\r\n\r\n"} {
			if p.Port == 5683 && len(foreign) > 4 {
				continue // CoAP's binary header has no magic: text can look like it
			}
			if IsMessage(p.Port, []byte(foreign)) {
				t.Errorf("%s (port %d): %q is a message of the protocol", p.Name, p.Port, foreign)
			}
		}
	}
	if IsMessage(5683, []byte{0x70, 0x00, 0x12, 0x34}) { // an empty CoAP reset
		t.Error("an empty CoAP reset carries no token, but IsMessage is true")
	}
	if IsMessage(9, []byte("pong")) {
		t.Error("port 9 has no probe, but IsMessage is true")
	}
}

// TestIsMessageCoversReplyCookie: whatever ReplyCookie accepts as a response is
// a message of the protocol, so no genuine answer with a wrong cookie can pass
// as a foreign reply. Checked on the replies of the reply tests' corpus: every
// probe's request with the fields a response sets.
func TestIsMessageCoversReplyCookie(t *testing.T) {
	f := func(port uint16, reply []byte) {
		if _, ok := ReplyCookie(port, reply); ok && !IsMessage(port, reply) {
			t.Errorf("port %d: ReplyCookie accepts %q, IsMessage does not", port, reply)
		}
	}
	for _, p := range All() {
		for n := 0; n <= len(p.Payload); n++ {
			f(p.Port, []byte(p.Payload[:n]))
		}
	}
}

func FuzzIsMessage(f *testing.F) {
	for _, p := range All() {
		f.Add(p.Port, []byte(p.Payload))
	}
	f.Add(uint16(53), []byte("pong"))
	f.Fuzz(func(t *testing.T, port uint16, reply []byte) {
		if _, ok := ReplyCookie(port, reply); ok && !IsMessage(port, reply) {
			t.Fatalf("port %d: ReplyCookie accepts %q, IsMessage does not", port, reply)
		}
	})
}

package svcid_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"io"
	"math/big"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// server is an in-process TCP server on loopback for the tests.
type server struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
	// active counts the connections being handled; max is its high-water mark.
	active, max int
	accepted    int
}

// serve listens on addr ("127.0.0.1:0") and runs handle for every
// connection; everything is closed when the test ends.
func serve(t testing.TB, addr string, handle func(c net.Conn)) (netip.AddrPort, *server) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	s := &server{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.active++
			s.accepted++
			s.max = max(s.max, s.active)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer func() {
					s.mu.Lock()
					s.active--
					s.mu.Unlock()
				}()
				defer c.Close()
				handle(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return netip.MustParseAddrPort(ln.Addr().String()), s
}

func (s *server) stats() (accepted, maxActive int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted, s.max
}

// readLine reads one line (bounded) or fails quietly.
func readLine(r *bufio.Reader) (string, bool) {
	l, err := r.ReadString('\n')
	if err != nil || len(l) > 4096 {
		return "", false
	}
	return strings.TrimRight(l, "\r\n"), true
}

// readHTTPRequest reads a request's header section.
func readHTTPRequest(r *bufio.Reader) bool {
	for {
		l, ok := readLine(r)
		if !ok {
			return false
		}
		if l == "" {
			return true
		}
	}
}

// httpHandler answers one request with server and title.
func httpHandler(serverHeader, title string) func(net.Conn) {
	return func(c net.Conn) {
		r := bufio.NewReader(c)
		if !readHTTPRequest(r) {
			return
		}
		body := "<html><head><title>" + title + "</title></head><body>hi</body></html>"
		io.WriteString(c, "HTTP/1.1 200 OK\r\nServer: "+serverHeader+"\r\nContent-Type: text/html\r\nContent-Length: "+
			itoa(len(body))+"\r\nConnection: close\r\n\r\n"+body)
	}
}

func itoa(n int) string { return big.NewInt(int64(n)).String() }

// lineServer greets, then answers each line through reply until it returns "".
func lineServer(greeting string, reply func(line string) (string, bool)) func(net.Conn) {
	return func(c net.Conn) {
		io.WriteString(c, greeting)
		r := bufio.NewReader(c)
		for {
			l, ok := readLine(r)
			if !ok {
				return
			}
			out, more := reply(l)
			io.WriteString(c, out)
			if !more {
				return
			}
		}
	}
}

// testCert makes a self-signed ECDSA certificate.
func testCert(t testing.TB, cn string, dns []string, ips []net.IP) (tls.Certificate, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"fastscan test"}},
		Issuer:       pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour).Truncate(time.Second),
		NotAfter:     time.Now().Add(48 * time.Hour).Truncate(time.Second),
		DNSNames:     dns,
		IPAddresses:  ips,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, leaf
}

// mysqlGreeting builds a MySQL protocol 10 initial handshake packet.
func mysqlGreeting(version string) []byte {
	var p []byte
	p = append(p, 10)
	p = append(p, version...)
	p = append(p, 0)
	p = binary.LittleEndian.AppendUint32(p, 42)     // connection id
	p = append(p, "abcdefgh"...)                    // auth-plugin-data part 1
	p = append(p, 0)                                // filler
	p = binary.LittleEndian.AppendUint16(p, 0xf7ff) // capabilities (lower)
	p = append(p, 0x21)                             // charset
	p = binary.LittleEndian.AppendUint16(p, 2)      // status
	p = binary.LittleEndian.AppendUint16(p, 0x81ff) // capabilities (upper)
	p = append(p, 21)                               // auth data length
	p = append(p, make([]byte, 10)...)              // reserved
	p = append(p, "ijklmnopqrst"...)
	p = append(p, 0)
	p = append(p, "mysql_native_password"...)
	p = append(p, 0)
	hdr := []byte{byte(len(p)), byte(len(p) >> 8), byte(len(p) >> 16), 0}
	return append(hdr, p...)
}

// pgError builds a PostgreSQL ErrorResponse.
func pgError(severity, code, msg string) []byte {
	body := "S" + severity + "\x00V" + severity + "\x00C" + code + "\x00M" + msg + "\x00\x00"
	n := len(body) + 4
	return append([]byte{'E', byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}, body...)
}

func netipAddrPort(port uint16) netip.AddrPort {
	return netip.AddrPortFrom(netip.MustParseAddr("198.18.1.80"), port)
}

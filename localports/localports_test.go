package localports_test

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/fastscan/fastscan/localports"
	"github.com/fastscan/fastscan/registry"
	"github.com/fastscan/fastscan/target"
)

// describe writes a socket as one line for comparisons.
func describe(s localports.Socket) string {
	var owners []string
	for _, o := range s.Owners {
		owners = append(owners, fmt.Sprintf("%d/%s", o.PID, o.Process))
	}
	hidden := ""
	if s.Hidden {
		hidden = " hidden"
	}
	return fmt.Sprintf("%v %v %v %s uid=%d ino=%d [%s]%s", s.Proto, s.Local, s.Remote, s.StateName(), s.UID, s.Inode, strings.Join(owners, " "), hidden)
}

// fixture is testdata/proc, written from real /proc/net tables (x86: each
// 32-bit address word printed little-endian) and fd links.
var fixtureWant = []string{
	"tcp 0.0.0.0:22 0.0.0.0:0 listen uid=0 ino=1001 [100/sshd]",
	"tcp 10.0.0.10:22 10.0.0.11:54321 time-wait uid=0 ino=0 []",
	"tcp [::]:22 [::]:0 listen uid=0 ino=1002 [100/sshd]",
	"tcp 127.0.0.1:2200 0.0.0.0:0 listen uid=65534 ino=4001 [400/python3]",
	"tcp [::ffff:127.0.0.1]:3306 [::ffff:127.0.0.1]:36188 established uid=1000 ino=3002 [300/curl]",
	"tcp 127.0.0.1:8080 0.0.0.0:0 listen uid=33 ino=2001 [200/nginx 201/nginx]",
	"tcp 127.0.0.1:8080 127.0.0.1:48378 established uid=33 ino=2002 [200/nginx]",
	"tcp 127.0.0.1:48378 127.0.0.1:8080 established uid=1000 ino=3001 [300/curl]",
	"udp 0.0.0.0:53 0.0.0.0:0 unconnected uid=101 ino=5001 []",
	"udp [::1]:5353 [::]:0 unconnected uid=65534 ino=4002 [400/python3]",
	"udp 127.0.0.1:55000 127.0.0.1:53 connected uid=1000 ino=3003 [300/curl]",
}

func readFixture(t *testing.T, proc fs.FS) localports.Listing {
	t.Helper()
	l, err := localports.Read(localports.Options{Proc: proc})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func compareLines(t *testing.T, what string, got []localports.Socket, want []string) {
	t.Helper()
	var lines []string
	for _, s := range got {
		lines = append(lines, describe(s))
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\n%s\nwant:\n%s", what, strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

func TestReadFixture(t *testing.T) {
	l := readFixture(t, os.DirFS("testdata/proc"))
	compareLines(t, "sockets", l.Sockets, fixtureWant)
	if l.Hidden != 0 {
		t.Errorf("Hidden = %d with every fd table readable, want 0", l.Hidden)
	}
	s := l.Sockets[0]
	if !s.Listening() || !s.AllAddresses() || l.Sockets[3].AllAddresses() || !l.Sockets[8].Listening() || l.Sockets[10].Listening() || l.Sockets[6].Listening() {
		t.Error("Listening or AllAddresses wrong")
	}
}

// denyFS refuses to list the fd directories of some processes, as /proc does
// for another user's processes without privileges.
type denyFS struct {
	fs.FS
	deny map[string]bool
}

func (d denyFS) Open(name string) (fs.File, error) {
	if d.deny[name] {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrPermission}
	}
	return d.FS.Open(name)
}

func (d denyFS) ReadLink(name string) (string, error)   { return fs.ReadLink(d.FS, name) }
func (d denyFS) Lstat(name string) (fs.FileInfo, error) { return fs.Lstat(d.FS, name) }

func TestReadWithoutPrivilegesHidesOwners(t *testing.T) {
	l := readFixture(t, denyFS{os.DirFS("testdata/proc"), map[string]bool{"400/fd": true}})
	want := make([]string, len(fixtureWant))
	copy(want, fixtureWant)
	want[3] = "tcp 127.0.0.1:2200 0.0.0.0:0 listen uid=65534 ino=4001 [] hidden"
	want[8] = "udp 0.0.0.0:53 0.0.0.0:0 unconnected uid=101 ino=5001 [] hidden"
	want[9] = "udp [::1]:5353 [::]:0 unconnected uid=65534 ino=4002 [] hidden"
	compareLines(t, "sockets", l.Sockets, want)
	if l.Hidden != 3 {
		t.Errorf("Hidden = %d, want 3", l.Hidden)
	}
}

func TestReadPrefersTheThreadsNamespace(t *testing.T) {
	m := fstest.MapFS{
		"net/tcp":             {Data: []byte("header\n 0: 0100007F:0016 00000000:0000 0A 0 0 0 0 0 1\n")},
		"thread-self/net/tcp": {Data: []byte("header\n 0: 0100007F:0017 00000000:0000 0A 0 0 0 0 0 1\n")},
	}
	l := readFixture(t, m)
	if len(l.Sockets) != 1 || l.Sockets[0].Local.Port() != 23 {
		t.Errorf("sockets %v, want thread-self/net/tcp's one on port 23", l.Sockets)
	}
	// Missing tables (IPv6 disabled) are skipped.
	delete(m, "thread-self/net/tcp")
	if l := readFixture(t, m); len(l.Sockets) != 1 || l.Sockets[0].Local.Port() != 22 {
		t.Errorf("sockets %v, want net/tcp's one on port 22", l.Sockets)
	}
}

func TestReadErrorsNameTheLine(t *testing.T) {
	for _, tc := range []struct{ tcp, msg string }{
		{"h\n 0: 0100007F:0016 00000000:0000 0A 0 0 0 0 0\n", "net/tcp: line 2: 9 fields"},
		{"h\n 0: 0100007G:0016 00000000:0000 0A 0 0 0 0 0 1\n", `line 2: invalid address "0100007G:0016"`},
		{"h\n 0: 0100007F:0016 00000000:0000 0A 0 0 0 x 0 1\n", "line 2"},
		{"h\n 0: 0100007F:10000 00000000:0000 0A 0 0 0 0 0 1\n", `invalid address "0100007F:10000"`},
	} {
		_, err := localports.Read(localports.Options{Proc: fstest.MapFS{"net/tcp": {Data: []byte(tc.tcp)}}})
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%q: error %v, want %q", tc.tcp, err, tc.msg)
		}
	}
	_, err := localports.Read(localports.Options{Proc: denyFS{fstest.MapFS{"net/tcp": {Data: []byte("h\n")}}, map[string]bool{"net/udp": true}}})
	if !errors.Is(err, fs.ErrPermission) {
		t.Errorf("unreadable table: error %v, want ErrPermission", err)
	}
}

func TestFilter(t *testing.T) {
	l := readFixture(t, os.DirFS("testdata/proc"))
	ports := func(spec string) *target.Ports {
		p, err := target.ParsePorts(spec)
		if err != nil {
			t.Fatal(err)
		}
		return &p
	}
	for _, tc := range []struct {
		f    localports.Filter
		want []int // indexes into fixtureWant
	}{
		{localports.Filter{}, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
		{localports.Filter{Ports: ports("22")}, []int{0, 1, 2}},
		{localports.Filter{Ports: ports("53,8000-9000")}, []int{5, 6, 8}},
		{localports.Filter{Listening: true}, []int{0, 2, 3, 5, 8, 9}},
		{localports.Filter{Proto: registry.UDP}, []int{8, 9, 10}},
		{localports.Filter{Proto: registry.TCP, Listening: true, Ports: ports("1-3000")}, []int{0, 2, 3}},
		{localports.Filter{PID: 201}, []int{5}},
		{localports.Filter{PID: 300, Proto: registry.UDP}, []int{10}},
		{localports.Filter{Process: "NGINX"}, []int{5, 6}},
		{localports.Filter{Process: "python3", Listening: true}, []int{3, 9}},
		{localports.Filter{Process: "nosuch"}, nil},
		{localports.Filter{PID: 999}, nil},
	} {
		var want []string
		for _, i := range tc.want {
			want = append(want, fixtureWant[i])
		}
		compareLines(t, fmt.Sprintf("%+v", tc.f), l.Select(tc.f), want)
	}
	long := localports.Socket{Proto: registry.TCP, Local: netip.MustParseAddrPort("127.0.0.1:1"),
		Owners: []localports.Owner{{PID: 5, Process: "a-very-long-com"}}}
	f := localports.Filter{Process: "a-very-long-command-name"}
	if !f.Match(&long) {
		t.Error("a process name longer than 15 bytes does not match the kernel's cut name")
	}
}

func TestStateNames(t *testing.T) {
	for s, want := range map[localports.State]string{
		localports.Established: "established", localports.Listen: "listen", localports.TimeWait: "time-wait",
		localports.FinWait1: "fin-wait-1", localports.CloseWait: "close-wait", localports.State(12): "state-12",
	} {
		if got := s.String(); got != want {
			t.Errorf("State(%d) = %q, want %q", s, got, want)
		}
	}
}

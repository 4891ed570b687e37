package localports_test

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fastscan/fastscan/citest"
	"github.com/fastscan/fastscan/localports"
	"github.com/fastscan/fastscan/netns"
	"github.com/fastscan/fastscan/registry"
)

// helperEnv makes the test binary a helper process (see TestMain).
const helperEnv = "LOCALPORTS_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		os.Exit(helper())
	}
	os.Exit(m.Run())
}

// helper runs as another user inside the test's namespace: it holds a
// dual-stack TCP listener on [::] and a UDP socket on 127.0.0.1, writes their
// ports as one JSON line, then for every line "read" on standard input lists
// the sockets itself (unprivileged) as JSON lines ending with an empty
// object, and exits at the end of standard input.
func helper() int {
	ln, err := net.Listen("tcp", "[::]:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer ln.Close()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer pc.Close()
	enc := json.NewEncoder(os.Stdout)
	enc.Encode(map[string]int{"tcp": ln.Addr().(*net.TCPAddr).Port, "udp": pc.LocalAddr().(*net.UDPAddr).Port})
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		l, err := localports.Read(localports.Options{})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		for _, s := range l.Sockets {
			enc.Encode(jsonSocket(s))
		}
		enc.Encode(map[string]int{"hidden": l.Hidden})
	}
	return 0
}

// wireSocket carries a socket from the helper to the test.
type wireSocket struct {
	Line   string
	Hidden bool
}

func jsonSocket(s localports.Socket) wireSocket {
	h := s.Hidden
	s.Hidden = false
	return wireSocket{Line: describe(s), Hidden: h}
}

// newNamespace creates a network namespace with only loopback, up, IPv4 and
// IPv6, deleted when the test ends (also when it fails).
func newNamespace(t *testing.T) string {
	t.Helper()
	citest.RequireRoot(t)
	citest.RequireTool(t, "ip")
	var b [4]byte
	rand.Read(b[:])
	name := fmt.Sprintf("fst%d-lp%s", os.Getpid(), hex.EncodeToString(b[:]))
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	if out, err := exec.Command("ip", "-n", name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("ip -n %s link set lo up: %v: %s", name, err, out)
	}
	return name
}

// copyExecutable copies the test binary where another user may run it.
func copyExecutable(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "localports-helper-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(dir, "lphelper")
	if err := os.WriteFile(name, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return name
}

// ssSockets runs `ss -tulpnaHe` (all TCP and UDP sockets, numeric, with
// processes, extended: inode and uid) on the calling thread's namespace and
// parses it, independently of localports, into describe's form.
func ssSockets(t *testing.T) []string {
	out, err := exec.Command("ss", "-tulpnaHe").Output()
	if err != nil {
		t.Errorf("ss: %v", err)
		return nil
	}
	states := map[string]string{"LISTEN": "listen", "SYN-SENT": "syn-sent", "SYN-RECV": "syn-recv", "FIN-WAIT-1": "fin-wait-1",
		"FIN-WAIT-2": "fin-wait-2", "TIME-WAIT": "time-wait", "CLOSE-WAIT": "close-wait", "LAST-ACK": "last-ack", "CLOSING": "closing"}
	user := regexp.MustCompile(`\("([^"]*)",pid=(\d+),fd=\d+\)`)
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		if len(f) < 6 {
			t.Errorf("ss line %q", l)
			continue
		}
		state := states[f[1]]
		switch {
		case f[0] == "udp" && f[1] == "UNCONN":
			state = "unconnected"
		case f[0] == "udp" && f[1] == "ESTAB":
			state = "connected"
		case f[1] == "ESTAB":
			state = "established"
		}
		local, remote := ssAddr(t, f[4]), ssAddr(t, f[5])
		if remote.Addr().IsUnspecified() && remote.Addr().Is4() != local.Addr().Is4() {
			remote = netip.AddrPortFrom(netip.IPv6Unspecified(), 0) // ss writes *:* for both families
		}
		uid, ino := "0", "0"
		owners := map[int]string{}
		for _, x := range f[6:] {
			if v, ok := strings.CutPrefix(x, "uid:"); ok {
				uid = v
			}
			if v, ok := strings.CutPrefix(x, "ino:"); ok {
				ino = v
			}
			for _, m := range user.FindAllStringSubmatch(x, -1) {
				pid, _ := strconv.Atoi(m[2])
				owners[pid] = m[1]
			}
		}
		var ownerList []string
		for _, pid := range slices.Sorted(func(yield func(int) bool) {
			for p := range owners {
				if !yield(p) {
					return
				}
			}
		}) {
			ownerList = append(ownerList, fmt.Sprintf("%d/%s", pid, owners[pid]))
		}
		lines = append(lines, fmt.Sprintf("%s %v %v %s uid=%s ino=%s [%s]", f[0], local, remote, state, uid, ino, strings.Join(ownerList, " ")))
	}
	return lines
}

// ssAddr parses ss's numeric address: 127.0.0.1:22, [::1]:22, *:22 (the
// IPv6 unspecified address of a dual-stack socket), 0.0.0.0:* (port 0).
func ssAddr(t *testing.T, s string) netip.AddrPort {
	i := strings.LastIndexByte(s, ':')
	host, port := s[:i], s[i+1:]
	if port == "*" {
		port = "0"
	}
	if host == "*" {
		host = "::"
	}
	host = strings.Trim(host, "[]")
	if j := strings.IndexByte(host, '%'); j >= 0 {
		host = host[:j] // an interface the socket is bound to
	}
	a, err := netip.ParseAddr(host)
	p, err2 := strconv.ParseUint(port, 10, 16)
	if err != nil || err2 != nil {
		t.Errorf("ss address %q", s)
	}
	return netip.AddrPortFrom(a, uint16(p))
}

// TestReadEqualsSS opens sockets of every kind in a namespace of its own (a
// listener bound to one IPv4 address with a connection accepted, an IPv6
// listener with a connection not yet accepted, unconnected and connected
// UDP over IPv4 and IPv6, and a child process running as nobody with a
// dual-stack listener and a UDP socket), lists them with Read as root and
// compares with ss in the same namespace; then the child lists them without
// privileges: every socket, its own owners only, the rest hidden.
func TestReadEqualsSS(t *testing.T) {
	ns := newNamespace(t)
	citest.RequireTool(t, "ss")
	bin := copyExecutable(t)

	var (
		root      localports.Listing
		truth     []string
		child     *exec.Cmd
		childIn   io.WriteCloser
		childOut  *json.Decoder
		childNS   string
		closers   []io.Closer
		listenTCP int
	)
	t.Cleanup(func() {
		for _, c := range closers {
			c.Close()
		}
	})
	err := netns.Do(ns, func() error {
		ln4, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return err
		}
		closers = append(closers, ln4)
		listenTCP = ln4.Addr().(*net.TCPAddr).Port
		c1, err := net.Dial("tcp4", ln4.Addr().String())
		if err != nil {
			return err
		}
		closers = append(closers, c1)
		a1, err := ln4.Accept()
		if err != nil {
			return err
		}
		closers = append(closers, a1)
		ln6, err := net.Listen("tcp6", "[::1]:0")
		if err != nil {
			return err
		}
		closers = append(closers, ln6)
		c2, err := net.Dial("tcp6", ln6.Addr().String()) // never accepted
		if err != nil {
			return err
		}
		closers = append(closers, c2)
		u4, err := net.ListenPacket("udp4", "0.0.0.0:0")
		if err != nil {
			return err
		}
		closers = append(closers, u4)
		u6, err := net.DialUDP("udp6", nil, &net.UDPAddr{IP: net.IPv6loopback, Port: 9})
		if err != nil {
			return err
		}
		closers = append(closers, u6)

		child = exec.Command(bin)
		child.Env = append(os.Environ(), helperEnv+"=1")
		child.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}, Pdeathsig: syscall.SIGKILL}
		child.Stderr = os.Stderr
		if childIn, err = child.StdinPipe(); err != nil {
			return err
		}
		out, err := child.StdoutPipe()
		if err != nil {
			return err
		}
		if err := child.Start(); err != nil {
			return fmt.Errorf("helper: %w", err)
		}
		childOut = json.NewDecoder(out)
		var ports map[string]int
		if err := childOut.Decode(&ports); err != nil {
			return fmt.Errorf("helper's ports: %w", err)
		}
		childNS, _ = os.Readlink(fmt.Sprintf("/proc/%d/ns/net", child.Process.Pid))
		if root, err = localports.Read(localports.Options{}); err != nil {
			return err
		}
		truth = ssSockets(t)
		return nil
	})
	if child != nil && child.Process != nil {
		t.Cleanup(func() { child.Process.Kill(); child.Wait() })
	}
	if err != nil {
		t.Fatal(err)
	}
	var nsInode syscall.Stat_t
	if err := syscall.Stat(filepath.Join(netns.Dir, ns), &nsInode); err != nil || childNS != fmt.Sprintf("net:[%d]", nsInode.Ino) {
		t.Fatalf("the helper runs in namespace %s, not the test's (inode %d): %v", childNS, nsInode.Ino, err)
	}

	var got []string
	for _, s := range root.Sockets {
		got = append(got, describe(s))
	}
	slices.Sort(got)
	slices.Sort(truth)
	if !slices.Equal(got, truth) || len(got) != 10 {
		t.Errorf("Read (%d sockets):\n%s\nss (%d sockets):\n%s", len(got), strings.Join(got, "\n"), len(truth), strings.Join(truth, "\n"))
	}
	if root.Hidden != 0 {
		t.Errorf("as root, %d sockets hidden", root.Hidden)
	}

	// Independent of ss: the helper's sockets belong to nobody and to its pid;
	// the test's to root and to this process.
	me, pid := strconv.Itoa(os.Getpid()), child.Process.Pid
	kinds := map[string]int{}
	for _, s := range root.Sockets {
		switch {
		case s.UID == 65534:
			if len(s.Owners) != 1 || s.Owners[0].PID != pid || !s.Listening() {
				t.Errorf("the helper's socket %s", describe(s))
			}
		case s.Inode == 0:
			if s.State != localports.Established || s.Proto != registry.TCP || !s.Local.Addr().Is6() {
				t.Errorf("socket without inode: %s, want the connection not yet accepted", describe(s))
			}
		default:
			if s.UID != 0 || len(s.Owners) != 1 || strconv.Itoa(s.Owners[0].PID) != me {
				t.Errorf("the test's socket %s, want uid 0 and pid %s", describe(s), me)
			}
		}
		kinds[fmt.Sprintf("%v %s v6=%v all=%v", s.Proto, s.StateName(), s.Local.Addr().Is6(), s.AllAddresses())]++
	}
	for k, n := range map[string]int{
		"tcp listen v6=false all=false": 1, "tcp established v6=false all=false": 2, "tcp listen v6=true all=false": 1,
		"tcp established v6=true all=false": 2, "udp unconnected v6=false all=true": 1, "udp connected v6=true all=false": 1,
		"tcp listen v6=true all=true": 1, "udp unconnected v6=false all=false": 1,
	} {
		if kinds[k] != n {
			t.Errorf("%d sockets of kind %q, want %d (all: %v)", kinds[k], k, n, kinds)
		}
	}
	sel := root.Select(localports.Filter{Listening: true, Proto: registry.TCP})
	if len(sel) != 3 || sel[0].Local.Port() == 0 || !slices.ContainsFunc(sel, func(s localports.Socket) bool { return int(s.Local.Port()) == listenTCP }) {
		t.Errorf("listening TCP sockets: %v", sel)
	}

	// Without privileges, as the helper sees it.
	if _, err := io.WriteString(childIn, "read\n"); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	timer := time.AfterFunc(10*time.Second, func() { child.Process.Kill() })
	defer timer.Stop()
	var unpriv []string
	hidden := -1
	go func() {
		defer close(done)
		for {
			var raw json.RawMessage
			if err := childOut.Decode(&raw); err != nil {
				return
			}
			var h map[string]int
			if json.Unmarshal(raw, &h) == nil && len(h) == 1 {
				hidden = h["hidden"]
				return
			}
			var w wireSocket
			json.Unmarshal(raw, &w)
			if w.Hidden {
				w.Line += " hidden"
			}
			unpriv = append(unpriv, w.Line)
		}
	}()
	<-done
	var want []string
	wantHidden := 0
	for _, s := range root.Sockets {
		if s.UID != 65534 && s.Inode != 0 {
			s.Owners, s.Hidden = nil, true
			wantHidden++
		}
		want = append(want, describe(s))
	}
	if !slices.Equal(unpriv, want) || hidden != wantHidden {
		t.Errorf("as nobody (%d hidden):\n%s\nwant (%d hidden):\n%s", hidden, strings.Join(unpriv, "\n"), wantHidden, strings.Join(want, "\n"))
	}
	childIn.Close()
	if err := child.Wait(); err != nil {
		t.Errorf("helper: %v", err)
	}
}

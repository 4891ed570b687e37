// Package localports lists this machine's own sockets: TCP (listening and
// connected) and UDP, IPv4 and IPv6, each with the processes that hold it and
// the user it belongs to, as "ss -tulpna" or "netstat -tulpan" show them.
//
// It reads the proc file system only: net/tcp, net/tcp6, net/udp and
// net/udp6 of the reading thread's network namespace for the sockets, and the
// fd links of every process (/proc/PID/fd/N -> "socket:[INODE]") for their
// owners. The file system is an fs.FS, so tests read fixture trees. Without
// privileges the fd links of other users' processes cannot be read: their
// sockets are still listed, with their user but without a process, and
// Listing.Hidden counts them.
package localports

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/fastscan/fastscan/registry"
)

// State is the state of a socket: a TCP state, or for UDP whether the socket
// is connected to one peer. The zero value is not a state.
type State uint8

// The states, with the kernel's numbers for TCP (include/net/tcp_states.h).
const (
	Established State = 1  // TCP connection open; UDP: connected to one peer ("connected")
	SynSent     State = 2  // TCP connection being opened by this side
	SynRecv     State = 3  // TCP connection being opened by the peer
	FinWait1    State = 4  // TCP closing
	FinWait2    State = 5  // TCP closing
	TimeWait    State = 6  // TCP closed, waiting for late segments; no process holds it
	Close       State = 7  // TCP closed; UDP: not connected, receives from anyone ("unconnected")
	CloseWait   State = 8  // TCP closed by the peer
	LastAck     State = 9  // TCP closing
	Listen      State = 10 // TCP listening
	Closing     State = 11 // TCP closing
)

// String returns the state as fastscan writes it: "listen", "established",
// "syn-sent", "syn-recv", "fin-wait-1", "fin-wait-2", "time-wait", "close",
// "close-wait", "last-ack", "closing".
func (s State) String() string {
	if int(s) < len(stateNames) && stateNames[s] != "" {
		return stateNames[s]
	}
	return "state-" + strconv.Itoa(int(s))
}

var stateNames = [...]string{
	Established: "established", SynSent: "syn-sent", SynRecv: "syn-recv", FinWait1: "fin-wait-1",
	FinWait2: "fin-wait-2", TimeWait: "time-wait", Close: "close", CloseWait: "close-wait",
	LastAck: "last-ack", Listen: "listen", Closing: "closing",
}

// Owner is a process that holds a socket (has it open as a file descriptor).
type Owner struct {
	PID     int
	Process string // the process's command name (/proc/PID/comm, at most 15 bytes)
}

// Socket is one socket of this machine.
type Socket struct {
	Proto  registry.Proto // registry.TCP or registry.UDP
	Local  netip.AddrPort
	Remote netip.AddrPort // the unspecified address and port 0 when not connected
	State  State
	UID    uint32  // the socket's owner as the kernel records it
	Inode  uint64  // 0 for a socket no file descriptor refers to (time-wait, not yet accepted)
	Owners []Owner // sorted by PID
	// Hidden reports that the socket's processes could not be seen: it has
	// an inode but no owner was found while some processes' file
	// descriptors could not be read (without privileges: other users').
	Hidden bool
}

// StateName returns the socket's state as written: for TCP the State, for
// UDP "connected" or "unconnected".
func (s *Socket) StateName() string {
	if s.Proto == registry.UDP {
		switch s.State {
		case Established:
			return "connected"
		case Close:
			return "unconnected"
		}
	}
	return s.State.String()
}

// Listening reports whether the socket waits for peers: a listening TCP
// socket or an unconnected UDP socket.
func (s *Socket) Listening() bool {
	return (s.Proto == registry.TCP && s.State == Listen) || (s.Proto == registry.UDP && s.State == Close)
}

// AllAddresses reports whether the socket is bound to every address of the
// machine (0.0.0.0 or ::) rather than to one.
func (s *Socket) AllAddresses() bool { return s.Local.Addr().IsUnspecified() }

// Listing is what Read found.
type Listing struct {
	Sockets []Socket
	// Hidden is the number of sockets whose processes could not be seen
	// (Socket.Hidden).
	Hidden int
}

// Options say where Read looks.
type Options struct {
	// Proc is the proc file system; nil means os.DirFS("/proc"). Read takes
	// the socket tables from thread-self/net/ (the reading thread's network
	// namespace) when it exists, else from net/.
	Proc fs.FS
}

// tables are the socket tables Read reads, in the order of their protocols.
var tables = [...]struct {
	file  string
	proto registry.Proto
	v6    bool
}{{"tcp", registry.TCP, false}, {"tcp6", registry.TCP, true}, {"udp", registry.UDP, false}, {"udp6", registry.UDP, true}}

// Read lists the sockets of the calling thread's network namespace and their
// owners. Call it on a thread locked in the namespace to list another
// namespace's sockets (netns.Do). The sockets are sorted by protocol, local
// port, local address, remote address and port. A table that does not exist
// (IPv6 disabled) is skipped.
func Read(o Options) (Listing, error) {
	proc := o.Proc
	if proc == nil {
		proc = os.DirFS("/proc")
	}
	dir := "thread-self/net"
	if _, err := fs.Stat(proc, dir+"/tcp"); err != nil {
		dir = "net"
	}
	var l Listing
	for _, t := range tables {
		data, err := fs.ReadFile(proc, dir+"/"+t.file)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return Listing{}, fmt.Errorf("localports: %w", err)
		}
		socks, err := parseTable(data, t.proto, t.v6)
		if err != nil {
			return Listing{}, fmt.Errorf("localports: %s/%s: %w", dir, t.file, err)
		}
		l.Sockets = append(l.Sockets, socks...)
	}
	owners, unreadable, err := socketOwners(proc)
	if err != nil {
		return Listing{}, err
	}
	for i := range l.Sockets {
		s := &l.Sockets[i]
		if s.Inode == 0 {
			continue
		}
		s.Owners = owners[s.Inode]
		if len(s.Owners) == 0 && unreadable > 0 {
			s.Hidden = true
			l.Hidden++
		}
	}
	slices.SortStableFunc(l.Sockets, compareSockets)
	return l, nil
}

// compareSockets orders sockets by protocol, local port, local address,
// remote address and remote port.
func compareSockets(a, b Socket) int {
	return cmp.Or(
		cmp.Compare(a.Proto, b.Proto),
		cmp.Compare(a.Local.Port(), b.Local.Port()),
		a.Local.Addr().Compare(b.Local.Addr()),
		a.Remote.Addr().Compare(b.Remote.Addr()),
		cmp.Compare(a.Remote.Port(), b.Remote.Port()),
	)
}

// parseTable parses one /proc/net/{tcp,tcp6,udp,udp6} file:
//
//	sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
//	0: 0100007F:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 ...
//
// Addresses are 32-bit words in hexadecimal, each in the kernel's byte order;
// ports are hexadecimal numbers.
func parseTable(data []byte, proto registry.Proto, v6 bool) ([]Socket, error) {
	var socks []Socket
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if n == 1 || len(f) == 0 {
			continue // the header
		}
		if len(f) < 10 {
			return nil, fmt.Errorf("line %d: %d fields, want at least 10", n, len(f))
		}
		local, err1 := parseAddrPort(f[1], v6)
		remote, err2 := parseAddrPort(f[2], v6)
		st, err3 := strconv.ParseUint(f[3], 16, 8)
		uid, err4 := strconv.ParseUint(f[7], 10, 32)
		inode, err5 := strconv.ParseUint(f[9], 10, 64)
		if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		socks = append(socks, Socket{Proto: proto, Local: local, Remote: remote, State: State(st), UID: uint32(uid), Inode: inode})
	}
	return socks, sc.Err()
}

// parseAddrPort parses "0100007F:0016" (IPv4) or 32 hex digits and a port (IPv6).
func parseAddrPort(s string, v6 bool) (netip.AddrPort, error) {
	a, p, ok := strings.Cut(s, ":")
	want := 8
	if v6 {
		want = 32
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if !ok || len(a) != want || err != nil {
		return netip.AddrPort{}, fmt.Errorf("invalid address %q", s)
	}
	var raw, b [16]byte
	if _, err := hex.Decode(raw[:want/2], []byte(a)); err != nil {
		return netip.AddrPort{}, fmt.Errorf("invalid address %q", s)
	}
	// Each 32-bit word was printed as a number: in the kernel's byte order.
	for i := 0; i < want/2; i += 4 {
		binary.NativeEndian.PutUint32(b[i:], binary.BigEndian.Uint32(raw[i:]))
	}
	if !v6 {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[:4])), uint16(port)), nil
	}
	return netip.AddrPortFrom(netip.AddrFrom16(b), uint16(port)), nil
}

// socketOwners maps socket inodes to the processes holding them, from the fd
// links of every process in proc, and counts the processes whose file
// descriptors could not be read (without privileges: other users').
// Processes that exit meanwhile are skipped.
func socketOwners(proc fs.FS) (map[uint64][]Owner, int, error) {
	entries, err := fs.ReadDir(proc, ".")
	if err != nil {
		return nil, 0, fmt.Errorf("localports: %w", err)
	}
	owners := map[uint64][]Owner{}
	unreadable := 0
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		fds, err := fs.ReadDir(proc, e.Name()+"/fd")
		if errors.Is(err, fs.ErrPermission) {
			unreadable++
			continue
		}
		if err != nil {
			continue // exited, or a kernel thread's empty table
		}
		var name string
		var seen map[uint64]bool
		for _, fd := range fds {
			target, err := fs.ReadLink(proc, e.Name()+"/fd/"+fd.Name())
			if err != nil {
				continue
			}
			inode, ok := socketInode(target)
			if !ok || seen[inode] {
				continue
			}
			if seen == nil {
				seen = map[uint64]bool{}
				name = comm(proc, e.Name())
			}
			seen[inode] = true
			owners[inode] = append(owners[inode], Owner{PID: pid, Process: name})
		}
	}
	for _, o := range owners {
		slices.SortFunc(o, func(a, b Owner) int { return cmp.Compare(a.PID, b.PID) })
	}
	return owners, unreadable, nil
}

// socketInode parses a socket's fd link target, "socket:[12345]".
func socketInode(target string) (uint64, bool) {
	s, ok := strings.CutPrefix(target, "socket:[")
	if !ok || !strings.HasSuffix(s, "]") {
		return 0, false
	}
	n, err := strconv.ParseUint(s[:len(s)-1], 10, 64)
	return n, err == nil
}

// comm returns the command name of process pid, "" if it cannot be read.
func comm(proc fs.FS, pid string) string {
	b, err := fs.ReadFile(proc, pid+"/comm")
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(b), "\n")
}

// Package afpackettest provides throw-away network namespaces and veth pairs
// for tests and benchmarks that send real frames.
//
// Everything it creates lives in fresh network namespaces with no default
// route, named uniquely per process, and is deleted by tb.Cleanup, also when
// the test fails. Nothing is ever attached to the host's own interfaces.
package afpackettest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/fastscan/fastscan/netns"
)

// Netns is a network namespace created for one test.
type Netns struct {
	// Name is the namespace's name under netns.Dir (/run/netns).
	Name string
}

// NewNetns creates a network namespace with a unique name and its loopback
// interface up, and registers its deletion with tb.Cleanup.
func NewNetns(tb testing.TB) *Netns {
	tb.Helper()
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatalf("random namespace suffix: %v", err)
	}
	n := &Netns{Name: fmt.Sprintf("fst%d-%s", os.Getpid(), hex.EncodeToString(b[:]))}
	if out, err := exec.Command("ip", "netns", "add", n.Name).CombinedOutput(); err != nil {
		tb.Fatalf("ip netns add %s: %v: %s", n.Name, err, out)
	}
	tb.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", n.Name).CombinedOutput(); err != nil {
			tb.Errorf("ip netns del %s: %v: %s", n.Name, err, out)
		}
	})
	// No IPv6: its autoconfiguration chatter (router solicitations, MLD)
	// would otherwise show up on every link the test watches.
	for _, key := range []string{"all", "default"} {
		if err := n.Run(func() error {
			return os.WriteFile("/proc/sys/net/ipv6/conf/"+key+"/disable_ipv6", []byte("1"), 0)
		}); err != nil && !os.IsNotExist(err) {
			tb.Fatalf("disable IPv6 in %s: %v", n.Name, err)
		}
	}
	n.IP(tb, "link", "set", "lo", "up")
	return n
}

// IP runs `ip -n <namespace> args...` and fails tb if it fails.
func (n *Netns) IP(tb testing.TB, args ...string) string {
	tb.Helper()
	out, err := exec.Command("ip", append([]string{"-n", n.Name}, args...)...).CombinedOutput()
	if err != nil {
		tb.Fatalf("ip -n %s %s: %v: %s", n.Name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Run calls fn on an OS thread that has entered the namespace and returns
// its error; see [netns.Do]. Sockets fn opens belong to the namespace for
// their whole life, whichever thread uses them later.
func (n *Netns) Run(fn func() error) error { return netns.Do(n.Name, fn) }

// Link describes one end of a veth pair.
type Link struct {
	// Netns is the namespace the end lives in.
	Netns *Netns
	// Name is the interface name inside Netns.
	Name string
	// Index is the interface index inside Netns.
	Index int
	// MAC is the interface's hardware address.
	MAC [6]byte
}

// VethPair is a veth pair whose ends A and B live in two fresh namespaces.
type VethPair struct {
	// A and B are the two ends.
	A, B Link
}

// NewVethPair creates two namespaces joined by a veth pair, both ends up
// and without addresses: frames sent on one end arrive at the other and go
// no further.
func NewVethPair(tb testing.TB) *VethPair {
	tb.Helper()
	a, b := NewNetns(tb), NewNetns(tb)
	a.IP(tb, "link", "add", "veth-a", "type", "veth", "peer", "name", "veth-b", "netns", b.Name)
	a.IP(tb, "link", "set", "veth-a", "up")
	b.IP(tb, "link", "set", "veth-b", "up")
	return &VethPair{A: link(tb, a, "veth-a"), B: link(tb, b, "veth-b")}
}

func link(tb testing.TB, n *Netns, name string) Link {
	tb.Helper()
	l := Link{Netns: n, Name: name}
	err := n.Run(func() error {
		ifc, err := net.InterfaceByName(name)
		if err != nil {
			return err
		}
		l.Index = ifc.Index
		copy(l.MAC[:], ifc.HardwareAddr)
		return nil
	})
	if err != nil {
		tb.Fatalf("interface %s in %s: %v", name, n.Name, err)
	}
	return l
}

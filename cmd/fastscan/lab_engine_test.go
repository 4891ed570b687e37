package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fastscan/fastscan/afpacket"
	"github.com/fastscan/fastscan/lab"
	"github.com/fastscan/fastscan/lab/labtest"
	"github.com/fastscan/fastscan/output/outputtest"
	"github.com/fastscan/fastscan/udpprobe"
)

// wireCounter counts, on the remote router's side of the lab's WAN link, the
// frames of one IP protocol addressed to one target, by destination port: what
// really went on the wire.
type wireCounter struct {
	mu    sync.Mutex
	ports map[uint16]int
	stop  chan struct{}
	done  chan error
}

// countOnWire starts counting frames of protocol proto to dst as the remote router
// receives them.
func countOnWire(t *testing.T, l *lab.Lab, dst netip.Addr, proto uint8) *wireCounter {
	t.Helper()
	filter, err := afpacket.ReplyFilter(dst, 1, 65535, []uint8{proto})
	if err != nil {
		t.Fatal(err)
	}
	var ring *afpacket.Ring
	if err := l.Do(l.RemoteNS(), func() error {
		ifc, err := net.InterfaceByName(lab.RemoteWANIface)
		if err != nil {
			return err
		}
		ring, err = afpacket.NewRing(ifc.Index, afpacket.RingConfig{Filter: filter, BlockTimeout: time.Millisecond})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	c := &wireCounter{ports: map[uint16]int{}, stop: make(chan struct{}), done: make(chan error, 1)}
	go func() {
		defer ring.Close()
		for {
			select {
			case <-c.stop:
				c.done <- ring.Poll(0, c.count)
				return
			default:
			}
			if err := ring.Poll(5*time.Millisecond, c.count); err != nil {
				c.done <- err
				return
			}
		}
	}()
	t.Cleanup(func() {
		select {
		case <-c.stop:
		default:
			close(c.stop)
			<-c.done
		}
	})
	return c
}

func (c *wireCounter) count(frame []byte, _ int64) {
	const dstPortAt = 14 + 20 + 2 // no IP options in probes
	if len(frame) < dstPortAt+2 || frame[14]&0x0f != 5 {
		return
	}
	c.mu.Lock()
	c.ports[binary.BigEndian.Uint16(frame[dstPortAt:])]++
	c.mu.Unlock()
}

// result stops counting and returns the frames seen by destination port.
func (c *wireCounter) result(t *testing.T) map[uint16]int {
	t.Helper()
	time.Sleep(20 * time.Millisecond) // the last frames' ring block
	close(c.stop)
	if err := <-c.done; err != nil {
		t.Fatalf("counting frames on the wire: %v", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ports
}

// TestLabEveryUDPProbe sends every service request of udpprobe through the real
// send path (AF_PACKET) to one live address and counts the frames on the wire: one
// per probe, the long ones (IKE 500, SSDP 1900, SIP 5060) included, and each port's
// verdict is the ground truth - closed (ICMP port unreachable) where no responder
// listens, where a probe that never left would read open|filtered.
func TestLabEveryUDPProbe(t *testing.T) {
	l := labtest.Start(t)
	truth := l.Truth()
	dst := truth.AnyIPPrefix.Addr().Next().Next()
	var ports []uint16
	var spec []string
	for _, p := range udpprobe.All() {
		ports = append(ports, p.Port)
		spec = append(spec, strconv.Itoa(int(p.Port)))
	}
	wire := countOnWire(t, l, dst, 17)
	out := scanLab(t, l, dst.String(), "-sU", "-p", strings.Join(spec, ","), "--show", "all", "--retries", "0")
	seen := wire.result(t)
	for _, p := range udpprobe.All() {
		if seen[p.Port] != 1 {
			t.Errorf("%s (port %d): %d frames on the wire, want 1", p.Name, p.Port, seen[p.Port])
		}
	}
	compareUDPWithTruth(t, truth, out, dst, dst, ports)
	for _, f := range out.findings {
		if f.Port == 500 || f.Port == 1900 || f.Port == 5060 {
			if f.State != "closed" {
				t.Errorf("port %d/udp: %s (%s), want closed: the lab's kernel answers port unreachable", f.Port, f.State, f.Reason)
			}
		}
	}
}

// TestLabInterfaceRefused: an interface that does not reach the target - lo, or
// the LAN interface for a routed address - is refused before anything is sent or
// any file created: exit 2, one line naming the interface and the target. (Before,
// -i lo ran on lo and reported the open port filtered.)
func TestLabInterfaceRefused(t *testing.T) {
	l := labtest.Start(t)
	truth := l.Truth()
	dst := truth.AnyIPPrefix.Addr().Next()
	for _, iface := range []string{"lo", lab.ScannerLANIface} {
		t.Run(iface, func(t *testing.T) {
			wire := countOnWire(t, l, dst, 6)
			file := filepath.Join(t.TempDir(), "out.json")
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := l.Command(ctx, os.Args[0], "-i", iface, dst.String(), "-p", "80", "-o", file, "-oX", file+".xml")
			cmd.Env = append(os.Environ(), runMainEnv+"=1")
			msg, _ := cmd.CombinedOutput()
			if code := cmd.ProcessState.ExitCode(); code != exitUsage {
				t.Errorf("exit %d, want %d; output:\n%s", code, exitUsage, msg)
			}
			if lines := strings.Split(strings.TrimSpace(string(msg)), "\n"); len(lines) != 1 ||
				!strings.Contains(lines[0], "interface "+iface+" ") || !strings.Contains(lines[0], dst.String()) {
				t.Errorf("want one line naming %s and %v, got:\n%s", iface, dst, msg)
			}
			for _, f := range []string{file, file + ".xml"} {
				if _, err := os.Stat(f); !os.IsNotExist(err) {
					t.Errorf("%s was created (%v)", f, err)
				}
			}
			if n := wire.result(t); len(n) != 0 {
				t.Errorf("frames reached the target: %v", n)
			}
		})
	}
}

// summarySeconds reads the scan's duration from its summary line ("... in 0.45s").
func summarySeconds(t *testing.T, stderr string) float64 {
	t.Helper()
	m := regexp.MustCompile(` in ([0-9.]+)s\n`).FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no duration in the summary:\n%s", stderr)
	}
	s, _ := strconv.ParseFloat(m[1], 64)
	return s
}

// TestLabOneHostOneDroppedPort: one host x 65,535 ports, one of which the host drops
// silently (nftables). The scan is exact - every open port found, the dropped one
// filtered (no-response), nothing else filtered - and the dropped port costs only a
// few measured round trips of cool-down, not the 1 s initial RTO per pass: with the
// send clock stamped after sendmmsg returned, every round trip on the bridged LAN
// read negative and the LAN scan took 2.8-3.0 s here, 2 s of it waiting.
//
// How fast 65,535 probes cross the lab depends on the machine (both kernels share
// its CPUs, and go test runs other packages' lab tests beside this one; the LAN
// host's kernel answers about 65,000 SYNs/s on this 2-core VM), so each case also
// times the same scan of a host that drops nothing, in the same run: the dropped port
// may cost at most 0.25 s over it. The routed host (through the lab's router) must
// finish under 0.8 s whenever that plain scan fits in 0.6 s.
func TestLabOneHostOneDroppedPort(t *testing.T) {
	l := labtest.Start(t)
	truth := l.Truth()
	const dropped = 4444
	routed := truth.AnyIPPrefix.Addr().Next().Next().Next().Next().Next()
	cases := []struct {
		name          string
		host, plain   netip.Addr
		ns            string
		open          []uint16
		absoluteBound bool
	}{
		{"Routed", routed, routed.Next(), l.RemoteNS(), nil, true},
		{"LAN", truth.Hosts[0].Addr, truth.Hosts[1].Addr, l.HostNS(0), truth.Hosts[0].Ports, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			open := c.open
			if open == nil {
				for _, ap := range truth.Open(c.host, c.host, portRange(1, 65535)) {
					open = append(open, ap.Port())
				}
			}
			if slices.Contains(open, dropped) {
				t.Fatalf("port %d is open on %v: pick another", dropped, c.host)
			}
			dropPort(t, l, c.ns, c.host, dropped)
			args := []string{"-p-", "-r", "1000000", "--show", "open,filtered", "--wait", "5s"}
			best, bestPlain := 1e9, 1e9
			for attempt := 0; attempt < 3; attempt++ {
				out := scanLab(t, l, append([]string{c.host.String()}, args...)...)
				var got []uint16
				for _, f := range out.findings {
					switch {
					case f.State == "open":
						got = append(got, f.Port)
					case f.State == "filtered" && f.Port == dropped && f.Reason == "no-response":
					default:
						t.Errorf("finding %+v: only the open ports and %d filtered are expected", f, dropped)
					}
				}
				slices.Sort(got)
				if fmt.Sprint(got) != fmt.Sprint(open) || len(out.findings) != len(open)+1 {
					t.Fatalf("open %v, want %v, and %d filtered: %d findings", got, open, dropped, len(out.findings))
				}
				best = min(best, summarySeconds(t, out.stderr))
				plain := scanLab(t, l, append([]string{c.plain.String()}, args...)...)
				bestPlain = min(bestPlain, summarySeconds(t, plain.stderr))
				t.Logf("attempt %d: %.2fs with the dropped port, %.2fs without (best so far)", attempt+1, best, bestPlain)
				if best-bestPlain <= 0.25 && (!c.absoluteBound || best < 0.8) {
					break
				}
			}
			if best-bestPlain > 0.25 {
				t.Errorf("the dropped port cost %.2fs (%.2fs against %.2fs): cool-downs idle", best-bestPlain, best, bestPlain)
			}
			if c.absoluteBound && best >= 0.8 && bestPlain < 0.6 {
				t.Errorf("the scan took %.2fs at best of 3, want under 0.8s", best)
			}
		})
	}
}

// dropPort makes namespace ns drop TCP segments to host:port silently, until the
// test ends.
func dropPort(t *testing.T, l *lab.Lab, ns string, host netip.Addr, port uint16) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	table := "fastscan_drop"
	nft := l.Command(ctx, "ip", "netns", "exec", ns, "nft", "-f", "-")
	nft.Stdin = strings.NewReader(fmt.Sprintf("table inet %s {\n chain input {\n  type filter hook input priority 0;\n  ip daddr %v tcp dport %d drop\n }\n}\n", table, host, port))
	if out, err := nft.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if out, err := l.Command(ctx, "ip", "netns", "exec", ns, "nft", "delete", "table", "inet", table).CombinedOutput(); err != nil {
			t.Errorf("nft delete: %v\n%s", err, out)
		}
	})
}

// TestLabHostStatus: whether a host is up does not depend on --show. The same scan
// of live, blackholed (silent) and prohibited (ICMP from the router) ranges, written
// as nmap XML with the default --show and with --show all, counts the same hosts up
// and down - the truth's live hosts up - and with --show all every host listed only
// for its silence or a router's ICMP error is down, not "up, user-set".
func TestLabHostStatus(t *testing.T) {
	l := labtest.Start(t)
	truth := l.Truth()
	ranges := []addrRange{
		{netip.MustParseAddr("198.19.0.0"), netip.MustParseAddr("198.19.0.255")},
		{netip.MustParseAddr("198.19.128.0"), netip.MustParseAddr("198.19.128.255")},
		{netip.MustParseAddr("198.19.192.0"), netip.MustParseAddr("198.19.192.255")},
	}
	live := map[string]bool{}
	for _, r := range ranges {
		for a := r.first; a.Compare(r.last) <= 0; a = a.Next() {
			if s := truth.State(a, 80).String(); s == "open" || s == "closed" {
				live[a.String()] = true
			}
		}
	}
	if len(live) == 0 || len(live) == 768 {
		t.Fatalf("%d of 768 addresses live: the test needs both kinds", len(live))
	}
	dir := t.TempDir()
	for _, show := range []string{"open", "all"} {
		file := filepath.Join(dir, show+".xml")
		scanLab(t, l, "198.19.0.0/24,198.19.128.0/24,198.19.192.0/24", "-p", "80", "--show", show, "-oX", file, "--wait", "500ms")
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		outputtest.ValidateNmapXML(t, data)
		run := outputtest.ParseNmapXML(t, data)
		if hs := run.Runstats.Hosts; hs.Up != len(live) || hs.Down != 768-len(live) || hs.Total != 768 {
			t.Errorf("--show %s: runstats up %d down %d total %d; truth: %d up of 768", show, hs.Up, hs.Down, hs.Total, len(live))
		}
		listed := 0
		for _, h := range run.Hosts {
			listed++
			want := "down"
			if live[h.Addr.Addr] {
				want = "up"
			}
			if h.Status.State != want || h.Status.Reason == "user-set" {
				t.Errorf("--show %s: host %s is %s (%s), truth: %s", show, h.Addr.Addr, h.Status.State, h.Status.Reason, want)
			}
		}
		if show == "all" && listed != 768 {
			t.Errorf("--show all lists %d hosts, want all 768", listed)
		}
	}
}

// TestLabRefusedScanTouchesNoFile: a scan the machine refuses - no route to the
// target (198.18.200.1 is in the benchmarking range but not routed in the lab) -
// neither truncates an existing output file nor creates a new one: routes, ARP,
// probes and sockets are all settled before any file is opened.
func TestLabRefusedScanTouchesNoFile(t *testing.T) {
	l := labtest.Start(t)
	dir := t.TempDir()
	precious, fresh := filepath.Join(dir, "p.json"), filepath.Join(dir, "new.xml")
	if err := os.WriteFile(precious, []byte("precious\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := l.Command(ctx, os.Args[0], "198.18.200.1", "-p", "22", "-oJ", precious, "-oX", fresh, "--pcap", fresh+".pcap")
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	msg, _ := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code == exitOK {
		t.Fatalf("a scan without a route succeeded:\n%s", msg)
	}
	if !strings.Contains(string(msg), "198.18.200.1") {
		t.Errorf("the error does not name the target:\n%s", msg)
	}
	if data, err := os.ReadFile(precious); err != nil || string(data) != "precious\n" {
		t.Errorf("the existing output file now holds %q (%v)", data, err)
	}
	for _, f := range []string{fresh, fresh + ".pcap"} {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("%s was created (%v)", f, err)
		}
	}
}

// TestLabUnwritableDestinationTouchesNoFile: a scan whose checkpoint or status file
// cannot be written is refused (exit 2, naming it) before any output file is
// created or truncated.
func TestLabUnwritableDestinationTouchesNoFile(t *testing.T) {
	l := labtest.Start(t)
	dst := l.Truth().AnyIPPrefix.Addr().Next()
	for _, bad := range [][]string{{"--resume-file", "/nonexistent/x.resume"}, {"--status-json", "/nonexistent/s.json"}, {"--pcap", "/nonexistent/r.pcap"}} {
		t.Run(bad[0], func(t *testing.T) {
			dir := t.TempDir()
			precious, fresh := filepath.Join(dir, "p.json"), filepath.Join(dir, "new.xml")
			if err := os.WriteFile(precious, []byte("precious\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			args := append([]string{dst.String(), "-p", "22", "-oJ", precious, "-oX", fresh}, bad...)
			cmd := l.Command(ctx, os.Args[0], args...)
			cmd.Env = append(os.Environ(), runMainEnv+"=1")
			msg, _ := cmd.CombinedOutput()
			if code := cmd.ProcessState.ExitCode(); code != exitUsage || !strings.Contains(string(msg), bad[1]) {
				t.Errorf("exit %d, want %d naming %s:\n%s", code, exitUsage, bad[1], msg)
			}
			if data, err := os.ReadFile(precious); err != nil || string(data) != "precious\n" {
				t.Errorf("the existing output file now holds %q (%v)", data, err)
			}
			if _, err := os.Stat(fresh); !os.IsNotExist(err) {
				t.Errorf("%s was created (%v)", fresh, err)
			}
		})
	}
}

// TestLabOutputToDevNull: results written to a device (-o /dev/null, as the demo
// does) work: nothing is synced or cut back on a file that is not a regular one.
// The completed scan removes its checkpoint, also after dropping root, from a
// directory whose parents only root may enter (it unlinks through the directory
// opened before the drop).
func TestLabOutputToDevNull(t *testing.T) {
	l := labtest.Start(t)
	dst := l.Truth().AnyIPPrefix.Addr().Next()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := l.Command(ctx, os.Args[0], dst.String(), "-p", "1-2000", "-o", "/dev/null", "-q")
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	cmd.Dir = dir
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v:\n%s", err, msg)
	}
	left, _ := os.ReadDir(dir)
	for _, e := range left {
		t.Errorf("the scan left %s in its working directory", e.Name())
	}
}

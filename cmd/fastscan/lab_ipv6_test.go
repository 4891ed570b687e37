package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fastscan/fastscan/citest"
	"github.com/fastscan/fastscan/cookie"
	"github.com/fastscan/fastscan/lab"
	"github.com/fastscan/fastscan/lab/labtest"
	"github.com/fastscan/fastscan/netns"
	"github.com/fastscan/fastscan/packet/packettest"
)

// byProto splits a scan's findings into its TCP and its UDP part.
func byProto(out scanOutput) (tcp, udp scanOutput) {
	tcp, udp = scanOutput{stderr: out.stderr, elapsed: out.elapsed}, scanOutput{stderr: out.stderr, elapsed: out.elapsed}
	for _, f := range out.findings {
		if f.Proto == "udp" {
			udp.findings = append(udp.findings, f)
		} else {
			tcp.findings = append(tcp.findings, f)
		}
	}
	return tcp, udp
}

// inRange keeps the findings whose address lies in r.
func inRange(out scanOutput, r addrRange) scanOutput {
	sub := scanOutput{stderr: "hosts down 0", elapsed: out.elapsed}
	for _, f := range out.findings {
		if ip := netip.MustParseAddr(f.IP); ip.Compare(r.first) >= 0 && ip.Compare(r.last) <= 0 {
			sub.findings = append(sub.findings, f)
		}
	}
	return sub
}

// TestLabIPv6 scans the lab's IPv6 parts and compares every finding with the
// ground truth: the routed /110 (an AnyIP /112 of live hosts, a blackholed
// /112, ICMPv6 admin-prohibited, address-unreachable and port-unreachable
// parts), the LAN's hosts by neighbour discovery (one answering 50 ms late),
// IPv4 and IPv6 targets in one scan of TCP and UDP, and ::1.
func TestLabIPv6(t *testing.T) {
	l := labtest.Start(t)
	truth := l.Truth()
	t.Run("Routed", func(t *testing.T) {
		first, last := lab.PrefixBounds(truth.RoutedRange6)
		out := scanLab(t, l, truth.RoutedRange6.String(), "-p", "22", "-r", "50000", "--show", "all", "--retries", "2")
		compareWithTruth(t, truth, out, first, last, []uint16{22}, true)
		reasons := map[string]int{}
		for _, f := range out.findings {
			reasons[f.State+" "+f.Reason]++
		}
		// Each region answers in its own way (see the lab's layout).
		for want, n := range map[string]int{"open syn-ack": 65536, "filtered no-response": 65536, "filtered admin-prohibited": 65536, "filtered host-unreach": 32768, "filtered port-unreach": 32768} {
			if reasons[want] != n {
				t.Errorf("%d findings %q, want %d (all: %v)", reasons[want], want, n, reasons)
			}
		}
	})
	t.Run("LAN", func(t *testing.T) {
		lan := netip.PrefixFrom(truth.LANPrefix6.Addr(), 120)
		first, last := lab.PrefixBounds(lan)
		out := scanLab(t, l, lan.String(), "-p", "1-1024", "-r", "50000", "--show", "all")
		compareWithTruth(t, truth, out, first, last, portRange(1, 1024), true)
		found := map[string]bool{}
		for _, f := range out.findings {
			found[f.IP] = true
		}
		for _, h := range truth.Hosts {
			if !found[h.Addr6.String()] {
				t.Errorf("LAN host %v (%v) not found", h.Addr6, h.MAC)
			}
		}
	})
	t.Run("MixedFamiliesTCPAndUDP", func(t *testing.T) {
		// Routed (wan0) and LAN (lan0) targets of both families, one scan per
		// interface, TCP and UDP in each.
		c8c8 := netip.AddrFrom16([16]byte{0x20, 0x01, 0, 0x02, 0, 0, 0x01, 0, 14: 0xc8, 15: 0xc8})
		for _, scan := range []struct {
			name   string
			ranges []addrRange
		}{
			{"routed", []addrRange{
				{netip.MustParseAddr("198.19.0.0"), netip.MustParseAddr("198.19.0.255")},
				{netip.MustParseAddr("198.19.100.200"), netip.MustParseAddr("198.19.100.200")},
				{truth.AnyIPPrefix6.Addr(), truth.AnyIPPrefix6.Addr().Next().Next().Next()},
				{c8c8, c8c8},
				{netip.MustParseAddr("2001:2:0:100::1:0"), netip.MustParseAddr("2001:2:0:100::1:f")},
				{netip.MustParseAddr("2001:2:0:100::3:8000"), netip.MustParseAddr("2001:2:0:100::3:800f")},
			}},
			{"LAN", []addrRange{
				{netip.MustParseAddr("198.18.1.0"), netip.MustParseAddr("198.18.1.31")},
				{netip.MustParseAddr("2001:2:0:1::"), netip.MustParseAddr("2001:2:0:1::3f")},
			}},
		} {
			var specs []string
			for _, r := range scan.ranges {
				specs = append(specs, r.first.String()+"-"+r.last.String())
			}
			out := scanLab(t, l, strings.Join(specs, ","), "-p", "T:22,80,81,8080,U:53,123,9", "-r", "20000", "--show", "all", "--retries", "2")
			tcp, udp := byProto(out)
			compareRangesWithTruth(t, truth, tcp, scan.ranges, []uint16{22, 80, 81, 8080}, true)
			var openUDP int
			for _, r := range scan.ranges {
				sub := inRange(udp, r)
				o, _, _, _, d := truth.CountUDP(r.first, r.last, []uint16{9, 53, 123})
				openUDP += int(o)
				if d > 0 { // the hosts-down check is compareRangesWithTruth's
					sub.stderr = "hosts down " + strconv.FormatUint(d/3, 10)
				}
				compareUDPWithTruth(t, truth, sub, r.first, r.last, []uint16{9, 53, 123})
			}
			families := map[bool]int{}
			for _, f := range out.findings {
				if f.State == "open" {
					families[netip.MustParseAddr(f.IP).Is4()]++
				}
			}
			if families[true] == 0 || families[false] == 0 || openUDP == 0 {
				t.Errorf("%s: open findings by family (IPv4 true): %v, open UDP in the truth %d", scan.name, families, openUDP)
			}
		}
	})
	t.Run("ForgedReplies", func(t *testing.T) {
		// SYN-ACKs with wrong acknowledgements for blackholed IPv6 targets,
		// injected while the scan runs: nothing may come of them but the count
		// of invalid replies; the one genuine reply is reported once.
		const seed = 98
		base := truth.BlackholePrefix6.Addr()
		genuine := base.Next().Next().Next().Next().Next().Next().Next() // ::1:7
		local := truth.ScannerWANAddr6
		key := cookie.NewKey(seed)
		flow := func(ip netip.Addr, lport uint16) packettest.Flow6 {
			return packettest.Flow6{LocalMAC: truth.ScannerWANMAC, TargetMAC: truth.RemoteWANMAC,
				LocalIP: local, TargetIP: ip, LocalPort: lport, TargetPort: 80}
		}
		var frames [][]byte
		ip := base
		for i := range 16 {
			ack := key.SumIPv6(local.As16(), ip.As16(), 61000+uint16(i), 80) + 1
			frames = append(frames, packettest.SYNACK6(t, flow(ip, 61000+uint16(i)), ack+1+uint32(i)))
			ip = ip.Next()
		}
		frames = append(frames, packettest.SYNACK6(t, flow(genuine, 61005), key.SumIPv6(local.As16(), genuine.As16(), 61005, 80)+1))
		done := make(chan struct{})
		injectErr := make(chan error, 1)
		go func() { injectErr <- injectFrames(l, frames, done, 20*time.Millisecond, 5*time.Second) }()
		last := base
		for range 15 {
			last = last.Next()
		}
		out := scanLab(t, l, base.String()+"-"+last.String(), "-p", "80", "-r", "10", "--retries", "0", "--wait", "1s", "--seed", strconv.Itoa(seed))
		close(done)
		if err := <-injectErr; err != nil {
			t.Fatalf("injecting forged replies: %v", err)
		}
		if len(out.findings) != 1 || out.findings[0].IP != genuine.String() || out.findings[0].State != "open" {
			t.Fatalf("findings %+v, want only the genuine [%v]:80 open", out.findings, genuine)
		}
		if n := out.summaryCount(t, "invalid replies"); n == 0 {
			t.Errorf("summary counts no invalid replies, yet forged ones were injected:\n%s", out.stderr)
		}
	})
	t.Run("PcapAndReplay", func(t *testing.T) {
		// An IPv6 scan's --pcap, read by tcpdump, replayed with the scan's
		// seed: the replay validates every reply by its cookie and finds what
		// the scan found.
		tcpdump := citest.RequireTool(t, "tcpdump")
		name := filepath.Join(t.TempDir(), "r6.pcap")
		targets := netip.PrefixFrom(truth.AnyIPPrefix6.Addr(), 122).String() + ",2001:2:0:100::2:0/126"
		out := scanLab(t, l, targets, "-p", "22,81", "--seed", "4242", "--pcap", name, "--show", "all")
		dump, err := exec.Command(tcpdump, "-n", "-r", name).Output()
		if err != nil {
			t.Fatalf("tcpdump -r: %v", err)
		}
		lines := strings.Split(strings.TrimSpace(string(dump)), "\n")
		if got, want := uint64(len(lines)), out.summaryCount(t, "replies"); got != want || !strings.Contains(string(dump), "IP6 ") {
			t.Fatalf("tcpdump reads %d packets, the summary counts %d replies:\n%s", got, want, dump)
		}
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), []string{"fastscan", "replay", "--seed", "4242", "-p", "22,81", "--show", "open,closed,filtered", "--format", "jsonl", "-q", targets, name},
			&stdout, &stderr, nil)
		if code != exitOK {
			t.Fatalf("replay exit %d: %s", code, stderr.String())
		}
		replayed := map[string]bool{}
		for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
			var f finding
			if err := json.Unmarshal([]byte(line), &f); err != nil {
				t.Fatalf("%q: %v", line, err)
			}
			replayed[f.IP+" "+strconv.Itoa(int(f.Port))+" "+f.State] = true
		}
		answered := 0
		for _, f := range out.findings {
			if f.Reason == "no-response" {
				continue
			}
			answered++
			if !replayed[f.IP+" "+strconv.Itoa(int(f.Port))+" "+f.State] {
				t.Errorf("the scan found [%s]:%d %s, the replay did not", f.IP, f.Port, f.State)
			}
		}
		if answered == 0 || len(replayed) != answered {
			t.Errorf("replay found %d verdicts, the scan %d answered", len(replayed), answered)
		}
	})
	t.Run("Sorted", func(t *testing.T) {
		// --sort's report counts each IPv6 host's hidden closed port as closed.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		host := truth.AnyIPPrefix6.Addr().Next().Next()
		cmd := l.Command(ctx, os.Args[0], host.String(), "-p", "22,5432", "--sort", "-q")
		cmd.Env = append(os.Environ(), runMainEnv+"=1")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("--sort: %v\n%s", err, out)
		}
		for _, want := range []string{"fastscan scan report for " + regexp.QuoteMeta(host.String()), `Not shown: 1 closed tcp port \(reset\)`, `22/tcp +open +ssh`} {
			if !regexp.MustCompile(want).Match(out) {
				t.Errorf("--sort report lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("Loopback", func(t *testing.T) {
		// A listener on ::1 inside the scanner's namespace: open; the next
		// port: closed.
		var ln net.Listener
		if err := netns.Do(l.ScannerNS(), func() (err error) {
			ln, err = net.Listen("tcp6", "[::1]:0")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		port := uint16(ln.Addr().(*net.TCPAddr).Port)
		out := scanLab(t, l, "::1", "-p", strconv.Itoa(int(port))+","+strconv.Itoa(int(port)+1), "--show", "all")
		got := map[uint16]string{}
		for _, f := range out.findings {
			if f.IP != "::1" {
				t.Errorf("finding for %s", f.IP)
			}
			got[f.Port] = f.State
		}
		if got[port] != "open" || got[port+1] != "closed" || len(got) != 2 {
			t.Errorf("::1: %v, want %d open and %d closed", got, port, port+1)
		}
	})
}

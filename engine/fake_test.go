package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fastscan/fastscan/link/linktest"
	"github.com/fastscan/fastscan/packet"
	"github.com/fastscan/fastscan/packet/packettest"
	"github.com/fastscan/fastscan/result"
	"github.com/fastscan/fastscan/target"
	"github.com/fastscan/fastscan/udpprobe"
)

// These tests run whole scans - send loop, retries, cool-downs, interruption,
// summaries - against linktest's in-memory network, without root: the truth is the
// network's model, and the fake counts every frame that left.

var (
	fakeSource = netip.MustParseAddr("198.18.0.1")
	fakeRouter = netip.MustParseAddr("198.18.0.254")
)

// fakePath is where a fake scan's probes go: no routing table, no ARP.
func fakePath() *Path {
	return &Path{
		Interface: net.Interface{Index: 1, Name: "fake0", MTU: 1500},
		SourceIP:  fakeSource, SourceMAC: [6]byte{2, 0, 0, 0, 0, 1}, RouterMAC: [6]byte{2, 0, 0, 0, 0, 2},
	}
}

// fakeConfig is a scan of targets x tcp/udp ports through nw.
func fakeConfig(t testing.TB, nw *linktest.Network, targets, tcp, udp string) Config {
	t.Helper()
	set, err := target.ParseTargets([]string{targets}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Targets: set, Rate: 200000, Seed: 42, Link: nw.Open, Path: fakePath(), Wait: 2 * time.Second,
		Show: result.StateSet(0).With(result.Closed).With(result.Filtered).With(result.OpenFiltered)}
	if tcp != "" {
		if cfg.Ports, err = target.ParsePorts(tcp); err != nil {
			t.Fatal(err)
		}
	}
	if udp != "" {
		if cfg.UDPPorts, err = target.ParsePorts(udp); err != nil {
			t.Fatal(err)
		}
	}
	return cfg
}

// resultAddr is the probed address of a result.
func resultAddr(r *result.Result) netip.Addr { return r.IP }

// key names a target in maps of expected verdicts.
type key struct {
	addr  netip.Addr
	proto result.Proto
	port  uint16
}

func (k key) String() string { return fmt.Sprintf("%v %s/%d", k.addr, k.proto, k.port) }

type verdict struct {
	state  result.State
	reason result.Reason
}

// runFake runs cfg and returns every verdict by target; a verdict given twice fails.
func runFake(t testing.TB, ctx context.Context, cfg Config) (map[key]verdict, Summary, *Scanner, error) {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	got := map[key]verdict{}
	var mu sync.Mutex
	sum, err := s.Run(ctx, func(r *result.Result) error {
		mu.Lock()
		defer mu.Unlock()
		k := key{resultAddr(r), r.Proto, r.Port}
		if _, dup := got[k]; dup {
			t.Errorf("%v reported twice", k)
		}
		got[k] = verdict{r.State, r.Reason}
		return nil
	})
	return got, sum, s, err
}

// protoOf is the result protocol of an IP protocol number.
func protoOf(p uint8) result.Proto {
	if p == packet.ProtocolUDP {
		return result.UDP
	}
	return result.TCP
}

// truthOf is the verdict a model's answer must give.
func truthOf(proto uint8, a linktest.Answer, target netip.Addr) verdict {
	switch a.Kind {
	case linktest.SYNACK:
		return verdict{result.Open, result.ReasonSYNACK}
	case linktest.RST:
		return verdict{result.Closed, result.ReasonReset}
	case linktest.UDPReply:
		return verdict{result.Open, result.ReasonUDPResponse}
	case linktest.ICMPUnreachable:
		if proto == packet.ProtocolUDP && a.ICMPCode == 3 {
			return verdict{result.Closed, result.ReasonPortUnreachable}
		}
		r, _ := result.ICMPUnreachableReason(a.ICMPCode)
		return verdict{result.Filtered, r}
	}
	if proto == packet.ProtocolUDP {
		return verdict{result.OpenFiltered, result.ReasonNoResponse}
	}
	return verdict{result.Filtered, result.ReasonNoResponse}
}

// mixedModel gives every kind of answer, chosen by address and port: open,
// closed, silent and ICMP-filtered TCP ports; UDP ports answering, closed by port
// unreachable from the host, prohibited by a router, or silent.
func mixedModel(dst netip.Addr, proto uint8, port uint16) linktest.Answer {
	b := dst.As4()
	h := (uint32(b[3])*31 + uint32(port)*7) % 10
	if proto == packet.ProtocolTCP {
		switch {
		case h < 2:
			return linktest.Answer{Kind: linktest.SYNACK}
		case h < 6:
			return linktest.Answer{Kind: linktest.RST}
		case h < 7:
			return linktest.Answer{Kind: linktest.ICMPUnreachable, ICMPCode: 13, ICMPFrom: fakeRouter}
		}
		return linktest.Answer{}
	}
	switch {
	case h < 3:
		return linktest.Answer{Kind: linktest.UDPReply, Payload: func([]byte) []byte { return []byte("pong") }}
	case h < 7:
		return linktest.Answer{Kind: linktest.ICMPUnreachable, ICMPCode: 3}
	case h < 8:
		return linktest.Answer{Kind: linktest.ICMPUnreachable, ICMPCode: 13, ICMPFrom: fakeRouter}
	}
	return linktest.Answer{}
}

// expectTruth checks got against the model for every target of cfg.
func expectTruth(t *testing.T, cfg Config, model linktest.Model, got map[key]verdict) {
	t.Helper()
	want := map[key]verdict{}
	for i := uint64(0); i < cfg.Targets.Len(); i++ {
		a := cfg.Targets.At(i)
		for j := 0; j < cfg.Ports.Len(); j++ {
			p := cfg.Ports.At(j)
			want[key{a, result.TCP, p}] = truthOf(packet.ProtocolTCP, model(a, packet.ProtocolTCP, p), a)
		}
		for j := 0; j < cfg.UDPPorts.Len(); j++ {
			p := cfg.UDPPorts.At(j)
			want[key{a, result.UDP, p}] = truthOf(packet.ProtocolUDP, model(a, packet.ProtocolUDP, p), a)
		}
	}
	bad := 0
	for k, w := range want {
		if g, ok := got[k]; !ok || g != w {
			if bad++; bad <= 10 {
				t.Errorf("%v: got %v %v (reported %v), want %v %v", k, g.state, g.reason, ok, w.state, w.reason)
			}
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%v reported but not scanned", k)
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d verdicts wrong", bad, len(want))
	}
}

// TestFakeScanExact: a mixed TCP and UDP scan finds exactly the model's truth,
// every probe leaves once, and the UDP ports whose requests are the longest frames
// (IKE 500, SSDP 1900, SIP 5060) are probed too: closed by a port unreachable, not
// open|filtered for a probe that never left.
func TestFakeScanExact(t *testing.T) {
	nw := linktest.New(linktest.Options{Model: mixedModel})
	cfg := fakeConfig(t, nw, "198.19.0.0/28", "1-40", "53,123,161,500,1900,5060,9")
	got, sum, _, err := runFake(t, context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	expectTruth(t, cfg, mixedModel, got)
	if want := cfg.Targets.Len() * 47; nw.Sent() != want || sum.Sent != want {
		t.Errorf("sent %d frames (summary %d), want %d: one per probe", nw.Sent(), sum.Sent, want)
	}
	if sum.Phase != PhaseDone || sum.Interrupted {
		t.Errorf("phase %v interrupted %v", sum.Phase, sum.Interrupted)
	}
	want := 0
	for _, c := range nw.Configs() {
		want = max(want, c.FrameLen)
	}
	for _, p := range udpprobe.All() {
		if n := 14 + 20 + 8 + len(p.Payload); n > want {
			t.Errorf("link frames of %d bytes, the %s probe needs %d", want, p.Name, n)
		}
	}
}

// TestFakeEveryUDPProbeLeaves: every service request of udpprobe is sent, one
// frame per probe, with its payload intact, and a port unreachable for it reads
// closed.
func TestFakeEveryUDPProbeLeaves(t *testing.T) {
	closed := func(netip.Addr, uint8, uint16) linktest.Answer {
		return linktest.Answer{Kind: linktest.ICMPUnreachable, ICMPCode: 3}
	}
	var ports string
	for _, p := range udpprobe.All() {
		ports += fmt.Sprintf("%d,", p.Port)
	}
	nw := linktest.New(linktest.Options{Model: closed})
	cfg := fakeConfig(t, nw, "198.19.0.1", "", ports[:len(ports)-1])
	got, _, _, err := runFake(t, context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	expectTruth(t, cfg, closed, got)
	seen := map[uint16]int{}
	for _, p := range nw.Probes() {
		seen[p.DstPort]++
		if want := udpprobe.ForPort(p.DstPort); len(p.Payload) != len(want.Payload) {
			t.Errorf("port %d: payload of %d bytes, want %d", p.DstPort, len(p.Payload), len(want.Payload))
		}
	}
	for _, p := range udpprobe.All() {
		if seen[p.Port] != 1 {
			t.Errorf("%s (port %d): %d frames on the wire, want 1", p.Name, p.Port, seen[p.Port])
		}
	}
}

// TestFakeRetries: probes lost on the first pass are found by the retry pass; without
// retries they are filtered (no-response), and the summary counts them.
func TestFakeRetries(t *testing.T) {
	open := func(netip.Addr, uint8, uint16) linktest.Answer { return linktest.Answer{Kind: linktest.SYNACK} }
	for _, retries := range []int{0, 1} {
		lost := 0
		nw := linktest.New(linktest.Options{Model: open, Loss: func(n uint64, _ netip.Addr, _ uint8, port uint16) bool {
			if n < 64 && port%5 == 0 { // only in the first pass: 64 probes
				lost++
				return true
			}
			return false
		}})
		cfg := fakeConfig(t, nw, "198.19.0.0/30", "1-16", "")
		cfg.Retries = retries
		got, sum, _, err := runFake(t, context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		filtered := 0
		for _, v := range got {
			if v.state == result.Filtered {
				filtered++
			}
		}
		if retries == 1 && (filtered != 0 || sum.Open != 64 || nw.Sent() != uint64(64+lost)) {
			t.Errorf("retries 1: %d filtered, %d open, %d sent (%d lost): want all open, the lost ones sent twice", filtered, sum.Open, nw.Sent(), lost)
		}
		if retries == 0 && (filtered != lost || sum.NoResponse != uint64(lost) || nw.Sent() != 64) {
			t.Errorf("retries 0: %d filtered, %d no response, %d sent; want %d lost probes filtered", filtered, sum.NoResponse, nw.Sent(), lost)
		}
	}
}

// TestFakeRingDrops: replies the receive ring drops (the scanner's own loss,
// counted by the kernel) add retry passes, up to MaxDropPasses, until every
// target is found; a scan without drops adds none; with retries 0 and drops in
// every pass, the passes stop at MaxDropPasses.
func TestFakeRingDrops(t *testing.T) {
	open := func(netip.Addr, uint8, uint16) linktest.Answer { return linktest.Answer{Kind: linktest.SYNACK} }
	for _, c := range []struct {
		name       string
		retries    int
		drop       func(n uint64) bool
		wantPasses int
		wantAll    bool
	}{
		// 64 targets: the first 20 replies of the first pass (64 replies) and
		// the first 5 of the retry pass are dropped; one more pass finds the
		// rest.
		{"two passes of drops", 1, func(n uint64) bool { return n < 20 || n >= 64 && n < 69 }, 1, true},
		// Drops in the first pass only: the ordinary retry pass finds them.
		{"drops in the first pass", 1, func(n uint64) bool { return n < 20 }, 0, true},
		{"no drops", 1, nil, 0, true},
		// Every third reply dropped, for ever: passes stop after MaxDropPasses.
		{"drops for ever", 0, func(n uint64) bool { return n%3 == 0 }, MaxDropPasses, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var notices []string
			nw := linktest.New(linktest.Options{Model: open, RingDrop: c.drop})
			cfg := fakeConfig(t, nw, "198.19.0.0/30", "1-16", "")
			cfg.Retries, cfg.EstimateLoss = c.retries, false
			cfg.Notice = func(s string) { notices = append(notices, s) }
			got, sum, _, err := runFake(t, context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if sum.DropPasses != c.wantPasses || len(notices) != c.wantPasses {
				t.Errorf("%d drop passes, notices %q; want %d", sum.DropPasses, notices, c.wantPasses)
			}
			if all := sum.Open == 64 && len(got) == 64; all != c.wantAll {
				t.Errorf("open %d of 64 (%d verdicts), ring drops %d", sum.Open, len(got), sum.RingDrops)
			}
			if c.drop != nil && sum.RingDrops == 0 {
				t.Error("the summary counts no ring drops")
			}
		})
	}
}

// TestFakeCoolDown: a cool-down ends at once when every target answered; with a
// silent target it ends after the measured retransmission timeout - also when
// replies are stamped before the send call that carried their probe returned
// (veth, loopback, a fast LAN: the old send clock discarded every such sample and
// waited the 1 s initial RTO); and Wait caps it when nothing ever answers.
func TestFakeCoolDown(t *testing.T) {
	all := func(netip.Addr, uint8, uint16) linktest.Answer { return linktest.Answer{Kind: linktest.RST} }
	oneSilent := func(_ netip.Addr, _ uint8, port uint16) linktest.Answer {
		if port == 7 {
			return linktest.Answer{}
		}
		return linktest.Answer{Kind: linktest.RST}
	}
	none := func(netip.Addr, uint8, uint16) linktest.Answer { return linktest.Answer{} }
	for _, tc := range []struct {
		name     string
		model    linktest.Model
		early    bool
		wait     time.Duration
		min, max time.Duration // of the summed cool-downs (two passes where not all answered)
	}{
		// The bounds leave room for a loaded machine under -race (the receiver may
		// still be catching up with the replies when the pass ends); what they
		// exclude is a cool-down sized by the 1 s initial RTO (2 s for two passes).
		// TestSettled pins the rules themselves without timing.
		{"all answered", all, false, 30 * time.Second, 0, 500 * time.Millisecond},
		{"all answered, early stamps", all, true, 30 * time.Second, 0, 500 * time.Millisecond},
		{"one silent", oneSilent, false, 30 * time.Second, 2 * minQuiet, 800 * time.Millisecond},
		{"one silent, early stamps", oneSilent, true, 30 * time.Second, 2 * minQuiet, 800 * time.Millisecond},
		{"nothing answers, wait caps", none, false, 150 * time.Millisecond, 300 * time.Millisecond, 700 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nw := linktest.New(linktest.Options{Model: tc.model, Early: tc.early})
			cfg := fakeConfig(t, nw, "198.19.0.0/24", "1-64", "")
			cfg.Wait, cfg.Retries = tc.wait, 1
			got, sum, _, err := runFake(t, context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			expectTruth(t, cfg, tc.model, got)
			if sum.CoolDown < tc.min || sum.CoolDown > tc.max {
				t.Errorf("cool-downs took %v, want %v to %v", sum.CoolDown, tc.min, tc.max)
			}
		})
	}
}

// TestFakeInterrupt: a scan cancelled in its first pass says so (phase, summary),
// reports only what answered, no silence verdicts, counts as probed only the hosts
// a probe was sent to, and every reply to a probe already sent is still emitted.
func TestFakeInterrupt(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var n atomic.Uint64
	model := func(netip.Addr, uint8, uint16) linktest.Answer {
		if n.Add(1) == 3000 {
			cancel()
		}
		return linktest.Answer{Kind: linktest.RST}
	}
	nw := linktest.New(linktest.Options{Model: model, Delay: 5 * time.Millisecond})
	cfg := fakeConfig(t, nw, "198.19.0.0/20", "1-8", "")
	cfg.Rate = 100000
	got, sum, _, err := runFake(t, ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Interrupted || sum.Phase != PhaseInterrupted {
		t.Fatalf("interrupted %v phase %v", sum.Interrupted, sum.Phase)
	}
	probes := nw.Probes()
	if uint64(len(probes)) != nw.Sent() || sum.Sent != nw.Sent() {
		t.Fatalf("%d probes recorded, %d sent, summary %d", len(probes), nw.Sent(), sum.Sent)
	}
	hosts := map[netip.Addr]bool{}
	for _, p := range probes {
		hosts[p.Dst] = true
		if _, ok := got[key{p.Dst, result.TCP, p.DstPort}]; !ok {
			t.Errorf("probe to %v:%d was answered, the verdict was not emitted", p.Dst, p.DstPort)
		}
	}
	if len(got) != len(probes) {
		t.Errorf("%d verdicts for %d probes sent", len(got), len(probes))
	}
	if sum.HostsProbed != uint64(len(hosts)) || sum.HostsUp != uint64(len(hosts)) {
		t.Errorf("hosts probed %d, up %d; %d hosts got a probe", sum.HostsProbed, sum.HostsUp, len(hosts))
	}
	if uint64(len(hosts)) >= cfg.Targets.Len() {
		t.Errorf("the interruption came after every host was probed: the test proves nothing")
	}
	if sum.NoResponse != 0 || sum.OpenFiltered != 0 {
		t.Errorf("an interrupted scan counts %d/%d silent targets", sum.NoResponse, sum.OpenFiltered)
	}
}

// TestFakeHostStatus: a host is up when it answered a probe itself - a SYN-ACK, a
// reset, a UDP reply, a port unreachable from its own address - and down when it
// was silent or only a router answered for it, whatever Show asks to see.
func TestFakeHostStatus(t *testing.T) {
	hosts := map[string]struct {
		answer linktest.Answer
		reason result.Reason // 0: down
	}{
		"198.19.0.1": {linktest.Answer{Kind: linktest.SYNACK}, result.ReasonSYNACK},
		"198.19.0.2": {linktest.Answer{Kind: linktest.RST}, result.ReasonReset},
		"198.19.0.3": {linktest.Answer{Kind: linktest.ICMPUnreachable, ICMPCode: 3}, result.ReasonPortUnreachable},
		"198.19.0.4": {linktest.Answer{Kind: linktest.ICMPUnreachable, ICMPCode: 1, ICMPFrom: fakeRouter}, 0},
		"198.19.0.5": {linktest.Answer{}, 0},
		"198.19.0.6": {linktest.Answer{Kind: linktest.UDPReply}, result.ReasonUDPResponse},
	}
	model := func(dst netip.Addr, proto uint8, _ uint16) linktest.Answer {
		a := hosts[dst.String()].answer
		if (a.Kind == linktest.UDPReply || a.ICMPCode == 3) != (proto == packet.ProtocolUDP) {
			return linktest.Answer{}
		}
		return a
	}
	for _, show := range []result.StateSet{0, result.StateSet(0).With(result.Closed).With(result.Filtered).With(result.OpenFiltered)} {
		nw := linktest.New(linktest.Options{Model: model})
		cfg := fakeConfig(t, nw, "198.19.0.1-198.19.0.6", "80", "9")
		cfg.Show, cfg.Wait = show, 200*time.Millisecond
		_, sum, s, err := runFake(t, context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		up := 0
		for addr, h := range hosts {
			reason, isUp := s.HostStatus(netip.MustParseAddr(addr))
			if isUp != (h.reason != 0) || reason != h.reason {
				t.Errorf("show %b: host %s: up %v reason %v, want up %v reason %v", show, addr, isUp, reason, h.reason != 0, h.reason)
			}
			if h.reason != 0 {
				up++
			}
		}
		if sum.HostsUp != uint64(up) || sum.HostsProbed != 6 {
			t.Errorf("show %b: hosts up %d probed %d, want %d of 6", show, sum.HostsUp, sum.HostsProbed, up)
		}
	}
}

// TestFakeUDPForeignReply: a datagram from the probed port that is not a message of
// the probed protocol at all ("pong" from port 53) is open, as nmap says; one that is
// the protocol's message but does not echo the probe's cookie (the DNS query
// reflected back) is forged or stale: invalid, and the port stays open|filtered.
func TestFakeUDPForeignReply(t *testing.T) {
	model := func(dst netip.Addr, _ uint8, _ uint16) linktest.Answer {
		if dst.As4()[3] == 1 {
			return linktest.Answer{Kind: linktest.UDPReply, Payload: func([]byte) []byte { return []byte("pong") }}
		}
		return linktest.Answer{Kind: linktest.UDPReply, Payload: func(q []byte) []byte { return q }}
	}
	nw := linktest.New(linktest.Options{Model: model})
	cfg := fakeConfig(t, nw, "198.19.0.1-198.19.0.2", "", "53")
	cfg.Wait = 200 * time.Millisecond
	got, sum, _, err := runFake(t, context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	pong, reflected := netip.MustParseAddr("198.19.0.1"), netip.MustParseAddr("198.19.0.2")
	if v := got[key{pong, result.UDP, 53}]; v != (verdict{result.Open, result.ReasonUDPResponse}) {
		t.Errorf("\"pong\" from port 53: %v %v, want open udp-response", v.state, v.reason)
	}
	if v := got[key{reflected, result.UDP, 53}]; v != (verdict{result.OpenFiltered, result.ReasonNoResponse}) {
		t.Errorf("the reflected query: %v %v, want open|filtered no-response", v.state, v.reason)
	}
	if sum.Invalid == 0 {
		t.Error("the reflected query was not counted invalid")
	}
}

// TestFakeFailures: a send error, a receive error and an emit error each end the
// scan with that error, promptly, with no silence verdicts, and no goroutine left
// blocked (run with -race: the three goroutines share one errgroup).
func TestFakeFailures(t *testing.T) {
	rst := func(netip.Addr, uint8, uint16) linktest.Answer { return linktest.Answer{Kind: linktest.RST} }
	errSend, errPoll, errEmit := errors.New("send failed"), errors.New("poll failed"), errors.New("emit failed")
	for _, tc := range []struct {
		name string
		opt  linktest.Options
		emit error
		want error
	}{
		{"send", linktest.Options{Model: rst, FlushErr: func(n uint64, frames int) (int, error) {
			if n == 3 {
				return 0, errSend
			}
			return frames, nil
		}}, nil, errSend},
		{"poll", linktest.Options{Model: rst, PollErr: func(n uint64) error {
			if n == 5 {
				return errPoll
			}
			return nil
		}}, nil, errPoll},
		{"emit", linktest.Options{Model: rst}, errEmit, errEmit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nw := linktest.New(tc.opt)
			cfg := fakeConfig(t, nw, "198.19.0.0/22", "1-64", "")
			cfg.Rate = 50000
			s, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			var emitted atomic.Int64
			done := make(chan struct{})
			go func() { // Progress from another goroutine, as the CLI reads it
				for {
					select {
					case <-done:
						return
					default:
						s.Progress()
						time.Sleep(time.Millisecond)
					}
				}
			}()
			start := time.Now()
			_, err = s.Run(context.Background(), func(r *result.Result) error {
				if emitted.Add(1) == 10 && tc.emit != nil {
					return tc.emit
				}
				return nil
			})
			close(done)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Run returned %v, want %v", err, tc.want)
			}
			if el := time.Since(start); el > 3*time.Second {
				t.Errorf("Run took %v to fail (the whole scan is 5 s at this rate)", el)
			}
		})
	}
}

// TestFakeNoResultForUnsentProbe: datagrams that would pass the UDP check (not the
// protocol's message, to the cookie's source port) from targets whose probes never
// left - the scan is interrupted long before their positions - are invalid, never a
// result, and do not make their hosts up; with one sender or several (each with its
// own send clock).
func TestFakeNoResultForUnsentProbe(t *testing.T) {
	for _, senders := range []int{1, 4} {
		t.Run(fmt.Sprint(senders), func(t *testing.T) { testFakeNoResultForUnsentProbe(t, senders) })
	}
}

func testFakeNoResultForUnsentProbe(t *testing.T, senders int) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var n atomic.Uint64
	model := func(netip.Addr, uint8, uint16) linktest.Answer {
		if n.Add(1) == 100 {
			cancel()
		}
		return linktest.Answer{}
	}
	nw := linktest.New(linktest.Options{Model: model})
	cfg := fakeConfig(t, nw, "198.19.0.0/22", "", "53")
	cfg.Rate, cfg.Senders = 20000, senders
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// The answers of the last 50 positions, forged before the scan starts.
	p, err := newUDPServiceProbe(ProbeEnv{SrcIP: fakeSource, Key: s.key, SourcePortLo: s.cfg.SourcePortLo, SourcePortHi: s.cfg.SourcePortHi}, &s.cfg.UDPPorts)
	if err != nil {
		t.Fatal(err)
	}
	forged := map[netip.Addr]bool{}
	for pos := s.total - 50; pos < s.total; pos++ {
		idx := s.perm.At(pos)
		dst := s.cfg.Targets.At(idx / s.nports)
		forged[dst] = true
		tgt := ProbeTarget{Addr: dst}
		nw.Inject(packettest.UDP(t, packettest.Flow{
			LocalMAC: fakePath().SourceMAC, TargetMAC: fakePath().RouterMAC,
			LocalIP: addrToUint32(fakeSource), TargetIP: addrToUint32(dst), LocalPort: p.SourcePort(&tgt), TargetPort: 53,
		}, []byte("pong")))
	}
	var got []netip.Addr
	sum, err := s.Run(ctx, func(r *result.Result) error {
		got = append(got, r.IP)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Interrupted || sum.Sent >= s.total-50 {
		t.Fatalf("interrupted %v after %d of %d probes: the forged positions were reached", sum.Interrupted, sum.Sent, s.total)
	}
	for _, a := range got {
		if forged[a] {
			t.Errorf("%v reported from a forged answer to a probe that never left", a)
		}
	}
	for a := range forged {
		if _, up := s.HostStatus(a); up {
			t.Errorf("host %v is up from a forged answer", a)
		}
	}
	if sum.Invalid < 50 {
		t.Errorf("invalid %d, want the 50 forged answers counted", sum.Invalid)
	}
}

// TestFakeResumeHiddenVerdicts: a scan with --show hiding closed ports (open and
// filtered shown), stopped before its silence verdicts and resumed from the set of
// targets that answered - shown (emit) and hidden (EachHidden) - ends with the
// truth: a hidden closed port answered before the stop is not given a silence
// verdict by the resumed scan.
func TestFakeResumeHiddenVerdicts(t *testing.T) {
	nw := linktest.New(linktest.Options{Model: mixedModel})
	cfg := fakeConfig(t, nw, "198.19.0.0/28", "1-20", "")
	cfg.Retries = 0
	cfg.Show = result.StateSet(0).With(result.Open).With(result.Filtered).With(result.OpenFiltered)
	cfg.TrackHidden = true
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var idxs []uint64
	answered := func(r *result.Result) {
		idx, ok := s.TargetIndex(r)
		if !ok {
			t.Fatalf("no index for %v", r)
		}
		idxs = append(idxs, idx)
	}
	if _, err := s.Run(context.Background(), func(r *result.Result) error {
		if r.Reason != result.ReasonNoResponse { // the silence verdicts never get written
			answered(r)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	s.EachHidden(func(idx uint64) { idxs = append(idxs, idx) })
	slices.Sort(idxs)
	cfg.TrackHidden = false
	cfg.Show = result.StateSet(0).With(result.Closed).With(result.Filtered).With(result.OpenFiltered)
	cfg.Resume = &Resume{Pass: 0, Position: s.total, Answered: slices.Values(idxs)}
	nw2 := linktest.New(linktest.Options{Model: mixedModel})
	cfg.Link = nw2.Open
	got, _, _, err := runFake(t, context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range got {
		if v.reason == result.ReasonNoResponse {
			if truth := truthOf(packet.ProtocolTCP, mixedModel(k.addr, packet.ProtocolTCP, k.port), k.addr); truth != v {
				t.Errorf("%v: the resumed scan says %v/%v, truth %v/%v", k, v.state, v.reason, truth.state, truth.reason)
			}
		}
	}
	if nw2.Sent() != 0 {
		t.Errorf("the resumed scan sent %d probes; its position was the end", nw2.Sent())
	}
}

// TestFakeDeliveredUntil: DeliveredUntil does not pass a result that emit has not
// returned from (a slow output holds it back), and once everything is delivered
// it covers every reply.
func TestFakeDeliveredUntil(t *testing.T) {
	nw := linktest.New(linktest.Options{Model: mixedModel})
	cfg := fakeConfig(t, nw, "198.19.0.0/28", "1-40", "")
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var (
		first   = true
		held    int64
		lastTs  int64
		checked bool
	)
	_, err = s.Run(context.Background(), func(r *result.Result) error {
		if r.Reason != result.ReasonNoResponse { // silence verdicts come after the scan
			lastTs = max(lastTs, r.TimeNanos)
		}
		if !first {
			return nil
		}
		first, held = false, r.TimeNanos
		// The output is slow: while it writes this result, later replies are
		// handled and queued, but none of them is delivered.
		deadline := time.Now().Add(300 * time.Millisecond)
		for time.Now().Before(deadline) {
			if u := s.DeliveredUntil(); u >= held {
				t.Errorf("DeliveredUntil %d while the result of %d is still being written", u, held)
				break
			}
			checked = true
			time.Sleep(5 * time.Millisecond)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !checked || held == 0 {
		t.Fatalf("no result was held back")
	}
	if u := s.DeliveredUntil(); u < lastTs {
		t.Errorf("DeliveredUntil %d after the scan, before the last result's reply at %d", u, lastTs)
	}
}

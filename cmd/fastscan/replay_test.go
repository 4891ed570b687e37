package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/fastscan/fastscan/capture"
	"github.com/fastscan/fastscan/lab"
	"github.com/fastscan/fastscan/lab/labtest"
	"github.com/fastscan/fastscan/output/outputtest"
)

// replayDir holds the recorded captures: NAME.pcap from a live lab scan with --pcap
// and a fixed --seed, NAME.args (the scan's arguments, one per line), and
// NAME.golden.jsonl, what that live scan printed. Re-record them with
// `make testdata` (root: it builds the lab).
const replayDir = "../../testdata/replay"

// replayCases are the recorded scans: TCP routed (open, closed, ICMP-filtered,
// silent), UDP routed (DNS/NTP/SNMP answers, port unreachable, prohibited), and the
// on-link LAN.
var replayCases = map[string][]string{
	"tcp-routed": {"198.19.0.0/28,198.19.100.200,198.19.128.0/30,198.19.192.0/30", "-p", "22,80,5432,8080", "--seed", "1", "--show", "all"},
	"udp-routed": {"198.19.0.0/29,198.19.128.0/30,198.19.192.0/30", "-sU", "-p", "9,53,123,161", "--seed", "2", "--show", "all"},
	"lan":        {"198.18.1.10,198.18.1.20,198.18.1.30,198.18.1.40", "-p", "1-100,443,3306,U:53,123,161", "--seed", "3", "--show", "all"},
	// A slow scan recorded with the scanner's resets dropped (see dropResets): the
	// targets retransmit their SYN-ACKs while it runs.
	retransmitCase: {"198.19.0.0/29", "-p", "22,23,80", "-r", "8", "--seed", "4", "--show", "all"},
}

// retransmitCase is the recorded scan whose capture holds real retransmissions.
const retransmitCase = "tcp-retransmit"

// dropResets makes the lab's scanner namespace drop its own outgoing TCP resets, as
// masscan's users set up, and the remote namespace keep state for each SYN instead of
// answering with SYN cookies: a SYN-ACK then goes unanswered, and the target
// retransmits it (Linux: after 1 s, then 3 s). It returns a function that undoes both
// (once, however often it is called).
func dropResets(t *testing.T, l *lab.Lab) func() {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	add := l.Command(ctx, "nft", "-f", "-")
	add.Stdin = strings.NewReader("table inet fastscan_record {\n" +
		"\tchain out {\n\t\ttype filter hook output priority 0; policy accept;\n" +
		"\t\ttcp flags rst drop\n\t}\n}\n")
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v\n%s", err, out)
	}
	syncookies := func(v string) error {
		return exec.CommandContext(ctx, "ip", "netns", "exec", l.RemoteNS(), "sysctl", "-qw", "net.ipv4.tcp_syncookies="+v).Run()
	}
	if err := syncookies("0"); err != nil {
		t.Fatalf("sysctl: %v", err)
	}
	undone := false
	return func() {
		if undone {
			return
		}
		undone = true
		ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if out, err := l.Command(ctx, "nft", "delete", "table", "inet", "fastscan_record").CombinedOutput(); err != nil {
			t.Errorf("nft delete: %v\n%s", err, out)
		}
		if err := syncookies("2"); err != nil { // as the lab sets it
			t.Errorf("sysctl: %v", err)
		}
	}
}

// TestRecordReplayCaptures records the captures and golden files of replayCases in
// the lab. It runs only when FASTSCAN_RECORD=1 (make testdata): it rewrites files in
// testdata.
func TestRecordReplayCaptures(t *testing.T) {
	if os.Getenv("FASTSCAN_RECORD") != "1" {
		t.Skip("records testdata/replay only when FASTSCAN_RECORD=1 (make testdata)")
	}
	l := labtest.Start(t)
	for name, args := range replayCases {
		pcap := filepath.Join(replayDir, name+".pcap")
		undo := func() {}
		if name == retransmitCase {
			undo = dropResets(t, l)
			t.Cleanup(undo) // also when the scan fails; undoing twice is harmless
		}
		out := scanLab(t, l, append(slices.Clone(args), "--pcap", pcap)...)
		undo()
		var golden bytes.Buffer
		for _, f := range out.findings {
			if f.Reason == "no-response" {
				continue // not in a capture of replies
			}
			line, _ := json.Marshal(f)
			golden.Write(append(line, '\n'))
		}
		if err := os.WriteFile(filepath.Join(replayDir, name+".golden.jsonl"), golden.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(replayDir, name+".args"), []byte(strings.Join(args, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d findings recorded", name, bytes.Count(golden.Bytes(), []byte("\n")))
	}
}

// TestReplayGolden replays every recorded capture, without root, and compares the
// findings with what the live scan printed when it was recorded (timestamps to the
// microsecond a pcap keeps).
func TestReplayGolden(t *testing.T) {
	matches, _ := filepath.Glob(filepath.Join(replayDir, "*.args"))
	if len(matches) == 0 {
		t.Fatalf("no recorded captures in %s (make testdata records them)", replayDir)
	}
	v := outputtest.NewValidator(t)
	for _, argsFile := range matches {
		name := strings.TrimSuffix(filepath.Base(argsFile), ".args")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(argsFile)
			if err != nil {
				t.Fatal(err)
			}
			args := append([]string{"fastscan", "replay"}, strings.Fields(string(data))...)
			args = append(args, "--format", "jsonl", "-q", filepath.Join(replayDir, name+".pcap"))
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), args, &stdout, &stderr, nil); code != exitOK {
				t.Fatalf("replay exit %d: %s", code, stderr.String())
			}
			v.ValidateLines(t, stdout.Bytes())
			want, err := os.ReadFile(filepath.Join(replayDir, name+".golden.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			got, wantLines := normalizedFindings(t, stdout.Bytes()), normalizedFindings(t, want)
			if len(wantLines) == 0 {
				t.Fatal("golden file is empty")
			}
			if strings.Join(got, "\n") != strings.Join(wantLines, "\n") {
				t.Errorf("replay differs from the live scan:\n got %d findings\nwant %d findings\nfirst got  %v\nfirst want %v", len(got), len(wantLines), first(got), first(wantLines))
			}
		})
	}
}

// normalizedFindings turns JSON lines into comparable strings, timestamps cut to
// microseconds.
func normalizedFindings(t *testing.T, data []byte) []string {
	t.Helper()
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if line == "" {
			continue
		}
		var f finding
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		ts, err := time.Parse(time.RFC3339Nano, f.Timestamp)
		if err != nil {
			t.Fatalf("timestamp %q: %v", f.Timestamp, err)
		}
		f.Timestamp = ts.Truncate(time.Microsecond).UTC().Format(time.RFC3339Nano)
		b, _ := json.Marshal(f)
		out = append(out, string(b))
	}
	return out
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// TestReplayRejectsOtherSeeds: the same capture replayed with another scan's seed
// yields nothing - its replies do not carry that scan's cookies.
func TestReplayRejectsOtherSeeds(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(replayDir, "tcp-routed.args"))
	if err != nil {
		t.Fatal(err)
	}
	args := strings.Fields(string(data))
	for i := range args {
		if args[i] == "--seed" {
			args[i+1] = "999"
		}
	}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), append(append([]string{"fastscan", "replay"}, args...), "--format", "jsonl", filepath.Join(replayDir, "tcp-routed.pcap")), &stdout, &stderr, nil)
	if code != exitOK || stdout.Len() != 0 || !strings.Contains(stderr.String(), "invalid replies") {
		t.Fatalf("exit %d, findings %q, stderr %q: want none, all invalid", code, stdout.String(), stderr.String())
	}
}

// TestReplayPassive reads a capture without cookies (--no-validate): every SYN-ACK
// and RST becomes an open or closed port, exactly those of the live scan.
func TestReplayPassive(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"fastscan", "replay", "--no-validate", "--show", "closed", "--format", "jsonl", "-q",
		filepath.Join(replayDir, "tcp-routed.pcap")}, &stdout, &stderr, nil)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	want, _ := os.ReadFile(filepath.Join(replayDir, "tcp-routed.golden.jsonl"))
	count := func(data []byte) (open, closed int) {
		for _, l := range strings.Split(string(data), "\n") {
			open += strings.Count(l, `"state":"open"`)
			closed += strings.Count(l, `"state":"closed"`)
		}
		return
	}
	gotOpen, gotClosed := count(stdout.Bytes())
	wantOpen, wantClosed := count(want)
	if gotOpen != wantOpen || gotClosed != wantClosed || gotOpen == 0 {
		t.Fatalf("passive: %d open %d closed, live scan had %d and %d", gotOpen, gotClosed, wantOpen, wantClosed)
	}
}

func TestReplayBadInput(t *testing.T) {
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"replay"}, "no capture file"},
		{[]string{"replay", "-p", "80", "198.19.0.1", "x.pcap"}, "--seed"},
		{[]string{"replay", "--seed", "1", "-p", "80", "198.19.0.1", "/nonexistent.pcap"}, "/nonexistent.pcap"},
		{[]string{"replay", "--seed", "1", "-p", "80", "198.19.0.1", replayDir + "/tcp-routed.args"}, "not a pcap"},
		// Flags for output only a live scan writes are refused, not ignored.
		{[]string{"replay", "--no-validate", "--status-json", "-", replayDir + "/tcp-routed.pcap"}, "--status-json does not apply"},
		{[]string{"replay", "--no-validate", "--pcap", "out.pcap", replayDir + "/tcp-routed.pcap"}, "--pcap does not apply"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), append([]string{"fastscan"}, c.args...), &stdout, &stderr, nil)
		if code != exitUsage || !strings.Contains(stderr.String(), c.msg) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", c.args, code, stderr.String(), c.msg)
		}
	}
}

// TestReplayDuplicates replays a capture in which every reply appears twice (as when a
// host retransmits its SYN-ACK): the findings are those of the live scan, each once,
// and every second copy is counted as a duplicate.
func TestReplayDuplicates(t *testing.T) {
	src, err := capture.Open(filepath.Join(replayDir, "tcp-routed.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	doubled := filepath.Join(t.TempDir(), "doubled.pcap")
	f, err := os.Create(doubled)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriter(f)
	w.WriteFileHeader(65535, layers.LinkTypeEthernet)
	frames := 0
	for {
		frame, ts, err := src.Next()
		if err != nil {
			break
		}
		for range 2 {
			w.WritePacket(gopacket.CaptureInfo{Timestamp: time.Unix(0, ts), CaptureLength: len(frame), Length: len(frame)}, frame)
		}
		frames++
	}
	src.Close()
	f.Close()

	data, _ := os.ReadFile(filepath.Join(replayDir, "tcp-routed.args"))
	args := append(append([]string{"fastscan", "replay"}, strings.Fields(string(data))...), "--format", "jsonl", doubled)
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), args, &stdout, &stderr, nil); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	want, _ := os.ReadFile(filepath.Join(replayDir, "tcp-routed.golden.jsonl"))
	if got, w := normalizedFindings(t, stdout.Bytes()), normalizedFindings(t, want); strings.Join(got, "\n") != strings.Join(w, "\n") {
		t.Errorf("doubled capture: %d findings, live scan %d", len(got), len(w))
	}
	if !strings.Contains(stderr.String(), fmt.Sprintf("duplicates %d", frames)) {
		t.Errorf("summary %q: want %d duplicates", stderr.String(), frames)
	}
}

// replayArgs returns the command line that replays the recorded capture name, with
// more flags after the recorded arguments.
func replayArgs(t *testing.T, name string, more ...string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(replayDir, name+".args"))
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"fastscan", "replay"}, strings.Fields(string(data))...)
	args = append(args, more...)
	return append(args, filepath.Join(replayDir, name+".pcap"))
}

// goldenFindings reads the findings the live scan printed when name was recorded.
func goldenFindings(t *testing.T, name string) []finding {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(replayDir, name+".golden.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var fs []finding
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var f finding
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		fs = append(fs, f)
	}
	if len(fs) == 0 {
		t.Fatalf("%s.golden.jsonl is empty", name)
	}
	return fs
}

// verdictKey is what nmap XML keeps of a finding: address, port, protocol, state,
// reason, reply TTL and service name ("" where the registry has none).
func verdictKey(ip string, port uint16, proto, state, reason, ttl, service string) string {
	if service == "unknown" {
		service = ""
	}
	return fmt.Sprintf("%s:%d/%s %s %s ttl %s %s", ip, port, proto, state, reason, ttl, service)
}

// TestReplayNmapXML replays the recorded captures with -oX FILE: the file is valid
// against nmap's DTD, its scaninfo names the protocols and ports the scan had, and it
// holds exactly the live scan's findings (TCP, UDP, and both at once on the LAN), each
// under its protocol.
func TestReplayNmapXML(t *testing.T) {
	for _, c := range []struct {
		name     string
		scanInfo []outputtest.NmapScanInfo
	}{
		{"tcp-routed", []outputtest.NmapScanInfo{{Type: "syn", Protocol: "tcp", NumServices: 4, Services: "22,80,5432,8080"}}},
		{"udp-routed", []outputtest.NmapScanInfo{{Type: "udp", Protocol: "udp", NumServices: 4, Services: "9,53,123,161"}}},
		{"lan", []outputtest.NmapScanInfo{
			{Type: "syn", Protocol: "tcp", NumServices: 102, Services: "1-100,443,3306"},
			{Type: "udp", Protocol: "udp", NumServices: 3, Services: "53,123,161"},
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			xmlFile := filepath.Join(t.TempDir(), "scan.xml")
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), replayArgs(t, c.name, "-oX", xmlFile, "--format", "jsonl", "-q"), &stdout, &stderr, nil); code != exitOK {
				t.Fatalf("replay exit %d: %s", code, stderr.String())
			}
			data, err := os.ReadFile(xmlFile)
			if err != nil {
				t.Fatal(err)
			}
			outputtest.ValidateNmapXML(t, data)
			doc := outputtest.ParseNmapXML(t, data)
			if fmt.Sprint(doc.ScanInfo) != fmt.Sprint(c.scanInfo) {
				t.Errorf("scaninfo %+v, want %+v", doc.ScanInfo, c.scanInfo)
			}
			var got []string
			protos := map[string]int{}
			for _, h := range doc.Hosts {
				for _, p := range h.Ports {
					got = append(got, verdictKey(h.Addr.Addr, p.ID, p.Protocol, p.State.State, p.State.Reason, p.State.ReasonTTL, p.Service.Name))
					protos[p.Protocol]++
				}
			}
			var want []string
			wantProtos := map[string]int{}
			for _, f := range goldenFindings(t, c.name) {
				want = append(want, verdictKey(f.IP, f.Port, f.Proto, f.State, f.Reason, fmt.Sprint(f.TTL), f.Service))
				wantProtos[f.Proto]++
			}
			slices.Sort(got)
			slices.Sort(want)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("nmap XML holds %d ports, the live scan found %d:\n got %q\nwant %q", len(got), len(want), got, want)
			}
			if fmt.Sprint(protos) != fmt.Sprint(wantProtos) {
				t.Errorf("ports by protocol %v, want %v", protos, wantProtos)
			}
			hosts := map[string]bool{}
			for _, f := range goldenFindings(t, c.name) {
				hosts[f.IP] = true
			}
			if doc.Runstats.Hosts.Up != len(hosts) || len(doc.Hosts) != len(hosts) {
				t.Errorf("%d host elements, runstats up %d; the live scan found %d hosts", len(doc.Hosts), doc.Runstats.Hosts.Up, len(hosts))
			}
		})
	}
}

// TestReplayCSV replays the recorded TCP and UDP captures with --format csv to
// standard output: encoding/csv reads back exactly the live scan's findings, every
// field (timestamps to the microsecond a pcap keeps).
func TestReplayCSV(t *testing.T) {
	for _, name := range []string{"tcp-routed", "udp-routed"} {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), replayArgs(t, name, "--format", "csv", "-q"), &stdout, &stderr, nil); code != exitOK {
				t.Fatalf("replay exit %d: %s", code, stderr.String())
			}
			rows, err := csv.NewReader(&stdout).ReadAll()
			if err != nil {
				t.Fatalf("encoding/csv: %v", err)
			}
			if len(rows) == 0 || strings.Join(rows[0], ",") != "ip,port,proto,state,reason,ttl,service,port_class,timestamp,product,version" {
				t.Fatalf("CSV header %q", rows)
			}
			var asJSON bytes.Buffer
			for _, row := range rows[1:] {
				port, err1 := strconv.ParseUint(row[1], 10, 16)
				ttl, err2 := strconv.Atoi(row[5])
				if err1 != nil || err2 != nil {
					t.Fatalf("CSV row %q", row)
				}
				line, _ := json.Marshal(finding{IP: row[0], Port: uint16(port), Proto: row[2], State: row[3], Reason: row[4],
					TTL: ttl, Service: row[6], PortClass: row[7], Timestamp: row[8]})
				asJSON.Write(append(line, '\n'))
			}
			want, err := os.ReadFile(filepath.Join(replayDir, name+".golden.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			got, wantLines := normalizedFindings(t, asJSON.Bytes()), normalizedFindings(t, want)
			slices.Sort(got)
			slices.Sort(wantLines)
			if len(wantLines) == 0 || strings.Join(got, "\n") != strings.Join(wantLines, "\n") {
				t.Errorf("CSV holds %d findings, the live scan %d:\nfirst got  %v\nfirst want %v", len(got), len(wantLines), first(got), first(wantLines))
			}
		})
	}
}

// TestReplayIgnoresSendingFlags: the command line of the live scan, with flags about
// sending - an interface this machine lacks, a rate, retries, a wait - replays as it is.
func TestReplayIgnoresSendingFlags(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(replayDir, "tcp-routed.args"))
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"fastscan", "replay", "-i", "nonexistent0", "-r", "5000", "--retries", "3", "--wait", "9s"}, strings.Fields(string(data))...)
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), append(args, "--format", "jsonl", "-q", filepath.Join(replayDir, "tcp-routed.pcap")), &stdout, &stderr, nil); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	want, _ := os.ReadFile(filepath.Join(replayDir, "tcp-routed.golden.jsonl"))
	if got, w := normalizedFindings(t, stdout.Bytes()), normalizedFindings(t, want); strings.Join(got, "\n") != strings.Join(w, "\n") {
		t.Errorf("replay with sending flags: %d findings, live scan %d", len(got), len(w))
	}
}

// TestReplayRetransmissions replays the capture whose targets retransmitted their
// SYN-ACKs (recorded with the scanner's resets dropped): every target is reported
// once, and every retransmission - each frame beyond the first per target, as the
// capture holds only accepted replies - is counted as a duplicate.
func TestReplayRetransmissions(t *testing.T) {
	name := filepath.Join(replayDir, retransmitCase+".pcap")
	src, err := capture.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	frames := 0
	for {
		if _, _, err := src.Next(); err != nil {
			break
		}
		frames++
	}
	src.Close()
	data, err := os.ReadFile(filepath.Join(replayDir, retransmitCase+".args"))
	if err != nil {
		t.Fatal(err)
	}
	args := append(append([]string{"fastscan", "replay"}, strings.Fields(string(data))...), "--format", "jsonl", name)
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), args, &stdout, &stderr, nil); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	findings := len(normalizedFindings(t, stdout.Bytes()))
	if findings == 0 || frames <= findings {
		t.Fatalf("%d findings from %d frames: the capture holds no retransmission (re-record with make testdata)", findings, frames)
	}
	if want := fmt.Sprintf("duplicates %d\n", frames-findings); !strings.Contains(stderr.String(), want) {
		t.Errorf("summary %q: want %q (%d frames, %d findings)", stderr.String(), want, frames, findings)
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/fastscan/fastscan/capture"
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
		out := scanLab(t, l, append(slices.Clone(args), "--pcap", pcap)...)
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

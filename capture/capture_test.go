package capture

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

var frames = [][]byte{bytes.Repeat([]byte{1}, 60), bytes.Repeat([]byte{2}, 90)}

func at(i int) time.Time { return time.Date(2026, 11, 22, 11, 0, i, 1000*i, time.UTC) }

func writePcap(t *testing.T, lt layers.LinkType) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "c.pcap")
	f, _ := os.Create(name)
	defer f.Close()
	w := pcapgo.NewWriter(f)
	w.WriteFileHeader(65535, lt)
	for i, fr := range frames {
		w.WritePacket(gopacket.CaptureInfo{Timestamp: at(i), CaptureLength: len(fr), Length: len(fr)}, fr)
	}
	return name
}

func writePcapng(t *testing.T) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "c.pcapng")
	f, _ := os.Create(name)
	defer f.Close()
	w, err := pcapgo.NewNgWriter(f, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	for i, fr := range frames {
		w.WritePacket(gopacket.CaptureInfo{Timestamp: at(i), CaptureLength: len(fr), Length: len(fr), InterfaceIndex: 0}, fr)
	}
	w.Flush()
	return name
}

func readAll(t *testing.T, name string) ([][]byte, []int64) {
	t.Helper()
	src, err := Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var got [][]byte
	var ts []int64
	for {
		fr, when, err := src.Next()
		if errors.Is(err, io.EOF) {
			return got, ts
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, bytes.Clone(fr))
		ts = append(ts, when)
	}
}

func TestReadPcapAndPcapng(t *testing.T) {
	for _, name := range []string{writePcap(t, layers.LinkTypeEthernet), writePcapng(t)} {
		got, ts := readAll(t, name)
		if len(got) != len(frames) {
			t.Fatalf("%s: %d frames, want %d", name, len(got), len(frames))
		}
		for i := range frames {
			if !bytes.Equal(got[i], frames[i]) || ts[i] != at(i).UnixNano() {
				t.Errorf("%s: frame %d differs (ts %d, want %d)", name, i, ts[i], at(i).UnixNano())
			}
		}
	}
}

func TestRejects(t *testing.T) {
	if _, err := Open(writePcap(t, layers.LinkTypeRaw)); err == nil {
		t.Error("a non-Ethernet capture was accepted")
	}
	junk := filepath.Join(t.TempDir(), "junk")
	os.WriteFile(junk, []byte("not a capture at all"), 0o644)
	if _, err := Open(junk); err == nil {
		t.Error("junk was accepted")
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("a missing file was accepted")
	}
	// A capture cut in the middle of a packet: the frames before it, then an error.
	whole, _ := os.ReadFile(writePcap(t, layers.LinkTypeEthernet))
	cut := filepath.Join(t.TempDir(), "cut.pcap")
	os.WriteFile(cut, whole[:len(whole)-10], 0o644)
	src, err := Open(cut)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, _, err := src.Next(); err != nil {
		t.Fatalf("first frame: %v", err)
	}
	if _, _, err := src.Next(); err == nil || errors.Is(err, io.EOF) {
		t.Fatalf("truncated frame: err %v, want a truncation error", err)
	}
}

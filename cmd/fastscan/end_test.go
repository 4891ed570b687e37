package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"

	"github.com/fastscan/fastscan/engine"
)

// TestStatusLastLine: the last --status-json line of an interrupted scan says
// "interrupted", of a finished one "done".
func TestStatusLastLine(t *testing.T) {
	for _, c := range []struct {
		interrupted bool
		want        string
	}{{false, "done"}, {true, "interrupted"}} {
		var buf bytes.Buffer
		progress := func() engine.Progress { return engine.Progress{Phase: engine.PhaseScanning} }
		stop := writeStatus(&buf, progress, func() []engine.RateChange { return nil }, 1000)
		stop(engine.Summary{Interrupted: c.interrupted, Progress: engine.Progress{Phase: engine.PhaseDone, Position: 5, Targets: 10, Sent: 5}})
		lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
		var last statusLine
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
			t.Fatal(err)
		}
		if last.Phase != c.want || last.Sent != 5 || last.Percent != 50 {
			t.Errorf("interrupted %v: last status %+v, want phase %q", c.interrupted, last, c.want)
		}
	}
}

// TestScanEnd: what the writers learn of how a scan ended.
func TestScanEnd(t *testing.T) {
	// A real signal's cause, as os/signal.NotifyContext gives it.
	signalled, stop := signal.NotifyContext(context.Background(), syscall.SIGUSR1)
	defer stop()
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	<-signalled.Done()
	plain, cancel2 := context.WithCancel(context.Background())
	cancel2()
	for _, c := range []struct {
		name        string
		ctx         context.Context
		interrupted bool
		err         error
		wantErr     string
	}{
		{"finished", context.Background(), false, nil, ""},
		{"signal", signalled, true, nil, "user defined signal 1 signal received"},
		{"cancelled", plain, true, nil, ""},
		{"error", context.Background(), false, errors.New("receive ring: EIO"), "receive ring: EIO"},
	} {
		e := scanEnd(c.ctx, engine.Summary{Interrupted: c.interrupted}, c.err)
		if e.Interrupted != c.interrupted || e.Err != c.wantErr || e.HostUp != nil {
			t.Errorf("%s: %+v, want interrupted %v, err %q", c.name, e, c.interrupted, c.wantErr)
		}
	}
}

package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"
)

// stopSignals end a scan the same orderly way: every result received is written to
// every output that still works, the files are completed, and the exit status is
// 128 + the signal's number. SIGHUP is an SSH session going away; SIGPIPE is not
// among them: it is ignored, and a broken standard output shows as EPIPE on the
// next write to it (exit status 141, see outputSet).
var stopSignals = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP}

// signalCause is the cause of a context cancelled by a signal. Its message is
// os/signal.NotifyContext's: "interrupt signal received".
type signalCause struct{ sig os.Signal }

func (e signalCause) Error() string { return e.sig.String() + " signal received" }

// notifySignals returns a context cancelled, with a signalCause, by the first of
// stopSignals. After it a second SIGINT (Ctrl-C) ends the process at once, as the
// shell's default would; further SIGTERMs and SIGHUPs are ignored, so that a
// disconnect that sends more than one does not cut the orderly stop short.
func notifySignals(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	signal.Ignore(syscall.SIGPIPE)
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, stopSignals...)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-ch:
			cancel(signalCause{sig})
			signal.Reset(os.Interrupt)
		case <-done:
		}
	}()
	return ctx, func() {
		close(done)
		signal.Stop(ch)
		cancel(context.Canceled)
	}
}

// Exit statuses of a broken standard output: a process killed by SIGPIPE.
const exitBrokenPipe = 128 + int(syscall.SIGPIPE)

// interruptedStatus is the exit status of a scan stopped by ctx: 128 + the signal's
// number (130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP), 130 for a plain
// cancellation.
func interruptedStatus(ctx context.Context) int {
	var sc signalCause
	if errors.As(context.Cause(ctx), &sc) {
		if s, ok := sc.sig.(syscall.Signal); ok {
			return 128 + int(s)
		}
	}
	return exitInterrupted
}

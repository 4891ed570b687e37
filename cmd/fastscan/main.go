// Command fastscan is a fast, accurate raw-packet TCP SYN port scanner.
//
//	sudo fastscan -r 10000 10.0.0.0/24 -p 1-65535
//
// Run "fastscan --help" for the flags and examples.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"
)

// Exit statuses.
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitInterrupted = 130 // SIGINT; other signals: 128 + their number (interruptedStatus)
)

func main() {
	ctx, stop := notifySignals(context.Background())
	code := run(ctx, os.Args, os.Stdout, os.Stderr, scan)
	stop()
	os.Exit(code)
}

// run runs the command line args and returns the exit status. scanFn performs a scan;
// tests pass their own to check what the command line asks for without sending.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, scanFn scanFunc) int {
	app := newApp(stdout, stderr, scanFn)
	if len(args) > 0 {
		ctx = context.WithValue(ctx, argsKey{}, args[1:]) // for the checkpoint
	}
	err := app.RunContext(ctx, reorderArgs(expandRepeated(helpArgs(args)), app.Flags, app.Commands))
	if err == nil {
		return exitOK
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(stderr, "fastscan: "+msg)
		}
		return ec.ExitCode()
	}
	fmt.Fprintln(stderr, "fastscan: "+err.Error())
	return exitFailure
}

// usageError is bad input: one line naming the bad token, exit status 2, nothing sent.
func usageError(format string, a ...any) error {
	return cli.Exit(fmt.Sprintf(format, a...), exitUsage)
}

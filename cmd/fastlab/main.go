// Command fastlab manages fastscan's isolated test network (package lab):
// it brings a lab up until interrupted, removes leftover labs, and runs the
// fastscan demo inside a fresh lab against its known ground truth.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newApp(os.Stdout, os.Stderr).RunContext(ctx, os.Args)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "fastlab:", err)
		os.Exit(1)
	}
}

// newApp builds the command-line application writing to stdout and stderr.
func newApp(stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:            "fastlab",
		Usage:           "fastscan's isolated test network (network namespaces, needs root)",
		HideHelpCommand: true,
		Writer:          stdout,
		ErrWriter:       stderr,
		ExitErrHandler:  func(*cli.Context, error) {},
		Commands: []*cli.Command{
			upCommand(),
			downCommand(),
			demoCommand(),
			compareCommand(),
			svbenchCommand(),
			identifyCommand(),
		},
	}
}

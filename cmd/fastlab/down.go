package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/fastscan/fastscan/lab"
)

// downCommand is `fastlab down`: stop the `fastlab up` that keeps a lab (it
// tears down its lab, real servers and SYN proxy host), then end the processes
// left in leftover labs' namespaces, remove the namespaces and the labs' state
// directories.
func downCommand() *cli.Command {
	return &cli.Command{
		Name:      "down",
		Usage:     "remove leftover labs: all of them (--all) or the lab ids given, with the servers and fastlab up that run them",
		ArgsUsage: "[LAB-ID...]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "all", Usage: "remove every lab namespace on this machine, also those of running labs"},
			&cli.StringFlag{Name: "state-dir", Value: stateRoot, Hidden: true},
		},
		Action: func(c *cli.Context) error {
			ids := c.Args().Slice()
			if c.Bool("all") == (len(ids) > 0) {
				return errors.New("down: give either --all or one or more lab ids")
			}
			root := c.String("state-dir")
			stateful, err := stateIDs(root)
			if err != nil {
				return fmt.Errorf("down: %w", err)
			}
			var errs []error
			found := false
			for _, id := range stateful {
				if len(ids) > 0 && !slices.Contains(ids, id) {
					continue
				}
				found = true
				pid, err := stopUp(root, id, upStopWait)
				if pid != 0 {
					fmt.Fprintf(c.App.Writer, "stopped fastlab up (pid %d) of lab %s\n", pid, id)
				}
				errs = append(errs, err)
			}
			names, err := lab.LeftoverNamespaces()
			if err != nil {
				return fmt.Errorf("down: %w", err)
			}
			names = selectNamespaces(names, ids)
			for _, n := range names {
				fmt.Fprintln(c.App.Writer, "removing", n)
			}
			if err := lab.RemoveNamespaces(c.Context, names); err != nil {
				errs = append(errs, err)
			}
			for _, id := range stateful {
				if len(ids) == 0 || slices.Contains(ids, id) {
					errs = append(errs, os.RemoveAll(filepath.Join(root, id)))
				}
			}
			if len(names) == 0 && !found {
				fmt.Fprintln(c.App.Writer, "no lab namespaces found")
			}
			if err := errors.Join(errs...); err != nil {
				return fmt.Errorf("down: %w", err)
			}
			return nil
		},
	}
}

// selectNamespaces keeps the names that belong to one of the lab ids; with
// no ids it keeps them all.
func selectNamespaces(names, ids []string) []string {
	if len(ids) == 0 {
		return names
	}
	var out []string
	for _, n := range names {
		for _, id := range ids {
			if strings.HasPrefix(n, id+"-") {
				out = append(out, n)
				break
			}
		}
	}
	return out
}

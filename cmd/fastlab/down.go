package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/fastscan/fastscan/lab"
)

// downCommand is `fastlab down`: remove the namespaces of leftover labs.
func downCommand() *cli.Command {
	return &cli.Command{
		Name:      "down",
		Usage:     "remove leftover labs: all of them (--all) or the lab ids given",
		ArgsUsage: "[LAB-ID...]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "all", Usage: "remove every lab namespace on this machine, also those of running labs"},
		},
		Action: func(c *cli.Context) error {
			ids := c.Args().Slice()
			if c.Bool("all") == (len(ids) > 0) {
				return errors.New("down: give either --all or one or more lab ids")
			}
			names, err := lab.LeftoverNamespaces()
			if err != nil {
				return fmt.Errorf("down: %w", err)
			}
			names = selectNamespaces(names, ids)
			if len(names) == 0 {
				fmt.Fprintln(c.App.Writer, "no lab namespaces found")
				return nil
			}
			for _, n := range names {
				fmt.Fprintln(c.App.Writer, "removing", n)
			}
			if err := lab.RemoveNamespaces(c.Context, names); err != nil {
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

package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// reorderArgs moves every flag (with its value) in front of the positional
// arguments, so that flags and targets may be mixed in any order, as in
//
//	fastscan -r 10000 10.0.0.0/24 -p 1-65535
//
// urfave/cli (like Go's flag package) stops parsing flags at the first positional
// argument. Which flags take a value is read from the flag definitions. Everything
// after "--" stays positional. nmap's attached port forms "-p-" and "-p22,80" are
// split into "-p" and their value. A first positional argument that names a
// subcommand leaves the arguments to it, except for replay and merge, whose
// arguments are reordered the same way with their own flags, and local and
// registry, whose attached port forms are split.
func reorderArgs(args []string, flags []cli.Flag, commands []*cli.Command) []string {
	if len(args) < 2 {
		return args
	}
	takesValue := map[string]bool{}
	for _, f := range flags {
		tv, _ := f.(cli.DocGenerationFlag)
		for _, name := range f.Names() {
			takesValue[name] = tv != nil && tv.TakesValue()
		}
	}
	isCommand := map[string]*cli.Command{}
	for _, c := range commands {
		for _, name := range c.Names() {
			isCommand[name] = c
		}
	}

	var flagArgs, positional []string
	rest := args[1:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if a == "--" {
			positional = append(positional, rest[i+1:]...)
			break
		}
		if cmd := isCommand[a]; cmd != nil && len(positional) == 0 && len(flagArgs) == 0 {
			if cmd.Name == "local" || cmd.Name == "registry" {
				// fastscan local and registry take -p too, in nmap's attached forms as well.
				out := []string{args[0], a}
				for _, x := range rest[i+1:] {
					if v, ok := attachedPortValue(x); ok {
						out = append(out, "-p", v)
						continue
					}
					out = append(out, x)
				}
				return out
			}
			if cmd.Name != "replay" && cmd.Name != "merge" {
				return args // the command reads its own arguments
			}
			// fastscan replay takes the scan's flags, and merge its output
			// flags, in any order too.
			return append([]string{args[0]}, reorderArgs(append([]string{a}, rest[i+1:]...), cmd.Flags, nil)...)
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			positional = append(positional, a)
			continue
		}
		if v, ok := attachedPortValue(a); ok {
			flagArgs = append(flagArgs, "-p", v)
			continue
		}
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			flagArgs = append(flagArgs, a)
			continue
		}
		flagArgs = append(flagArgs, a)
		if takesValue[name] {
			if i+1 == len(rest) {
				// The last argument, without its value: left last, so that
				// the parser says it needs one (followed by "--" and the
				// targets, it would take "--" as its value: -o writing the
				// results to a file named "--").
				return append([]string{args[0]}, flagArgs...)
			}
			flagArgs = append(flagArgs, rest[i+1])
			i++
		}
	}
	out := make([]string, 0, len(args)+1)
	out = append(out, args[0])
	out = append(out, flagArgs...)
	if len(positional) > 0 {
		out = append(out, "--")
		out = append(out, positional...)
	}
	return out
}

// attachedPortValue recognises nmap's "-p-" (all ports) and "-p22,80" forms.
func attachedPortValue(a string) (string, bool) {
	if !strings.HasPrefix(a, "-p") || len(a) < 3 {
		return "", false
	}
	v := a[2:]
	if v == "-" || (v[0] >= '0' && v[0] <= '9') {
		return v, true
	}
	return "", false
}

package main

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/fastscan/fastscan/output"
	"github.com/fastscan/fastscan/registry"
)

// The man page (manpage.go) and the shell completions (completion.go) are
// generated from the command line's definition (newApp): the flags, their
// placeholders and help, the commands and the examples of their help. The
// generated files are committed; TestGeneratedDocs regenerates them and requires
// them identical (go generate, or the test with -update, rewrites them).
//
//go:generate go test -count=1 -run ^TestGeneratedDocs$ . -args -update

// Where the generated files live, relative to the repository's root.
const (
	manPageFile        = "docs/fastscan.1"
	bashCompletionFile = "completion/fastscan.bash"
	zshCompletionFile  = "completion/_fastscan"
)

// generatedDocs returns every generated file's contents by its path relative to
// the repository's root.
func generatedDocs() map[string]string {
	app := newApp(os.Stdout, os.Stderr, nil)
	return map[string]string{
		manPageFile:        manPage(app),
		bashCompletionFile: bashCompletion(app),
		zshCompletionFile:  zshCompletion(app),
	}
}

// writeGeneratedDocs writes the generated files under root.
func writeGeneratedDocs(root string) error {
	for name, text := range generatedDocs() {
		path := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// docFlag is one visible flag as the documentation shows it.
type docFlag struct {
	flag        cli.Flag
	name        string   // the first name, without dashes: the flag's identity
	names       []string // as typed: "--ports", "-p", "-iL"
	placeholder string   // "PORTS"; "" for a flag that takes no value
	usage       string   // the help text, placeholders unquoted
	def         string   // the default worth showing, or ""
	env         []string // environment variables that set it
}

// dashed is a flag's name as typed: one dash for a one-letter name and for
// nmap's two-letter names (-iL, -oX, -sU), two for the others.
func dashed(f cli.Flag, name string) string {
	switch f.(type) {
	case nmapStyleString, nmapStyleBool:
		if len(name) == 2 {
			return "-" + name
		}
	}
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// docFlags are the visible flags of flags, in order, as the documentation shows
// them.
func docFlags(flags []cli.Flag) []docFlag {
	var out []docFlag
	for _, f := range flags {
		if v, ok := f.(cli.VisibleFlag); ok && !v.IsVisible() {
			continue
		}
		d := docFlag{flag: f, name: f.Names()[0]}
		for _, n := range f.Names() {
			d.names = append(d.names, dashed(f, n))
		}
		if g, ok := f.(cli.DocGenerationFlag); ok {
			d.placeholder, d.usage = unquoteUsage(g.GetUsage())
			d.env = g.GetEnvVars()
			if g.TakesValue() {
				if d.placeholder == "" {
					d.placeholder = placeholderOf(f)
				}
				if def := g.GetDefaultText(); def != "" && def != "0" && !strings.Contains(d.usage, "(default") {
					d.def = strings.Trim(def, `"`)
				}
			} else {
				d.placeholder = ""
			}
		}
		out = append(out, d)
	}
	return out
}

// unquoteUsage is a flag's help without its backquotes, and the word they
// quote: the value's placeholder (as urfave/cli reads it).
func unquoteUsage(usage string) (placeholder, text string) {
	before, rest, ok := strings.Cut(usage, "`")
	if !ok {
		return "", usage
	}
	name, after, ok := strings.Cut(rest, "`")
	if !ok {
		return "", usage
	}
	return name, before + name + after
}

// placeholderOf names the value of a flag whose help does not.
func placeholderOf(f cli.Flag) string {
	switch f.(type) {
	case *cli.DurationFlag:
		return "DURATION"
	case *cli.IntFlag, *cli.Float64Flag, *cli.UintFlag, *cli.Int64Flag:
		return "N"
	}
	return "VALUE"
}

// fileValued reports whether a flag's value is a file (or a directory, dir) to
// complete as such.
func (d docFlag) fileValued() (file, dir bool) {
	switch d.placeholder {
	case "FILE", "BASE", "CAPTURE":
		return true, false
	case "DIR":
		return false, true
	}
	return false, false
}

// flagChoices are the values a flag of command cmd ("" for a scan) takes from a
// fixed list, for completion; nil for a flag whose values are open.
func flagChoices(cmd, flag string) []string {
	switch {
	case flag == "format" && cmd == "local":
		return localFormats()
	case flag == "format":
		return output.FormatNames()
	case flag == "syslog-format":
		return []string{"jsonl", "ecs"} // output.NewSyslogCheck's
	case flag == "show":
		return []string{"open", "closed", "filtered", "open|filtered", "all"} // parseShow's
	case flag == "proto" && cmd == "registry":
		var out []string
		for _, p := range registry.Protos() {
			out = append(out, p.String())
		}
		return out
	case flag == "proto" && cmd == "local":
		return []string{"tcp", "udp"}
	case flag == "class":
		var out []string
		for _, c := range registry.Classes() {
			out = append(out, c.String())
		}
		return out
	}
	return nil
}

// example is one example of a command's help: the command line and what it does.
type example struct{ command, what string }

// splitDescription cuts a command's help description into its examples (the
// "Examples:" block it starts with: a command line indented by three spaces,
// and what it does after two spaces or on lines indented further) and the rest.
func splitDescription(desc string) (examples []example, rest string) {
	lines := strings.Split(desc, "\n")
	if len(lines) == 0 || strings.TrimSpace(lines[0]) != "Examples:" {
		return nil, desc
	}
	i := 1
	for ; i < len(lines) && strings.TrimSpace(lines[i]) != ""; i++ {
		line := lines[i]
		body := strings.TrimLeft(line, " ")
		indent := len(line) - len(body)
		if indent <= 3 {
			cmd, what, _ := strings.Cut(body, "  ")
			examples = append(examples, example{command: strings.TrimSpace(cmd), what: strings.TrimSpace(what)})
			continue
		}
		if n := len(examples); n > 0 {
			examples[n-1].what = strings.TrimSpace(examples[n-1].what + " " + body)
		}
	}
	return examples, strings.TrimLeft(strings.Join(lines[i:], "\n"), "\n")
}

// visibleCommands are the app's commands the documentation shows.
func visibleCommands(app *cli.App) []*cli.Command {
	var out []*cli.Command
	for _, c := range app.Commands {
		if !c.Hidden {
			out = append(out, c)
		}
	}
	return out
}

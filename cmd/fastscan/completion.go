package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// completionCommand is one command as the shell completions know it: "" for a
// scan, else the subcommand's name; its flags, and what its arguments are.
type completionCommand struct {
	name, usage string
	flags       []docFlag
	// files says the arguments are files (replay's capture, merge's inputs).
	files bool
	// arg names the arguments (zsh shows it): "target", "port or service".
	arg string
}

// completionCommands are the scan and the visible subcommands, each with its
// visible flags and --help.
func completionCommands(app *cli.App) []completionCommand {
	help := docFlags([]cli.Flag{cli.HelpFlag})
	cmds := []completionCommand{{name: "", usage: app.Usage, flags: append(docFlags(app.Flags), help...), arg: "target"}}
	for _, c := range visibleCommands(app) {
		cc := completionCommand{name: c.Name, usage: c.Usage, flags: append(docFlags(c.Flags), help...)}
		switch c.Name {
		case "replay", "merge":
			cc.files, cc.arg = true, "file"
		case "registry":
			cc.arg = "port or service"
		}
		cmds = append(cmds, cc)
	}
	return cmds
}

// bashCompletion renders the bash completion script: function _fastscan,
// registered for fastscan with complete -F. It completes subcommand names as
// the first word, each command's flags, the values of flags that take one from
// a list (--format's formats, ...), files for file flags and file arguments,
// and network interfaces for --interface.
func bashCompletion(app *cli.App) string {
	cmds := completionCommands(app)
	var b strings.Builder
	b.WriteString("# bash completion for fastscan(1)\n")
	b.WriteString("# Generated from fastscan's command line definition (cmd/fastscan/completion.go): do not edit.\n")
	b.WriteString("# Regenerate with: go generate ./cmd/fastscan\n\n")
	b.WriteString("_fastscan() {\n")
	b.WriteString("\tlocal cur prev cmd\n")
	b.WriteString("\tcur=${COMP_WORDS[COMP_CWORD]}\n")
	b.WriteString("\tprev=\n")
	b.WriteString("\t((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}\n")
	b.WriteString("\t# --flag=value: bash splits the word at the =\n")
	b.WriteString("\tif [[ $cur == = ]]; then\n\t\tcur=\n")
	b.WriteString("\telif [[ $prev == = ]] && ((COMP_CWORD > 1)); then\n\t\tprev=${COMP_WORDS[COMP_CWORD - 2]}\n\tfi\n")
	b.WriteString("\tCOMPREPLY=()\n")
	var names []string
	for _, c := range cmds[1:] {
		names = append(names, c.name)
	}
	b.WriteString("\tcmd=\n")
	fmt.Fprintf(&b, "\tif ((COMP_CWORD > 1)); then\n\t\tcase ${COMP_WORDS[1]} in\n\t\t%s) cmd=${COMP_WORDS[1]} ;;\n\t\tesac\n\tfi\n", strings.Join(names, "|"))

	// The value of the flag before the cursor.
	b.WriteString("\tcase \"$cmd:$prev\" in\n")
	type valueCase struct{ patterns []string }
	cases := map[string]*valueCase{} // by action
	var order []string
	add := func(action, pattern string) {
		vc := cases[action]
		if vc == nil {
			vc = &valueCase{}
			cases[action] = vc
			order = append(order, action)
		}
		vc.patterns = append(vc.patterns, pattern)
	}
	for _, c := range cmds {
		for _, f := range c.flags {
			if f.placeholder == "" {
				continue
			}
			action := "\t\treturn\n" // a value to type: nothing to offer
			if file, dir := f.fileValued(); file {
				action = "\t\tcompopt -o filenames 2>/dev/null\n\t\tCOMPREPLY=($(compgen -f -- \"$cur\"))\n\t\treturn\n"
			} else if dir {
				action = "\t\tcompopt -o filenames 2>/dev/null\n\t\tCOMPREPLY=($(compgen -d -- \"$cur\"))\n\t\treturn\n"
			} else if ch := flagChoices(c.name, f.name); ch != nil {
				action = fmt.Sprintf("\t\tCOMPREPLY=($(compgen -W %s -- \"$cur\"))\n\t\treturn\n", shellWord(strings.Join(ch, " ")))
			} else if f.name == "interface" {
				action = "\t\tCOMPREPLY=($(compgen -W \"$(ls /sys/class/net 2>/dev/null)\" -- \"$cur\"))\n\t\treturn\n"
			}
			for _, n := range f.names {
				add(action, c.name+":"+n)
			}
		}
	}
	for _, action := range order {
		fmt.Fprintf(&b, "\t%s)\n%s\t\t;;\n", strings.Join(cases[action].patterns, " | "), action)
	}
	b.WriteString("\tesac\n")

	// Flags, then the first word's commands, then file arguments.
	b.WriteString("\tif [[ $cur == -* ]]; then\n\t\tcase $cmd in\n")
	for _, c := range cmds {
		var fl []string
		for _, f := range c.flags {
			fl = append(fl, f.names...)
		}
		pattern := c.name
		if pattern == "" {
			pattern = "''"
		}
		fmt.Fprintf(&b, "\t\t%s) COMPREPLY=($(compgen -W %s -- \"$cur\")) ;;\n", pattern, shellWord(strings.Join(fl, " ")))
	}
	b.WriteString("\t\tesac\n\t\treturn\n\tfi\n")
	fmt.Fprintf(&b, "\tif ((COMP_CWORD == 1)); then\n\t\tCOMPREPLY=($(compgen -W %s -- \"$cur\"))\n\t\treturn\n\tfi\n", shellWord(strings.Join(names, " ")))
	var fileCmds []string
	for _, c := range cmds {
		if c.files {
			fileCmds = append(fileCmds, c.name)
		}
	}
	if len(fileCmds) > 0 {
		fmt.Fprintf(&b, "\tcase $cmd in\n\t%s)\n\t\tcompopt -o filenames 2>/dev/null\n\t\tCOMPREPLY=($(compgen -f -- \"$cur\"))\n\t\t;;\n\tesac\n", strings.Join(fileCmds, " | "))
	}
	b.WriteString("}\n\ncomplete -F _fastscan fastscan\n")
	return b.String()
}

// shellWord quotes s as one single-quoted shell word.
func shellWord(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// zshCompletion renders the zsh completion script (#compdef fastscan): one
// _arguments specification per command, with each flag's help, its value's
// name and what completes it.
func zshCompletion(app *cli.App) string {
	cmds := completionCommands(app)
	var b strings.Builder
	b.WriteString("#compdef fastscan\n")
	b.WriteString("# zsh completion for fastscan(1)\n")
	b.WriteString("# Generated from fastscan's command line definition (cmd/fastscan/completion.go): do not edit.\n")
	b.WriteString("# Regenerate with: go generate ./cmd/fastscan\n\n")
	for _, c := range cmds {
		fn := "_fastscan_scan"
		if c.name != "" {
			fn = "_fastscan_" + c.name
		}
		fmt.Fprintf(&b, "%s() {\n\t_arguments -S \\\n", fn)
		for _, f := range c.flags {
			for _, spec := range zshSpecs(c.name, f) {
				fmt.Fprintf(&b, "\t\t%s \\\n", spec)
			}
		}
		switch {
		case c.files:
			fmt.Fprintf(&b, "\t\t'*:%s:_files'\n", c.arg)
		case c.arg != "":
			fmt.Fprintf(&b, "\t\t'*:%s: '\n", c.arg)
		default:
			b.WriteString("\t\t&& return 0\n")
		}
		b.WriteString("}\n\n")
	}
	b.WriteString("_fastscan() {\n\tlocal -a commands\n\tcommands=(\n")
	var names []string
	for _, c := range cmds[1:] {
		names = append(names, c.name)
		fmt.Fprintf(&b, "\t\t%s\n", shellWord(c.name+":"+zshEscape(c.usage)))
	}
	b.WriteString("\t)\n")
	fmt.Fprintf(&b, "\tif ((CURRENT > 2)); then\n\t\tcase $words[2] in\n\t\t(%s)\n", strings.Join(names, "|"))
	b.WriteString("\t\t\tlocal cmd=$words[2]\n\t\t\tshift words\n\t\t\t((CURRENT--))\n\t\t\t_fastscan_$cmd\n\t\t\treturn\n\t\t\t;;\n\t\tesac\n\tfi\n")
	b.WriteString("\tif ((CURRENT == 2)) && [[ $PREFIX != -* ]]; then\n\t\t_describe -t commands 'fastscan command' commands\n\t\treturn\n\tfi\n")
	b.WriteString("\t_fastscan_scan\n}\n\n")
	b.WriteString("if [[ $funcstack[1] == _fastscan ]]; then\n\t_fastscan \"$@\"\nelse\n\tcompdef _fastscan fastscan\nfi\n")
	return b.String()
}

// zshSpecs are the _arguments specifications of one flag, one per name, each
// excluding the flag's other names.
func zshSpecs(cmd string, f docFlag) []string {
	desc := zshEscape(shortUsage(f.usage))
	excl := ""
	repeat := slices.Contains([]string{"exclude", "verbose", "debug"}, f.name)
	if len(f.names) > 1 && !repeat {
		excl = "(" + strings.Join(f.names, " ") + ")"
	}
	var specs []string
	for _, n := range f.names {
		spec := excl
		if repeat {
			spec = "*"
		}
		spec += n
		if f.placeholder != "" && strings.HasPrefix(n, "--") {
			spec += "="
		}
		spec += "[" + desc + "]"
		if f.placeholder != "" {
			spec += ":" + zshEscape(f.placeholder) + ":" + zshAction(cmd, f)
		}
		specs = append(specs, shellWord(spec))
	}
	return specs
}

// zshAction completes a flag's value: a list, files, directories, interfaces,
// or nothing (a value to type).
func zshAction(cmd string, f docFlag) string {
	if file, dir := f.fileValued(); file {
		return "_files"
	} else if dir {
		return "_files -/"
	}
	if ch := flagChoices(cmd, f.name); ch != nil {
		var esc []string
		for _, c := range ch {
			esc = append(esc, strings.ReplaceAll(c, "|", `\|`))
		}
		return "(" + strings.Join(esc, " ") + ")"
	}
	if f.name == "interface" {
		return "_net_interfaces"
	}
	return " "
}

// shortUsage is a flag's help up to its first colon, semicolon or parenthesis:
// what the flag is, without the details.
func shortUsage(u string) string {
	for _, sep := range []string{": ", "; ", " ("} {
		if i := strings.Index(u, sep); i > 0 {
			u = u[:i]
		}
	}
	return u
}

// zshEscape escapes the characters that end a part of an _arguments
// specification.
func zshEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, "[", `\[`, "]", `\]`, ":", `\:`).Replace(s)
}

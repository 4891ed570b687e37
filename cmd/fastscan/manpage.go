package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

// manPage renders the app's man page, fastscan(1), in roff (the man macros):
// NAME, SYNOPSIS, DESCRIPTION, OPTIONS, COMMANDS (one subsection each: synopsis,
// description, options), EXAMPLES (every command's, from its help), SEE ALSO.
// Everything but the few fixed words comes from the command line's definition.
func manPage(app *cli.App) string {
	var b strings.Builder
	mainExamples, mainRest := splitDescription(app.Description)
	fmt.Fprintf(&b, ".\\\" Generated from fastscan's command line definition (cmd/fastscan/manpage.go): do not edit.\n")
	fmt.Fprintf(&b, ".\\\" Regenerate with: go generate ./cmd/fastscan\n")
	fmt.Fprintf(&b, ".TH FASTSCAN 1 \"\" \"fastscan %s\" \"fastscan manual\"\n", roffText(app.Version))
	b.WriteString(".nh\n.ad l\n.SH NAME\n")
	fmt.Fprintf(&b, "%s \\- %s\n", app.Name, roffText(app.Usage))

	b.WriteString(".SH SYNOPSIS\n")
	for i, line := range strings.Split(app.UsageText, "\n") {
		if i > 0 {
			b.WriteString(".br\n")
		}
		b.WriteString(synopsisLine(strings.TrimSpace(line)))
	}

	b.WriteString(".SH DESCRIPTION\n")
	fmt.Fprintf(&b, "%s: %s.\n", app.Name, roffText(app.Usage))
	writeProse(&b, mainRest)

	b.WriteString(".SH OPTIONS\n")
	writeOptions(&b, docFlags(app.Flags))

	b.WriteString(".SH COMMANDS\n")
	mainFlags := map[string]string{}
	for _, d := range docFlags(app.Flags) {
		mainFlags[strings.Join(d.names, " ")] = d.usage
	}
	for _, c := range visibleCommands(app) {
		fmt.Fprintf(&b, ".SS %s %s\n", app.Name, c.Name)
		for i, line := range strings.Split(c.UsageText, "\n") {
			if i > 0 {
				b.WriteString(".br\n")
			}
			b.WriteString(synopsisLine(strings.TrimSpace(line)))
		}
		b.WriteString(".PP\n")
		fmt.Fprintf(&b, "%s.\n", roffText(upperFirst(c.Usage)))
		_, rest := splitDescription(c.Description)
		writeProse(&b, rest)
		// Options a command shares with a scan, word for word, are named, not
		// described again.
		var own, shared []docFlag
		for _, d := range docFlags(c.Flags) {
			if u, ok := mainFlags[strings.Join(d.names, " ")]; ok && u == d.usage {
				shared = append(shared, d)
			} else {
				own = append(own, d)
			}
		}
		if len(own) > 0 {
			b.WriteString(".PP\nOptions:\n")
			writeOptions(&b, own)
		}
		if len(shared) > 0 {
			var names []string
			for _, d := range shared {
				names = append(names, "\\fB"+roffText(d.names[0])+"\\fR")
			}
			fmt.Fprintf(&b, ".PP\nAlso these options of a scan, as described under OPTIONS: %s.\n", strings.Join(names, ", "))
		}
	}

	b.WriteString(".SH EXAMPLES\n")
	writeExamples(&b, mainExamples)
	for _, c := range visibleCommands(app) {
		if ex, _ := splitDescription(c.Description); len(ex) > 0 {
			fmt.Fprintf(&b, ".SS %s %s\n", app.Name, c.Name)
			writeExamples(&b, ex)
		}
	}

	b.WriteString(".SH SEE ALSO\n")
	b.WriteString(".BR nmap (1),\n.BR masscan (8),\n.BR zmap (1),\n.BR ss (8)\n")
	return b.String()
}

// synopsisLine is one usage line: the command's words in bold, the rest as it is.
func synopsisLine(line string) string {
	words := strings.Fields(line)
	var out []string
	for i, w := range words {
		if i < 2 && w != "" && (i == 0 || w[0] != '[' && w[0] != '-' && strings.ToLower(w) == w) {
			out = append(out, "\\fB"+roffText(w)+"\\fR")
			continue
		}
		out = append(out, roffText(w))
	}
	return strings.Join(out, " ") + "\n"
}

// writeOptions writes one tagged paragraph per flag: its names and placeholder,
// then its help, default and environment variables.
func writeOptions(b *strings.Builder, flags []docFlag) {
	for _, d := range flags {
		b.WriteString(".TP\n")
		var tags []string
		for _, n := range d.names {
			tag := "\\fB" + roffText(n) + "\\fR"
			if d.placeholder != "" {
				tag += " \\fI" + roffText(d.placeholder) + "\\fR"
			}
			tags = append(tags, tag)
		}
		b.WriteString(strings.Join(tags, ", ") + "\n")
		text := upperFirst(d.usage)
		if d.def != "" {
			text += " (default: " + d.def + ")"
		}
		if len(d.env) > 0 {
			text += "; environment: " + strings.Join(d.env, ", ")
		}
		b.WriteString(roffText(text) + "\n")
	}
}

// writeExamples writes each example as a tagged paragraph: the command line in
// bold, what it does below.
func writeExamples(b *strings.Builder, examples []example) {
	for _, e := range examples {
		fmt.Fprintf(b, ".TP\n\\fB%s\\fR\n%s\n", roffText(e.command), roffText(upperFirst(e.what)))
	}
}

// writeProse writes help text: paragraphs (blank lines between them) filled by
// roff, and lines indented in the help as unfilled, indented lines.
func writeProse(b *strings.Builder, text string) {
	if strings.TrimSpace(text) == "" {
		return
	}
	inCode := false
	para := true
	for _, line := range strings.Split(text, "\n") {
		switch {
		case strings.TrimSpace(line) == "":
			if inCode {
				b.WriteString(".fi\n.RE\n")
				inCode = false
			}
			para = true
		case strings.HasPrefix(line, "   "):
			if para {
				b.WriteString(".PP\n")
				para = false
			}
			if !inCode {
				b.WriteString(".RS 4\n.nf\n")
				inCode = true
			}
			b.WriteString(roffText(strings.TrimSpace(line)) + "\n")
		default:
			if inCode {
				b.WriteString(".fi\n.RE\n")
				inCode = false
			}
			if para {
				b.WriteString(".PP\n")
				para = false
			}
			b.WriteString(roffText(line) + "\n")
		}
	}
	if inCode {
		b.WriteString(".fi\n.RE\n")
	}
}

// roffText escapes text for roff: backslashes, minus signs (so that options
// copy as typed), and a control character (. or ') at the start of a line.
func roffText(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, ".") || strings.HasPrefix(l, "'") {
			lines[i] = `\&` + l
		}
	}
	return strings.Join(lines, "\n")
}

// upperFirst capitalizes the first letter of s.
func upperFirst(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

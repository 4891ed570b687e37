package output

import (
	"fmt"
	"io"
	"strings"
)

// FormatInfo describes one output format: everything the command line needs to
// offer it (--format NAME, the nmap-style file flag, the help line) and how to make
// its Writer. Formats is the one list of them.
type FormatInfo struct {
	// Name is the --format value: "text", "jsonl", ...
	Name string
	// Flag is the nmap-style flag that writes the format to a file ("oX" for
	// -oX FILE), or "" if it has none.
	Flag string
	// Usage says what the format is, in a few words, for --help ("nmap XML"):
	// the file flag's help line is "also write <Usage> to FILE".
	Usage string
	// New returns a Writer of the format on w.
	New func(w io.Writer, o Options) Writer
}

// Formats returns the output formats, in the order --help lists them. Adding a
// format is its file plus one line here. The slice is new on every call.
func Formats() []FormatInfo {
	return []FormatInfo{
		{Name: "text", Usage: "aligned text, one line per port",
			New: func(w io.Writer, o Options) Writer { return NewText(w, o.Services) }},
		{Name: "jsonl", Flag: "oJ", Usage: "JSON lines",
			New: func(w io.Writer, o Options) Writer { return NewJSONLScan(w, o.Services, o.Scan) }},
		{Name: "ecs", Usage: "Elastic Common Schema documents",
			New: func(w io.Writer, o Options) Writer { return NewECS(w, o.Services, o.Scan) }},
		{Name: "csv", Flag: "oC", Usage: "CSV",
			New: func(w io.Writer, o Options) Writer { return NewCSV(w, o.Services) }},
		{Name: "list", Flag: "oL", Usage: "masscan's list layout",
			New: func(w io.Writer, o Options) Writer { return NewList(w, o.Services) }},
		{Name: "xml", Flag: "oX", Usage: "nmap XML",
			New: func(w io.Writer, o Options) Writer { return NewXML(w, o.Services, o.Scan) }},
		{Name: "grepable", Flag: "oG", Usage: "nmap's grepable layout",
			New: func(w io.Writer, o Options) Writer { return NewGrepable(w, o.Services, o.Scan) }},
	}
}

// FormatNames returns the names of Formats, in order, for help text and errors.
func FormatNames() []string {
	fs := Formats()
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.Name
	}
	return names
}

// LookupFormat returns the format named name.
func LookupFormat(name string) (FormatInfo, bool) {
	for _, f := range Formats() {
		if f.Name == name {
			return f, true
		}
	}
	return FormatInfo{}, false
}

// New returns a Writer for the named format writing to w.
func New(format string, w io.Writer, o Options) (Writer, error) {
	f, ok := LookupFormat(format)
	if !ok {
		return nil, fmt.Errorf("unknown output format %q (want one of %s)", format, strings.Join(FormatNames(), ", "))
	}
	return f.New(w, o), nil
}

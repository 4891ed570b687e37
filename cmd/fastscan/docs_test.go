package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/fastscan/fastscan/citest"
	"github.com/fastscan/fastscan/output"
)

var updateDocs = flag.Bool("update", false, "rewrite the generated man page and completions (go generate)")

// repoRoot is the repository's root, two directories above this package.
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// TestGeneratedDocs regenerates the man page and the shell completions from the
// command line's definition and requires the committed files identical: a flag,
// command or example changed without go generate fails here.
func TestGeneratedDocs(t *testing.T) {
	root := repoRoot(t)
	if *updateDocs {
		if err := writeGeneratedDocs(root); err != nil {
			t.Fatal(err)
		}
	}
	for name, want := range generatedDocs() {
		got, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatalf("%v (run go generate ./cmd/fastscan)", err)
		}
		if string(got) != want {
			t.Errorf("%s is not what the command line generates: run go generate ./cmd/fastscan", name)
		}
	}
}

// TestManPageRenders renders the man page with groff's man macros and every
// warning on: no warning, and every visible flag of every command and every
// example's command line is in the text.
func TestManPageRenders(t *testing.T) {
	groff := citest.RequireTool(t, "groff")
	cmd := exec.Command(groff, "-man", "-Tutf8", "-ww", "-P-bcou", filepath.Join(repoRoot(t), manPageFile))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("groff: %v: %s", err, stderr.String())
	}
	if stderr.Len() > 0 {
		t.Errorf("groff warns about the man page:\n%s", stderr.String())
	}
	// Words are filled and may break across lines: compare with spaces folded.
	text := strings.Join(strings.Fields(strings.ReplaceAll(string(out), "\u2010", "-")), " ")
	app := newApp(io.Discard, io.Discard, nil)
	want := func(s string) {
		t.Helper()
		if !strings.Contains(text, strings.Join(strings.Fields(s), " ")) {
			t.Errorf("the rendered man page lacks %q", s)
		}
	}
	for _, d := range docFlags(app.Flags) {
		want(d.names[0])
		want(upperFirst(d.usage))
	}
	for _, c := range app.Commands {
		if c.Hidden {
			continue
		}
		want("fastscan " + c.Name)
		for _, d := range docFlags(c.Flags) {
			want(d.names[0])
		}
		ex, _ := splitDescription(c.Description)
		if len(ex) == 0 {
			t.Errorf("no examples found in the help of fastscan %s", c.Name)
		}
		for _, e := range ex {
			want(e.command)
		}
	}
	ex, _ := splitDescription(app.Description)
	if len(ex) < 5 {
		t.Errorf("%d examples found in fastscan's help, want them all", len(ex))
	}
	for _, e := range ex {
		want(e.command)
		want(upperFirst(e.what))
	}
}

// bashComplete runs the generated bash completion in bash for the command line
// words, the cursor in the last, and returns the candidates it offers.
func bashComplete(t *testing.T, dir string, words ...string) []string {
	t.Helper()
	bash := citest.RequireTool(t, "bash")
	script := fmt.Sprintf(`source %q
COMP_WORDS=(%s)
COMP_CWORD=%d
_fastscan
printf '%%s\n' "${COMPREPLY[@]}"`, filepath.Join(repoRoot(t), bashCompletionFile), quoteWords(words), len(words)-1)
	cmd := exec.Command(bash, "--norc", "--noprofile", "-c", script)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bash completion of %q: %v: %s", words, err, out)
	}
	var got []string
	for _, l := range strings.Split(string(out), "\n") {
		if l != "" {
			got = append(got, l)
		}
	}
	slices.Sort(got)
	return got
}

func quoteWords(words []string) string {
	var q []string
	for _, w := range words {
		q = append(q, shellWord(w))
	}
	return strings.Join(q, " ")
}

// TestBashCompletion runs the bash completion in bash: the candidates for each
// command line are what the command line's definition says they must be.
func TestBashCompletion(t *testing.T) {
	app := newApp(io.Discard, io.Discard, nil)
	dir := t.TempDir()
	for _, f := range []string{"scan.pcap", "scan.xml", "targets.txt"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sorted := func(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }
	withPrefix := func(all []string, prefix string) []string {
		var out []string
		for _, s := range all {
			if strings.HasPrefix(s, prefix) {
				out = append(out, s)
			}
		}
		return sorted(out)
	}
	namesOf := func(flags []cli.Flag) []string {
		out := []string{"--help", "-h"}
		for _, f := range flags {
			if v, ok := f.(cli.VisibleFlag); ok && !v.IsVisible() {
				continue
			}
			for _, n := range f.Names() {
				out = append(out, dashed(f, n))
			}
		}
		return out
	}
	var commands []string
	cmdFlags := map[string][]string{}
	for _, c := range app.Commands {
		commands = append(commands, c.Name)
		cmdFlags[c.Name] = namesOf(c.Flags)
	}
	scanFlags := namesOf(app.Flags)
	localCmd := app.Command("local")
	var localFormat string
	for _, f := range localCmd.Flags {
		if f.Names()[0] == "format" {
			localFormat = f.(*cli.StringFlag).Usage
		}
	}

	tests := []struct {
		words []string
		want  []string
	}{
		{[]string{"fastscan", ""}, sorted(commands)},
		{[]string{"fastscan", "re"}, withPrefix(commands, "re")},
		{[]string{"fastscan", "--"}, withPrefix(scanFlags, "--")},
		{[]string{"fastscan", "-o"}, withPrefix(scanFlags, "-o")},
		{[]string{"fastscan", "10.0.0.1", "--for"}, withPrefix(scanFlags, "--for")},
		{[]string{"fastscan", "--format", ""}, sorted(output.FormatNames())},
		{[]string{"fastscan", "--format", "j"}, withPrefix(output.FormatNames(), "j")},
		{[]string{"fastscan", "--format", "=", "x"}, withPrefix(output.FormatNames(), "x")},
		{[]string{"fastscan", "-p", ""}, nil},
		{[]string{"fastscan", "-oX", "scan."}, []string{"scan.pcap", "scan.xml"}},
		{[]string{"fastscan", "-iL", "t"}, []string{"targets.txt"}},
		{[]string{"fastscan", "10.0.0.1", ""}, nil},
		{[]string{"fastscan", "local", "-"}, sorted(cmdFlags["local"])},
		{[]string{"fastscan", "local", "--format", ""}, sorted(localFormats())},
		{[]string{"fastscan", "registry", "--"}, withPrefix(cmdFlags["registry"], "--")},
		{[]string{"fastscan", "registry", "--class", ""}, []string{"dynamic", "system", "user"}},
		{[]string{"fastscan", "merge", "--format", "x"}, withPrefix(output.FormatNames(), "x")},
		{[]string{"fastscan", "merge", "s"}, []string{"scan.pcap", "scan.xml"}},
		{[]string{"fastscan", "replay", "--seed", "42", "scan.p"}, []string{"scan.pcap"}},
		{[]string{"fastscan", "replay", "--r"}, withPrefix(cmdFlags["replay"], "--r")},
	}
	for _, tt := range tests {
		got := bashComplete(t, dir, tt.words...)
		if !slices.Equal(got, tt.want) {
			t.Errorf("completing %q: got %q, want %q", tt.words, got, tt.want)
		}
	}
	// local's formats are the ones its help names.
	for _, f := range localFormats() {
		if !strings.Contains(localFormat, f) {
			t.Errorf("fastscan local --format's help %q does not name %q", localFormat, f)
		}
	}
	// replay hides the flags about sending: they are not offered.
	for _, hidden := range []string{"--rate", "--interface", "--wait"} {
		if slices.Contains(bashComplete(t, dir, "fastscan", "replay", "--"), hidden) {
			t.Errorf("fastscan replay offers %s, which its help hides", hidden)
		}
	}
}

// TestZshCompletion checks the zsh completion's syntax (zsh -n) and runs its
// dispatch with _arguments and _describe stubbed: each command gets its own
// specifications, with --format's formats.
func TestZshCompletion(t *testing.T) {
	zsh := citest.RequireTool(t, "zsh")
	file := filepath.Join(repoRoot(t), zshCompletionFile)
	if out, err := exec.Command(zsh, "-n", file).CombinedOutput(); err != nil {
		t.Fatalf("zsh -n %s: %v: %s", file, err, out)
	}
	run := func(current int, words ...string) string {
		t.Helper()
		script := fmt.Sprintf(`_arguments() { print -rl -- "$@" }
_describe() { print -rl -- "describe" "${(@P)4}" }
compdef() { }
source %q
words=(%s)
CURRENT=%d
PREFIX=${words[CURRENT]}
_fastscan`, file, quoteWords(words), current)
		out, err := exec.Command(zsh, "-f", "-c", script).CombinedOutput()
		if err != nil {
			t.Fatalf("zsh completion of %q: %v: %s", words, err, out)
		}
		return string(out)
	}
	formats := "(" + strings.Join(output.FormatNames(), " ") + ")"
	if out := run(2, "fastscan", ""); !strings.Contains(out, "describe") || !strings.Contains(out, "registry:") || !strings.Contains(out, "local:") {
		t.Errorf("the first word does not offer the commands:\n%s", out)
	}
	if out := run(3, "fastscan", "--format", ""); !strings.Contains(out, "--format=[output FORMAT]:FORMAT:"+formats) || !strings.Contains(out, "-oX[") {
		t.Errorf("a scan's specifications lack --format's formats or -oX:\n%s", out)
	}
	if out := run(3, "fastscan", "local", "--"); !strings.Contains(out, "--listening[") || strings.Contains(out, "-oX[") {
		t.Errorf("fastscan local's specifications are not local's:\n%s", out)
	}
	if out := run(3, "fastscan", "registry", "--class"); !strings.Contains(out, ":CLASS:(system user dynamic)") {
		t.Errorf("fastscan registry's --class does not offer the classes:\n%s", out)
	}
}

// TestMakeInstall runs make install with DESTDIR and PREFIX into a temporary
// directory: the binary (which runs and says its version), the man page and
// both completions land where PREFIX says; make uninstall removes them all.
func TestMakeInstall(t *testing.T) {
	makeCmd := citest.RequireTool(t, "make")
	if testing.Short() {
		t.Skip("builds fastscan: not in -short mode")
	}
	root := repoRoot(t)
	tmp := t.TempDir()
	dest := filepath.Join(tmp, "dest")
	vars := []string{"DESTDIR=" + dest, "PREFIX=/opt/fastscan", "BIN=" + filepath.Join(tmp, "bin")}
	out, err := exec.Command(makeCmd, append([]string{"-C", root, "install"}, vars...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	files := map[string]string{
		"opt/fastscan/bin/fastscan":                               "",
		"opt/fastscan/share/man/man1/fastscan.1":                  manPageFile,
		"opt/fastscan/share/bash-completion/completions/fastscan": bashCompletionFile,
		"opt/fastscan/share/zsh/site-functions/_fastscan":         zshCompletionFile,
	}
	var installed []string
	filepath.WalkDir(dest, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dest, path)
			installed = append(installed, rel)
		}
		return nil
	})
	if len(installed) != len(files) {
		t.Errorf("make install put %q in place, want exactly %d files", installed, len(files))
	}
	for name, src := range files {
		path := filepath.Join(dest, name)
		st, err := os.Stat(path)
		if err != nil {
			t.Errorf("make install: %v", err)
			continue
		}
		if src == "" {
			if st.Mode().Perm() != 0o755 {
				t.Errorf("%s has mode %v, want 0755", name, st.Mode().Perm())
			}
			out, err := exec.Command(path, "--version").CombinedOutput()
			if err != nil || string(out) != "fastscan version "+version+"\n" {
				t.Errorf("installed fastscan --version: %q, %v", out, err)
			}
			continue
		}
		got, _ := os.ReadFile(path)
		want, _ := os.ReadFile(filepath.Join(root, src))
		if !bytes.Equal(got, want) || st.Mode().Perm() != 0o644 {
			t.Errorf("%s is not %s with mode 0644 (mode %v)", name, src, st.Mode().Perm())
		}
	}
	out, err = exec.Command(makeCmd, append([]string{"-C", root, "uninstall"}, vars...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("make uninstall: %v\n%s", err, out)
	}
	for name := range files {
		if _, err := os.Stat(filepath.Join(dest, name)); err == nil {
			t.Errorf("make uninstall left %s", name)
		}
	}
}

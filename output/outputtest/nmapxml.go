package outputtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Where Debian's nmap-common installs nmap's DTD and stylesheet.
const (
	NmapDTD = "/usr/share/nmap/nmap.dtd"
	NmapXSL = "/usr/share/nmap/nmap.xsl"
)

// requireTool returns the path of a tool the checks need. Without it the test is
// skipped with a message, but fails when CI=true (scripts/install-deps.sh installs it).
func requireTool(tb testing.TB, name string) string {
	tb.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s is not installed (scripts/install-deps.sh installs it)", name)
		}
		tb.Skipf("%s is not installed: run scripts/install-deps.sh as root", name)
	}
	return path
}

func requireFile(tb testing.TB, name string) {
	tb.Helper()
	if _, err := os.Stat(name); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s is missing (nmap-common; scripts/install-deps.sh installs it)", name)
		}
		tb.Skipf("%s is missing: install nmap-common", name)
	}
}

// ValidateNmapXML fails the test unless xmllint finds the document valid against
// nmap's DTD.
func ValidateNmapXML(tb testing.TB, doc []byte) {
	tb.Helper()
	xmllint := requireTool(tb, "xmllint")
	requireFile(tb, NmapDTD)
	file := filepath.Join(tb.TempDir(), "scan.xml")
	if err := os.WriteFile(file, doc, 0o644); err != nil {
		tb.Fatal(err)
	}
	out, err := exec.Command(xmllint, "--noout", "--dtdvalid", NmapDTD, file).CombinedOutput()
	if err != nil {
		tb.Fatalf("xmllint --dtdvalid nmap.dtd: %v\n%s\ndocument:\n%s", err, out, doc)
	}
}

// RenderNmapXML renders the document to HTML with nmap's stylesheet (xsltproc) and
// returns the HTML.
func RenderNmapXML(tb testing.TB, doc []byte) string {
	tb.Helper()
	xsltproc := requireTool(tb, "xsltproc")
	requireFile(tb, NmapXSL)
	file := filepath.Join(tb.TempDir(), "scan.xml")
	if err := os.WriteFile(file, doc, 0o644); err != nil {
		tb.Fatal(err)
	}
	html, err := exec.Command(xsltproc, NmapXSL, file).Output()
	if err != nil {
		tb.Fatalf("xsltproc nmap.xsl: %v", err)
	}
	return string(html)
}

package outputtest

import (
	"bytes"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/fastscan/fastscan/citest"
)

// Where Debian's nmap-common installs nmap's DTD and stylesheet.
const (
	NmapDTD = "/usr/share/nmap/nmap.dtd"
	NmapXSL = "/usr/share/nmap/nmap.xsl"
)

// requireFile skips the test, or fails it when CI=true, unless nmap's file
// name is present.
func requireFile(tb testing.TB, name string) {
	tb.Helper()
	if _, err := os.Stat(name); err != nil {
		citest.Skip(tb, "%s is missing (nmap-common; scripts/install-deps.sh installs it)", name)
	}
}

// ValidateNmapXML fails the test unless xmllint finds the document valid against
// nmap's DTD.
func ValidateNmapXML(tb testing.TB, doc []byte) {
	tb.Helper()
	xmllint := citest.RequireTool(tb, "xmllint")
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
	xsltproc := citest.RequireTool(tb, "xsltproc")
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

// NmapRun is what the tests read back from an nmap XML document: the scanner and
// its arguments, the scaninfo of each protocol scanned, each host's address, status
// and ports, and the run statistics.
type NmapRun struct {
	Scanner  string         `xml:"scanner,attr"`
	Args     string         `xml:"args,attr"`
	ScanInfo []NmapScanInfo `xml:"scaninfo"`
	Hosts    []NmapHost     `xml:"host"`
	Runstats struct {
		Hosts struct {
			Up    int `xml:"up,attr"`
			Down  int `xml:"down,attr"`
			Total int `xml:"total,attr"`
		} `xml:"hosts"`
	} `xml:"runstats"`
}

// NmapScanInfo is one <scaninfo>: the scan type and protocol, and the ports scanned.
type NmapScanInfo struct {
	Type        string `xml:"type,attr"`
	Protocol    string `xml:"protocol,attr"`
	NumServices int    `xml:"numservices,attr"`
	Services    string `xml:"services,attr"`
}

// NmapHost is one <host> of an nmap XML document.
type NmapHost struct {
	StartTime int64 `xml:"starttime,attr"`
	EndTime   int64 `xml:"endtime,attr"`
	Status    struct {
		State     string `xml:"state,attr"`
		Reason    string `xml:"reason,attr"`
		ReasonTTL string `xml:"reason_ttl,attr"`
	} `xml:"status"`
	Addr struct {
		Addr     string `xml:"addr,attr"`
		AddrType string `xml:"addrtype,attr"`
	} `xml:"address"`
	Ports []NmapPort `xml:"ports>port"`
}

// NmapPort is one <port> of a host. Attributes are kept as written (reason_ttl as
// text), so a missing one reads back as "".
type NmapPort struct {
	Protocol string `xml:"protocol,attr"`
	ID       uint16 `xml:"portid,attr"`
	State    struct {
		State     string `xml:"state,attr"`
		Reason    string `xml:"reason,attr"`
		ReasonTTL string `xml:"reason_ttl,attr"`
	} `xml:"state"`
	Service struct {
		Name      string `xml:"name,attr"`
		Method    string `xml:"method,attr"`
		Conf      string `xml:"conf,attr"`
		Product   string `xml:"product,attr"`
		Version   string `xml:"version,attr"`
		ExtraInfo string `xml:"extrainfo,attr"`
		Tunnel    string `xml:"tunnel,attr"`
	} `xml:"service"`
	Scripts []NmapScript `xml:"script"`
}

// NmapScript is one <script> of a port: its id and output, and its elements
// (elem and table, nested) flattened to key paths: "subject/commonName",
// "validity/notAfter"; an element without a key is numbered from 1 in its table
// ("subjectAltName/1").
type NmapScript struct {
	ID     string
	Output string
	Elems  map[string]string
}

// UnmarshalXML reads a <script> and flattens its elements.
func (s *NmapScript) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	for _, a := range start.Attr {
		switch a.Name.Local {
		case "id":
			s.ID = a.Value
		case "output":
			s.Output = a.Value
		}
	}
	s.Elems = map[string]string{}
	type level struct {
		path string
		n    int
	}
	stack := []level{{}}
	var text []byte
	for {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			top := &stack[len(stack)-1]
			top.n++
			key := strconv.Itoa(top.n)
			for _, a := range t.Attr {
				if a.Name.Local == "key" {
					key = a.Value
				}
			}
			stack = append(stack, level{path: strings.TrimPrefix(top.path+"/"+key, "/")})
			text = text[:0]
		case xml.CharData:
			text = append(text, t...)
		case xml.EndElement:
			if len(stack) == 1 {
				return nil
			}
			top := stack[len(stack)-1]
			if t.Name.Local == "elem" {
				s.Elems[top.path] = string(text)
			}
			stack = stack[:len(stack)-1]
		}
	}
}

// ParseNmapXML reads an nmap XML document back with encoding/xml, failing the test
// if it cannot.
func ParseNmapXML(tb testing.TB, doc []byte) NmapRun {
	tb.Helper()
	var run NmapRun
	if err := xml.Unmarshal(doc, &run); err != nil {
		tb.Fatalf("reading nmap XML back: %v\ndocument:\n%s", err, doc)
	}
	return run
}

// nmapXMLTail is what closes a document cut after a whole host element.
const nmapXMLTail = `<runstats><finished time="0" timestr="" summary="" elapsed="0" exit="error" errormsg="cut short"/><hosts up="0" down="0" total="0"/>
</runstats>
</nmaprun>
`

// ValidateNmapXMLPrefix fails the test unless doc, an nmap XML document cut short
// (by SIGKILL, or read while it is written), ends after its header or a whole host
// element, so that run statistics and the closing tag make it valid against nmap's
// DTD. A complete document must be valid as it is. It returns the completed
// document.
func ValidateNmapXMLPrefix(tb testing.TB, doc []byte) []byte {
	tb.Helper()
	full := doc
	if !bytes.HasSuffix(doc, []byte("</nmaprun>\n")) {
		full = append(append([]byte(nil), doc...), nmapXMLTail...)
	}
	ValidateNmapXML(tb, full)
	return full
}

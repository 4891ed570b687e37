package registry_test

import (
	"encoding/csv"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/fastscan/fastscan/registry"
	"github.com/fastscan/fastscan/registry/internal/ianatest"
)

const header = "Service Name,Port Number,Transport Protocol,Description,Assignee,Contact,Registration Date,Modification Date,Reference,Service Code,Unauthorized Use Reported,Assignment Notes\n"

func TestLoad(t *testing.T) {
	in := header +
		",0,tcp,Reserved,[Jon_Postel],[Jon_Postel],,,,,,\n" +
		"ssh,22,tcp,The Secure Shell (SSH) Protocol,,,,,[RFC4251],,,\n" +
		"ssh,22,udp,The Secure Shell (SSH) Protocol,,,,,[RFC4251],,,\n" +
		",23,udp,Unassigned,,,,,,,,\n" +
		"shell,514,tcp,\"cmd like exec, but automatic\nauthentication is performed\",,,,,,,,\n" +
		"first,700,tcp,First name,,,,,,,,\n" +
		"Second,700,tcp,Second name,,,,,,,,\n" +
		"noproto,4200-4299,,No protocol,,,,,,,,\n" +
		"noport,,tcp,A name without a port,,,,,,,,\n" +
		"discard,9,dccp,Discard,,,,,,,,\n" +
		"x11,6000-6003,tcp,X Window System,,,,,,,,\n" +
		"https,443,sctp,HTTPS,,,,,,,,\n"
	r, err := registry.Load(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.Len(), 2+1+2+4+1; got != want {
		t.Errorf("Len = %d, want %d", got, want)
	}
	for _, tc := range []struct {
		port  uint16
		proto registry.Proto
		want  string
	}{
		{0, registry.TCP, ""}, {22, registry.TCP, "ssh"}, {22, registry.UDP, "ssh"}, {23, registry.UDP, ""},
		{700, registry.TCP, "first"}, {4200, registry.TCP, ""}, {9, registry.TCP, ""},
		{6000, registry.TCP, "x11"}, {6003, registry.TCP, "x11"}, {6004, registry.TCP, ""},
		{443, registry.SCTP, "https"}, {443, registry.TCP, ""},
	} {
		if got := r.Name(tc.port, tc.proto); got != tc.want {
			t.Errorf("Name(%d, %v) = %q, want %q", tc.port, tc.proto, got, tc.want)
		}
	}
	if got := r.Lookup(700, registry.TCP); len(got) != 2 || got[1].Name != "Second" {
		t.Errorf("Lookup(700) = %v, want first then Second", got)
	}
	if got := r.ByName("second"); len(got) != 1 || got[0].Port != 700 {
		t.Errorf("ByName(second) = %v", got)
	}
	shell, _ := r.First(514, registry.TCP)
	if want := "cmd like exec, but automatic authentication is performed"; shell.Description != want {
		t.Errorf("514 description = %q, want %q", shell.Description, want)
	}
}

func TestLoadHeaderVariants(t *testing.T) {
	// Columns in another order, a byte order mark, and no Description column.
	in := "\ufeffTransport Protocol,service name,Port Number\ntcp,ssh,22\n"
	r, err := registry.Load(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := r.First(22, registry.TCP); !ok || s.Name != "ssh" || s.Description != "" {
		t.Errorf("First(22) = %+v, %v", s, ok)
	}
}

func TestLoadErrorsNameTheLine(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		line     int
		msg      string
	}{
		{"empty file", "", 1, "empty"},
		{"not the IANA header", "a,b,c\n1,2,3\n", 1, `"Service Name"`},
		{"port above 65535", header + "ssh,22,tcp,,,,,,,,,\nbig,70000,tcp,,,,,,,,,\n", 3, `"70000"`},
		{"port not a number", header + "x,twenty,tcp,,,,,,,,,\n", 2, `"twenty"`},
		{"reversed range", header + "x,10-5,udp,,,,,,,,,\n", 2, `"10-5"`},
		{"half a range", header + "x,10-,udp,,,,,,,,,\n", 2, `"10-"`},
		{"bare quote", header + "x,1,tcp,a \"quoted\" word,,,,,,,,\n", 2, "quote"},
		{"unterminated quote", header + "x,1,tcp,ok,,,,,,,,\ny,2,tcp,\"never closed\n", 3, ""},
		{"too few fields", header + "x,1\n", 2, "fields"},
		{"control character in name", header + "a\x01b,1,tcp,,,,,,,,,\n", 2, "control"},
		{"after a multi-line description", header + "a,1,tcp,\"one\ntwo\nthree\",,,,,,,,\nb,1x,tcp,,,,,,,,,\n", 5, `"1x"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := registry.Load(strings.NewReader(tc.in))
			var pe *registry.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Load = %v, %v; want a *ParseError", r, err)
			}
			if pe.Line != tc.line {
				t.Errorf("error %q names line %d, want %d", err, pe.Line, tc.line)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not mention %s", err, tc.msg)
			}
		})
	}
}

func TestLoadRefusesTooManyAssignments(t *testing.T) {
	var b strings.Builder
	b.WriteString(header)
	for range 5 {
		b.WriteString("wide,0-65535,tcp,,,,,,,,,\n")
	}
	_, err := registry.Load(strings.NewReader(b.String()))
	var pe *registry.ParseError
	if !errors.As(err, &pe) || pe.Line != 6 {
		t.Fatalf("Load = %v, want a *ParseError on line 6", err)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, io.ErrClosedPipe }

func TestLoadReadError(t *testing.T) {
	_, err := registry.Load(failingReader{})
	if !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("Load = %v, want it to wrap the read error", err)
	}
}

func TestLoadFile(t *testing.T) {
	_, err := registry.LoadFile(filepath.Join(t.TempDir(), "missing.csv"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadFile(missing) = %v, want fs.ErrNotExist", err)
	}
	name := filepath.Join(t.TempDir(), "bad.csv")
	if err := os.WriteFile(name, []byte(header+"x,99999,tcp,,,,,,,,,\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = registry.LoadFile(name)
	var pe *registry.ParseError
	if !errors.As(err, &pe) || pe.Line != 2 || !strings.Contains(err.Error(), name) {
		t.Errorf("LoadFile(bad) = %v, want a line 2 *ParseError naming the file", err)
	}
}

func TestLoadIANA(t *testing.T) {
	name := ianatest.Path(t)
	r, err := registry.LoadFile(name)
	if err != nil {
		t.Fatal(err)
	}

	// Count, independently of Load, the rows that assign a name to TCP, UDP or
	// SCTP ports: every one of them must be in the registry.
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	type assignment struct {
		name  string
		port  int
		proto registry.Proto
	}
	assigned := map[assignment]bool{}
	for i, row := range rows[1:] {
		p, err := registry.ParseProto(row[2])
		if row[0] == "" || row[1] == "" || err != nil {
			continue
		}
		first, last, isRange := strings.Cut(row[1], "-")
		lo, err1 := strconv.Atoi(first)
		hi, err2 := strconv.Atoi(last)
		if !isRange {
			hi, err2 = lo, nil
		}
		if err1 != nil || err2 != nil {
			t.Fatalf("row %d: port %q", i+2, row[1])
		}
		for port := lo; port <= hi; port++ {
			assigned[assignment{strings.ToLower(row[0]), port, p}] = true
		}
	}
	for a := range assigned {
		found := false
		for _, s := range r.Lookup(uint16(a.port), a.proto) {
			found = found || strings.EqualFold(s.Name, a.name)
		}
		if !found {
			t.Errorf("%s %d/%v is in the file but not in the registry", a.name, a.port, a.proto)
		}
	}
	if len(assigned) != r.Len() || r.Len() < 10000 {
		t.Errorf("registry holds %d assignments, the file has %d", r.Len(), len(assigned))
	}

	for _, tc := range []struct {
		port  uint16
		proto registry.Proto
		want  string
	}{
		{22, registry.TCP, "ssh"},
		{53, registry.UDP, "domain"},
		{3306, registry.TCP, "mysql"},
		{5432, registry.TCP, "postgresql"},
		{443, registry.TCP, "https"},
		{443, registry.UDP, "https"},
		{443, registry.SCTP, "https"},
		{113, registry.TCP, "ident"}, // the first of ident and auth
		{27017, registry.TCP, "mongodb"},
		{27017, registry.UDP, ""}, // Reserved
		{4, registry.TCP, ""},     // Unassigned
		{4200, registry.TCP, ""},  // vrml-multi-use has no protocol
	} {
		if got := r.Name(tc.port, tc.proto); got != tc.want {
			t.Errorf("Name(%d, %v) = %q, want %q", tc.port, tc.proto, got, tc.want)
		}
	}
	for _, p := range []registry.Proto{registry.TCP, registry.UDP} {
		x11 := r.Range(6000, 6063, p)
		if len(x11) != 64 {
			t.Errorf("x11 over %v covers %d ports, want 64", p, len(x11))
		}
		for _, s := range x11 {
			if s.Name != "x11" || s.Description != "X Window System" {
				t.Errorf("%v: %q, want x11 X Window System", s, s.Description)
			}
		}
	}
	if got := r.ByName("HTTPS"); len(got) != 3 {
		t.Errorf("ByName(HTTPS) = %v, want 443 over tcp, udp and sctp", got)
	}
	if got := r.Range(49152, 65535, registry.TCP); len(got) != 0 {
		t.Errorf("the dynamic range has assignments: %v", got)
	}
	// The embedded table agrees with IANA on the services both know.
	def := registry.Default()
	for _, port := range []uint16{21, 22, 23, 25, 53, 80, 110, 143, 443, 445, 3306, 3389, 5432, 5900, 6379, 8080} {
		if got, want := def.Name(port, registry.TCP), r.Name(port, registry.TCP); got != want {
			t.Errorf("Default().Name(%d) = %q, IANA's file says %q", port, got, want)
		}
	}
}

func FuzzLoad(f *testing.F) {
	f.Add(header + "ssh,22,tcp,Secure Shell,,,,,,,,\n")
	f.Add(header + "x11,6000-6063,udp,\"X Window\nSystem\",,,,,,,,\n,7,tcp,Unassigned,,,,,,,,\n")
	f.Add(header + "a,1,tcp,,,,,,,,,\nA,1,tcp,,,,,,,,,\nb,1,sctp,,,,,,,,,\nc,,udp\n")
	f.Add("Port Number,Transport Protocol,Service Name\n65535,tcp,top\n0-1,udp,\"q\"\"uote\"\n")
	f.Add(header + "x,10-5,tcp\n")
	f.Fuzz(func(t *testing.T, in string) {
		r, err := registry.Load(strings.NewReader(in))
		if err != nil {
			var pe *registry.ParseError
			if !errors.As(err, &pe) || pe.Line < 1 {
				t.Fatalf("error %v is not a *ParseError with a line", err)
			}
			return
		}
		total := 0
		// What ByName finds, asked once per name (a range row gives one name
		// thousands of services: asking per service would be quadratic).
		byName := map[string]map[registry.Service]bool{}
		for _, p := range registry.Protos() {
			services := r.Range(0, 65535, p)
			total += len(services)
			for i, s := range services {
				if s.Proto != p || s.Name == "" || (i > 0 && s.Port < services[i-1].Port) {
					t.Fatalf("Range over %v: bad or unsorted service %+v", p, s)
				}
				if r.Name(s.Port, p) == "" {
					t.Fatalf("%v is in Range but Name(%d, %v) is empty", s, s.Port, p)
				}
				key := strings.ToUpper(s.Name)
				found, ok := byName[key]
				if !ok {
					found = map[registry.Service]bool{}
					for _, b := range r.ByName(key) {
						found[b] = true
					}
					byName[key] = found
				}
				if !found[s] {
					t.Fatalf("%v is not found by its name", s)
				}
			}
		}
		if total != r.Len() {
			t.Fatalf("Ranges hold %d services, Len = %d", total, r.Len())
		}
	})
}

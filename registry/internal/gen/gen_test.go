package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fastscan/fastscan/registry/internal/ianatest"
)

// TestCommittedTableIsGenerated regenerates the table from the shared copy of
// IANA's file and requires the committed registry/services.tsv to be identical.
func TestCommittedTableIsGenerated(t *testing.T) {
	got, err := generateFile(ianatest.Path(t))
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile(filepath.Join("..", "..", "services.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, committed) {
		gl, cl := strings.Split(string(got), "\n"), strings.Split(string(committed), "\n")
		for i := 0; i < min(len(gl), len(cl)); i++ {
			if gl[i] != cl[i] {
				t.Fatalf("registry/services.tsv differs from the table generated from IANA's file at line %d:\ncommitted %q\ngenerated %q\nrun go generate ./registry/", i+1, cl[i], gl[i])
			}
		}
		t.Fatalf("registry/services.tsv has %d lines, the generated table %d: run go generate ./registry/", len(cl), len(gl))
	}
}

const header = "Service Name,Port Number,Transport Protocol,Description,Assignee,Contact,Registration Date,Modification Date,Reference,Service Code,Unauthorized Use Reported,Assignment Notes\n"

func TestGenerate(t *testing.T) {
	in := header +
		",0,tcp,Reserved,[Jon_Postel],[Jon_Postel],,,,,,\n" +
		"ssh,22,tcp,The Secure Shell (SSH) Protocol,,,,2001-01-01,[RFC4251],,,\n" +
		"ssh,22,udp,The Secure Shell (SSH) Protocol,,,,,[RFC4251],,,\n" +
		"ssh,22,sctp,SSH,,,2002-03-04,,[RFC4960],,,\n" +
		"http,80,tcp,World Wide Web HTTP,,,,,,,,\n" +
		"www,80,tcp,\"World Wide Web, \nHTTP\",,,,,,,,\n" +
		"http,80,udp,World Wide Web HTTP,,,,,,,,\n" +
		"x11, 6000-6063 ,tcp,X Window System,,,,,,,,\n" +
		"x11,6000-6063,udp,X Window System,,,,,,,,\n" +
		"Escale (Newton Dock),3173,tcp,x,,,,,,,,\n" +
		"dccp-only,1021,dccp,experiment,,,,,,,,\n" +
		"noproto,4200,,no protocol,,,,,,,,\n" +
		",4,tcp,Unassigned,,,,,,,,\n" +
		"one,7-7,tcp,x,,,2010-02-03,not a date,,,,\n"
	var out bytes.Buffer
	if err := generate(strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	want := "ssh\t22\ttcp,udp,sctp\n" +
		"http\t80\ttcp\n" +
		"www\t80\ttcp\n" +
		"http\t80\tudp\n" +
		"x11\t6000-6063\ttcp,udp\n" +
		"Escale (Newton Dock)\t3173\ttcp\n" +
		"one\t7\ttcp\n"
	var body []string
	for _, l := range strings.SplitAfter(got, "\n") {
		if l != "" && l[0] != '#' {
			body = append(body, l)
		}
	}
	if strings.Join(body, "") != want {
		t.Errorf("table:\n%s\nwant lines:\n%s", got, want)
	}
	if !strings.Contains(got, "# Newest registration 2010-02-03, newest modification 2001-01-01.\n") {
		t.Errorf("the header does not give the newest dates:\n%s", got)
	}
	for _, text := range []string{"Secure Shell", "World Wide Web", "Window", "RFC", "Postel", "Reserved", "Unassigned", "experiment"} {
		if strings.Contains(got, text) {
			t.Errorf("the table holds %q, text that is not a name, port or protocol:\n%s", text, got)
		}
	}
}

func TestGenerateErrors(t *testing.T) {
	for _, tc := range []struct{ in, msg string }{
		{"", "header"},
		{"Name,Port\n", `no "Service Name" column`},
		{header, "no assignments"},
		{header + "a,22,tcp\nb,70000,tcp\n", `line 3: invalid port "70000"`},
		{header + "a,9-8,udp\n", `line 2: invalid port range "9-8"`},
		{header + "a,x,udp\n", `line 2: invalid port "x"`},
		{header + "\"a\tb\",1,udp\n", `line 2: service name "a\tb": control character`},
		{header + "a,\"1\n", "line 2"},
	} {
		err := generate(strings.NewReader(tc.in), &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("generate(%q) error = %v, want %q", tc.in, err, tc.msg)
		}
	}
}

func TestRunWritesOnlyAWholeTable(t *testing.T) {
	dir := t.TempDir()
	bad, out := filepath.Join(dir, "bad.csv"), filepath.Join(dir, "services.tsv")
	if err := os.WriteFile(bad, []byte(header+"a,1,tcp\nb,x,tcp\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, []byte("old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := run(bad, out); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("run(bad file) error = %v, want one naming the file", err)
	}
	if b, _ := os.ReadFile(out); string(b) != "old\n" {
		t.Errorf("a failed run changed the output file: %q", b)
	}
}

package output

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// TestFormatsTable checks the table of formats: unique names and flags, nmap's file
// flags as they always were, and New making each format's own writer.
func TestFormatsTable(t *testing.T) {
	want := map[string]string{"text": "", "jsonl": "oJ", "ecs": "", "csv": "oC", "list": "oL", "xml": "oX", "grepable": "oG"}
	types := map[string]Writer{"text": &Text{}, "jsonl": &JSONL{}, "ecs": &ECS{}, "csv": &CSV{}, "list": &List{}, "xml": &XML{}, "grepable": &Grepable{}}
	got := map[string]string{}
	flags := map[string]bool{}
	for _, f := range Formats() {
		if _, dup := got[f.Name]; dup {
			t.Errorf("format %q listed twice", f.Name)
		}
		got[f.Name] = f.Flag
		if f.Flag != "" {
			if flags[f.Flag] {
				t.Errorf("flag -%s used twice", f.Flag)
			}
			flags[f.Flag] = true
		}
		if f.Usage == "" || strings.Contains(f.Usage, "\n") || f.New == nil {
			t.Errorf("format %q: usage %q, New set %v; want one line and a constructor", f.Name, f.Usage, f.New != nil)
		}
		w, err := New(f.Name, &bytes.Buffer{}, Options{})
		if err != nil {
			t.Fatalf("New(%q): %v", f.Name, err)
		}
		if reflect.TypeOf(w) != reflect.TypeOf(types[f.Name]) {
			t.Errorf("New(%q) = %T, want %T", f.Name, w, types[f.Name])
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("formats and flags %v, want %v", got, want)
	}
	if names := FormatNames(); strings.Join(names, ",") != "text,jsonl,ecs,csv,list,xml,grepable" {
		t.Errorf("FormatNames() = %q", names)
	}
	// Formats returns a fresh table: a caller's change does not leak.
	fs := Formats()
	fs[0].Name = "changed"
	if Formats()[0].Name != "text" {
		t.Error("Formats shares its table between calls")
	}
}

// TestNewUnknownFormatListsFormats: the error names the bad format and every good one.
func TestNewUnknownFormatListsFormats(t *testing.T) {
	_, err := New("yaml", &bytes.Buffer{}, Options{})
	if err == nil {
		t.Fatal("New(yaml) accepted")
	}
	for _, name := range FormatNames() {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not offer %q", err, name)
		}
	}
	if _, ok := LookupFormat("yaml"); ok {
		t.Error("LookupFormat(yaml) found a format")
	}
}

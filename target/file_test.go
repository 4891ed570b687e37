package target

import (
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
)

func TestReadTargetFile(t *testing.T) {
	const file = "# scan list\n" +
		"10.0.0.1\n" +
		"\n" +
		"   10.0.1.0/24   \n" +
		"10.0.2.1-9 # the printers\n" +
		"\t# indented comment\n" +
		"one.test 192.0.2.1,192.0.2.2\t192.0.2.3\r\n" +
		"10.9.9.9#no space before comment\n" +
		"last.test" // no final newline
	got, err := ReadTargetFile(strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.1", "10.0.1.0/24", "10.0.2.1-9", "one.test", "192.0.2.1", "192.0.2.2", "192.0.2.3", "10.9.9.9", "last.test"}
	if !slices.Equal(got, want) {
		t.Fatalf("ReadTargetFile = %q, want %q", got, want)
	}
}

func TestReadTargetFileEmpty(t *testing.T) {
	got, err := ReadTargetFile(strings.NewReader("# nothing\n\n   \n"))
	if err != nil || len(got) != 0 {
		t.Fatalf("ReadTargetFile = %q, %v; want nothing", got, err)
	}
	if _, err := ParseTargets(got, nil); err == nil {
		t.Fatal("ParseTargets of an empty file succeeded")
	}
}

// failingReader returns some data and then an error.
type failingReader struct{ done bool }

var errDisk = errors.New("disk on fire")

func (r *failingReader) Read(p []byte) (int, error) {
	if r.done {
		return 0, errDisk
	}
	r.done = true
	return copy(p, "10.0.0.1\n"), nil
}

func TestReadTargetFileError(t *testing.T) {
	_, err := ReadTargetFile(&failingReader{})
	if !errors.Is(err, errDisk) {
		t.Fatalf("error %v does not wrap the read error", err)
	}
	_, err = ReadTargetFile(io.MultiReader(strings.NewReader(strings.Repeat("x", maxLineBytes+1))))
	if err == nil {
		t.Fatal("over-long line accepted")
	}
}

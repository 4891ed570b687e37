package target

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// maxLineBytes bounds one line of a target file.
const maxLineBytes = 1 << 20

// ReadTargetFile returns the target specifications listed in r, in the format
// of nmap's -iL files: specifications are separated by line breaks, spaces,
// tabs or commas; everything from a '#' to the end of its line is a comment;
// blank lines are ignored. The specifications are returned unparsed, ready
// for [ParseTargets]. A file without any specification yields an empty slice
// and no error.
func ReadTargetFile(r io.Reader) ([]string, error) {
	specs, _, err := ReadTargetFileLines(r)
	return specs, err
}

// ReadTargetFileLines is [ReadTargetFile] that also returns, for every
// specification, the number of its line (from 1), so that an error can name it.
func ReadTargetFileLines(r io.Reader) (specs []string, lines []int, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), maxLineBytes)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		for _, spec := range strings.FieldsFunc(line, isSpecSeparator) {
			specs = append(specs, spec)
			lines = append(lines, n)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("reading target file: %w", err)
	}
	return specs, lines, nil
}

func isSpecSeparator(r rune) bool {
	switch r {
	case ' ', '\t', '\r', '\v', '\f', ',':
		return true
	}
	return false
}

// Package outputtest checks output written by fastscan against the published JSON
// Schema of its JSON lines (output/schema/jsonl.schema.json), with an independent
// validator (github.com/santhosh-tekuri/jsonschema/v6), for the tests of any package
// that produces JSON lines.
package outputtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// SchemaPath returns the path of the JSON lines schema in the source tree.
func SchemaPath(tb testing.TB) string {
	tb.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		tb.Fatal("outputtest: cannot locate the source tree")
	}
	return filepath.Join(filepath.Dir(file), "..", "schema", "jsonl.schema.json")
}

// Validator checks JSON lines against the schema.
type Validator struct {
	schema *jsonschema.Schema
}

// NewValidator compiles the schema, with format assertions on (ipv4, date-time).
func NewValidator(tb testing.TB) *Validator {
	tb.Helper()
	f, err := os.Open(SchemaPath(tb))
	if err != nil {
		tb.Fatalf("outputtest: %v", err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		tb.Fatalf("outputtest: schema: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	const url = "urn:fastscan:schema:jsonl:1"
	if err := c.AddResource(url, doc); err != nil {
		tb.Fatalf("outputtest: schema: %v", err)
	}
	sch, err := c.Compile(url)
	if err != nil {
		tb.Fatalf("outputtest: schema: %v", err)
	}
	return &Validator{schema: sch}
}

// ValidateLine returns an error unless line is one JSON object, without duplicate
// keys, that the schema accepts.
func (v *Validator) ValidateLine(line []byte) error {
	if err := noDuplicateKeys(line); err != nil {
		return err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(line))
	if err != nil {
		return err
	}
	return v.schema.Validate(doc)
}

// ValidateLines fails the test for every line of data (JSON lines) the schema
// rejects, and returns how many lines there were.
func (v *Validator) ValidateLines(tb testing.TB, data []byte) int {
	tb.Helper()
	n := 0
	for _, line := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		n++
		if err := v.ValidateLine(line); err != nil {
			tb.Errorf("JSON line %d %s does not match the schema: %v", n, line, err)
		}
	}
	return n
}

// noDuplicateKeys reports an error if the top-level object in line repeats a key.
func noDuplicateKeys(line []byte) error {
	dec := json.NewDecoder(bytes.NewReader(line))
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok != json.Delim('{') {
		return errors.New("not a JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		if seen[key] {
			return errors.New("duplicate key " + strings.TrimSpace(key))
		}
		seen[key] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("more than one JSON value on the line")
	}
	return nil
}

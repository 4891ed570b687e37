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

// SchemaPath returns the path of a schema file (jsonl.schema.json, ecs.schema.json)
// in the source tree.
func SchemaPath(tb testing.TB, name string) string {
	tb.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		tb.Fatal("outputtest: cannot locate the source tree")
	}
	return filepath.Join(filepath.Dir(file), "..", "schema", name)
}

// Validator checks JSON lines against the schema.
type Validator struct {
	schema *jsonschema.Schema
}

// NewValidator compiles the JSON lines schema, with format assertions on (ipv4,
// date-time).
func NewValidator(tb testing.TB) *Validator {
	tb.Helper()
	return newValidator(tb, "jsonl.schema.json", "urn:fastscan:schema:jsonl:2")
}

// NewECSValidator compiles the ECS schema, with format assertions on.
func NewECSValidator(tb testing.TB) *Validator {
	tb.Helper()
	return newValidator(tb, "ecs.schema.json", "urn:fastscan:schema:ecs:1")
}

// NewLocalValidator compiles the schema of `fastscan local --format jsonl`
// (local.schema.json), with format assertions on.
func NewLocalValidator(tb testing.TB) *Validator {
	tb.Helper()
	return newValidator(tb, "local.schema.json", "urn:fastscan:schema:local:1")
}

func newValidator(tb testing.TB, name, url string) *Validator {
	tb.Helper()
	f, err := os.Open(SchemaPath(tb, name))
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
// or dotted keys at any depth, that the schema accepts.
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

// noDuplicateKeys reports an error if line is not a single JSON object, or if any
// object in it repeats a key or has a dotted key.
func noDuplicateKeys(line []byte) error {
	dec := json.NewDecoder(bytes.NewReader(line))
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok != json.Delim('{') {
		return errors.New("not a JSON object")
	}
	if err := checkObject(dec); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("more than one JSON value on the line")
	}
	return nil
}

// checkObject reads the rest of an object whose '{' was read.
func checkObject(dec *json.Decoder) error {
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		if seen[key] {
			return errors.New("duplicate key " + key)
		}
		if strings.Contains(key, ".") {
			return errors.New("dotted key " + key)
		}
		seen[key] = true
		if err := checkValue(dec); err != nil {
			return err
		}
	}
	_, err := dec.Token() // '}'
	return err
}

// checkValue reads one value, checking the objects in it.
func checkValue(dec *json.Decoder) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		return checkObject(dec)
	case json.Delim('['):
		for dec.More() {
			if err := checkValue(dec); err != nil {
				return err
			}
		}
		_, err := dec.Token() // ']'
		return err
	}
	return nil
}

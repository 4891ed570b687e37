// Package ianatest gives the registry's tests the shared copy of IANA's
// service-names-port-numbers.csv and reads it the simplest way, as the truth
// the registry's tables are compared with.
package ianatest

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/fastscan/fastscan/citest"
)

// Path returns the path of the shared copy of IANA's registry, at
// ../shared/iana/service-names-port-numbers.csv beside the module root (CI
// keeps it there). When the file is absent it calls citest.Skip: the test is
// skipped locally and fails when CI=true.
func Path(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("ianatest: no go.mod above the test's directory")
		}
		dir = parent
	}
	name := filepath.Join(filepath.Dir(dir), "shared", "iana", "service-names-port-numbers.csv")
	if _, err := os.Stat(name); err != nil {
		citest.Skip(tb, "the IANA registry is not at %s (CI has it there): %v", name, err)
	}
	return name
}

// Key is a port over a protocol ("tcp", "udp" or "sctp").
type Key struct {
	Port  int
	Proto string
}

// Names reads the CSV file name and returns, for every port and protocol that
// some row names a service for, the service names in the order of the rows.
// Only rows with a name, a port (or range) and the protocol tcp, udp or sctp
// count; a port that is not a number fails tb.
func Names(tb testing.TB, name string) map[Key][]string {
	tb.Helper()
	f, err := os.Open(name)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		tb.Fatal(err)
	}
	names := map[Key][]string{}
	for i, row := range rows[1:] {
		svc, ports, proto := row[0], row[1], row[2]
		if svc == "" || ports == "" || (proto != "tcp" && proto != "udp" && proto != "sctp") {
			continue
		}
		first, last, isRange := strings.Cut(ports, "-")
		lo, err1 := strconv.Atoi(first)
		hi, err2 := strconv.Atoi(last)
		if !isRange {
			hi, err2 = lo, nil
		}
		if err1 != nil || err2 != nil {
			tb.Fatalf("%s: row %d: port %q", name, i+2, ports)
		}
		for port := lo; port <= hi; port++ {
			k := Key{port, proto}
			names[k] = append(names[k], svc)
		}
	}
	return names
}

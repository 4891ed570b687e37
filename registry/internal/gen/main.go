// Command gen writes the registry's built-in table, registry/services.tsv,
// from IANA's Service Name and Transport Protocol Port Number Registry in CSV
// form (service-names-port-numbers.csv from
// https://www.iana.org/assignments/service-names-port-numbers/):
//
//	go run ./internal/gen -o services.tsv PATH/service-names-port-numbers.csv
//
// It keeps facts only: each service name, its port or port range, and its
// protocols (tcp, udp, sctp), in IANA's order; no description or other text.
// registry/default.go runs it through go generate with the shared copy of the
// file beside the repository.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
)

func main() {
	out := flag.String("o", "", "write the table to `FILE` (default: standard output)")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: gen [-o FILE] service-names-port-numbers.csv")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

// run generates the table from the CSV file in and writes it to out, or to
// standard output when out is empty. out is written only when the whole
// table was generated.
func run(in, out string) error {
	table, err := generateFile(in)
	if err != nil {
		return err
	}
	if out == "" {
		_, err = os.Stdout.Write(table)
		return err
	}
	return os.WriteFile(out, table, 0o644)
}

// generateFile returns the table generated from the CSV file name.
func generateFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var b bytes.Buffer
	if err := generate(f, &b); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return b.Bytes(), nil
}

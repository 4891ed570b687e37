package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/fastscan/fastscan/registry"
)

const registryExamples = `Examples:
   fastscan registry 443                       what runs on 443, over tcp, udp and sctp
   fastscan registry ssh                       which ports ssh is assigned
   fastscan registry 6000-6010 --proto udp     the udp services of a port range
   fastscan registry 49152                     unassigned, but its class says dynamic
   fastscan registry --class dynamic           every assigned service in a class
   fastscan registry --json postgresql         JSON lines instead of a table

Classes (RFC 6335): system (well-known) 0-1023, user (registered) 1024-49151,
dynamic (private) 49152-65535. Port 0 is reserved.
The built-in table comes from IANA's registry; --registry FILE (or FASTSCAN_REGISTRY)
reads a fresh service-names-port-numbers.csv from
https://www.iana.org/assignments/service-names-port-numbers/ instead.
Needs no privileges.`

// registryCommand returns the "fastscan registry" subcommand, which answers
// what runs on a port, which ports a service uses and which class a port is in.
func registryCommand() *cli.Command {
	return &cli.Command{
		Name:        "registry",
		Usage:       "look up ports and services in the IANA port registry (no root needed)",
		UsageText:   "fastscan registry [flags] [PORT | LO-HI | NAME]...",
		Description: registryExamples,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "proto", Usage: "only `PROTO`: tcp, udp or sctp (default: all three)"},
			&cli.StringFlag{Name: "class", Usage: "only ports of `CLASS`: system, user or dynamic; alone, list every assigned service in it"},
			&cli.BoolFlag{Name: "json", Usage: "JSON lines instead of a table"},
			registryFileFlag(),
		},
		Action: runRegistry,
	}
}

// registryFileFlag is --registry FILE (or FASTSCAN_REGISTRY): a fresh copy of
// IANA's registry to use instead of the built-in table.
func registryFileFlag() cli.Flag {
	return &cli.StringFlag{
		Name:    "registry",
		EnvVars: []string{"FASTSCAN_REGISTRY"},
		Usage:   "read service names from IANA's service-names-port-numbers.csv `FILE` instead of the built-in table",
	}
}

// loadRegistry returns the registry in file, or the built-in one when file is
// empty. A file that cannot be read or parsed is bad input (exit status 2).
func loadRegistry(file string) (*registry.Registry, error) {
	if file == "" {
		return registry.Default(), nil
	}
	r, err := registry.LoadFile(file)
	if err != nil {
		return nil, cli.Exit(err.Error(), exitUsage)
	}
	return r, nil
}

// registryRow is one line of output; its JSON names match the scan results'.
type registryRow struct {
	Port        uint16 `json:"port"`
	Proto       string `json:"proto"`
	Service     string `json:"service"`
	Class       string `json:"port_class"`
	Description string `json:"description"`
}

func runRegistry(c *cli.Context) error {
	queries, err := parseInterspersedFlags(c)
	if err != nil {
		return err
	}
	protos := registry.Protos()
	if s := c.String("proto"); s != "" {
		p, err := registry.ParseProto(s)
		if err != nil {
			return cli.Exit(err.Error(), exitUsage)
		}
		protos = []registry.Proto{p}
	}
	var class registry.Class
	if s := c.String("class"); s != "" {
		if class, err = registry.ParseClass(s); err != nil {
			return cli.Exit(err.Error(), exitUsage)
		}
	}
	if len(queries) == 0 && class == 0 {
		return cli.Exit("give a port, a port range, a service name or --class (see fastscan registry --help)", exitUsage)
	}
	reg, err := loadRegistry(c.String("registry"))
	if err != nil {
		return err
	}

	var rows []registryRow
	if len(queries) == 0 {
		lo, hi := class.Ports()
		rows = rangeRows(reg, lo, hi, protos)
	}
	for _, q := range queries {
		found, err := queryRows(reg, q, protos)
		if err != nil {
			return err
		}
		rows = append(rows, found...)
	}
	if class != 0 {
		rows = slices.DeleteFunc(rows, func(r registryRow) bool { return r.Class != class.String() })
	}
	if c.Bool("json") {
		return writeRegistryJSON(c.App.Writer, rows)
	}
	return writeRegistryTable(c.App.Writer, rows)
}

// queryRows answers one query: a port, a range of ports or a service name.
func queryRows(reg *registry.Registry, q string, protos []registry.Proto) ([]registryRow, error) {
	if q == "" || !isPortSpec(q) {
		services := reg.ByName(q)
		if len(services) == 0 {
			return nil, cli.Exit(fmt.Sprintf("unknown service %q", q), exitUsage)
		}
		var rows []registryRow
		for _, s := range services {
			if slices.Contains(protos, s.Proto) {
				rows = append(rows, rowOf(s))
			}
		}
		return rows, nil
	}
	lo, hi, err := parseRegistryPorts(q)
	if err != nil {
		return nil, cli.Exit(err.Error(), exitUsage)
	}
	if lo < hi {
		return rangeRows(reg, lo, hi, protos), nil
	}
	// One port: its services, or, when it has none, what is known without
	// them: the port is unassigned, and its class.
	rows := rangeRows(reg, lo, lo, protos)
	if len(rows) == 0 {
		for _, p := range protos {
			rows = append(rows, registryRow{Port: lo, Proto: p.String(), Class: registry.ClassOf(lo).String(), Description: "unassigned"})
		}
	}
	return rows, nil
}

// rangeRows returns the services of the ports lo through hi over protos, in
// port order, then protocol order.
func rangeRows(reg *registry.Registry, lo, hi uint16, protos []registry.Proto) []registryRow {
	var services []registry.Service
	for _, p := range protos {
		services = append(services, reg.Range(lo, hi, p)...)
	}
	slices.SortStableFunc(services, func(a, b registry.Service) int { return cmp.Compare(a.Port, b.Port) })
	rows := make([]registryRow, len(services))
	for i, s := range services {
		rows[i] = rowOf(s)
	}
	return rows
}

func rowOf(s registry.Service) registryRow {
	return registryRow{Port: s.Port, Proto: s.Proto.String(), Service: s.Name, Class: s.Class().String(), Description: s.Description}
}

// isPortSpec reports whether q is made of digits and '-' only, so that it is
// meant as a port or a range rather than a service name.
func isPortSpec(q string) bool {
	return strings.Trim(q, "0123456789-") == "" && strings.ContainsAny(q, "0123456789")
}

// parseRegistryPorts parses "443" or "6000-6010". Port 0 is reserved and refused.
func parseRegistryPorts(q string) (lo, hi uint16, err error) {
	first, last, isRange := strings.Cut(q, "-")
	if lo, err = parseRegistryPort(first, q); err != nil {
		return 0, 0, err
	}
	if !isRange {
		return lo, lo, nil
	}
	if hi, err = parseRegistryPort(last, q); err != nil {
		return 0, 0, err
	}
	if lo > hi {
		return 0, 0, fmt.Errorf("invalid port range %q: first port above last", q)
	}
	return lo, hi, nil
}

func parseRegistryPort(s, q string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	switch {
	case err != nil:
		return 0, fmt.Errorf("invalid port %q: want 1-65535", q)
	case n == 0:
		return 0, fmt.Errorf("invalid port %q: port 0 is reserved", q)
	}
	return uint16(n), nil
}

// parseInterspersedFlags returns the positional arguments after applying the
// flags found among them, so that "fastscan registry 6000-6010 --proto udp"
// works: urfave/cli stops parsing flags at the first positional argument.
func parseInterspersedFlags(c *cli.Context) ([]string, error) {
	args := c.Args().Slice()
	var positional []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(positional, args[i+1:]...), nil
		}
		if len(a) < 2 || a[0] != '-' {
			positional = append(positional, a)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		f := findFlag(c.Command.Flags, name)
		if f == nil {
			return nil, cli.Exit(fmt.Sprintf("flag provided but not defined: %s (see fastscan registry --help)", a), exitUsage)
		}
		if _, isBool := f.(*cli.BoolFlag); isBool && !hasValue {
			value, hasValue = "true", true
		}
		if !hasValue {
			if i+1 == len(args) {
				return nil, cli.Exit(fmt.Sprintf("flag needs an argument: %s", a), exitUsage)
			}
			i++
			value = args[i]
		}
		if err := c.Set(f.Names()[0], value); err != nil {
			return nil, cli.Exit(fmt.Sprintf("invalid value %q for flag %s: %v", value, a, err), exitUsage)
		}
	}
	return positional, nil
}

func findFlag(flags []cli.Flag, name string) cli.Flag {
	for _, f := range flags {
		if slices.Contains(f.Names(), name) {
			return f
		}
	}
	return nil
}

func writeRegistryTable(w io.Writer, rows []registryRow) error {
	if len(rows) == 0 {
		_, err := fmt.Fprintln(w, "no assigned services match")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PORT\tPROTO\tSERVICE\tCLASS\tDESCRIPTION")
	for _, r := range rows {
		name := r.Service
		if name == "" {
			name = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", r.Port, r.Proto, name, r.Class, r.Description)
	}
	return tw.Flush()
}

func writeRegistryJSON(w io.Writer, rows []registryRow) error {
	enc := json.NewEncoder(w)
	for _, r := range rows {
		if err := enc.Encode(r); err != nil {
			return fmt.Errorf("writing JSON: %w", err)
		}
	}
	return nil
}

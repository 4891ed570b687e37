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
   fastscan registry 22,80,443/tcp             a port list as -p takes it (also 60000-, U:53,T:22)
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
		UsageText:   "fastscan registry [flags] [PORT | LO-HI | NAME | LIST]...",
		Description: registryExamples,
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return usageError("%v (see fastscan registry --help)", err)
		},
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "ports", Aliases: []string{"p"}, Usage: "look up `PORTS` in the -p syntax: 22,80, 6000-6010, 80-, 22/tcp, U:53,T:22 (the same as giving them as arguments)"},
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
	if c.IsSet("ports") {
		queries = append([]string{c.String("ports")}, queries...)
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
	rows = uniqueRows(rows)
	if class != 0 {
		rows = slices.DeleteFunc(rows, func(r registryRow) bool { return r.Class != class.String() })
	}
	if c.Bool("json") {
		return writeRegistryJSON(c.App.Writer, rows)
	}
	return writeRegistryTable(c.App.Writer, rows)
}

// queryRows answers one query: the -p syntax (a comma list of ports, ranges like
// 6000-6010 or 80-, service names; an entry may end in /tcp, /udp or /sctp, and
// nmap's T: and U: prefixes apply to their entry and those after it).
func queryRows(reg *registry.Registry, q string, protos []registry.Proto) ([]registryRow, error) {
	var rows []registryRow
	current := protos
	for _, entry := range strings.Split(q, ",") {
		entry = strings.TrimSpace(entry)
		switch {
		case len(entry) > 2 && (entry[:2] == "T:" || entry[:2] == "t:"):
			current, entry = onlyProto(protos, registry.TCP), entry[2:]
		case len(entry) > 2 && (entry[:2] == "U:" || entry[:2] == "u:"):
			current, entry = onlyProto(protos, registry.UDP), entry[2:]
		}
		these := current
		if name, proto, ok := strings.Cut(entry, "/"); ok {
			p, err := registry.ParseProto(proto)
			if err != nil {
				return nil, cli.Exit(fmt.Sprintf("invalid port %q: %v", entry, err), exitUsage)
			}
			entry, these = name, onlyProto(current, p)
		}
		if entry == "" {
			return nil, cli.Exit(fmt.Sprintf("invalid port %q: empty entry (see fastscan registry --help)", q), exitUsage)
		}
		found, err := entryRows(reg, entry, these)
		if err != nil {
			return nil, err
		}
		rows = append(rows, found...)
	}
	return rows, nil
}

// onlyProto is p if protos has it, else nothing: --proto udp and 22/tcp ask
// for nothing.
func onlyProto(protos []registry.Proto, p registry.Proto) []registry.Proto {
	if slices.Contains(protos, p) {
		return []registry.Proto{p}
	}
	return nil
}

// entryRows answers one entry of a query: a port, a range of ports or a
// service name, over protos.
func entryRows(reg *registry.Registry, q string, protos []registry.Proto) ([]registryRow, error) {
	if !isPortSpec(q) {
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

// uniqueRows drops every row identical to one before it (a port asked twice, or
// in two overlapping ranges), keeping the order.
func uniqueRows(rows []registryRow) []registryRow {
	seen := make(map[registryRow]bool, len(rows))
	out := rows[:0]
	for _, r := range rows {
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out
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
	return q == "-" || strings.Trim(q, "0123456789-") == "" && strings.ContainsAny(q, "0123456789")
}

// parseRegistryPorts parses "443", "6000-6010", "60000-" (to 65535) or "-" (every
// port), as -p does. Port 0 is reserved and refused.
func parseRegistryPorts(q string) (lo, hi uint16, err error) {
	if q == "-" {
		return 1, 65535, nil
	}
	first, last, isRange := strings.Cut(q, "-")
	if lo, err = parseRegistryPort(first, q); err != nil {
		return 0, 0, err
	}
	if !isRange {
		return lo, lo, nil
	}
	if last == "" {
		return lo, 65535, nil
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

package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/fastscan/fastscan/localports"
	"github.com/fastscan/fastscan/registry"
	"github.com/fastscan/fastscan/target"
)

const localExamples = `Examples:
   fastscan local                           every TCP and UDP socket of this machine
   fastscan local --listening               the ports this machine serves, and who serves them
   fastscan local --port 2200               is 2200 free? one line; exit 0 in use, 1 free
   fastscan local -p 8000-8100 --proto tcp  the TCP sockets on a range of ports
   fastscan local --process nginx           the sockets nginx holds
   fastscan local --pid 812 --format jsonl  one process's sockets as JSON lines
   sudo fastscan local --listening          the same, with every process visible

Reads /proc: the sockets of this network namespace (IPv4 and IPv6) and, for their owners,
the file descriptors of every process. No root needed: without it every socket is shown,
with its user, but other users' processes are hidden (a line on standard error says so).
Exit status: 0; with --port, 0 when a socket uses the port and 1 when none does; 2 for bad input.`

// localFormats are the formats of fastscan local's --format.
func localFormats() []string { return []string{"text", "jsonl", "csv"} }

// localCommand returns "fastscan local", which lists this machine's own sockets.
func localCommand() *cli.Command {
	return &cli.Command{
		Name:        "local",
		Usage:       "list this machine's sockets: which process holds which port, is a port free (no root needed)",
		UsageText:   "fastscan local [--port PORTS] [--listening] [--proto tcp|udp] [--pid PID] [--process NAME] [--format FORMAT]",
		Description: localExamples,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "port", Aliases: []string{"p"}, Usage: "only local ports in `PORTS` (the -p syntax: 22,80,8000-8100); one port: a one-line answer, exit 1 when free"},
			&cli.BoolFlag{Name: "listening", Aliases: []string{"l"}, Usage: "only listening TCP and unconnected (bound) UDP sockets"},
			&cli.StringFlag{Name: "proto", Usage: "only `PROTO`: tcp or udp (default: both)"},
			&cli.IntFlag{Name: "pid", Usage: "only sockets held by process `PID`"},
			&cli.StringFlag{Name: "process", Usage: "only sockets held by processes named `NAME` (the command name, ignoring case)"},
			&cli.StringFlag{Name: "format", Value: "text", Usage: "output `FORMAT`: text (a table), jsonl or csv"},
			registryFileFlag(),
			&cli.StringFlag{Name: "proc", Value: "/proc", Usage: "read the proc file system at `DIR`", Hidden: true},
		},
		Action:          runLocal,
		HideHelpCommand: true,
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return usageError("%v (see fastscan local --help)", err)
		},
	}
}

// localRow is one socket as written; its JSON names are those of the scan
// results where they overlap (proto, port, service, port_class).
type localRow struct {
	Proto      string `json:"proto"`
	LocalIP    string `json:"local_ip"`
	Port       uint16 `json:"port"`
	RemoteIP   string `json:"remote_ip"`
	RemotePort uint16 `json:"remote_port"`
	State      string `json:"state"`
	PID        int    `json:"pid"`
	Process    string `json:"process"`
	User       string `json:"user"`
	Service    string `json:"service"`
	PortClass  string `json:"port_class"`

	sock localports.Socket
}

// localColumns are the CSV header, the JSON member names in order.
var localColumns = []string{"proto", "local_ip", "port", "remote_ip", "remote_port", "state", "pid", "process", "user", "service", "port_class"}

func runLocal(c *cli.Context) error {
	if c.Args().Len() > 0 {
		return usageError("unexpected argument %q: fastscan local takes flags only (see fastscan local --help)", c.Args().First())
	}
	var f localports.Filter
	var single bool
	if c.IsSet("port") {
		ports, err := target.ParsePorts(c.String("port"))
		if err != nil {
			return usageError("%v", err)
		}
		f.Ports, single = &ports, ports.Len() == 1
	}
	f.Listening = c.Bool("listening")
	if s := c.String("proto"); c.IsSet("proto") {
		p, err := registry.ParseProto(s)
		if err != nil || p == registry.SCTP {
			return usageError("invalid --proto %q: want tcp or udp", s)
		}
		f.Proto = p
	}
	if c.IsSet("pid") {
		if f.PID = c.Int("pid"); f.PID <= 0 {
			return usageError("invalid --pid %d: want a process id above 0", f.PID)
		}
	}
	if c.IsSet("process") {
		if f.Process = c.String("process"); f.Process == "" {
			return usageError("invalid --process \"\": want a process name")
		}
	}
	format := c.String("format")
	if !slices.Contains(localFormats(), format) {
		return usageError("invalid --format %q: want text, jsonl or csv", format)
	}
	reg, err := loadRegistry(c.String("registry"))
	if err != nil {
		return err
	}
	listing, err := localports.Read(localports.Options{Proc: os.DirFS(c.String("proc"))})
	if err != nil {
		return cli.Exit(err.Error(), exitFailure)
	}
	socks := listing.Select(f)
	rows := localRows(socks, reg)

	w := c.App.Writer
	switch {
	case single && format == "text":
		err = writeLocalAnswer(w, f, rows)
	case format == "jsonl":
		err = writeLocalJSON(w, rows)
	case format == "csv":
		err = writeLocalCSV(w, rows)
	default:
		err = writeLocalTable(w, rows, f.Ports != nil)
	}
	if err != nil {
		return cli.Exit(fmt.Sprintf("writing output: %v", err), exitFailure)
	}
	hidden := 0
	for _, s := range socks {
		if s.Hidden {
			hidden++
		}
	}
	if hidden > 0 {
		fmt.Fprintf(c.App.ErrWriter, "fastscan: the processes of %d %s are hidden: other users' processes are visible only with privileges (run with sudo)\n", hidden, plural(uint64(hidden), "socket", "sockets"))
	}
	if f.Ports != nil && len(rows) == 0 {
		return cli.Exit("", exitFailure) // free: the answer is written, nothing more to say
	}
	return nil
}

// localRows turns sockets into rows: the service and class of the local port,
// the owner with the lowest PID, and the socket's user name.
func localRows(socks []localports.Socket, reg *registry.Registry) []localRow {
	users := map[uint32]string{}
	rows := make([]localRow, len(socks))
	for i, s := range socks {
		r := localRow{
			Proto: s.Proto.String(), LocalIP: s.Local.Addr().String(), Port: s.Local.Port(),
			RemoteIP: s.Remote.Addr().String(), RemotePort: s.Remote.Port(), State: s.StateName(),
			Service: reg.Name(s.Local.Port(), s.Proto), PortClass: registry.ClassOf(s.Local.Port()).String(), sock: s,
		}
		if r.Service == "" {
			r.Service = "unknown" // as in scan results
		}
		if len(s.Owners) > 0 {
			r.PID, r.Process = s.Owners[0].PID, s.Owners[0].Process
		}
		if s.Inode != 0 { // a time-wait or unaccepted socket has no user of its own
			name, ok := users[s.UID]
			if !ok {
				name = userName(s.UID)
				users[s.UID] = name
			}
			r.User = name
		}
		rows[i] = r
	}
	return rows
}

// userName returns the name of user uid, or the number when it has none.
func userName(uid uint32) string {
	id := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(id); err == nil {
		return u.Username
	}
	return id
}

// who describes a row's processes for people: "nginx (pid 200, user www-data)",
// with "+N" when more processes hold the socket.
func (r *localRow) who() string {
	switch {
	case len(r.sock.Owners) > 0:
		more := ""
		if n := len(r.sock.Owners) - 1; n > 0 {
			more = fmt.Sprintf(" and %d more %s", n, plural(uint64(n), "process", "processes"))
		}
		return fmt.Sprintf("%s (pid %d%s, user %s)", r.Process, r.PID, more, r.User)
	case r.sock.Hidden:
		return fmt.Sprintf("a process of user %s (hidden: run with sudo to see it)", r.User)
	}
	return "no process"
}

// what describes a row's socket for people: "tcp listen 0.0.0.0",
// "tcp established 127.0.0.1 -> 127.0.0.1:80".
func (r *localRow) what() string {
	s := r.Proto + " " + r.State + " " + r.LocalIP
	if r.sock.Remote.Port() != 0 {
		s += " -> " + r.sock.Remote.String()
	}
	return s
}

// writeLocalAnswer answers "is this port free?" in one line.
func writeLocalAnswer(w io.Writer, f localports.Filter, rows []localRow) error {
	port := f.Ports.At(0)
	name := strconv.Itoa(int(port))
	if f.Proto != 0 {
		name += "/" + f.Proto.String()
	}
	if len(rows) == 0 {
		if f.Listening || f.PID != 0 || f.Process != "" {
			_, err := fmt.Fprintf(w, "port %s: no socket matches\n", name)
			return err
		}
		protos := "tcp or udp"
		if f.Proto != 0 {
			protos = f.Proto.String()
		}
		_, err := fmt.Fprintf(w, "port %s is free: no %s socket uses it\n", name, protos)
		return err
	}
	// Group the sockets by who holds them, in the order met.
	const maxItems = 4
	var order []string
	items := map[string][]string{}
	for i := range rows {
		who := rows[i].who()
		if _, ok := items[who]; !ok {
			order = append(order, who)
		}
		items[who] = append(items[who], rows[i].what())
	}
	var parts []string
	for _, who := range order {
		list := items[who]
		if len(list) > maxItems {
			list = append(list[:maxItems:maxItems], fmt.Sprintf("%d more", len(items[who])-maxItems))
		}
		parts = append(parts, who+": "+strings.Join(list, ", "))
	}
	_, err := fmt.Fprintf(w, "port %s is in use by %s\n", name, strings.Join(parts, "; "))
	return err
}

func writeLocalTable(w io.Writer, rows []localRow, portFilter bool) error {
	if len(rows) == 0 {
		msg := "no sockets match"
		if portFilter {
			msg = "no socket uses these ports"
		}
		_, err := fmt.Fprintln(w, msg)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PROTO\tLOCAL\tREMOTE\tSTATE\tBOUND\tPID\tPROCESS\tUSER\tSERVICE\tCLASS")
	for i := range rows {
		r := &rows[i]
		remote := "*"
		if r.sock.Remote.Port() != 0 || !r.sock.Remote.Addr().IsUnspecified() {
			remote = r.sock.Remote.String()
		}
		bound := "one"
		if r.sock.AllAddresses() {
			bound = "all"
		}
		pid, process := "-", "-"
		switch {
		case len(r.sock.Owners) > 0:
			pid, process = strconv.Itoa(r.PID), r.Process
			if n := len(r.sock.Owners) - 1; n > 0 {
				pid += fmt.Sprintf(" (+%d)", n)
			}
		case r.sock.Hidden:
			pid, process = "?", "?"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Proto, r.sock.Local, remote, r.State, bound,
			pid, process, orDash(r.User), r.Service, r.PortClass)
	}
	return tw.Flush()
}

func writeLocalJSON(w io.Writer, rows []localRow) error {
	enc := json.NewEncoder(w)
	for i := range rows {
		if err := enc.Encode(&rows[i]); err != nil {
			return err
		}
	}
	return nil
}

func writeLocalCSV(w io.Writer, rows []localRow) error {
	cw := csv.NewWriter(w)
	cw.Write(localColumns)
	for _, r := range rows {
		cw.Write([]string{r.Proto, r.LocalIP, strconv.Itoa(int(r.Port)), r.RemoteIP, strconv.Itoa(int(r.RemotePort)), r.State,
			strconv.Itoa(r.PID), r.Process, r.User, r.Service, r.PortClass})
	}
	cw.Flush()
	return cw.Error()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

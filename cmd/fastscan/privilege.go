package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/fastscan/fastscan/privdrop"
	"github.com/fastscan/fastscan/target"
)

// privOptions are the command line's choices about privileges and name lookups.
type privOptions struct {
	keepPrivileges bool // --keep-privileges: do not drop root and capabilities
	noResolve      bool // -n: never look a host name up
}

// privilegeFlags are the flags of privOptions.
func privilegeFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "n", Usage: "never resolve host names (a host name target is an error)"},
		&cli.BoolFlag{Name: "keep-privileges", Usage: "keep root and capabilities for the whole scan instead of dropping them once the sockets and files are open (for debugging, or where switching users is forbidden, e.g. a container without CAP_SETUID)"},
	}
}

func parsePrivOptions(c *cli.Context) privOptions {
	return privOptions{keepPrivileges: c.Bool("keep-privileges"), noResolve: c.Bool("n")}
}

// privDrop is the plan to give up privileges once the scan's sockets and files are
// open: made after Prepare and before any output file exists, carried out just
// before the scan sends.
type privDrop struct {
	keep  bool
	creds privdrop.Creds
	// fresh are the output files that did not exist before the scan: under sudo
	// they are given to the user who ran it.
	fresh []string
}

// planPrivilegeDrop decides whom the scan runs as (the user who ran sudo, else
// nobody) and notes which of the settings' output files do not exist yet.
func planPrivilegeDrop(s *settings) (*privDrop, error) {
	if s.keepPrivileges {
		return &privDrop{keep: true}, nil
	}
	creds, err := privdrop.Choose(os.Getenv)
	if err != nil {
		return nil, cli.Exit(fmt.Sprintf("cannot drop privileges: %v", err), exitFailure)
	}
	p := &privDrop{creds: creds}
	names := outputFiles(s)
	if s.resumeFile != "" && s.resume == nil {
		names = append(names, s.resumeFile) // the checkpoint, created with the outputs
	}
	for _, name := range names {
		if _, err := os.Lstat(name); os.IsNotExist(err) {
			p.fresh = append(p.fresh, name)
		}
	}
	return p, nil
}

// outputFiles are the files a scan with the settings writes ("-" and "" are
// standard output and standard error).
func outputFiles(s *settings) []string {
	var names []string
	for _, n := range []string{s.output, s.pcap, s.status} {
		if n != "" && n != "-" {
			names = append(names, n)
		}
	}
	for _, o := range s.extra {
		if o.file != "" && o.file != "-" {
			names = append(names, o.file)
		}
	}
	return names
}

// drop gives the files the scan created to the user who ran sudo, then drops
// root and every capability (package privdrop). Failing to drop is an error,
// unless there was nothing to drop.
func (p *privDrop) drop(stderr io.Writer, quiet bool) error {
	if p.keep {
		return nil
	}
	if p.creds.FromSudo && os.Geteuid() == 0 {
		for _, name := range p.fresh {
			if err := chownCreated(name, p.creds); err != nil && !quiet {
				fmt.Fprintf(stderr, "fastscan: cannot give %s to user %d: %v\n", name, p.creds.UID, err)
			}
		}
	}
	if _, err := privdrop.Drop(p.creds); err != nil {
		return cli.Exit(fmt.Sprintf("cannot drop privileges: %v (--keep-privileges scans without dropping them)", err), exitFailure)
	}
	return nil
}

// chownCreated gives name to c's user and group if it is the file the scan just
// created as root: a regular file owned by root with one link. A path that was
// swapped for something else in the meantime is left alone (no symlink followed).
func chownCreated(name string, c privdrop.Creds) error {
	fd, err := unix.Open(name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Uid != 0 || st.Nlink != 1 {
		return fmt.Errorf("not the file fastscan created")
	}
	return unix.Fchown(fd, c.UID, c.GID)
}

// lookupKey is the context key under which tests put the host name lookup.
type lookupKey struct{}

// withLookup returns ctx carrying lookup, which parseSettings then uses instead of
// the system's resolver (tests count calls with it).
func withLookup(ctx context.Context, lookup target.LookupFunc) context.Context {
	return context.WithValue(ctx, lookupKey{}, lookup)
}

// hostNames defers host name lookups until every other argument has been checked:
// the first parse of the targets records the names (check), and resolve parses them
// again with the real lookup once the rest of the command line is known to be good.
// With -n a host name is an error at once.
type hostNames struct {
	ctx       context.Context
	cli       *cli.Context // for the exclusions, applied again after resolution
	noResolve bool
	network   string // "ip4" (A records, the default and -4) or "ip6" (AAAA, -6)
	names     []string
}

func newHostNames(c *cli.Context) *hostNames {
	h := &hostNames{ctx: c.Context, cli: c, noResolve: c.Bool("n"), network: "ip4"}
	if c.Bool("6") {
		h.network = "ip6"
	}
	return h
}

// check is the lookup of the first parse: it resolves nothing.
func (h *hostNames) check(host string) ([]netip.Addr, error) {
	if h.noResolve {
		return nil, fmt.Errorf("a host name, and -n disables name resolution")
	}
	h.names = append(h.names, host)
	if h.network == "ip6" {
		return []netip.Addr{netip.IPv6Unspecified()}, nil // a placeholder, replaced by resolve
	}
	return []netip.Addr{netip.IPv4Unspecified()}, nil
}

// resolve parses specs again with the real lookup if they name hosts, and sets
// s.cfg.Targets. With -n, a syslog URL's host name is refused too.
func (h *hostNames) resolve(s *settings, specs []string) error {
	if h.noResolve && s.syslog != "" {
		if u, err := url.Parse(s.syslog); err == nil {
			if _, err := netip.ParseAddr(u.Hostname()); err != nil {
				return usageError("invalid syslog target %q: a host name, and -n disables name resolution", s.syslog)
			}
		}
	}
	if len(h.names) == 0 {
		return nil
	}
	lookup, _ := h.ctx.Value(lookupKey{}).(target.LookupFunc)
	if lookup == nil {
		lookup = func(host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(h.ctx, h.network, host)
		}
	}
	scope, err := parseScope(h.cli, specs, lookup)
	if err != nil {
		return err
	}
	s.cfg.Targets, s.scope = scope.Targets, scope
	return nil
}

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/fastscan/fastscan/lab"
)

// upCommand is `fastlab up`: build a lab with its extra hosts, describe it,
// keep it until interrupted, then tear it down. Its pid and the real servers'
// files are in a state directory (stateRoot/<lab id>) for `fastlab down`.
func upCommand() *cli.Command {
	return &cli.Command{
		Name:  "up",
		Usage: "build a lab (with the real servers' and the SYN proxy hosts), print its layout, keep it until Ctrl-C or SIGTERM, then remove it",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "state-dir", Value: stateRoot, Hidden: true},
		},
		Action: func(c *cli.Context) (err error) {
			l, err := lab.Up(c.Context)
			if err != nil {
				return fmt.Errorf("up: %w", err)
			}
			state := filepath.Join(c.String("state-dir"), l.ID())
			var x *extraHosts
			defer func() {
				fmt.Fprintln(c.App.Writer, "tearing the lab down")
				if x != nil {
					err = errors.Join(err, x.stop())
				}
				if derr := l.Down(); derr != nil {
					err = errors.Join(err, fmt.Errorf("down: %w", derr))
				}
				if rerr := os.RemoveAll(state); rerr != nil {
					err = errors.Join(err, fmt.Errorf("down: %w", rerr))
				}
			}()
			if err := os.MkdirAll(state, 0o700); err != nil {
				return fmt.Errorf("up: state directory: %w", err)
			}
			if err := os.WriteFile(filepath.Join(state, upPIDFile), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
				return fmt.Errorf("up: state directory: %w", err)
			}
			if x, err = startExtraHosts(c.Context, l, filepath.Join(state, "servers"), false); err != nil {
				return fmt.Errorf("up: %w", err)
			}
			v, verr := installedVersions()
			if x.rs != nil && verr != nil {
				x.notes = append(x.notes, "versions: "+oneLine(verr))
			}
			printLayout(c.App.Writer, l.ID(), l.ScannerNS(), l.RemoteNS(), l.Truth())
			printExtraHosts(c.App.Writer, l.ScannerNS(), x, v)
			fmt.Fprintf(c.App.Writer, "\nthe lab stays up until Ctrl-C or SIGTERM, or fastlab down %s\n", l.ID())
			<-c.Context.Done()
			return nil
		},
	}
}

// printLayout describes a lab and how to use it.
func printLayout(w io.Writer, id, scannerNS, remoteNS string, t lab.Truth) {
	var b strings.Builder
	fmt.Fprintf(&b, "lab %s is up\n\n", id)
	fmt.Fprintf(&b, "scanner namespace %s\n", scannerNS)
	fmt.Fprintf(&b, "  %s %s/%d (%s)  ->  remote router %s (%s) in namespace %s\n",
		lab.ScannerWANIface, t.ScannerWANAddr, t.WANPrefix.Bits(), macString(t.ScannerWANMAC),
		t.RemoteWANAddr, macString(t.RemoteWANMAC), remoteNS)
	fmt.Fprintf(&b, "  %s %s/%d (%s)  on the bridged LAN %s\n",
		lab.ScannerLANIface, t.ScannerLANAddr, t.LANPrefix.Bits(), macString(t.ScannerLANMAC), t.LANPrefix)
	fmt.Fprintf(&b, "\nrouted range %s via %s:\n", t.RoutedRange, t.RemoteWANAddr)
	fmt.Fprintf(&b, "  %-20s every address up; open ports %s and UDP %s, all others closed\n", t.AnyIPPrefix, portList(t.AnyIPPorts), portList(t.AnyIPUDPPorts))
	for _, ap := range t.AddrPorts {
		fmt.Fprintf(&b, "  %-20s also open\n", ap)
	}
	fmt.Fprintf(&b, "  %-20s filtered (UDP open|filtered): silently dropped\n", t.BlackholePrefix)
	fmt.Fprintf(&b, "  %-20s filtered: ICMP destination unreachable, code %d, from %s\n", t.ProhibitedPrefix, lab.ICMPProhibitedCode, t.RemoteWANAddr)
	fmt.Fprintf(&b, "\nLAN hosts (every other LAN address is down, but the extra hosts below, when started):\n")
	for _, h := range t.Hosts {
		late := ""
		if h.ARPDelay > 0 {
			late = fmt.Sprintf("; answers ARP and NDP %v late", h.ARPDelay)
		}
		fmt.Fprintf(&b, "  %-15s %s  open %s, UDP %s%s\n", h.Addr, macString(h.MAC), portList(h.Ports), portList(h.UDPPorts), late)
	}
	fmt.Fprintf(&b, "\nIPv6 (%s is the remote router's link-local next hop):\n", t.RemoteWANLinkLocal)
	fmt.Fprintf(&b, "  %s %s/%d, %s  ->  remote router %s, %s\n",
		lab.ScannerWANIface, t.ScannerWANAddr6, t.WANPrefix6.Bits(), t.ScannerWANLinkLocal, t.RemoteWANAddr6, t.RemoteWANLinkLocal)
	fmt.Fprintf(&b, "  %s %s/%d  on the bridged LAN %s\n", lab.ScannerLANIface, t.ScannerLANAddr6, t.LANPrefix6.Bits(), t.LANPrefix6)
	fmt.Fprintf(&b, "routed range %s via %s:\n", t.RoutedRange6, t.RemoteWANLinkLocal)
	fmt.Fprintf(&b, "  %-26s every address up; open ports %s and UDP %s, all others closed\n", t.AnyIPPrefix6, portList(t.AnyIPPorts), portList(t.AnyIPUDPPorts))
	for _, ap := range t.AddrPorts6 {
		fmt.Fprintf(&b, "  %-26s also open\n", ap)
	}
	fmt.Fprintf(&b, "  %-26s filtered (UDP open|filtered): silently dropped\n", t.BlackholePrefix6)
	fmt.Fprintf(&b, "  %-26s filtered: ICMPv6 destination unreachable, code %d (admin-prohibited), from %s\n", t.ProhibitedPrefix6, lab.ICMPv6ProhibitedCode, t.RemoteWANAddr6)
	fmt.Fprintf(&b, "  %-26s filtered: ICMPv6 destination unreachable, code %d (address unreachable), from %s\n", t.AddrUnreachablePrefix6, lab.ICMPv6AddrUnreachableCode, t.RemoteWANAddr6)
	fmt.Fprintf(&b, "  %-26s TCP filtered, UDP closed: ICMPv6 destination unreachable, code %d (port unreachable), from %s\n", t.PortUnreachablePrefix6, lab.ICMPv6PortUnreachableCode, t.RemoteWANAddr6)
	fmt.Fprintf(&b, "LAN hosts' IPv6 addresses (same MACs and ports; every other address of %s is down):\n", t.LANPrefix6)
	for _, h := range t.Hosts {
		fmt.Fprintf(&b, "  %-15s = %s\n", h.Addr6, h.Addr)
	}
	fmt.Fprintf(&b, "\nrun the scanner inside the lab, e.g.:\n")
	fmt.Fprintf(&b, "  sudo ip netns exec %s bin/fastscan -r 100000 %s -p 22,80,443,5432,8080\n", scannerNS, t.RoutedRange)
	fmt.Fprintf(&b, "  sudo ip netns exec %s bin/fastscan %s -p 1-1024\n", scannerNS, t.LANPrefix)
	fmt.Fprintf(&b, "  sudo ip netns exec %s bin/fastscan %s -p U:53,123,161,T:22\n", scannerNS, t.AnyIPPrefix)
	fmt.Fprintf(&b, "  sudo ip netns exec %s bash    # a shell in the scanner namespace\n", scannerNS)
	io.WriteString(w, b.String())
}

// portList formats ports as "22,80,443".
func portList(ports []uint16) string {
	s := make([]string, len(ports))
	for i, p := range ports {
		s[i] = fmt.Sprint(p)
	}
	return strings.Join(s, ",")
}

// macString formats a MAC address as 02:fa:00:00:00:01.
func macString(m [6]byte) string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
}

package main

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"

	"github.com/fastscan/fastscan/lab"
)

// realServerPortList is the real servers' ports, fastscan's -p form.
func realServerPortList() string {
	var ports []uint16
	for _, r := range realServerPorts(installed{}) {
		ports = append(ports, r.port)
	}
	slices.Sort(ports)
	return portList(ports)
}

// results keeps the result lines (not host notes) of an address.
func results(lines []demoLine, addr string) (out []demoLine, other []string) {
	for _, d := range lines {
		switch {
		case d.Record != "":
		case d.IP == addr:
			out = append(out, d)
		default:
			other = append(other, fmt.Sprintf("%s:%d", d.IP, d.Port))
		}
	}
	return out, other
}

// checkRealServers: every real server open, once, named by probing with the
// product and version the installed package gives; TLS on the HTTPS port with
// the lab's certificate.
func checkRealServers(r demoRun) error {
	found, other := results(r.lines, lab.RealServersAddr.String())
	var errs []error
	if len(other) > 0 {
		errs = append(errs, fmt.Errorf("results for other addresses: %v", other))
	}
	byPort := map[uint16]demoLine{}
	for _, d := range found {
		if _, dup := byPort[d.Port]; dup {
			errs = append(errs, fmt.Errorf("port %d written twice", d.Port))
		}
		byPort[d.Port] = d
	}
	want := realServerPorts(r.versions)
	if len(byPort) != len(want) {
		errs = append(errs, fmt.Errorf("%d ports reported, want %d", len(byPort), len(want)))
	}
	for _, w := range want {
		d, ok := byPort[w.port]
		if !ok {
			errs = append(errs, fmt.Errorf("port %d not reported", w.port))
			continue
		}
		if d.State != "open" || d.Service != w.service || d.Method != "probed" || d.Product != w.product || d.Version != w.version || (w.info != "" && d.Info != w.info) {
			errs = append(errs, fmt.Errorf("port %d: %s %s (%s) %q %q %q, want open %s (probed) %q %q %q",
				w.port, d.State, d.Service, d.Method, d.Product, d.Version, d.Info, w.service, w.product, w.version, w.info))
		}
		if w.tls != (d.TLS != nil) || d.TLS != nil && d.TLS.SubjectCN != lab.RealCertName {
			errs = append(errs, fmt.Errorf("port %d: TLS %+v, want TLS %v with CN %s", w.port, d.TLS, w.tls, lab.RealCertName))
		}
	}
	return errors.Join(errs...)
}

// synProxyFlagLine is the summary's line for a host answering SYN-ACK on
// (nearly) every port.
var synProxyFlagLine = regexp.MustCompile(regexp.QuoteMeta(lab.SynProxyAddr.String()) + `: SYN-ACK on (\d+) of (\d+) TCP ports probed: a SYN proxy or tarpit\?`)

// checkSynProxyFlagged: without -sV every port probed is open and the host
// is flagged, in the summary and by a host note.
func checkSynProxyFlagged(r demoRun) error {
	found, other := results(r.lines, lab.SynProxyAddr.String())
	var errs []error
	if len(other) > 0 {
		errs = append(errs, fmt.Errorf("results for other addresses: %v", other))
	}
	open := 0
	for _, d := range found {
		if d.State == "open" {
			open++
		}
	}
	if open != 1024 || len(found) != 1024 {
		errs = append(errs, fmt.Errorf("%d open of %d reported, want 1024 of 1024", open, len(found)))
	}
	if m := synProxyFlagLine.FindStringSubmatch(r.stderr); m == nil || m[1] != "1024" || m[2] != "1024" {
		errs = append(errs, fmt.Errorf("the summary does not flag %s with 1024 of 1024", lab.SynProxyAddr))
	}
	notes := 0
	for _, d := range r.lines {
		if d.Record == "host-note" && d.IP == lab.SynProxyAddr.String() && d.SynAcks == 1024 && d.Probed == 1024 {
			notes++
		}
	}
	if notes != 1 {
		errs = append(errs, fmt.Errorf("%d host notes for %s with 1024 of 1024, want 1", notes, lab.SynProxyAddr))
	}
	return errors.Join(errs...)
}

// synProxySVLine is the summary's service identification line.
var synProxySVLine = regexp.MustCompile(`service identification: (\d+) identified, (\d+) of (\d+) SYN-ACKs not backed by a service`)

// checkSynProxyServices: with -sV only lab.SynProxyPorts are open, each named
// by its service; the summary counts the SYN-ACKs no service backed.
func checkSynProxyServices(r demoRun) error {
	found, other := results(r.lines, lab.SynProxyAddr.String())
	var errs []error
	if len(other) > 0 {
		errs = append(errs, fmt.Errorf("results for other addresses: %v", other))
	}
	var open []uint16
	for _, d := range found {
		if d.State != "open" {
			continue
		}
		open = append(open, d.Port)
		if want := lab.SynProxyServices[d.Port]; d.Service != want {
			errs = append(errs, fmt.Errorf("port %d named %q, want %q", d.Port, d.Service, want))
		}
	}
	slices.Sort(open)
	if !slices.Equal(open, lab.SynProxyPorts) {
		errs = append(errs, fmt.Errorf("open ports %v, want %v", open, lab.SynProxyPorts))
	}
	backed := strconv.Itoa(len(lab.SynProxyPorts))
	notBacked := strconv.Itoa(1024 - len(lab.SynProxyPorts))
	if m := synProxySVLine.FindStringSubmatch(r.stderr); m == nil || m[1] != backed || m[2] != notBacked || m[3] != "1024" {
		errs = append(errs, fmt.Errorf("the summary's service identification line is not %s identified, %s of 1024 not backed: %q", backed, notBacked, m))
	}
	if synProxyFlagLine.FindString(r.stderr) == "" {
		errs = append(errs, fmt.Errorf("the summary does not flag %s", lab.SynProxyAddr))
	}
	return errors.Join(errs...)
}

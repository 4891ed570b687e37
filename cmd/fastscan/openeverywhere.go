package main

import (
	"fmt"
	"strings"

	"github.com/fastscan/fastscan/output"
	"github.com/fastscan/fastscan/result"
)

// summaryOpenEverywhere is how many hosts the open-everywhere heuristic flagged
// the summary names one by one; the outputs list every one.
const summaryOpenEverywhere = 10

// writeOpenEverywhere writes the summary's lines for the hosts that answered
// SYN-ACK on (nearly) every TCP port probed: one line per host (the first
// summaryOpenEverywhere), how many more, and a hint: to run -sV, or, with it
// (sv), that the open ports reported are those where a service answered.
func writeOpenEverywhere(b *strings.Builder, hosts []result.OpenEverywhere, sv bool) {
	if len(hosts) == 0 {
		return
	}
	for _, h := range hosts[:min(len(hosts), summaryOpenEverywhere)] {
		fmt.Fprintf(b, "  %s: %s\n", h.Addr, output.OpenEverywhereMessage(h))
	}
	if n := len(hosts) - summaryOpenEverywhere; n > 0 {
		fmt.Fprintf(b, "  and %d more %s answering SYN-ACK on (nearly) every port (the XML and JSON lines outputs name them)\n", n, plural(uint64(n), "host", "hosts"))
	}
	if sv {
		fmt.Fprintf(b, "  hint: a SYN proxy or tarpit answers SYN-ACK on every port: -sV reported open only the ports where a service answered, and any it could not identify (service identification below)\n")
		return
	}
	fmt.Fprintf(b, "  hint: a SYN proxy or tarpit answers SYN-ACK on every port: its open ports are not services; -sV reports open only the ports where a service answers\n")
}

// statusOpenEverywhere is the most hosts the last --status-json line lists.
const statusOpenEverywhere = 100

// statusHost is a host of the last --status-json line that answered SYN-ACK on
// (nearly) every TCP port probed.
type statusHost struct {
	IP      string `json:"ip"`
	SYNACKs int    `json:"syn_acks"`
	Probed  int    `json:"probed"`
}

// statusOpenEverywhereHosts is the list of the last --status-json line: the
// first statusOpenEverywhere flagged hosts.
func statusOpenEverywhereHosts(hosts []result.OpenEverywhere) []statusHost {
	var out []statusHost
	for _, h := range hosts[:min(len(hosts), statusOpenEverywhere)] {
		out = append(out, statusHost{IP: h.Addr.String(), SYNACKs: h.SYNACKs, Probed: h.Probed})
	}
	return out
}

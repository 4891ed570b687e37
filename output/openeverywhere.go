package output

import (
	"fmt"
	"strconv"

	"github.com/fastscan/fastscan/result"
)

// OpenEverywhereScript is the id of the hostscript note nmap XML carries for a
// host that answered SYN-ACK on (nearly) every TCP port probed.
const OpenEverywhereScript = "fastscan-synproxy"

// HostNoteRecord is the value of "record" in the JSON lines record of a note on a
// host, and OpenEverywhereNote the "note" of one on a host the open-everywhere
// heuristic flagged.
const (
	HostNoteRecord     = "host-note"
	OpenEverywhereNote = "open-everywhere"
)

// OpenEverywhereMessage is the sentence that says what the open-everywhere
// heuristic found of h: "SYN-ACK on 64 of 64 TCP ports probed: a SYN proxy or
// tarpit?".
func OpenEverywhereMessage(h result.OpenEverywhere) string {
	return fmt.Sprintf("SYN-ACK on %d of %d TCP ports probed: a SYN proxy or tarpit?", h.SYNACKs, h.Probed)
}

// openEverywhereHint follows the message in nmap XML: what the open ports are worth.
const openEverywhereHint = " Its open ports are not confirmed: -sV reports open only those where a service answers."

// writeOpenEverywhere writes, at Close, one more host element for every host End
// flagged: its status, address and a hostscript note (nmap's DTD allows any number
// of host elements per address; its stylesheet shows the note under "Host Script
// Output"):
//
//	<hostscript><script id="fastscan-synproxy" output="SYN-ACK on 64 of 64 ..."><elem key="syn_acks">64</elem><elem key="probed">64</elem></script></hostscript>
func (x *XML) writeOpenEverywhere() error {
	if x.end == nil {
		return nil
	}
	for _, h := range x.end.OpenEverywhere {
		st := x.end.statusOf(h.Addr, nil)
		state := "down"
		if st.up {
			state = "up"
		}
		b := x.b[:0]
		b = fmt.Appendf(b, "<host><status state=\"%s\" reason=\"%s\" reason_ttl=\"%d\"/>\n<address addr=\"%s\" addrtype=\"%s\"/>\n",
			state, st.reason, st.ttl, h.Addr, ipType(h.Addr))
		b = fmt.Appendf(b, "<hostscript><script id=\"%s\" output=\"%s\"><elem key=\"syn_acks\">%d</elem><elem key=\"probed\">%d</elem></script></hostscript>\n</host>\n",
			OpenEverywhereScript, xmlEscape(OpenEverywhereMessage(h)+openEverywhereHint), h.SYNACKs, h.Probed)
		x.b = b
		if err := x.out.record(b); err != nil {
			return writeError("XML", err)
		}
	}
	return nil
}

// End keeps the hosts End flagged, for the host-note records Close writes.
func (j *JSONL) End(e End) { j.notes = e.OpenEverywhere }

// Close writes a host-note record for every host End flagged, after the
// results, then closes as every line format does. A note is known only when the
// scan has ended, so it is the last kind of line:
//
//	{"schema_version":1,"record":"host-note","ip":"198.18.1.90","note":"open-everywhere","syn_acks":64,"probed":64,"message":"SYN-ACK on 64 of 64 TCP ports probed: a SYN proxy or tarpit?"}
func (j *JSONL) Close() error {
	for _, h := range j.notes {
		j.line = append(AppendOpenEverywhereRecord(j.line[:0], h), '\n')
		if err := j.flushLine(); err != nil {
			return err
		}
	}
	j.notes = nil
	return j.lineWriter.Close()
}

// AppendOpenEverywhereRecord appends the JSON lines host-note record of h, without
// a line break.
func AppendOpenEverywhereRecord(b []byte, h result.OpenEverywhere) []byte {
	b = append(b, `{"schema_version":`...)
	b = strconv.AppendInt(b, SchemaVersion, 10)
	b = append(b, `,"record":"`+HostNoteRecord+`","ip":"`...)
	b = appendAddr(b, h.Addr)
	b = append(b, `","note":"`+OpenEverywhereNote+`","syn_acks":`...)
	b = strconv.AppendInt(b, int64(h.SYNACKs), 10)
	b = append(b, `,"probed":`...)
	b = strconv.AppendInt(b, int64(h.Probed), 10)
	b = append(b, `,"message":`...)
	b = appendJSONString(b, OpenEverywhereMessage(h))
	return append(b, '}')
}

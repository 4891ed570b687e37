package output

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"time"

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

// ECSOpenEverywhereAction is event.action of the ECS document of a host the
// open-everywhere heuristic flagged.
const ECSOpenEverywhereAction = "host-open-everywhere"

// GrepableNotePrefix starts the grepable comment line of a note on a host:
// "# fastscan: 198.18.1.90: SYN-ACK on 64 of 64 TCP ports probed: a SYN proxy or tarpit?".
const GrepableNotePrefix = "# fastscan: "

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

// End keeps the hosts End flagged, for the documents Close writes.
func (e *ECS) End(end End) { e.notes = end.OpenEverywhere }

// Close writes an ECS document for every host End flagged, after the results,
// then closes as every line format does. A note is known only when the scan has
// ended, so it is the last kind of document; its @timestamp is when the scan
// finished (Scan.Finished, else now).
func (e *ECS) Close() error {
	if len(e.notes) > 0 {
		at := e.scan.finished()
		for _, h := range e.notes {
			e.line = append(e.appendOpenEverywhere(e.line[:0], h, at), '\n')
			if err := e.flushLine(); err != nil {
				return err
			}
		}
	}
	e.notes = nil
	return e.lineWriter.Close()
}

// appendOpenEverywhere appends the ECS document of h, flagged by the scan that
// finished at at, without a line break.
func (e *ECS) appendOpenEverywhere(b []byte, h result.OpenEverywhere, at time.Time) []byte {
	b = append(b, `{"@timestamp":"`...)
	b = at.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","ecs":{"version":"`+ECSVersion+`"},"event":{"kind":"state","category":["host"],"type":["info"],"action":"`+
		ECSOpenEverywhereAction+`","module":"fastscan","dataset":"fastscan.scan","id":"`...)
	b = e.appendNoteID(b, h.Addr, OpenEverywhereNote)
	b = append(b, `"},"host":{"ip":["`...)
	b = appendAddr(b, h.Addr)
	b = append(b, `"]},"related":{"ip":["`...)
	b = appendAddr(b, h.Addr)
	b = append(b, `"]},"message":`...)
	b = appendJSONString(b, h.Addr.String()+": "+OpenEverywhereMessage(h))
	b = append(b, `,"fastscan":{"record":"`+HostNoteRecord+`","note":"`+OpenEverywhereNote+`","syn_acks":`...)
	b = strconv.AppendInt(b, int64(h.SYNACKs), 10)
	b = append(b, `,"probed":`...)
	b = strconv.AppendInt(b, int64(h.Probed), 10)
	b = append(b, `,"scan_id":`...)
	b = appendJSONString(b, e.scan.ID)
	b = append(b, `},"observer":{"hostname":`...)
	b = appendJSONString(b, e.scan.Hostname)
	if src := e.sourceFor(h.Addr); src.IsValid() {
		b = append(b, `,"ip":["`...)
		b = appendAddr(b, src)
		b = append(b, `"]`...)
	}
	b = append(b, `,"type":"scanner","vendor":"fastscan","product":"fastscan","version":`...)
	b = appendJSONString(b, e.scan.Version)
	return append(b, "}}"...)
}

// appendNoteID appends a stable event.id for a note on the host a, as
// appendEventID does for a result: the first 16 bytes of the SHA-256 of scan id,
// address (its 4 bytes for IPv4) and note, in hex.
func (e *ECS) appendNoteID(b []byte, a netip.Addr, note string) []byte {
	id := e.scan.ID
	if len(id) > 40 {
		id = id[:40] // as appendEventID
	}
	in := make([]byte, 0, 64)
	in = append(append(in, id...), '|')
	in = append(append(in, a.AsSlice()...), '|')
	in = append(in, note...)
	sum := sha256.Sum256(in)
	return hex.AppendEncode(b, sum[:16])
}

// keepSource keeps a, a result's source address, when it is the first of its
// address family: the observer.ip of the notes.
func (e *ECS) keepSource(a netip.Addr) {
	switch {
	case !a.IsValid():
	case ipType(a) == "ipv6":
		if !e.source6.IsValid() {
			e.source6 = a
		}
	case !e.source4.IsValid():
		e.source4 = a
	}
}

// sourceFor is the source address the results named in the family of a; the
// zero Addr when none did (no result of that family, or a resumed scan that
// wrote none).
func (e *ECS) sourceFor(a netip.Addr) netip.Addr {
	if ipType(a) == "ipv6" {
		return e.source6
	}
	return e.source4
}

// writeGrepableNotes writes a comment line for every host End flagged:
//
//	# fastscan: 198.18.1.90: SYN-ACK on 64 of 64 TCP ports probed: a SYN proxy or tarpit?
func (g *Grepable) writeGrepableNotes() error {
	if g.end == nil {
		return nil
	}
	for _, h := range g.end.OpenEverywhere {
		b := append(g.b[:0], GrepableNotePrefix...)
		b = appendAddr(b, h.Addr)
		b = append(b, ": "...)
		b = append(b, OpenEverywhereMessage(h)...)
		b = append(b, '\n')
		g.b = b
		if err := g.out.record(b); err != nil {
			return writeError("grepable output", err)
		}
	}
	return nil
}

package localports

import (
	"strings"

	"github.com/fastscan/fastscan/registry"
	"github.com/fastscan/fastscan/target"
)

// commLen is the longest command name the kernel keeps (TASK_COMM_LEN - 1).
const commLen = 15

// Filter selects sockets. The zero Filter selects every socket; each field
// set narrows the selection.
type Filter struct {
	Ports     *target.Ports  // local port among these
	Listening bool           // listening TCP and unconnected UDP sockets only
	Proto     registry.Proto // this protocol only (0: both)
	PID       int            // held by this process (0: any)
	Process   string         // held by a process of this command name, ignoring case (longer names are cut to 15 bytes, as the kernel does)
}

// Match reports whether s passes every condition of f.
func (f *Filter) Match(s *Socket) bool {
	switch {
	case f.Ports != nil && !f.Ports.Contains(s.Local.Port()),
		f.Listening && !s.Listening(),
		f.Proto != 0 && s.Proto != f.Proto:
		return false
	}
	if f.PID != 0 && !s.heldBy(func(o Owner) bool { return o.PID == f.PID }) {
		return false
	}
	if f.Process != "" {
		want := f.Process
		if len(want) > commLen {
			want = want[:commLen]
		}
		if !s.heldBy(func(o Owner) bool { return strings.EqualFold(o.Process, want) }) {
			return false
		}
	}
	return true
}

// heldBy reports whether an owner of s satisfies ok.
func (s *Socket) heldBy(ok func(Owner) bool) bool {
	for _, o := range s.Owners {
		if ok(o) {
			return true
		}
	}
	return false
}

// Select returns the sockets of l that f matches, in l's order.
func (l *Listing) Select(f Filter) []Socket {
	var out []Socket
	for i := range l.Sockets {
		if f.Match(&l.Sockets[i]) {
			out = append(out, l.Sockets[i])
		}
	}
	return out
}

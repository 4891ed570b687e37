package registry

import (
	"fmt"
	"strings"
)

// Proto is a transport protocol that has its own port number space in the
// IANA registry. The zero value is not a protocol.
type Proto uint8

// The transport protocols the registry knows.
const (
	TCP  Proto = iota + 1 // Transmission Control Protocol
	UDP                   // User Datagram Protocol
	SCTP                  // Stream Control Transmission Protocol
)

// numProtos is the number of valid Proto values.
const numProtos = 3

// Protos lists every protocol the registry knows, in the order results are sorted by.
func Protos() []Proto { return []Proto{TCP, UDP, SCTP} }

// String returns "tcp", "udp" or "sctp", the spelling the IANA registry uses.
func (p Proto) String() string {
	switch p {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	case SCTP:
		return "sctp"
	}
	return fmt.Sprintf("Proto(%d)", uint8(p))
}

// Valid reports whether p is TCP, UDP or SCTP.
func (p Proto) Valid() bool { return p >= TCP && p <= SCTP }

// ParseProto parses "tcp", "udp" or "sctp" in any letter case.
func ParseProto(s string) (Proto, error) {
	switch {
	case strings.EqualFold(s, "tcp"):
		return TCP, nil
	case strings.EqualFold(s, "udp"):
		return UDP, nil
	case strings.EqualFold(s, "sctp"):
		return SCTP, nil
	}
	return 0, fmt.Errorf("unknown protocol %q: want tcp, udp or sctp", s)
}

// Class is the range of the port number space a port belongs to, as RFC 6335
// section 6 defines it. The zero value is not a class.
type Class uint8

// The port classes of RFC 6335. Port 0 is a System Port that is reserved and
// is never a target.
const (
	System  Class = iota + 1 // System Ports, also called well-known ports: 0-1023
	User                     // User Ports, also called registered ports: 1024-49151
	Dynamic                  // Dynamic Ports, also called private or ephemeral ports: 49152-65535
)

// Classes lists every port class in port order.
func Classes() []Class { return []Class{System, User, Dynamic} }

// ClassOf returns the class of port.
func ClassOf(port uint16) Class {
	switch {
	case port <= 1023:
		return System
	case port <= 49151:
		return User
	}
	return Dynamic
}

// String returns "system", "user" or "dynamic".
func (c Class) String() string {
	switch c {
	case System:
		return "system"
	case User:
		return "user"
	case Dynamic:
		return "dynamic"
	}
	return fmt.Sprintf("Class(%d)", uint8(c))
}

// Ports returns the first and last port of the class; lo and hi are 0 for an invalid class.
func (c Class) Ports() (lo, hi uint16) {
	switch c {
	case System:
		return 0, 1023
	case User:
		return 1024, 49151
	case Dynamic:
		return 49152, 65535
	}
	return 0, 0
}

// ParseClass parses a class name in any letter case: "system" (or
// "well-known"), "user" (or "registered"), "dynamic" (or "private", "ephemeral").
func ParseClass(s string) (Class, error) {
	switch {
	case strings.EqualFold(s, "system"), strings.EqualFold(s, "well-known"), strings.EqualFold(s, "wellknown"):
		return System, nil
	case strings.EqualFold(s, "user"), strings.EqualFold(s, "registered"):
		return User, nil
	case strings.EqualFold(s, "dynamic"), strings.EqualFold(s, "private"), strings.EqualFold(s, "ephemeral"):
		return Dynamic, nil
	}
	return 0, fmt.Errorf("unknown port class %q: want system, user or dynamic", s)
}

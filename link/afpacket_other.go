//go:build !linux

package link

import (
	"errors"
	"fmt"
)

var _ Opener = OpenAFPacket

// errNoAFPacket is what OpenAFPacket returns where there is no AF_PACKET.
var errNoAFPacket = errors.New("AF_PACKET sockets exist only on Linux")

// OpenAFPacket opens the AF_PACKET link of a scan on Linux; elsewhere it returns
// an error.
func OpenAFPacket(cfg Config) (Link, error) {
	return nil, fmt.Errorf("opening the receive ring on %s: %w", cfg.Interface.Name, errNoAFPacket)
}

//go:build !linux

package connect

import (
	"errors"
	"runtime"
)

// NewSys returns the kernel's Sys; connect scans run on Linux only.
func NewSys() (Sys, error) {
	return nil, errors.New("connect scan: not supported on " + runtime.GOOS)
}

// Limit returns requested checked against a generous limit: the open-file
// limit is read on Linux only.
func Limit(requested int) (n int, soft uint64, err error) {
	n, err = Parallelism(requested, 1<<20)
	return n, 1 << 20, err
}

//go:build !linux

package privdrop

// Drop returns ErrUnsupported: only Linux is supported.
func Drop(to Creds) (Result, error) { return Result{}, ErrUnsupported }

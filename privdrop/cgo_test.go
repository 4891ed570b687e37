//go:build privdropcgo && cgo

package privdrop

// Built with -tags privdropcgo, the tests link the cgo runtime, as a fastscan built
// with CGO_ENABLED=1 does (its net package uses cgo): builds runs them this way too.
import _ "runtime/cgo"

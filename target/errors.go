package target

import "fmt"

// Kinds of specification a [ParseError] can be about.
const (
	KindTarget = "target"
	KindPort   = "port"
)

// ParseError reports one bad token of a target or port specification.
type ParseError struct {
	// Kind is KindTarget or KindPort.
	Kind string
	// Token is the offending part of the specification, as written.
	Token string
	// Reason says what is wrong with Token.
	Reason string
	// Err is the underlying error, if any (for example a failed host name
	// lookup). It is returned by Unwrap.
	Err error
}

// Error returns a one-line message naming the bad token, for example
// `invalid target "10.0.0.300": not an IPv4 address`.
func (e *ParseError) Error() string {
	return fmt.Sprintf("invalid %s %q: %s", e.Kind, e.Token, e.Reason)
}

// Unwrap returns the underlying error, or nil.
func (e *ParseError) Unwrap() error { return e.Err }

func targetError(token, reason string) *ParseError {
	return &ParseError{Kind: KindTarget, Token: token, Reason: reason}
}

func portError(token, reason string) *ParseError {
	return &ParseError{Kind: KindPort, Token: token, Reason: reason}
}

package target

import (
	"errors"
	"slices"
	"strings"
)

// KindExclusion is the Kind of a [ParseError] about an exclusion.
const KindExclusion = "exclusion"

// ErrAllExcluded is returned by [ParseScope] when the exclusions leave no
// target to scan.
var ErrAllExcluded = errors.New("every target is excluded")

// ScopeOptions are the exclusions applied to a scan's targets.
type ScopeOptions struct {
	// Exclude lists exclusion specifications in the syntax of ParseTargets
	// (addresses, CIDR blocks, ranges, comma lists, host names).
	Exclude []string
	// NoDefaultExcludes scans reserved space (ReservedBlocks) inside larger targets too.
	NoDefaultExcludes bool
	// Lookup resolves host names among targets and exclusions; nil if none are expected.
	Lookup LookupFunc
}

// Exclusion is one reason why addresses named as targets are not scanned.
type Exclusion struct {
	// Spec is the exclusion as the user wrote it (one token of Exclude), or, for
	// a reserved block, the block's prefix.
	Spec string
	// Reserved is the reserved block, when Default is true.
	Reserved ReservedBlock
	// Default is true for a reserved block excluded by default, false for a user
	// exclusion.
	Default bool
	// Removed is what this exclusion takes out: for a reserved block, the named
	// targets inside it that are not scanned; for a user exclusion, the targets
	// left after the reserved blocks that it covers. User exclusions may overlap,
	// and so may nested reserved blocks, so several Removed sets can share addresses.
	Removed Set
}

// Scope is what a scan covers: the targets named and what was excluded from them.
type Scope struct {
	// Targets are the addresses to scan: Named minus every exclusion.
	Targets Set
	// Named are the addresses the target specifications name.
	Named Set
	// Excluded lists the user's exclusions in the order given (also those that
	// remove nothing), then each reserved block that removed addresses, in the
	// order of ReservedBlocks.
	Excluded []Exclusion
}

// ParseScope parses target specifications (as ParseTargets does) and applies
// exclusions:
//
//   - Reserved space: unless opts.NoDefaultExcludes, the addresses of
//     ReservedBlocks are removed from every target that does not lie wholly
//     inside one of those blocks. 0.0.0.0/0 loses 10.0.0.0/8, 127.0.0.0/8,
//     224.0.0.0/4 and the rest; 10.0.0.0/8, 10.1.0.0/16 or 198.19.0.0/16 named
//     as a target are scanned whole, since the user named reserved space on
//     purpose. Each address of a host name's answer counts as named.
//   - The user's exclusions: the addresses of opts.Exclude are removed.
//
// An error about a specification is a *[ParseError] (Kind KindTarget or
// KindExclusion). When nothing is left to scan the Scope is returned with an
// error wrapping [ErrAllExcluded], so that the caller can say why.
func ParseScope(specs []string, opts ScopeOptions) (Scope, error) {
	var sc Scope
	var named, whole, cut spans
	blocks := ReservedBlocks()
	all := reservedSpans(blocks)
	for _, spec := range specs {
		for tok := range strings.SplitSeq(spec, ",") {
			n4, n6 := len(named.v4), len(named.v6)
			if err := named.add(strings.TrimSpace(tok), opts.Lookup); err != nil {
				return sc, err
			}
			for _, r := range named.v4[n4:] {
				if opts.NoDefaultExcludes || insideAny(r, all.v4) {
					whole.v4 = append(whole.v4, r)
				} else {
					cut.v4 = append(cut.v4, r)
				}
			}
			for _, r := range named.v6[n6:] {
				if opts.NoDefaultExcludes || insideAny6(r, all.v6) {
					whole.v6 = append(whole.v6, r)
				} else {
					cut.v6 = append(cut.v6, r)
				}
			}
		}
	}
	if len(named.v4)+len(named.v6) == 0 {
		return sc, targetError("", "no targets given")
	}
	// named, whole and cut share no memory: set sorts in place.
	sc.Named = spans{v4: slices.Clone(named.v4), v6: slices.Clone(named.v6)}.set()
	allowed := whole.set()
	var reservedCuts []Exclusion
	if len(cut.v4)+len(cut.v6) > 0 {
		allowed = allowed.Union(cut.set().Subtract(all.set()))
		if dropped := sc.Named.Subtract(allowed); dropped.Len() > 0 {
			for _, b := range blocks {
				if in := dropped.Intersect(prefixSpans(b.Prefix).set()); in.Len() > 0 {
					reservedCuts = append(reservedCuts, Exclusion{Spec: b.Prefix.String(), Reserved: b, Default: true, Removed: in})
				}
			}
		}
	}

	var excluded spans
	for _, spec := range opts.Exclude {
		for tok := range strings.SplitSeq(spec, ",") {
			tok = strings.TrimSpace(tok)
			x := spans{unbounded: true}
			if err := x.add(tok, opts.Lookup); err != nil {
				var pe *ParseError
				if errors.As(err, &pe) {
					pe.Kind = KindExclusion
					pe.Reason = strings.Replace(pe.Reason, "empty target", "empty exclusion", 1)
				}
				return Scope{}, err
			}
			excluded.v4 = append(excluded.v4, x.v4...)
			excluded.v6 = append(excluded.v6, x.v6...)
			sc.Excluded = append(sc.Excluded, Exclusion{Spec: tok, Removed: allowed.Intersect(x.set())})
		}
	}
	sc.Excluded = append(sc.Excluded, reservedCuts...)
	sc.Targets = allowed.Subtract(excluded.set())
	if sc.Targets.Len() == 0 {
		return sc, ErrAllExcluded
	}
	return sc, nil
}

package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/fastscan/fastscan/target"
)

// parseScope parses the target specifications and applies the exclusions of the
// command line. Every error is a usage error of one line.
func parseScope(c *cli.Context, specs []string, lookup target.LookupFunc) (target.Scope, error) {
	return parseScopeDeferred(c, specs, lookup, nil)
}

// parseScopeDeferred is parseScope for the first parse, whose lookup stands host
// names in with placeholders: when deferred reports that it did, exclusions that
// leave nothing are not an error yet (they may match the placeholder, not the
// names' real addresses, which the second parse checks).
func parseScopeDeferred(c *cli.Context, specs []string, lookup target.LookupFunc, deferred func() bool) (target.Scope, error) {
	exclude := c.StringSlice("exclude")
	file := c.String("excludefile")
	if file != "" {
		more, err := readSpecFile("exclude", file)
		if err != nil {
			return target.Scope{}, err
		}
		exclude = append(exclude, more...)
	}
	sc, err := target.ParseScope(specs, target.ScopeOptions{
		Exclude:           exclude,
		NoDefaultExcludes: c.Bool("no-default-excludes"),
		Lookup:            lookup,
	})
	switch {
	case errors.Is(err, target.ErrAllExcluded) && deferred != nil && deferred():
		return sc, nil
	case errors.Is(err, target.ErrAllExcluded):
		return sc, usageError("%s", allExcludedMessage(sc, specs, c.StringSlice("exclude"), file))
	case err != nil:
		return sc, usageError("%v", err)
	}
	return sc, nil
}

// allExcludedMessage says, in one line, that the exclusions left nothing of the
// targets, naming what was given.
func allExcludedMessage(sc target.Scope, specs, exclude []string, file string) string {
	var by []string
	var reserved []string
	for _, x := range sc.Excluded {
		if x.Default && !insideOther(x, sc.Excluded) {
			reserved = append(reserved, fmt.Sprintf("%s %s", x.Spec, x.Reserved.Name))
		}
	}
	if len(exclude) > 0 {
		by = append(by, "--exclude "+shortList(exclude, 5))
	}
	if file != "" {
		by = append(by, fmt.Sprintf("--excludefile %q", file))
	}
	if len(reserved) > 0 {
		by = append(by, "the reserved blocks "+shortList(reserved, 4))
	}
	msg := fmt.Sprintf("no targets left: every address of %s is excluded (by %s)", shortList(specs, 5), strings.Join(by, " and "))
	if len(reserved) > 0 {
		msg += " (name a reserved block itself to scan it, or pass --no-default-excludes)"
	}
	return msg
}

// insideOther returns whether the reserved block of x lies in a larger reserved
// block among all.
func insideOther(x target.Exclusion, all []target.Exclusion) bool {
	return outerBlock(x, all) != ""
}

// outerBlock is the larger reserved block among all that holds x's, or "".
func outerBlock(x target.Exclusion, all []target.Exclusion) string {
	for _, y := range all {
		if y.Default && y.Reserved.Prefix.Bits() < x.Reserved.Prefix.Bits() && y.Reserved.Prefix.Contains(x.Reserved.Prefix.Addr()) {
			return y.Spec
		}
	}
	return ""
}

// shortList joins items with commas, at most n of them and a count of the rest.
func shortList(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:n], ", "), len(items)-n)
}

// readSpecFile reads a file of target specifications in the -iL format for the
// flag named what.
func readSpecFile(what, name string) ([]string, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, usageError("cannot read %s file %q: %v", what, name, errors.Unwrap(err))
	}
	defer f.Close()
	specs, err := target.ReadTargetFile(f)
	if err != nil {
		return nil, usageError("cannot read %s file %q: %v", what, name, err)
	}
	return specs, nil
}

package main

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/urfave/cli/v2"
)

// typedValue is the value of flag name as the user typed it on the command line
// (the last one given, under any of its names), so that an error quotes it as
// typed: "99999999999999999999", not the float64 it parsed to, "1e+20". Without
// the command line (a test's context), or when the flag was not typed, it is the
// flag's value as urfave/cli formats it.
func typedValue(c *cli.Context, name string) string {
	args, _ := c.Context.Value(argsKey{}).([]string)
	names := map[string]bool{name: true}
	for _, f := range c.App.Flags {
		if fn := f.Names(); len(fn) > 0 && fn[0] == name {
			for _, n := range fn {
				names[n] = true
			}
		}
	}
	v, found := "", false
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		if !strings.HasPrefix(a, "-") {
			continue
		}
		n, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !names[n] {
			continue
		}
		if hasVal {
			v, found = val, true
		} else if i+1 < len(args) {
			v, found = args[i+1], true
			i++
		}
	}
	if !found {
		return c.String(name)
	}
	return v
}

// flagParseError is the message of Go's flag package for a value it cannot parse.
var flagParseError = regexp.MustCompile(`^invalid value "(.*)" for flag -([^:]+): (.*)$`)

// flagError rewrites the flag parser's error about a bad value in fastscan's one
// line: the flag's name, the value as typed, and what is wanted (a duration needs
// a unit, a count a whole number). Other errors are returned as they are.
func flagError(flags []cli.Flag, err error) string {
	m := flagParseError.FindStringSubmatch(err.Error())
	if m == nil {
		return err.Error()
	}
	value, name, reason := m[1], m[2], m[3]
	for _, f := range flags {
		for _, n := range f.Names() {
			if n != name {
				continue
			}
			name = f.Names()[0]
			switch f.(type) {
			case *cli.DurationFlag:
				reason = "not a duration: give a number with a unit, like 5s, 500ms or 2m"
				if isNumber(value) {
					reason = fmt.Sprintf("a duration needs a unit, like %ss or %sms", value, value)
				}
			case *cli.IntFlag, *cli.UintFlag, *cli.Int64Flag, *cli.Uint64Flag:
				if strings.HasSuffix(reason, "value out of range") {
					reason = "number out of range"
				} else {
					reason = "not a whole number"
				}
			case *cli.Float64Flag:
				reason = "not a number"
			}
		}
	}
	return fmt.Sprintf("invalid %s %q: %s", name, value, reason)
}

// isNumber reports whether s is a plain decimal number, like 5 or 0.5.
func isNumber(s string) bool {
	return regexp.MustCompile(`^[0-9]+(\.[0-9]*)?$`).MatchString(s)
}

package main

// helpArgs turns "fastscan help [COMMAND]" into "fastscan [COMMAND] --help". Without
// it, "help" would be taken for a host name to scan (and looked up).
func helpArgs(args []string) []string {
	if len(args) < 2 || args[1] != "help" {
		return args
	}
	out := append([]string{args[0]}, args[2:]...)
	return append(out, "--help")
}

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/fastscan/fastscan/merge"
	"github.com/fastscan/fastscan/output"
	"github.com/fastscan/fastscan/result"
)

// exitIncomplete is merge's status when shards are missing: the outputs hold the
// shards that were there.
const exitIncomplete = 3

const mergeExamples = `Examples:
   fastscan merge shard-*.jsonl -oX scan.xml
        the shards' JSON lines as one nmap XML file
   fastscan merge shard-*.jsonl -o all.jsonl --format jsonl -oG scan.gnmap
        one JSON lines file and nmap's grepable layout at once
   cat shard-*.jsonl | fastscan merge -
        standard input too (- once), here as text

Each shard of a scan (fastscan --shard I/N, or --shards N under a Kubernetes Indexed
Job or a Slurm job array) writes JSON lines (--format jsonl or -oJ FILE) that start
with a scan record: the scan's id and the shard. merge reads them all, refuses files
of different scans, says which shards are missing or given twice (one line each),
keeps one result per address, port and protocol (a reply's verdict over silence,
else the newer), and writes the whole scan in any format, with the scan's own output
flags. Files may be given in any order; one file may hold several shards (cat).
Needs no privileges.

Exit status: 0 merged, every shard present; 3 merged, but shards are missing (the
outputs hold the others); 2 bad input (a file that cannot be read or is not
fastscan's JSON lines, files of different scans, a bad flag), one line naming the
file and line, and no output file touched; 1 an output could not be written.`

// mergeCommand returns "fastscan merge", which combines the JSON-lines outputs of
// the shards of one scan.
func mergeCommand() *cli.Command {
	flags := []cli.Flag{outputFlag(), formatFlag()}
	flags = append(flags, formatFileFlags()...)
	flags = append(flags,
		registryFileFlag(),
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no summary (missing and duplicated shards are still reported)"},
	)
	return &cli.Command{
		Name:        "merge",
		Usage:       "combine the JSON-lines outputs of a scan's shards into one output, in any format (no root needed)",
		UsageText:   "fastscan merge [flags] FILE...",
		Description: mergeExamples,
		Flags:       flags,
		Action:      runMerge,
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return usageError("%v (see fastscan merge --help)", err)
		},
	}
}

// runMerge reads every file of the command line, then writes the merged scan. Bad
// input is found before any output file is created.
func runMerge(c *cli.Context) error {
	stdout, stderr := c.App.Writer, c.App.ErrWriter
	files := c.Args().Slice()
	if len(files) == 0 {
		return usageError("no files to merge: fastscan merge [flags] FILE... (see fastscan merge --help)")
	}
	var s settings
	if err := parseOutputs(c, &s); err != nil {
		return err
	}
	var err error
	if s.services, err = loadRegistry(c.String("registry")); err != nil {
		return err
	}
	s.quiet = c.Bool("quiet")
	if err := checkOutputPaths(&s); err != nil {
		return err
	}
	if err := checkMergeInputs(&s, files); err != nil {
		return err
	}
	m, err := readShards(files, c.App.Reader)
	if err != nil {
		return err
	}
	if err := checkDestinations(&s); err != nil {
		return err
	}
	w, closeFiles, err := openOutputsFor(&s, stdout, mergedScan(m), nil)
	if err != nil {
		return err
	}
	defer closeFiles()
	for i := range m.Results {
		w.Write(&m.Results[i]) // a failure is kept by w and returned by Close
	}
	w.End(output.End{OpenEverywhere: m.OpenEverywhere}) // the hosts' status follows from their results
	if err := w.Close(); err != nil {
		if oe := outputFailure(err); oe != nil && oe.brokenPipe() {
			return cli.Exit("", exitBrokenPipe)
		}
		return cli.Exit(err.Error(), exitFailure)
	}
	reportMerge(stderr, m, files, s.quiet)
	if len(m.Missing) > 0 {
		return cli.Exit("", exitIncomplete)
	}
	return nil
}

// checkMergeInputs refuses standard output or an output file that is also an
// input (merging would truncate it before reading it), and standard input twice.
func checkMergeInputs(s *settings, files []string) error {
	outs := []outputPath{{"-o", s.output}}
	for _, x := range s.extra {
		outs = append(outs, outputPath{"-" + x.flag, x.file})
	}
	stdin := 0
	for _, in := range files {
		if in == stdinName {
			if stdin++; stdin > 1 {
				return usageError("standard input (-) given twice")
			}
			continue
		}
		inInfo, inErr := os.Stat(in)
		for _, o := range outs {
			if o.path == "" || o.path == stdoutName {
				continue
			}
			oInfo, oErr := os.Stat(o.path)
			if pathKey(o.path) == pathKey(in) || inErr == nil && oErr == nil && os.SameFile(inInfo, oInfo) {
				return usageError("output file %q (%s) is the input file %q: give the output another file", o.path, o.flag, in)
			}
		}
	}
	return nil
}

// stdinName is how merge's command line spells standard input.
const stdinName = "-"

// readShards reads every file (stdinName: stdin) into one merge. A file that cannot
// be read or holds bad input is a usage error naming it.
func readShards(files []string, stdin io.Reader) (*merge.Merged, error) {
	g := merge.New()
	for _, name := range files {
		if name == stdinName {
			if err := g.Read("standard input", stdin); err != nil {
				return nil, mergeInputError(err)
			}
			continue
		}
		f, err := os.Open(name)
		if err != nil {
			return nil, usageError("cannot read %q: %v", name, errors.Unwrap(err))
		}
		if st, err := f.Stat(); err == nil && st.IsDir() {
			f.Close()
			return nil, usageError("cannot read %q: is a directory", name)
		}
		err = g.Read(name, f)
		f.Close()
		if err != nil {
			return nil, mergeInputError(err)
		}
	}
	return g.Result(), nil
}

// mergeInputError is a merge error as a usage error: "FILE line N: what".
func mergeInputError(err error) error {
	var ie *merge.InputError
	if errors.As(err, &ie) && ie.Line == 0 {
		return usageError("cannot read %q: %v", ie.File, ie.Err)
	}
	return usageError("%v", err)
}

// mergedScan describes the merged scan for the writers: its id ("" for files
// without a scan record), when it started and ended, and the ports and hosts
// found in the results (the files hold results, not the scan's targets and port
// list). It is the whole scan: shard 0 of 1.
func mergedScan(m *merge.Merged) output.Scan {
	var tcp, udp []uint16
	hosts := map[[4]byte]struct{}{}
	for _, r := range m.Results {
		hosts[r.IP.As4()] = struct{}{}
		if r.Proto == result.UDP {
			udp = append(udp, r.Port)
		} else {
			tcp = append(tcp, r.Port)
		}
	}
	slices.Sort(tcp)
	slices.Sort(udp)
	tcp, udp = slices.Compact(tcp), slices.Compact(udp)
	scan := output.Scan{
		Args:        strings.Join(os.Args, " "),
		Start:       m.Start,
		Finished:    m.End,
		Ports:       compactPorts(tcp),
		NumPorts:    len(tcp),
		UDPPorts:    compactPorts(udp),
		NumUDPPorts: len(udp),
		Hosts:       uint64(len(hosts)),
		Version:     version,
		ID:          m.ScanID,
	}
	if scan.Start.IsZero() {
		scan.Start = time.Now()
		scan.Finished = scan.Start
	}
	scan.Hostname, _ = os.Hostname()
	return scan
}

// reportMerge writes what merge found wrong, one line each (always), and a summary
// (unless quiet).
func reportMerge(w io.Writer, m *merge.Merged, files []string, quiet bool) {
	of := ""
	if m.ScanID != "" {
		of = " of scan " + m.ScanID
	}
	for _, s := range m.Missing {
		fmt.Fprintf(w, "fastscan merge: shard %s%s is missing: no file holds its results\n", s, of)
	}
	for _, d := range m.Duplicated {
		fmt.Fprintf(w, "fastscan merge: shard %s is in more than one file (%s): its results are kept once\n", d.Shard, strings.Join(d.Files, ", "))
	}
	for _, f := range m.Empty {
		fmt.Fprintf(w, "fastscan merge: %s is empty, without even a scan record: not a shard's output (did its task start?)\n", f)
	}
	if m.Conflicts > 0 {
		fmt.Fprintf(w, "fastscan merge: %d ports have different verdicts in different lines: kept a reply's verdict over silence, else the newer\n", m.Conflicts)
	}
	if quiet {
		return
	}
	switch {
	case m.Count == 0:
		fmt.Fprintf(w, "fastscan merge: %d files, no results\n", len(files))
	default:
		fmt.Fprintf(w, "fastscan merge: %d files, %d of %d shards%s: %d results (%d duplicates removed)\n",
			len(files), m.Count-len(m.Missing), m.Count, of, len(m.Results), m.Removed)
	}
}

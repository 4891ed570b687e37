package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/fastscan/fastscan/engine"
	"github.com/fastscan/fastscan/output"
	"github.com/fastscan/fastscan/result"
	"github.com/fastscan/fastscan/route"
)

const needCapNetRaw = "sending raw packets needs CAP_NET_RAW: run fastscan with sudo, or grant it once with: sudo setcap cap_net_raw+ep $(command -v fastscan)"

// scan runs the scan the settings describe, writing results and a summary.
func scan(ctx context.Context, s settings, stdout, stderr io.Writer) error {
	if err := rawOrConnect(&s, stderr); err != nil { // or a connect scan instead
		return err
	}
	if err := checkResumeFiles(&s); err != nil { // before anything is changed
		return err
	}
	if err := checkCheckpointFree(&s); err != nil {
		return err
	}
	// The metrics listener, before anything is sent or created and while the
	// scan still has the privileges a port below 1024 needs.
	ms, err := listenMetrics(&s)
	if err != nil {
		return err
	}
	defer ms.close()
	s.cfg.Notice = func(msg string) {
		if !s.quiet {
			fmt.Fprintln(stderr, "fastscan: "+msg)
		}
	}
	var capture *output.Pcap // set before Run, after Prepare
	if s.pcap != "" {
		s.cfg.Capture = func(frame []byte, tsNanos int64) { capture.Capture(frame, tsNanos) }
	}
	s.cfg.TrackHidden = true // the checkpoint counts targets whose verdict --show hides
	if rs := s.resume; rs != nil {
		answered, err := rs.ck.answered()
		if err != nil {
			return usageError("cannot resume from %q: %v", rs.path, err)
		}
		s.cfg.Resume = &engine.Resume{Pass: rs.ck.Pass, Position: rs.ck.Position, Answered: func(yield func(uint64) bool) {
			for it := answered.Iterator(); it.HasNext(); {
				if !yield(it.Next()) {
					return
				}
			}
		}}
	}
	var sv *serviceScan // -sV: open ports held until identified (services.go)
	if s.sv.enabled {
		// After its last pass the scan keeps receiving, while a target is
		// unanswered, until --wait (serviceScan.linger).
		s.cfg.Linger = func(ctx context.Context, settled func() bool) { sv.linger(ctx, settled) }
		// --adaptive: new connections follow the scan's rate (-r at first).
		s.cfg.RateChanged = func(c engine.RateChange) { sv.rateChanged(c) }
	}
	scanner, err := engine.New(s.cfg)
	if err != nil {
		return cli.Exit(err.Error(), exitFailure)
	}
	if err := ms.serve(ctx, scanner, s.cfg.Rate, stderr, s.quiet); err != nil {
		return err
	}
	// Routes, ARP, probes and sockets before any file is created: what the user
	// asked for, or the machine, may refuse the scan here.
	if err := scanner.Prepare(ctx); err != nil {
		if ctx.Err() != nil {
			return cli.Exit("", interruptedStatus(ctx))
		}
		return runError(err)
	}
	defer scanner.Close() // Run closes the link; this is for the paths that never run
	// Whom to become, decided before any file is created; priv.drop before Run.
	priv, err := planPrivilegeDrop(&s)
	if err != nil {
		return err
	}
	// Every destination can be written, or nothing is touched.
	if err := checkDestinations(&s); err != nil {
		return err
	}
	if s.pcap != "" {
		f, p, err := openPcap(&s)
		if err != nil {
			return err
		}
		defer f.Close()
		capture = p
	}
	// A signal, or an output that fails, stops the scan the same orderly way:
	// the replies still arriving are written to every output that works.
	ctx, stopScan := context.WithCancelCause(ctx)
	defer stopScan(nil)
	w, closeFiles, err := openOutputs(&s, stdout, stopScan)
	if err != nil {
		return err
	}
	defer closeFiles()
	// The checkpoint, opened before privileges are dropped.
	var ckFile *checkpointFileWriter
	var ckPath string
	if s.resumeFile != "" || s.resume != nil { // --sort keeps none
		if ckFile, ckPath, err = openCheckpoint(&s, s.cfg.Notice); err != nil {
			return err
		}
	}
	var ck *checkpointer
	if ckFile != nil {
		if ck, err = newCheckpointer(ckFile, ckPath, &s, scanner, w, s.cfg.Notice); err != nil {
			ckFile.close()
			return usageError("cannot resume: %v", err)
		}
		// A new scan that stops before its first checkpoint leaves no empty file.
		defer func() {
			if s.resume == nil && !ck.written {
				ckFile.unlink(ckPath)
				ckFile.close()
			}
		}()
	}

	var stopStatus func(engine.Summary)
	if s.status != "" {
		dst := stderr
		if s.status != "-" {
			f, err := os.Create(s.status)
			if err != nil {
				return usageError("cannot write status file %q: %v", s.status, errors.Unwrap(err))
			}
			defer f.Close()
			dst = f
		}
		stopStatus = writeStatus(dst, scanner.Progress, scanner.RateChanges, s.cfg.Rate)
	}
	// -v and -d: the plan and the internals, just before sending.
	announce(stderr, &s, route.Lookup)
	if err := priv.drop(stderr, s.quiet); err != nil { // sockets and files are open
		return err
	}
	var stopProgress func()
	if !s.quiet && isTerminal(stderr) && s.status != "-" {
		stopProgress = showProgress(stderr, scanner, s.cfg.Rate)
	}
	w.Flush() // the headers (nmap XML, grepable, CSV, list) before the first probe
	stopFlush := w.flushEvery(flushInterval)
	stopCheckpoints := func() {}
	if ck != nil {
		ck.write(false) // before the first probe
		stopCheckpoints = ck.every()
	}
	emit := w.Write
	// svProgress ends the scan's progress line and returns where the
	// identification's goes (nil: nowhere). The engine's sender calls it
	// (serviceScan.linger) before Run returns, this goroutine after.
	svProgress := func() io.Writer {
		if stopProgress != nil {
			stopProgress()
			stopProgress = nil
		}
		if !s.quiet && isTerminal(stderr) && s.status != "-" {
			return stderr
		}
		return nil
	}
	if s.sv.enabled {
		if sv, err = startServices(ctx, &s, w.Write); err != nil {
			return cli.Exit(err.Error(), exitFailure)
		}
		sv.progressTo = svProgress
		emit = sv.emit
	}
	sum, runErr := scanner.Run(ctx, emit)
	if sv != nil {
		if sv.wait(svProgress()) && runErr == nil {
			sum.Interrupted = true // a signal cut the identification short
		}
		sv.adjust(&sum)
	}
	stopFlush()
	stopCheckpoints()
	completed := runErr == nil && !sum.Interrupted
	if ck != nil {
		// The last checkpoint, before the writers' footers: a resumed scan cuts
		// them off and continues.
		ck.write(completed)
	}
	if stopProgress != nil {
		stopProgress()
	}
	if stopStatus != nil {
		stopStatus(sum)
	}
	ms.finish(sum)
	end := scanEnd(ctx, sum, runErr)
	end.HostsProbed, end.HostsUp = sum.HostsProbed, sum.HostsUp
	end.HostUp = scanner.HostStatus
	w.End(end)
	closeErr := w.Close()
	if ck != nil {
		if completed && closeErr == nil {
			ck.remove()
		} else {
			ck.close()
		}
	}
	if capture != nil {
		if err := capture.Close(); err != nil && closeErr == nil {
			closeErr = err
		}
		if n := capture.Dropped(); n > 0 && !s.quiet {
			fmt.Fprintf(stderr, "fastscan: %d replies were not written to %s: the disk was slower than the replies\n", n, s.pcap)
		}
	}
	if ck != nil && !(completed && closeErr == nil) && ck.written && !s.quiet {
		defer fmt.Fprintf(stderr, "fastscan: to finish this scan later: fastscan --resume %s\n", shellQuote(s.resumeFile))
	}
	if runErr != nil {
		return runError(runErr)
	}
	if s.syslogWriter != nil && !s.quiet {
		if n := s.syslogWriter.Undelivered(); n > 0 {
			fmt.Fprintf(stderr, "fastscan: %d of %d results could not be delivered to syslog %s\n", n, n+s.syslogWriter.Sent(), s.syslog)
		}
	}
	interrupted := sum.Interrupted || closeErr != nil
	if !s.quiet {
		writeSummary(stderr, &s, sum, interrupted)
		if sv != nil {
			io.WriteString(stderr, sv.summary())
		}
	}
	announceEnd(stderr, &s, sum) // -vv, -d
	return endStatus(ctx, closeErr, interrupted)
}

// endStatus is the exit of a scan that ran: a signal's status (128 + its number)
// when a signal stopped it, even if an output failed after it (a terminal gone
// with its SSH session); SIGPIPE's (141) for a broken standard output; 1 with
// the failure (naming the file) for another output error; success otherwise.
func endStatus(ctx context.Context, closeErr error, interrupted bool) error {
	var sc signalCause
	signalled := errors.As(context.Cause(ctx), &sc)
	msg := ""
	if closeErr != nil {
		msg = closeErr.Error()
	}
	oe := outputFailure(closeErr)
	switch {
	case signalled:
		return cli.Exit(msg, interruptedStatus(ctx))
	case oe != nil && oe.brokenPipe():
		return cli.Exit("", exitBrokenPipe)
	case closeErr != nil:
		return cli.Exit(msg, exitFailure)
	case interrupted:
		return cli.Exit("", interruptedStatus(ctx))
	}
	return nil
}

// runError is the exit of a scan that failed with err: the usage status for what
// the user asked for wrongly, advice for missing privileges, a failure otherwise.
func runError(err error) error {
	var usage *engine.UsageError
	switch {
	case errors.As(err, &usage):
		return usageError("%v", usage)
	case errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES):
		return cli.Exit(needCapNetRaw, exitFailure)
	}
	return cli.Exit(err.Error(), exitFailure)
}

// scanEnd is how the scan ended, for the writers: interrupted (and by what), or
// stopped by runErr.
func scanEnd(ctx context.Context, sum engine.Summary, runErr error) output.End {
	end := output.End{Interrupted: sum.Interrupted, OpenEverywhere: sum.OpenEverywhere}
	if oe := outputFailure(context.Cause(ctx)); oe != nil {
		// An output that failed stopped the scan: not an interruption.
		end.Interrupted, end.Err = false, oe.Error()
	} else if sum.Interrupted {
		// A signal's cause reads "interrupt signal received" (and errors.Is it
		// context.Canceled, so compare the plain cancellation itself).
		if cause := context.Cause(ctx); cause != nil && cause != context.Canceled {
			end.Err = cause.Error()
		}
	}
	if runErr != nil {
		end.Err = runErr.Error()
	}
	return end
}

// openOutputs creates the writers the settings ask for: the main format on standard
// output or -o FILE, and each -oX FILE ("-": standard output). Every file is
// created before anything is sent; closeFiles closes them after the writers were
// closed. An output that fails calls fail (which stops the scan).
func openOutputs(s *settings, stdout io.Writer, fail func(error)) (w *outputSet, closeFiles func(), err error) {
	return openOutputsFor(s, stdout, scanInfo(s), fail)
}

// scanInfo describes the scan of the settings for the writers, starting now.
func scanInfo(s *settings) output.Scan {
	scan := output.Scan{
		Args:        strings.Join(os.Args, " "),
		Start:       time.Now(),
		Ports:       s.portSpec,
		NumPorts:    s.cfg.Ports.Len(),
		UDPPorts:    s.udpPortSpec,
		NumUDPPorts: s.cfg.UDPPorts.Len(),
		Hosts:       s.cfg.Targets.Len(),
		Version:     version,
		ID:          scanID(s),
	}
	if s.shard.from != "" { // a sharded run: JSON lines start with the scan record
		scan.Shard, scan.Shards = s.cfg.Shard, s.cfg.Shards
	}
	scan.Hostname, _ = os.Hostname()
	return scan
}

// openOutputsFor is openOutputs for the scan described by scan.
func openOutputsFor(s *settings, stdout io.Writer, scan output.Scan, fail func(error)) (w *outputSet, closeFiles func(), err error) {
	var files []*os.File
	closeFiles = func() {
		for _, f := range files {
			f.Close()
		}
	}
	set := &outputSet{fail: fail}
	open := func(format, name string) error {
		dst := stdout
		if name == stdoutName {
			name = ""
		}
		no := &namedOutput{file: name, format: format}
		var kept []result.Result
		if name != "" {
			f, rec, err := createOutput(s, name)
			if err != nil {
				return err
			}
			files = append(files, f)
			dst = f
			if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
				no.f = f // /dev/null and pipes have nothing to sync
				// The checkpoint records a digest of what the file holds.
				no.digest = &digestWriter{w: f, h: sha256.New()}
				if s.resume != nil {
					no.digest.h, no.digest.n = s.resume.digests[pathKey(name)], rec.Length
				}
				dst = no.digest
			}
			no.path, _ = filepath.Abs(name)
			no.base, kept = rec.Length, keptOf(rec)
		}
		o := output.Options{Services: s.services, Scan: scan}
		var x output.Writer
		var err error
		if format == "text" && s.sorted != nil {
			t := output.NewSortedText(dst, o)
			s.sorted.outs = append(s.sorted.outs, t)
			x = t
		} else if x, err = output.New(format, dst, o); err != nil {
			return err
		}
		no.w = x
		if r, ok := x.(output.Resumable); ok && name != "" {
			no.res = r
			if s.resume != nil {
				r.Continue(kept)
			}
		}
		set.outs = append(set.outs, no)
		return nil
	}
	if err := open(s.format, s.output); err != nil {
		closeFiles()
		return nil, nil, err
	}
	for _, o := range s.extra {
		if err := open(o.format, o.file); err != nil {
			closeFiles()
			return nil, nil, err
		}
	}
	if s.syslog != "" {
		sl, err := output.NewSyslog(s.syslog, output.Options{Services: s.services, Scan: scan}, s.syslogAs, scan.Hostname)
		if err != nil {
			closeFiles()
			return nil, nil, usageError("%v", err)
		}
		s.syslogWriter = sl
		set.outs = append(set.outs, &namedOutput{file: s.syslog, w: sl})
	}
	return set, closeFiles, nil
}

// createOutput creates the output file name, or for a resumed scan opens it cut
// back to the length its checkpoint recorded (rec), positioned at its end.
func createOutput(s *settings, name string) (*os.File, checkpointFile, error) {
	if s.resume == nil {
		f, err := os.Create(name)
		if err != nil {
			return nil, checkpointFile{}, usageError("cannot write output file %q: %v", name, errors.Unwrap(err))
		}
		return f, checkpointFile{}, nil
	}
	rec, ok := s.resume.file(name)
	if !ok {
		return nil, rec, usageError("cannot resume from %q: it does not record the output file %q", s.resume.path, name)
	}
	f, err := os.OpenFile(name, os.O_WRONLY, 0)
	if err == nil {
		if err = f.Truncate(rec.Length); err == nil {
			_, err = f.Seek(rec.Length, io.SeekStart)
		}
		if err != nil {
			f.Close()
		}
	}
	if err != nil {
		return nil, rec, usageError("cannot continue output file %q: %v", name, errors.Unwrap(err))
	}
	return f, rec, nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// showProgress redraws one progress line on w until the returned stop is called.
func showProgress(w io.Writer, sc *engine.Scanner, rate float64) (stop func()) {
	var lastSent uint64
	last := time.Now()
	stopTicks := runEvery(progressInterval, func(now time.Time) {
		p := sc.Progress()
		pps := float64(p.Sent-lastSent) / now.Sub(last).Seconds()
		lastSent, last = p.Sent, now
		fmt.Fprint(w, "\r\033[K"+progressLine(p, pps, rate))
	})
	return func() {
		stopTicks()
		fmt.Fprint(w, "\r\033[K")
	}
}

// progressLine formats one progress line: phase, rate, percentage, ETA (of the
// whole scan: the engine's estimate, retries and cool-downs included), found so far.
func progressLine(p engine.Progress, pps, rate float64) string {
	pct := 0.0
	if p.Targets > 0 {
		pct = 100 * float64(p.Position) / float64(p.Targets)
	}
	eta := p.Remaining.Round(time.Second) // retry passes and cool-downs included
	phase := p.Phase.String()
	if p.Pass > 0 {
		phase = fmt.Sprintf("%s (retry %d)", phase, p.Pass)
	}
	line := fmt.Sprintf("%s: %5.1f%% %8.0f pps, ETA %v, sent %d, open %d, closed %d",
		phase, pct, pps, eta, p.Sent, p.Open, p.Closed)
	if loss, ok := p.Loss.Estimate(); ok {
		line += fmt.Sprintf(", loss %.1f%%", 100*loss)
	}
	if p.Rate != rate && p.Rate > 0 {
		line += fmt.Sprintf(", rate %.0f/s", p.Rate)
	}
	return line
}

func writeSummary(w io.Writer, s *settings, sum engine.Summary, interrupted bool) {
	var b strings.Builder
	secs := sum.Elapsed.Seconds()
	status := "done"
	if interrupted {
		status = "interrupted"
	}
	from := sum.SourceIP.String()
	if sum.SourceIP6.IsValid() {
		from += " and " + sum.SourceIP6.String()
	}
	fmt.Fprintf(&b, "fastscan %s: %d addresses x %d ports on %s from %s in %.2fs\n",
		status, s.cfg.Targets.Len(), s.cfg.Ports.Len()+s.cfg.UDPPorts.Len(), sum.Interface, from, secs)
	if s.cfg.Connect {
		fmt.Fprintf(&b, "  scan: %s; a probe is a connection\n", scanKind(s))
	}
	if s.cfg.Shards > 1 {
		fmt.Fprintf(&b, "  shard %d/%d: %d of the scan's targets, scan id %s\n", s.cfg.Shard, s.cfg.Shards, sum.Targets, scanID(s))
	}
	// The rate of the passes and cool-downs: not the time -sV kept the
	// scan receiving after them (Linger).
	fmt.Fprintf(&b, "  probes sent %d (%.0f/s), replies %d\n", sum.Sent, float64(sum.Sent)/max(secs-sum.Linger.Seconds(), 1e-9), sum.Replies)
	if interrupted {
		fmt.Fprintf(&b, "  open %d, closed %d, filtered %d so far (stopped in pass %d at %.1f%%), hosts down %d\n",
			sum.Open, sum.Closed, sum.Filtered, sum.Pass, 100*float64(sum.Position)/float64(max(sum.Targets, 1)), sum.HostsDown)
	} else {
		fmt.Fprintf(&b, "  open %d, closed %d, filtered %d (%d no response), ", sum.Open, sum.Closed, sum.Filtered+sum.NoResponse, sum.NoResponse)
		if s.cfg.UDPPorts.Len() > 0 {
			fmt.Fprintf(&b, "open|filtered %d, ", sum.OpenFiltered)
		}
		fmt.Fprintf(&b, "hosts down %d\n", sum.HostsDown)
	}
	drops := fmt.Sprint(sum.RingDrops)
	if sum.DropPasses > 0 {
		drops += fmt.Sprintf(" (%d more retry %s for them)", sum.DropPasses, plural(uint64(sum.DropPasses), "pass", "passes"))
	}
	fmt.Fprintf(&b, "  ring drops %s, invalid replies %d, duplicates %d, second answers %d, waited for replies %.2fs\n",
		drops, sum.Invalid, sum.Duplicates, sum.SecondAnswers, sum.CoolDown.Seconds())
	writeLoss(&b, s, sum)
	writeOpenEverywhere(&b, sum.OpenEverywhere, s.sv.enabled)
	io.WriteString(w, b.String())
}

// highLoss is the estimated loss from which the summary suggests a lower rate.
const highLoss = 0.05

// writeLoss writes the summary's loss estimate lines: the estimate and the
// rate it holds for, the samples, the rate changes of --adaptive, a hint when
// the loss is high.
func writeLoss(b *strings.Builder, s *settings, sum engine.Summary) {
	l := sum.Loss
	if !s.cfg.EstimateLoss || l.Pairs == 0 {
		return
	}
	loss, ok := l.Estimate()
	if !ok {
		fmt.Fprintf(b, "  loss not estimated: %d of %d targets probed twice answered (at least %d needed)\n", l.Answered, l.Pairs, engine.LossMinAnswered)
		return
	}
	fmt.Fprintf(b, "  estimated loss %.1f%% at %s/s (%d targets probed twice: %d answered, %d of them only once)\n",
		100*loss, groupThousands(sum.Rate), l.Pairs, l.Answered, l.One)
	if n := len(sum.RateChanges); n > 0 {
		fmt.Fprintf(b, "  adaptive: the rate changed %d times, from %s/s to %s/s\n", n, groupThousands(s.cfg.Rate), groupThousands(sum.Rate))
	}
	if loss >= highLoss {
		if s.cfg.Adaptive {
			fmt.Fprintf(b, "  hint: %.0f%% of the probes were lost: more --retries, or a lower -r, would find more\n", 100*loss)
		} else {
			fmt.Fprintf(b, "  hint: %.0f%% of the probes were lost at this rate: a lower -r, or --adaptive, would find more\n", 100*loss)
		}
	}
}

// groupThousands writes a rate rounded to a whole number with thousands
// separators: 300,000.
func groupThousands(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

// shellQuote quotes name for a shell command line when it needs it.
func shellQuote(name string) string {
	if name != "" && strings.IndexFunc(name, func(r rune) bool {
		return !(r == '/' || r == '.' || r == '-' || r == '_' || r == '+' || r == ',' || r == ':' || r == '@' ||
			'0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z')
	}) < 0 {
		return name
	}
	return "'" + strings.ReplaceAll(name, "'", `'\''`) + "'"
}

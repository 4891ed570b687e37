package compare

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Run is one run of one tool on one workload.
type Run struct {
	Wall      time.Duration // start to exit
	Missed    int           // open ports of the truth not found
	Extra     int           // findings not open in the truth
	MaxRSSKiB int64         // peak resident set size (wait4 rusage ru_maxrss)
	// CPU is the whole machine's CPU time during the run (see CPUTimes).
	CPU CPUTimes
	// Failed says why the run did not complete (timeout, exit status,
	// unreadable output); its other fields are then not meaningful.
	Failed string
}

// Cell is one row of the table: one tool on one workload, over rounds.
type Cell struct {
	Workload string
	Tool     string
	// NA, when not empty, is why the tool cannot do the workload: the row
	// shows n/a with this reason and Runs is empty.
	NA string
	// Note is shown in the row's last column (how the tool was run, a caveat).
	Note string
	Runs []Run
}

// completed returns the runs that completed.
func (c Cell) completed() []Run {
	var out []Run
	for _, r := range c.Runs {
		if r.Failed == "" {
			out = append(out, r)
		}
	}
	return out
}

// MedianWall returns the median wall time of the completed runs (the mean of
// the middle two for an even count) and false when none completed.
func (c Cell) MedianWall() (time.Duration, bool) {
	runs := c.completed()
	if len(runs) == 0 {
		return 0, false
	}
	return median(runs, func(r Run) time.Duration { return r.Wall }), true
}

// median returns the median of v over runs (not empty), the mean of the
// middle two for an even count.
func median(runs []Run, v func(Run) time.Duration) time.Duration {
	d := make([]time.Duration, len(runs))
	for i, r := range runs {
		d[i] = v(r)
	}
	slices.Sort(d)
	n := len(d)
	if n%2 == 1 {
		return d[n/2]
	}
	return (d[n/2-1] + d[n/2]) / 2
}

// spread formats the values of the completed runs as "v" when they are all
// equal, else "min-max".
func spread(runs []Run, v func(Run) int) string {
	lo, hi := v(runs[0]), v(runs[0])
	for _, r := range runs[1:] {
		lo, hi = min(lo, v(r)), max(hi, v(r))
	}
	if lo == hi {
		return fmt.Sprint(lo)
	}
	return fmt.Sprintf("%d-%d", lo, hi)
}

// Render writes the cells as one Markdown table, in the order given. Each
// tool's median wall time is also shown as a ratio to the median of the
// baseline tool's cell of the same workload.
func Render(w io.Writer, baseline string, cells []Cell) error {
	base := map[string]time.Duration{}
	for _, c := range cells {
		if c.Tool == baseline {
			if d, ok := c.MedianWall(); ok {
				base[c.Workload] = d
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "| workload | tool | median wall | vs %s | open missed | extra | peak RSS | user CPU | kernel CPU | runs | note |\n", baseline)
	b.WriteString("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n")
	for _, c := range cells {
		if c.NA != "" {
			fmt.Fprintf(&b, "| %s | %s | n/a | n/a | n/a | n/a | n/a | n/a | n/a | 0 | %s |\n", c.Workload, c.Tool, cellText(c.NA))
			continue
		}
		runs := c.completed()
		note := c.Note
		var failed []string
		for _, r := range c.Runs {
			if r.Failed != "" && !slices.Contains(failed, r.Failed) {
				failed = append(failed, r.Failed)
			}
		}
		if len(failed) > 0 {
			note = strings.TrimPrefix(note+"; "+strings.Join(failed, "; "), "; ")
		}
		counted := fmt.Sprintf("%d/%d", len(runs), len(c.Runs))
		med, ok := c.MedianWall()
		if !ok {
			fmt.Fprintf(&b, "| %s | %s | n/a | n/a | n/a | n/a | n/a | n/a | n/a | %s | %s |\n", c.Workload, c.Tool, counted, cellText(note))
			continue
		}
		ratio := "n/a"
		if bd, ok := base[c.Workload]; ok && bd > 0 {
			ratio = fmt.Sprintf("%.2fx", med.Seconds()/bd.Seconds())
		}
		var rss int64
		for _, r := range runs {
			rss = max(rss, r.MaxRSSKiB)
		}
		fmt.Fprintf(&b, "| %s | %s | %.2f s | %s | %s | %s | %.1f MiB | %.2f s | %.2f s | %s | %s |\n",
			c.Workload, c.Tool, med.Seconds(), ratio,
			spread(runs, func(r Run) int { return r.Missed }),
			spread(runs, func(r Run) int { return r.Extra }),
			float64(rss)/1024,
			median(runs, func(r Run) time.Duration { return r.CPU.User }).Seconds(),
			median(runs, func(r Run) time.Duration { return r.CPU.Kernel }).Seconds(),
			counted, cellText(note))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// cellText makes s safe inside a Markdown table cell.
func cellText(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "|", "\\|"), "\n", " ")
}

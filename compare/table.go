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

// failure is why the run did not complete ("" when it did).
func (r Run) failure() string { return r.Failed }

// failer is a run of either table (Run, IDRun).
type failer interface {
	failure() string
}

// completed returns the runs that completed, in order.
func completed[R failer](runs []R) []R {
	var out []R
	for _, r := range runs {
		if r.failure() == "" {
			out = append(out, r)
		}
	}
	return out
}

// failures returns each distinct failure of runs, in order.
func failures[R failer](runs []R) []string {
	var out []string
	for _, r := range runs {
		if f := r.failure(); f != "" && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// withNotes returns note followed by more, joined by "; " (note alone when
// more is empty; no leading "; " when note is empty).
func withNotes(note string, more []string) string {
	if len(more) == 0 {
		return note
	}
	return strings.TrimPrefix(note+"; "+strings.Join(more, "; "), "; ")
}

// MedianWall returns the median wall time of the completed runs (the mean of
// the middle two for an even count) and false when none completed.
func (c Cell) MedianWall() (time.Duration, bool) {
	runs := completed(c.Runs)
	if len(runs) == 0 {
		return 0, false
	}
	return median(runs, func(r Run) time.Duration { return r.Wall }), true
}

// median returns the median of v over runs (not empty), the mean of the
// middle two for an even count.
func median[R any](runs []R, v func(R) time.Duration) time.Duration {
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

// spread formats the values of the runs (not empty) as "v" when they are
// all equal, else "min-max".
func spread[R any](runs []R, v func(R) int) string {
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
		runs := completed(c.Runs)
		note := withNotes(c.Note, failures(c.Runs))
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

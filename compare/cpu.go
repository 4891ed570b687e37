package compare

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// CPUTimes is the machine's cumulative CPU time by kind, summed over all CPUs,
// as the first line of /proc/stat counts it. The difference of two readings
// taken around a run says where the machine's time went during it: User is
// mostly the tool itself, Kernel (system + irq + softirq) is mostly packet
// processing, of the scanner's namespace and of the lab's remote side alike,
// since both share this machine's CPUs.
type CPUTimes struct {
	User   time.Duration // user + nice
	Kernel time.Duration // system + irq + softirq
	Idle   time.Duration // idle + iowait
	Steal  time.Duration // taken by the hypervisor
}

// Sub returns the CPU time spent between the readings earlier and c.
func (c CPUTimes) Sub(earlier CPUTimes) CPUTimes {
	return CPUTimes{
		User:   c.User - earlier.User,
		Kernel: c.Kernel - earlier.Kernel,
		Idle:   c.Idle - earlier.Idle,
		Steal:  c.Steal - earlier.Steal,
	}
}

// userHz is the unit of /proc/stat's counters (USER_HZ, 100 on Linux for
// every architecture fastscan builds for).
const userHz = 100

// ParseProcStat reads the aggregate "cpu" line of /proc/stat.
func ParseProcStat(r io.Reader) (CPUTimes, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || f[0] != "cpu" {
			continue
		}
		// cpu user nice system idle iowait irq softirq steal ...
		if len(f) < 9 {
			return CPUTimes{}, fmt.Errorf("/proc/stat: cpu line has %d fields, want at least 9", len(f))
		}
		var v [8]int64
		for i := range v {
			n, err := strconv.ParseInt(f[i+1], 10, 64)
			if err != nil {
				return CPUTimes{}, fmt.Errorf("/proc/stat: cpu field %d %q: %w", i+1, f[i+1], err)
			}
			v[i] = n
		}
		tick := time.Second / userHz
		return CPUTimes{
			User:   time.Duration(v[0]+v[1]) * tick,
			Kernel: time.Duration(v[2]+v[5]+v[6]) * tick,
			Idle:   time.Duration(v[3]+v[4]) * tick,
			Steal:  time.Duration(v[7]) * tick,
		}, nil
	}
	if err := sc.Err(); err != nil {
		return CPUTimes{}, fmt.Errorf("/proc/stat: %w", err)
	}
	return CPUTimes{}, fmt.Errorf("/proc/stat: no aggregate cpu line")
}

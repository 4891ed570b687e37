package engine

import "golang.org/x/sys/unix"

// affinityCPUs is the number of CPUs in this process's scheduler affinity mask,
// 0 if it cannot be read.
func affinityCPUs() int {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return 0
	}
	return set.Count()
}

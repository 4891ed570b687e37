//go:build !linux

package engine

// affinityCPUs is 0 where there is no scheduler affinity mask to read.
func affinityCPUs() int { return 0 }

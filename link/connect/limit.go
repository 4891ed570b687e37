package connect

import "fmt"

// MaxParallelism bounds Options.Parallelism: more connections in flight than
// local ports would not help.
const MaxParallelism = 1 << 16

// Parallelism returns how many connections may be in flight at once under the
// soft open-file limit soft: requested, lowered to leave the rest of the
// process (outputs, the epoll set, the runtime's own descriptors) a reserve of
// an eighth of the limit and at least 64 descriptors. An error when that leaves
// fewer than MinParallelism.
func Parallelism(requested int, soft uint64) (int, error) {
	reserve := max(uint64(64), soft/8)
	var avail uint64
	if soft > reserve {
		avail = soft - reserve
	}
	if avail < MinParallelism {
		return 0, fmt.Errorf("connect scan: the open-file limit %d leaves room for %d connections, at least %d needed (raise it: ulimit -n)", soft, avail, MinParallelism)
	}
	return int(min(uint64(max(requested, 1)), avail, MaxParallelism)), nil
}

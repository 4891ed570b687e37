#!/usr/bin/env bash
# fuzz.sh BUDGET: run every fuzz test of the project (found with go test -list) with
# go test -fuzztime BUDGET: a duration (15s) or a count of executions (300000x).
#
# A failing input is written by go to the package's testdata/fuzz/FuzzName; the run
# fails and names it, to reproduce with go test -run FuzzName/ID.
#
# One failure is not a finding: with a duration budget, go's fuzzing coordinator can
# end a target with a bare "context deadline exceeded" when its deadline fires while
# a worker is still mid-call on a loaded machine (a race in the coordinator, no
# input written). Such a run is accepted only when no new input was written and the
# target's seed corpus then passes on its own; anything else fails.
set -uo pipefail
cd "$(dirname "$0")/.."

budget="${1:?usage: scripts/fuzz.sh BUDGET (e.g. 15s or 300000x)}"
GO="${GO:-go}"

list="$($GO test -list '^Fuzz' ./...)" || { echo "$list"; exit 1; }
# go test -list prints the names of a package, then "ok  <package> ...".
pairs="$(echo "$list" | awk '/^Fuzz/ { names = names " " $1 }
	/^ok/ { n = split(names, a, " "); for (i = 1; i <= n; i++) print $2 "," a[i]; names = "" }')"
[ -n "$pairs" ] || { echo "fuzz: no fuzz tests found"; exit 1; }

# A count budget gets a hard time limit, in case a target hangs; a duration is its
# own limit (go test's -timeout would cut a long one short).
case "$budget" in
*x) timeout=10m ;;
*) timeout=0 ;;
esac

log="$(mktemp)"
trap 'rm -f "$log"' EXIT

inputs() { # the inputs go has written for fuzz test $2 of package $1
	local dir
	dir="$($GO list -f '{{.Dir}}' "$1")/testdata/fuzz/$2"
	[ -d "$dir" ] && ls "$dir" | sort
}

failed=""
for p in $pairs; do
	pkg="${p%,*}" name="${p#*,}"
	echo "fuzz: $name in $pkg for $budget"
	before="$(inputs "$pkg" "$name")"
	$GO test -run '^$' -fuzz "^$name\$" -fuzztime "$budget" -timeout "$timeout" "$pkg" 2>&1 | tee "$log"
	[ "${PIPESTATUS[0]}" -eq 0 ] && continue
	after="$(inputs "$pkg" "$name")"
	if [ "$before" = "$after" ] &&
		grep -q '^    context deadline exceeded$' "$log" &&
		! grep -q -e 'Failing input' -e '^panic:' "$log" &&
		$GO test -count=1 -run "^$name\$" "$pkg" >/dev/null; then
		echo "fuzz: $name: go's fuzzing coordinator stopped on its own deadline (context deadline exceeded), no input written, seed corpus passes: not a finding"
		continue
	fi
	failed="$failed $pkg.$name"
done
if [ -n "$failed" ]; then
	echo "fuzz: failed:$failed"
	exit 1
fi
echo "fuzz: every fuzz test passed"

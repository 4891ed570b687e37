#!/usr/bin/env bash
# benchcompare.sh REF REGEX [ROUNDS] [BENCHTIME]: run the benchmarks of bench/ that
# match REGEX on this tree and on git revision REF (main, say) side by side, in one
# run of one machine: both test binaries are built first (REF's tree with this tree's
# bench/*_test.go, so both run the same benchmarks against their own packages), then
# run alternately ROUNDS times (default 5) with -benchtime BENCHTIME (default 1s).
# Prints, per benchmark and metric, the median of each and the ratio new/old.
#
#	scripts/benchcompare.sh main 'Table|EngineSend|EngineReplies' 5 3x
set -euo pipefail
cd "$(dirname "$0")/.."
ref="${1:?usage: scripts/benchcompare.sh REF REGEX [ROUNDS] [BENCHTIME]}"
regex="${2:?usage: scripts/benchcompare.sh REF REGEX [ROUNDS] [BENCHTIME]}"
rounds="${3:-5}"
benchtime="${4:-1s}"
GO="${GO:-go}"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/old"
git archive "$ref" | tar -x -C "$tmp/old"
cp bench/*_test.go "$tmp/old/bench/"
(cd "$tmp/old" && $GO test -c -o "$tmp/old.test" ./bench/)
$GO test -c -o "$tmp/new.test" ./bench/

for r in $(seq "$rounds"); do
	for side in old new; do
		(cd bench && "$tmp/$side.test" -test.run '^$' -test.bench "$regex" -test.benchtime "$benchtime" -test.benchmem) |
			awk -v side="$side" '/^Benchmark/ { for (i = 3; i < NF; i += 2) print side, $1, $(i+1), $i }' >>"$tmp/results"
	done
done

# side name unit value -> per name and unit: median old, median new, new/old
sort -k2,2 -k3,3 -k1,1 -k4,4g "$tmp/results" | awk '
function median(a, n) { return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2 }
function flush() {
	if (key == "") return
	o = median(old, no); n = median(new, nn)
	ratio = o == 0 ? (n == 0 ? "1.00" : "inf") : sprintf("%.2f", n / o)
	printf "%-60s %-12s %14.4g %14.4g %8s\n", name, unit, o, n, ratio
}
BEGIN { printf "%-60s %-12s %14s %14s %8s\n", "benchmark", "unit", "old", "new", "new/old" }
{
	k = $2 " " $3
	if (k != key) { flush(); key = k; name = $2; unit = $3; no = 0; nn = 0 }
	if ($1 == "old") old[++no] = $4; else new[++nn] = $4
}
END { flush() }'

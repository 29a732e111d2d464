#!/usr/bin/env bash
# Benchmark `iterc build` and the executables it makes, on every example.
#
# Usage: bench/codegen_bench.sh [ITERC] [EXAMPLE...]
#   ITERC      the iterc binary (default: $ITERC or build/iterc under the
#              project root)
#   EXAMPLE    example names (default: every examples/*.iter)
# Environment:
#   CACHED_RUNS=10    cached rebuilds per example (the median is reported)
#   STARTUP_RUNS=20   `./wf --version` runs per example (median)
#   NO_HYPERFINE=1    time start-up with the shell loop even if hyperfine
#                     is installed
#   KEEP_TMP=1        keep the build caches and binaries (directory printed)
#   STRICT=1          exit 1 when a target is missed
#
# For each example it prints, as a Markdown table:
#   cold build   `iterc build` with a fresh, empty ITERC_CACHE_DIR (seconds)
#   cached       the same build again with the warm cache, median of
#                CACHED_RUNS (milliseconds)
#   binary       size of the executable after `strip` (MB = 10^6 bytes; the
#                size as built is shown too when stripping changes it)
#   start-up     `./wf --version`, median of STARTUP_RUNS (milliseconds):
#                hyperfine's median when hyperfine is installed, else a loop
#                timing each run with bash's $EPOCHREALTIME (no fork) or
#                `date +%s%N`, minus the loop's own overhead (two
#                back-to-back time stamps)
# then the targets (cold < 3 s, cached < 50 ms, binary < 6 MB,
# start-up < 5 ms) with the worst value and PASS/FAIL per column.
#
# Exit status: 0 when every build worked (a missed target is reported, not
# an error, unless STRICT=1), 1 when a build failed or a target was missed
# under STRICT=1, 2 on a usage or setup problem.

set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

ITERC=${ITERC:-$root/build/iterc}
if [ $# -gt 0 ] && [ -x "$1" ] && [ ! -d "$1" ]; then
    ITERC=$1
    shift
fi
CACHED_RUNS=${CACHED_RUNS:-10}
STARTUP_RUNS=${STARTUP_RUNS:-20}

TARGET_COLD_S=3
TARGET_CACHED_MS=50
TARGET_BINARY_MB=6
TARGET_STARTUP_MS=5

if [ ! -x "$ITERC" ]; then
    echo "codegen_bench: iterc not found or not executable: $ITERC" >&2
    echo "codegen_bench: build it first, or pass its path: bench/codegen_bench.sh path/to/iterc" >&2
    exit 2
fi
ITERC=$(cd "$(dirname "$ITERC")" && pwd)/$(basename "$ITERC")

if [ $# -gt 0 ]; then
    examples=("$@")
else
    examples=()
    for f in "$root"/examples/*.iter; do
        examples+=("$(basename "$f" .iter)")
    done
fi
for ex in "${examples[@]}"; do
    if [ ! -f "$root/examples/$ex.iter" ]; then
        echo "codegen_bench: no example $root/examples/$ex.iter" >&2
        exit 2
    fi
done

if [ -z "${EPOCHREALTIME:-}" ] && { [ "$(date +%N)" = "N" ] || [ "$(date +%N)" = "%N" ]; }; then
    echo "codegen_bench: date +%s%N does not give nanoseconds here" >&2
    exit 2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/codegen-bench.XXXXXX") || exit 2
cleanup() {
    if [ "${KEEP_TMP:-0}" = 1 ]; then
        echo "codegen_bench: kept $tmp" >&2
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT

use_hyperfine=0
if [ "${NO_HYPERFINE:-0}" != 1 ] && command -v hyperfine >/dev/null 2>&1 &&
    command -v python3 >/dev/null 2>&1; then
    use_hyperfine=1
fi

# stamp: sets $ns to the current time in nanoseconds, without a fork when
# bash has $EPOCHREALTIME (bash >= 5), else with `date +%s%N`.
if [ -n "${EPOCHREALTIME:-}" ]; then
    clock="bash \$EPOCHREALTIME"
    stamp() { ns=${EPOCHREALTIME//[.,]/}000; }
else
    clock="date +%s%N"
    stamp() { ns=$(date +%s%N); }
fi

# median of the numbers on stdin (integers), printed as an integer
median() {
    sort -n | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print 0; exit }
        if (NR % 2) print v[(NR + 1) / 2];
        else printf "%d\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# ns -> decimal string with $2 digits in unit $1 (1000000 = ms, 1e9 = s)
fmt() { awk -v n="$1" -v d="$2" -v p="$3" 'BEGIN { printf "%.*f", p, n / d }'; }

# The loop's own cost: two back-to-back date calls.
overhead_ns=$(for _ in $(seq 1 "$STARTUP_RUNS"); do
    stamp; t0=$ns; stamp; t1=$ns; echo $((t1 - t0))
done | median)

failed=0
rows=()
worst_cold=0 worst_cached=0 worst_size=0 worst_start=0

for ex in "${examples[@]}"; do
    src=$root/examples/$ex.iter
    bin=$tmp/bin/$ex
    cache=$tmp/cache-$ex
    mkdir -p "$tmp/bin" "$cache"

    # Cold: an empty cache.
    stamp; t0=$ns
    if ! ITERC_CACHE_DIR=$cache "$ITERC" build "$src" -o "$bin" >"$tmp/$ex.build.log" 2>&1; then
        echo "codegen_bench: iterc build $ex failed:" >&2
        cat "$tmp/$ex.build.log" >&2
        failed=1
        rows+=("| $ex | build failed | | | |")
        continue
    fi
    stamp; t1=$ns
    cold_ns=$((t1 - t0))

    # Cached: the same input again.
    cached_ns=$(for _ in $(seq 1 "$CACHED_RUNS"); do
        stamp; t0=$ns
        ITERC_CACHE_DIR=$cache "$ITERC" build "$src" -o "$tmp/bin/$ex.cached" >/dev/null 2>&1
        stamp; t1=$ns
        echo $((t1 - t0))
    done | median)

    # Size after strip.
    size_built=$(stat -c %s "$bin")
    cp "$bin" "$tmp/bin/$ex.stripped"
    if command -v strip >/dev/null 2>&1; then
        strip --strip-all "$tmp/bin/$ex.stripped" 2>/dev/null || strip "$tmp/bin/$ex.stripped" 2>/dev/null
    fi
    size=$(stat -c %s "$tmp/bin/$ex.stripped")

    # Start-up: ./wf --version.
    if [ "$use_hyperfine" = 1 ]; then
        hyperfine --warmup 3 --runs "$STARTUP_RUNS" -N --export-json "$tmp/$ex.hf.json" \
            "$bin --version" >/dev/null 2>&1 || hyperfine --warmup 3 --runs "$STARTUP_RUNS" \
            --export-json "$tmp/$ex.hf.json" "$bin --version" >/dev/null 2>&1
        start_ns=$(python3 -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["results"][0]["median"]*1e9))' "$tmp/$ex.hf.json")
    else
        "$bin" --version >/dev/null 2>&1 # warm the page cache
        start_ns=$(for _ in $(seq 1 "$STARTUP_RUNS"); do
            stamp; t0=$ns
            "$bin" --version >/dev/null 2>&1
            stamp; t1=$ns
            d=$((t1 - t0 - overhead_ns))
            [ "$d" -lt 0 ] && d=0
            echo "$d"
        done | median)
    fi

    cold_s=$(fmt "$cold_ns" 1000000000 2)
    cached_ms=$(fmt "$cached_ns" 1000000 1)
    size_mb=$(fmt "$size" 1000000 2)
    start_ms=$(fmt "$start_ns" 1000000 2)
    size_note=""
    [ "$size" != "$size_built" ] && size_note=" ($(fmt "$size_built" 1000000 2) as built)"
    rows+=("| $ex | $cold_s | $cached_ms | $size_mb$size_note | $start_ms |")

    [ "$cold_ns" -gt "$worst_cold" ] && worst_cold=$cold_ns
    [ "$cached_ns" -gt "$worst_cached" ] && worst_cached=$cached_ns
    [ "$size" -gt "$worst_size" ] && worst_size=$size
    [ "$start_ns" -gt "$worst_start" ] && worst_start=$start_ns
done

verdict() { # value limit -> PASS/FAIL (strictly below the limit)
    awk -v v="$1" -v l="$2" 'BEGIN { print (v < l) ? "PASS" : "FAIL" }'
}

echo "## iterc build and start-up, per example"
echo
echo "iterc: \`$ITERC\`, $(nproc 2>/dev/null || echo '?') CPUs, $(uname -sm), start-up timed with $([ "$use_hyperfine" = 1 ] && echo hyperfine || echo "a shell loop with $clock (overhead $(fmt "$overhead_ns" 1000000 2) ms subtracted)")"
echo
echo "| example | cold build (s) | cached build (ms, median of $CACHED_RUNS) | stripped binary (MB) | start-up \`--version\` (ms, median of $STARTUP_RUNS) |"
echo "| --- | ---: | ---: | ---: | ---: |"
for r in "${rows[@]}"; do
    echo "$r"
done
echo
echo "## Targets"
echo
c1=$(verdict "$(fmt "$worst_cold" 1000000000 4)" "$TARGET_COLD_S")
c2=$(verdict "$(fmt "$worst_cached" 1000000 4)" "$TARGET_CACHED_MS")
c3=$(verdict "$(fmt "$worst_size" 1000000 4)" "$TARGET_BINARY_MB")
c4=$(verdict "$(fmt "$worst_start" 1000000 4)" "$TARGET_STARTUP_MS")
echo "| column | target | worst | result |"
echo "| --- | --- | ---: | --- |"
echo "| cold build | < $TARGET_COLD_S s | $(fmt "$worst_cold" 1000000000 2) s | $c1 |"
echo "| cached build | < $TARGET_CACHED_MS ms | $(fmt "$worst_cached" 1000000 1) ms | $c2 |"
echo "| stripped binary | < $TARGET_BINARY_MB MB | $(fmt "$worst_size" 1000000 2) MB | $c3 |"
echo "| start-up | < $TARGET_STARTUP_MS ms | $(fmt "$worst_start" 1000000 2) ms | $c4 |"

if [ "$failed" = 1 ]; then
    exit 1
fi
if [ "${STRICT:-0}" = 1 ]; then
    for c in "$c1" "$c2" "$c3" "$c4"; do
        [ "$c" = FAIL ] && exit 1
    done
fi
exit 0

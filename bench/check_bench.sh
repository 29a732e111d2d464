#!/usr/bin/env bash
# Benchmark `iterc check` on large synthetic workflows.
#
# Usage: bench/check_bench.sh [ITERC]
#   ITERC      the iterc binary (default: build/iterc under the project root)
# Environment:
#   RUNS=3     runs per size; the best wall time is reported
#   SEED=1     seed passed to gen_workflow.py
#   KEEP_TMP=1 keep the generated files (the directory is printed)
#   BENCH_NO_TIME=1  ignore /usr/bin/time (use the getrusage fallback)
#
# Generates 1,000- and 10,000-node workflows with bench/gen_workflow.py,
# runs `$ITERC check FILE` RUNS times on each, and prints lines, bytes,
# best wall time, peak RSS and the 10k/1k time ratio, then the targets.
# Exit status: 0 when every check was clean (even if a target is missed:
# this is a report), 1 when iterc reported errors (non-zero exit) on a
# generated file, 2 on a usage or setup problem.

set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

ITERC=${1:-${ITERC:-$root/build/iterc}}
RUNS=${RUNS:-3}
SEED=${SEED:-1}
SIZES="1000 10000"

# Targets for the 10,000-node file.
TARGET_SECONDS=1
TARGET_MB=300
TARGET_RATIO=12

if [ ! -x "$ITERC" ]; then
    echo "check_bench: iterc not found or not executable: $ITERC" >&2
    echo "check_bench: build it first, or pass its path: bench/check_bench.sh path/to/iterc" >&2
    exit 2
fi
if ! command -v python3 >/dev/null 2>&1; then
    echo "check_bench: python3 is required" >&2
    exit 2
fi
case $RUNS in
    ''|*[!0-9]*|0) echo "check_bench: RUNS must be a positive integer" >&2; exit 2 ;;
esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/iterc-bench.XXXXXX") || exit 2
if [ "${KEEP_TMP:-0}" = 1 ]; then
    echo "check_bench: keeping generated files in $tmp"
else
    trap 'rm -rf "$tmp"' EXIT
fi

if [ -x /usr/bin/time ] && [ "${BENCH_NO_TIME:-0}" != 1 ]; then
    rss_tool="/usr/bin/time -f '%e %M'"
else
    rss_tool="python3 resource.getrusage(RUSAGE_CHILDREN)"
    if [ "${BENCH_NO_TIME:-0}" != 1 ]; then
        echo "check_bench: /usr/bin/time not found (Debian package 'time'); measuring RSS with $rss_tool" >&2
    fi
fi

# measure.py runs one command once and prints "EXIT WALL_SECONDS PEAK_KB".
# Wall time comes from a monotonic clock around the child (millisecond
# resolution; /usr/bin/time's %e has only 10 ms). Peak RSS is /usr/bin/time's
# %M when available, else ru_maxrss of this process's children (this
# process runs exactly one child, so that is the child's own peak).
cat >"$tmp/measure.py" <<'PY'
import os, resource, subprocess, sys, time
out_path, cmd = sys.argv[1], sys.argv[2:]
use_time = os.access("/usr/bin/time", os.X_OK) and os.environ.get("BENCH_NO_TIME") != "1"
tfile = out_path + ".time"
if use_time:
    cmd = ["/usr/bin/time", "-f", "%e %M", "-o", tfile] + cmd
with open(out_path, "wb") as out:
    t0 = time.perf_counter()
    rc = subprocess.call(cmd, stdout=out, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - t0
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
if use_time:
    try:
        with open(tfile) as f:
            last = [l for l in f.read().splitlines() if l.strip()][-1]
        peak_kb = int(last.split()[1])
    except (OSError, IndexError, ValueError):
        pass  # keep the getrusage figure
print("%d %.4f %d" % (rc, wall, peak_kb))
PY

results="$tmp/results"
: >"$results"
for n in $SIZES; do
    f="$tmp/synthetic_$n.iter"
    if ! python3 "$here/gen_workflow.py" "$n" --seed "$SEED" >"$f"; then
        echo "check_bench: gen_workflow.py failed for N=$n" >&2
        exit 2
    fi
    lines=$(wc -l <"$f" | tr -d ' ')
    bytes=$(wc -c <"$f" | tr -d ' ')
    best=""
    peak=0
    i=1
    while [ "$i" -le "$RUNS" ]; do
        res=$(python3 "$tmp/measure.py" "$tmp/out_$n.txt" "$ITERC" check "$f")
        read -r rc wall kb <<EOF
$res
EOF
        case "$rc:$kb" in
            :*|*:|*[!0-9:-]*)
                echo "check_bench: could not measure '$ITERC check' (got: $res)" >&2
                exit 2 ;;
        esac
        if [ "$rc" != 0 ]; then
            echo "check_bench: FAIL: '$ITERC check' exited with status $rc on the generated $n-node file" >&2
            echo "check_bench: the generated workflows must check clean; first lines of its output:" >&2
            head -n 25 "$tmp/out_$n.txt" >&2
            if [ "${KEEP_TMP:-0}" != 1 ]; then
                keep="${TMPDIR:-/tmp}/iterc-bench-failed-$n.iter"
                cp "$f" "$keep" && echo "check_bench: the file was kept as $keep" >&2
            fi
            exit 1
        fi
        best=$(awk -v a="$best" -v b="$wall" 'BEGIN { if (a == "" || b + 0 < a + 0) print b; else print a }')
        [ "$kb" -gt "$peak" ] && peak=$kb
        i=$((i + 1))
    done
    echo "$n $lines $bytes $best $peak" >>"$results"
done

python3 - "$results" "$ITERC" "$RUNS" "$rss_tool" "$TARGET_SECONDS" "$TARGET_MB" "$TARGET_RATIO" <<'PY'
import sys
path, iterc, runs, rss_tool = sys.argv[1:5]
t_sec, t_mb, t_ratio = float(sys.argv[5]), float(sys.argv[6]), float(sys.argv[7])
rows = {}
for line in open(path):
    n, lines, nbytes, wall, kb = line.split()
    rows[int(n)] = (int(lines), int(nbytes), float(wall), int(kb) / 1024.0)

print("iterc check benchmark")
print("  iterc: %s" % iterc)
print("  best wall time of %s run(s); peak RSS = highest over the runs (%s)" % (runs, rss_tool))
print()
print("%8s %9s %10s %9s %9s" % ("nodes", "lines", "bytes", "wall_s", "peak_MB"))
for n in sorted(rows):
    lines, nbytes, wall, mb = rows[n]
    print("%8d %9d %10d %9.3f %9.1f" % (n, lines, nbytes, wall, mb))
small, big = rows.get(1000), rows.get(10000)
ratio = None
if small and big:
    ratio = big[2] / small[2] if small[2] > 0 else float("inf")
    print()
    print("time ratio 10k/1k: %.2f  (10x the nodes; 10 = linear)" % ratio)

def mark(ok):
    return "ok" if ok else "MISSED"

print()
print("targets (10,000 nodes):")
if big:
    print("  %-22s %-7s measured %.3f s" % ("wall time < %g s" % t_sec, mark(big[2] < t_sec), big[2]))
    print("  %-22s %-7s measured %.1f MB" % ("peak RSS < %g MB" % t_mb, mark(big[3] < t_mb), big[3]))
if ratio is not None:
    print("  %-22s %-7s measured %.2f" % ("10k/1k ratio <= %g" % t_ratio, mark(ratio <= t_ratio), ratio))
PY
exit 0

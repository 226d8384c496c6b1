#!/usr/bin/env bash
# `make demo` from nothing, step by step: with an empty uv cache (cold), then again with
# the cache that run filled (warm). Each round starts from a new empty cache, so rounds
# alternate cold and warm runs on the same machine state. Every line of the demo's output
# is timestamped as it arrives; the demo's step banners ("== make install (12s)") split
# the run into bake, install, pipeline, serve + one prediction and the rest of the tests;
# the "response:" line the prediction prints marks the first served prediction.
#
#   benchmarks/demo.sh                          # 2 rounds
#   ROUNDS=3 benchmarks/demo.sh
#   UV_COMPILE_BYTECODE=1 benchmarks/demo.sh    # uv compiles bytecode while installing
#   DEMO_BYTECODE=inherit benchmarks/demo.sh     # keep the caller's PYTHONDONTWRITEBYTECODE
#
# Aims: the first served prediction within 90 s cold and 20 s warm on a 2-core machine.
# By default Python writes bytecode as on a user's machine (PYTHONDONTWRITEBYTECODE is
# unset for the demo). The slowest tests of the last warm run are listed at the end (DURATIONS=15 by default).
# Network access to PyPI is needed for the cold runs.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
rounds=${ROUNDS:-2}
work=$(mktemp -d "${TMPDIR:-/tmp}/bench-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT
if [ "${DEMO_BYTECODE:-write}" != inherit ]; then
    unset PYTHONDONTWRITEBYTECODE
fi
export PYTEST_ADDOPTS="${PYTEST_ADDOPTS:-} --durations=${DURATIONS:-15}"
results="$work/steps.tsv"

echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(python3 --version)," \
    "uv $(uv --version | cut -d' ' -f2), load average $(cut -d' ' -f1-3 /proc/loadavg); $(date +%F)"
echo "UV_COMPILE_BYTECODE=${UV_COMPILE_BYTECODE:-unset}," \
    "PYTHONDONTWRITEBYTECODE=${PYTHONDONTWRITEBYTECODE:-unset}; $rounds round(s) of cold then warm"

# Runs `make demo` once; appends "mode<TAB>round<TAB>step<TAB>seconds" rows to $results.
run_demo() {
    local mode=$1 round=$2 log="$work/$1-$2.log" status=0
    local started=$EPOCHREALTIME
    make -C "$root" demo BUILD="$work/build-$mode-$round" 2>&1 |
        while IFS= read -r line; do printf '%s\t%s\n' "$EPOCHREALTIME" "$line"; done >"$log" ||
        status=$?
    local ended=$EPOCHREALTIME
    if [ "$status" -ne 0 ]; then
        echo "make demo ($mode, round $round) failed with status $status; last lines:" >&2
        tail -n 30 "$log" >&2
        exit 1
    fi
    # Banner lines look like "<time><TAB>\e[1m== make install (12s)\e[0m".
    sed 's/\x1b\[[0-9;]*m//g' "$log" |
        awk -F'\t' -v mode="$mode" -v round="$round" -v start="$started" -v end="$ended" '
            $2 ~ /^== / {
                name = $2; sub(/^== /, "", name); sub(/ \([0-9]+s\)$/, "", name)
                sub(/ into .*/, "", name); sub(/^done: .*/, "done", name)
                if (count > 0) printf "%s\t%s\t%s\t%.1f\n", mode, round, step[count], $1 - at[count]
                else printf "%s\t%s\t%s\t%.1f\n", mode, round, "(start)", $1 - start
                count++; step[count] = name; at[count] = $1
            }
            $2 ~ /^response:/ && !served {
                served = 1; printf "%s\t%s\t%s\t%.1f\n", mode, round, "first served prediction", $1 - start
            }
            END { printf "%s\t%s\t%s\t%.1f\n", mode, round, "total", end - start }
        ' >>"$results"
    awk -F'\t' -v m="$mode" -v r="$round" '$1 == m && $2 == r { printf "  %-34s %6.1f s\n", $3, $4 }' \
        "$results"
}

for round in $(seq 1 "$rounds"); do
    export UV_CACHE_DIR="$work/uv-cache-$round"
    mkdir -p "$UV_CACHE_DIR"
    for mode in cold warm; do
        echo "round $round, $mode:"
        run_demo "$mode" "$round"
    done
    echo "  uv cache: $(du -sh "$UV_CACHE_DIR" | cut -f1)"
    rm -rf "$UV_CACHE_DIR" "$work"/build-*-"$round"
done

echo
echo "slowest tests of the last warm run (make test):"
cut -f2- "$work/warm-$rounds.log" | sed -n '/slowest .* durations/,/passed\|failed/p'

echo
echo "| step | cold median s | warm median s |"
echo "|---|---:|---:|"
# The steps in the order the demo announced them (whichever version of it ran).
cut -f3 "$results" | awk '$0 != "(start)" && !seen[$0]++' | while IFS= read -r step; do
    row="| $step |"
    for mode in cold warm; do
        median=$(awk -F'\t' -v m="$mode" -v s="$step" '$1 == m && $3 == s { print $4 }' "$results" |
            sort -n | awk '{ v[NR] = $1 } END {
                if (NR == 0) print "-"
                else if (NR % 2) printf "%.1f", v[(NR + 1) / 2]
                else printf "%.1f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
        row="$row $median |"
    done
    echo "$row"
done

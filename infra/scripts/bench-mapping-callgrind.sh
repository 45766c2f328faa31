#!/usr/bin/env bash
# Instruction counts of the mapping benchmark (issue 13), deterministic where timings are
# noisy: builds `cargo bench -p dynsync-mapping --bench mapping`, then runs its binary under
# `valgrind --tool=callgrind` for each side alone (DYNSYNC_MAPPING_BENCH_SIDE=mapping, then
# baseline: parse the same page into serde_json::Value and serialise it back), each twice:
# with 1 and with 1 + N timed-side iterations after the same warm-up. The difference of the
# two counts, divided by N, is the instructions of one page on that side, without the setup
# (page generation, definition parsing, lazy tables). Prints both counts, the ratio
# baseline/mapping (the records/s ratio the timed bench reports, here in instructions) and
# whether it holds against the target (>= 0.7x).
#
# Usage: infra/scripts/bench-mapping-callgrind.sh [N]   (N extra iterations, default 2)
# Installs valgrind with apt-get when it is missing (Debian machines, as root).
set -euo pipefail

cd "$(dirname "$0")/../.."
extra="${1:-2}"
target_ratio="0.7"

if ! command -v valgrind >/dev/null 2>&1; then
    echo "valgrind not found: installing it with apt-get" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >&2
fi

build_log="$(mktemp)"
work="$(mktemp -d)"
trap 'rm -rf "$work" "$build_log"' EXIT
cargo bench -p dynsync-mapping --bench mapping --no-run --locked 2>&1 | tee "$build_log" >&2
binary="$(sed -n 's/.*Executable benches\/mapping.rs (\(.*\))$/\1/p' "$build_log" | tail -n 1)"
if [[ -z "$binary" || ! -x "$binary" ]]; then
    echo "could not find the mapping bench binary in cargo's output" >&2
    exit 1
fi

# Instructions of one run: callgrind's "Collected : N" line.
count() {
    local side="$1" iterations="$2" log="$work/$1-$2.log"
    DYNSYNC_MAPPING_BENCH_SIDE="$side" DYNSYNC_MAPPING_BENCH_ITERATIONS="$iterations" \
        valgrind --tool=callgrind --callgrind-out-file="$work/$side-$iterations.out" \
        "$binary" >"$work/$side-$iterations.stdout" 2>"$log"
    sed -n 's/^==[0-9]*== Collected : \([0-9]*\)$/\1/p' "$log" | tail -n 1
}

per_page() {
    local side="$1" one many
    one="$(count "$side" 1)"
    many="$(count "$side" $((1 + extra)))"
    echo $(((many - one) / extra))
}

echo "counting instructions under callgrind ($binary; 1 and $((1 + extra)) iterations per side)" >&2
mapping="$(per_page mapping)"
baseline="$(per_page baseline)"
awk -v m="$mapping" -v b="$baseline" -v t="$target_ratio" 'BEGIN {
    printf "callgrind, one 5000-record page:\n"
    printf "  baseline (parse to Value + serialise): %15d instructions\n", b
    printf "  mapping  (parse + map + upsert body):  %15d instructions\n", m
    ratio = b / m
    printf "ratio mapping/baseline (baseline instructions / mapping instructions): %.3fx (target >= %sx: %s)\n", \
        ratio, t, (ratio >= t ? "holds" : "MISSED")
}'

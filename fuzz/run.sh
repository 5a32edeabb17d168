#!/usr/bin/env bash
# Runs every fuzz target for FUZZ_SECONDS each, one after the other (one libFuzzer job at a time),
# then prints executions and crashes per target and in total. Exit status 1 when anything crashed;
# the crashing inputs are in fuzz/artifacts/<target>/ (each becomes a regression test).
#
# Usage: fuzz/run.sh target...   (make fuzz passes every target; CARGO_FUZZ names cargo-fuzz)
set -euo pipefail

cd "$(dirname "$0")"
: "${FUZZ_SECONDS:=60}"
: "${CARGO_FUZZ:=cargo-fuzz}"
# No sanitizer: the code under test is safe Rust, and libFuzzer catches every panic (including
# integer overflow: debug assertions are on) without ASan's halving of the execution rate.
FLAGS=(--sanitizer none --debug-assertions --release)

fuzz() { RUSTUP_TOOLCHAIN=nightly "$CARGO_FUZZ" fuzz "$@"; }

python3 seed.py
fuzz build "${FLAGS[@]}"

mkdir -p logs
declare -A execs crashes
total=0
total_crashes=0
for target in "$@"; do
    mkdir -p "corpus/$target" "artifacts/$target"
    before=$(find "artifacts/$target" -type f | wc -l)
    log="logs/$target.log"
    echo "fuzzing $target for ${FUZZ_SECONDS}s"
    set +e
    fuzz run "${FLAGS[@]}" "$target" "corpus/$target" -- \
        -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 \
        -artifact_prefix="artifacts/$target/" >"$log" 2>&1
    set -e
    n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    after=$(find "artifacts/$target" -type f | wc -l)
    execs[$target]=${n:-0}
    crashes[$target]=$((after - before))
    if [[ -z "$n" && "${crashes[$target]}" -eq 0 ]]; then
        echo "  $target did not report its statistics; see fuzz/$log" >&2
        crashes[$target]=1
    fi
    total=$((total + execs[$target]))
    total_crashes=$((total_crashes + crashes[$target]))
done

printf '\n%-24s %14s %8s\n' target executions crashes
for target in "$@"; do
    printf '%-24s %14s %8s\n' "$target" "${execs[$target]}" "${crashes[$target]}"
done
printf '%-24s %14s %8s\n' total "$total" "$total_crashes"
printf 'FUZZ_SECONDS=%s per target, %s UTC\n' "$FUZZ_SECONDS" "$(date -u '+%Y-%m-%d %H:%M')"
[[ "$total_crashes" -eq 0 ]]

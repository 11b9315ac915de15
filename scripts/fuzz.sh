#!/usr/bin/env bash
# Builds every cargo-fuzz target in fuzz/ and runs each for a bounded time on its committed
# corpus (fuzz/corpus/<target>/). Exits non-zero if any target crashes, times out or leaks past
# the RSS limit; the crash input's path is printed (fuzz/artifacts/<target>/...).
#
#   scripts/fuzz.sh                 # smoke: 20 s per target (what .ci/run runs)
#   scripts/fuzz.sh 300             # 300 s per target
#   FUZZ_RUNS=10000000 scripts/fuzz.sh 600   # stop each target at 10 M executions or 600 s
#   FUZZ_TARGETS="router csv_import" scripts/fuzz.sh
#
# Works on the stable toolchain: with `-s none` (no sanitizer; the code under test is safe Rust,
# `unsafe` is forbidden in the crates) cargo-fuzz passes only stable `-C`/`--cfg` flags, so no
# nightly and no RUSTC_BOOTSTRAP are needed. New inputs found during a run go to
# fuzz/target/corpus/<target>/ (ignored by git), never into the committed corpus.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_FUZZ_VERSION=0.13.2
SECONDS_PER_TARGET="${1:-${FUZZ_SECONDS:-20}}"
RUNS="${FUZZ_RUNS:-0}" # 0: no execution cap, time only
# The build flags, identical for `build` and `run` (a difference rebuilds everything):
# no sanitizer (stable), 16 codegen units (the build is most of the CI cost; ~10% slower runs).
FLAGS=(-s none --codegen-units 16)

if [[ "$(cargo fuzz --version 2>/dev/null || true)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]]; then
    echo "== installing cargo-fuzz $CARGO_FUZZ_VERSION"
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi

targets=(${FUZZ_TARGETS:-$(cargo fuzz list)})
echo "== cargo fuzz build (${#targets[@]} targets)"
start=$(date +%s)
cargo fuzz build "${FLAGS[@]}"
echo "== built in $(( $(date +%s) - start ))s"

logs="${FUZZ_LOGS:-fuzz/target/logs}"
mkdir -p "$logs"
failed=()
summary=()
for t in "${targets[@]}"; do
    work="fuzz/target/corpus/$t"
    mkdir -p "$work" "fuzz/corpus/$t" "fuzz/artifacts/$t"
    log="$logs/$t.log"
    echo "== $t: ${SECONDS_PER_TARGET}s$( [[ "$RUNS" -gt 0 ]] && echo " or $RUNS runs")"
    # The scratch corpus first: libFuzzer writes new inputs into the first directory only.
    if cargo fuzz run "${FLAGS[@]}" "$t" "$work" "fuzz/corpus/$t" -- \
        -max_total_time="$SECONDS_PER_TARGET" -runs="$( [[ "$RUNS" -gt 0 ]] && echo "$RUNS" || echo -1 )" \
        -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="fuzz/artifacts/$t/" >"$log" 2>&1; then
        status=ok
    else
        status=FAILED
        failed+=("$t")
        tail -n 40 "$log"
        grep -h "Test unit written to\|artifact_prefix" "$log" || true
    fi
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    summary+=("$(printf '%-16s %-6s %12s execs %8s exec/s  cov %6s  rss %5s MB' \
        "$t" "$status" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${rss:-?}")")
done

echo "== fuzz summary (${SECONDS_PER_TARGET}s per target, logs in $logs/)"
printf '%s\n' "${summary[@]}"
if ((${#failed[@]})); then
    echo "== FAILED: ${failed[*]} (crash inputs: fuzz/artifacts/<target>/; reproduce with"
    echo "   cargo fuzz run ${FLAGS[*]} <target> <artifact>)"
    exit 1
fi

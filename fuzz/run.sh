#!/usr/bin/env bash
# Runs every fuzz target for N seconds each (default 60), one after the
# other, one job each (the machine is shared). A developers' tool, not CI:
# CI replays the committed corpora with `cargo test
# --test fuzz_corpus`.
#
# usage: fuzz/run.sh [seconds] [target...]
#
# New inputs go to fuzz/work/<target>/ (ignored by git); the committed seeds
# in fuzz/corpus/<target>/ are read, never written. A finding lands in
# fuzz/artifacts/<target>/ and stops the run with a non-zero exit.
set -euo pipefail

seconds="${1:-60}"
shift || true
cd "$(dirname "$0")"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(session address command relay sasl envelope config)
fi

# cargo-fuzz passes the nightly-only -Zsanitizer flag; RUSTC_BOOTSTRAP=1
# lets the stable compiler accept it (FUZZ_TOOLCHAIN=nightly uses nightly).
if [ -n "${FUZZ_TOOLCHAIN:-}" ]; then
    fuzz=(cargo "+$FUZZ_TOOLCHAIN" fuzz)
else
    export RUSTC_BOOTSTRAP=1
    fuzz=(cargo fuzz)
fi
command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz is missing: cargo install cargo-fuzz" >&2; exit 1; }

"${fuzz[@]}" build -O
status=0
for t in "${targets[@]}"; do
    mkdir -p "work/$t"
    log="work/$t.log"
    echo "== $t: ${seconds}s"
    if "${fuzz[@]}" run -O "$t" "work/$t" "corpus/$t" -- \
        -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1; then
        grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' "$log" | sed "s/^/$t: /"
    else
        echo "$t: FINDING (see $log and artifacts/$t/)"
        tail -n 30 "$log"
        status=1
    fi
done
exit "$status"

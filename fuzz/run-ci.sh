#!/usr/bin/env bash
# Builds every cargo-fuzz target of informer and runs each for FUZZ_SECONDS (default 30) from
# its committed seed corpus (fuzz/corpus/<target>, copied so the checkout stays clean).
# Exits non-zero if a target fails to build or finds a crash (the input is left in
# fuzz/artifacts/<target>/).
#
# Stable toolchain: cargo-fuzz needs RUSTC_BOOTSTRAP=1 for -Zsanitizer flags. Debug profile
# (--dev) and no sanitizer (-s none) keep the build short on a small CI machine; libFuzzer's
# coverage guidance still works and panics (the bug class that matters in safe Rust) are caught.
set -euo pipefail
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
seconds="${FUZZ_SECONDS:-30}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

start=$(date +%s)
cargo fuzz build --dev -s none
targets=$(cargo fuzz list)
status=0
for target in $targets; do
    work="target/corpus-run/$target"
    rm -rf "$work" && mkdir -p "$work"
    cp corpus/"$target"/* "$work"/ 2>/dev/null || true
    echo "== fuzzing $target for ${seconds}s"
    if ! cargo fuzz run --dev -s none "$target" "$work" -- \
        -max_total_time="$seconds" -max_len=16384 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1; then
        echo "!! $target failed: see fuzz/artifacts/$target/" >&2
        status=1
    fi
done
echo "fuzzing done in $(( $(date +%s) - start ))s, status $status"
exit "$status"

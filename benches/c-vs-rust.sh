#!/usr/bin/env bash
# SPSC one-at-a-time throughput, the C API against the Rust API in the same
# run: builds both programs, runs them alternately ROUNDS times (default 5),
# and prints each rate, the medians and their ratio (C / Rust).
#
#   benches/c-vs-rust.sh [ROUNDS] [MESSAGES]
#
# Builds under $CARGO_TARGET_DIR when set (the C library's Makefile does too).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-5}"
messages="${2:-10000000}"
target_dir="${CARGO_TARGET_DIR:-target}"
cargo build --release -q -p shmlane-benches --bin spsc-throughput
make -s -C bindings-c bench >/dev/null
rust=()
c=()
for _ in $(seq "$rounds"); do
    rust+=("$("$target_dir/release/spsc-throughput" "$messages" | sed 's/.*rate=//')")
    c+=("$(bindings-c/build/bin/spsc_throughput "$messages" | sed 's/.*rate=//')")
done
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
rust_median="$(median "${rust[@]}")"
c_median="$(median "${c[@]}")"
echo "rust msgs/s: ${rust[*]}"
echo "c    msgs/s: ${c[*]}"
awk -v r="$rust_median" -v c="$c_median" 'BEGIN {
    printf "median: rust %.1f M msgs/s, c %.1f M msgs/s, c/rust %.2f\n", r / 1e6, c / 1e6, c / r }'

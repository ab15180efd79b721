#!/usr/bin/env bash
# Instructions per message under callgrind: shmlane (Rust and C APIs) beside
# rtrb and crossbeam's ArrayQueue. Builds the loop programs, then runs
# benches/instructions.py, which prints one line per measure:
#
#   <measure> <shmlane instructions/message> <peer instructions/message> <ratio>
#
#   benches/instructions.sh            print the figures
#   benches/instructions.sh --check    also fail when a count is more than 5 % above
#                                      its budget (benches/instructions-budget.tsv)
#   benches/instructions.sh --update   write this run's counts as the budget
#
# Builds under $CARGO_TARGET_DIR when set; keeps callgrind's output files in
# <target>/instructions/callgrind/ for callgrind_annotate.
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir="${CARGO_TARGET_DIR:-target}"
command -v valgrind >/dev/null || { echo "instructions.sh: valgrind is not on PATH" >&2; exit 1; }

# Release profile with debug info (the workspace's [profile.release]).
cargo build --release -q -p shmlane-benches --bin instr-loop
# The C loop, linked against the static library as bindings-c/Makefile's
# benchmark is, with the same warnings and the system libraries it names.
make -s -C bindings-c lib >/dev/null
mkdir -p "$target_dir/instructions"
private_libs="$(sed -n 's/^PRIVATE_LIBS := //p' bindings-c/Makefile)"
# shellcheck disable=SC2086 # the library list is words
${CC:-cc} -std=c11 -Wall -Wextra -Werror -Wpedantic -Wshadow -Wconversion -O2 -g \
    -Ibindings-c/include benches/c/instr_loop.c -o "$target_dir/instructions/instr_loop_c" \
    bindings-c/build/lib/libshmlane.a $private_libs

exec python3 benches/instructions.py --rust "$target_dir/release/instr-loop" \
    --c "$target_dir/instructions/instr_loop_c" --out-dir "$target_dir/instructions/callgrind" "$@"

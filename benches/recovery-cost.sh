#!/usr/bin/env bash
# What a change of the MPMC protocol costs: builds benches/src/bin/mpmc_throughput.rs
# against the ring crate of BASE (a commit; default: the commit before MPMC
# crash recovery) and of the working tree, runs the two binaries alternately
# ROUNDS times (default 7) for 1 producer + 1 consumer and for 2 + 2, and
# prints each rate, the medians and their ratio (after / before).
#
#   benches/recovery-cost.sh [BASE] [ROUNDS] [MESSAGES]
set -euo pipefail
cd "$(dirname "$0")/.."
base="${1:-fb69247}"
rounds="${2:-7}"
messages="${3:-5000000}"
target_dir="${CARGO_TARGET_DIR:-target}"
scratch="$(mktemp -d)"
trap 'git worktree remove --force "$scratch/base" >/dev/null 2>&1 || true; rm -rf "$scratch"' EXIT
git worktree add -q --detach "$scratch/base" "$base"
# The base may predate the program: build the same source against its crate.
# A base from before the one handle family (98f732a) gets the program as it
# stood just before that commit, written against the API of its time.
mkdir -p "$scratch/base/benches/src/bin"
old_api=98f732a^
if git merge-base --is-ancestor "$base" "$old_api"; then
    git show "$old_api:benches/src/bin/mpmc_throughput.rs" >"$scratch/base/benches/src/bin/mpmc_throughput.rs"
else
    cp benches/src/bin/mpmc_throughput.rs "$scratch/base/benches/src/bin/"
fi
grep -q mpmc-throughput "$scratch/base/benches/Cargo.toml" ||
    printf '\n[[bin]]\nname = "mpmc-throughput"\npath = "src/bin/mpmc_throughput.rs"\n' >>"$scratch/base/benches/Cargo.toml"
(cd "$scratch/base" && cargo build --release -q -p shmlane-benches --bin mpmc-throughput --target-dir "$scratch/target")
cargo build --release -q -p shmlane-benches --bin mpmc-throughput
before="$scratch/target/release/mpmc-throughput"
after="$target_dir/release/mpmc-throughput"
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
for shape in "1 1" "2 2"; do
    b=()
    a=()
    for _ in $(seq "$rounds"); do
        # shellcheck disable=SC2086 # the shape is two words on purpose
        b+=("$("$before" $shape "$messages" | sed 's/.*rate=//')")
        # shellcheck disable=SC2086
        a+=("$("$after" $shape "$messages" | sed 's/.*rate=//')")
    done
    echo "${shape/ /P}C before msgs/s: ${b[*]}"
    echo "${shape/ /P}C after  msgs/s: ${a[*]}"
    awk -v b="$(median "${b[@]}")" -v a="$(median "${a[@]}")" -v s="${shape/ /P}C" 'BEGIN {
        printf "%s median: before %.1f M msgs/s, after %.1f M msgs/s, after/before %.3f\n", s, b / 1e6, a / 1e6, a / b }'
done

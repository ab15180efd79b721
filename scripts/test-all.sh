#!/usr/bin/env bash
# Runs every test of the project: a first loom model of the production SPSC
# code, then the Rust unit, integration and doc tests. (The loom models, and
# the C and Go tests, join this script when they land.)
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== loom: the production SPSC code under the model checker (--cfg loom)"
RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 \
    cargo test -p shmlane --release --target-dir target/loom --test loom_smoke

echo "== Rust tests"
cargo test --workspace

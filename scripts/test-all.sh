#!/usr/bin/env bash
# Runs every test of the project: a build of the algorithm code under loom's
# atomics, then the Rust unit, integration and doc tests. (The loom models, and
# the C and Go tests, join this script when they land.)
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== the ring algorithms compile against loom (--cfg loom)"
RUSTFLAGS="--cfg loom" cargo check -p shmlane --target-dir target/loom

echo "== Rust tests"
cargo test --workspace

#!/usr/bin/env bash
# The quick tier, for the loop of working (about 2 minutes on 2 cores once
# built): the crate's unit tests, doc tests and behaviour tests of every kind,
# the async waits (feature tokio), the NATS bridge (needs nats-server),
# the C API's own Rust tests, the loom models at a small preemption bound, and a
# conformance smoke of the Rust peer against itself (the C and Go peers are
# left out unless SHMLANE_PEER_C / SHMLANE_PEER_GO point at them).
# `scripts/test-all.sh` is the full tier that CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== quick: ring's modules form layers without cycles"
python3 scripts/module-graph.py >/dev/null || { python3 scripts/module-graph.py; exit 1; }

echo "== quick: unit, doc and behaviour tests of every kind"
cargo test -q -p shmlane --doc
cargo test -q -p shmlane --lib \
    --test spsc_behaviour --test mpmc_behaviour --test broadcast_behaviour \
    --test blocking_behaviour \
    --test bad_input --test edges --test layout_golden --test liveness

echo "== quick: the async waits (feature tokio), with their doc tests"
cargo test -q -p shmlane --features tokio --test async_waits
cargo test -q -p shmlane --features tokio --doc -- _async

echo "== quick: the NATS bridge against a real nats-server on 127.0.0.1"
cargo test -q -p shmlane-nats

echo "== quick: the C API's Rust tests (the header is regenerated and compared)"
cargo test -q -p shmlane-ffi

echo "== quick: loom models at one preemption"
RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=1 \
    cargo test -q -p shmlane-loom-tests --release --target-dir target/loom

echo "== quick: conformance smoke (the Rust peer, SPSC and MPMC)"
cargo test -q --release -p shmlane-conformance -- \
    spsc_between_languages_non_blocking_and_blocking \
    mpmc_between_languages_two_producers_two_consumers

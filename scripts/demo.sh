#!/usr/bin/env bash
# The flagship demo: a C producer publishes a simulated sensor stream into a
# shmlane ring in /dev/shm, a Go consumer in another process reads it in place
# (zero-copy, no cgo) and prints the rate and latency percentiles every second,
# and `shmlane stat` shows the ring meanwhile, read without joining it.
#
#   scripts/demo.sh [--seconds N] [--rate FRAMES_PER_SECOND] [--producer c|rust]
#
# Defaults: 10 seconds at 200,000 frames/s, C producer. Needs cargo, cc and
# make, and go; says which is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=10
rate=200000
producer=c
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) seconds="$2"; shift 2 ;;
        --rate) rate="$2"; shift 2 ;;
        --producer) producer="$2"; shift 2 ;;
        -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "demo: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
case "$producer" in c|rust) ;; *) echo "demo: --producer takes c or rust" >&2; exit 2 ;; esac

missing=()
command -v cargo >/dev/null || missing+=("cargo (Rust, https://rustup.rs)")
command -v go >/dev/null || missing+=("go (Go 1.23 or later)")
if [ "$producer" = c ]; then
    command -v cc >/dev/null || missing+=("cc (a C compiler)")
    command -v make >/dev/null || missing+=("make")
fi
if [ ${#missing[@]} -gt 0 ]; then
    printf 'demo: missing toolchain: %s\n' "${missing[@]}" >&2
    exit 1
fi

echo "== building: the shmlane CLI, the $producer producer, the Go consumer"
cargo build --release -q -p shmlane-cli
if [ "$producer" = c ]; then
    make -s -C bindings-c examples >/dev/null
    producer_command=(bindings-c/build/bin/sensor_producer)
else
    cargo build --release -q -p shmlane --example sensor_producer
    producer_command=(target/release/examples/sensor_producer)
fi
mkdir -p target/go
(cd bindings-go && CGO_ENABLED=0 go build -o ../target/go/sensor-consumer ./examples/sensor-consumer)

name="shmlane-demo-$$"
cli=target/release/shmlane
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    "$cli" rm "$name" 2>/dev/null || true
}
trap cleanup EXIT INT TERM

frames=$((seconds * rate))
echo "== ring /dev/shm/$name: SPSC, 4096 slots of one 64-byte frame"
"$cli" create "$name" --capacity 4096 --slot-size 64 --fixed

echo "== Go consumer (zero-copy, sleeping on the ring's futex while idle) and $producer producer: $frames frames at $rate/s"
target/go/sensor-consumer -name "$name" -wait sleep | sed -u 's/^/[go consumer]  /' &
pids+=($!)
"${producer_command[@]}" --name "$name" --rate "$rate" --count "$frames" 2>&1 | sed -u "s/^/[$producer producer]   /" &
producer_pid=$!
pids+=($producer_pid)

# The ring from outside, every few seconds, while the stream flows.
sleep 2
while kill -0 "$producer_pid" 2>/dev/null; do
    "$cli" stat "$name" 2>/dev/null | sed 's/^/[shmlane stat] /' || true
    sleep 4
done
wait "$producer_pid" || true
wait "${pids[0]}" || true
echo "== done; the ring is removed"

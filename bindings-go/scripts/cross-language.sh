#!/usr/bin/env bash
# Cross-process, cross-language check of the Go package against another
# language's shmlane-peer (conformance/README.md): 1,000,000 checksummed,
# sequence-numbered messages each way, SPSC (single and batch, variable and
# fixed-size) and MPMC (a Go and a peer producer, a Go and a peer consumer),
# with each wait mode (try, block, sleep), and a producer killed mid-stream.
#
#   bindings-go/scripts/cross-language.sh PEER [MESSAGES]
#
# PEER is the other language's peer, e.g. the Rust one:
#   CARGO_TARGET_DIR=/tmp/target cargo build --release -p shmlane-conformance
#   bindings-go/scripts/cross-language.sh /tmp/target/release/shmlane-peer
set -euo pipefail
peer="$(realpath "$1")"
cd "$(dirname "$0")/.."
messages="${2:-1000000}"
work="$(mktemp -d)"
trap 'rm -rf "$work"; rm -f /dev/shm/shmlane-go-cross-$$' EXIT
CGO_ENABLED=0 go build -o "$work/go-peer" ./cmd/shmlane-peer
gopeer="$work/go-peer"
ring="/dev/shm/shmlane-go-cross-$$"
passed=0
failed=0

ok() { echo "ok   $*"; passed=$((passed + 1)); }
bad() { echo "FAIL $*"; failed=$((failed + 1)); }

# spsc PRODUCER CONSUMER WAIT BATCH [create options...]
spsc() {
    local producer="$1" consumer="$2" wait="$3" batch="$4"; shift 4
    local what="spsc $(basename "$(dirname "$producer")")->$(basename "$(dirname "$consumer")") wait=$wait batch=$batch $*"
    rm -f "$ring"
    "$producer" create --path "$ring" --kind spsc "$@"
    local size=64
    [[ " $* " == *" --fixed "* ]] && size=$(echo "$@" | sed 's/.*--slot-size \([0-9]*\).*/\1/')
    "$consumer" consume --path "$ring" --wait "$wait" --batch "$batch" >"$work/c.out" 2>"$work/c.err" &
    local cpid=$!
    if ! "$producer" produce --path "$ring" --count "$messages" --id 5 --size "$size" --wait "$wait" --batch "$batch" >"$work/p.out" 2>&1; then
        kill "$cpid" 2>/dev/null || true; wait "$cpid" || true
        bad "$what: producer: $(cat "$work/p.out")"; return
    fi
    if ! wait "$cpid"; then bad "$what: consumer: $(cat "$work/c.err")"; return; fi
    local want="producer=5 count=$messages first=0 last=$((messages - 1)) seqsum=$((messages * (messages - 1) / 2))"
    if grep -qx "$want" "$work/c.out" && grep -qx "consumed total=$messages end=disconnected" "$work/c.out"; then
        ok "$what"
    else
        bad "$what: $(tr '\n' ' ' <"$work/c.out")"
    fi
}

# mpmc WAIT BATCH: a Go and a peer producer (half the messages each), a Go and
# a peer consumer; together the consumers must see every message once.
mpmc() {
    local wait="$1" batch="$2" half=$((messages / 2))
    local what="mpmc go+peer -> go+peer wait=$wait batch=$batch"
    rm -f "$ring"
    "$peer" create --path "$ring" --kind mpmc --capacity 64 --slot-size 80 --participants 8
    "$gopeer" consume --path "$ring" --wait "$wait" --batch "$batch" --producers 2 >"$work/c1.out" 2>"$work/c1.err" &
    local c1=$!
    "$peer" consume --path "$ring" --wait "$wait" --batch "$batch" --producers 2 >"$work/c2.out" 2>"$work/c2.err" &
    local c2=$!
    "$gopeer" produce --path "$ring" --count "$half" --id 1 --wait "$wait" --batch "$batch" >"$work/p1.out" 2>&1 &
    local p1=$!
    "$peer" produce --path "$ring" --count "$half" --id 2 --wait "$wait" --batch "$batch" >"$work/p2.out" 2>&1 &
    local p2=$!
    local rc=0
    wait "$p1" || rc=1; wait "$p2" || rc=1; wait "$c1" || rc=1; wait "$c2" || rc=1
    if [ "$rc" != 0 ]; then
        bad "$what: $(cat "$work"/p*.out "$work"/c*.err)"; return
    fi
    local summary
    summary="$(cat "$work/c1.out" "$work/c2.out" | awk -F'[ =]' '
        /^producer=/ { count[$2] += $4; sum[$2] += $10 }
        /^consumed/ { total += $3 }
        END { printf "total=%.0f p1=%.0f/%.0f p2=%.0f/%.0f", total, count[1], sum[1], count[2], sum[2] }')"
    local want="total=$messages p1=$half/$((half * (half - 1) / 2)) p2=$half/$((half * (half - 1) / 2))"
    if [ "$summary" = "$want" ]; then ok "$what ($(grep -h consumed "$work"/c1.out "$work"/c2.out | tr '\n' ' '))"; else bad "$what: $summary, want $want"; fi
}

# killed KIND PRODUCER CONSUMER: the producer is SIGKILLed mid-stream; the
# consumer must drain and end with Disconnected.
killed() {
    local kind="$1" producer="$2" consumer="$3"
    local what="$kind producer $(basename "$(dirname "$producer")") killed, consumer $(basename "$(dirname "$consumer")") wait=sleep"
    rm -f "$ring"
    "$consumer" create --path "$ring" --kind "$kind" --capacity 64 --slot-size 80
    "$consumer" consume --path "$ring" --wait sleep >"$work/c.out" 2>"$work/c.err" &
    local cpid=$!
    "$producer" produce --path "$ring" --count 1000000000 --id 3 --wait sleep >/dev/null 2>&1 &
    local ppid=$!
    sleep 0.3
    kill -KILL "$ppid"; wait "$ppid" 2>/dev/null || true
    local start=$SECONDS
    if ! wait "$cpid"; then bad "$what: consumer: $(cat "$work/c.err")"; return; fi
    if grep -q "end=disconnected" "$work/c.out" && [ $((SECONDS - start)) -lt 5 ]; then
        ok "$what ($(grep consumed "$work/c.out"))"
    else
        bad "$what: $(tr '\n' ' ' <"$work/c.out")"
    fi
}

mkdir -p "$work/go" "$work/peer"
ln -s "$gopeer" "$work/go/peer"; ln -s "$peer" "$work/peer/peer"
G="$work/go/peer"; P="$work/peer/peer"
for wait in try block sleep; do
    spsc "$P" "$G" "$wait" 1 --capacity 64 --slot-size 72
    spsc "$G" "$P" "$wait" 1 --capacity 64 --slot-size 72
done
spsc "$P" "$G" try 32 --capacity 64 --slot-size 72
spsc "$G" "$P" try 32 --capacity 64 --slot-size 72
spsc "$P" "$G" block 16 --capacity 64 --slot-size 32 --fixed
spsc "$G" "$P" sleep 16 --capacity 64 --slot-size 32 --fixed
for wait in try block sleep; do
    mpmc "$wait" 1
done
mpmc try 16
killed spsc "$P" "$G"
killed spsc "$G" "$P"
killed mpmc "$P" "$G"
killed mpmc "$G" "$P"
echo "cross-language: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

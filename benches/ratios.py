#!/usr/bin/env python3
"""Print shmlane's throughput beside its peer's, from the last criterion run.

Reads target/criterion/<group>/<bench>/new/estimates.json (mean or median point estimate of
the time per iteration) and benchmark.json (elements per iteration) for every
group named spsc-* (peer: rtrb) or mpmc-* (peer: crossbeam's ArrayQueue, bench
`arrayqueue`), and prints messages/s of each shmlane variant (`shmlane`: variable-length
messages; `shmlane-fixed`: a ring of fixed-size messages) and of the peer, and
their ratio: one table per kind, the SPSC table first. Groups with a floor
(FLOORS: the single-thread `memcpy` of the large-message groups) get a last
table, shmlane's throughput against the floor's.

Usage: python3 benches/ratios.py [--criterion-dir DIR] [--estimate mean|median]

The median is the default, as in the report benches/suite.py writes: it is less
sensitive than the mean to a sample spoiled by a neighbour on a shared machine.

The targets below (TARGETS) are the project's performance budget;
benches/suite.py reads them from here.
"""

import argparse
import json
import os
import sys
from pathlib import Path

# The performance budget, per group: the least ratio of shmlane's throughput to the peer's; None: no target.
TARGETS = {
    "spsc-8B-one": 1.0,
    "spsc-8B-batch64": 1.0,
    "spsc-8B-batch256": 1.0,
    "spsc-8B-blocking": None,
    "spsc-64B-one": None,
    "spsc-64B-processes": 0.8,
    "spsc-1KiB-one": None,
    "spsc-64KiB-one": None,
    "mpmc-1p1c": 1.5,
    "mpmc-2p2c": 1.0,
}

# Groups that also hold a floor: group -> (floor benchmark, target of
# shmlane / floor, or None). A floor moves messages of the same size, so the
# ratio of messages/s is the ratio of bandwidths.
FLOORS = {
    "spsc-1KiB-one": ("memcpy", None),
    "spsc-64KiB-one": ("memcpy", 0.8),
}

# The budget's other targets, those of benches/suite.py's steps that are not
# criterion groups (the ping-pong targets come with the results of the pingpong
# bench, which holds them):
OTHER_TARGETS = {
    # C API / Rust API, throughput of benches/c-vs-rust.sh: at least.
    "c": 0.9,
    # Go package / Rust API, threads, throughput of `shmlane-bench compare`: at least.
    "go": 0.5,
    # CPU use of an idle consumer in sleeping mode, % of a CPU: at most (the
    # budget's "~0%"; benches/benches/idle.rs prints its own verdict at the same).
    "idle": 1.0,
}

# Kinds of ring: group-name prefix and the peer benchmark in each of its groups.
KINDS = [
    ("spsc-", "rtrb"),
    ("mpmc-", "arrayqueue"),
]


def default_criterion_dir():
    target = os.environ.get("CARGO_TARGET_DIR")
    if target:
        return Path(target) / "criterion"
    return Path(__file__).resolve().parent.parent / "target" / "criterion"


def messages_per_second(bench_dir, estimate):
    """Throughput of one benchmark in messages/s from the point estimate named
    `estimate` of its time per iteration, or None if it was not measured."""
    estimates_path = bench_dir / "new" / "estimates.json"
    if not estimates_path.is_file():
        return None
    with open(estimates_path) as f:
        time_ns = json.load(f)[estimate]["point_estimate"]
    elements = 1
    benchmark_path = bench_dir / "new" / "benchmark.json"
    if benchmark_path.is_file():
        with open(benchmark_path) as f:
            throughput = json.load(f).get("throughput") or {}
        elements = throughput.get("Elements", elements)
    return elements * 1e9 / time_ns


def shmlane_variants(benches):
    """The shmlane benchmarks among the names `benches` (`shmlane`,
    `shmlane-fixed`, ...), sorted; `["shmlane"]` if there are none, so that a
    missing result still gets its row."""
    return sorted(b for b in benches if b.startswith("shmlane")) or ["shmlane"]


def variant_rates(group_dir, estimate):
    """[(variant, messages/s or None)] of each shmlane benchmark of a group."""
    names = (p.name for p in group_dir.iterdir() if p.is_dir())
    return [(variant, messages_per_second(group_dir / variant, estimate))
            for variant in shmlane_variants(names)]


def ratio(ours, theirs):
    """ours / theirs, or None if either is missing."""
    return None if ours is None or theirs is None else ours / theirs


def ratio_text(ours, theirs):
    """ours / theirs to two decimals, or "-" if either is missing."""
    value = ratio(ours, theirs)
    return "-" if value is None else f"{value:.2f}"


def millions(rate):
    return "missing" if rate is None else f"{rate / 1e6:.1f}"


def significant(rate):
    """Millions of messages per second to 3 significant digits: large
    messages move well under a million per second."""
    return "missing" if rate is None else f"{rate / 1e6:.3g}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--criterion-dir", type=Path, default=default_criterion_dir())
    parser.add_argument("--estimate", choices=["mean", "median"], default="median")
    args = parser.parse_args()

    if not args.criterion_dir.is_dir():
        sys.exit(f"no criterion results in {args.criterion_dir}; run "
                 "`cargo bench -p shmlane-benches --bench spsc` (or `--bench mpmc`) first")

    tables = []
    for prefix, peer in KINDS:
        known = [g for g in TARGETS if g.startswith(prefix)]
        found = sorted(p.name for p in args.criterion_dir.iterdir()
                       if p.is_dir() and p.name.startswith(prefix))
        groups = [g for g in known if g in found] + [g for g in found if g not in known]
        if groups:
            tables.append((groups, peer))
    if not tables:
        # Nothing measured: the empty SPSC table, as before the MPMC kind existed.
        print_table(args, [], KINDS[0][1])
        return 1

    missing = False
    for index, (groups, peer) in enumerate(tables):
        if index:
            print()
        missing |= print_table(args, groups, peer)
    floored = [g for g in FLOORS if (args.criterion_dir / g).is_dir()]
    if floored:
        print()
        missing |= print_floor_table(args, floored)
    return 1 if missing else 0


def print_table(args, groups, peer):
    """Prints one table of `groups` beside the `peer` benchmark of each; returns
    whether a result was missing."""
    peer_column = f"{peer} Mmsg/s"
    width = max(12, len(peer_column) + 1)
    header = (f"{'case':<20} {'variant':<14} {'shmlane Mmsg/s':>15} {peer_column:>{width}} "
              f"{'ratio':>7} {'target':>7}")
    print(header)
    print("-" * len(header))
    missing = False
    for group in groups:
        group_dir = args.criterion_dir / group
        peer_rate = messages_per_second(group_dir / peer, args.estimate)
        target = TARGETS.get(group)
        target_text = f">={target:.1f}" if target is not None else "-"
        for variant, shmlane in variant_rates(group_dir, args.estimate):
            missing |= ratio(shmlane, peer_rate) is None
            print(f"{group:<20} {variant:<14} {millions(shmlane):>15} "
                  f"{millions(peer_rate):>{width}} {ratio_text(shmlane, peer_rate):>7} "
                  f"{target_text:>7}")
    return missing


def print_floor_table(args, groups):
    """Prints shmlane's throughput in `groups` against each group's floor
    (FLOORS); returns whether a result was missing."""
    header = (f"{'case':<20} {'variant':<14} {'shmlane Mmsg/s':>15} {'floor Mmsg/s':>13} "
              f"{'floor':>7} {'ratio':>7} {'target':>7}")
    print(header)
    print("-" * len(header))
    missing = False
    for group in groups:
        floor, target = FLOORS[group]
        group_dir = args.criterion_dir / group
        floor_rate = messages_per_second(group_dir / floor, args.estimate)
        target_text = f">={target:.1f}" if target is not None else "-"
        for variant, shmlane in variant_rates(group_dir, args.estimate):
            missing |= ratio(shmlane, floor_rate) is None
            print(f"{group:<20} {variant:<14} {significant(shmlane):>15} "
                  f"{significant(floor_rate):>13} {floor:>7} "
                  f"{ratio_text(shmlane, floor_rate):>7} {target_text:>7}")
    return missing


if __name__ == "__main__":
    sys.exit(main())

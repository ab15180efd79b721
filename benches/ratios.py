#!/usr/bin/env python3
"""Print shmlane's SPSC throughput beside rtrb's, from the last criterion run.

Reads target/criterion/<group>/<bench>/new/estimates.json (mean or median point estimate of
the time per iteration) and benchmark.json (elements per iteration) for every
group named spsc-*, and prints messages/s of each shmlane variant (`shmlane`: variable-length
messages; `shmlane-fixed`: a ring of fixed-size messages) and of rtrb, and
their ratio.

Usage: python3 benches/ratios.py [--criterion-dir DIR] [--estimate mean|median]

The mean is the default; the median is less sensitive to a sample spoiled by a
neighbour on a shared machine.
"""

import argparse
import json
import os
import sys
from pathlib import Path

# Targets from the performance budget in DESIGN.md, per group; None: no target.
TARGETS = {
    "spsc-8B-one": 1.0,
    "spsc-8B-batch64": 1.0,
    "spsc-8B-batch256": 1.0,
    "spsc-64B-one": None,
    "spsc-64B-processes": 0.8,
}


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


def millions(rate):
    return "missing" if rate is None else f"{rate / 1e6:.1f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--criterion-dir", type=Path, default=default_criterion_dir())
    parser.add_argument("--estimate", choices=["mean", "median"], default="mean")
    args = parser.parse_args()

    if not args.criterion_dir.is_dir():
        sys.exit(f"no criterion results in {args.criterion_dir}; run "
                 "`cargo bench -p shmlane-benches --bench spsc` first")

    known = list(TARGETS)
    found = sorted(p.name for p in args.criterion_dir.iterdir()
                   if p.is_dir() and p.name.startswith("spsc-"))
    groups = [g for g in known if g in found] + [g for g in found if g not in known]

    header = (f"{'case':<20} {'variant':<14} {'shmlane Mmsg/s':>15} {'rtrb Mmsg/s':>12} "
              f"{'ratio':>7} {'target':>7}")
    print(header)
    print("-" * len(header))
    missing = False
    for group in groups:
        group_dir = args.criterion_dir / group
        rtrb = messages_per_second(group_dir / "rtrb", args.estimate)
        variants = sorted(p.name for p in group_dir.iterdir()
                          if p.is_dir() and p.name.startswith("shmlane"))
        target = TARGETS.get(group)
        target_text = f">={target:.1f}" if target is not None else "-"
        for variant in variants or ["shmlane"]:
            shmlane = messages_per_second(group_dir / variant, args.estimate)
            ratio_text = "-"
            if shmlane is None or rtrb is None:
                missing = True
            else:
                ratio_text = f"{shmlane / rtrb:.2f}"
            print(f"{group:<20} {variant:<14} {millions(shmlane):>15} {millions(rtrb):>12} "
                  f"{ratio_text:>7} {target_text:>7}")
    return 1 if missing or not groups else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Instructions per message under callgrind, shmlane beside its peers.

Run through benches/instructions.sh, which builds the loop programs and
passes their paths. Each loop program (benches/src/bin/instr_loop.rs, and
benches/c/instr_loop.c for the C API) pushes one message and pops it, COUNT
times, single thread. Each case runs under `valgrind --tool=callgrind` with
two counts; the difference of the two runs' total instructions (Ir) over the
extra messages is the cost of one message, setup and teardown cancelling.
Callgrind counts repeat exactly for the same binary, which is why CI can
hold them to a budget (benches/instructions-budget.tsv).

Prints one line per measure on stdout:

    <measure> <shmlane instructions/message> <peer instructions/message> <ratio>

The peer of a Rust measure is rtrb (SPSC) or crossbeam's ArrayQueue
(MPMC); the peer of a C measure (`c-...`) is the Rust API's same measure.

    --check    compare each shmlane count with its budget: exit 1 when one
               is more than 5 % above it, note (and pass) when one is more
               than 5 % below it
    --update   write the counts of this run as the new budget

Python 3.11 standard library only.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUDGET = ROOT / "benches" / "instructions-budget.tsv"
# Multiples of the rings' 1024 slots, so that positions wrap (and cached
# positions are refreshed) the same number of times per message in both runs.
COUNTS = (204_800, 409_600)
# How far a count may rise above its budget before --check fails, and fall
# below it before --check suggests updating the budget.
TOLERANCE = 0.05

# The performance budget's targets (docs/design.md, issue 16): shmlane's
# instructions per message at most this many times its peer's. benches/suite.py
# reports them; --check holds every count to the budget file instead.
TARGETS = {
    "spsc-zero-copy-8B": 1.5,
    "spsc-copy-8B": 2.0,
    "mpmc-zero-copy-8B": 2.0,
    "mpmc-copy-8B": 2.0,
    "c-spsc-zero-copy-8B": 1.2,
    "c-spsc-copy-8B": 1.2,
}

KINDS = ("spsc", "mpmc")
APIS = ("zero-copy", "copy")
LAYOUTS = ("", "fixed-")
SIZES = ("8B", "64B")

# Every shmlane measure, in the order printed: the Rust API's, then the C API's.
RUST_MEASURES = [
    f"{kind}-{api}-{layout}{size}"
    for kind in KINDS
    for size in SIZES
    for api in APIS
    for layout in LAYOUTS
]
# Batches of 64 (Rust API only), beside rtrb's chunks of 64.
BATCH_MEASURES = ["spsc-batch64-8B", "spsc-batch64-fixed-8B"]
MEASURES = RUST_MEASURES + BATCH_MEASURES + [f"c-{measure}" for measure in RUST_MEASURES]


def peer_of(measure: str) -> tuple[str, str]:
    """The (program, case) a measure is set beside."""
    if measure.startswith("c-"):
        return ("rust", measure.removeprefix("c-"))
    if measure in BATCH_MEASURES:
        return ("rust", "rtrb-batch64-8B")
    kind = measure.split("-", 1)[0]
    size = measure.rsplit("-", 1)[1]
    return ("rust", f"{'rtrb' if kind == 'spsc' else 'arrayqueue'}-{size}")


def program_of(measure: str) -> tuple[str, str]:
    """The (program, case) that measures shmlane's count."""
    if measure.startswith("c-"):
        return ("c", measure.removeprefix("c-"))
    return ("rust", measure)


def label(program: str, case: str) -> str:
    return case if program == "rust" else f"c-{case}"


def callgrind(programs: dict[str, Path], program: str, case: str, index: int,
              out_dir: Path, ring_dir: Path) -> int:
    """Total instructions of one run of a case with COUNTS[index] messages."""
    count = COUNTS[index]
    name = label(program, case)
    out_file = out_dir / f"{name}-{count}.out"
    command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}",
               str(programs[program]), case]
    if program == "c":
        # The same length of path in both runs: the setup they share cancels.
        command.append(str(ring_dir / f"{name}.{index}"))
    command.append(str(count))
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited with {result.returncode}:\n"
                           f"{result.stderr[-2000:]}")
    match = re.search(r"^summary:\s+(\d+)", out_file.read_text(), re.MULTILINE)
    if match is None:
        raise RuntimeError(f"no summary line in {out_file}")
    return int(match.group(1))


def measure_all(programs: dict[str, Path], jobs: int, out_dir: Path) -> dict[tuple[str, str], float]:
    """Instructions per message of every case any measure needs."""
    cases = []
    for measure in MEASURES:
        for case in (program_of(measure), peer_of(measure)):
            if case not in cases:
                cases.append(case)
    out_dir.mkdir(parents=True, exist_ok=True)
    totals: dict[tuple[str, str, int], int] = {}
    with tempfile.TemporaryDirectory(prefix="shmlane-instructions-") as ring_dir, \
            concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {
            pool.submit(callgrind, programs, program, case, index, out_dir, Path(ring_dir)):
                (program, case, index)
            for program, case in cases
            for index in range(len(COUNTS))
        }
        for future in concurrent.futures.as_completed(futures):
            totals[futures[future]] = future.result()
    extra = COUNTS[1] - COUNTS[0]
    return {
        (program, case): (totals[(program, case, 1)] - totals[(program, case, 0)]) / extra
        for program, case in cases
    }


def read_budget() -> dict[str, float]:
    budget = {}
    for line in BUDGET.read_text().splitlines():
        if not line.strip() or line.startswith("#") or line.startswith("measure\t"):
            continue
        measure, value = line.split("\t")
        budget[measure] = float(value)
    return budget


def write_budget(figures: dict[str, float]) -> None:
    lines = [
        "# Instructions per message of each shmlane measure under callgrind, the",
        "# budget of `benches/instructions.sh --check` (which fails when a count",
        "# rises more than 5 % above it). Written by `benches/instructions.sh --update`.",
        "measure\tinstructions_per_message",
    ]
    lines += [f"{measure}\t{figures[measure]:.2f}" for measure in MEASURES]
    BUDGET.write_text("\n".join(lines) + "\n")


def check(figures: dict[str, float]) -> bool:
    """Compares the counts with the budget; False when one rose too far."""
    budget = read_budget()
    failed = 0
    for measure in MEASURES:
        count = figures[measure]
        if measure not in budget:
            print(f"instructions: FAIL {measure}: {count:.2f} instructions/message and no "
                  f"budget in {BUDGET.relative_to(ROOT)} (run benches/instructions.sh --update)",
                  file=sys.stderr)
            failed += 1
            continue
        allowed = budget[measure]
        change = count / allowed - 1
        if change > TOLERANCE:
            print(f"instructions: FAIL {measure}: {count:.2f} instructions/message, "
                  f"{change:+.1%} against its budget of {allowed:.2f} (at most "
                  f"{TOLERANCE:+.0%} allowed)", file=sys.stderr)
            failed += 1
        elif change < -TOLERANCE:
            print(f"instructions: note {measure}: {count:.2f} instructions/message, "
                  f"{change:+.1%} against its budget of {allowed:.2f}: update the budget "
                  f"(benches/instructions.sh --update) to hold the gain", file=sys.stderr)
    for measure in sorted(set(budget) - set(MEASURES)):
        print(f"instructions: FAIL {measure}: in the budget but no longer measured "
              f"(run benches/instructions.sh --update)", file=sys.stderr)
        failed += 1
    if failed:
        print(f"instructions: {failed} measure(s) out of budget: find the new instructions "
              f"with callgrind_annotate on the output files, or, for a rise that is meant, "
              f"run benches/instructions.sh --update and say why in the commit",
              file=sys.stderr)
    return failed == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rust", type=Path, required=True, help="the instr-loop binary")
    parser.add_argument("--c", type=Path, required=True, help="the C instr_loop binary")
    parser.add_argument("--out-dir", type=Path, required=True,
                        help="where the callgrind output files are kept")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="fail on a count above its budget")
    mode.add_argument("--update", action="store_true", help="write this run's counts as the budget")
    args = parser.parse_args()

    started = time.monotonic()
    per_case = measure_all({"rust": args.rust, "c": args.c}, max(1, args.jobs), args.out_dir)
    figures = {}
    for measure in MEASURES:
        count = per_case[program_of(measure)]
        peer = per_case[peer_of(measure)]
        figures[measure] = count
        print(f"{measure} {count:.2f} {peer:.2f} {count / peer:.2f}")
    print(f"instructions: {len(per_case)} cases, {len(per_case) * len(COUNTS)} callgrind runs "
          f"of {COUNTS[0]} and {COUNTS[1]} messages in {time.monotonic() - started:.0f} s; "
          f"output in {args.out_dir}", file=sys.stderr)

    if args.update:
        write_budget(figures)
        print(f"instructions: wrote {BUDGET.relative_to(ROOT)}", file=sys.stderr)
    elif args.check:
        if not check(figures):
            return 1
        print(f"instructions: no count more than {TOLERANCE:.0%} above its budget",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Run shmlane's whole benchmark suite and write docs/benchmarks.md.

One command for every row of the performance budget (the targets in
benches/ratios.py, TARGETS, and the budget rows below) and of the benchmark
part of issue 8, each beside its peer or floor in the same run:

  1. the criterion benches `spsc` and `mpmc` (throughput against rtrb,
     crossbeam's ArrayQueue and a single-thread memcpy),
  2. `pingpong --json` (round trips between two processes against a raw atomic,
     a raw futex, a Unix socket pair, a pipe pair, ringfire and iceoryx2
     publish-subscribe),
  2b. `crossproc --json` (64-byte messages from one process to another
     against ringfire, ipc_ring and shmring, with rtrb between two threads as
     the in-process reference),
  3. `idle --json` (CPU use of a consumer asleep in a blocking read),
  4. benches/c-vs-rust.sh (the C API against the Rust API),
  5. the Go package against the Rust API (bindings-go/cmd/shmlane-bench
     `compare`; for allocations per message, `go test -run
     TestHotPathAllocatesNothing` and `go test -bench -benchmem`), when Go and
     that command are there; otherwise the step is skipped with a note,
  6. benches/instructions.sh (instructions per message under callgrind
     against rtrb, ArrayQueue and, for the C API, the Rust API), when
     valgrind, cc and make are there.

It then writes the report (Markdown, with two SVG plots written as SVG text)
from that run's results only, and keeps the raw results as JSON beside the
criterion results (<target>/shmlane-suite/).

Usage:
  python3 benches/suite.py            # full run
  python3 benches/suite.py --quick    # smoke test, short measurements

The report's "Time per step" table gives how long each step of its run took.

Options:
  --quick            short measurements everywhere; the report goes to
                     <target>/shmlane-suite/quick/benchmarks.md unless --out says
                     otherwise, so that a smoke test never replaces docs/benchmarks.md
  --out FILE         where to write the report (default docs/benchmarks.md);
                     the plots go to a directory named after it (docs/benchmarks/)
  --skip STEP        skip a step (spsc, mpmc, crossproc, pingpong, idle, c, go, instructions);
                     repeatable
  --render-only JSON re-render the report from the results file of an earlier run
                     (<target>/shmlane-suite/results.json) without measuring

Python 3.11 standard library only. Run it from anywhere; it works in the
repository it lives in and honours CARGO_TARGET_DIR.

Adding a step: write a `step_<name>(ctx)` function that runs commands through
`ctx.run(...)` and returns a dict of results (or raises Skip("why")), add it to
STEPS, and give the report its rows in `budget_rows` and a section in
`render_markdown`.
"""

import argparse
import datetime
import json
import math
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCHES = Path(__file__).resolve().parent
ROOT = BENCHES.parent
sys.path.insert(0, str(BENCHES))
import ratios  # noqa: E402  (the criterion groups' targets live there)
import instructions  # noqa: E402  (the callgrind measures' targets live there)

ESTIMATE = "median"  # criterion's point estimate used for every throughput

# Cargo features of shmlane-benches every bench command builds with: the same
# set each time, so that no step rebuilds the crate. `iceoryx2` adds that peer
# to `pingpong` (left out of CI's build for its size).
BENCH_FEATURES = ["--features", "iceoryx2"]

# The peer crates the report names, with what each is used for; their
# versions are read from Cargo.lock.
PEER_CRATES = [
    ("rtrb", "SPSC groups and `crossproc`: `RingBuffer` between two threads, "
             "`[u8; 64]` items written and read in place through one-slot chunks"),
    ("crossbeam-queue", "MPMC groups: `ArrayQueue<u64>`, `push`/`pop`"),
    ("ringfire", "`crossproc`: SPMC `RingProducer<[u8; 64]>` with "
                 "`FlowControl::LosslessBackpressure` and one registered `RingConsumer`, "
                 "`try_push`/`try_recv`; `pingpong`: one SPMC ring of `u64` per direction, "
                 "default lossy policy, spinning on `try_recv`; default features off (no tokio)"),
    ("ipc_ring", "`crossproc`: `RingWriter`/`RingReader` byte ring of 128 KiB, "
                 "`try_push`/`try_pop` (each call also wakes the peer's futex)"),
    ("shmring", "`crossproc`: byte stream over `shm_open` of 64 KiB, "
                "`try_write`/`try_read` of 64 bytes"),
    ("iceoryx2", "`pingpong`: publish-subscribe `ipc` service of `u64` per direction, "
                 "default settings, a node per process, `loan_uninit` + `write_payload` + "
                 "`send`, spinning on `receive`; cargo feature `iceoryx2` of shmlane-benches"),
]

# Message sizes of the one-at-a-time SPSC groups, for the bytes/s figures and the plot.
SIZED_GROUPS = {
    "spsc-8B-one": 8,
    "spsc-64B-one": 64,
    "spsc-1KiB-one": 1024,
    "spsc-64KiB-one": 65536,
}
MESSAGE_BYTES = {
    **SIZED_GROUPS,
    "spsc-8B-batch64": 8,
    "spsc-8B-batch256": 8,
    "spsc-8B-blocking": 8,
    "spsc-64B-processes": 64,
    "mpmc-1p1c": 8,
    "mpmc-2p2c": 8,
}

# What each criterion group measures, in words, for the report.
GROUP_WORDS = {
    "spsc-8B-one": "SPSC, 8-byte messages, one at a time, two threads",
    "spsc-8B-batch64": "SPSC, 8-byte messages, batches of 64",
    "spsc-8B-batch256": "SPSC, 8-byte messages, batches of 256",
    "spsc-8B-blocking": "SPSC, 8-byte messages, blocking send/recv",
    "spsc-64B-one": "SPSC, 64-byte messages, one at a time, two threads",
    "spsc-64B-processes": "SPSC, 64-byte messages across processes, one at a time",
    "spsc-1KiB-one": "SPSC, 1 KiB messages, reserve + fill + commit",
    "spsc-64KiB-one": "SPSC, 64 KiB messages, reserve + fill + commit",
    "mpmc-1p1c": "MPMC, 1 producer + 1 consumer",
    "mpmc-2p2c": "MPMC, 2 producers + 2 consumers",
}
PEER_WORDS = {
    "rtrb": "rtrb",
    "arrayqueue": "crossbeam ArrayQueue",
    "memcpy": "single-thread memcpy",
}

IDLE_TARGET_WORDS = "~0% CPU"

# Groups left out of the budget table: `spsc-8B-blocking` has no target, and its
# ratio against rtrb's non-blocking loop says little (its figures are in the
# table of absolute numbers).
NO_BUDGET_ROW = {"spsc-8B-blocking"}


class Skip(Exception):
    """A step that cannot run here; the message says why."""


class StepFailed(Exception):
    """A command of a step failed."""


# ---------------------------------------------------------------------------
# Running commands


class Context:
    def __init__(self, args, target_dir, work_dir):
        self.quick = args.quick
        self.target_dir = target_dir
        self.work_dir = work_dir
        self.commands = []  # shell text of each command, in the order run

    def run(self, argv, cwd=ROOT, env=None, log=None):
        """Runs `argv`, echoing its output as it comes; returns the output.
        Raises StepFailed on a non-zero exit."""
        extra = env or {}

        def shown(arg):
            # A path relative to the directory the command runs in: the
            # repository root, or a directory of it that the text `cd`s to.
            return os.path.relpath(arg, cwd) if isinstance(arg, Path) else str(arg)

        text = " ".join(f"{k}={shlex.quote(v)}" for k, v in extra.items())
        text = (text + " " if text else "") + " ".join(shlex.quote(shown(a)) for a in argv)
        if cwd != ROOT:
            text = f"(cd {shlex.quote(root_relative(cwd))} && {text})"
        self.commands.append(text)
        print(f"\n$ {text}", flush=True)
        full_env = dict(os.environ, **extra)
        started = time.monotonic()
        process = subprocess.Popen([str(a) for a in argv], cwd=cwd, env=full_env,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, errors="replace")
        lines = []
        for line in process.stdout:
            print(line, end="", flush=True)
            lines.append(line)
        code = process.wait()
        output = "".join(lines)
        if log:
            (self.work_dir / log).write_text(output)
        if code != 0:
            raise StepFailed(f"`{text}` exited with status {code} "
                             f"after {time.monotonic() - started:.0f} s")
        return output

    def cargo_bench(self, step, bench, bench_args=(), env=None):
        argv = ["cargo", "bench", "-p", "shmlane-benches", *BENCH_FEATURES, "--bench", bench]
        if bench_args:
            argv += ["--", *bench_args]
        return self.run(argv, env=env, log=f"{step}.log")


def display_path(path):
    """`path` relative to the repository root when inside it (for the console)."""
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def root_relative(path):
    """`path` relative to the repository root, with `..` if outside it: the
    report never shows an absolute path of the machine it ran on. A relative
    path is one already (cargo and the suite's commands run from the root)."""
    return os.path.relpath(path, ROOT) if os.path.isabs(path) else str(path)


def first_line(argv):
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if out.returncode == 0 and text else None


def cargo_target_dir():
    out = subprocess.run(["cargo", "metadata", "--format-version", "1", "--no-deps"],
                         cwd=ROOT, capture_output=True, text=True, check=True)
    return Path(json.loads(out.stdout)["target_directory"])


# ---------------------------------------------------------------------------
# The machine


def machine():
    cpu_model, flags = None, ""
    cores = set()  # (physical id, core id)
    physical = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key, value = key.strip(), value.strip()
            if key == "model name" and cpu_model is None:
                cpu_model = value
            elif key == "flags" and not flags:
                flags = value
            elif key == "physical id":
                physical = value
            elif key == "core id":
                cores.add((physical, value))
    except OSError:
        pass
    caches = []
    for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        try:
            level = (index / "level").read_text().strip()
            kind = (index / "type").read_text().strip()
            size = (index / "size").read_text().strip()
            shared = (index / "shared_cpu_list").read_text().strip()
        except OSError:
            continue
        name = f"L{level}" + {"Data": "d", "Instruction": "i"}.get(kind, "")
        caches.append(f"{name} {size} (CPUs {shared})")
    memory = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    os_name = None
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    git = first_line(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain"],
                           capture_output=True, text=True).stdout.strip()
    return {
        "cpu_model": cpu_model or platform.processor() or "unknown",
        "logical_cpus": os.cpu_count(),
        "cores": len(cores) or None,
        "caches": ", ".join(caches) or None,
        "usable_cpus": len(os.sched_getaffinity(0)),
        "virtualized": "hypervisor" in flags.split(),
        "memory": memory,
        "kernel": f"{platform.system()} {platform.release()} {platform.machine()}",
        "os": os_name,
        "rustc": first_line(["rustc", "--version"]),
        "cargo": first_line(["cargo", "--version"]),
        "go": first_line(["go", "version"]),
        "cc": first_line(["cc", "--version"]),
        "python": platform.python_version(),
        "git": (git + (" with uncommitted changes" if dirty else "")) if git else None,
    }


# ---------------------------------------------------------------------------
# Steps


def step_build(ctx):
    ctx.run(["cargo", "bench", "-p", "shmlane-benches", *BENCH_FEATURES, "--no-run"],
            log="build.log")


def criterion_step(ctx, step, bench):
    started = time.time()
    env = {"SHMLANE_BENCH_QUICK": "1"} if ctx.quick else None
    ctx.cargo_bench(step, bench, env=env)
    return read_criterion(ctx.target_dir / "criterion", step + "-", started)


def step_spsc(ctx):
    return criterion_step(ctx, "spsc", "spsc")


def step_mpmc(ctx):
    return criterion_step(ctx, "mpmc", "mpmc")


def read_criterion(criterion_dir, prefix, since):
    """{group: {bench: {"ns": time per message, "rate": messages/s}}} for the
    groups named `prefix*` that this run measured (results older than `since`
    are left out: they are from an earlier run)."""
    groups = {}
    if not criterion_dir.is_dir():
        return groups
    for group_dir in sorted(criterion_dir.iterdir()):
        if not group_dir.is_dir() or not group_dir.name.startswith(prefix):
            continue
        for bench_dir in sorted(group_dir.iterdir()):
            estimates = bench_dir / "new" / "estimates.json"
            if not estimates.is_file() or estimates.stat().st_mtime < since - 1:
                continue
            rate = ratios.messages_per_second(bench_dir, ESTIMATE)
            if rate is None:
                continue
            groups.setdefault(group_dir.name, {})[bench_dir.name] = {
                "ns": 1e9 / rate,
                "rate": rate,
            }
    return groups


def step_pingpong(ctx):
    path = ctx.work_dir / "pingpong.json"
    path.unlink(missing_ok=True)
    ctx.cargo_bench("pingpong", "pingpong",
                    ["--json", path] + (["--quick"] if ctx.quick else []))
    return json.loads(path.read_text())


def step_crossproc(ctx):
    path = ctx.work_dir / "crossproc.json"
    path.unlink(missing_ok=True)
    ctx.cargo_bench("crossproc", "crossproc",
                    ["--json", path] + (["--quick"] if ctx.quick else []))
    return json.loads(path.read_text())


def peer_versions():
    """{crate: version} of the peer crates, from Cargo.lock."""
    versions = {}
    try:
        text = (ROOT / "Cargo.lock").read_text()
    except OSError:
        return versions
    names = {name for name, _ in PEER_CRATES}
    for m in re.finditer(r'\[\[package\]\]\nname = "([^"]+)"\nversion = "([^"]+)"', text):
        if m.group(1) in names:
            versions.setdefault(m.group(1), []).append(m.group(2))
    return {name: ", ".join(found) for name, found in versions.items()}


def step_idle(ctx):
    path = ctx.work_dir / "idle.json"
    path.unlink(missing_ok=True)
    ctx.cargo_bench("idle", "idle", ["--json", path] + (["--quick"] if ctx.quick else []))
    return json.loads(path.read_text())


def step_c(ctx):
    missing = [tool for tool in ("cc", "make") if shutil.which(tool) is None]
    if missing:
        raise Skip(f"{' and '.join(missing)} not found: the C API cannot be built here")
    rounds, messages = (3, 2_000_000) if ctx.quick else (5, 10_000_000)
    out = ctx.run(["benches/c-vs-rust.sh", str(rounds), str(messages)], log="c-vs-rust.log")
    result = {"rounds": rounds, "messages": messages}
    for line in out.splitlines():
        if m := re.match(r"rust msgs/s: (.*)", line):
            result["rust_rates"] = [float(v) for v in m.group(1).split()]
        elif m := re.match(r"c\s+msgs/s: (.*)", line):
            result["c_rates"] = [float(v) for v in m.group(1).split()]
        elif m := re.match(r"median: rust ([\d.]+) M msgs/s, c ([\d.]+) M msgs/s, "
                           r"c/rust ([\d.]+)", line):
            result["rust_median"] = float(m.group(1)) * 1e6
            result["c_median"] = float(m.group(2)) * 1e6
            result["ratio"] = float(m.group(3))
    if "ratio" not in result:
        raise StepFailed("benches/c-vs-rust.sh printed no `median:` line")
    return result


GO_DIR = ROOT / "bindings-go"
GO_BENCH_CMD = GO_DIR / "cmd" / "shmlane-bench"
GO_PEER_CMD = GO_DIR / "cmd" / "shmlane-peer"
GO_ALLOC_BENCH = "BenchmarkSPSCOneAtATimeFixed8"
# Asserts, with testing.AllocsPerRun, that no hot-path form allocates per message.
GO_ALLOC_TEST = "TestHotPathAllocatesNothing"


def step_go(ctx):
    if shutil.which("go") is None:
        raise Skip("`go` not found on PATH")
    for needed in (GO_BENCH_CMD, GO_PEER_CMD):
        if not (needed / "main.go").is_file():
            raise Skip(f"{root_relative(needed)} does not exist (yet)")
    rounds, messages, thread_messages, alloc_n = (
        (1, 200_000, 2_000_000, 200_000) if ctx.quick else (5, 1_000_000, 10_000_000, 5_000_000))
    ctx.run(["cargo", "build", "--release", "-q", "-p", "shmlane-benches",
             "--bin", "spsc-throughput", "-p", "shmlane-conformance",
             "--bin", "shmlane-peer"], log="go-build-rust.log")
    bin_dir = ctx.work_dir / "go-bin"
    bin_dir.mkdir(exist_ok=True)
    bench_bin, peer_bin = bin_dir / "shmlane-bench", bin_dir / "shmlane-peer"
    ctx.run(["go", "build", "-o", bench_bin, "./cmd/shmlane-bench"], cwd=GO_DIR,
            log="go-build-bench.log")
    ctx.run(["go", "build", "-o", peer_bin, "./cmd/shmlane-peer"], cwd=GO_DIR,
            log="go-build-peer.log")
    release = ctx.target_dir / "release"
    out = ctx.run([bench_bin, "compare",
                   "--rust-throughput", release / "spsc-throughput",
                   "--rust-peer", release / "shmlane-peer",
                   "--go-peer", peer_bin,
                   "--rounds", str(rounds), "--messages", str(messages),
                   "--thread-messages", str(thread_messages)],
                  log="go-compare.log")
    result = {"rounds": rounds, "messages": messages, "thread_messages": thread_messages,
              "rates": {}, "ratios": {}}
    for line in out.splitlines():
        if m := re.match(r"(.+?)\s+M msgs/s: (.*?)\s+median ([\d.]+)\s*$", line):
            result["rates"][m.group(1).strip()] = {
                "each": [float(v) * 1e6 for v in m.group(2).split()],
                "median": float(m.group(3)) * 1e6,
            }
        elif m := re.match(r"ratio (.+?): ([\d.]+)\s*$", line):
            result["ratios"][m.group(1).strip()] = float(m.group(2))
    if "threads go/rust" not in result["ratios"]:
        raise StepFailed("shmlane-bench compare printed no `ratio threads go/rust:` line")
    # The verdict on allocations: the test passes, or fails naming what allocated.
    try:
        ctx.run(["go", "test", "-run", f"^{GO_ALLOC_TEST}$", "-count", "1", "."],
                cwd=GO_DIR, log="go-test-allocs.log")
        result["alloc_test"] = {"name": GO_ALLOC_TEST, "passed": True}
    except StepFailed:
        if f"--- FAIL: {GO_ALLOC_TEST}" not in (ctx.work_dir / "go-test-allocs.log").read_text():
            raise  # not a failed assertion: the test did not build or run
        result["alloc_test"] = {"name": GO_ALLOC_TEST, "passed": False}
    # For information: -benchmem's allocs/op, which rounds down.
    out = ctx.run(["go", "test", "-run", "^$", "-bench", f"^{GO_ALLOC_BENCH}$",
                   "-benchmem", "-benchtime", f"{alloc_n}x", "-count", "1", "."],
                  cwd=GO_DIR, log="go-test-bench.log")
    for line in out.splitlines():
        m = re.match(rf"{GO_ALLOC_BENCH}(?:-\d+)?\s+(\d+)\s+([\d.]+) ns/op.*?"
                     r"(\d+) B/op\s+(\d+) allocs/op", line)
        if m:
            result["alloc_bench"] = {
                "name": GO_ALLOC_BENCH, "n": int(m.group(1)), "ns_per_op": float(m.group(2)),
                "bytes_per_op": int(m.group(3)), "allocs_per_op": int(m.group(4)),
            }
    if "alloc_bench" not in result:
        raise StepFailed(f"`go test -bench {GO_ALLOC_BENCH}` printed no allocs/op figure")
    return result


def step_instructions(ctx):
    missing = [tool for tool in ("valgrind", "cc", "make") if shutil.which(tool) is None]
    if missing:
        raise Skip(f"{' and '.join(missing)} not found: no callgrind counts here")
    # Counts, not timings: the same in a quick run, and under a minute.
    out = ctx.run(["benches/instructions.sh"], log="instructions.log")
    measures = []
    for line in out.splitlines():
        if m := re.fullmatch(r"(\S+) ([\d.]+) ([\d.]+) ([\d.]+)", line.strip()):
            measures.append({"measure": m.group(1), "shmlane": float(m.group(2)),
                             "peer": float(m.group(3)), "ratio": float(m.group(4))})
    if not measures:
        raise StepFailed("benches/instructions.sh printed no measure")
    return {"counts": list(instructions.COUNTS), "measures": measures}


def instructions_peer(measure):
    """The peer of a callgrind measure, in words."""
    if measure.startswith("c-"):
        return f"the Rust API (`{measure.removeprefix('c-')}`)"
    return "rtrb push+pop" if measure.startswith("spsc-") else "crossbeam ArrayQueue push+pop"


STEPS = [
    ("spsc", step_spsc),
    ("mpmc", step_mpmc),
    ("crossproc", step_crossproc),
    ("pingpong", step_pingpong),
    ("idle", step_idle),
    ("c", step_c),
    ("go", step_go),
    ("instructions", step_instructions),
]


# ---------------------------------------------------------------------------
# Budget rows


def verdict(value, op, target):
    if value is None:
        return "not measured"
    if target is None:
        return "—"
    ok = value >= target if op == ">=" else value <= target
    return "met" if ok else "**missed**"


def budget_rows(results):
    """Rows of the ratio table: dicts with measure, source, ours, peer, ratio
    (a number, or None if not measured), unit, op (">=" or "<="), target (None:
    reported for information) and verdict; optionally value_text and
    target_text, which replace the figure and the target in the table."""
    rows = []
    steps = results["steps"]
    groups = {}
    for name in ("spsc", "mpmc"):
        groups.update((steps.get(name) or {}).get("data") or {})

    def criterion_row(group, peer, target, measure=None):
        benches = groups.get(group, {})
        for variant in ratios.shmlane_variants(benches):
            ratio = ratios.ratio(benches.get(variant, {}).get("rate"),
                                 benches.get(peer, {}).get("rate"))
            rows.append({
                "measure": measure or GROUP_WORDS.get(group, group),
                "source": f"`{group}`",
                "ours": variant,
                "peer": PEER_WORDS.get(peer, peer),
                "ratio": ratio,
                "unit": "× throughput",
                "op": ">=",
                "target": target,
                "verdict": verdict(ratio, ">=", target),
            })

    for group in ratios.TARGETS:
        if group.startswith("spsc-") and group not in NO_BUDGET_ROW:
            criterion_row(group, "rtrb", ratios.TARGETS[group])
    for group, (floor, target) in ratios.FLOORS.items():
        criterion_row(group, floor, target,
                      measure=GROUP_WORDS.get(group, group) + ", against the bandwidth "
                      "floor (the consumer reads only the first 8 bytes of each message)")
    for group in ratios.TARGETS:
        if group.startswith("mpmc-"):
            criterion_row(group, "arrayqueue", ratios.TARGETS[group])

    crossproc = (steps.get("crossproc") or {}).get("data")
    for r in (crossproc or {}).get("ratios", CROSSPROC_PAIRS):
        ratio = r.get("median")
        target = r.get("target_min")
        rows.append({"measure": "SPSC, 64-byte messages across processes, one at a time",
                     "source": "`crossproc`", "ours": r["shmlane"],
                     "peer": CROSSPROC_PEER_WORDS.get(r["peer"], r["peer"]), "ratio": ratio,
                     "unit": "× throughput", "op": ">=", "target": target,
                     "verdict": verdict(ratio, ">=", target)})

    pingpong = (steps.get("pingpong") or {}).get("data")
    # The targets come with the results: the pingpong bench holds them.
    pingpong_targets = {(r["shmlane"], r["peer"]): r["target_max"]
                        for r in (pingpong or {}).get("ratios", [])}
    pingpong_pairs = [
        ("ping-pong round trip, spinning, two processes", "shmlane-spinning", "atomic"),
        ("ping-pong round trip, spinning, two processes", "shmlane-spinning",
         "ringfire-spinning"),
        ("ping-pong round trip, spinning, two processes", "shmlane-spinning",
         "iceoryx2-spinning"),
        ("ping-pong round trip, sleeping waits", "shmlane-sleeping", "futex"),
        ("ping-pong round trip, sleeping waits", "shmlane-sleeping", "socketpair"),
        ("ping-pong round trip, sleeping waits", "shmlane-sleeping", "pipe"),
    ]
    peer_words = {"atomic": "raw atomic on a shared page", "futex": "raw futex (floor)",
                  "ringfire-spinning": "ringfire SPMC rings, spinning",
                  "iceoryx2-spinning": "iceoryx2 pub-sub, spinning",
                  "socketpair": "Unix socket pair", "pipe": "pipe pair"}
    for measure, ours, peer in pingpong_pairs:
        ratio = pingpong_ratio(pingpong, ours, peer) if pingpong else None
        target = pingpong_targets.get((ours, peer))
        rows.append({"measure": measure, "source": "`pingpong`", "ours": ours,
                     "peer": peer_words[peer], "ratio": ratio, "unit": "× p50",
                     "op": "<=", "target": target, "verdict": verdict(ratio, "<=", target)})

    c = (steps.get("c") or {}).get("data")
    ratio = c["ratio"] if c else None
    target = ratios.OTHER_TARGETS["c"]
    rows.append({"measure": "C API, SPSC one at a time (8 B, two threads)",
                 "source": "`c-vs-rust.sh`", "ours": "C API", "peer": "the Rust API",
                 "ratio": ratio, "unit": "× throughput", "op": ">=", "target": target,
                 "verdict": verdict(ratio, ">=", target)})

    go = (steps.get("go") or {}).get("data")
    ratio = go["ratios"].get("threads go/rust") if go else None
    target = ratios.OTHER_TARGETS["go"]
    rows.append({"measure": "Go, SPSC one at a time (8 B, two threads)",
                 "source": "`shmlane-bench compare`", "ours": "Go package",
                 "peer": "the Rust API", "ratio": ratio, "unit": "× throughput", "op": ">=",
                 "target": target, "verdict": verdict(ratio, ">=", target)})
    rows.append(go_allocations_row(go))

    counted = {m["measure"]: m for m in
               ((steps.get("instructions") or {}).get("data") or {}).get("measures", [])}
    for measure, target in instructions.TARGETS.items():
        ratio = counted[measure]["ratio"] if measure in counted else None
        rows.append({"measure": f"instructions per message, `{measure}`, single thread",
                     "source": "`instructions.sh`",
                     "ours": "C API" if measure.startswith("c-") else "shmlane",
                     "peer": instructions_peer(measure), "ratio": ratio,
                     "unit": "× instructions", "op": "<=", "target": target,
                     "verdict": verdict(ratio, "<=", target)})

    idle = (steps.get("idle") or {}).get("data")
    percent = idle["strategies"][0]["cpu_percent"] if idle else None
    target = ratios.OTHER_TARGETS["idle"]
    rows.append({"measure": "idle consumer in sleeping mode", "source": "`idle`",
                 "ours": "sleeping", "peer": "—", "ratio": percent, "unit": "% CPU",
                 "op": "<=", "target": target, "verdict": verdict(percent, "<=", target),
                 "target_text": f"{IDLE_TARGET_WORDS} (≤ {target:g}%)"})
    return rows


# The crossproc rows when the step did not run (the bench holds the targets).
CROSSPROC_PAIRS = [{"shmlane": ours, "peer": peer}
                   for ours in ("shmlane-zero-copy", "shmlane-copy")
                   for peer in ("ringfire", "ipc_ring", "shmring", "rtrb-threads")]
CROSSPROC_PEER_WORDS = {"ringfire": "ringfire SPMC, lossless, across processes",
                        "ipc_ring": "ipc_ring, across processes",
                        "shmring": "shmring, across processes",
                        "rtrb-threads": "rtrb `[u8; 64]`, two threads"}


def go_allocations_row(go):
    """The Go allocations row: the verdict is GO_ALLOC_TEST's (testing.AllocsPerRun,
    0 allocations per message); -benchmem's allocs/op, which rounds down, is
    shown beside it for information."""
    test = (go or {}).get("alloc_test")
    bench = (go or {}).get("alloc_bench")
    parts = []
    if test:
        parts.append("0 allocs/message" if test["passed"] else "allocates")
    if bench:
        allocs = bench["allocs_per_op"]
        benchmem = "< 1" if allocs == 0 else f"{allocs} to {allocs + 1}"
        parts.append(f"(`-benchmem`: {benchmem} allocs/op)")
    if test is None:
        verdict_text = "not measured"
    else:
        verdict_text = "met" if test["passed"] else "**missed**"
    return {"measure": "Go, allocations per message", "source": f"`{GO_ALLOC_TEST}`",
            "ours": "Go package", "peer": "—", "ratio": None, "unit": "allocs/message",
            "op": "<=", "target": 0, "verdict": verdict_text,
            "value_text": " ".join(parts) or "—",
            "target_text": "0 allocs/message (`testing.AllocsPerRun`)"}


def pingpong_ratio(pingpong, ours, peer):
    """The median over repetitions of the ratio of p50s within each one (as the
    bench computes its own targets)."""
    by_name = {v["name"]: v for v in pingpong["variants"]}
    if ours not in by_name or peer not in by_name:
        return None
    ratios_each = [a / b for a, b in zip(by_name[ours]["p50_us"], by_name[peer]["p50_us"])]
    return statistics.median(ratios_each)


# ---------------------------------------------------------------------------
# SVG plots, written as text

FONT = 'font-family="sans-serif"'
SERIES_STYLE = {
    "shmlane": ("#1f6fb4", ""),
    "shmlane-fixed": ("#2ca4a0", ""),
    "rtrb": ("#e6801a", ""),
    "memcpy": ("#666666", ' stroke-dasharray="6 4"'),
}
SERIES_LEGEND = {"memcpy": "memcpy (floor)"}
PERCENTILES = [("p50", "p50_us", "#c6dbef"), ("p90", "p90_us", "#6baed6"),
               ("p99", "p99_us", "#2171b5"), ("p99.9", "p999_us", "#08306b")]


def esc(text):
    return (str(text).replace("&", "&amp;").replace("<", "&lt;")
            .replace(">", "&gt;").replace('"', "&quot;"))


def log_ticks(low, high):
    """Decades covering [low, high] with a margin, so that no point sits on
    the frame: the exponents of 10 from the first below to the first above."""
    return list(range(math.floor(math.log10(low) - 0.1), math.ceil(math.log10(high) + 0.1) + 1))


def svg_open(width, height, left, title, subtitle):
    """The opening lines of a plot: the <svg> element, a white background, the
    title and, below it, the subtitle."""
    return [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" {FONT} font-size="12">',
            f'<rect width="{width}" height="{height}" fill="white"/>',
            f'<text x="{left}" y="22" font-size="15" font-weight="bold">{esc(title)}</text>',
            f'<text x="{left}" y="40" fill="#555">{esc(subtitle)}</text>']


def log_y_axis(values, left, top, plot_w, plot_h, label):
    """A decimal log scale covering `values` in the plot area at (left, top) of
    plot_w × plot_h: (y_of, the lowest value on the scale, the SVG lines of a
    grid line and a tick label, label(10 ** n), per decade)."""
    decades = log_ticks(min(values), max(values))
    y_low, y_high = decades[0], decades[-1]
    if y_low == y_high:
        y_high += 1

    def y_of(value):
        return top + plot_h - (math.log10(value) - y_low) / (y_high - y_low) * plot_h

    lines = []
    for exponent in range(y_low, y_high + 1):
        y = y_of(10 ** exponent)
        lines.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" '
                     f'stroke="#ddd"/>')
        lines.append(f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">'
                     f'{esc(label(10 ** exponent))}</text>')
    return y_of, 10 ** y_low, lines


def throughput_svg(groups, title_note):
    """Bytes/s by message size (log-log), one line per series."""
    points = {}  # series -> [(size, bytes/s)]
    for group, size in SIZED_GROUPS.items():
        for bench, figures in groups.get(group, {}).items():
            if bench in SERIES_STYLE:
                points.setdefault(bench, []).append((size, figures["rate"] * size))
    if not points:
        return None
    width, height = 760, 440
    left, right, top, bottom = 80, 170, 50, 60
    plot_w, plot_h = width - left - right, height - top - bottom
    sizes = list(SIZED_GROUPS.values())
    values = [v for series in points.values() for _, v in series]
    x_low, x_high = math.log2(sizes[0]), math.log2(sizes[-1])

    def x_of(size):
        return left + (math.log2(size) - x_low) / (x_high - x_low) * plot_w

    y_of, _, grid = log_y_axis(values, left, top, plot_w, plot_h, bytes_per_second)
    out = svg_open(width, height, left,
                   "SPSC throughput by message size, one message at a time",
                   f"bytes/s, log scales; {title_note}")
    out += grid
    for size in sizes:
        x = x_of(size)
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + plot_h}" '
                   f'stroke="#eee"/>')
        out.append(f'<text x="{x:.1f}" y="{top + plot_h + 18}" text-anchor="middle">'
                   f'{esc(size_label(size))}</text>')
    out.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" '
               f'stroke="#333"/>')
    out.append(f'<text x="{left + plot_w / 2}" y="{height - 15}" text-anchor="middle">'
               f'message size</text>')
    for index, (series, (colour, dash)) in enumerate(SERIES_STYLE.items()):
        if series not in points:
            continue
        line = sorted(points[series])
        path = " ".join(f"{x_of(s):.1f},{y_of(v):.1f}" for s, v in line)
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" '
                   f'stroke-width="2"{dash}/>')
        for size, value in line:
            out.append(f'<circle cx="{x_of(size):.1f}" cy="{y_of(value):.1f}" r="4" '
                       f'fill="{colour}"><title>{esc(series)}, {esc(size_label(size))}: '
                       f'{esc(bytes_per_second(value))}</title></circle>')
        legend_y = top + 10 + index * 22
        out.append(f'<line x1="{left + plot_w + 15}" y1="{legend_y}" '
                   f'x2="{left + plot_w + 45}" y2="{legend_y}" stroke="{colour}" '
                   f'stroke-width="2"{dash}/>')
        out.append(f'<text x="{left + plot_w + 52}" y="{legend_y + 4}">'
                   f'{esc(SERIES_LEGEND.get(series, series))}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def latency_svg(pingpong, title_note):
    """Grouped bars: p50/p90/p99/p99.9 round trip per variant (log scale)."""
    variants = pingpong["variants"]
    bars = []  # (variant, [(label, value µs, colour)])
    for variant in variants:
        figures = []
        for label, key, colour in PERCENTILES:
            if key in variant:
                figures.append((label, statistics.median(variant[key]), colour))
        bars.append((variant, figures))
    values = [v for _, figures in bars for _, v, _ in figures if v > 0]
    if not values:
        return None
    width, height = 820, 440
    left, right, top, bottom = 70, 120, 50, 80
    plot_w, plot_h = width - left - right, height - top - bottom
    y_of, lowest, grid = log_y_axis(values, left, top, plot_w, plot_h, lambda v: f"{v:g}")
    out = svg_open(width, height, left, "Ping-pong round trip between two processes",
                   f"µs, log scale; median over repetitions of each percentile; {title_note}")
    out += grid
    slot = plot_w / len(bars)
    bar_w = slot * 0.8 / max(1, len(PERCENTILES))
    for index, (variant, figures) in enumerate(bars):
        x0 = left + index * slot + slot * 0.1
        for position, (label, value, colour) in enumerate(figures):
            x = x0 + position * bar_w
            y = y_of(max(value, lowest))
            out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w - 1:.1f}" '
                       f'height="{top + plot_h - y:.1f}" fill="{colour}"><title>'
                       f'{esc(variant["name"])} {label}: {value:.2f} µs</title></rect>')
        centre = left + index * slot + slot / 2
        out.append(f'<text x="{centre:.1f}" y="{top + plot_h + 18}" text-anchor="middle">'
                   f'{esc(variant["name"])}</text>')
        out.append(f'<text x="{centre:.1f}" y="{top + plot_h + 34}" text-anchor="middle" '
                   f'fill="#555">{esc(variant.get("mode", ""))}</text>')
    out.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" '
               f'stroke="#333"/>')
    for index, (label, _, colour) in enumerate(PERCENTILES):
        legend_y = top + 10 + index * 22
        out.append(f'<rect x="{left + plot_w + 15}" y="{legend_y - 8}" width="16" '
                   f'height="12" fill="{colour}"/>')
        out.append(f'<text x="{left + plot_w + 38}" y="{legend_y + 2}">{label}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def size_label(size):
    if size >= 1024:
        return f"{size // 1024} KiB"
    return f"{size} B"


def bytes_per_second(value):
    for unit, scale in (("GB/s", 1e9), ("MB/s", 1e6), ("kB/s", 1e3)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value:.3g} B/s"


# ---------------------------------------------------------------------------
# The report


def fmt_ratio(row):
    if "value_text" in row:
        return row["value_text"]
    value = row["ratio"]
    if value is None:
        return "—"
    if row["unit"] == "% CPU":
        return f"{value:.3f}% CPU"
    return f"{value:.2f}{row['unit'][0]}"


def fmt_target(row):
    if "target_text" in row:
        return row["target_text"]
    if row["target"] is None:
        return "—"
    symbol = "≥" if row["op"] == ">=" else "≤"
    return f"{symbol} {row['target']:.1f}× " + row["unit"].split(" ", 1)[1]


def fmt_duration(seconds):
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


def render_markdown(results, svg_links):
    quick = results["quick"]
    m = results["machine"]
    steps = results["steps"]
    lines = []
    add = lines.append
    add("# shmlane benchmarks")
    add("")
    add("<!-- Generated by `python3 benches/suite.py`; do not edit by hand. -->")
    add(f"> **Generated file.** Written by `python3 benches/suite.py"
        f"{' --quick' if quick else ''}` on {results['date']}; every number and plot below "
        "comes from that one run. Re-run the command to refresh it; do not edit it by hand.")
    if quick:
        add(">")
        add("> **Quick run (smoke test):** every measurement was cut short. These numbers "
            "only show that the suite works; do not quote them.")
    add("")
    add("Ratios are the figures to read: on a shared machine absolute times drift from "
        "run to run, while shmlane and its peer or floor were measured side by side in the "
        "same run; the targets of the budget below are those of `benches/ratios.py`.")
    add("")

    add("## Machine")
    add("")
    add("| | |")
    add("|---|---|")
    cpu = f"{m['cpu_model']}, {m['logical_cpus']} logical CPUs"
    if m.get("cores"):
        cpu += f" on {m['cores']} cores"
    if m["usable_cpus"] != m["logical_cpus"]:
        cpu += f" ({m['usable_cpus']} usable by this process)"
    if m["virtualized"]:
        cpu += ", virtual machine"
    add(f"| CPU | {cpu} |")
    if m.get("caches"):
        add(f"| caches of CPU 0 | {m['caches']} |")
    if m.get("memory"):
        add(f"| memory | {m['memory']} |")
    add(f"| kernel | {m['kernel']} |")
    if m.get("os"):
        add(f"| OS | {m['os']} |")
    for tool in ("rustc", "cargo", "go", "cc", "python"):
        add(f"| {tool} | {m.get(tool) or 'not found'} |")
    if m.get("git"):
        add(f"| commit | {m['git']} |")
    add(f"| date | {results['date']} |")
    add(f"| load average (1 min) | {results['load_before']:.2f} before, "
        f"{results['load_after']:.2f} after |")
    add(f"| run time | {fmt_duration(results['run_seconds'])} measuring "
        f"(+ {fmt_duration(results['build_seconds'])} building) |")
    add("")

    add("## Budget: shmlane against its peers and floors")
    add("")
    rows = budget_rows(results)
    met = sum(r["verdict"] == "met" for r in rows)
    missed = sum(r["verdict"] == "**missed**" for r in rows)
    unmeasured = sum(r["verdict"] == "not measured" for r in rows)
    add(f"Rows meeting their target: {met}; missing it: {missed}; not measured in this "
        f"run: {unmeasured} (a row per shmlane variant). Rows without a target are issue "
        "8's further comparisons, reported for information.")
    add("")
    add("| measure | source | shmlane | peer or floor | ratio | target | verdict |")
    add("|---|---|---|---|---:|---|---|")
    for row in rows:
        add(f"| {row['measure']} | {row['source']} | {row['ours']} | {row['peer']} | "
            f"{fmt_ratio(row)} | {fmt_target(row)} | {row['verdict']} |")
    add("")
    add("Throughput ratios are shmlane's messages/s over the peer's (criterion's median "
        "time per message); `shmlane` is a ring of variable-length messages, "
        "`shmlane-fixed` one of fixed-size messages. Round-trip ratios are the median over "
        "the bench's repetitions of the ratio of p50s within each repetition (lower is "
        "better).")
    add("")

    add("## Plots")
    add("")
    for caption, link in svg_links:
        add(f"![{caption}]({link})")
        add("")
    if not svg_links:
        add("No plot: the steps they draw on were not measured.")
        add("")

    add("## Absolute numbers")
    add("")
    add("Secondary information: these drift with the machine's load.")
    add("")
    groups = {}
    for name in ("spsc", "mpmc"):
        groups.update((steps.get(name) or {}).get("data") or {})
    if groups:
        add("### Throughput (criterion)")
        add("")
        add("| group | bench | ns/message | M messages/s | MB/s |")
        add("|---|---|---:|---:|---:|")
        order = list(ratios.TARGETS) + sorted(g for g in groups if g not in ratios.TARGETS)
        for group in order:
            for bench, figures in sorted(groups.get(group, {}).items()):
                size = MESSAGE_BYTES.get(group)
                mbs = f"{figures['rate'] * size / 1e6:,.0f}" if size else "—"
                add(f"| `{group}` | {bench} | {figures['ns']:.1f} | "
                    f"{figures['rate'] / 1e6:.2f} | {mbs} |")
        add("")
    crossproc = (steps.get("crossproc") or {}).get("data")
    if crossproc:
        add(f"### 64-byte messages across processes (`crossproc`, {crossproc['messages']:,} "
            f"messages per run)")
        add("")
        add(f"{crossproc['repetitions']} repetitions, each running every variant once in "
            "rotating order; rings of "
            f"{crossproc['capacity']} messages; M messages/s.")
        add("")
        add("| variant | consumer in | each repetition | median |")
        add("|---|---|---|---:|")
        for v in crossproc["variants"]:
            add(f"| {v['name']} | {v['layout']} | "
                f"{' '.join(f'{r / 1e6:.2f}' for r in v['rates'])} | "
                f"{v['median_rate'] / 1e6:.2f} |")
        add("")
    pingpong = (steps.get("pingpong") or {}).get("data")
    if pingpong:
        add("### Ping-pong round trips (`pingpong`, µs)")
        add("")
        add(f"Median over {pingpong['repetitions']} repetitions of each figure; "
            "one repetition pools its blocks' round trips.")
        add("")
        add("| variant | mode | rounds | p50 | p90 | p99 | p99.9 | max | mean |")
        add("|---|---|---:|---:|---:|---:|---:|---:|---:|")
        for v in pingpong["variants"]:
            cells = []
            for key in ("p50_us", "p90_us", "p99_us", "p999_us", "max_us", "mean_us"):
                cells.append(f"{statistics.median(v[key]):.2f}" if key in v else "—")
            add(f"| {v['name']} | {v['mode']} | {v['rounds']:,} | " + " | ".join(cells) + " |")
        add("")
    idle = (steps.get("idle") or {}).get("data")
    if idle:
        add(f"### Idle consumer (`idle`, {idle['idle_s']:g} s wait per strategy)")
        add("")
        add("| strategy | wall s | CPU ms | CPU % | voluntary switches | involuntary |")
        add("|---|---:|---:|---:|---:|---:|")
        for s in idle["strategies"]:
            add(f"| {s['name']} | {s['wall_s']:.3f} | {s['cpu_s'] * 1e3:.3f} | "
                f"{s['cpu_percent']:.3f} | {s['voluntary_switches']} | "
                f"{s['involuntary_switches']} |")
        add("")
    c = (steps.get("c") or {}).get("data")
    if c:
        add(f"### C API against the Rust API (`c-vs-rust.sh`, {c['rounds']} rounds of "
            f"{c['messages']:,} messages)")
        add("")
        add("| API | M messages/s, each round | median |")
        add("|---|---|---:|")
        add(f"| Rust | {' '.join(f'{r / 1e6:.1f}' for r in c.get('rust_rates', []))} | "
            f"{c['rust_median'] / 1e6:.1f} |")
        add(f"| C | {' '.join(f'{r / 1e6:.1f}' for r in c.get('c_rates', []))} | "
            f"{c['c_median'] / 1e6:.1f} |")
        add("")
    counted = (steps.get("instructions") or {}).get("data")
    if counted:
        low, high = counted["counts"]
        add("### Instructions per message (`instructions.sh`, callgrind)")
        add("")
        add(f"Single thread, push then pop one message; the difference of the total "
            f"instructions of runs of {low:,} and {high:,} messages over the "
            f"{high - low:,} extra ones. Counts, not timings: they repeat exactly for the "
            "same binary.")
        add("")
        add("| measure | shmlane | peer | peer instructions | ratio |")
        add("|---|---:|---|---:|---:|")
        for m in counted["measures"]:
            add(f"| `{m['measure']}` | {m['shmlane']:.2f} | {instructions_peer(m['measure'])} "
                f"| {m['peer']:.2f} | {m['ratio']:.2f} |")
        add("")
    go = (steps.get("go") or {}).get("data")
    if go:
        add(f"### Go package against the Rust API (`shmlane-bench compare`, "
            f"{go['rounds']} rounds)")
        add("")
        add("| measure | M messages/s, each round | median |")
        add("|---|---|---:|")
        for name, figures in go["rates"].items():
            add(f"| {name} | {' '.join(f'{r / 1e6:.2f}' for r in figures['each'])} | "
                f"{figures['median'] / 1e6:.2f} |")
        add("")
        for name, value in go["ratios"].items():
            add(f"- ratio {name}: {value:.2f}")
        if "alloc_test" in go:
            t = go["alloc_test"]
            add(f"- `{t['name']}` (`go test -run`, 0 allocations per message asserted with "
                f"`testing.AllocsPerRun`): {'passed' if t['passed'] else 'FAILED'}")
        a = go["alloc_bench"]
        add(f"- `{a['name']}` (`go test -bench -benchmem`, {a['n']:,} messages): "
            f"{a['ns_per_op']:.1f} ns/message, {a['bytes_per_op']} B/op, "
            f"{a['allocs_per_op']} allocs/op (Go divides the run's allocations by the "
            "message count, rounding down)")
        add("")

    add("## Peers")
    add("")
    add("The crates shmlane is measured against, at the versions this run built "
        "(from `Cargo.lock`), and how each is used:")
    add("")
    add("| crate | version | mode |")
    add("|---|---|---|")
    versions = results.get("peer_versions") or {}
    for name, mode in PEER_CRATES:
        add(f"| {name} | {versions.get(name, 'not in Cargo.lock')} | {mode} |")
    add("")

    notes = [(name, step) for name, step in steps.items() if step.get("status") != "ok"]
    if notes:
        add("## Skipped or failed steps")
        add("")
        for name, step in notes:
            add(f"- **{name}**: {step['status']}: {step['note']}")
        add("")

    add("## Commands")
    add("")
    target_env = results.get("cargo_target_dir_env")
    add("Run from the repository root, in this order"
        + (f", with `CARGO_TARGET_DIR={root_relative(target_env)}`" if target_env else "")
        + "; paths are relative to the directory each command runs in:")
    add("")
    add("```sh")
    for command in results["commands"]:
        # Results of earlier runs hold (step, text) pairs.
        add(command if isinstance(command, str) else command[1])
    add("```")
    add("")
    add("Time per step in this run:")
    add("")
    add("| step | time |")
    add("|---|---:|")
    for name, step in steps.items():
        add(f"| {name} | {fmt_duration(step.get('seconds', 0))} |")
    add("")
    add("What each bench does and why: `benches/README.md`.")
    add("")
    return "\n".join(lines)


def write_report(results, out_path):
    out_path.parent.mkdir(parents=True, exist_ok=True)
    svg_dir = out_path.parent / out_path.stem
    note = "quick run" if results["quick"] else results["date"]
    groups = {}
    for name in ("spsc", "mpmc"):
        groups.update((results["steps"].get(name) or {}).get("data") or {})
    svg_links = []
    plots = [
        ("throughput-by-size.svg", "SPSC throughput by message size",
         throughput_svg(groups, note)),
    ]
    pingpong = (results["steps"].get("pingpong") or {}).get("data")
    if pingpong:
        plots.append(("pingpong-latency.svg", "Ping-pong round-trip percentiles",
                      latency_svg(pingpong, note)))
    for file_name, caption, svg in plots:
        if svg is None:
            continue
        svg_dir.mkdir(parents=True, exist_ok=True)
        (svg_dir / file_name).write_text(svg)
        svg_links.append((caption, f"{svg_dir.name}/{file_name}"))
    out_path.write_text(render_markdown(results, svg_links))
    return [out_path] + [out_path.parent / link for _, link in svg_links]


# ---------------------------------------------------------------------------
# Main


def default_report(quick):
    """docs/benchmarks.md; for a quick run, <target>/shmlane-suite/quick/benchmarks.md,
    so that a smoke test never replaces docs/benchmarks.md."""
    if quick:
        return cargo_target_dir() / "shmlane-suite" / "quick" / "benchmarks.md"
    return ROOT / "docs" / "benchmarks.md"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="short measurements: a smoke test of the whole suite")
    parser.add_argument("--out", type=Path, help="the report (default docs/benchmarks.md)")
    parser.add_argument("--skip", action="append", default=[],
                        choices=[name for name, _ in STEPS], help="skip a step (repeatable)")
    parser.add_argument("--render-only", type=Path, metavar="RESULTS_JSON",
                        help="re-render the report from an earlier run's results")
    args = parser.parse_args()

    if args.render_only:
        results = json.loads(args.render_only.read_text())
        written = write_report(results, args.out or default_report(results["quick"]))
        print("wrote " + ", ".join(display_path(p) for p in written))
        return 0

    target_dir = cargo_target_dir()
    work_dir = target_dir / "shmlane-suite"
    work_dir.mkdir(parents=True, exist_ok=True)
    out_path = args.out or default_report(args.quick)
    ctx = Context(args, target_dir, work_dir)
    results = {
        "quick": args.quick,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "cargo_target_dir_env": os.environ.get("CARGO_TARGET_DIR"),
        "load_before": os.getloadavg()[0],
        "peer_versions": peer_versions(),
        "steps": {},
    }
    print(f"shmlane benchmark suite{' (quick)' if args.quick else ''}: "
          f"results in {display_path(work_dir)}, report to {display_path(out_path)}")
    started = time.monotonic()
    try:
        step_build(ctx)
    except StepFailed as error:
        sys.exit(f"suite: the build failed: {error}")
    results["build_seconds"] = time.monotonic() - started
    measuring = time.monotonic()
    failed = False
    for name, step in STEPS:
        step_started = time.monotonic()
        print(f"\n=== {name} ===", flush=True)
        if name in args.skip:
            entry = {"status": "skipped", "note": "skipped with --skip"}
        else:
            try:
                entry = {"status": "ok", "data": step(ctx)}
            except Skip as why:
                entry = {"status": "skipped", "note": str(why)}
            except (StepFailed, OSError, ValueError, KeyError) as error:
                entry = {"status": "failed", "note": str(error)}
                failed = True
        entry["seconds"] = time.monotonic() - step_started
        if entry["status"] != "ok":
            print(f"\nNOTE: step {name} {entry['status']}: {entry['note']}", flush=True)
        results["steps"][name] = entry
    results["run_seconds"] = time.monotonic() - measuring
    results["load_after"] = os.getloadavg()[0]
    results["commands"] = ctx.commands
    (work_dir / "results.json").write_text(json.dumps(results, indent=1) + "\n")

    print("\n=== summary ===")
    ratios_argv = [sys.executable, str(BENCHES / "ratios.py"), "--criterion-dir",
                   str(target_dir / "criterion"), "--estimate", ESTIMATE]
    subprocess.run(ratios_argv)
    print()
    for row in budget_rows(results):
        print(f"  {row['measure'][:58]:<58} {row['ours'][:16]:<16} vs {row['peer'][:26]:<26} "
              f"{fmt_ratio(row):>16}  {fmt_target(row):<22} {row['verdict'].strip('*')}")
    for name, entry in results["steps"].items():
        if entry["status"] != "ok":
            print(f"  NOTE: {name} {entry['status']}: {entry['note']}")
    written = write_report(results, out_path)
    print(f"\nmeasured for {fmt_duration(results['run_seconds'])} "
          f"(+ {fmt_duration(results['build_seconds'])} building)")
    print("wrote " + ", ".join(display_path(p) for p in written))
    print(f"raw results: {display_path(work_dir / 'results.json')}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

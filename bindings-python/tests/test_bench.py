"""The benchmark program runs (with few messages) and reports every case:
a smoke test, never a measure."""

import json
import pathlib
import subprocess
import sys

BENCH = pathlib.Path(__file__).resolve().parents[1] / "bench" / "bench.py"


def test_the_benchmark_runs_and_reports_every_case(tmp_path):
    report = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--json", str(report)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(report.read_text())
    assert len(results["rates"]) == 12
    assert all(rate > 0 for rate in results["rates"].values())
    assert len(results["ratios"]) == 4
    assert "multiprocessing.Queue" in done.stdout

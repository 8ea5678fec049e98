"""Smoke test of the benchmark: `bench/run.py --quick --only W2a` runs, checks, prints tables
and writes its JSON report.

It runs in a subprocess, as a user would run it, inheriting AIDJIT_CACHE_DIR (tests/conftest.py);
the compile-time probes inside use their own temporary cache directories.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

RUN = Path(__file__).resolve().parents[2] / "bench" / "run.py"
TIMEOUT_S = 120


def test_quick_benchmark_runs_and_prints_tables(tmp_path: Path) -> None:
    report = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--only", "W2a", "--json", str(report)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        env=os.environ.copy(),
        check=False,
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "Run time: median ms per call" in result.stdout
    assert "numpy eager" in result.stdout and "aidjit compiled" in result.stdout
    assert "W2a MLP inference, batch 1" in result.stdout
    assert "Compile time, ms" in result.stdout
    assert "Memory and emitted C" in result.stdout
    w2a = json.loads(report.read_text())["workloads"]["W2a"]
    assert set(w2a["memory"]) == {"numpy eager", "aidjit compiled"}
    assert w2a["memory"]["aidjit compiled"]["later_calls"] >= 1
    assert w2a["c_structure"]["loop_nests"] >= 1
    assert len(w2a["c_structure"]["read_only_parameters"]) == 7  # x and six parameters

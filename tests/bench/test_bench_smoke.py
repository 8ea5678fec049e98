"""Smoke test of the benchmark: `bench/run.py --quick --only W2a` runs, checks and prints tables.

It runs in a subprocess, as a user would run it, inheriting AIDJIT_CACHE_DIR (tests/conftest.py);
the compile-time probes inside use their own temporary cache directories.
"""

import os
import subprocess
import sys
from pathlib import Path

RUN = Path(__file__).resolve().parents[2] / "bench" / "run.py"
TIMEOUT_S = 120


def test_quick_benchmark_runs_and_prints_tables() -> None:
    result = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--only", "W2a"],
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

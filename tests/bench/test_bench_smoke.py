"""Smoke test of the benchmark: `bench/run.py --quick --only W2a` runs, checks, prints tables
(run time at all threads and at one thread, contractions, targets) and writes its JSON report.

It runs in a subprocess, as a user would run it, inheriting AIDJIT_CACHE_DIR (tests/conftest.py);
the compile-time probes inside use their own temporary cache directories.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

RUN = Path(__file__).resolve().parents[2] / "bench" / "run.py"
TIMEOUT_S = 300  # two measuring processes, memory, compile and start-up probes, each new


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
    assert "Run time, 1T (1 thread, process CPU time)" in result.stdout
    assert "Run time, " in result.stdout and "(all threads, wall)" in result.stdout
    assert "numpy eager" in result.stdout and "aidjit compiled" in result.stdout
    assert "Contractions: GFLOP/s" in result.stdout
    assert "Targets of issue 7" in result.stdout
    assert "W2a MLP inference, batch 1" in result.stdout
    assert "Compile time, ms" in result.stdout
    assert "Memory and emitted C" in result.stdout
    full = json.loads(report.read_text())
    w2a = full["workloads"]["W2a"]
    one_thread = w2a["settings"]["1T"]
    assert one_thread["threads"]["usable_cores"] == 1  # pinned to one core
    assert one_thread["threads"]["numpy_blas"] in (1, None)  # None: not OpenBLAS
    for setting in ("1T", "all"):
        columns = w2a["settings"][setting]["columns"]
        assert {"numpy eager", "aidjit compiled", "aidjit.jit", "numpy sgemm"} <= set(columns)
        assert len(columns["aidjit compiled"]["per_process_ms"]) == 1  # --quick: one process
        assert columns["aidjit compiled"]["gflops"] > 0
    assert len(w2a["contractions"]) == 3  # the MLP's three layers
    targets = {t["target"]: t for t in full["targets"]}
    assert targets["W2a all threads: aidjit.jit faster than numpy eager"]["verdict"] in (
        "PASS",
        "FAIL",
    )
    assert set(w2a["memory"]) == {"numpy eager", "aidjit compiled"}
    assert w2a["memory"]["aidjit compiled"]["later_calls"] >= 1
    assert w2a["c_structure"]["loop_nests"] >= 1
    assert len(w2a["c_structure"]["read_only_parameters"]) == 7  # x and six parameters

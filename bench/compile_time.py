"""aidjit compile time per workload: cold (empty cache) and warm (disk cache), each a new process.

`measure_compile(id)` makes a fresh temporary cache directory and runs this file as a script
twice with `AIDJIT_CACHE_DIR` pointing at it: the first process finds the cache empty ("cold":
tracing, passes, C emission, gcc and loading all run), the second finds the shared object on disk
("warm": everything but gcc runs). A new process each time means no in-memory cache helps.

The script (`python bench/compile_time.py W1`) imports aidjit and makes the inputs first, then
times only the `aidjit.compile(...)` call with `time.perf_counter` and prints one JSON object: the
wall time and `CompiledFunction.stats`. Lazy imports and one-off probes that the first compile of
a process triggers (the compiler's version, libmvec) are part of what a user waits for, so they
are inside the timed call.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from probe import run_probe

SCRIPT = Path(__file__).resolve()


@dataclass(frozen=True)
class CompileRun:
    """One compile in a new process: wall time around `aidjit.compile` and its stats."""

    wall_ms: float
    stats: dict[str, Any]

    @property
    def cache(self) -> str:
        return self.stats["cache"]

    def breakdown(self) -> dict[str, float]:
        """Milliseconds per stage; `other` is wall time not attributed to a stage."""
        stages = {
            "trace": self.stats["trace_ms"],
            "passes": sum(self.stats["passes_ms"].values()),
            "verify": self.stats.get("verify_ms", 0.0),
            "emit": self.stats["emit_ms"],
            "build": self.stats["build_ms"],
            "load": self.stats["load_ms"],
        }
        stages["other"] = self.wall_ms - sum(stages.values())
        return stages


@dataclass(frozen=True)
class CompileTimes:
    cold: CompileRun
    warm: CompileRun


def _probe(workload_id: str, cache_dir: str) -> CompileRun:
    report = run_probe(SCRIPT, [workload_id], {"AIDJIT_CACHE_DIR": cache_dir})
    return CompileRun(report["wall_ms"], report["stats"])


def measure_compile(workload_id: str) -> CompileTimes:
    """Cold then warm compile of one workload, sharing a fresh cache directory."""
    with tempfile.TemporaryDirectory(prefix="aidjit-bench-cache-") as cache_dir:
        cold = _probe(workload_id, cache_dir)
        warm = _probe(workload_id, cache_dir)
    return CompileTimes(cold, warm)


def _main(workload_id: str) -> None:
    import aidjit

    from workloads import BY_ID

    workload = BY_ID[workload_id]
    inputs = workload.inputs()
    start = time.perf_counter()
    # "optimized": the whole build (passes, C, gcc) is the compile; "auto" would return after
    # tracing and build in the background (bench/startup.py times that first call).
    compiled = aidjit.compile(workload.aidjit_fn, *inputs, tier="optimized")
    wall_ms = (time.perf_counter() - start) * 1e3
    print(json.dumps({"wall_ms": wall_ms, "stats": compiled.stats.as_dict()}))


if __name__ == "__main__":
    _main(sys.argv[1])

"""Start-up figures per workload, each process new: import, cold first call, warm start.

`measure_startup(id)` (called by bench/run.py) runs this file as a script in fresh processes
and returns medians, in ms of wall time (`*_cpu_ms`: CPU time of the process, steadier on a
busy machine):

    import_ms            `import aidjit`, numpy included (numpy alone: numpy_import_ms)
    cold_first_call_ms   empty cache directory, default tier ("auto"): `aidjit.compile` and the
                         first call, answered by the instant tier while the kernel is built in
                         the background (the toolchain probe included)
    cold_optimized_ms    empty cache directory, tier="optimized": until the optimised kernel
                         has run once (probe and self-test, passes, C, compiler, load)
    warm_start_ms        the kernel on disk: `aidjit.compile` = trace + key + load
    warm_first_call_ms   warm start and the first call

plus `warm_cache` (how the warm compiles found their kernel: "disk") and `warm_imports_xdsl`
(whether any warm process imported xDSL: it should not). Every process starts with its
bytecode compiled (one unmeasured process first writes it, even if PYTHONDONTWRITEBYTECODE is
set here), as an installed package's is.

    python bench/startup.py W2a W3 [--processes 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from probe import run_probe

SCRIPT = Path(__file__).resolve()
MODES = ("cold", "cold-optimized", "warm")
# Bytecode is written (an empty value unsets the variable for Python).
ENVIRONMENT = {"PYTHONDONTWRITEBYTECODE": ""}


def measure_startup(workload_id: str, processes: int = 5) -> dict[str, Any]:
    """Medians over `processes` fresh processes per mode (see the module docstring)."""
    with tempfile.TemporaryDirectory(prefix="aidjit-startup-") as root:
        warm_dir = Path(root) / "warm"
        _run("cold-optimized", workload_id, warm_dir)  # writes bytecode, fills warm_dir
        samples = {
            mode: [
                _run(mode, workload_id, warm_dir if mode == "warm" else Path(root) / f"{mode}{i}")
                for i in range(processes)
            ]
            for mode in MODES
        }
    everything = [sample for runs in samples.values() for sample in runs]
    warm, cold, optimized = samples["warm"], samples["cold"], samples["cold-optimized"]
    return {
        "workload": workload_id,
        "processes": processes,
        "import_ms": _median(everything, "import_ms"),
        "import_cpu_ms": _median(everything, "import_cpu_ms"),
        "numpy_import_ms": _median(everything, "numpy_import_ms"),
        "cold_first_call_ms": _median(cold, "first_call_ms"),
        "cold_first_call_cpu_ms": _median(cold, "first_call_cpu_ms"),
        "cold_optimized_ms": _median(optimized, "first_call_ms"),
        "warm_start_ms": _median(warm, "compile_ms"),
        "warm_start_cpu_ms": _median(warm, "compile_cpu_ms"),
        "warm_first_call_ms": _median(warm, "first_call_ms"),
        "warm_cache": sorted({sample["cache"] for sample in warm}),
        "warm_imports_xdsl": any(sample["xdsl"] for sample in warm),
        "samples": samples,
    }


def _median(samples: list[dict[str, Any]], name: str) -> float:
    return statistics.median(sample[name] for sample in samples)


def _run(mode: str, workload_id: str, cache_dir: Path) -> dict[str, Any]:
    environment = {**ENVIRONMENT, "AIDJIT_CACHE_DIR": str(cache_dir)}
    return run_probe(SCRIPT, ["--probe", mode, workload_id], environment)


def _probe(mode: str, workload_id: str) -> None:
    """One process: time the imports, the compile and the first call; print them as JSON."""
    clock = time.perf_counter
    cpu = time.process_time
    start, start_cpu = clock(), cpu()
    import numpy  # noqa: F401  (timed apart: most of `import aidjit` is numpy's)

    numpy_ms = (clock() - start) * 1e3
    import aidjit

    import_ms, import_cpu_ms = (clock() - start) * 1e3, (cpu() - start_cpu) * 1e3
    from workloads import BY_ID

    workload = BY_ID[workload_id]
    inputs = workload.inputs()
    tier = "optimized" if mode == "cold-optimized" else "auto"
    start, start_cpu = clock(), cpu()
    compiled = aidjit.compile(workload.aidjit_fn, *inputs, tier=tier)
    compile_ms, compile_cpu_ms = (clock() - start) * 1e3, (cpu() - start_cpu) * 1e3
    compiled(*inputs)
    first_call_ms, first_call_cpu_ms = (clock() - start) * 1e3, (cpu() - start_cpu) * 1e3
    report = {
        "import_ms": import_ms,
        "import_cpu_ms": import_cpu_ms,
        "numpy_import_ms": numpy_ms,
        "compile_ms": compile_ms,
        "compile_cpu_ms": compile_cpu_ms,
        "first_call_ms": first_call_ms,
        "first_call_cpu_ms": first_call_cpu_ms,
        "cache": compiled.stats.cache,
        "tier": compiled.stats.tier,
        "xdsl": "xdsl" in sys.modules,
    }
    print(json.dumps(report))


def _main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workloads", nargs="*", default=["W2a", "W3"])
    parser.add_argument("--processes", type=int, default=5)
    parser.add_argument("--probe", choices=MODES, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.probe:
        _probe(arguments.probe, arguments.workloads[0])
        return
    names = [
        "import_ms",
        "cold_first_call_ms",
        "cold_optimized_ms",
        "warm_start_ms",
        "warm_start_cpu_ms",
        "warm_first_call_ms",
    ]
    print("| workload | " + " | ".join(names) + " | warm cache | warm imports xDSL |")
    print("|---" * (len(names) + 3) + "|")
    for workload_id in arguments.workloads:
        result = measure_startup(workload_id, arguments.processes)
        cells = [f"{result[name]:.1f}" for name in names]
        extra = [",".join(result["warm_cache"]), str(result["warm_imports_xdsl"])]
        print(f"| {workload_id} | " + " | ".join(cells + extra) + " |")


if __name__ == "__main__":
    _main()

"""Two-thread calls right after numpy's matmuls: what another library's spinning workers cost.

After each call OpenBLAS's workers spin for ~0.1 s (2^28 time-stamp counter ticks), so for that
long one of two cores is taken. bench/run.py pauses 0.4 s before each sample to keep that out of
its columns (bench/timing.py, `settled`); this probe measures it instead. Per workload, in
`--processes` new processes (`python bench/contention.py W3 W2b --processes 4`), each sample
first pauses `PAUSE_S`, then, for the "after BLAS" figures, runs `BLAS_CALLS` float32 matmuls of
512 x 512 through numpy, then calls the function for `WINDOW_S` and records wall ms per call:

    aidjit 2T quiet      compiled at two threads, after the pause only
    aidjit 2T after BLAS compiled at two threads, right after the matmuls
    aidjit 1T after BLAS compiled at one thread, right after the matmuls
    numpy after BLAS     the workload's numpy eager code, right after the matmuls

The medians of `SAMPLES` samples per process are printed per process, then the median over
processes. A runtime whose caller waits for every worker at every parallel loop (OpenMP's static
schedule and barrier) is slower here than at one thread; aidjit's pool, whose caller never waits
for a worker that has not started, should be no slower than one thread.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from probe import run_probe

SCRIPT = Path(__file__).resolve()
PAUSE_S = 0.4
BLAS_CALLS = 20
WINDOW_S = 0.05
SAMPLES = 15
FIGURES = ("aidjit 2T quiet", "aidjit 2T after BLAS", "aidjit 1T after BLAS", "numpy after BLAS")


def _sample(call: Callable[[], Any], busy: Callable[[], None] | None) -> float:
    time.sleep(PAUSE_S)
    if busy is not None:
        busy()
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < WINDOW_S:
        call()
        calls += 1
    return (time.perf_counter() - start) / calls * 1e3


def measure(workload_id: str) -> dict[str, float]:
    """This process's median ms per call of every figure, for one workload."""
    import numpy as np

    import aidjit

    from workloads import BY_ID

    workload = BY_ID[workload_id]
    inputs = workload.inputs()
    compiled = {
        threads: aidjit.compile(workload.aidjit_fn, *inputs, threads=threads, tier="optimized")
        for threads in (1, 2)
    }
    square = np.random.default_rng(0).standard_normal((512, 512)).astype(np.float32)

    def matmuls() -> None:
        for _ in range(BLAS_CALLS):
            square @ square

    runs = {
        "aidjit 2T quiet": (lambda: compiled[2](*inputs), None),
        "aidjit 2T after BLAS": (lambda: compiled[2](*inputs), matmuls),
        "aidjit 1T after BLAS": (lambda: compiled[1](*inputs), matmuls),
        "numpy after BLAS": (lambda: workload.numpy_fn(*inputs), matmuls),
    }
    for call, _ in runs.values():
        call()
    samples: dict[str, list[float]] = {figure: [] for figure in FIGURES}
    for _ in range(SAMPLES):  # interleaved, so that a slow moment of the machine hits all
        for figure, (call, busy) in runs.items():
            samples[figure].append(_sample(call, busy))
    return {figure: statistics.median(values) for figure, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workloads", nargs="+")
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.probe:
        import json

        print(json.dumps(measure(arguments.workloads[0])))
        return
    print(f"{'workload':<9}" + "".join(f"{figure:>22}" for figure in FIGURES))
    for workload in arguments.workloads:
        runs = [run_probe(SCRIPT, [workload, "--probe"]) for _ in range(arguments.processes)]
        for run in runs:
            print(f"{workload:<9}" + "".join(f"{run[figure]:>22.3f}" for figure in FIGURES))
        medians = [statistics.median(run[figure] for run in runs) for figure in FIGURES]
        print(f"{'median':<9}" + "".join(f"{value:>22.3f}" for value in medians), flush=True)


if __name__ == "__main__":
    sys.exit(main())

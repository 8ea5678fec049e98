"""aidjit demo: the MLP of workloads W2 (inference) and W3 (training step), three ways.

Each workload's float32 inputs go through a hand-written numpy version, aidjit eager (the aidjit
function on Tensors, run op by op by numpy and recorded on aidjit's autodiff tape) and
`aidjit.compile` (the whole function — for W3 forward, cross-entropy and all six gradients — as one
native C function). The output says what each column is; the compiled results are checked against
the tape's, and all three against the numpy version run in float64. The workloads are the
benchmark's own (bench/workloads.py), so the demo and `python bench/run.py` measure the same code;
the benchmark adds PyTorch and JAX columns when they are installed.

Threads: both sides run on one thread — numpy's BLAS pinned before numpy is imported, aidjit's
parallel loops through AIDJIT_NUM_THREADS — so the ratios measure code, not thread counts (on two
threads each, see `python bench/run.py`). The thread counts in force are printed.
Run: `python examples/demo.py` (about 10 s; compiled kernels are cached on disk, so later runs
skip gcc).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

THREADS = 1  # numpy's BLAS and aidjit's compiled loops alike (printed below)
# Read by OpenBLAS, OpenMP and MKL when numpy loads them, so this must precede `import numpy`;
# AIDJIT_NUM_THREADS is read by each compile.
os.environ.update(
    dict.fromkeys(
        ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "AIDJIT_NUM_THREADS"),
        str(THREADS),
    )
)
# The benchmark's modules import each other by bare name (they run as scripts from bench/).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import numpy as np  # noqa: E402
from machine import aidjit_threads, blas_threads  # noqa: E402
from timing import Column, Settings, measure  # noqa: E402
from workloads import BY_ID, MLP_SIZES, Workload, flatten  # noqa: E402

import aidjit  # noqa: E402
from aidjit import Tensor  # noqa: E402

DEMO_WORKLOADS = ("W2a", "W2b", "W3")
# Between bench/timing.py's QUICK and FULL: stable medians in about a second per workload.
TIMING = Settings(repeats=15, min_samples=5, min_sample_s=0.005, warmup_s=0.05, budget_s=0.3)
# Compiled vs tape: the same float32 arithmetic summed in another order (C loops vs BLAS).
MATCH_RTOL, MATCH_ATOL = 2e-4, 2e-5
LEGEND = {
    "numpy": "hand-written numpy (W3: its backward derived by hand), median ms per call",
    "tape": "aidjit eager: aidjit's ops on Tensors, each run at once by numpy and recorded on\n"
    "            aidjit's autodiff tape (W3: value_and_grad called eagerly), median ms per call",
    "compiled": 'aidjit.compile(fn, *inputs, tier="optimized") called with numpy arrays:\n'
    "            one native C function (W3: forward and backward), median ms per call",
    "vs numpy": "speed-up of compiled over numpy: numpy ms / compiled ms (<1x: compiled is slower)",
    "vs tape": "speed-up of compiled over the tape: tape ms / compiled ms",
    "check": f"compiled results equal the tape's (rtol {MATCH_RTOL:g}, atol {MATCH_ATOL:g}); "
    "all three columns\n            equal the numpy version run in float64",
}


@contextlib.contextmanager
def blas_pinned() -> Iterator[None]:
    """Pin through threadpoolctl too when it is installed (it is not an aidjit dependency): that
    holds even if numpy was loaded before this script could set the environment."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=THREADS, user_api="blas"):
        yield


def thread_report() -> str:
    threads = blas_threads()
    numpy_part = "unknown (not OpenBLAS)" if threads is None else str(threads)
    report = f"numpy BLAS {numpy_part}, aidjit compiled {aidjit_threads()}"
    if threads not in (None, THREADS):
        report += (
            f"\nWARNING: numpy's BLAS runs {threads} threads, not {THREADS}: not like for like"
        )
    return report


def to_numpy(leaf: Any) -> np.ndarray:
    return leaf.numpy() if isinstance(leaf, Tensor) else np.asarray(leaf)


def checked_difference(
    got: list[np.ndarray], want: list[np.ndarray], rtol: float, atol: float, what: str
) -> float:
    """Largest |got - want| over all outputs; raises naming the output that is out of tolerance."""
    for index, (a, b) in enumerate(zip(got, want, strict=True)):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=f"{what}, output {index}")
    return max(float(np.max(np.abs(a - b), initial=0.0)) for a, b in zip(got, want, strict=True))


def run_workload(workload: Workload) -> tuple[dict[str, float], float, str]:
    """(median ms per column, max |compiled - tape|, compile summary) for one workload."""
    inputs = workload.inputs()
    tensors = [Tensor(a) for a in inputs]
    # tier="optimized": the compile returns once the native kernel is built, so the timings
    # below are the kernel's (the default, "auto", would answer the first calls in numpy).
    compiled = aidjit.compile(workload.aidjit_fn, *inputs, tier="optimized")
    calls: dict[str, Callable[[], Any]] = {
        "numpy": lambda: workload.numpy_fn(*inputs),
        "tape": lambda: workload.aidjit_fn(*tensors),
        "compiled": lambda: compiled(*inputs),
    }
    outputs = {name: flatten(call(), to_numpy) for name, call in calls.items()}
    reference = workload.reference(inputs)
    for name, got in outputs.items():
        what = f"{workload.id} {name} vs numpy float64"
        checked_difference(got, reference, workload.rtol, workload.atol, what)
    versus_tape = checked_difference(
        outputs["compiled"],
        outputs["tape"],
        MATCH_RTOL,
        MATCH_ATOL,
        f"{workload.id} compiled vs tape",
    )
    timings = measure([Column(name, call) for name, call in calls.items()], TIMING)
    stats = compiled.stats
    compile_note = (
        f"{workload.id} {stats.total_ms:.0f} ms (cache {stats.cache}, "
        f"{stats.ops_before} -> {stats.ops_after} graph ops)"
    )
    return {name: timing.median_ms for name, timing in timings.items()}, versus_tape, compile_note


def main() -> None:
    sizes = " -> ".join(map(str, MLP_SIZES))
    print(f"aidjit demo: MLP {sizes}, float32 (workloads W2, W3 of bench/workloads.py)")
    print(f"threads: {thread_report()}\n")
    print("\n".join(f"  {name:<9} {text}" for name, text in LEGEND.items()) + "\n")
    columns = f"{'numpy':>8}{'tape':>8}{'compiled':>10}{'vs numpy':>10}{'vs tape':>9}"
    print(f"{'workload':<28}{columns}  check")
    compile_notes = []
    with blas_pinned():
        for workload_id in DEMO_WORKLOADS:
            workload = BY_ID[workload_id]
            ms, versus_tape, compile_note = run_workload(workload)
            compile_notes.append(compile_note)
            print(
                f"{workload.id + ' ' + workload.title:<28}{ms['numpy']:8.3f}{ms['tape']:8.3f}"
                f"{ms['compiled']:10.3f}{ms['numpy'] / ms['compiled']:9.2f}x"
                f"{ms['tape'] / ms['compiled']:8.2f}x  ok, max |compiled - tape| {versus_tape:.1e}"
            )
    print(
        "\naidjit.compile time (trace, optimise, lower, emit C, build or fetch from cache, load):"
    )
    print("\n".join(f"  {note}" for note in compile_notes))


if __name__ == "__main__":
    main()

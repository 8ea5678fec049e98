"""The columns of one workload, checked and timed in one fresh process at one thread setting.

    python bench/columns.py W2b 1T [--quick]     (bench/run.py runs it: `measure_columns`)

bench/run.py runs this file once per workload, thread setting and process (`--processes N`) and
takes medians over the processes. A fresh process per measurement matters for two reasons: the
thread counts of OpenBLAS, XLA and OpenMP are fixed when those libraries load, so a single-thread
measurement needs a process whose environment said so before any import; and two-thread figures
swing by +-30% from one process to the next, so one process is one sample, not the answer.

Thread settings (`SETTINGS`):

    all   the libraries' defaults (every core), timed by wall clock
    1T    one core: the process pins itself to one CPU first thing, and every library is told to
          use one thread before it loads: aidjit's compiled code (`AIDJIT_NUM_THREADS`, the
          environment form of its `threads=` option, and `OMP_NUM_THREADS` for OpenMP), numpy's
          BLAS (`OPENBLAS_NUM_THREADS`, `MKL_NUM_THREADS`), torch (its intra-op pool reads
          `OMP_NUM_THREADS`; bench/peer_torch.py also sets both pools to 1) and XLA
          (`--xla_cpu_multi_thread_eigen=false`; the often-quoted `intra_op_parallelism_threads=1`
          is no flag of the jaxlib measured here: with dashes XLA aborts on it, without it is
          ignored). Timed by the process's CPU time, which on a shared machine leaves out the
          time the core gave to other work. The eager tapes are not measured at 1T.

In the process: the inputs are made, the workload is compiled (a disk-cache hit once bench/run.py
has compiled it), every column's outputs are checked against the float64 numpy reference (a
wrong column is not timed and is reported as a failure), then bench/timing.py times the columns
interleaved. For a workload with matmuls, the "numpy sgemm" column (bench/flops.py) runs numpy's
matmul on the same shapes, the BLAS reference for the workload's GFLOP/s. The process prints one
JSON object (see `_report`).
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

import aidjit
from aidjit import Tensor

from flops import Contraction, GemmReplay, parse_contractions
from machine import threads_in_force
from probe import run_probe
from timing import (
    COMPILED,
    CPU,
    EAGER,
    FULL,
    JIT,
    NUMPY,
    QUICK,
    SGEMM,
    WALL,
    Clock,
    Column,
    Timing,
    measure,
    settled,
)
from workloads import BY_ID, Arrays, Workload, flatten

SCRIPT = Path(__file__).resolve()
# Every compile of the benchmark waits for the optimised kernel: the columns time it, never the
# instant tier that `tier="auto"` answers with while a cold build runs in the background.
COMPILE_OPTIONS: dict[str, Any] = {"tier": "optimized"}


@dataclass(frozen=True)
class PeerColumn:
    """A column provided by an optional framework: module and factory, imported lazily."""

    name: str
    module: str
    factory: str
    slow_first_call: bool = False


PEERS = (
    PeerColumn("torch eager", "peer_torch", "eager_column"),
    PeerColumn("torch.compile", "peer_torch", "compiled_column", slow_first_call=True),
    PeerColumn("jax.jit", "peer_jax", "jit_column"),
)
COLUMNS = (NUMPY, EAGER, COMPILED, JIT, *(p.name for p in PEERS))


@dataclass(frozen=True)
class ThreadSetting:
    """How a measuring process is set up: environment, core pinning, clock, columns left out."""

    key: str
    environment: dict[str, str]
    one_core: bool
    clock: Clock
    clock_name: str
    skipped: tuple[str, ...] = ()


ONE_THREAD_ENVIRONMENT = {
    "AIDJIT_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false",
}
ALL_THREADS = ThreadSetting("all", {}, one_core=False, clock=WALL, clock_name="wall")
ONE_THREAD = ThreadSetting(
    "1T",
    ONE_THREAD_ENVIRONMENT,
    one_core=True,
    clock=CPU,
    clock_name="process CPU time",
    skipped=(EAGER, "torch eager"),
)
SETTINGS: dict[str, ThreadSetting] = {s.key: s for s in (ALL_THREADS, ONE_THREAD)}


def measure_columns(workload_id: str, setting: str, quick: bool) -> dict[str, Any]:
    """Run this file in a fresh process set up for `setting`; its JSON report (see `_report`)."""
    args = [workload_id, setting, *(["--quick"] if quick else [])]
    return run_probe(SCRIPT, args, SETTINGS[setting].environment)


# ----- building the columns -------------------------------------------------------------------


@dataclass
class ProcessResult:
    """What one process found besides the timings: errors, missing columns, first calls."""

    max_abs_error: dict[str, float] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    first_call_ms: dict[str, float] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    modules: dict[str, ModuleType | str] = field(default_factory=dict)

    def peer_module(self, name: str) -> ModuleType | str:
        """The imported peer module, or why it could not be imported."""
        if name not in self.modules:
            try:
                self.modules[name] = importlib.import_module(name)
            except ImportError as error:
                self.modules[name] = f"not importable ({error})"
        return self.modules[name]


def aidjit_columns(
    workload: Workload, inputs: Arrays, compiled: aidjit.CompiledFunction
) -> list[Column]:
    jitted = aidjit.jit(workload.aidjit_fn, **COMPILE_OPTIONS)
    tensors = [Tensor(a) for a in inputs]
    return [
        Column(NUMPY, lambda: workload.numpy_fn(*inputs)),
        Column(EAGER, lambda: workload.aidjit_fn(*tensors)),
        Column(COMPILED, lambda: compiled(*inputs)),
        Column(JIT, lambda: jitted(*inputs)),
    ]


def peer_columns(
    workload: Workload, inputs: Arrays, peers: Sequence[PeerColumn], result: ProcessResult
) -> list[Column]:
    columns = []
    for peer in peers:
        module = result.peer_module(peer.module)
        if isinstance(module, str):
            result.unavailable[peer.name] = module
            continue
        try:
            column = getattr(module, peer.factory)(workload.id, inputs)
        except Exception as error:  # a peer failing, however it fails, must not stop the suite
            result.unavailable[peer.name] = f"failed: {type(error).__name__}: {error}"
            continue
        if column.first_call_ms is not None:
            result.first_call_ms[peer.name] = column.first_call_ms
        columns.append(column)
    return columns


# ----- correctness ----------------------------------------------------------------------------


def check_column(
    column: Column, workload: Workload, reference: list[np.ndarray]
) -> tuple[float, str | None]:
    """(max abs error, None) if the column's outputs match the reference, else (.., why not)."""
    outputs = flatten(column.call(), column.to_numpy)
    if len(outputs) != len(reference):
        return math.inf, f"{len(outputs)} outputs, expected {len(reference)}"
    worst = 0.0
    for index, (output, expected) in enumerate(zip(outputs, reference, strict=True)):
        if output.shape != expected.shape or output.dtype != np.float32:
            found = f"{output.dtype}{list(output.shape)}"
            return math.inf, f"output {index} is {found}, expected float32{list(expected.shape)}"
        worst = max(worst, float(np.max(np.abs(output - expected), initial=0.0)))
        if not np.allclose(output, expected, rtol=workload.rtol, atol=workload.atol):
            return worst, f"output {index} differs from the reference: max abs error {worst:.3g}"
    return worst, None


def checked(
    columns: list[Column], workload: Workload, inputs: Arrays, result: ProcessResult
) -> list[Column]:
    """The columns whose results are right; wrong ones are recorded as failures."""
    reference = workload.reference(inputs)
    good = []
    for column in columns:
        error, problem = check_column(column, workload, reference)
        result.max_abs_error[column.name] = error
        if problem is None:
            good.append(column)
            continue
        result.unavailable[column.name] = f"WRONG: {problem}"
        result.failures.append(f"{workload.id} {column.name}: {problem}")
    return good


# ----- one process ----------------------------------------------------------------------------


def _pin_to_one_core() -> None:
    """Run this process and every thread it starts later on one CPU (OpenMP and XLA size their
    default pools from this affinity mask when they start)."""
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def _threads(result: ProcessResult) -> dict[str, Any]:
    threads = threads_in_force()
    for name, module in result.modules.items():
        if isinstance(module, ModuleType):
            threads[name.removeprefix("peer_")] = module.threads()
    return threads


def _report(
    timings: dict[str, Timing], found: list[Contraction], result: ProcessResult
) -> dict[str, Any]:
    return {
        "timings": {
            name: {"number": t.number, "samples_ms": t.samples_ms} for name, t in timings.items()
        },
        "contractions": [c.as_dict() for c in found],
        "max_abs_error": result.max_abs_error,
        "unavailable": result.unavailable,
        "first_call_ms": result.first_call_ms,
        "failures": result.failures,
        "threads": _threads(result),
    }


def _main(workload_id: str, setting: ThreadSetting, quick: bool) -> dict[str, Any]:
    if setting.one_core:
        _pin_to_one_core()
    workload = BY_ID[workload_id]
    inputs = workload.inputs()
    result = ProcessResult()
    for name in setting.skipped:
        result.unavailable[name] = f"not measured at {setting.key}"
    peers = [p for p in PEERS if p.name not in setting.skipped]
    if quick:
        slow = [p for p in peers if p.slow_first_call]
        result.unavailable.update(
            {p.name: "skipped under --quick (first call costs seconds)" for p in slow}
        )
        peers = [p for p in peers if not p.slow_first_call]
    compiled = aidjit.compile(workload.aidjit_fn, *inputs, **COMPILE_OPTIONS)
    columns = aidjit_columns(workload, inputs, compiled)
    columns = [c for c in columns if c.name not in setting.skipped]
    columns += peer_columns(workload, inputs, peers, result)
    good = checked(columns, workload, inputs, result)
    found = parse_contractions(compiled.ir("optimized"))
    if found:
        good.append(Column(SGEMM, GemmReplay(found)))
    settings = QUICK if quick else FULL
    timings = measure(good, settled(settings) if setting.clock is WALL else settings, setting.clock)
    return _report(timings, found, result)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="time one workload's columns in this process")
    parser.add_argument("workload", choices=sorted(BY_ID))
    parser.add_argument("setting", choices=sorted(SETTINGS))
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(json.dumps(_main(args.workload, SETTINGS[args.setting], args.quick)))

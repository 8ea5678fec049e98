"""Interleaved median timing of the columns of one workload.

Each column is a zero-argument callable doing one call of one implementation. Measuring it:

1. warm-up: call it until `warmup_s` has passed (at least `MIN_WARMUP_CALLS` times), which also
   estimates the cost of one call;
2. batching: `number` calls per sample, enough for a sample to last `min_sample_s`, so
   microsecond workloads are not lost in timer resolution and loop overhead;
3. samples: up to `repeats` samples per column, fewer for a slow column whose samples would
   exceed `budget_s` (never fewer than `min_samples`);
4. interleaving: round r takes sample r of every column in turn, so a burst of load from the
   other core (the machine is shared) hits all columns alike and ratios stay comparable.

A sample is one interval of a clock around `number` calls with the garbage collector off, as
`timeit` does. The figure reported is the median over samples of the time per call. The clock is
wall time (`WALL`, `time.perf_counter`) for the columns at the libraries' default threads, and
the process's CPU time (`CPU`, `time.process_time`: every thread of the process, so JAX's worker
thread counts too) for the single-thread columns, whose process is pinned to one core: on a
shared machine CPU time leaves out the time the core spent on other work.
"""

from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

MIN_WARMUP_CALLS = 3

Clock = Callable[[], float]
WALL: Clock = time.perf_counter
CPU: Clock = time.process_time

# Names of the columns every workload has (bench/run.py); peers add their own.
NUMPY = "numpy eager"
EAGER = "aidjit eager tape"
COMPILED = "aidjit compiled"
JIT = "aidjit.jit"
# Not the workload: numpy's matmul on the shapes of the workload's matmuls (bench/flops.py).
SGEMM = "numpy sgemm"


@dataclass(frozen=True)
class Settings:
    """How long to measure: the full suite and `--quick` differ only here."""

    repeats: int
    min_samples: int
    min_sample_s: float
    warmup_s: float
    budget_s: float
    settle_s: float = 0.0
    """Pause before each sample, then one untimed call (see `settled`)."""


FULL = Settings(repeats=25, min_samples=5, min_sample_s=0.02, warmup_s=0.1, budget_s=1.5)
QUICK = Settings(repeats=5, min_samples=3, min_sample_s=0.002, warmup_s=0.01, budget_s=0.1)


def settled(settings: Settings) -> Settings:
    """`settings` for columns that run on several threads in one process: each sample starts
    after a pause long enough for the previous column's idle worker threads to stop spinning,
    then one untimed call wakes this column's own. OpenBLAS's workers spin for 2^28 time-stamp
    counter ticks after each call (0.1-0.15 s at this machine's 2-3 GHz counters); aidjit's
    workers spin 0.5 ms (runtime/thread_pool.py). Without a pause, on two cores, numpy's
    spinning BLAS worker and aidjit's then OpenMP worker starved each other: W2b's numpy eager
    took 15-25 ms instead of 0.9. With 0.12 s, "aidjit compiled", measured right after the
    eager tape's BLAS calls, took 1.66 ms on W2b where `aidjit.jit`, the same kernel measured
    after it, took 1.30; with 0.4 s the two measured 1.144 and 1.121 (`bench/run.py --only W2b
    --processes 2`). Fewer rounds keep the pauses affordable."""
    return replace(settings, repeats=min(settings.repeats, 8), settle_s=0.4)


@dataclass
class Column:
    """One implementation of one workload, ready to call; `to_numpy` converts its output leaves."""

    name: str
    call: Callable[[], Any]
    to_numpy: Callable[[Any], np.ndarray] = np.asarray
    first_call_ms: float | None = None


@dataclass
class Timing:
    """Per-call times (ms) of every sample of one column, and how they were taken."""

    number: int
    samples_ms: list[float] = field(default_factory=list)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples_ms)


def _sample(call: Callable[[], Any], number: int, clock: Clock) -> float:
    """Seconds of `clock` per call over `number` back-to-back calls, garbage collector off."""
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = clock()
        for _ in range(number):
            call()
        return (clock() - start) / number
    finally:
        if gc_was_enabled:
            gc.enable()


def _warm_up(call: Callable[[], Any], settings: Settings, clock: Clock) -> float:
    """Call until warm; return the fastest single call seen (seconds), the batching estimate."""
    fastest = math.inf
    calls = 0
    deadline = time.perf_counter() + settings.warmup_s
    while calls < MIN_WARMUP_CALLS or time.perf_counter() < deadline:
        fastest = min(fastest, _sample(call, 1, clock))
        calls += 1
    return fastest


def _plan(per_call_s: float, settings: Settings) -> tuple[int, int]:
    """(calls per sample, number of samples) for a column costing `per_call_s` per call."""
    number = max(1, math.ceil(settings.min_sample_s / max(per_call_s, 1e-9)))
    affordable = int(settings.budget_s / (number * per_call_s)) if per_call_s > 0 else 0
    samples = min(settings.repeats, max(settings.min_samples, affordable))
    return number, samples


def measure(columns: list[Column], settings: Settings, clock: Clock = WALL) -> dict[str, Timing]:
    """Median-ready timings of every column by `clock`, samples interleaved across columns."""
    plans = {c.name: _plan(_warm_up(c.call, settings, clock), settings) for c in columns}
    timings = {name: Timing(number) for name, (number, _) in plans.items()}
    rounds = max(samples for _, samples in plans.values())
    for round_index in range(rounds):
        for column in columns:
            number, samples = plans[column.name]
            if round_index < samples:
                if settings.settle_s:
                    time.sleep(settings.settle_s)
                    column.call()
                seconds = _sample(column.call, number, clock)
                timings[column.name].samples_ms.append(seconds * 1e3)
    return timings

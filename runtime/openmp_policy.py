"""How aidjit's OpenMP worker threads wait between parallel loops: a short spin, then asleep.

libgomp's default is to spin for 300,000 iterations (milliseconds) at every barrier and after
every region before sleeping on a futex. A spinning worker uses up its time slice, so when
anything else wants the cores (another process, numpy's OpenBLAS workers, PyTorch's own OpenMP
team) the scheduler runs that instead when the next region starts, and a static schedule then
waits for the slowest thread: W5's compiled training step took 35-50 ms per call at 2 threads
while a test suite ran beside it, against 3.5 ms at 1 thread.

Not spinning at all (`OMP_WAIT_POLICY=passive`, aidjit's policy before) has the opposite cost:
every region, and every call, wakes the worker through a futex, and on a KVM guest whose idle
vCPU halts that wake-up takes ~0.1 ms (90-110 us per region measured on a 2-vCPU AMD EPYC
guest, against 0.5-1 us for a spinning worker). W3's step has six regions: 1.38-1.41 ms per
call at 2 threads asleep, 0.65-0.78 ms with a 10,000-iteration spin, where numpy took 0.86-0.93.

So workers spin `SPIN_COUNT` iterations (0.5-0.6 ms on that machine: long enough to cover the
serial nests between a call's regions and the gap between back-to-back calls) and then sleep.
With a CPU-bound process beside it, W5t then took 8.5 ms per call at 2 threads against 3.4 ms
asleep: on a busy machine, `threads=1`, `AIDJIT_NUM_THREADS=1` or `OMP_WAIT_POLICY=passive`
are the better choice (docs/performance.md, "Threads"). LLVM's libomp (clang) gets its nearest
setting, a 1 ms block time.

libgomp (and libomp) read the policy once, from the environment, when the runtime is first
loaded, which is when the first kernel with a parallel loop is dlopened. `kernel_loading` sets
the policy around every dlopen of a kernel and restores the environment afterwards, so neither
child processes nor another library's OpenMP runtime loaded later (PyTorch bundles its own
libgomp) see it. A user who sets `OMP_WAIT_POLICY`, `GOMP_SPINCOUNT` or `KMP_BLOCKTIME` keeps
full control: then nothing is changed.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

SPIN_COUNT = 10_000

WAIT_POLICY: dict[str, str] = {"GOMP_SPINCOUNT": str(SPIN_COUNT), "KMP_BLOCKTIME": "1"}

# Any of these set by the user means the user chose how OpenMP threads wait.
USER_CONTROLS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")

# One dlopen at a time between setting and restoring: the environment is the process's.
_lock = threading.Lock()


@contextmanager
def kernel_loading() -> Iterator[None]:
    """Around the dlopen of a compiled kernel: the OpenMP runtime, if this load initialises it,
    makes idle workers spin briefly, then sleep (see the module docstring)."""
    with _lock:
        if any(name in os.environ for name in USER_CONTROLS):
            yield
            return
        os.environ.update(WAIT_POLICY)
        try:
            yield
        finally:
            for name in WAIT_POLICY:
                os.environ.pop(name, None)

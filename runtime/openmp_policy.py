"""How aidjit's OpenMP worker threads wait between parallel loops: asleep, not spinning.

libgomp's default is to spin for ~300,000 iterations (a fraction of a millisecond) at every
barrier and between parallel regions before sleeping on a futex. With as many threads as cores
that is only fast when nothing else wants the cores: a spinning worker uses up its time slice,
so the scheduler runs other work (another process, numpy's OpenBLAS workers, PyTorch's own
OpenMP team) when the next region starts, and a static schedule then waits for the slowest
thread. Measured on 2 cores, W5's compiled training step took 35-50 ms per call at 2 threads
while a test suite ran beside it, against 3.5 ms at 1 thread; with `OMP_WAIT_POLICY=passive`
it took 3.9 ms. A sleeping worker is woken by a futex in microseconds and keeps the scheduler's
wake-up preference, so the same policy costs little on a quiet machine (docs/performance.md,
"Threads").

libgomp (and LLVM's libomp) read the policy once, from the environment, when the runtime is
first loaded, which is when the first kernel with a parallel loop is dlopened. `kernel_loading`
sets the policy around every dlopen of a kernel and restores the environment afterwards, so
neither child processes nor another library's OpenMP runtime loaded later (PyTorch bundles its
own libgomp) see it. A user who sets `OMP_WAIT_POLICY`, `GOMP_SPINCOUNT` or `KMP_BLOCKTIME`
keeps full control: then nothing is changed.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

WAIT_POLICY: dict[str, str] = {"OMP_WAIT_POLICY": "passive"}

# Any of these set by the user means the user chose how OpenMP threads wait.
USER_CONTROLS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")

# One dlopen at a time between setting and restoring: the environment is the process's.
_lock = threading.Lock()


@contextmanager
def kernel_loading() -> Iterator[None]:
    """Around the dlopen of a compiled kernel: the OpenMP runtime, if this load initialises it,
    makes idle workers sleep (see the module docstring)."""
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

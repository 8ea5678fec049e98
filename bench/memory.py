"""Minor page faults and peak RSS growth of a call: numpy eager vs aidjit compiled, new processes.

Allocating a large temporary per call costs twice: the kernel faults its pages in on first touch
(minor faults, one per 4 KiB page), and the process's peak memory grows by its size. Issue 6
asks that the compiled call fault ~0 pages after its first call and grow peak RSS no more than
numpy does. Per column, `measure_memory(id, column)` runs this file as a script in a new
process (`python bench/memory.py W1 "aidjit compiled"`), which makes the inputs and the callable
(for aidjit: `aidjit.compile`, a disk-cache hit after bench/run.py compiled it), then measures:

    first call     minor faults (`getrusage(RUSAGE_SELF).ru_minflt` delta) and the peak RSS
                   growth it caused (over the RSS right before it)
    later calls    `MEMORY_CALLS` more calls: minor faults per call (~0 when a call neither
                   allocates nor touches fresh pages), and the peak RSS growth of all calls
                   together over the same starting RSS: what using the function costs in peak
                   memory, including what the allocator keeps and regrows between calls (a
                   call that frees 16 MiB temporaries into glibc's heap can leave it bigger for
                   the next call: W6 went from +32 MiB after one call to +64..96 MiB)

Why a new process per column and why not `ru_maxrss`: a peak is a high-water mark, so in the
benchmark's long-lived process one workload's (or column's) peak would hide the next's. A fresh
process starts low, but its `ru_maxrss` does not: Python starts it with vfork + exec, and Linux
carries the parent's high-water mark into the child's `ru_maxrss` at exec (measured: a child of
a 320 MB parent reports 320 MB while its own RSS is 11 MB), and `ru_maxrss` cannot be reset. So
peaks come from `/proc/self/status` instead: writing "5" to `/proc/self/clear_refs` resets this
process's high-water mark `VmHWM` to its current RSS `VmRSS` (Linux >= 4.0), so "peak growth" is
`VmHWM` after the calls minus `VmRSS` before them: the extra memory the calls needed at their
peak. Faults are counted process-wide (numpy's BLAS threads included), garbage collector off;
outputs are dropped after each call, as in the timing loop.
"""

from __future__ import annotations

import gc
import json
import resource
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from probe import run_probe
from timing import COMPILED, NUMPY
from workloads import BY_ID, Arrays, Workload

SCRIPT = Path(__file__).resolve()
MEMORY_CALLS = 5
KIB_PER_MIB = 1024


@dataclass(frozen=True)
class MemoryUse:
    """Minor faults of the first call and per later call; peak RSS growth (MiB) over the RSS
    before the first call, at the end of the first call and at the end of all calls."""

    first_call_faults: int
    faults_per_call: float
    first_call_rss_growth_mib: float
    peak_rss_growth_mib: float
    later_calls: int


def _numpy_call(workload: Workload, inputs: Arrays) -> Callable[[], Any]:
    return lambda: workload.numpy_fn(*inputs)


def _compiled_call(workload: Workload, inputs: Arrays) -> Callable[[], Any]:
    import aidjit

    compiled = aidjit.compile(workload.aidjit_fn, *inputs, tier="optimized")  # the kernel's memory
    return lambda: compiled(*inputs)


# The columns measured, by their bench/run.py names: the compiled code and what it is judged by.
PROBED_COLUMNS: dict[str, Callable[[Workload, Arrays], Callable[[], Any]]] = {
    NUMPY: _numpy_call,
    COMPILED: _compiled_call,
}


def measure_memory(workload_id: str, column: str) -> MemoryUse:
    """Faults and peak RSS growth of `column` on a workload, measured in a new process."""
    return MemoryUse(**run_probe(SCRIPT, [workload_id, column]))


def _status_kib(field: str) -> int:
    """A `kB` field of /proc/self/status (`VmRSS`, `VmHWM`)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field} line")


def _reset_peak() -> int:
    """Make VmHWM the current RSS; return that RSS (KiB)."""
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")
    return _status_kib("VmRSS")


def _minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def _measure(call: Callable[[], Any]) -> MemoryUse:
    gc.collect()
    gc.disable()
    before_rss = _reset_peak()
    before_faults = _minor_faults()
    call()
    first_faults = _minor_faults() - before_faults
    first_peak = _status_kib("VmHWM")
    before_faults = _minor_faults()
    for _ in range(MEMORY_CALLS):
        call()
    later_faults = _minor_faults() - before_faults
    return MemoryUse(
        first_call_faults=first_faults,
        faults_per_call=later_faults / MEMORY_CALLS,
        first_call_rss_growth_mib=(first_peak - before_rss) / KIB_PER_MIB,
        peak_rss_growth_mib=(_status_kib("VmHWM") - before_rss) / KIB_PER_MIB,
        later_calls=MEMORY_CALLS,
    )


def _main(workload_id: str, column: str) -> None:
    workload = BY_ID[workload_id]
    inputs = workload.inputs()
    print(json.dumps(asdict(_measure(PROBED_COLUMNS[column](workload, inputs)))))


if __name__ == "__main__":
    _main(*sys.argv[1:])

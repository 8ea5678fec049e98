"""Two builds of one workload's kernel, called in turn in one process: what a compiler change gains.

Separate processes disagree by more than most schedule changes are worth on a shared machine
(the same kernel at two threads ran 0.81-1.21 ms per call of W3 from one process to the next),
and a kernel built by another version of aidjit is not found by this one's cache key (the key
includes a digest of aidjit's source). So each version first builds the kernel into a folder of
its own, and the comparison loads both from their records (`.kernel.json`), checks that they
give the same output bits, and times them in alternation, `--calls` calls at a time:

    git stash;     python bench/compare_kernels.py build W3 --threads 2 --into /tmp/before
    git stash pop; python bench/compare_kernels.py build W3 --threads 2 --into /tmp/after
    python bench/compare_kernels.py compare W3 --threads 2 /tmp/before /tmp/after

It prints each build's median ms per call and the median of the per-round ratios after/before,
with their range. At one thread the time is the process's CPU time (steadier on a busy
machine); at more threads wall time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

ROUNDS = 30
CALLS = 100


def kernel_folder(root: Path, workload_id: str, threads: int) -> Path:
    """The cache directory one build of `workload_id` at `threads` threads goes to."""
    return root / f"{workload_id}-{threads}T"


def build(workload_id: str, threads: int, root: Path) -> Path:
    """Compile the workload with this version of aidjit into its folder under `root`."""
    import aidjit

    from workloads import BY_ID

    folder = kernel_folder(root, workload_id, threads)
    workload = BY_ID[workload_id]
    configured = os.environ.get("AIDJIT_CACHE_DIR")
    os.environ["AIDJIT_CACHE_DIR"] = str(folder)
    try:
        aidjit.compile(workload.aidjit_fn, *workload.inputs(), threads=threads, tier="optimized")
    finally:
        if configured is None:
            del os.environ["AIDJIT_CACHE_DIR"]
        else:
            os.environ["AIDJIT_CACHE_DIR"] = configured
    return folder


def load(folder: Path) -> Any:
    """The one kernel built into `folder`, loaded as the runtime loads it from disk."""
    from aidjit.runtime.cache import Kernel
    from aidjit.runtime.loader import ArgSpec, NativeFunction

    records = sorted(folder.glob("*/*.kernel.json"))
    if len(records) != 1:
        raise SystemExit(f"{folder}: expected one kernel record, found {len(records)}")
    kernel = Kernel.from_json(records[0].read_text())

    def specs(side: tuple[tuple[tuple[int, ...], str], ...]) -> list[ArgSpec]:
        return [ArgSpec(f"arg{i}", shape, dtype) for i, (shape, dtype) in enumerate(side)]

    return NativeFunction(
        kernel.so_path(folder),
        kernel.symbol,
        kernel.prototype,
        specs(kernel.inputs),
        specs(kernel.outputs),
        kernel.workspace_bytes,
        thunk=True,
    )


def compare(
    workload_id: str, threads: int, before: Path, after: Path, rounds: int, calls: int
) -> dict[str, float]:
    """Median ms per call of each build and the median ratio after/before over rounds."""
    from workloads import BY_ID

    inputs = BY_ID[workload_id].inputs()
    kernels = [load(kernel_folder(root, workload_id, threads)) for root in (before, after)]
    first, second = (kernel(*inputs) for kernel in kernels)
    for index, (old, new) in enumerate(zip(first, second, strict=True)):
        if not np.array_equal(old, new, equal_nan=True):
            raise SystemExit(f"output {index} differs between the two builds")
    clock = time.process_time if threads == 1 else time.perf_counter
    times: list[list[float]] = [[], []]
    for _ in range(rounds):
        for kernel, samples in zip(kernels, times, strict=True):
            start = clock()
            for _ in range(calls):
                kernel(*inputs)
            samples.append((clock() - start) / calls * 1e3)
    ratios = [new / old for old, new in zip(*times, strict=True)]
    return {
        "before_ms": statistics.median(times[0]),
        "after_ms": statistics.median(times[1]),
        "ratio": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
    }


def _main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    built = commands.add_parser("build", help="compile a workload into a folder of its own")
    built.add_argument("workload")
    built.add_argument("--threads", type=int, default=1)
    built.add_argument("--into", type=Path, required=True)
    compared = commands.add_parser("compare", help="time two builds in turn")
    compared.add_argument("workload")
    compared.add_argument("before", type=Path)
    compared.add_argument("after", type=Path)
    compared.add_argument("--threads", type=int, default=1)
    compared.add_argument("--rounds", type=int, default=ROUNDS)
    compared.add_argument("--calls", type=int, default=CALLS)
    arguments = parser.parse_args()
    if arguments.command == "build":
        print(build(arguments.workload, arguments.threads, arguments.into))
        return
    figures = compare(
        arguments.workload,
        arguments.threads,
        arguments.before,
        arguments.after,
        arguments.rounds,
        arguments.calls,
    )
    clock = "CPU" if arguments.threads == 1 else "wall"
    print(
        f"{arguments.workload} at {arguments.threads}T ({clock} ms per call, median of "
        f"{arguments.rounds} rounds of {arguments.calls}): before {figures['before_ms']:.4f}, "
        f"after {figures['after_ms']:.4f}, after/before {figures['ratio']:.3f} "
        f"(rounds {figures['ratio_min']:.3f}-{figures['ratio_max']:.3f})"
    )


if __name__ == "__main__":
    _main()

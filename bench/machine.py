"""What the figures were measured on: CPU, library versions, the C compiler and thread counts.

Thread counts are reported as they are in force in the process that measures (bench/columns.py
sets them per thread setting before the libraries load). numpy's BLAS is asked directly
(OpenBLAS's `*_get_num_threads`, found in the libraries this process has mapped), so the figure
is the one in force, not a guess from environment variables.
"""

from __future__ import annotations

import ctypes
import importlib.metadata
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np

from aidjit.runtime.toolchain import find_toolchain

OPENBLAS_THREAD_QUERIES = (
    "scipy_openblas_get_num_threads64_",
    "scipy_openblas_get_num_threads",
    "openblas_get_num_threads64_",
    "openblas_get_num_threads",
)


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def package_version(name: str) -> str | None:
    """The installed version of a distribution, without importing it (None when absent)."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def blas_info() -> dict[str, Any]:
    config = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    return {"name": config.get("name"), "version": config.get("version")}


def blas_threads() -> int | None:
    """Threads numpy's OpenBLAS uses now (None when it is not OpenBLAS or cannot be asked)."""
    mapped = {line.split()[-1] for line in Path("/proc/self/maps").read_text().splitlines()}
    for library in sorted(path for path in mapped if "openblas" in path.lower()):
        handle = ctypes.CDLL(library)
        for symbol in OPENBLAS_THREAD_QUERIES:
            if hasattr(handle, symbol):
                return int(getattr(handle, symbol)())
    return None


def aidjit_threads() -> str:
    requested = os.environ.get("AIDJIT_NUM_THREADS")
    if requested:
        return f"{requested} (AIDJIT_NUM_THREADS)"
    return f"{len(os.sched_getaffinity(0))} (every usable core: AIDJIT_NUM_THREADS unset)"


def threads_in_force() -> dict[str, Any]:
    """The thread counts this process's libraries use, and the cores it may run on."""
    return {
        "usable_cores": len(os.sched_getaffinity(0)),
        "numpy_blas": blas_threads(),
        "aidjit_compiled": aidjit_threads(),
    }


def machine_info() -> dict[str, Any]:
    toolchain = find_toolchain()
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": blas_info(),
        "torch": package_version("torch"),
        "jax": package_version("jax"),
        "xdsl": package_version("xdsl"),
        "cc": toolchain.cc,
        "cc_version": toolchain.version,
        "cflags": list(toolchain.cflags),
        "ldflags": list(toolchain.ldflags),
        "threads": threads_in_force(),
    }

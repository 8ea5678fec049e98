"""Compile-cache statistics over the process: `aidjit.cache_info()` and `aidjit.cache_clear()`.

Counted where the answers are known, once per compiled function, never per call (the dispatch
path keeps no counters): a `CompiledFunction` reports how its kernel was found when the kernel
answers calls (at once, or when a tier "auto" background build finishes), and the tape's
compiled-gradient cache reports its lookups. The counters are plain integers under one lock.

`cache_clear()` forgets what this process holds in memory: every `aidjit.jit` function's
versions, the compiled tape gradients, the kernel cache's in-process records, and these counters.
The disk cache is not touched: the next compile of a function finds its kernel there (a
`disk_hits` count) instead of compiling it again. To empty the disk cache, delete its directory
(`$AIDJIT_CACHE_DIR`, else `~/.cache/aidjit`) while no aidjit process runs: its lock files must
not vanish under a running compile (see `aidjit.runtime.cache`).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import NamedTuple


class CacheInfo(NamedTuple):
    """How compiled functions were obtained since the process started (or `cache_clear`).

    A kernel is looked up by its trace's key first: `hits` found it (`memory_hits` in this
    process, `disk_hits` on disk, compiled by an earlier process or before `cache_clear`), no
    pass ran. `misses` ran the pass pipeline: `compiles` of them ran the C compiler, the other
    `source_hits` found the C they produced already compiled. `interpreted` counts compiles for
    `backend="interpreter"`, which has no kernel to cache. `compile_ms` sums, over all of them,
    the wall time from the start of the compile until its kernel answered calls (tracing,
    passes, C compiler, loading; a background build included). `tape_hits` and `tape_misses`
    count `GradientTape(use_jit=True)` gradient calls that reused a compiled function of the
    same structure, and those that compiled one.
    """

    hits: int
    misses: int
    compiles: int
    compile_ms: float
    memory_hits: int
    disk_hits: int
    source_hits: int
    interpreted: int
    tape_hits: int
    tape_misses: int


_OUTCOMES = {
    "memory": "memory_hits",
    "disk": "disk_hits",
    "source": "source_hits",
    "miss": "compiles",
    "none": "interpreted",
}
"""Each `Stats.cache` value and the counter it moves."""

_lock = threading.Lock()
_counts: dict[str, int] = {}
_compile_ms = [0.0]
_clear_hooks: list[Callable[[], None]] = []


def record_compile(outcome: str, milliseconds: float) -> None:
    """A compiled function is ready: `outcome` is its `Stats.cache` ("memory", "disk",
    "source", "miss" or "none"), `milliseconds` the time it took."""
    counter = _OUTCOMES[outcome]
    with _lock:
        _counts[counter] = _counts.get(counter, 0) + 1
        _compile_ms[0] += milliseconds


def record_tape(hit: bool) -> None:
    """A `GradientTape(use_jit=True)` gradient found its compiled function (`hit`) or not."""
    counter = "tape_hits" if hit else "tape_misses"
    with _lock:
        _counts[counter] = _counts.get(counter, 0) + 1


def on_clear(hook: Callable[[], None]) -> None:
    """Run `hook` on every `cache_clear()`: how a module holding compiled functions joins in."""
    _clear_hooks.append(hook)


def cache_info() -> CacheInfo:
    """The process's compile-cache counters (see `CacheInfo`)."""
    with _lock:
        get, compile_ms = dict(_counts).get, _compile_ms[0]
    memory, disk, source, compiles = (
        get(name, 0) for name in ("memory_hits", "disk_hits", "source_hits", "compiles")
    )
    return CacheInfo(
        hits=memory + disk,
        misses=source + compiles,
        compiles=compiles,
        compile_ms=compile_ms,
        memory_hits=memory,
        disk_hits=disk,
        source_hits=source,
        interpreted=get("interpreted", 0),
        tape_hits=get("tape_hits", 0),
        tape_misses=get("tape_misses", 0),
    )


def cache_clear() -> None:
    """Forget every compiled function this process holds in memory and zero the counters.

    Every `aidjit.jit` function compiles again on its next call (finding its kernel on disk),
    and so does every `GradientTape(use_jit=True)` structure; a `CompiledFunction` you hold keeps
    working. The disk cache is left as it is (see the module docstring to empty it)."""
    for hook in _clear_hooks:
        hook()
    runtime_cache = sys.modules.get("aidjit.runtime.cache")  # loaded only if a kernel was built
    if runtime_cache is not None:
        runtime_cache.clear_memory_cache()
    with _lock:
        _counts.clear()
        _compile_ms[0] = 0.0

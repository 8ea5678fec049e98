"""Packing buffers with known lifetimes into one workspace: offline dynamic storage allocation.

Each buffer has a size in bytes and a lifetime [first, last] (op positions, inclusive). Two
buffers may share bytes when their lifetimes do not overlap. The heuristic is "greedy by size"
(as TFLite's arena planner and XLA's heap simulator use): place buffers largest first, each at
the lowest offset where it collides with no placed buffer that is alive at the same time. It is
optimal or close to it on the chains of temporaries a graph produces, and runs in O(n^2).

Buffers of different element types never share bytes: C's type-based alias analysis may assume
a `float` load and an `int64_t` store never touch the same memory, and a planner must not turn
that assumption false.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

ALIGNMENT = 64
"""Every buffer starts on a cache line (and an AVX-512 vector)."""


@dataclass(frozen=True)
class Lifetime:
    size: int
    first: int
    last: int
    kind: str
    """Buffers of different kinds (element types) never overlap in memory."""


@dataclass(frozen=True)
class Plan:
    offsets: tuple[int, ...]
    size: int
    """Workspace bytes: the end of the highest placed buffer, a multiple of ALIGNMENT."""
    size_without_reuse: int
    """What one buffer per value would take: the sum of the aligned sizes."""


def aligned(size: int) -> int:
    """Bytes a buffer takes: whole cache lines, at least one (an empty buffer still needs an
    address inside the workspace)."""
    return max(-(-size // ALIGNMENT), 1) * ALIGNMENT


def plan_memory(buffers: Sequence[Lifetime], *, reuse: bool = True) -> Plan:
    sizes = [aligned(b.size) for b in buffers]
    without_reuse = sum(sizes)
    if not reuse:
        offsets, end = [], 0
        for size in sizes:
            offsets.append(end)
            end += size
        return Plan(tuple(offsets), end, without_reuse)
    order = sorted(range(len(buffers)), key=lambda n: (-sizes[n], buffers[n].first, n))
    placed: list[int] = []
    offsets_by_buffer: dict[int, int] = {}
    for n in order:
        buffer = buffers[n]
        conflicts = sorted(
            (offsets_by_buffer[m], offsets_by_buffer[m] + sizes[m])
            for m in placed
            if buffers[m].kind != buffer.kind
            or (buffers[m].first <= buffer.last and buffer.first <= buffers[m].last)
        )
        offset = 0
        for start, end in conflicts:
            if offset + sizes[n] <= start:
                break
            offset = max(offset, end)
        offsets_by_buffer[n] = offset
        placed.append(n)
    offsets = tuple(offsets_by_buffer[n] for n in range(len(buffers)))
    size = max((offsets[n] + sizes[n] for n in range(len(buffers))), default=0)
    return Plan(offsets, size, without_reuse)

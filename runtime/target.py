"""The CPU aidjit compiles for: vector width, registers, caches and cores, detected once.

Every schedule parameter comes from here, never from one machine's numbers: the vector passes
take their lane count from `Target.lanes`, the contraction micro-kernel its register tile from
`Target.vector_registers` and its cache blocking from the cache sizes, and the C emitter its
vector intrinsics from `Target.isa`. The machine this project runs on is not the same from one
session to the next (AMD Zen 4 once, an Intel AVX-512 part with AMX another time), so the
target is part of every cache key (`Target.fingerprint`).

Detection reads Linux's /proc/cpuinfo flags and /sys/devices/system/cpu/cpu0/cache; anything
missing falls back to conservative defaults (no vectors, 32 KiB L1, 1 MiB L2). The environment
variable `AIDJIT_TARGET` (`avx512`, `avx2`, `sse` or `scalar`) narrows the ISA below what the
CPU has, to test the narrower code paths on a wide machine.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from aidjit.errors import AidjitError
from aidjit.records import record

TARGET_ENV = "AIDJIT_TARGET"


@record
class Isa:
    """One vector instruction set: how wide its registers are and how many it has."""

    name: str
    vector_bytes: int
    """Bytes per vector register: 64 for AVX-512, 32 for AVX2, 16 for SSE, 0 for none."""
    vector_registers: int
    has_fma: bool
    cpu_flags: tuple[str, ...]
    """The /proc/cpuinfo flags the ISA needs (all of them)."""


# Widest first: detection takes the first whose flags the CPU has. SSE2 is part of x86-64, but
# without FMA a vector loop would round a*b+c twice where the scalar code rounds once (fmaf), so
# the narrowest vector ISA used here is AVX2 with FMA; SSE means no explicit vectors.
ISAS: tuple[Isa, ...] = (
    Isa("avx512", 64, 32, True, ("avx512f", "avx512vl", "avx512dq", "fma")),
    Isa("avx2", 32, 16, True, ("avx2", "fma")),
    Isa("sse", 0, 16, False, ("sse2",)),
    Isa("scalar", 0, 0, False, ()),
)
_ISA_BY_NAME = {isa.name: isa for isa in ISAS}


@record
class Target:
    """What the schedules are tuned for: the ISA and the memory hierarchy of one core."""

    isa: Isa
    l1d_bytes: int = 32 * 1024
    l2_bytes: int = 1024 * 1024
    l3_bytes: int = 8 * 1024 * 1024
    cores: int = 1

    def lanes(self, element_bytes: int) -> int:
        """Elements per vector register (1: no explicit vectors for this element size)."""
        return max(1, self.isa.vector_bytes // element_bytes)

    @property
    def vector_registers(self) -> int:
        return self.isa.vector_registers

    def fingerprint(self) -> str:
        """Everything a compiled kernel depends on: part of every cache key."""
        return (
            f"{os.uname().machine} isa={self.isa.name} l1d={self.l1d_bytes} l2={self.l2_bytes} "
            f"l3={self.l3_bytes} cores={self.cores}"
        )


def _cpu_flags() -> frozenset[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    line = next((line for line in text.splitlines() if line.startswith("flags")), "")
    return frozenset(line.partition(":")[2].split())


_SIZE_UNITS = {"K": 1024, "M": 1024**2, "G": 1024**3}


def _cache_sizes(root: Path = Path("/sys/devices/system/cpu/cpu0/cache")) -> dict[int, int]:
    """Data/unified cache bytes by level, from sysfs (`index*/level`, `type`, `size`)."""
    sizes: dict[int, int] = {}
    for index in sorted(root.glob("index*")):
        try:
            kind = (index / "type").read_text().strip()
            level = int((index / "level").read_text())
            size = (index / "size").read_text().strip()
        except (OSError, ValueError):
            continue
        if kind == "Instruction" or not size:
            continue
        unit = _SIZE_UNITS.get(size[-1], 1)
        digits = size[:-1] if size[-1] in _SIZE_UNITS else size
        if digits.isdigit():
            sizes[level] = int(digits) * unit
    return sizes


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _isa(flags: frozenset[str], requested: str | None) -> Isa:
    available = next(isa for isa in ISAS if set(isa.cpu_flags) <= flags)
    if requested is None:
        return available
    if requested not in _ISA_BY_NAME:
        raise AidjitError(
            f"{TARGET_ENV}={requested!r} is not an ISA aidjit knows; "
            f"choose one of {', '.join(_ISA_BY_NAME)}"
        )
    wanted = _ISA_BY_NAME[requested]
    if ISAS.index(wanted) < ISAS.index(available):
        raise AidjitError(
            f"{TARGET_ENV}={requested!r}: this CPU has no {requested} "
            f"(its widest is {available.name})"
        )
    return wanted


@functools.cache
def detect_target() -> Target:
    """The host CPU as aidjit targets it (cached: detection reads a few small files)."""
    isa = _isa(_cpu_flags(), os.environ.get(TARGET_ENV) or None)
    caches = _cache_sizes()
    defaults = Target(isa)
    return Target(
        isa,
        l1d_bytes=caches.get(1, defaults.l1d_bytes),
        l2_bytes=caches.get(2, defaults.l2_bytes),
        l3_bytes=caches.get(3, defaults.l3_bytes),
        cores=_usable_cores(),
    )

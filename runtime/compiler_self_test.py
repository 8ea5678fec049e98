"""The compiler self-test: C in the shape aidjit emits, on which a compiler once went wrong,
built and run once per toolchain.

Compilers have bugs, and aidjit's C has met three in gcc 12.2: a miscompiled copy out of a
constant array and a crash on vectorised max/min, which runtime/emit_c.py emits around, and a
dropped rounding in float64 -> float32 -> float64 round trips, around which emit_c turns off
SLP vectorisation in the functions that narrow. So that a compiler with the same kind of bug is
caught rather than trusted, :func:`aidjit.runtime.toolchain.find_toolchain` runs this self-test
once per toolchain: it compiles the reproducers of those bugs with the toolchain's exact command
line, and runs them. A failure logs a warning (logger ``"aidjit"``) and switches to fallback
flags that pass. The verdict is recorded in the cache directory under the toolchain's identity,
so later processes pay nothing.

A module of its own, apart from runtime/toolchain.py: a warm start finds its toolchain recorded
and never needs what is here (its two dataclasses alone cost ~2 ms to create on a 2-vCPU
guest, of a warm start of 15-20 ms).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shlex
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aidjit.debug import WARNING, log
from aidjit.errors import AidjitError
from aidjit.runtime.toolchain import (
    Toolchain,
    compile_shared,
    host_fingerprint,
    run_subprocess,
    write_record,
)

SELF_TEST_ENTRY = "aidjit_self_test"
WRONG_VALUES = 3


@dataclass(frozen=True)
class Reproducer:
    """C in the shape aidjit emits, on which a compiler once went wrong; run by the self-test.

    ``source`` defines ``int aidjit_self_test(void)``, which returns 0 when the compiled code
    computed the right values; a compiler crash fails the build instead.
    """

    name: str
    bug: str
    source: str


def _global_copy_source() -> str:
    from aidjit.runtime.emit_c import GLOBAL_STORAGE

    # `lambda x: (x, C)` with C = [1,1,0,1,1,1,0,0,1.]: gcc 12.2 -march=native (AVX-512VL,
    # Skylake-like tuning) turned a copy out of a `static const` array into wrong vector
    # constants. The array is declared as emit_c declares globals today.
    return f"""\
#include <stdint.h>
{GLOBAL_STORAGE} double aidjit_self_test_c[9] = {{1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0}};

__attribute__((noinline)) void aidjit_self_test_copy(double *restrict y) {{
    const double *c = aidjit_self_test_c;
    for (int64_t i = 0; i < 9; i++) y[i] = c[i];
}}

int {SELF_TEST_ENTRY}(void) {{
    double y[9];
    aidjit_self_test_copy(y);
    /* Bit i of 0x13B is element i: an expectation the compiler cannot fold from the array. */
    for (int64_t i = 0; i < 9; i++)
        if (y[i] != (double)((0x13B >> i) & 1)) return 1;
    return 0;
}}
"""


def _max_min_source() -> str:
    # `ops.relu(ops.abs(x))` and `ops.minimum(x * x, y)` on 16 floats: max/min of operands gcc
    # knows are non-negative crashed gcc 12.2 -O3 with AVX-512 (tree-ssa-sccvn ICE) while the
    # helpers tested a sign bit. The helpers are emit_c's own; the inputs cover NaN, +-0, +-inf.
    from aidjit.runtime.emit_c import helper_definition

    return f"""\
#include <math.h>
#include <stdint.h>
#include <string.h>

{helper_definition("maximum", "float")}

{helper_definition("minimum", "float")}

__attribute__((noinline)) void aidjit_self_test_kernel(
    const float *restrict x, const float *restrict y, float *restrict relu_abs,
    float *restrict min_square) {{
    float t[16];
    for (int64_t i = 0; i < 16; i++) t[i] = fabsf(x[i]);
    for (int64_t i = 0; i < 16; i++) relu_abs[i] = aidjit_maximum_f32(t[i], 0.0f);
    for (int64_t i = 0; i < 16; i++) min_square[i] = aidjit_minimum_f32(x[i] * x[i], y[i]);
}}

/* A NaN matches any NaN; anything else must match bit for bit (so -0 is not +0). */
static int differs(float got, float want) {{
    uint32_t got_bits, want_bits;
    memcpy(&got_bits, &got, sizeof got);
    memcpy(&want_bits, &want, sizeof want);
    return isnan(want) ? !isnan(got) : got_bits != want_bits;
}}

int {SELF_TEST_ENTRY}(void) {{
    const float x[16] = {{-0.0f, 0.0f, NAN, -2.0f, 3.0f, INFINITY, -INFINITY, 0.5f,
                          -0.5f, 1e-30f, -1e30f, 7.0f, -7.0f, 1.0f, -1.0f, 2.0f}};
    const float y[16] = {{-0.0f, 0.0f, 1.0f, NAN, 2.0f, 5.0f, 1.0f, -1.0f,
                          0.25f, 0.0f, -0.0f, 49.0f, 50.0f, 1.0f, 0.5f, -3.0f}};
    const float want_relu_abs[16] = {{0.0f, 0.0f, NAN, 2.0f, 3.0f, INFINITY, INFINITY, 0.5f,
                                      0.5f, 1e-30f, 1e30f, 7.0f, 7.0f, 1.0f, 1.0f, 2.0f}};
    const float want_min_square[16] = {{-0.0f, 0.0f, NAN, NAN, 2.0f, 5.0f, 1.0f, -1.0f,
                                        0.25f, 0.0f, -0.0f, 49.0f, 49.0f, 1.0f, 0.5f, -3.0f}};
    float relu_abs[16], min_square[16];
    aidjit_self_test_kernel(x, y, relu_abs, min_square);
    for (int64_t i = 0; i < 16; i++)
        if (differs(relu_abs[i], want_relu_abs[i]) || differs(min_square[i], want_min_square[i]))
            return 1;
    return 0;
}}
"""


def _round_trip_cast_source() -> str:
    # `ops.astype(ops.astype(x, float32), float64)` on a 3x4 array, as emit_c writes it: gcc
    # 12.2 -O3 -mavx2 (or -march=native) with SLP vectorisation forwarded the unrounded doubles
    # to the last four elements, unless the function turns SLP off as emit_c's does.
    from aidjit.runtime.emit_c import NO_SLP_GUARD

    return f"""\
#include <stdint.h>
#include <stdlib.h>

void *aligned_alloc(size_t alignment, size_t size);

{NO_SLP_GUARD}

AIDJIT_NO_SLP __attribute__((noinline)) void aidjit_self_test_cast(
    const double *restrict x, double *restrict y) {{
    float *restrict t = aligned_alloc(64, 64);
    for (int64_t i = 0; i < 3; i++)
        for (int64_t j = 0; j < 4; j++) {{
            const float v = (float)x[i * 4 + j];
            t[i * 4 + j] = v;
        }}
    for (int64_t i = 0; i < 3; i++)
        for (int64_t j = 0; j < 4; j++) {{
            const double v = (double)t[i * 4 + j];
            y[i * 4 + j] = v;
        }}
    free(t);
}}

int {SELF_TEST_ENTRY}(void) {{
    double x[12], y[12];
    for (int64_t i = 0; i < 12; i++) x[i] = 0.1 * (double)(i + 1);
    aidjit_self_test_cast(x, y);
    for (int64_t i = 0; i < 12; i++) {{
        volatile float rounded = (float)x[i];
        if (y[i] != (double)rounded) return 1;
    }}
    return 0;
}}
"""


def _make_reproducers() -> tuple[Reproducer, ...]:
    return (
        Reproducer(
            "global-copy",
            "gcc 12.2 -march=native on AVX-512 miscompiled a copy out of a constant array",
            _global_copy_source(),
        ),
        Reproducer(
            "nan-aware-max-min",
            "gcc 12.2 -O3 on AVX-512 crashed on max/min of a non-negative operand",
            _max_min_source(),
        ),
        Reproducer(
            "round-trip-cast",
            "gcc 12.2 -O3 -mavx2 SLP vectorisation dropped the rounding of a float64 -> float32 -> "
            "float64 round trip",
            _round_trip_cast_source(),
        ),
    )


def reproducers() -> tuple[Reproducer, ...]:
    """The reproducers a self-test runs, made on first use: their C is in the shape emit_c
    emits, from emit_c's own helpers, and importing emit_c imports xDSL (~0.2 s), which a
    process that finds its toolchain probe recorded never needs. ``REPRODUCERS`` names the same
    tuple (and may be replaced, as a test does with the old emission)."""
    if "REPRODUCERS" not in globals():
        globals()["REPRODUCERS"] = _make_reproducers()
    return globals()["REPRODUCERS"]


def __getattr__(name: str) -> tuple[Reproducer, ...]:
    """``REPRODUCERS``, made on first use (PEP 562): see :func:`reproducers`."""
    if name == "REPRODUCERS":
        return reproducers()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _without_slp_vectorizer(cflags: tuple[str, ...]) -> tuple[str, ...]:
    return (*cflags, "-fno-tree-slp-vectorize")


def _without_vectorizer(cflags: tuple[str, ...]) -> tuple[str, ...]:
    return (*cflags, "-fno-tree-vectorize")


def _baseline(cflags: tuple[str, ...]) -> tuple[str, ...]:
    kept = tuple(flag for flag in cflags if not flag.startswith(("-O", "-march=", "-mtune=")))
    return (*kept, "-O1", "-fno-tree-vectorize")


# Flag sets tried in order when a reproducer fails. First -fno-tree-slp-vectorize, for a
# compiler that ignores emit_c's per-function attribute (clang, say) and has the cast bug. Then
# -fno-tree-vectorize: the gcc 12.2 bugs all live in vectorised code (each goes away with it
# alone), and it keeps -O3 and the host's
# scalar instructions (-march=native: FMA, BMI), at the price of SIMD speed on elementwise loops,
# which is why it is a fallback and not the default. Dropping -march=native instead would keep
# the vectoriser, the part that failed, running. Last, the most conservative build: -O1 for the
# generic target.
FALLBACKS: tuple[Callable[[tuple[str, ...]], tuple[str, ...]], ...] = (
    _without_slp_vectorizer,
    _without_vectorizer,
    _baseline,
)


@dataclass(frozen=True)
class Verdict:
    """The outcome of a self-test: what failed with the toolchain's flags, what to build with."""

    failures: dict[str, str]
    cflags: tuple[str, ...]


def run_self_test(toolchain: Toolchain, record_dir: Path) -> Toolchain:
    """``toolchain`` if it builds every reproducer right, else the first fallback that does.

    The verdict is read from, or written to, ``record_dir`` under a key of the toolchain's
    identity (compiler, version, flags, host CPU) and the reproducers' sources. A failure is
    logged as a warning on logger ``"aidjit"`` every time the toolchain is used, naming the
    reproducer and the flags chosen instead; if no fallback passes either, the original flags
    are kept, with a warning that results may be wrong.
    """
    return apply_verdict(toolchain, verdict_of(toolchain, record_dir))


def verdict_of(toolchain: Toolchain, record_dir: Path) -> Verdict:
    """The self-test's verdict on ``toolchain``: recorded in ``record_dir``, or run and recorded."""
    record = record_dir / f"{_self_test_key(toolchain)}.json"
    verdict = _read_verdict(record)
    if verdict is None:
        # Build where kernels are built when possible: a directory shared objects load from.
        try:
            record_dir.mkdir(parents=True, exist_ok=True)
            work_dir: Path | None = record_dir
        except OSError:
            work_dir = None
        verdict = _judge(toolchain, work_dir)
        write_record(record, dataclasses.asdict(verdict))
    return verdict


def apply_verdict(toolchain: Toolchain, verdict: Verdict) -> Toolchain:
    """``toolchain`` with the flags ``verdict`` chose, warning when the self-test failed."""
    if not verdict.failures:
        return toolchain
    chosen = verdict.cflags
    described = "; ".join(
        f"{name} ({_bug_of(name)}): {what}" for name, what in sorted(verdict.failures.items())
    )
    if chosen == toolchain.cflags:
        log(
            WARNING,
            "C compiler %s (%s) failed aidjit's toolchain self-test, with every fallback flag "
            "set too: %s. Compiled results may be wrong; try another compiler (CC=...).",
            toolchain.cc,
            toolchain.version,
            described,
        )
        return toolchain
    log(
        WARNING,
        "C compiler %s (%s) with flags %s failed aidjit's toolchain self-test: %s. "
        "Building with %s instead (slower; a newer compiler may not need it).",
        toolchain.cc,
        toolchain.version,
        shlex.join(toolchain.cflags),
        described,
        shlex.join(chosen),
    )
    return dataclasses.replace(toolchain, cflags=chosen)


def self_test_failures(toolchain: Toolchain, work_dir: Path | None = None) -> dict[str, str]:
    """Build and run every reproducer with ``toolchain``: {name: what went wrong} for failures.

    The files go to a temporary directory inside ``work_dir`` (default: the system's).
    """
    found: dict[str, str | None] = {}
    errors: list[Exception] = []

    def run(reproducer: Reproducer, directory: Path) -> None:
        try:
            found[reproducer.name] = _try_reproducer(toolchain, reproducer, directory)
        except Exception as error:  # noqa: BLE001 - raised below, in the calling thread
            errors.append(error)

    import tempfile  # here, as subprocess in `run_subprocess`

    with tempfile.TemporaryDirectory(prefix="aidjit-self-test-", dir=work_dir) as directory:
        # Concurrently: each reproducer is a compiler run and a child process, and the first
        # compile of a new cache directory waits for all of them. Plain threads, not an
        # executor: a background build (tier "auto") may get here after the main thread has
        # finished, when concurrent.futures refuses new work.
        threads = [
            threading.Thread(target=run, args=(reproducer, Path(directory)))
            for reproducer in reproducers()
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]
    return {name: problem for name, problem in found.items() if problem is not None}


def _judge(toolchain: Toolchain, work_dir: Path | None) -> Verdict:
    """Test ``toolchain``, and on failure each fallback in turn until one passes."""
    failures = self_test_failures(toolchain, work_dir)
    if not failures:
        return Verdict({}, toolchain.cflags)
    for fallback in FALLBACKS:
        cflags = fallback(toolchain.cflags)
        if not self_test_failures(dataclasses.replace(toolchain, cflags=cflags), work_dir):
            return Verdict(failures, cflags)
    return Verdict(failures, toolchain.cflags)


def _try_reproducer(toolchain: Toolchain, reproducer: Reproducer, directory: Path) -> str | None:
    """None if ``reproducer`` compiles and computes the right values, else what went wrong."""
    c_path = directory / f"{reproducer.name}.c"
    so_path = c_path.with_suffix(".so")
    c_path.write_text(reproducer.source)
    try:
        compile_shared(toolchain, c_path, so_path)
    except AidjitError as error:
        return f"does not compile: {_error_line(str(error))}"
    # Run in a child process: code a compiler got wrong may as well crash as compute garbage.
    # Exit 0: right values; WRONG_VALUES: wrong ones; anything else (a Python error is 1, a
    # signal is negative): the library did not load or run.
    runner = (
        f"import ctypes, sys; "
        f"sys.exit({WRONG_VALUES} if ctypes.CDLL(sys.argv[1]).{SELF_TEST_ENTRY}() else 0)"
    )
    result = run_subprocess(
        [sys.executable, "-c", runner, str(so_path)], capture_output=True, text=True, check=False
    )
    if result.returncode == 0:
        return None
    if result.returncode == WRONG_VALUES:
        return "computes wrong values"
    return f"fails when run (exit {result.returncode}): {_error_line(result.stderr)}"


def _error_line(output: str) -> str:
    """The compiler's first line saying `error` (an ICE says `internal compiler error`)."""
    lines = output.strip().splitlines()
    return next((line.strip() for line in lines if "error" in line), lines[0] if lines else "")


def _bug_of(name: str) -> str:
    return next((r.bug for r in reproducers() if r.name == name), "unknown reproducer")


def _self_test_key(toolchain: Toolchain) -> str:
    sources = [r.source for r in reproducers()]
    fallbacks = [f.__name__ for f in FALLBACKS]
    identity = [dataclasses.asdict(toolchain), host_fingerprint(), sources, fallbacks]
    return hashlib.sha256(json.dumps(identity).encode()).hexdigest()


def _read_verdict(record: Path) -> Verdict | None:
    """The recorded verdict, or None if there is none or it is damaged (then test again)."""
    try:
        data = json.loads(record.read_text())
        verdict = Verdict(dict(data["failures"]), tuple(data["cflags"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not all(isinstance(flag, str) for flag in verdict.cflags):
        return None
    return verdict

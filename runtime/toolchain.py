"""Find the system C compiler and run it with one explicit, documented flag list.

This is the "build" step of the runtime (C file -> shared object), kept apart from emitting C and
from loading it so each can be tested alone. A :class:`Toolchain` is a frozen value holding the
compiler's absolute path, every flag and the compiler's version, so the build cache can hash
exactly what produced a binary.

Flags favour speed without changing results: numpy's eager results are the reference, so nothing
that alters IEEE semantics (``-ffast-math``) is allowed; vector math comes from glibc's libmvec
instead (PERF-NOTES, "Vectorised math"). libmvec is probed once per compiler and
dropped when absent; :attr:`Toolchain.vector_math` tells the C emitter whether it may declare libm
functions ``#pragma omp declare simd``.

Compilers have bugs, and aidjit's C has met three in gcc 12.2: a miscompiled copy out of a
constant array and a crash on vectorised max/min, which runtime/emit_c.py emits around, and a
dropped rounding in float64 -> float32 -> float64 round trips, around which emit_c turns off
SLP vectorisation in the functions that narrow.
So that a compiler with the same kind of bug is caught rather than trusted, :func:`find_toolchain`
runs a self-test once per toolchain: it compiles the reproducers of those bugs, in the shape
aidjit emits today, with the toolchain's exact command line, and runs them. A failure logs a
warning (logger ``"aidjit"``) and switches to fallback flags that pass. The verdict is recorded
in the cache directory under the toolchain's identity, so later processes pay nothing.

Probing a compiler (``cc --version``, where libmvec is, the self-test's record) runs 2-3
subprocesses, 5-30 ms; a warm start must run none. So :func:`find_toolchain` keeps what it
found per process, and on disk under the compiler's identity (its path, where that resolves to,
the file's size and mtime) with the requested flags, the host CPU and a digest of the two source
files that decide a probe (this one: flags, reproducers, fallbacks; emit_c: the helpers the
reproducers are made of): a new process resolves the compiler on ``PATH`` (no subprocess) and
reads one small JSON file. The reproducers' C comes
from emit_c, which imports xDSL, so they are only built when a self-test runs
(:func:`reproducers`).
"""

import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import shlex
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aidjit.debug import WARNING, debug_log, log
from aidjit.errors import AidjitError, CompilationError, CompilerNotFoundError

if TYPE_CHECKING:
    import subprocess


DEFAULT_CFLAGS: tuple[str, ...] = (
    # Full optimisation: -O3 runs the loop vectoriser with its full cost model and unrolls.
    "-O3",
    # Use the host's widest vector ISA (AVX-512 on the reference machine). The binary is not
    # portable, so the cache key includes a fingerprint of the host CPU.
    "-march=native",
    # Position-independent code: required for a shared object.
    "-fPIC",
    # Produce a shared object that cffi can dlopen.
    "-shared",
    # Honour `#pragma omp simd` and `#pragma omp declare simd` (which make gcc call libmvec's
    # vector expf/tanhf/...) without linking the OpenMP runtime.
    "-fopenmp-simd",
    # Signed integer overflow wraps, as MLIR's arith.addi/subi/muli define it (the emitter
    # writes them as plain signed C arithmetic on index and i64 values).
    "-fwrapv",
    # libm calls need not set errno: sqrt becomes one instruction and math calls may be
    # vectorised. Results are unchanged; numpy never reads errno.
    "-fno-math-errno",
    # No floating-point contraction (a*b+c -> one FMA): the loop level's arith.mulf and
    # arith.addf carry no `contract` fastmath flag, so, as in MLIR, each must round on its own.
    # gcc contracts across statements by default, which gave one value two roundings: with
    # `layer_norm(x * c)` over one element, eager and the interpreters give exactly 0, while the
    # fused product minus the rounded mean left 1.5e-5 after normalisation (fuzz seed 2544).
    # Where fusion is wanted, the IR says so: matmul accumulates with math.fma (C's fmaf), which
    # kept W2a-W4 at the speed of a contracting build (0.96-0.99x, measured side by side).
    "-ffp-contract=off",
    # Schedule instructions before register allocation too, with register pressure in mind
    # (gcc runs only the second scheduler on x86 by default): the loop level's long
    # straight-line bodies (expand-math's polynomials) then interleave their independent
    # chains. On an AVX2 AMD EPYC, side by side at one thread: W1 0.89x the time, the other
    # workloads 0.97-1.00x.
    "-fschedule-insns",
    "-fsched-pressure",
    # Deliberately absent: -ffast-math. It assumes no NaN/Inf and reassociates sums, so results
    # would stop matching numpy eager.
)

# Always present, whatever optimisation flags a caller chooses: without them there is no .so.
REQUIRED_CFLAGS: tuple[str, ...] = ("-fPIC", "-shared")

DEFAULT_LDFLAGS: tuple[str, ...] = (
    # Undefined symbols become link errors (a CompilationError naming the C file) instead of a
    # dlopen failure later. Understood by GNU ld, gold and lld, i.e. any Linux toolchain.
    "-Wl,-z,defs",
    # Never unloaded once loaded: the loader sets a kernel's pointer to the thread pool once
    # per file (aidjit.runtime.thread_pool.attach), and a kernel unloaded and opened again
    # would find it null and run its parallel loops on one thread. Kernels are small and
    # content-addressed, so keeping them mapped costs little; understood by GNU ld, gold and
    # lld.
    "-Wl,-z,nodelete",
    # Calls between the kernel's own functions bind inside the shared object. Without it the
    # dispatch thunk's call of a kernel named `step` went through the PLT to glibc's `step`
    # (regexp.h), found first in the process's global scope, and crashed: any kernel named
    # like an exported libc symbol would meet that. Understood by GNU ld, gold and lld.
    "-Wl,-Bsymbolic",
    # glibc's vector math (_ZGVeN16v_expf, ...), called for functions declared
    # `#pragma omp declare simd`. Dropped by find_toolchain when the compiler cannot find it.
    "-lmvec",
    # Scalar libm, for everything libmvec lacks. Last, so libraries above may depend on it.
    "-lm",
)

LIBMVEC = "-lmvec"
NO_LIBMVEC_DEFINE = "-DAIDJIT_NO_LIBMVEC"
COMPILER_CANDIDATES: tuple[str, ...] = ("cc", "gcc", "clang")
INSTALL_HINT = (
    "Install one (Debian/Ubuntu: `apt-get install gcc`; Fedora: `dnf install gcc`) "
    "or set CC=/path/to/compiler (one executable; pass flags as cflags)."
)


@dataclass(frozen=True)
class Toolchain:
    """A C compiler and the exact flags used to build one shared object."""

    cc: str
    cflags: tuple[str, ...]
    ldflags: tuple[str, ...]
    version: str

    def command(self, c_path: Path, so_path: Path) -> list[str]:
        """Return the full argv compiling ``c_path`` into the shared object ``so_path``."""
        # Libraries come after the source: linkers resolve symbols left to right.
        return [self.cc, *self.cflags, str(c_path), "-o", str(so_path), *self.ldflags]

    @property
    def vector_math(self) -> bool:
        """Whether libmvec is linked, i.e. the C may declare libm functions `omp declare simd`."""
        return LIBMVEC in self.ldflags


def find_toolchain(
    cc: str | None = None, cflags: Sequence[str] | None = None, *, self_test: bool = True
) -> Toolchain:
    """Locate a C compiler and build the :class:`Toolchain` to compile with.

    The compiler is ``cc`` if given, else ``$CC``, else the first of ``cc``, ``gcc``, ``clang`` on
    ``PATH``; an explicitly requested compiler that is missing is an error, not a fallback.
    ``cflags`` replaces :data:`DEFAULT_CFLAGS`; ``-fPIC -shared`` are appended if absent.
    With ``self_test`` (the default) the toolchain must pass :func:`run_self_test`, or its flags
    are replaced by a fallback that does (with a warning).
    """
    identity = (_resolve_compiler(cc), _chosen_cflags(cflags), self_test)
    known = _known(*identity)
    if known is not None:
        return known
    path, chosen, _ = identity
    toolchain = _probe(path, chosen)
    verdict = _verdict(toolchain, _record_dir()) if self_test else None
    record = _probe_record(*identity)
    if record is not None:
        recorded = None if verdict is None else dataclasses.asdict(verdict)
        _write_record(record, {"toolchain": dataclasses.asdict(toolchain), "verdict": recorded})
    _found[identity] = toolchain if verdict is None else _apply_verdict(toolchain, verdict)
    return _found[identity]


def recorded_toolchain(
    cc: str | None = None, cflags: Sequence[str] | None = None
) -> Toolchain | None:
    """What ``find_toolchain(cc, cflags)`` returns, if that needs no subprocess (this process
    found it before, or a disk record describes it); else None. Raises CompilerNotFoundError as
    find_toolchain does: resolving the compiler on ``PATH`` runs nothing."""
    return _known(_resolve_compiler(cc), _chosen_cflags(cflags), True)


# Toolchains found by this process, by (compiler path, requested flags, self_test).
_found: dict[tuple[str, tuple[str, ...], bool], Toolchain] = {}


def _chosen_cflags(cflags: Sequence[str] | None) -> tuple[str, ...]:
    return DEFAULT_CFLAGS if cflags is None else tuple(cflags)


def _known(path: str, chosen: tuple[str, ...], self_test: bool) -> Toolchain | None:
    """The toolchain found by this process, or recorded on disk (a recorded self-test failure
    warns as a fresh one does); None if neither."""
    identity = (path, chosen, self_test)
    if identity not in _found:
        record = _probe_record(*identity)
        found = _read_probe(record) if record is not None else None
        if found is None:
            return None
        toolchain, verdict = found
        _found[identity] = toolchain if verdict is None else _apply_verdict(toolchain, verdict)
    return _found[identity]


def _probe(path: str, chosen: tuple[str, ...]) -> Toolchain:
    """Ask the compiler for its version and libmvec: the subprocesses a warm start skips."""
    missing = tuple(flag for flag in REQUIRED_CFLAGS if flag not in chosen)
    ldflags = _available_ldflags(path)
    # Without libmvec the emitted C must not declare libm functions `omp declare simd`: gcc
    # would call vector symbols nothing defines (see emit_c's AIDJIT_NO_LIBMVEC guard).
    no_vector_math = () if LIBMVEC in ldflags else (NO_LIBMVEC_DEFINE,)
    version = _compiler_version(path)
    return Toolchain(
        cc=path,
        cflags=chosen + missing + no_vector_math,
        ldflags=ldflags,
        version=version,
    )


def _record_dir() -> Path:
    # Imported here: the cache imports this module (it builds with a Toolchain).
    from aidjit.runtime.cache import cache_dir

    return cache_dir() / "toolchains"


def _probe_record(path: str, chosen: tuple[str, ...], self_test: bool) -> Path | None:
    """Where the probe of this compiler is recorded: a name derived from the compiler file's
    identity (a changed or replaced compiler is probed again), or None if it cannot be stat'ed."""
    from aidjit.compile_key import files_digest

    try:
        status = os.stat(path)
    except OSError:
        return None
    identity = [
        path,
        os.path.realpath(path),
        status.st_size,
        status.st_mtime_ns,
        chosen,
        self_test,
        host_fingerprint(),
        files_digest(__name__, "aidjit.runtime.emit_c"),
    ]
    key = hashlib.sha256(json.dumps(identity).encode()).hexdigest()
    return _record_dir() / f"probe-{key}.json"


def _read_probe(record: Path) -> "tuple[Toolchain, Verdict | None] | None":
    """The recorded probe, or None if there is none or it is damaged (then probe again)."""
    try:
        data = json.loads(record.read_text())
        fields = data["toolchain"]
        toolchain = Toolchain(
            cc=str(fields["cc"]),
            cflags=tuple(map(str, fields["cflags"])),
            ldflags=tuple(map(str, fields["ldflags"])),
            version=str(fields["version"]),
        )
        recorded = data["verdict"]
        if recorded is None:
            return toolchain, None
        return toolchain, Verdict(dict(recorded["failures"]), tuple(map(str, recorded["cflags"])))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def compile_shared(toolchain: Toolchain, c_path: Path, so_path: Path) -> None:
    """Compile ``c_path`` into ``so_path``; raise CompilationError with the compiler's output."""
    command = toolchain.command(c_path, so_path)
    debug_log(3, f"compile: {shlex.join(command)}")
    start = time.perf_counter()
    try:
        result = _run(command, capture_output=True, encoding="utf-8", errors="replace", check=False)
    except OSError as error:
        raise CompilerNotFoundError(f"could not run C compiler {toolchain.cc}: {error}") from error
    debug_log(3, f"compiled {c_path.name} in {time.perf_counter() - start:.3f} s")
    if result.returncode == 0:
        return
    output = (result.stderr + result.stdout).strip()
    raise CompilationError(
        f"C compiler failed (exit {result.returncode}) on {c_path}\n"
        f"command: {shlex.join(command)}\n{output}"
    )


def compile_into_place(toolchain: Toolchain, source: str, path: Path) -> None:
    """Compile ``source`` to a private name beside ``path``, then rename it into place:
    processes building it at once each write a whole file, and readers only ever see a whole
    one. For the libraries aidjit builds once per cache directory (the dispatch extension,
    the thread pool), named by a digest of their source."""
    path.parent.mkdir(parents=True, exist_ok=True)
    private = f"{path.stem}.{os.getpid()}-{threading.get_ident()}"
    c_path, so_path = path.with_name(f"{private}.c"), path.with_name(f"{private}.so")
    c_path.write_text(source)
    try:
        compile_shared(toolchain, c_path, so_path)
        os.replace(so_path, path)
    finally:
        c_path.unlink(missing_ok=True)
        so_path.unlink(missing_ok=True)


def _run(command: Sequence[str], **options: Any) -> "subprocess.CompletedProcess[str]":
    """``subprocess.run``, imported on first use: ~5 ms a warm start (no probe, no compile)
    does not pay."""
    import subprocess

    return subprocess.run(command, **options)


def _resolve_compiler(cc: str | None) -> str:
    """Return the absolute path of the requested (or first available) compiler."""
    env_cc = os.environ.get("CC", "")
    if cc is not None:
        tried = [(f"cc={cc!r}", cc)]
    elif env_cc:
        tried = [(f"$CC={env_cc!r}", env_cc)]
    else:
        tried = [(f"{name!r} on PATH", name) for name in COMPILER_CANDIDATES]
    for _, name in tried:
        found = _on_path(name)
        if found is not None:
            # Not realpath: wrappers such as ccache dispatch on the name they are called by.
            return os.path.abspath(found)
    attempts = ", ".join(label for label, _ in tried)
    raise CompilerNotFoundError(f"no C compiler found (tried {attempts}). {INSTALL_HINT}")


def _on_path(name: str) -> str | None:
    """`shutil.which(name)` for an executable, without importing shutil: its import pulls in
    bz2 and lzma, 3.3-4.5 ms of a warm start of 15-20 ms (measured on a 2-vCPU AMD EPYC guest),
    and resolving the compiler is on that path."""
    candidates = (
        [name]
        if os.path.dirname(name)
        else [
            os.path.join(folder, name)
            for folder in os.environ.get("PATH", os.defpath).split(os.pathsep)
        ]
    )
    for candidate in candidates:
        if os.access(candidate, os.X_OK) and not os.path.isdir(candidate):
            return candidate
    return None


@functools.cache
def _compiler_version(cc: str) -> str:
    """Return the first line of ``cc --version`` (part of the cache key)."""
    try:
        result = _run(
            [cc, "--version"], capture_output=True, encoding="utf-8", errors="replace", check=False
        )
    except OSError as error:
        raise CompilerNotFoundError(
            f"could not run C compiler {cc}: {error}. {INSTALL_HINT}"
        ) from error
    lines = (result.stdout + result.stderr).strip().splitlines()
    return lines[0] if lines else "unknown"


@functools.cache
def _available_ldflags(cc: str) -> tuple[str, ...]:
    """Return DEFAULT_LDFLAGS, without -lmvec when this compiler cannot find libmvec."""
    if _finds_library(cc, "libmvec.so"):
        return DEFAULT_LDFLAGS
    debug_log(3, f"{cc} cannot find libmvec: linking without vector math")
    return tuple(flag for flag in DEFAULT_LDFLAGS if flag != LIBMVEC)


@functools.cache
def _finds_library(cc: str, name: str) -> bool:
    """Ask the compiler driver where the library file `name` is; it echoes the bare name when
    it has none.

    Cheaper than a trial link (no compile, no temporary files) and understood by gcc and clang.
    """
    try:
        result = _run(
            [cc, f"-print-file-name={name}"],
            capture_output=True,
            encoding="utf-8",
            errors="replace",
            check=False,
        )
    except OSError:
        return False
    answer = result.stdout.strip()
    return result.returncode == 0 and os.path.isabs(answer) and os.path.exists(answer)


@functools.cache
def host_fingerprint() -> str:
    """Describe the CPU features -march=native compiles for (architecture and feature flags)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        lines = []
    features = next((line for line in lines if line.startswith(("flags", "Features"))), "")
    return f"{os.uname().machine} {features}"


# ----- the self-test: known compiler bugs, re-checked once per toolchain ------------------------

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
    return _apply_verdict(toolchain, _verdict(toolchain, record_dir))


def _verdict(toolchain: Toolchain, record_dir: Path) -> Verdict:
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
        _write_record(record, dataclasses.asdict(verdict))
    return verdict


def _apply_verdict(toolchain: Toolchain, verdict: Verdict) -> Toolchain:
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

    import tempfile  # here, as subprocess in `_run`

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
    result = _run(
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


def _write_record(record: Path, data: dict[str, object]) -> None:
    """Record ``data`` atomically; if that fails, the next process simply probes again."""
    temporary = record.with_name(f"{record.name}.{os.getpid()}.tmp")
    try:
        record.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(json.dumps(data))
        os.replace(temporary, record)
    except OSError as error:
        debug_log(3, f"could not record the toolchain probe in {record}: {error}")
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)

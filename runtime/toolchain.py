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
"""

import contextlib
import dataclasses
import functools
import hashlib
import json
import logging
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from aidjit.debug import debug_log
from aidjit.errors import AidjitError, CompilationError, CompilerNotFoundError
from aidjit.runtime.emit_c import GLOBAL_STORAGE, NO_SLP_GUARD, helper_definition

logger = logging.getLogger("aidjit")

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
    # Deliberately absent: -ffast-math. It assumes no NaN/Inf and reassociates sums, so results
    # would stop matching numpy eager.
)

# Always present, whatever optimisation flags a caller chooses: without them there is no .so.
REQUIRED_CFLAGS: tuple[str, ...] = ("-fPIC", "-shared")

DEFAULT_LDFLAGS: tuple[str, ...] = (
    # Undefined symbols become link errors (a CompilationError naming the C file) instead of a
    # dlopen failure later. Understood by GNU ld, gold and lld, i.e. any Linux toolchain.
    "-Wl,-z,defs",
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
    path = _resolve_compiler(cc)
    chosen = DEFAULT_CFLAGS if cflags is None else tuple(cflags)
    missing = tuple(flag for flag in REQUIRED_CFLAGS if flag not in chosen)
    ldflags = _available_ldflags(path)
    # Without libmvec the emitted C must not declare libm functions `omp declare simd`: gcc
    # would call vector symbols nothing defines (see emit_c's AIDJIT_NO_LIBMVEC guard).
    no_vector_math = () if LIBMVEC in ldflags else (NO_LIBMVEC_DEFINE,)
    toolchain = Toolchain(
        cc=path,
        cflags=chosen + missing + no_vector_math,
        ldflags=ldflags,
        version=_compiler_version(path),
    )
    return _self_tested(toolchain) if self_test else toolchain


def compile_shared(toolchain: Toolchain, c_path: Path, so_path: Path) -> None:
    """Compile ``c_path`` into ``so_path``; raise CompilationError with the compiler's output."""
    command = toolchain.command(c_path, so_path)
    debug_log(3, f"compile: {shlex.join(command)}")
    start = time.perf_counter()
    try:
        result = subprocess.run(
            command, capture_output=True, encoding="utf-8", errors="replace", check=False
        )
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
        found = shutil.which(name)
        if found is not None:
            # Not realpath: wrappers such as ccache dispatch on the name they are called by.
            return os.path.abspath(found)
    attempts = ", ".join(label for label, _ in tried)
    raise CompilerNotFoundError(f"no C compiler found (tried {attempts}). {INSTALL_HINT}")


@functools.cache
def _compiler_version(cc: str) -> str:
    """Return the first line of ``cc --version`` (part of the cache key)."""
    try:
        result = subprocess.run(
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
    if _finds_libmvec(cc):
        return DEFAULT_LDFLAGS
    debug_log(3, f"{cc} cannot find libmvec: linking without vector math")
    return tuple(flag for flag in DEFAULT_LDFLAGS if flag != LIBMVEC)


def _finds_libmvec(cc: str) -> bool:
    """Ask the compiler driver where libmvec.so is; it echoes the bare name when it has none.

    Cheaper than a trial link (no compile, no temporary files) and understood by gcc and clang.
    """
    try:
        result = subprocess.run(
            [cc, "-print-file-name=libmvec.so"],
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
    return f"{platform.machine()} {features}"


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


REPRODUCERS: tuple[Reproducer, ...] = (
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
        _write_verdict(record, verdict)
    if not verdict.failures:
        return toolchain
    chosen = verdict.cflags
    described = "; ".join(
        f"{name} ({_bug_of(name)}): {what}" for name, what in sorted(verdict.failures.items())
    )
    if chosen == toolchain.cflags:
        logger.warning(
            "C compiler %s (%s) failed aidjit's toolchain self-test, with every fallback flag "
            "set too: %s. Compiled results may be wrong; try another compiler (CC=...).",
            toolchain.cc,
            toolchain.version,
            described,
        )
        return toolchain
    logger.warning(
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
    with tempfile.TemporaryDirectory(prefix="aidjit-self-test-", dir=work_dir) as directory:
        # Concurrently: each reproducer is a compiler run and a child process, and the first
        # compile of a new cache directory waits for all of them.
        with ThreadPoolExecutor() as pool:
            problems = pool.map(
                lambda reproducer: _try_reproducer(toolchain, reproducer, Path(directory)),
                REPRODUCERS,
            )
            found = dict(zip((r.name for r in REPRODUCERS), problems, strict=True))
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
    result = subprocess.run(
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
    return next((r.bug for r in REPRODUCERS if r.name == name), "unknown reproducer")


def _self_test_key(toolchain: Toolchain) -> str:
    sources = [r.source for r in REPRODUCERS]
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


def _write_verdict(record: Path, verdict: Verdict) -> None:
    """Record ``verdict`` atomically; if that fails, the next process simply tests again."""
    temporary = record.with_name(f"{record.name}.{os.getpid()}.tmp")
    try:
        record.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(json.dumps(dataclasses.asdict(verdict)))
        os.replace(temporary, record)
    except OSError as error:
        debug_log(3, f"could not record the toolchain self-test in {record}: {error}")
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)


@functools.cache
def _self_tested(toolchain: Toolchain) -> Toolchain:
    # Imported here: the cache imports this module (it builds with a Toolchain).
    from aidjit.runtime.cache import cache_dir

    return run_self_test(toolchain, cache_dir() / "toolchains")

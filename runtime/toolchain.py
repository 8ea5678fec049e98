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
"""

import functools
import os
import shlex
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aidjit.debug import debug_log
from aidjit.errors import CompilationError, CompilerNotFoundError

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
    # Deliberately absent: -ffast-math. It assumes no NaN/Inf and reassociates sums, so results
    # would stop matching numpy eager. FP contraction (a*b+c -> FMA) stays at the compiler's
    # default (gcc: on), which is within one rounding of numpy and needed for fast matmul.
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


def find_toolchain(cc: str | None = None, cflags: Sequence[str] | None = None) -> Toolchain:
    """Locate a C compiler and build the :class:`Toolchain` to compile with.

    The compiler is ``cc`` if given, else ``$CC``, else the first of ``cc``, ``gcc``, ``clang`` on
    ``PATH``; an explicitly requested compiler that is missing is an error, not a fallback.
    ``cflags`` replaces :data:`DEFAULT_CFLAGS`; ``-fPIC -shared`` are appended if absent.
    """
    path = _resolve_compiler(cc)
    chosen = DEFAULT_CFLAGS if cflags is None else tuple(cflags)
    missing = tuple(flag for flag in REQUIRED_CFLAGS if flag not in chosen)
    ldflags = _available_ldflags(path)
    # Without libmvec the emitted C must not declare libm functions `omp declare simd`: gcc
    # would call vector symbols nothing defines (see emit_c's AIDJIT_NO_LIBMVEC guard).
    no_vector_math = () if LIBMVEC in ldflags else (NO_LIBMVEC_DEFINE,)
    return Toolchain(
        cc=path,
        cflags=chosen + missing + no_vector_math,
        ldflags=ldflags,
        version=_compiler_version(path),
    )


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

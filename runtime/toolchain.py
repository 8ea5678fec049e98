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

Compilers have bugs, so :func:`find_toolchain` runs a self-test once per toolchain
(runtime/compiler_self_test.py): it builds and runs C on which gcc once went wrong, and on a
failure warns and switches to fallback flags that pass.

Probing a compiler (``cc --version``, where libmvec is, the self-test's record) runs 2-3
subprocesses, 5-30 ms; a warm start must run none. So :func:`find_toolchain` keeps what it
found per process, and on disk under the compiler's identity (its path, where that resolves to,
the file's size and mtime) with the requested flags, the host CPU and a digest of the three
source files that decide a probe (this one: flags; compiler_self_test: reproducers, fallbacks;
emit_c: the helpers the reproducers are made of): a new process resolves the compiler on
``PATH`` (no subprocess) and reads one small JSON file.
"""

import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aidjit.debug import debug_log
from aidjit.errors import CompilationError, CompilerNotFoundError
from aidjit.records import record

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


@record
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
    With ``self_test`` (the default) the toolchain must pass the compiler self-test
    (:func:`aidjit.runtime.compiler_self_test.run_self_test`), or its flags are replaced by a
    fallback that does (with a warning).
    """
    identity = (_resolve_compiler(cc), _chosen_cflags(cflags), self_test)
    known = _known(*identity)
    if known is not None:
        return known
    from aidjit.runtime.compiler_self_test import apply_verdict, verdict_of

    path, chosen, _ = identity
    toolchain = _probe(path, chosen)
    verdict = verdict_of(toolchain, _record_dir()) if self_test else None
    record_file = _probe_record(*identity)
    if record_file is not None:
        recorded = None if verdict is None else dataclasses.asdict(verdict)
        write_record(record_file, {"toolchain": dataclasses.asdict(toolchain), "verdict": recorded})
    _found[identity] = toolchain if verdict is None else apply_verdict(toolchain, verdict)
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
        record_file = _probe_record(*identity)
        found = _read_probe(record_file) if record_file is not None else None
        if found is None:
            return None
        toolchain, failures, cflags = found
        if failures:  # warn, and build with the fallback flags, as a fresh failure does
            from aidjit.runtime.compiler_self_test import Verdict, apply_verdict

            toolchain = apply_verdict(toolchain, Verdict(failures, cflags))
        _found[identity] = toolchain
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
        files_digest(__name__, "aidjit.runtime.compiler_self_test", "aidjit.runtime.emit_c"),
    ]
    key = hashlib.sha256(json.dumps(identity).encode()).hexdigest()
    return _record_dir() / f"probe-{key}.json"


def _read_probe(record_file: Path) -> tuple[Toolchain, dict[str, str], tuple[str, ...]] | None:
    """The recorded probe: the toolchain, what its self-test found wrong ({} when it passed or
    none ran) and the flags it chose; None if there is no record or it is damaged (then probe
    again). Plain values, not a Verdict: a warm start does not import the self-test."""
    try:
        data = json.loads(record_file.read_text())
        fields = data["toolchain"]
        toolchain = Toolchain(
            cc=str(fields["cc"]),
            cflags=tuple(map(str, fields["cflags"])),
            ldflags=tuple(map(str, fields["ldflags"])),
            version=str(fields["version"]),
        )
        recorded = data["verdict"]
        if recorded is None:
            return toolchain, {}, toolchain.cflags
        failures = {str(name): str(what) for name, what in dict(recorded["failures"]).items()}
        return toolchain, failures, tuple(map(str, recorded["cflags"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def compile_shared(toolchain: Toolchain, c_path: Path, so_path: Path) -> None:
    """Compile ``c_path`` into ``so_path``; raise CompilationError with the compiler's output."""
    import shlex  # here: a warm start compiles nothing

    command = toolchain.command(c_path, so_path)
    debug_log(3, f"compile: {shlex.join(command)}")
    start = time.perf_counter()
    try:
        result = run_subprocess(
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


def run_subprocess(command: Sequence[str], **options: Any) -> "subprocess.CompletedProcess[str]":
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
        result = run_subprocess(
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
        result = run_subprocess(
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


def write_record(record_file: Path, data: dict[str, object]) -> None:
    """Record ``data`` atomically; if that fails, the next process simply probes again."""
    temporary = record_file.with_name(f"{record_file.name}.{os.getpid()}.tmp")
    try:
        record_file.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(json.dumps(data))
        os.replace(temporary, record_file)
    except OSError as error:
        debug_log(3, f"could not record the toolchain probe in {record_file}: {error}")
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)

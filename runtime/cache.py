"""Content-addressed build cache: C source text -> path of a shared object that loads.

Compiling costs 0.03-0.3 s per function, dlopen ~0.2 ms, so every build is cached, in the process
and on disk, keyed by a sha256 of everything that determines the binary: the C source, the full
compiler command line (with placeholder paths), the compiler's version, a fingerprint of the host
CPU (the default flags use -march=native, so a cache directory shared between machines must not
hand one CPU's code to another) and :data:`CACHE_VERSION` (bump it to invalidate every entry).

Layout: ``<cache_dir()>/<key[:2]>/<key>.{c,so,sha256,lock}``. The ``.c`` is kept for people to
read (compiler errors point at it). ``.sha256`` holds the digest of the ``.so`` bytes and is
written last, after the ``.so`` is renamed into place, so it vouches only for a finished file.

Safety under concurrency (pytest-xdist workers, several notebooks): a miss takes a per-key
``flock`` on ``<key>.lock``, re-checks the entry, compiles to a temporary name in the same
directory and ``os.replace``s it into place, so no process ever sees a half-written file. Lock
files are left in place: deleting them would let two processes hold "the" lock on different
inodes. A damaged entry is rebuilt, not loaded: before a disk hit the ``.so`` must match its
digest (so garbage is never handed to dlopen) and must dlopen.

Two layers share the directory. The one above keys a shared object by its C source. Above it,
:func:`find_kernel` and :func:`store_kernel` key a *compiled function* by its trace (see
`aidjit.compile_key`: computed before any pass runs) and record, as ``<key>.kernel.json``, what
loading it needs: which C-keyed ``.so``, its symbol and prototype, its argument specs and
workspace size, and the structure `Stats` reports. A warm start reads that record, checks the
``.so`` against its digest and dlopens it: no pass, no C, no xDSL import. The record is
written (atomically) only once its ``.so`` and digest are in place, so it never names a missing
or half-written file; a record that does not parse, or whose ``.so`` fails its digest or does
not load, is a miss, and the compile that follows rebuilds what is damaged. The C layer keeps
earning its keep under the new one: a change to aidjit's source (or an equivalent pipeline
string) changes every graph key, but passes that give the same C as before still find their
``.so`` and skip the compiler (``Stats.cache == "source"``).

Environment faults: a cache directory that cannot be created or written (a path under a regular
file, no permission, a full disk: any OSError) is reported with a ``RuntimeWarning`` naming it,
and this process builds in a private temporary directory instead (removed at exit). Only if that
fails too does a build raise :class:`aidjit.CacheError`; never a raw OSError.
"""

from __future__ import annotations

import atexit
import ctypes
import fcntl
import hashlib
import json
import os
import threading
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

from aidjit.debug import debug_log
from aidjit.errors import AidjitError, CacheError
from aidjit.records import record
from aidjit.runtime.toolchain import Toolchain, compile_shared, host_fingerprint

CACHE_VERSION = "1"
ENV_VAR = "AIDJIT_CACHE_DIR"

# How build() found its answer: already verified by this process, on disk, or compiled now.
Hit = Literal["memory", "disk", "miss"]

# Shared objects built or verified by this process, by path (which includes the cache directory,
# so moving AIDJIT_CACHE_DIR never serves a path from the old one).
_verified: set[Path] = set()

# Where builds go, by configured directory: itself once it proved usable, else its fallback.
_directories: dict[Path, Path] = {}
# Private temporary directories standing in for unusable configured ones.
_fallbacks: set[Path] = set()


@record
class BuildResult:
    """Where a build's shared object is, its cache key, and how it was obtained."""

    path: Path
    key: str
    hit: Hit


def configured_cache_dir() -> Path:
    """Return ``$AIDJIT_CACHE_DIR`` if set, else ``~/.cache/aidjit`` (read on every call)."""
    configured = os.environ.get(ENV_VAR)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "aidjit"


def cache_dir() -> Path:
    """The directory builds go to: the configured one, created and checked writable on first use.

    If it is unusable, a private temporary directory instead (with a warning); raises
    CacheError if that cannot be made either.
    """
    configured = configured_cache_dir()
    if configured not in _directories:
        try:
            _check_writable(configured)
            _directories[configured] = configured
        except OSError as error:
            _abandon(configured, error)
    return _directories[configured]


def cache_key(c_source: str, toolchain: Toolchain) -> str:
    """Return the sha256 hex digest identifying the shared object built from ``c_source``."""
    # Placeholder paths: the key must not depend on where the files happen to be written.
    command = toolchain.command(Path("<source>.c"), Path("<output>.so"))
    material = [CACHE_VERSION, c_source, command, toolchain.version, host_fingerprint()]
    return hashlib.sha256(json.dumps(material).encode()).hexdigest()


def build(c_source: str, toolchain: Toolchain) -> BuildResult:
    """Return a loadable shared object for ``c_source``, compiling only on a cache miss.

    Raises CompilationError (with the compiler's message and the cached ``.c`` path) if the
    source does not compile.
    """
    key = cache_key(c_source, toolchain)
    debug_log(3, f"C source for {key}:\n{c_source}")
    while True:  # at most twice: the configured directory, then its fallback
        directory = cache_dir()
        try:
            return _build_in(directory, key, c_source, toolchain)
        except OSError as error:
            if isinstance(error, AidjitError):
                raise
            _abandon(directory, error)


def clear_memory_cache() -> None:
    """Forget what this process learnt (verified entries, unusable directories): check again."""
    _verified.clear()
    _directories.clear()
    _kernels.clear()


# ----- kernels: compiled functions by the key of their trace ------------------------------------


@record
class Kernel:
    """A compiled function as the loader needs it, without its IR: a ``.kernel.json`` record.

    ``inputs``/``outputs`` are (shape, dtype name) per argument, ``info`` what `Stats` shows
    of the program (op counts, loop nests, workspace) and the stages its pipeline reached.
    """

    source_key: str
    """The C-keyed entry holding the shared object."""
    symbol: str
    prototype: str
    inputs: tuple[tuple[tuple[int, ...], str], ...]
    outputs: tuple[tuple[tuple[int, ...], str], ...]
    workspace_bytes: int
    info: dict[str, Any]

    def so_path(self, directory: Path) -> Path:
        return directory / self.source_key[:2] / f"{self.source_key}.so"

    @classmethod
    def from_json(cls, text: str) -> Kernel:
        """Parse a record; raises ValueError, KeyError or TypeError if it is damaged."""
        data = json.loads(text)
        specs = {
            side: tuple((tuple(int(d) for d in shape), str(dtype)) for shape, dtype in data[side])
            for side in ("inputs", "outputs")
        }
        kernel = cls(
            str(data["source_key"]),
            str(data["symbol"]),
            str(data["prototype"]),
            specs["inputs"],
            specs["outputs"],
            int(data["workspace_bytes"]),
            dict(data["info"]),
        )
        if len(kernel.source_key) != 64:
            raise ValueError(f"not a cache key: {kernel.source_key!r}")
        return kernel


# Kernels found or stored by this process, by (directory, key).
_kernels: dict[tuple[Path, str], Kernel] = {}


def find_kernel(key: str) -> tuple[Kernel, Path, Hit] | None:
    """The recorded kernel for ``key``, its ``.so`` path and where it was found; None on a miss.

    A disk hit needs a record that parses and a ``.so`` matching its digest; whether it loads is
    the loader's to find out (then call :func:`forget_kernel` and compile).
    """
    directory = cache_dir()
    known = _kernels.get((directory, key))
    if known is not None and known.so_path(directory) in _verified:
        if known.so_path(directory).is_file():
            debug_log(4, f"kernel hit (memory): {key}")
            return known, known.so_path(directory), "memory"
    record_file = _kernel_record(directory, key)
    try:
        kernel = Kernel.from_json(record_file.read_text())
    except OSError:
        debug_log(4, f"kernel miss: {record_file}")
        return None
    except (ValueError, KeyError, TypeError) as error:
        debug_log(4, f"kernel record damaged ({error!r}), compiling again: {record_file}")
        return None
    so_path = kernel.so_path(directory)
    if not _digest_matches(so_path):
        debug_log(4, f"kernel record names a missing or damaged object, compiling again: {so_path}")
        return None
    _kernels[directory, key] = kernel
    _verified.add(so_path)
    debug_log(4, f"kernel hit (disk): {record_file}")
    return kernel, so_path, "disk"


def store_kernel(key: str, kernel: Kernel) -> None:
    """Record ``kernel`` under ``key`` (after its ``.so`` is in place). A record that cannot be
    written only costs the next process its passes: logged at debug level 3, not raised."""
    directory = cache_dir()
    _kernels[directory, key] = kernel
    record_file = _kernel_record(directory, key)
    try:
        record_file.parent.mkdir(parents=True, exist_ok=True)
        _write_atomically(record_file, json.dumps(asdict(kernel)).encode())
    except OSError as error:
        debug_log(3, f"could not record kernel {key}: {error}")


def forget_kernel(key: str) -> None:
    """Drop what this process knows of ``key`` (its ``.so`` did not load): check again."""
    found = _kernels.pop((cache_dir(), key), None)
    if found is not None:
        _verified.discard(found.so_path(cache_dir()))


@contextmanager
def kernel_lock(key: str) -> Iterator[None]:
    """Hold the lock of kernel ``key`` while compiling it, so that two processes (or threads)
    compiling one function run its passes once. Without a usable directory, no lock."""
    lock_path = _kernel_record(cache_dir(), key).with_suffix(".lock")
    with ExitStack() as stack:
        try:
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            stack.enter_context(_locked(lock_path))
        except OSError as error:
            debug_log(3, f"compiling kernel {key} without a lock: {error}")
        yield


def _kernel_record(directory: Path, key: str) -> Path:
    return directory / key[:2] / f"{key}.kernel.json"


def _digest_matches(so_path: Path) -> bool:
    try:
        expected = so_path.with_suffix(".sha256").read_text().strip()
        return hashlib.sha256(so_path.read_bytes()).hexdigest() == expected
    except OSError:
        return False


def _build_in(directory: Path, key: str, c_source: str, toolchain: Toolchain) -> BuildResult:
    so_path = directory / key[:2] / f"{key}.so"
    if so_path in _verified and so_path.is_file():
        debug_log(4, f"cache hit (memory): {so_path}")
        return BuildResult(so_path, key, "memory")
    hit = _build_on_disk(c_source, toolchain, so_path)
    _verified.add(so_path)
    return BuildResult(so_path, key, hit)


def _check_writable(directory: Path) -> None:
    """Create ``directory`` if needed and write (then delete) a file in it; raise OSError if not.

    With os.open rather than tempfile, whose import is 0.5-1 ms of every warm start."""
    directory.mkdir(parents=True, exist_ok=True)
    probe = directory / f".probe-{os.getpid()}-{threading.get_ident()}.tmp"
    os.close(os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    probe.unlink()


def _abandon(directory: Path, error: OSError) -> None:
    """Stop using ``directory`` after ``error``: warn and switch to a private temporary one.

    Raises CacheError if ``directory`` already is the fallback, or no fallback can be made.
    """
    configured = configured_cache_dir()
    if directory in _fallbacks:
        raise CacheError(
            f"kernel cache: neither {ENV_VAR}={str(configured)!r} nor the private temporary "
            f"directory {directory} is usable ({error}); set {ENV_VAR} to a writable directory"
        ) from error
    import tempfile

    try:
        fallback = Path(tempfile.mkdtemp(prefix="aidjit-cache-"))
    except OSError as second:
        raise CacheError(
            f"kernel cache: {ENV_VAR}={str(configured)!r} is unusable ({error}) and no private "
            f"temporary directory can be made ({second}); set {ENV_VAR} to a writable directory"
        ) from second
    import shutil  # here: its import costs 3-4 ms of every warm start

    atexit.register(shutil.rmtree, fallback, ignore_errors=True)
    _fallbacks.add(fallback)
    _directories[configured] = fallback
    warnings.warn(
        f"aidjit: kernel cache directory {str(directory)!r} is unusable ({error}); this process "
        f"builds in the private temporary directory {fallback} instead (removed at exit). "
        f"Set {ENV_VAR} to a writable directory to keep compiled kernels between runs.",
        RuntimeWarning,
        stacklevel=3,
    )


def _build_on_disk(c_source: str, toolchain: Toolchain, so_path: Path) -> Hit:
    """Reuse a valid entry ("disk", perhaps just built by another process) or compile ("miss")."""
    if _is_valid(so_path):
        debug_log(4, f"cache hit (disk): {so_path}")
        return "disk"
    so_path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(so_path.with_suffix(".lock")):
        if _is_valid(so_path):
            debug_log(4, f"cache hit (disk, built by another process): {so_path}")
            return "disk"
        debug_log(4, f"cache miss: compiling {so_path}")
        _compile_entry(c_source, toolchain, so_path)
    return "miss"


def _is_valid(so_path: Path) -> bool:
    """Whether ``so_path`` is complete, matches its recorded digest, and dlopens."""
    # Missing or unreadable: build it (a write that fails too is reported).
    if not _digest_matches(so_path):
        debug_log(4, f"cache entry missing or damaged (digest mismatch), building: {so_path}")
        return False
    try:
        # dlopen through ctypes, not the loader's cffi: `cffi.FFI()` costs ~35 ms (pycparser),
        # which a warm start cannot afford for a check.
        ctypes.CDLL(str(so_path))
    except OSError as error:
        debug_log(4, f"cache entry does not load, rebuilding: {so_path}: {error}")
        return False
    return True


def _compile_entry(c_source: str, toolchain: Toolchain, so_path: Path) -> None:
    """Write the ``.c``, compile it beside the entry, then publish ``.so`` and digest in order.

    Caller holds the key's lock.
    """
    c_path = so_path.with_suffix(".c")
    _write_atomically(c_path, c_source.encode())
    temporary = so_path.with_name(f"{so_path.stem}.{os.getpid()}.tmp.so")
    try:
        compile_shared(toolchain, c_path, temporary)
        digest = hashlib.sha256(temporary.read_bytes()).hexdigest()
        os.replace(temporary, so_path)
    finally:
        temporary.unlink(missing_ok=True)
    _write_atomically(so_path.with_suffix(".sha256"), digest.encode())


def _write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and a rename: readers see all or nothing."""
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


@contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive flock on ``lock_path`` (created if needed) until the block ends.

    Closing the file releases the lock, also when the block raises.
    """
    # Mode "a" creates the file without truncating one another process may hold.
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield

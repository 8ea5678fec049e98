"""Load a compiled shared object and call it with numpy arrays, every argument checked.

This is the "load" step of the runtime (shared-object path -> Python callable). Two routes:

- the dispatch extension (`aidjit.runtime.entry_point`), when the kernel's library exports its
  thunk and the extension builds: checks, output allocation and the call in one C function,
  ~0.5 us above the kernel for three arrays; anything it does not accept exactly (a list, a
  non-contiguous array, a wrong dtype) comes back here, where `_checked_input` raises the error
  or converts the input;
- cffi's ABI mode otherwise (no Python headers, a test's hand-written library): a straight-line
  caller generated per function (`_make_caller`), ~1.8 us for three arrays, each
  ``ffi.from_buffer`` ~0.23 us of it.

The C ABI every compiled function follows: all inputs first, then all outputs; every argument is a
pointer to a C-contiguous buffer of its dtype (float32 -> ``float``, float64 -> ``double``, int64
-> ``int64_t``); inputs are read-only, outputs are freshly allocated on every call. A function
with temporaries takes one more, last argument: its workspace (``int8_t *``, the bytes the memory
planner packed every temporary into), allocated once and reused (per calling thread on the cffi
route, `Workspace`; from a pool of free ones in the extension). Because C trusts those pointers
blindly, each argument's dtype and shape is checked before any pointer reaches C, and the
prototype is checked against the argument specs once, at load time.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from aidjit.dtypes import INT8, TENSOR_DTYPES
from aidjit.errors import (
    AidjitError,
    ArgumentCountError,
    DTypeError,
    LibraryLoadError,
    ShapeError,
)
from aidjit.records import record
from aidjit.runtime.entry_point import RELEASE_GIL_BYTES, Mismatch, entry_module, thunk_symbol
from aidjit.runtime.thread_pool import attach

if TYPE_CHECKING:
    import cffi

C_TYPES: dict[np.dtype, str] = {row.numpy: row.c_type for row in TENSOR_DTYPES}
BUFFER_FORMATS: dict[np.dtype, bytes] = {
    dtype: memoryview(np.empty(0, dtype)).format.encode() for dtype in C_TYPES
}
"""What the buffer protocol calls each dtype here ("f", "d", "l"): asked of numpy, not assumed."""
WORKSPACE_C_TYPE = INT8.c_type
ALIGNMENT = 64


@record
class ArgSpec:
    """The name, exact shape and exact dtype of one argument of a compiled function."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype

    def __post_init__(self) -> None:
        # Accept np.float32 or "float32" as well as a dtype, and lists as shapes.
        object.__setattr__(self, "shape", tuple(int(extent) for extent in self.shape))
        object.__setattr__(self, "dtype", np.dtype(self.dtype))
        if self.dtype not in C_TYPES:
            supported = ", ".join(str(dtype) for dtype in C_TYPES)
            raise DTypeError(f"argument {self.name!r}: {self.dtype} is not supported ({supported})")


def load_library(path: Path, prototype: str = "") -> tuple[cffi.FFI, Any]:
    """dlopen ``path`` after declaring ``prototype``; return the FFI and library, kept together.

    With an empty prototype this only checks that the object loads (the build cache uses it to
    validate an entry). Raises LibraryLoadError naming the file and the fix.
    """
    import cffi  # here: only the cffi route pays for it

    ffi = cffi.FFI()
    if prototype:
        ffi.cdef(prototype if prototype.rstrip().endswith(";") else f"{prototype};")
    try:
        return ffi, ffi.dlopen(str(path))
    except OSError as error:
        raise _unloadable(path, error) from error


class NativeFunction:
    """A compiled C function called with numpy arrays: ``outputs = function(*inputs)``.

    With ``thunk`` (the library also exports `entry_point.packed_thunk`'s ``aj_packed_<symbol>``)
    and the dispatch extension available, calls go through it: checks, allocation and the call
    in one C function. Otherwise through cffi with the generated caller of `_make_caller`.
    """

    def __init__(
        self,
        so_path: Path,
        symbol: str,
        prototype: str,
        inputs: Sequence[ArgSpec],
        outputs: Sequence[ArgSpec],
        workspace_bytes: int = 0,
        *,
        thunk: bool = False,
    ) -> None:
        self.so_path = so_path
        self.symbol = symbol
        self.inputs = tuple(inputs)
        self.outputs = tuple(outputs)
        self.workspace_bytes = workspace_bytes
        self._check_prototype(prototype)
        self._prototype = prototype
        self._thunk = thunk
        self._entries: dict[bool, Any] = {}
        self._entry = self.entry_point()
        if self._entry is None:
            self._cffi_call = self._load_cffi()
        attach(so_path)  # its parallel loops run on the thread pool

    def __call__(self, *args: Any) -> tuple[np.ndarray, ...]:
        """Check ``args`` against the input specs, run the C function, return fresh outputs."""
        entry = self._entry
        if entry is not None:
            try:
                return entry(*args)
            except Mismatch:
                return self._checked_entry_call(args)
        return self._cffi_call(*self._check_count(args))

    def entry_point(self, single: bool = False) -> Callable[..., Any] | None:
        """The dispatch extension's callable for this function (None without it): takes exactly
        the compiled arrays, returns the outputs (the only one itself with ``single``), and
        raises `Mismatch` for anything else, leaving the checks and messages to `__call__`."""
        module = entry_module() if self._thunk else None
        if module is None:
            return None
        if single not in self._entries:
            self._entries[single] = self._make_entry(module, single)
        return self._entries[single]

    def __repr__(self) -> str:
        return f"NativeFunction({self.symbol!r}, {str(self.so_path)!r})"

    def _make_entry(self, module: Any, single: bool) -> Any:
        specs = self.inputs + self.outputs
        moved = sum(int(np.prod(spec.shape)) * spec.dtype.itemsize for spec in specs)
        try:
            return module.Entry(
                str(self.so_path),
                thunk_symbol(self.symbol),
                tuple((BUFFER_FORMATS[s.dtype], s.dtype.itemsize, s.shape) for s in self.inputs),
                tuple((s.shape, s.dtype) for s in self.outputs),
                self.workspace_bytes,
                np.ndarray,
                np.empty,
                single,
                # Decided here, once: the GIL is kept around a call moving fewer bytes.
                0 if moved >= RELEASE_GIL_BYTES else moved + 1,
            )
        except LookupError as error:
            raise _missing_symbol(self.so_path, thunk_symbol(self.symbol), error) from error
        except OSError as error:
            raise _unloadable(self.so_path, error) from error

    def _checked_entry_call(self, args: Sequence[Any]) -> tuple[np.ndarray, ...]:
        """A call the entry refused: raise the error a user should see, or convert the inputs
        (copy a non-contiguous array, make an array of a list or a scalar) and call again."""
        arrays = check_inputs(self.symbol, self.inputs, args)
        # An equal dtype may still be spelled differently (int64 as "q"): view as the spec's.
        views = [array.view(spec.dtype) for array, spec in zip(arrays, self.inputs, strict=True)]
        try:
            return self._entry(*views)  # type: ignore[misc]
        except Mismatch:
            raise AidjitError(
                f"{self.symbol}: the dispatch extension refused arguments that pass every check "
                "(a bug in aidjit)"
            ) from None

    def _check_count(self, args: Sequence[Any]) -> Sequence[Any]:
        if len(args) != len(self.inputs):
            names = ", ".join(spec.name for spec in self.inputs)
            raise ArgumentCountError(
                f"{self.symbol}() takes {len(self.inputs)} array arguments ({names}), "
                f"got {len(args)}"
            )
        return args

    def _load_cffi(self) -> Callable[..., tuple[np.ndarray, ...]]:
        """The cffi route: dlopen with the prototype, the generated caller of `_make_caller`."""
        # The function pointer is only valid while ffi and lib live: the caller keeps both.
        ffi, lib = load_library(self.so_path, self._prototype)
        try:
            function = getattr(lib, self.symbol)
        except AttributeError as error:
            raise _missing_symbol(self.so_path, self.symbol, error) from error
        workspace = Workspace(ffi, self.workspace_bytes) if self.workspace_bytes else None
        return _make_caller(ffi, function, self.inputs, self.outputs, workspace, lib)

    def _check_prototype(self, prototype: str) -> None:
        """Reject a prototype whose parameters disagree with the specs: C would misread memory."""
        parameters = _parameter_types(prototype)
        specs = self.inputs + self.outputs
        if self.workspace_bytes:
            last = parameters[-1] if parameters else "void"
            if last != f"{WORKSPACE_C_TYPE} *":
                raise LibraryLoadError(
                    f"{self.symbol}: the last parameter is '{last}' in the prototype, "
                    f"expected the workspace, '{WORKSPACE_C_TYPE} *'"
                )
            parameters = parameters[:-1]
        if len(parameters) != len(specs):
            workspace = " + a workspace" if self.workspace_bytes else ""
            raise LibraryLoadError(
                f"{self.symbol}: prototype has {len(parameters)} parameters, "
                f"but {len(self.inputs)} inputs + {len(self.outputs)} outputs{workspace} "
                "were specified"
            )
        for position, (parameter, spec) in enumerate(zip(parameters, specs, strict=True)):
            expected = f"{C_TYPES[spec.dtype]} *"
            if parameter != expected:
                raise LibraryLoadError(
                    f"{self.symbol}: parameter {position} ({spec.name!r}) is "
                    f"'{parameter}' in the prototype, expected '{expected}'"
                )


_QUALIFIERS = frozenset({"const", "volatile", "restrict", "__restrict", "__restrict__"})


def _parameter_types(prototype: str) -> list[str]:
    """The parameter types of a C prototype without qualifiers and names: `void f(const float
    *restrict a, int64_t *b)` -> ['float *', 'int64_t *'] (read without cffi, whose first FFI
    costs ~30 ms, so that the extension route never loads it)."""
    inside = prototype[prototype.index("(") + 1 : prototype.rindex(")")].strip()
    if inside in ("", "void"):
        return []
    types = []
    for parameter in inside.split(","):
        tokens = [t for t in re.findall(r"[A-Za-z_]\w*|\*", parameter) if t not in _QUALIFIERS]
        stars = tokens.count("*")
        if stars:
            base = tokens[: tokens.index("*")]
        else:  # a value parameter: its last word is the name unless the type stands alone
            base = tokens[:-1] if len(tokens) > 1 else tokens
        types.append(" ".join(base) + (" " + "*" * stars if stars else ""))
    return types


def _unloadable(path: Path, error: Exception) -> LibraryLoadError:
    return LibraryLoadError(
        f"cannot load compiled library {path}: {error}\n"
        "Delete that file (aidjit rebuilds a missing or damaged cache entry on the next "
        "compile), or the whole cache directory ($AIDJIT_CACHE_DIR, default ~/.cache/aidjit)."
    )


def _missing_symbol(path: Path, symbol: str, error: Exception) -> LibraryLoadError:
    return LibraryLoadError(f"{path} does not export {symbol!r} as declared: {error}")


class Workspace:
    """The scratch memory of one compiled function: allocated once per calling thread, at its
    first call, and handed to every later call on that thread (compiled code keeps all its
    temporaries there, so a call allocates nothing but its outputs). 64-byte aligned."""

    def __init__(self, ffi: cffi.FFI, size: int) -> None:
        self._ffi = ffi
        self.size = size
        self._local = threading.local()

    def pointer(self) -> Any:
        try:
            return self._local.pointer
        except AttributeError:
            storage = np.empty(self.size + ALIGNMENT, np.uint8)
            start = -storage.ctypes.data % ALIGNMENT
            self._local.storage = storage  # keeps the memory alive with the thread
            self._local.pointer = self._ffi.from_buffer(
                f"{WORKSPACE_C_TYPE}[]", storage[start : start + self.size]
            )
            return self._local.pointer


def _make_caller(
    ffi: cffi.FFI,
    function: Any,
    inputs: tuple[ArgSpec, ...],
    outputs: tuple[ArgSpec, ...],
    workspace: Workspace | None = None,
    library: Any = None,
) -> Callable[..., tuple[np.ndarray, ...]]:
    """Generate a straight-line Python function that checks, allocates and calls.

    Per-call overhead is what a small compiled graph is measured by: unrolled code with every
    dtype, shape and cffi type bound as a constant runs ~1.6 us for three arrays where the same
    work as a loop over argument specs runs ~2.3 us (cffi alone: ~1.4 us). For ``add(a, b)``::

        def call(a0, a1):
            a0 = asarray(a0)
            if a0.dtype != dtype0 or a0.shape != shape0 or not a0.flags.c_contiguous:
                a0 = checked_input(0, spec0, a0)
            ...
            r0 = empty(out_shape0, out_dtype0)
            function(from_buffer(ctype0, a0), from_buffer(ctype1, a1), from_buffer(ctype2, r0))
            return (r0,)

    Only generated identifiers reach the source; names, shapes and dtypes are namespace values.
    """
    namespace: dict[str, Any] = {
        "asarray": np.asarray,
        "empty": np.empty,
        "from_buffer": ffi.from_buffer,
        "function": function,
        "checked_input": _checked_input,
        "library": library,  # kept alive with the caller: `function` points into it
    }
    lines = [f"def call({', '.join(f'a{i}' for i in range(len(inputs)))}):"]
    for i, spec in enumerate(inputs):
        namespace |= {f"spec{i}": spec, f"dtype{i}": spec.dtype, f"shape{i}": spec.shape}
        lines += [
            f"    a{i} = asarray(a{i})",
            f"    if a{i}.dtype != dtype{i} or a{i}.shape != shape{i}"
            f" or not a{i}.flags.c_contiguous:",
            f"        a{i} = checked_input({i}, spec{i}, a{i})",
        ]
    for j, spec in enumerate(outputs):
        namespace |= {f"out_dtype{j}": spec.dtype, f"out_shape{j}": spec.shape}
        lines.append(f"    r{j} = empty(out_shape{j}, out_dtype{j})")
    buffers = [f"a{i}" for i in range(len(inputs))] + [f"r{j}" for j in range(len(outputs))]
    pointers = []
    for k, (buffer, spec) in enumerate(zip(buffers, inputs + outputs, strict=True)):
        namespace[f"ctype{k}"] = ffi.typeof(f"{C_TYPES[spec.dtype]}[]")
        pointers.append(f"from_buffer(ctype{k}, {buffer})")
    if workspace is not None:
        namespace["workspace"] = workspace.pointer
        pointers.append("workspace()")
    lines.append(f"    function({', '.join(pointers)})")
    lines.append(f"    return ({''.join(f'r{j}, ' for j in range(len(outputs)))})")
    exec("\n".join(lines), namespace)  # safe: the source holds generated identifiers only
    return namespace["call"]


def check_inputs(name: str, specs: Sequence[ArgSpec], args: Sequence[Any]) -> list[np.ndarray]:
    """The checks a NativeFunction makes, for callers without one (the interpreter backend)."""
    if len(args) != len(specs):
        names = ", ".join(spec.name for spec in specs)
        raise ArgumentCountError(
            f"{name}() takes {len(specs)} array arguments ({names}), got {len(args)}"
        )
    return [
        _checked_input(position, spec, np.asarray(arg))
        for position, (spec, arg) in enumerate(zip(specs, args, strict=True))
    ]


def _checked_input(position: int, spec: ArgSpec, array: np.ndarray) -> np.ndarray:
    """Return ``array`` C-contiguous if its dtype and shape are exactly ``spec``'s, else raise."""
    if array.dtype != spec.dtype:
        raise DTypeError(f"arg {position} {spec.name!r}: expected {spec.dtype}, got {array.dtype}")
    if array.shape != spec.shape:
        raise ShapeError(
            f"arg {position} {spec.name!r}: expected shape {spec.shape}, got {array.shape}"
        )
    if array.flags.c_contiguous:
        return array
    return np.ascontiguousarray(array)

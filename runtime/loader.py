"""Load a compiled shared object with cffi and call it with numpy arrays, checked in Python.

This is the "load" step of the runtime (shared-object path -> Python callable). It uses cffi's ABI
mode: no extension module to build per function (API mode costs ~0.33 s once). cffi itself costs
~1.3 us per call for three arrays (PERF-NOTES); with every check below a call costs ~1.8 us, since
the calling code is generated straight-line per function (see ``_make_caller``).

The C ABI every compiled function follows: all inputs first, then all outputs; every argument is a
pointer to a C-contiguous buffer of its dtype (float32 -> ``float``, float64 -> ``double``, int64
-> ``int64_t``); inputs are read-only, outputs are freshly allocated on every call. A function
with temporaries takes one more, last argument: its workspace (``int8_t *``, the bytes the memory
planner packed every temporary into), allocated once per function and calling thread
(`Workspace`). Because C trusts those pointers blindly, each argument's dtype and shape is checked
here, before any pointer reaches C, and the prototype is checked against the argument specs once,
at load time.
"""

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cffi
import numpy as np

from aidjit.dtypes import INT8, TENSOR_DTYPES
from aidjit.errors import ArgumentCountError, DTypeError, LibraryLoadError, ShapeError

C_TYPES: dict[np.dtype, str] = {row.numpy: row.c_type for row in TENSOR_DTYPES}
WORKSPACE_C_TYPE = INT8.c_type
ALIGNMENT = 64


@dataclass(frozen=True)
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
    ffi = cffi.FFI()
    if prototype:
        ffi.cdef(prototype if prototype.rstrip().endswith(";") else f"{prototype};")
    try:
        return ffi, ffi.dlopen(str(path))
    except OSError as error:
        raise LibraryLoadError(
            f"cannot load compiled library {path}: {error}\n"
            "Delete that file (aidjit rebuilds a missing or damaged cache entry on the next "
            "compile), or the whole cache directory ($AIDJIT_CACHE_DIR, default ~/.cache/aidjit)."
        ) from error


class NativeFunction:
    """A compiled C function called with numpy arrays: ``outputs = function(*inputs)``."""

    def __init__(
        self,
        so_path: Path,
        symbol: str,
        prototype: str,
        inputs: Sequence[ArgSpec],
        outputs: Sequence[ArgSpec],
        workspace_bytes: int = 0,
    ) -> None:
        self.so_path = so_path
        self.symbol = symbol
        self.inputs = tuple(inputs)
        self.outputs = tuple(outputs)
        self.workspace_bytes = workspace_bytes
        # The function pointer is only valid while ffi and lib live: keep both on the instance.
        self._ffi, self._lib = load_library(so_path, prototype)
        self._function = self._lookup(symbol)
        self._check_prototype()
        workspace = Workspace(self._ffi, workspace_bytes) if workspace_bytes else None
        self._call = _make_caller(self._ffi, self._function, self.inputs, self.outputs, workspace)

    def __call__(self, *args: Any) -> tuple[np.ndarray, ...]:
        """Check ``args`` against the input specs, run the C function, return fresh outputs."""
        if len(args) != len(self.inputs):
            names = ", ".join(spec.name for spec in self.inputs)
            raise ArgumentCountError(
                f"{self.symbol}() takes {len(self.inputs)} array arguments ({names}), "
                f"got {len(args)}"
            )
        return self._call(*args)

    def __repr__(self) -> str:
        return f"NativeFunction({self.symbol!r}, {str(self.so_path)!r})"

    def _lookup(self, symbol: str) -> Any:
        """Return the cffi function object for ``symbol`` or a LibraryLoadError naming it."""
        try:
            return getattr(self._lib, symbol)
        except AttributeError as error:
            raise LibraryLoadError(
                f"{self.so_path} does not export {symbol!r} as declared: {error}"
            ) from error

    def _check_prototype(self) -> None:
        """Reject a prototype whose parameters disagree with the specs: C would misread memory."""
        parameters = self._ffi.typeof(self._function).args
        specs = self.inputs + self.outputs
        if self.workspace_bytes:
            last = parameters[-1]
            if last.kind != "pointer" or last.item.cname != WORKSPACE_C_TYPE:
                raise LibraryLoadError(
                    f"{self.symbol}: the last parameter is '{last.cname}' in the prototype, "
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
            expected = C_TYPES[spec.dtype]
            if parameter.kind != "pointer" or parameter.item.cname != expected:
                raise LibraryLoadError(
                    f"{self.symbol}: parameter {position} ({spec.name!r}) is "
                    f"'{parameter.cname}' in the prototype, expected '{expected} *'"
                )


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

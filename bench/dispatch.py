"""Dispatch cost: what a call through `aidjit.jit` costs above the compiled kernel itself.

`measure_dispatch()` times, side by side in one process (CPU time, interleaved samples,
medians; `timing.measure`):

- a 3-array elementwise function (`a * b + c`, 64 float32 each) through `aidjit.jit`, through
  its `CompiledFunction`, through its `NativeFunction` and through the same kernel on the cffi
  route (`thunk=False`: what every call cost before the dispatch extension);
- the kernel alone: cffi with the pointers made once, minus cffi calling an empty C function of
  the same arity the same way (cffi's own cost), so that no call machinery counts as kernel;
- W2a (an MLP at batch 1, 7 arrays) through `aidjit.jit`, its kernel alone the same way, and
  numpy eager.

Every "overhead" figure is a call's median minus its kernel's median, in microseconds;
`dispatch_us` (jit, 3 arrays) is issue 7's "dispatch <= 2 us" and `w2a_speedup` its "W2a
through aidjit.jit >= 2x numpy eager". Run alone: `python bench/dispatch.py [--quick]`.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from typing import Any

import numpy as np

import aidjit
from aidjit.runtime.cache import build
from aidjit.runtime.loader import C_TYPES, WORKSPACE_C_TYPE, NativeFunction, load_library
from aidjit.runtime.toolchain import find_toolchain

from timing import CPU, FULL, QUICK, Column, Settings, measure
from workloads import BY_ID

ELEMENTS = 64


def add_multiply(a: Any, b: Any, c: Any) -> Any:
    return a * b + c


def raw_call(native: NativeFunction, arrays: tuple[np.ndarray, ...]) -> Callable[[], None]:
    """The kernel called through cffi with pointers made once, on outputs allocated once."""
    ffi, library = load_library(native.so_path, native._prototype)
    function = getattr(library, native.symbol)
    return _pointer_call(ffi, function, native, arrays)


def empty_call(native: NativeFunction, arrays: tuple[np.ndarray, ...]) -> Callable[[], None]:
    """cffi calling a C function with `native`'s parameters and an empty body, as `raw_call`."""
    count = len(native.inputs) + len(native.outputs) + bool(native.workspace_bytes)
    parameters = ", ".join(f"void *p{k}" for k in range(count)) or "void"
    prototype = f"void aj_empty({parameters})"
    ffi, library = load_library(build(f"{prototype} {{}}\n", find_toolchain()).path, prototype)
    return _pointer_call(ffi, library.aj_empty, native, arrays)


def _pointer_call(
    ffi: Any, function: Any, native: NativeFunction, arrays: tuple[np.ndarray, ...]
) -> Callable[[], None]:
    specs = native.inputs + native.outputs
    buffers = [*arrays, *(np.empty(spec.shape, spec.dtype) for spec in native.outputs)]
    types = [f"{C_TYPES[spec.dtype]}[]" for spec in specs]
    if native.workspace_bytes:
        buffers.append(np.empty(native.workspace_bytes, np.int8))
        types.append(f"{WORKSPACE_C_TYPE}[]")
    # Each pointer keeps its buffer alive (cffi's from_buffer holds a reference).
    pointers = [ffi.from_buffer(kind, buffer) for kind, buffer in zip(types, buffers, strict=True)]
    return lambda: function(*pointers)


def _native(compiled: aidjit.CompiledFunction) -> NativeFunction:
    compiled.wait()
    native = compiled._call
    if not isinstance(native, NativeFunction):
        raise RuntimeError(f"{compiled.__name__} is not running a C kernel ({native!r})")
    return native


def measure_dispatch(settings: Settings = FULL) -> dict[str, Any]:
    """Per-call overheads above the kernel (us) and W2a against numpy eager (see the module)."""
    rng = np.random.default_rng(0)
    arrays = tuple(rng.standard_normal(ELEMENTS).astype(np.float32) for _ in range(3))
    jitted = aidjit.jit(add_multiply, tier="optimized")
    jitted(*arrays)
    compiled = jitted.compiled(*arrays)
    native = _native(compiled)
    cffi_route = NativeFunction(
        native.so_path,
        native.symbol,
        native._prototype,
        native.inputs,
        native.outputs,
        native.workspace_bytes,
    )
    workload = BY_ID["W2a"]
    inputs = workload.inputs()
    w2a = aidjit.jit(workload.aidjit_fn, tier="optimized")
    w2a(*inputs)
    w2a_native = _native(w2a.compiled(*inputs))
    columns = [
        Column("jit", lambda: jitted(*arrays)),
        Column("compiled", lambda: compiled(*arrays)),
        Column("native", lambda: native(*arrays)),
        Column("cffi route", lambda: cffi_route(*arrays)),
        Column("kernel+cffi", raw_call(native, arrays)),
        Column("empty+cffi", empty_call(native, arrays)),
        Column("w2a jit", lambda: w2a(*inputs)),
        Column("w2a numpy", lambda: workload.numpy_fn(*inputs)),
        Column("w2a kernel+cffi", raw_call(w2a_native, inputs)),
        Column("w2a empty+cffi", empty_call(w2a_native, inputs)),
    ]
    us = {name: timing.median_ms * 1e3 for name, timing in measure(columns, settings, CPU).items()}
    kernel = us["kernel+cffi"] - us["empty+cffi"]
    w2a_kernel = us["w2a kernel+cffi"] - us["w2a empty+cffi"]
    return {
        "dispatch_us": us["jit"] - kernel,
        "compiled_overhead_us": us["compiled"] - kernel,
        "native_overhead_us": us["native"] - kernel,
        "cffi_route_overhead_us": us["cffi route"] - kernel,
        "kernel_us": kernel,
        "cffi_call_us": us["empty+cffi"],
        "w2a_jit_us": us["w2a jit"],
        "w2a_kernel_us": w2a_kernel,
        "w2a_dispatch_us": us["w2a jit"] - w2a_kernel,
        "w2a_numpy_us": us["w2a numpy"],
        "w2a_speedup": us["w2a numpy"] / us["w2a jit"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short samples (a smoke test)")
    arguments = parser.parse_args()
    os.environ.setdefault("AIDJIT_TIER", "optimized")
    result = measure_dispatch(QUICK if arguments.quick else FULL)
    print(json.dumps({key: round(value, 3) for key, value in result.items()}, indent=2))


if __name__ == "__main__":
    main()

"""The public compile API: `aidjit.compile`, `aidjit.jit` and `CompiledFunction`.

    trace (autodiff) -> graph module -> pass pipeline -> loop module -> C -> .so -> cffi
                         stage "graph"   stage "optimized"  stage "loops"   stage "c"

`compile` specialises a Python function on the shapes and dtypes of example arguments; `jit`
wraps a function and compiles once per (shapes, dtypes) signature, keeping every version.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import BlockArgument

from aidjit.autodiff.primitives import Spec
from aidjit.autodiff.tensor import Tensor, as_dtype
from aidjit.autodiff.trace import Trace, trace_function
from aidjit.context import make_context
from aidjit.debug import debug_log
from aidjit.dialects.graph import OneHotOp
from aidjit.errors import AidjitError, ArgumentValueError, PipelineError
from aidjit.lowering.trace_to_graph import trace_to_module
from aidjit.pipeline import DEFAULT_PIPELINE, STAGES, count_ops, run_pipeline
from aidjit.runtime.loader import ArgSpec

Backend = Literal["c", "interpreter"]


@dataclass(frozen=True)
class Options:
    """Compile options; every field is also a keyword of `aidjit.jit` and `aidjit.compile`."""

    pipeline: str = DEFAULT_PIPELINE
    backend: Backend = "c"
    cc: str | None = None
    cflags: tuple[str, ...] | None = None

    @classmethod
    def make(cls, **options: Any) -> Options:
        unknown = set(options) - {"pipeline", "backend", "cc", "cflags"}
        if unknown:
            raise TypeError(f"unknown aidjit option(s): {', '.join(sorted(unknown))}")
        if options.get("pipeline") is None:
            options.pop("pipeline", None)
        if options.get("cflags") is not None:
            options["cflags"] = tuple(options["cflags"])
        made = cls(**options)
        if made.backend not in ("c", "interpreter"):
            raise ValueError(f"backend must be 'c' or 'interpreter', got {made.backend!r}")
        return made


@dataclass
class Stats:
    """Where compile time went (ms per stage), op counts, and whether the build cache hit."""

    trace_ms: float = 0.0
    passes_ms: dict[str, float] = field(default_factory=dict)
    emit_ms: float = 0.0
    build_ms: float = 0.0
    load_ms: float = 0.0
    total_ms: float = 0.0
    ops_before: int = 0
    ops_after: int = 0
    ops_lowered: int = 0
    cache: str = "none"

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _spec_of(value: Any, position: int, name: str) -> Spec:
    array = value.numpy() if isinstance(value, Tensor) else np.asarray(value)
    try:
        dtype = as_dtype(array.dtype)
    except AidjitError as error:
        raise type(error)(f"{name}: argument {position}: {error}") from None
    return Spec(tuple(array.shape), dtype)


def _arg_specs(trace: Trace) -> list[ArgSpec]:
    return [
        ArgSpec(name, arg.shape, arg.dtype)
        for name, arg in zip(trace.arg_names, trace.args, strict=True)
    ]


class CompiledFunction:
    """A function compiled for one signature: call it with numpy arrays, inspect every stage."""

    def __init__(self, fn: Callable[..., Any], specs: Sequence[Spec], options: Options) -> None:
        self.options = options
        self.pipeline = options.pipeline
        self.stats = Stats()
        self.__name__ = getattr(fn, "__name__", "fn")
        start = time.perf_counter()
        self._trace = trace_function(fn, specs, self.__name__)
        module = trace_to_module(self._trace)
        module.verify()
        self.stats.trace_ms = (time.perf_counter() - start) * 1e3
        self.stats.ops_before = count_ops(module)
        self._label_bounds = _label_bounds(module)
        self._inputs = _arg_specs(self._trace)
        self._outputs = [
            ArgSpec(f"out{i}", out.shape, out.dtype) for i, out in enumerate(self._trace.outputs)
        ]
        self._stages = self._optimize(module)
        self._module = module
        self._call = self._make_backend()
        self.stats.total_ms = (time.perf_counter() - start) * 1e3
        debug_log(
            1, f"compiled {self.__name__} in {self.stats.total_ms:.1f} ms ({self.stats.cache})"
        )

    def _optimize(self, module: ModuleOp) -> dict[str, str]:
        run = run_pipeline(make_context(), module, self.pipeline)
        self.stats.passes_ms = {}
        for index, (name, ms) in enumerate(run.pass_ms):
            self.stats.passes_ms[f"{index}:{name}"] = ms
        self._lowered = run.lowered
        self._final_stage = run.final_stage
        self.stats.ops_after = run.optimized_ops
        self.stats.ops_lowered = count_ops(module) if run.lowered else 0
        return run.stages

    def _make_backend(self) -> Callable[..., tuple[np.ndarray, ...]]:
        if self.options.backend == "interpreter":
            return self._interpreter_backend()
        if not self._lowered:
            raise PipelineError(
                f"backend 'c' needs loop-level IR but pipeline {self.pipeline!r} does not run "
                "convert-graph-to-loops; add it, or use backend='interpreter'"
            )
        return self._native_backend()

    def _interpreter_backend(self) -> Callable[..., tuple[np.ndarray, ...]]:
        name = self._function().sym_name.data
        if self._lowered:
            from aidjit.runtime.interpreter.loops import run_loops

            outputs = [(o.shape, o.dtype) for o in self._outputs]
            return lambda *args: run_loops(self._module, name, args, outputs)
        from aidjit.runtime.interpreter.graph import run_graph

        return lambda *args: run_graph(self._module, name, args)

    def _native_backend(self) -> Callable[..., tuple[np.ndarray, ...]]:
        from aidjit.runtime.cache import build
        from aidjit.runtime.emit_c import c_identifier, c_prototype, emit_c
        from aidjit.runtime.loader import NativeFunction
        from aidjit.runtime.toolchain import find_toolchain

        start = time.perf_counter()
        source = emit_c(self._module)
        self._stages["c"] = source
        self.stats.emit_ms = (time.perf_counter() - start) * 1e3
        toolchain = find_toolchain(self.options.cc, self.options.cflags)
        start = time.perf_counter()
        result = build(source, toolchain)
        self.stats.build_ms = (time.perf_counter() - start) * 1e3
        self.stats.cache = result.hit
        start = time.perf_counter()
        function = self._function()
        native = NativeFunction(
            result.path,
            c_identifier(function.sym_name.data),
            c_prototype(function),
            self._inputs,
            self._outputs,
        )
        self.stats.load_ms = (time.perf_counter() - start) * 1e3
        return native

    def _function(self) -> func.FuncOp:
        return next(op for op in self._module.body.blocks[0].ops if isinstance(op, func.FuncOp))

    def ir(self, stage: str = "optimized") -> str:
        """The program at a named stop point: "graph", "optimized", "loops" or "c"."""
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; choose one of {', '.join(STAGES)}")
        if stage == self._final_stage and stage not in self._stages:
            self._stages[stage] = str(self._module)  # printed on first request only
        if stage not in self._stages:
            raise AidjitError(
                f"stage {stage!r} was not produced by pipeline {self.pipeline!r} "
                f"with backend {self.options.backend!r}"
            )
        return self._stages[stage]

    def __call__(self, *args: Any) -> Any:
        arrays = [a.numpy() if isinstance(a, Tensor) else a for a in args]
        if self.options.backend == "interpreter":
            from aidjit.runtime.loader import check_inputs

            arrays = check_inputs(self.__name__, self._inputs, arrays)
        for position, classes in self._label_bounds.items():
            self._check_labels(position, classes, arrays)
        outputs = self._call(*arrays)
        return self._trace.treedef.unflatten(list(outputs))

    def _check_labels(self, position: int, classes: int, arrays: Sequence[Any]) -> None:
        """Labels out of range would silently give one_hot a zero row: reject them instead."""
        if position >= len(arrays):
            return  # the argument count check reports it
        labels = np.asarray(arrays[position])
        if labels.size == 0 or labels.dtype.kind != "i":
            return
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or high >= classes:
            name = self._inputs[position].name
            raise ArgumentValueError(
                f"arg {position} {name!r}: labels must lie in [0, {classes}), "
                f"got values from {low} to {high}"
            )

    def __repr__(self) -> str:
        signature = ", ".join(f"{s.name}: {Spec(s.shape, s.dtype)}" for s in self._inputs)
        return f"<CompiledFunction {self.__name__}({signature}) backend={self.options.backend}>"


def _label_bounds(module: ModuleOp) -> dict[int, int]:
    """Arguments used as one_hot labels, with the number of classes they must stay below."""
    bounds: dict[int, int] = {}
    for op in module.walk():
        if isinstance(op, OneHotOp) and isinstance(op.labels, BlockArgument):
            classes = op.params()["num_classes"]
            index = op.labels.index
            bounds[index] = min(classes, bounds.get(index, classes))
    return bounds


def compile(fn: Callable[..., Any], *example_args: Any, **options: Any) -> CompiledFunction:  # noqa: A001
    """Compile `fn` for the shapes and dtypes of `example_args`.

    Options: `pipeline` (a pass-pipeline string replacing the default), `backend` ("c" or
    "interpreter"), `cc` (the C compiler), `cflags` (compiler flags replacing the defaults).
    """
    name = getattr(fn, "__name__", "fn")
    specs = [_spec_of(a, i, name) for i, a in enumerate(example_args)]
    return CompiledFunction(fn, specs, Options.make(**options))


class JitFunction:
    """`aidjit.jit(fn)`: compiles on the first call for each (shapes, dtypes) signature."""

    def __init__(self, fn: Callable[..., Any], options: Options) -> None:
        functools.update_wrapper(self, fn)
        self._fn = fn
        self.options = options
        self._versions: dict[tuple[Spec, ...], CompiledFunction] = {}
        self._lock = threading.Lock()

    def compiled(self, *args: Any) -> CompiledFunction:
        """The compiled version for these arguments' signature, compiling it if needed."""
        name = getattr(self._fn, "__name__", "fn")
        signature = tuple(_spec_of(a, i, name) for i, a in enumerate(args))
        with self._lock:
            version = self._versions.get(signature)
            if version is None:
                version = CompiledFunction(self._fn, signature, self.options)
                self._versions[signature] = version
        return version

    def __call__(self, *args: Any) -> Any:
        if any(isinstance(a, Tensor) and a.is_symbolic for a in args):
            # Called while an outer function is being traced: inline, as jax.jit does.
            return self._fn(*args)
        return self.compiled(*args)(*args)

    @property
    def versions(self) -> dict[tuple[Spec, ...], CompiledFunction]:
        return dict(self._versions)


def jit(fn: Callable[..., Any] | None = None, **options: Any) -> Any:
    """Decorator (`@aidjit.jit`, `@aidjit.jit(backend=...)`) or call (`aidjit.jit(fn, ...)`)."""
    made = Options.make(**options)
    if fn is None:
        return lambda f: JitFunction(f, made)
    return JitFunction(fn, made)

"""The public compile API: `aidjit.compile`, `aidjit.jit` and `CompiledFunction`.

    trace (autodiff) -> graph module -> pass pipeline -> loop module -> C -> .so -> cffi
                         stage "graph"   stage "optimized"  stage "loops"   stage "c"

`compile` specialises a Python function on the shapes and dtypes of example arguments; `jit`
wraps a function and compiles once per call signature (see `aidjit.arguments`: the tree
structure of the arguments, the shape and dtype of each leaf, the static arguments' values),
keeping every version, logging each compile and why (logger "aidjit"), and warning once a
function has more than `max_versions` versions.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import BlockArgument, SSAValue

from aidjit.arguments import Binder, BoundCall, CallKey, CallSignature
from aidjit.autodiff.trace import Trace, trace_function
from aidjit.autodiff.tree_util import is_node, tree_structure
from aidjit.context import make_context
from aidjit.debug import debug_log
from aidjit.dialects.graph import LayoutOp, OneHotOp
from aidjit.errors import AidjitError, ArgumentCountError, ArgumentValueError, PipelineError
from aidjit.lowering.trace_to_graph import trace_to_module
from aidjit.pipeline import DEFAULT_PIPELINE, STAGES, count_ops, run_pipeline
from aidjit.runtime.loader import ArgSpec

Backend = Literal["c", "interpreter"]

logger = logging.getLogger("aidjit")


@dataclass(frozen=True)
class Options:
    """Compile options; every field is also a keyword of `aidjit.jit` and `aidjit.compile`.

    `static_argnums`/`static_argnames` name arguments passed to the function as Python values
    (hashable, part of the cache key, one version per value); `max_versions` is how many
    versions `jit` compiles of one function before each further one logs a warning (as
    torch.compile's recompile limit).
    """

    pipeline: str = DEFAULT_PIPELINE
    backend: Backend = "c"
    cc: str | None = None
    cflags: tuple[str, ...] | None = None
    static_argnums: tuple[int, ...] = ()
    static_argnames: tuple[str, ...] = ()
    max_versions: int = 8

    @classmethod
    def make(cls, **options: Any) -> Options:
        unknown = set(options) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise TypeError(f"unknown aidjit option(s): {', '.join(sorted(unknown))}")
        if options.get("pipeline") is None:
            options.pop("pipeline", None)
        for name in ("cflags", "static_argnums", "static_argnames"):
            if options.get(name) is not None:
                value = options[name]
                options[name] = (value,) if isinstance(value, int | str) else tuple(value)
        made = cls(**options)
        if made.backend not in ("c", "interpreter"):
            raise ValueError(f"backend must be 'c' or 'interpreter', got {made.backend!r}")
        if made.max_versions < 1:
            raise ValueError(f"max_versions must be at least 1, got {made.max_versions}")
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


def _arg_specs(trace: Trace) -> list[ArgSpec]:
    return [ArgSpec(a.name, a.spec.shape, a.spec.dtype) for a in trace.arguments]


class CompiledFunction:
    """A function compiled for one call signature: call it like the Python function, with arrays
    (or pytrees of them, Python numbers for weak scalars) of the compiled shapes and dtypes.
    """

    def __init__(self, binder: Binder, signature: CallSignature, options: Options) -> None:
        self.options = options
        self.pipeline = options.pipeline
        self.signature = signature
        self._plain_arity = _plain_arity(signature)
        self.stats = Stats()
        self.__name__ = binder.name
        self._binder = binder
        start = time.perf_counter()
        self._trace = trace_function(
            binder.flat_function(signature), signature.arguments, self.__name__
        )
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

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run on arguments shaped like the example arguments, in the same pytree structure."""
        if self._plain_arity == len(args) and not kwargs:
            for arg in args:
                if type(arg) is not np.ndarray:
                    break
            else:
                # Compiled for positional arrays and called with them: nothing to bind (the
                # loader checks each array), so a small kernel pays no more than its call.
                return self.run_leaves(args)
        bound = self._binder.bind(args, kwargs)
        if bound.needs_python:
            # Inside an outer trace or under a watching tape: see BoundCall.needs_python.
            return self._binder.fn(*args, **kwargs)
        key, compiled = bound.key, self.signature.key
        if key.tree != compiled.tree or key.statics != compiled.statics:
            self._check_call(bound.signature())
        return self.run_leaves(bound.arrays())

    def _check_call(self, signature: CallSignature) -> None:
        """The compiled structure and static values; the loader checks each leaf's type."""
        if signature.tree != self.signature.tree:
            names = ", ".join(a.path for a in self.signature.arguments)
            raise ArgumentCountError(
                f"{self.__name__}() takes {len(self.signature.arguments)} array arguments "
                f"({names}) structured as {self.signature.structure()}; got "
                f"{len(signature.arguments)} structured as {signature.structure()}"
            )
        if signature.statics != self.signature.statics:
            raise ArgumentValueError(
                f"{self.__name__}: {signature.changes_from(self.signature)}; a CompiledFunction "
                "is specialised on its static arguments (aidjit.jit compiles one per value)"
            )

    def run_leaves(self, arrays: Sequence[Any]) -> Any:
        """Run on the flattened leaves (arrays in the signature's order); unflatten the results."""
        if self.options.backend == "interpreter":
            from aidjit.runtime.loader import check_inputs

            arrays = check_inputs(self.__name__, self._inputs, arrays)
        for position, classes in self._label_bounds.items():
            self._check_labels(position, classes, arrays)
        outputs = self._call(*arrays)
        return self._trace.out_tree.unflatten(list(outputs))

    def _check_labels(self, position: int, classes: int, arrays: Sequence[Any]) -> None:
        """Labels out of range would silently give one_hot a zero row: reject them instead."""
        if position >= len(arrays):
            return  # the argument count check reports it
        labels = np.asarray(arrays[position])
        if labels.size == 0 or labels.dtype.kind != "i":
            return
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or high >= classes:
            where = self.signature.arguments[position].quoted
            raise ArgumentValueError(
                f"{self.__name__}: argument {where}: labels must lie in [0, {classes}), "
                f"got values from {low} to {high}"
            )

    def __repr__(self) -> str:
        return (
            f"<CompiledFunction {self.__name__}({self.signature.describe()}) "
            f"backend={self.options.backend}>"
        )


def _plain_arity(signature: CallSignature) -> int | None:
    """n when `signature` is n positional arrays (no pytrees, statics, weak scalars), else None."""
    count = len(signature.arguments)
    plain_tree = tree_structure(((0,) * count, {}))
    if signature.tree != plain_tree or signature.statics:
        return None
    return None if any(argument.weak for argument in signature.arguments) else count


def _label_bounds(module: ModuleOp) -> dict[int, int]:
    """Arguments used as one_hot labels, with the number of classes they must stay below.

    Labels may reach one_hot through layout ops (reshape, transpose, broadcast_to, slice, and
    stop_gradient, which is a reshape): those only move or select elements, so every value
    one_hot sees is in the argument they start from, which is checked instead (all of it: a
    label a slice drops is still checked).
    """
    bounds: dict[int, int] = {}
    for op in module.walk():
        if not isinstance(op, OneHotOp):
            continue
        source = _layout_source(op.labels)
        if isinstance(source, BlockArgument):
            classes = op.params()["num_classes"]
            bounds[source.index] = min(classes, bounds.get(source.index, classes))
    return bounds


def _layout_source(value: SSAValue) -> SSAValue:
    """The value a chain of layout ops starts from."""
    while isinstance(value.owner, LayoutOp):
        value = value.owner.input
    return value


def compile(fn: Callable[..., Any], *example_args: Any, **options: Any) -> CompiledFunction:  # noqa: A001
    """Compile `fn` for the pytree structure, shapes and dtypes of `example_args`.

    Options: `pipeline` (a pass-pipeline string replacing the default), `backend` ("c" or
    "interpreter"), `cc` (the C compiler), `cflags` (compiler flags replacing the defaults),
    `static_argnums`/`static_argnames` (arguments baked in as Python values).
    """
    made = Options.make(**options)
    binder = Binder(fn, made.static_argnums, made.static_argnames)
    signature = binder.bind(example_args, {}).signature()
    logger.info("compiling %s: aidjit.compile [%s]", binder.name, signature.describe())
    return CompiledFunction(binder, signature, made)


class Version(NamedTuple):
    """One compiled version of a jitted function, and why it was compiled."""

    signature: str
    reason: str
    compiled: CompiledFunction


class JitFunction:
    """`aidjit.jit(fn)`: compiles on the first call for each call signature.

    Keyword arguments are bound to `fn`'s parameters. As a method decorator, the instance is
    passed as the first argument: traced if it is a pytree (a registered dataclass of arrays),
    otherwise static — hashed, usually by identity, so each instance gets its own versions and
    its arrays are baked in as constants (JAX requires a static `self` too).
    """

    def __init__(self, fn: Callable[..., Any], options: Options) -> None:
        functools.update_wrapper(self, fn)
        self._fn = fn
        self.options = options
        self._binder = Binder(fn, options.static_argnums, options.static_argnames)
        self._versions: dict[CallKey, Version] = {}
        self._latest: CallSignature | None = None
        self._lock = threading.Lock()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._call(args, kwargs, static_self=False)

    def _call(self, args: Sequence[Any], kwargs: dict[str, Any], static_self: bool) -> Any:
        bound = self._binder.bind(args, kwargs, static_self)
        if bound.needs_python:
            # Inside an outer trace or under a watching tape: inline, as jax.jit does.
            return self._fn(*args, **kwargs)
        return self._version_for(bound).run_leaves(bound.arrays())

    def compiled(self, *args: Any, **kwargs: Any) -> CompiledFunction:
        """The compiled version for these arguments' signature, compiling it if needed."""
        return self._version_for(self._binder.bind(args, kwargs))

    def _version_for(self, bound: BoundCall) -> CompiledFunction:
        try:
            version = self._versions.get(bound.key)
        except TypeError as error:
            bound.signature()  # names an unhashable static argument, if that is the cause
            raise ArgumentValueError(
                f"{self._binder.name}: the argument structure {bound.key.tree} is not hashable "
                f"({error}); aux data of registered pytree nodes must be hashable"
            ) from None
        if version is not None:
            return version.compiled
        with self._lock:
            if bound.key not in self._versions:
                self._compile(bound.signature())
            return self._versions[bound.key].compiled

    def _compile(self, signature: CallSignature) -> None:
        name = self._binder.name
        previous = self._latest
        reason = "first call" if previous is None else signature.changes_from(previous)
        count = len(self._versions) + 1
        logger.info("compiling %s version %d: %s [%s]", name, count, reason, signature.describe())
        compiled = CompiledFunction(self._binder, signature, self.options)
        self._versions[signature.key] = Version(signature.describe(), reason, compiled)
        self._latest = signature
        if count > self.options.max_versions:
            logger.warning(
                "%s has been compiled %d times (max_versions=%d), last because %s; each new "
                "shape, dtype, tree structure or static value compiles a new version: pad "
                "shapes to a few sizes, pass changing Python values as traced arguments, or "
                "raise max_versions",
                name,
                count,
                self.options.max_versions,
                reason,
            )

    def versions(self) -> list[Version]:
        """Every compiled version, oldest first: signature description, reason, CompiledFunction."""
        return list(self._versions.values())

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        """`@aidjit.jit` on a method: bind the instance like a function would."""
        if instance is None:
            return self
        return BoundJitFunction(self, instance)

    def __repr__(self) -> str:
        return f"<aidjit.jit {self._binder.name} at {id(self):#x}>"


class BoundJitFunction:
    """A jitted method bound to an instance (see `JitFunction`'s docstring for `self`)."""

    def __init__(self, jitted: JitFunction, instance: Any) -> None:
        self.__func__ = jitted
        self.__self__ = instance
        self.__name__ = jitted.__name__
        self.__doc__ = jitted.__doc__
        self._static_self = not is_node(instance)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.__func__._call((self.__self__, *args), kwargs, self._static_self)

    def versions(self) -> list[Version]:
        return self.__func__.versions()

    def __repr__(self) -> str:
        return f"<bound aidjit.jit {self.__name__} of {self.__self__!r}>"


def jit(fn: Callable[..., Any] | None = None, **options: Any) -> Any:
    """Decorator (`@aidjit.jit`, `@aidjit.jit(static_argnames="n")`) or call (`aidjit.jit(fn)`)."""
    made = Options.make(**options)
    if fn is None:
        return lambda f: JitFunction(f, made)
    return JitFunction(fn, made)

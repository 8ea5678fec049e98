"""The public compile API: `aidjit.compile`, `aidjit.jit` and `CompiledFunction`.

    trace (autodiff) -> graph module -> pass pipeline -> loop module -> C -> .so -> cffi

with the stages of `aidjit.pipeline` as stop points: "graph", "optimized", "linalg", "fused",
"bufferized", "loops" and "c" (`CompiledFunction.ir(stage)`, `.dot(stage)`).

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
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
from xdsl.dialects import func, scf
from xdsl.dialects.builtin import IntegerAttr, MemRefType, ModuleOp, i8
from xdsl.ir import BlockArgument, SSAValue

from aidjit.arguments import Binder, BoundCall, CallKey, CallSignature
from aidjit.autodiff.primitives import Precondition
from aidjit.autodiff.trace import Trace, trace_function
from aidjit.autodiff.tree_util import is_node, tree_structure
from aidjit.context import make_context
from aidjit.debug import debug_log
from aidjit.dialects.graph import GraphOp, LayoutOp
from aidjit.errors import AidjitError, ArgumentCountError, ArgumentValueError, PipelineError
from aidjit.lowering.trace_to_graph import trace_to_module
from aidjit.pipeline import (
    DEFAULT_PIPELINE,
    STAGES,
    PipelineRun,
    count_ops,
    run_pipeline,
    stage_segments,
)
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
    verify_ms: float = 0.0
    emit_ms: float = 0.0
    build_ms: float = 0.0
    load_ms: float = 0.0
    total_ms: float = 0.0
    ops_before: int = 0
    ops_after: int = 0
    ops_lowered: int = 0
    generics_before_fusion: int = 0
    fused_groups: int = 0
    """linalg.generic ops after fusion; row groups then share loop nests (`loop_nests`)."""
    loop_nests: int = 0
    workspace_bytes: int = 0
    bytes_without_reuse: int = 0
    cache: str = "none"

    def record_structure(self, run: PipelineRun, module: ModuleOp) -> None:
        """What the structured level made of the graph: generics before and after fusion
        (one per fused group), top-level loop nests, and the workspace the planner packed."""
        self.generics_before_fusion = run.generics_at.get("linalg", 0)
        self.fused_groups = run.generics_at.get("fused", 0)
        functions = [op for op in module.ops if isinstance(op, func.FuncOp)]
        if run.final_stage == "loops":
            self.loop_nests = sum(
                isinstance(op, scf.ForOp) for f in functions for op in f.body.block.ops
            )
        for function in functions:
            self.workspace_bytes += workspace_bytes(function)
            unplanned = function.attributes.get("aidjit.bytes_without_reuse")
            if isinstance(unplanned, IntegerAttr):
                self.bytes_without_reuse += unplanned.value.data

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def workspace_bytes(function: func.FuncOp) -> int:
    """The size of `function`'s workspace: its trailing `memref<Nxi8>` argument, or 0."""
    arguments = function.function_type.inputs.data
    last = arguments[-1] if arguments else None
    if isinstance(last, MemRefType) and last.get_element_type() == i8:
        return last.get_shape()[0]
    return 0


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
        self._value_checks = _value_checks(module)
        self._inputs = _arg_specs(self._trace)
        self._outputs = [
            ArgSpec(f"out{i}", out.shape, out.dtype) for i, out in enumerate(self._trace.outputs)
        ]
        self._stages: dict[str, str] = {}  # printed stages, filled on request by `ir`
        self._optimize(module)
        self._module = module
        self._call = self._make_backend()
        self.stats.total_ms = (time.perf_counter() - start) * 1e3
        debug_log(
            1, f"compiled {self.__name__} in {self.stats.total_ms:.1f} ms ({self.stats.cache})"
        )

    def _optimize(self, module: ModuleOp) -> None:
        run = run_pipeline(make_context(), module, self.pipeline)
        self.stats.passes_ms = {}
        for index, (name, ms) in enumerate(run.pass_ms):
            self.stats.passes_ms[f"{index}:{name}"] = ms
        self.stats.verify_ms = run.verify_ms
        self._final_stage = run.final_stage
        self._reached = list(run.ops_at)
        self.stats.ops_after = run.ops_at.get("optimized", 0)
        self.stats.ops_lowered = run.ops_at.get("loops", 0)
        self.stats.record_structure(run, module)

    def _make_backend(self) -> Callable[..., tuple[np.ndarray, ...]]:
        if self.options.backend == "interpreter":
            return self._interpreter_backend()
        if self._final_stage != "loops":
            raise PipelineError(
                f"backend 'c' needs loop-level IR but pipeline {self.pipeline!r} stops at the "
                f"{self._final_stage} level; run the default pipeline's passes through "
                "convert-linalg-to-fused-loops, or use backend='interpreter'"
            )
        return self._native_backend()

    def _interpreter_backend(self) -> Callable[..., tuple[np.ndarray, ...]]:
        name = self._function().sym_name.data
        outputs = [(o.shape, o.dtype) for o in self._outputs]
        if self._final_stage == "loops":
            from aidjit.runtime.interpreter.loops import run_loops

            return lambda *args: run_loops(self._module, name, args, outputs)
        if self._final_stage in ("graph", "optimized"):
            from aidjit.runtime.interpreter.graph import run_graph

            return lambda *args: run_graph(self._module, name, args)
        from aidjit.runtime.interpreter.structured import run_structured

        return lambda *args: run_structured(self._module, name, args, outputs)

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
            workspace_bytes(function),
        )
        self.stats.load_ms = (time.perf_counter() - start) * 1e3
        return native

    def _function(self) -> func.FuncOp:
        return next(op for op in self._module.body.blocks[0].ops if isinstance(op, func.FuncOp))

    def ir(self, stage: str = "optimized") -> str:
        """The program at a named stop point (see `aidjit.pipeline.STAGES`): "graph",
        "optimized", "linalg", "fused", "bufferized", "loops" or "c".

        Printed on request only: the final stage from the compiled module, an earlier one by
        running the pipeline again, from the trace, up to that stage."""
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; choose one of {', '.join(STAGES)}")
        if stage in self._stages:
            return self._stages[stage]
        if stage == "c" and self._final_stage == "loops":
            from aidjit.runtime.emit_c import emit_c

            self._stages["c"] = emit_c(self._module)
        elif stage == self._final_stage:
            self._stages[stage] = str(self._module)
        elif stage in self._reached:
            module = trace_to_module(self._trace)
            segments = stage_segments(self.pipeline)
            upto = [passes for name, passes in segments[: self._reached.index(stage)]]
            run_pipeline(make_context(), module, ",".join(upto))
            self._stages[stage] = str(module)
        else:
            raise AidjitError(
                f"stage {stage!r} was not produced by pipeline {self.pipeline!r} "
                f"with backend {self.options.backend!r}"
            )
        return self._stages[stage]

    def dot(self, stage: str = "fused", path: str | Path | None = None) -> str | Path:
        """A Graphviz picture of the program at `stage` ("graph", "optimized", "linalg" or
        "fused"): one node per op, one cluster per loop nest at the structured level, edges
        labelled with the bytes that cross them (see `aidjit.visualize`).

        Returns the dot text, or with `path`, writes the picture there (SVG when Graphviz's
        `dot` is installed, else the dot text with a `.dot` suffix) and returns the file."""
        from xdsl.parser import Parser

        from aidjit.visualize import module_to_dot, render

        module = Parser(make_context(), self.ir(stage)).parse_module()
        text = module_to_dot(module, title=f"{self.__name__} at stage {stage}")
        return text if path is None else render(text, path)

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
        for check in self._value_checks:
            self._check_values(check, arrays)
        outputs = self._call(*arrays)
        return self._trace.out_tree.unflatten(list(outputs))

    def _check_values(self, check: _ValueCheck, arrays: Sequence[Any]) -> None:
        """An argument's values against the precondition of an op they reach."""
        if check.position >= len(arrays):
            return  # the argument count check reports it
        problem = check.precondition.check(np.asarray(arrays[check.position]), check.params)
        if problem:
            where = self.signature.arguments[check.position].quoted
            raise ArgumentValueError(f"{self.__name__}: argument {where}: {problem}")

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


class _ValueCheck(NamedTuple):
    """A primitive's precondition on the values of one argument, with the op's params."""

    position: int
    precondition: Precondition
    params: dict[str, Any]


def _value_checks(module: ModuleOp) -> list[_ValueCheck]:
    """The primitives' preconditions (see `Precondition`) on the arguments reaching their ops.

    An argument may reach the operand through layout ops (reshape, transpose, broadcast_to,
    slice, and stop_gradient, which is a reshape): those only move or select elements, so every
    value the op sees is in the argument they start from, which is checked instead (all of it:
    a label a slice drops is still checked).
    """
    checks: list[_ValueCheck] = []
    for op in module.walk():
        precondition = op.primitive().precondition if isinstance(op, GraphOp) else None
        if precondition is None:
            continue
        source = _layout_source(op.operands[precondition.operand])
        if not isinstance(source, BlockArgument):
            continue
        check = _ValueCheck(source.index, precondition, op.params())
        if check not in checks:
            checks.append(check)
    return checks


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

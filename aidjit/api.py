"""The public compile API: `aidjit.compile`, `aidjit.jit` and `CompiledFunction`.

    trace (autodiff) -> graph module -> pass pipeline -> loop module -> C -> .so -> cffi

with the stages of `aidjit.pipeline` as stop points: "graph", "optimized", "linalg", "fused",
"bufferized", "loops" and "c" (`CompiledFunction.ir(stage)`, `.dot(stage)`).

`compile` specialises a Python function on the shapes and dtypes of example arguments; `jit`
wraps a function and compiles once per call signature (see `aidjit.arguments`: the tree
structure of the arguments, the shape and dtype of each leaf, the static arguments' values),
keeping every version, logging each compile and why (logger "aidjit"), and warning once a
function has more than `max_versions` versions.

Start-up: the C backend keys its disk cache on the trace (`aidjit.compile_key`), before any
pass runs, so a function compiled by an earlier process is traced, keyed and dlopened, and
nothing else: no pass, no C, no compiler, no xDSL import (xDSL, the passes and the emitter are
imported only when something is compiled or `ir()`/`dot()` is asked for). On a cold cache the
default tier ("auto") answers the first calls with the instant tier (the trace replayed with
numpy, `aidjit.runtime.eager`) while the optimised build runs in a background thread.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, NamedTuple

import numpy as np

from aidjit import cache_stats
from aidjit.arguments import Binder, BoundCall, CallKey, CallSignature
from aidjit.autodiff.primitives import Family, Precondition
from aidjit.autodiff.tensor import Tensor, constant
from aidjit.autodiff.trace import Trace, trace_function
from aidjit.autodiff.tree_util import is_node, tree_map, tree_structure
from aidjit.debug import ERROR, INFO, WARNING, debug_log, log
from aidjit.errors import AidjitError, ArgumentCountError, ArgumentValueError, PipelineError
from aidjit.pipeline import DEFAULT_PIPELINE, STAGES, default_pipeline
from aidjit.records import record
from aidjit.runtime.entry_point import Mismatch

if TYPE_CHECKING:
    from xdsl.dialects import func
    from xdsl.dialects.builtin import ModuleOp

    from aidjit.pipeline import PipelineRun
    from aidjit.runtime.cache import Kernel
    from aidjit.runtime.loader import ArgSpec, NativeFunction
    from aidjit.runtime.toolchain import Toolchain

Backend = Literal["c", "interpreter"]
Tier = Literal["auto", "optimized"]
TIERS: tuple[Tier, ...] = ("auto", "optimized")
TIER_ENV_VAR = "AIDJIT_TIER"
"""The default tier when `tier=` is not given (the test suite sets "optimized")."""

THREADS_ENV_VAR = "AIDJIT_NUM_THREADS"
"""The default thread count when `threads=` is not given."""


def _thread_count(threads: object) -> int:
    """`threads`, or the default ($AIDJIT_NUM_THREADS, else the usable cores), checked."""
    where = ""
    if threads is None:
        threads = os.environ.get(THREADS_ENV_VAR)
        where = f" (from ${THREADS_ENV_VAR})"
        if not threads:
            return (
                len(os.sched_getaffinity(0))
                if hasattr(os, "sched_getaffinity")
                else (os.cpu_count() or 1)
            )
        threads = int(threads) if threads.strip().isdigit() else threads
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive integer, got {threads!r}{where}")
    return threads


@record
class Options:
    """Compile options; every field is also a keyword of `aidjit.jit` and `aidjit.compile`.

    `static_argnums`/`static_argnames` name arguments passed to the function as Python values
    (hashable, part of the cache key, one version per value); `max_versions` is how many
    versions `jit` compiles of one function before each further one logs a warning (as
    torch.compile's recompile limit).

    `tier` (C backend, cold cache only): "auto" answers calls with the instant tier (the trace
    replayed with numpy) while the optimised kernel is built in a background thread, then
    swaps it in; a failure of that build (a pass, the C emitter or the compiler) is raised by
    the next call and by `CompiledFunction.wait()`, and logged once. "optimized" builds before
    returning, so such errors are raised by `aidjit.compile` (or the first `jit` call). The
    default is $AIDJIT_TIER or "auto"; the test suite sets AIDJIT_TIER=optimized so that
    errors stay where its tests expect them, and tests "auto" by asking for it. A kernel found
    in the cache needs no tier: it is loaded at once.

    `threads` (C backend): how many threads the kernel's parallel loops run on. The default is
    $AIDJIT_NUM_THREADS, else every core this process may run on (`os.sched_getaffinity`). It
    is compiled in: it sets parallelize-outer-loops' option in the default pipeline (so it shows
    in `.pipeline` and is part of the cache key); a `pipeline` given by hand sets its own.
    Results are bitwise the same for any count (see docs/performance.md, "Threads").

    `warmup` (`jit` only): how many calls run the Python function eagerly before the first
    compile, so code that runs a few times never pays for compiling (see `WarmupJitFunction`).
    """

    pipeline: str = DEFAULT_PIPELINE
    backend: Backend = "c"
    cc: str | None = None
    cflags: tuple[str, ...] | None = None
    static_argnums: tuple[int, ...] = ()
    static_argnames: tuple[str, ...] = ()
    max_versions: int = 8
    tier: Tier = "auto"
    threads: int = 1
    warmup: int = 0

    CODE_NEUTRAL: ClassVar[frozenset[str]] = frozenset(
        {"backend", "static_argnums", "static_argnames", "max_versions", "tier", "warmup"}
    )
    """Options that never change the kernel (static values change the trace, keyed itself)."""

    @classmethod
    def make(cls, **options: Any) -> Options:
        given_options = {name for name, value in options.items() if value is not None}
        unknown = set(options) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise TypeError(f"unknown aidjit option(s): {', '.join(sorted(unknown))}")
        options["threads"] = _thread_count(options.get("threads"))
        if options.get("pipeline") is None:
            options["pipeline"] = default_pipeline(options["threads"])
        if options.get("tier") is None:
            options["tier"] = os.environ.get(TIER_ENV_VAR) or "auto"
        for name in ("cflags", "static_argnums", "static_argnames"):
            if options.get(name) is not None:
                value = options[name]
                options[name] = (value,) if isinstance(value, int | str) else tuple(value)
        made = cls(**options)
        if made.backend not in ("c", "interpreter"):
            raise ValueError(f"backend must be 'c' or 'interpreter', got {made.backend!r}")
        if made.max_versions < 1:
            raise ValueError(f"max_versions must be at least 1, got {made.max_versions}")
        if isinstance(made.warmup, bool) or not isinstance(made.warmup, int) or made.warmup < 0:
            raise ValueError(
                f"warmup must be a non-negative integer (calls run eagerly before compiling), "
                f"got {made.warmup!r}"
            )
        if made.tier not in TIERS:
            given = "" if "tier" in given_options else f" (from ${TIER_ENV_VAR})"
            raise ValueError(f"tier must be 'auto' or 'optimized', got {made.tier!r}{given}")
        return made

    def code_options(self) -> dict[str, Any]:
        """The options that may change the compiled code, for its cache key: every field but
        `CODE_NEUTRAL`, so an option added later is keyed unless declared neutral."""
        fields = dataclasses.fields(self)
        return {f.name: getattr(self, f.name) for f in fields if f.name not in self.CODE_NEUTRAL}


STRUCTURE: tuple[str, ...] = (
    "ops_before",
    "ops_after",
    "ops_lowered",
    "generics_before_fusion",
    "fused_groups",
    "loop_nests",
    "workspace_bytes",
    "bytes_without_reuse",
)
"""The `Stats` fields that describe the program rather than this compile: recorded with a
cached kernel, so a cache hit shows them without running a pass."""


@record(frozen=False)
class Stats:
    """Where compile time went (ms per stage), op counts, and how the cache answered.

    `cache`: "memory" or "disk" when the kernel was found by its trace's key (no pass ran, so
    `passes_ms` is empty; the program's structure comes from the cache record); "source" when
    the passes ran and their C was found compiled; "miss" when the C compiler ran; "none" for
    the interpreter backend. `tier` is the tier answering calls now ("instant" until the
    background build swaps the optimised kernel in); `instant_calls` counts the calls the
    instant tier ran: every call before the swap, none after (optimised calls are not counted,
    to keep the dispatch path free of bookkeeping). `optimized_ms` is how long after the
    compile started the optimised kernel was ready.
    """

    trace_ms: float = 0.0
    key_ms: float = 0.0
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
    tier: str = "optimized"
    instant_calls: int = 0
    optimized_ms: float = 0.0

    def record_run(self, run: PipelineRun, module: ModuleOp) -> None:
        """Timings and op counts of a pipeline run, and the structure it made."""
        self.passes_ms = {f"{index}:{name}": ms for index, (name, ms) in enumerate(run.pass_ms)}
        self.verify_ms = run.verify_ms
        self.ops_after = run.ops_at.get("optimized", 0)
        self.ops_lowered = run.ops_at.get("loops", 0)
        self.record_structure(run, module)

    def record_structure(self, run: PipelineRun, module: ModuleOp) -> None:
        """What the structured level made of the graph: generics before and after fusion
        (one per fused group), top-level loop nests, and the workspace the planner packed."""
        from xdsl.dialects import func, scf
        from xdsl.dialects.builtin import IntegerAttr

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

    def structure(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in STRUCTURE}

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def workspace_bytes(function: func.FuncOp) -> int:
    """The size of `function`'s workspace: its trailing `memref<Nxi8>` argument, or 0."""
    from xdsl.dialects.builtin import MemRefType, i8

    arguments = function.function_type.inputs.data
    last = arguments[-1] if arguments else None
    if isinstance(last, MemRefType) and last.get_element_type() == i8:
        return last.get_shape()[0]
    return 0


def _arg_specs(trace: Trace) -> tuple[list[ArgSpec], list[ArgSpec]]:
    """The loader's specs of the inputs and outputs."""
    from aidjit.runtime.loader import ArgSpec

    inputs = [ArgSpec(a.name, a.spec.shape, a.spec.dtype) for a in trace.arguments]
    outputs = [ArgSpec(f"out{i}", o.shape, o.dtype) for i, o in enumerate(trace.outputs)]
    return inputs, outputs


def _spec_pairs(specs: Sequence[ArgSpec]) -> tuple[tuple[tuple[int, ...], str], ...]:
    """Specs as a kernel record holds them: (shape, dtype name) each."""
    return tuple((spec.shape, spec.dtype.name) for spec in specs)


def _function_of(module: ModuleOp) -> func.FuncOp:
    from xdsl.dialects import func

    return next(op for op in module.body.blocks[0].ops if isinstance(op, func.FuncOp))


class CompiledFunction:
    """A function compiled for one call signature: call it like the Python function, with arrays
    (or pytrees of them, Python numbers for weak scalars) of the compiled shapes and dtypes.

    With the C backend, a kernel already in the cache is loaded at once; otherwise tier "auto"
    (see `Options`) answers calls with the instant tier until the optimised kernel is built in
    the background: `wait()` blocks until then.
    """

    def __init__(self, binder: Binder, signature: CallSignature, options: Options) -> None:
        self.options = options
        self.pipeline = options.pipeline
        self.signature = signature
        self._plain_arity = _plain_arity(signature)
        self.stats = Stats()
        self.__name__ = binder.name
        self._binder = binder
        self._started = time.perf_counter()
        self._trace = trace_function(
            binder.flat_function(signature), signature.arguments, self.__name__
        )
        self.stats.trace_ms = (time.perf_counter() - self._started) * 1e3
        self._value_checks = _value_checks(self._trace)
        self._inputs, self._outputs = _arg_specs(self._trace)
        self._stages: dict[str, str] = {}  # printed stages, filled on request by `ir`
        # The last stage's IR: made by a compile that runs the passes; after a cache hit, made
        # from the trace only if `ir` asks for it.
        self._module: ModuleOp | None = None
        self._final_stage = ""
        self._reached: list[str] = []
        self._keys: dict[Toolchain, str | None] = {}
        self._builder: threading.Thread | None = None
        self._failure: Exception | None = None
        self._call = self._make_backend()
        if self._builder is not None:
            self._builder.start()  # only now: its swap must not be overwritten by the line above
        self.stats.total_ms = (time.perf_counter() - self._started) * 1e3
        if self.stats.tier == "optimized":
            self.stats.optimized_ms = self.stats.total_ms
        if self._builder is None:  # else the background build counts itself when it is done
            cache_stats.record_compile(self.stats.cache, self.stats.total_ms)
        debug_log(
            1,
            f"compiled {self.__name__} in {self.stats.total_ms:.1f} ms "
            f"({self.stats.cache}, tier {self.stats.tier})",
        )

    def _graph_module(self) -> ModuleOp:
        """The trace as a verified graph-dialect module."""
        from aidjit.lowering.trace_to_graph import trace_to_module

        module = trace_to_module(self._trace)
        module.verify()
        return module

    def _lower(self, module: ModuleOp) -> PipelineRun:
        """Run the pipeline on `module` in place, noting the stages it reached."""
        from aidjit.context import make_context
        from aidjit.pipeline import run_pipeline

        run = run_pipeline(make_context(), module, self.pipeline)
        self._final_stage = run.final_stage
        self._reached = list(run.ops_at)
        return run

    def _optimize(self) -> ModuleOp:
        """Lower this compile's trace, recording timings and structure in `stats`."""
        from aidjit.dialects.xdsl_fixes import IR_LOCK

        with IR_LOCK:  # see IR_LOCK: xDSL builds IR from one thread at a time
            return self._optimize_locked()

    def _optimize_locked(self) -> ModuleOp:
        from aidjit.pipeline import count_ops

        start = time.perf_counter()
        module = self._graph_module()
        self.stats.trace_ms += (time.perf_counter() - start) * 1e3
        self.stats.ops_before = count_ops(module)
        self.stats.record_run(self._lower(module), module)
        self._module = module
        return module

    def _make_backend(self) -> Callable[..., tuple[np.ndarray, ...]]:
        if self.options.backend == "interpreter":
            self._optimize()
            return self._interpreter_backend()
        return self._native_backend()

    def _interpreter_backend(self) -> Callable[..., tuple[np.ndarray, ...]]:
        module = self._module
        assert module is not None  # _optimize ran
        name = _function_of(module).sym_name.data
        outputs = [(o.shape, o.dtype) for o in self._outputs]
        if self._final_stage == "loops":
            from aidjit.runtime.interpreter.loops import run_loops

            return lambda *args: run_loops(module, name, args, outputs)
        if self._final_stage in ("graph", "optimized"):
            from aidjit.runtime.interpreter.graph import run_graph

            return lambda *args: run_graph(module, name, args)
        from aidjit.runtime.interpreter.structured import run_structured

        return lambda *args: run_structured(module, name, args, outputs)

    def _native_backend(self) -> Callable[..., tuple[np.ndarray, ...]]:
        """The C kernel: loaded if the cache has it, else built now (tier "optimized") or in a
        background thread behind the instant tier ("auto").

        Under "auto", a toolchain this process has not probed and no disk record describes
        is probed in the background as well: the first call waits for no subprocess."""
        from aidjit.runtime.toolchain import find_toolchain, recorded_toolchain

        optimized = self.options.tier == "optimized"
        find = find_toolchain if optimized else recorded_toolchain
        toolchain = find(self.options.cc, self.options.cflags)
        if toolchain is not None:
            cached = self._cached_kernel(toolchain)
            if cached is not None:
                return cached
        if optimized:
            return self._build_native()
        self.stats.cache = "miss"  # until the background build says how it found the kernel
        return self._instant_tier()

    def _key(self, toolchain: Toolchain) -> str | None:
        """This function's kernel key (see `aidjit.compile_key`), computed once per toolchain."""
        if toolchain not in self._keys:
            from aidjit.compile_key import compile_key

            start = time.perf_counter()
            self._keys[toolchain] = compile_key(self._trace, self.options.code_options(), toolchain)
            self.stats.key_ms += (time.perf_counter() - start) * 1e3
        return self._keys[toolchain]

    def _cached_kernel(self, toolchain: Toolchain) -> NativeFunction | None:
        """The kernel the cache holds for this function, loaded; None if there is none (or it
        does not load: then it is forgotten, and the build that follows replaces it)."""
        from aidjit.runtime.cache import find_kernel, forget_kernel
        from aidjit.runtime.loader import LibraryLoadError

        key = self._key(toolchain)
        found = find_kernel(key) if key is not None else None
        if found is None:
            return None
        kernel, so_path, hit = found
        try:
            native = self._load(kernel, so_path)
        except LibraryLoadError as error:
            debug_log(4, f"cached kernel {key} does not load, compiling again: {error}")
            forget_kernel(key)
            return None
        self.stats.cache = hit
        for name, value in kernel.info["structure"].items():
            setattr(self.stats, name, value)
        return native

    def _load(self, kernel: Kernel, so_path: Path) -> NativeFunction:
        """dlopen `kernel`'s shared object, checking its record against the trace's specs."""
        from aidjit.runtime.loader import LibraryLoadError, NativeFunction

        expected = (_spec_pairs(self._inputs), _spec_pairs(self._outputs))
        if (kernel.inputs, kernel.outputs) != expected:
            raise LibraryLoadError(
                f"{so_path}: its cache record has arguments {kernel.inputs} -> {kernel.outputs}, "
                f"{self.__name__} needs {expected[0]} -> {expected[1]}"
            )
        start = time.perf_counter()
        native = NativeFunction(
            so_path,
            kernel.symbol,
            kernel.prototype,
            self._inputs,
            self._outputs,
            kernel.workspace_bytes,
            thunk=True,  # _build_native appends entry_point.packed_thunk to every kernel
        )
        self.stats.load_ms = (time.perf_counter() - start) * 1e3
        self._final_stage = kernel.info["final_stage"]
        self._reached = list(kernel.info["reached"])
        return native

    def _build_native(self) -> NativeFunction:
        """Passes, C, compiler, load; the kernel recorded under its key. Under the key's lock,
        so that processes and threads compiling the same function run the passes once."""
        from aidjit.runtime.cache import Kernel, build, kernel_lock, store_kernel
        from aidjit.runtime.emit_c import c_identifier, c_prototype, emit_c
        from aidjit.runtime.entry_point import packed_thunk
        from aidjit.runtime.toolchain import find_toolchain

        toolchain = find_toolchain(self.options.cc, self.options.cflags)
        key = self._key(toolchain)
        with kernel_lock(key) if key is not None else contextlib.nullcontext():
            cached = self._cached_kernel(toolchain)  # perhaps built while this one waited
            if cached is not None:
                return cached
            module = self._optimize()
            if self._final_stage != "loops":
                raise PipelineError(
                    f"backend 'c' needs loop-level IR but pipeline {self.pipeline!r} stops at "
                    f"the {self._final_stage} level; run the default pipeline's passes through "
                    "convert-linalg-to-fused-loops, or use backend='interpreter'"
                )
            start = time.perf_counter()
            source = emit_c(module)
            self._stages["c"] = source
            self.stats.emit_ms = (time.perf_counter() - start) * 1e3
            function = _function_of(module)
            symbol = c_identifier(function.sym_name.data)
            start = time.perf_counter()
            result = build(source + packed_thunk(symbol, len(function.args)), toolchain)
            self.stats.build_ms = (time.perf_counter() - start) * 1e3
            self.stats.cache = "miss" if result.hit == "miss" else "source"
            kernel = Kernel(
                result.key,
                symbol,
                c_prototype(function),
                _spec_pairs(self._inputs),
                _spec_pairs(self._outputs),
                workspace_bytes(function),
                {
                    "structure": self.stats.structure(),
                    "final_stage": self._final_stage,
                    "reached": self._reached,
                },
            )
            native = self._load(kernel, result.path)
            if key is not None:
                store_kernel(key, kernel)
            return native

    def _instant_tier(self) -> Callable[..., tuple[np.ndarray, ...]]:
        """The trace replayed with numpy, answering calls until the background build swaps
        the optimised kernel in (it raises that build's failure instead, once there is one)."""
        from aidjit.runtime.eager import TraceExecutor
        from aidjit.runtime.loader import check_inputs

        executor = TraceExecutor(self._trace)
        name, inputs, stats = self.__name__, self._inputs, self.stats

        def instant(*arrays: Any) -> tuple[np.ndarray, ...]:
            if self._failure is not None:
                raise self._failure
            if self._call is not instant:  # swapped since the caller read `_call`
                return self._call(*arrays)
            stats.instant_calls += 1
            return executor(*check_inputs(name, inputs, arrays))

        self.stats.tier = "instant"
        self._builder = threading.Thread(
            target=self._build_in_background, name=f"aidjit-build-{name}"
        )
        return instant

    def _build_in_background(self) -> None:
        """The optimised build of tier "auto". Not a daemon thread: a process that ends before
        the build does waits for it, so its kernel is in the cache for the next process."""
        try:
            native = self._build_native()
        except Exception as error:  # noqa: BLE001 - kept and raised by the next call and wait()
            self._failure = error
            log(
                ERROR,
                "%s: the optimised build failed (raised by its next call and by wait()): %s: %s",
                self.__name__,
                type(error).__name__,
                error,
            )
            return
        self._call = native
        self.stats.tier = "optimized"
        self.stats.optimized_ms = (time.perf_counter() - self._started) * 1e3
        cache_stats.record_compile(self.stats.cache, self.stats.optimized_ms)

    def wait(self) -> CompiledFunction:
        """Block until the optimised kernel runs the calls (at once if it already does);
        raise the build's error if it failed. Returns self."""
        if self._builder is not None:
            self._builder.join()
        if self._failure is not None:
            raise self._failure
        return self

    def _module_for_ir(self) -> ModuleOp:
        """The last stage's IR: the build's, or after a cache hit, made from the trace now."""
        self.wait()
        if self._module is None:
            module = self._graph_module()
            self._lower(module)
            self._module = module
        return self._module

    def ir(self, stage: str = "optimized") -> str:
        """The program at a named stop point (see `aidjit.pipeline.STAGES`): "graph",
        "optimized", "linalg", "fused", "bufferized", "loops" or "c".

        Printed on request only: the final stage from the compiled module, an earlier one by
        running the pipeline again, from the trace, up to that stage. A kernel loaded from the
        cache has no IR in memory: the first request makes it from the trace (xDSL and the
        passes are imported then). Under tier "auto", waits for the optimised build."""
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; choose one of {', '.join(STAGES)}")
        if stage in self._stages:
            return self._stages[stage]
        # Wait before taking the lock: a background build holds it while it runs, and
        # waiting for that build with the lock held would never end.
        self.wait()
        from aidjit.dialects.xdsl_fixes import IR_LOCK

        with IR_LOCK:  # see IR_LOCK: xDSL builds IR from one thread at a time
            return self._ir_locked(stage)

    def _ir_locked(self, stage: str) -> str:
        module = self._module_for_ir()
        if stage == "c" and self._final_stage == "loops":
            from aidjit.runtime.emit_c import emit_c

            self._stages["c"] = emit_c(module)
        elif stage == self._final_stage:
            self._stages[stage] = str(module)
        elif stage in self._reached:
            from aidjit.context import make_context
            from aidjit.pipeline import run_pipeline, stage_segments

            earlier = self._graph_module()
            segments = stage_segments(self.pipeline)
            upto = [passes for name, passes in segments[: self._reached.index(stage)]]
            run_pipeline(make_context(), earlier, ",".join(upto))
            self._stages[stage] = str(earlier)
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

        from aidjit.context import make_context
        from aidjit.visualize import module_to_dot, render

        module = Parser(make_context(), self.ir(stage)).parse_module()
        text = module_to_dot(module, title=f"{self.__name__} at stage {stage}")
        return text if path is None else render(text, path)

    _exact: tuple[Any, Callable[..., Any] | None] = (None, None)
    """(the `_call` it was made for, the exact-call entry or None): see `_run_exact`."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run on arguments shaped like the example arguments, in the same pytree structure."""
        if not kwargs:
            result = self._run_exact(args)
            if result is not _NOT_EXACT:
                return result
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

    def _run_exact(self, args: tuple[Any, ...]) -> Any:
        """The dispatch fast path: a call with exactly the compiled arrays, in one C call.

        The dispatch extension's entry (`NativeFunction.entry_point`) checks each argument's
        type (exactly numpy.ndarray, so never a Tensor an outer trace or tape must see: see
        `BoundCall.needs_python`), dtype, shape and layout, which is the whole signature of a
        version compiled for positional arrays, then allocates and calls. Returns `_NOT_EXACT`
        when anything differs, or when no entry applies (another backend or tier, value
        checks, an output tree other than an array or a tuple of them): the caller then binds
        the call in full. The entry is looked up again whenever `_call` changes (the
        background build of tier "auto" swaps the kernel in)."""
        call, exact = self._exact
        if call is not self._call:
            exact = self._refresh_exact()
        if exact is None:
            return _NOT_EXACT
        try:
            return exact(*args)
        except Mismatch:
            return _NOT_EXACT

    def _refresh_exact(self) -> Callable[..., Any] | None:
        call = self._call
        entry_point = getattr(call, "entry_point", None)  # a NativeFunction's
        tree = self._trace.out_tree
        exact = None
        if entry_point is not None and self._plain_arity is not None and not self._value_checks:
            if tree.is_leaf:
                exact = entry_point(single=True)
            elif tree.node_type is tuple and all(child.is_leaf for child in tree.children):
                exact = entry_point()
        self._exact = (call, exact)  # one assignment: threads read both halves or neither
        return exact

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


_NOT_EXACT = object()
"""What `CompiledFunction._run_exact` returns when the call needs the general path."""


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


def _value_checks(trace: Trace) -> list[_ValueCheck]:
    """The primitives' preconditions (see `Precondition`) on the arguments reaching their ops.

    An argument may reach the operand through ops that only move or select elements: layout
    ops (reshape, transpose, broadcast_to, slice, and stop_gradient, which is a reshape) and
    concat, whose operands are all sources. Every value the op sees is then in the arguments
    they start from, which are checked instead (all of each: a label a slice drops is still
    checked). Read from the trace, so a kernel loaded from the cache checks the same as one
    just compiled.
    """
    positions = {id(tensor): position for position, tensor in enumerate(trace.args)}
    moved_from = {
        id(node.output): node.inputs
        for node in trace.nodes
        if node.primitive.family in _MOVES_ELEMENTS
    }
    checks: list[_ValueCheck] = []
    for node in trace.nodes:
        precondition = node.primitive.precondition
        if precondition is None:
            continue
        sources = [node.inputs[precondition.operand]]
        while sources:
            source = sources.pop()
            if id(source) in moved_from:
                sources.extend(moved_from[id(source)])
            elif id(source) in positions:
                check = _ValueCheck(positions[id(source)], precondition, node.params)
                if check not in checks:
                    checks.append(check)
    return checks


_MOVES_ELEMENTS = frozenset({Family.LAYOUT, Family.CONCAT})
"""Families whose result holds only elements of their operands (see `_value_checks`)."""


def compile(fn: Callable[..., Any], *example_args: Any, **options: Any) -> CompiledFunction:  # noqa: A001
    """Compile `fn` for the pytree structure, shapes and dtypes of `example_args`.

    Options: `pipeline` (a pass-pipeline string replacing the default), `backend` ("c" or
    "interpreter"), `cc` (the C compiler), `cflags` (compiler flags replacing the defaults),
    `static_argnums`/`static_argnames` (arguments baked in as Python values), `tier` ("auto"
    or "optimized": what runs while the kernel is built, see `Options`).
    """
    made = Options.make(**options)
    if made.warmup:
        raise ValueError(
            "aidjit.compile compiles now: warmup= is an option of aidjit.jit, which runs the "
            "first calls eagerly"
        )
    binder = Binder(fn, made.static_argnums, made.static_argnames)
    signature = binder.bind(example_args, {}).signature()
    log(INFO, "compiling %s: aidjit.compile [%s]", binder.name, signature.describe())
    return CompiledFunction(binder, signature, made)


class Version(NamedTuple):
    """One compiled version of a jitted function, and why it was compiled."""

    signature: str
    reason: str
    compiled: CompiledFunction


class JitStats(NamedTuple):
    """How a jitted function's calls ran: `eager_calls` during its warm-up (`warmup=`), and
    `compiled_calls` after it, by a compiled version; `versions` compiled so far. Calls are
    counted only with a warm-up: a plain `jit` keeps its dispatch free of counters, and says
    `compiled_calls=None`."""

    warmup: int
    eager_calls: int
    compiled_calls: int | None
    versions: int


_live_jit_functions: weakref.WeakSet[JitFunction] = weakref.WeakSet()
"""Every JitFunction alive, for `aidjit.cache_clear` to empty their versions."""


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
        self._exact_versions: dict[int, CompiledFunction] = {}
        """By argument count, the version a plain call last used (see `__call__`)."""
        self._latest: CallSignature | None = None
        self._lock = threading.Lock()
        _live_jit_functions.add(self)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not kwargs:
            # The version last called with this many positional arrays: its entry checks the
            # arrays against its signature in C, so a call like the last one computes no key.
            compiled = self._exact_versions.get(len(args))
            if compiled is not None:
                result = compiled._run_exact(args)
                if result is not _NOT_EXACT:
                    return result
        return self._call(args, kwargs, static_self=False)

    def _call(self, args: Sequence[Any], kwargs: dict[str, Any], static_self: bool) -> Any:
        bound = self._binder.bind(args, kwargs, static_self)
        if bound.needs_python:
            # Inside an outer trace or under a watching tape: inline, as jax.jit does.
            return self._fn(*args, **kwargs)
        return self._run(bound, len(args))

    def _run(self, bound: BoundCall, count: int) -> Any:
        """Run a bound call (of `count` positional arguments) on its compiled version."""
        compiled = self._version_for(bound)
        if bound.plain:  # positional numpy arrays only: the key is exactly what the entry checks
            self._exact_versions[count] = compiled
        return compiled.run_leaves(bound.arrays())

    def _count_call(self) -> None:
        """Called by a bound method before each call; only a warm-up function counts calls."""

    @property
    def stats(self) -> JitStats:
        """How calls ran (see `JitStats`; a plain jit counts no calls)."""
        return JitStats(0, 0, None, len(self._versions))

    def clear_versions(self) -> None:
        """Forget every compiled version: the next call compiles again (`aidjit.cache_clear`)."""
        with self._lock:
            self._exact_versions = {}
            self._versions = {}
            self._latest = None

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

    _first_reason = "first call"
    """Why the first version is compiled, for the log."""

    def _compile(self, signature: CallSignature) -> None:
        name = self._binder.name
        previous = self._latest
        reason = self._first_reason if previous is None else signature.changes_from(previous)
        count = len(self._versions) + 1
        log(INFO, "compiling %s version %d: %s [%s]", name, count, reason, signature.describe())
        compiled = CompiledFunction(self._binder, signature, self.options)
        self._versions[signature.key] = Version(signature.describe(), reason, compiled)
        self._latest = signature
        if count > self.options.max_versions:
            log(
                WARNING,
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


class WarmupJitFunction(JitFunction):
    """`aidjit.jit(fn, warmup=N)`: the first N calls run `fn` eagerly, then calls compile.

    For code that may run only a few times (a script, an evaluation pass, a notebook cell),
    where a compile would cost more than it saves. The warm-up counts calls to the function,
    whatever their signatures; afterwards it is a plain `jit` (one version per signature).
    An eager call runs `fn` as the compiled code would see it: on Tensors (the arrays'
    leaves; Python numbers as weakly typed scalars), the statics as given, and returns fresh
    numpy arrays in `fn`'s return structure. What only a trace rejects (`float(t)`, `if t:`)
    works eagerly and raises `ConcretizationError` at the first compile.

    `stats` (`JitStats`) counts the eager and the compiled calls: unlike a plain `jit`, each
    call pays for one counter.
    """

    def __init__(self, fn: Callable[..., Any], options: Options) -> None:
        super().__init__(fn, options)
        self._calls = 0
        self._eager_calls = 0
        self._python_calls = 0
        """Calls inlined into an outer trace or tape: neither eager warm-up nor compiled."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self._calls += 1
        return super().__call__(*args, **kwargs)

    def _count_call(self) -> None:
        self._calls += 1

    def _call(self, args: Sequence[Any], kwargs: dict[str, Any], static_self: bool) -> Any:
        bound = self._binder.bind(args, kwargs, static_self)
        if bound.needs_python:
            self._python_calls += 1
            return self._fn(*args, **kwargs)
        if self._eager_calls < self.options.warmup and self._take_eager_call():
            return self._run_eagerly(bound)
        return self._run(bound, len(args))

    def _take_eager_call(self) -> bool:
        """Whether this call is one of the warm-up's (exactly N, also from several threads)."""
        with self._lock:
            if self._eager_calls >= self.options.warmup:
                return False
            self._eager_calls += 1
            return True

    def _run_eagerly(self, bound: BoundCall) -> Any:
        """`fn` on the call's leaves as concrete Tensors, as the trace would see them."""
        signature = bound.signature()  # checks each leaf as a compile would
        leaves = [
            leaf
            if isinstance(leaf, Tensor)
            else constant(leaf, argument.spec.dtype, weak=argument.weak)
            for leaf, argument in zip(bound.leaves, signature.arguments, strict=True)
        ]
        result = self._binder.flat_function(signature)(*leaves)
        return tree_map(_fresh_array, result)

    @property
    def _first_reason(self) -> str:  # type: ignore[override]
        return f"first call after {self._eager_calls} eager warm-up calls"

    @property
    def stats(self) -> JitStats:
        compiled = self._calls - self._eager_calls - self._python_calls
        return JitStats(self.options.warmup, self._eager_calls, compiled, len(self._versions))


def _fresh_array(leaf: Any) -> np.ndarray:
    """An eager result leaf as compiled code returns it: a numpy array of its own."""
    return np.array(leaf.numpy() if isinstance(leaf, Tensor) else leaf)


class BoundJitFunction:
    """A jitted method bound to an instance (see `JitFunction`'s docstring for `self`)."""

    def __init__(self, jitted: JitFunction, instance: Any) -> None:
        self.__func__ = jitted
        self.__self__ = instance
        self.__name__ = jitted.__name__
        self.__doc__ = jitted.__doc__
        self._static_self = not is_node(instance)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.__func__._count_call()
        return self.__func__._call((self.__self__, *args), kwargs, self._static_self)

    def versions(self) -> list[Version]:
        return self.__func__.versions()

    def __repr__(self) -> str:
        return f"<bound aidjit.jit {self.__name__} of {self.__self__!r}>"


def jit(fn: Callable[..., Any] | None = None, **options: Any) -> Any:
    """Decorator (`@aidjit.jit`, `@aidjit.jit(static_argnames="n")`) or call (`aidjit.jit(fn)`)."""
    made = Options.make(**options)
    kind = WarmupJitFunction if made.warmup else JitFunction
    if fn is None:
        return lambda f: kind(f, made)
    return kind(fn, made)


def _clear_jit_versions() -> None:
    for jitted in list(_live_jit_functions):
        jitted.clear_versions()


cache_stats.on_clear(_clear_jit_versions)

"""Pipeline assembly: the stages of the default pipeline, and running passes.

The default pipeline is a plain pass-pipeline string; `aidjit.compile(...).pipeline` shows the
one a function ran, and `aidjit-opt -p '<that string>'` runs the same passes by hand. It is the
concatenation of the passes of each stage, in order; each stage is a stop point with a name,
the same for `compiled.ir(stage)`, `aidjit-opt --stage` and `pipeline_to_stage`:

    graph       the traced module (graph dialect, tensors)
    optimized   canonicalize, cse, dce on the graph
    linalg      convert-graph-to-linalg: linalg.generic on tensors, one per graph op
    fused       fusion and split reductions: one generic per fused group
    bufferized  bufferize: linalg on memrefs, temporaries in one planned workspace
    loops       convert-linalg-to-fused-loops: func + scf + memref + arith + math;
                parallelize-outer-loops: scf.parallel for loops worth threads
    c           the C source the emitter makes of `loops` (not a pass)

The module is verified after tracing and at the end of every stage; after every pass only when
`AIDJIT_DEBUG` is set or `AIDJIT_VERIFY_EACH_PASS=1` (the test suite sets it): verification
costs 20-90 ms of a warm compile.

This module is imported by `import aidjit` (for `DEFAULT_PIPELINE`), so xDSL is imported inside
the functions that run passes: a process that only loads cached kernels never imports it.
"""

from __future__ import annotations

import os
import time
from dataclasses import field
from typing import TYPE_CHECKING

from aidjit.debug import debug_level, debug_log
from aidjit.errors import PipelineError
from aidjit.records import record
from aidjit.runtime.target import detect_target

if TYPE_CHECKING:
    from xdsl.context import Context
    from xdsl.dialects.builtin import ModuleOp
    from xdsl.passes import ModulePass


_TARGET = detect_target()
# exp and log as 1-ulp polynomials (libmvec's are 3 and 4 ulp, exp no faster). tanh: libmvec's
# AVX-512 variant (1 ulp) ran W1 as fast as the 5-ulp rational, so it is kept there; its AVX2
# variant took twice the rational's time in W1 (AMD EPYC), and without libmvec the rational is
# the only vector route. docs/performance.md, "Vector math".
_TARGET_EXPANDED_MATH = ("exp", "log") if _TARGET.isa.name == "avx512" else ("exp", "log", "tanh")
LOOP_PASSES: tuple[str, ...] = (
    "convert-linalg-to-fused-loops",
    # The schedules: their parameters come from the CPU detected (aidjit.runtime.target).
    f"tile-contractions{{vector-bytes={_TARGET.isa.vector_bytes} "
    f"registers={_TARGET.vector_registers} l1-bytes={_TARGET.l1d_bytes}}}",
    f"vectorize-transposes{{vector-bytes={_TARGET.isa.vector_bytes}}}",
    f"vectorize-loops{{vector-bytes={_TARGET.isa.vector_bytes}}}",
    f"expand-math{{functions={','.join(_TARGET_EXPANDED_MATH)}}}",
    "parallelize-outer-loops",
)
"""The passes of the loops stage, in order."""


@record
class Stage:
    """A named stop point of the pipeline (`CompiledFunction.ir(stage)`) and what reaches it."""

    name: str
    passes: str
    """The passes that bring the previous stage's IR to this stage."""


PIPELINE_STAGES: tuple[Stage, ...] = (
    Stage("graph", ""),
    Stage("optimized", "canonicalize,cse,dce"),
    Stage("linalg", "convert-graph-to-linalg"),
    Stage(
        "fused",
        "linalg-fuse-elementwise,linalg-fuse-siblings,linalg-split-reduction,canonicalize,cse,"
        "linalg-fuse-rows",
    ),
    Stage("bufferized", "bufferize"),
    Stage("loops", ",".join(LOOP_PASSES)),
)
STAGES: tuple[str, ...] = (*(stage.name for stage in PIPELINE_STAGES), "c")
DEFAULT_PIPELINE = ",".join(stage.passes for stage in PIPELINE_STAGES if stage.passes)
GRAPH_PIPELINE = PIPELINE_STAGES[1].passes


def default_pipeline(threads: int) -> str:
    """The default pipeline with `threads` for parallelize-outer-loops (whose own default, 1,
    leaves loops serial: a pipeline string alone fixes the code, whatever the environment)."""
    if threads == 1:
        return DEFAULT_PIPELINE
    return DEFAULT_PIPELINE.replace(
        "parallelize-outer-loops", f"parallelize-outer-loops{{threads={threads}}}"
    )


VERIFY_ENV_VAR = "AIDJIT_VERIFY_EACH_PASS"


def _check_stage(stage: str) -> None:
    if stage not in STAGES:
        raise PipelineError(f"unknown stage {stage!r}; choose one of {', '.join(STAGES)}")


def pipeline_to_stage(stage: str) -> str:
    """The part of the default pipeline that brings graph-level IR to `stage`."""
    _check_stage(stage)
    if stage == "c":
        return DEFAULT_PIPELINE
    end = STAGES.index(stage) + 1
    return ",".join(s.passes for s in PIPELINE_STAGES[:end] if s.passes)


def stage_segments(spec: str) -> list[tuple[str | None, str]]:
    """`spec` cut at the stop points it passes: (stage reached or None, passes) pairs.

    A spec made of whole stages of the default pipeline, in order, passes their stop points;
    any other spec is one segment whose end is named by `level_of` once it has run.
    """
    segments: list[tuple[str | None, str]] = []
    rest = spec
    for stage in PIPELINE_STAGES[1:]:
        if not rest:
            break
        if rest == stage.passes or rest.startswith(stage.passes + ","):
            segments.append((stage.name, stage.passes))
            rest = rest[len(stage.passes) + 1 :]
        else:
            break
    if rest:
        segments.append((None, rest))
    return segments


def level_of(module: ModuleOp) -> str:
    """The stage name that describes `module`'s level: which dialects and types it holds."""
    from xdsl.dialects.builtin import MemRefType, TensorType
    from xdsl.dialects.linalg import ops as linalg

    from aidjit.dialects.graph import Graph

    ops = [op for op in module.walk() if op is not module]
    if any(op.dialect_name() == Graph.name for op in ops):
        return "optimized"
    generics = [op for op in ops if isinstance(op, linalg.GenericOp | linalg.FillOp)]
    if any(isinstance(v.type, TensorType) for op in generics for v in op.operands):
        return "fused"
    if generics:
        return "bufferized"
    values = [v for op in ops for v in op.results]
    if any(isinstance(v.type, MemRefType) for v in values) or not any(
        isinstance(v.type, TensorType) for v in values
    ):
        return "loops"
    return "optimized"


@record(frozen=False)
class PipelineRun:
    """What running a pipeline left behind: the stop points it passed (in order, with op
    counts), timings. No IR text: the module holds the last stage, and `CompiledFunction.ir`
    prints a stage only when asked for."""

    final_stage: str = "graph"
    pass_ms: list[tuple[str, float]] = field(default_factory=list)
    verify_ms: float = 0.0
    """Verification at the end of each stage (with AIDJIT_VERIFY_EACH_PASS, inside pass_ms)."""
    ops_at: dict[str, int] = field(default_factory=dict)
    generics_at: dict[str, int] = field(default_factory=dict)

    def snapshot(self, stage: str, module: ModuleOp) -> None:
        from xdsl.dialects.linalg import ops as linalg

        self.final_stage = stage
        ops = [op for op in module.walk() if op is not module]
        self.ops_at[stage] = len(ops)
        self.generics_at[stage] = sum(isinstance(op, linalg.GenericOp) for op in ops)


def parse_pipeline(spec: str) -> list[ModulePass]:
    from xdsl.passes import PassPipeline
    from xdsl.utils.exceptions import ArgSpecParseError

    from aidjit.passes import get_all_passes

    try:
        return list(PassPipeline.parse_spec(get_all_passes(), spec).passes)
    # xDSL raises ValueError for unknown passes and options, and ArgSpecParseError (a
    # BaseException) for malformed specs.
    except (Exception, ArgSpecParseError) as error:
        raise PipelineError(f"invalid pass pipeline {spec!r}: {error}") from None


def count_ops(module: ModuleOp) -> int:
    return sum(1 for op in module.walk() if op is not module)


def verify_each_pass() -> bool:
    return debug_level() >= 1 or os.environ.get(VERIFY_ENV_VAR) == "1"


def _verify(module: ModuleOp, after: str) -> None:
    from xdsl.utils.exceptions import VerifyException

    try:
        module.verify()
    except VerifyException as error:
        raise PipelineError(f"{after} produced invalid IR: {error}") from None


def run_pipeline(ctx: Context, module: ModuleOp, spec: str) -> PipelineRun:
    """Run `spec` on `module` in place, verifying at the end of each stage it passes."""
    run = PipelineRun()
    run.snapshot("graph", module)
    each = verify_each_pass()
    for stage, passes in stage_segments(spec):
        last_name = ""
        for pass_ in parse_pipeline(passes):
            start = time.perf_counter()
            pass_.apply(ctx, module)
            if each:
                _verify(module, f"pass {pass_.name}")
            elapsed = (time.perf_counter() - start) * 1e3
            run.pass_ms.append((pass_.name, elapsed))
            last_name = pass_.name
            debug_log(1, f"pass {pass_.name}: {elapsed:.2f} ms")
            if debug_level() >= 2:
                debug_log(2, f"IR after {pass_.name}:\n{str(module)}")
        if not each:
            start = time.perf_counter()
            _verify(module, f"pass {last_name}")
            run.verify_ms += (time.perf_counter() - start) * 1e3
        run.snapshot(stage or level_of(module), module)
    return run

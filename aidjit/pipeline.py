"""Pipeline assembly: the default pass pipeline, named stop points, and running passes.

The default pipeline is a plain pass-pipeline string; `aidjit.compile(...).pipeline` shows the
one a function ran, and `aidjit-opt -p '<that string>'` runs the same passes by hand. Stages are
cut where the IR changes level:

    graph      the traced module (graph dialect)
    optimized  after the graph-level passes, just before `convert-graph-to-loops`
    loops      after the whole pipeline (func + scf + memref + arith + math)
    c          the C source the emitter makes of `loops`
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass, PassPipeline
from xdsl.utils.exceptions import ArgSpecParseError, VerifyException

from aidjit.debug import debug_level, debug_log
from aidjit.errors import PipelineError
from aidjit.passes import LOWERING_TO_LOOPS, get_all_passes

GRAPH_PIPELINE = "canonicalize,cse,dce"
LOOP_PIPELINE = "canonicalize,cse"
DEFAULT_PIPELINE = f"{GRAPH_PIPELINE},{LOWERING_TO_LOOPS},{LOOP_PIPELINE}"

STAGES = ("graph", "optimized", "loops", "c")


def pipeline_to_stage(stage: str) -> str:
    """The part of the default pipeline that brings graph-level IR to `stage`."""
    if stage not in STAGES:
        raise PipelineError(f"unknown stage {stage!r}; choose one of {', '.join(STAGES)}")
    return {"graph": "", "optimized": GRAPH_PIPELINE}.get(stage, DEFAULT_PIPELINE)


@dataclass
class PipelineRun:
    """What running a pipeline left behind: snapshots of the stop points it passed, timings.

    The module itself holds the last stage (`final_stage`): it is printed only when asked for.
    """

    stages: dict[str, str] = field(default_factory=dict)
    pass_ms: list[tuple[str, float]] = field(default_factory=list)
    lowered: bool = False
    optimized_ops: int = 0

    @property
    def final_stage(self) -> str:
        return "loops" if self.lowered else "optimized"


def parse_pipeline(spec: str) -> list[ModulePass]:
    try:
        return list(PassPipeline.parse_spec(get_all_passes(), spec).passes)
    # xDSL raises ValueError for unknown passes and options, and ArgSpecParseError (a
    # BaseException) for malformed specs.
    except (Exception, ArgSpecParseError) as error:
        raise PipelineError(f"invalid pass pipeline {spec!r}: {error}") from None


def count_ops(module: ModuleOp) -> int:
    return sum(1 for op in module.walk() if op is not module)


def run_pipeline(ctx: Context, module: ModuleOp, spec: str) -> PipelineRun:
    """Run `spec` on `module` in place, verifying after every pass."""
    run = PipelineRun(stages={"graph": str(module)})
    for pass_ in parse_pipeline(spec):
        if pass_.name == LOWERING_TO_LOOPS and not run.lowered:
            run.stages["optimized"] = str(module)
            run.optimized_ops = count_ops(module)
            run.lowered = True
        start = time.perf_counter()
        try:
            pass_.apply(ctx, module)
            module.verify()
        except VerifyException as error:
            raise PipelineError(f"pass {pass_.name} produced invalid IR: {error}") from None
        elapsed = (time.perf_counter() - start) * 1e3
        run.pass_ms.append((pass_.name, elapsed))
        debug_log(1, f"pass {pass_.name}: {elapsed:.2f} ms")
        if debug_level() >= 2:
            debug_log(2, f"IR after {pass_.name}:\n{str(module)}")
    if not run.lowered:
        run.optimized_ops = count_ops(module)
    return run

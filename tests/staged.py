"""One run of the default pipeline, kept at every stop point: what per-level tests share.

A test that compares a function at every level could compile it once per level, through
`aidjit.compile(fn, backend="interpreter", pipeline=pipeline_to_stage(level))`; but each such
compile runs the pipeline from the graph up to its level, so checking five levels ran the first
stages five times and the whole pipeline three times over, and the op table's tests spent most
of their time there. `staged(fn, *inputs)` traces `fn` once, runs each stage's passes once (as
`aidjit.compile` does: `run_pipeline`, verified after every pass under the suite's
AIDJIT_VERIFY_EACH_PASS=1) and keeps a copy of the module at each stop point. `Staged.run(stage,
inputs)` calls the interpreter of that level on it: what the compile above would run, since the
passes are deterministic and `pipeline_to_stage(level)` is the stages before it, in order.

The public path (`aidjit.compile` with the interpreter backend and a pipeline of the user's) is
tested on its own by tests/api (custom pipelines with the interpreter backend, jit with it)
and by the fuzzer (tests/fuzz), which compiles each program per level as a user would.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation

from aidjit.autodiff.primitives import Spec
from aidjit.autodiff.trace import TraceArgument, trace_function
from aidjit.context import make_context
from aidjit.dialects.xdsl_fixes import IR_LOCK
from aidjit.lowering.trace_to_graph import trace_to_module
from aidjit.pipeline import PIPELINE_STAGES, VERIFY_ENV_VAR, run_pipeline
from aidjit.runtime.interpreter.graph import run_graph
from aidjit.runtime.interpreter.loops import run_loops
from aidjit.runtime.interpreter.structured import run_structured

NAME = "staged"
"""The traced function's name (the symbol every stage's module defines)."""

GRAPH_LEVELS = ("graph", "optimized")
STRUCTURED_LEVELS = ("linalg", "fused", "bufferized")
LEVELS = (*GRAPH_LEVELS, *STRUCTURED_LEVELS, "loops")
"""Every stop point, in pipeline order (aidjit.pipeline.STAGES without `c`)."""
assert LEVELS == tuple(stage.name for stage in PIPELINE_STAGES)


@dataclass(frozen=True)
class Staged:
    """A function's module at each stop point of the default pipeline, and its output specs.

    A stage whose passes raised has no module: asking for it, or for any later stage, raises
    that error (`failure`), so the stages before it still run and each later one reports it,
    as a compile cut at each stage would."""

    modules: dict[str, ModuleOp]
    outputs: tuple[tuple[tuple[int, ...], np.dtype], ...]
    failure: Exception | None = None

    def module(self, level: str) -> ModuleOp:
        if level not in self.modules and self.failure is not None:
            raise self.failure
        return self.modules[level]

    def run(self, level: str, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """The flattened results of the interpreter of `level` on `inputs`."""
        module = self.module(level)
        arrays = [np.asarray(a, order="C") for a in inputs]
        if level in GRAPH_LEVELS:
            return list(run_graph(module, NAME, arrays))
        if level in STRUCTURED_LEVELS:
            return list(run_structured(module, NAME, arrays, self.outputs))
        return list(run_loops(module, NAME, arrays, self.outputs))

    def ops(self, level: str) -> set[type[Operation]]:
        """The op types in `level`'s module."""
        return {type(op) for op in self.module(level).walk()}

    def text(self, level: str) -> str:
        return str(self.module(level))


def staged(fn: Callable[..., Any], *inputs: np.ndarray) -> Staged:
    """`fn` on positional arrays shaped like `inputs`, traced and lowered through every stage.
    Tracing errors are raised; a stage's error is kept (see `Staged`)."""
    arguments = [
        TraceArgument(f"x{i}", f"x{i}", Spec(a.shape, a.dtype)) for i, a in enumerate(inputs)
    ]
    trace = trace_function(fn, arguments, NAME)
    outputs = tuple((o.shape, o.dtype) for o in trace.outputs)
    # As aidjit.compile builds and transforms IR: under IR_LOCK. Next to the background build
    # of a compile under tier "auto", building without it left xDSL's ImplicitBuilder hook
    # installed twice, for good: every later build inserted its ops twice ("Can't add to a
    # block an operation already attached to a block"; see IR_LOCK).
    with IR_LOCK:
        module = trace_to_module(trace)
        module.verify()
        ctx = make_context()
        modules = {LEVELS[0]: module}
        for stage in PIPELINE_STAGES[1:]:
            module = module.clone()  # the previous stop point's module stays as it is
            try:
                run_pipeline(ctx, module, stage.passes)
            except Exception as error:  # noqa: BLE001 - raised by whoever asks for this stage
                return Staged(modules, outputs, error)
            modules[stage.name] = module
    return Staged(modules, outputs)


@contextmanager
def verified_at_stage_ends() -> Iterator[None]:
    """For a compile that repeats the passes of a staged run of the same function (its C, next
    to the interpreted levels): that run verified the IR after every pass (the suite sets
    AIDJIT_VERIFY_EACH_PASS=1, tests/conftest.py), and the passes are deterministic, so this one
    verifies at each stage's end only, as aidjit does outside the suite. Verifying after every
    pass took about half of each pipeline run's time."""
    previous = os.environ.get(VERIFY_ENV_VAR)
    os.environ[VERIFY_ENV_VAR] = "0"
    try:
        yield
    finally:
        if previous is None:
            del os.environ[VERIFY_ENV_VAR]
        else:
            os.environ[VERIFY_ENV_VAR] = previous

"""tests/staged.py, the one pipeline run the per-level tests share: each stage it keeps is what a
compile cut at that stage makes, and it builds IR as `aidjit.compile` does, under IR_LOCK."""

import numpy as np

import aidjit
from aidjit import Tensor, ops
from aidjit.pipeline import pipeline_to_stage
from tests.staged import LEVELS, staged


def staged_program(x0: Tensor, x1: Tensor) -> Tensor:
    """Named as `staged` names what it traces (function and arguments), so the texts compare."""
    return ops.softmax(x0 @ x1) * ops.exp(ops.sum(x1, axis=0))


def test_each_stage_is_what_a_compile_cut_there_makes() -> None:
    x0, x1 = np.ones((3, 5), np.float32), np.linspace(-1, 1, 35, dtype=np.float32).reshape(5, 7)
    stages = staged(staged_program, x0, x1)
    for level in LEVELS:
        compiled = aidjit.compile(
            staged_program, x0, x1, backend="interpreter", pipeline=pipeline_to_stage(level)
        )
        expected = compiled.ir(level).replace("@staged_program", "@staged")
        assert stages.text(level) == expected, level
        np.testing.assert_array_equal(stages.run(level, [x0, x1])[0], compiled(x0, x1))


def _chain(v: Tensor) -> Tensor:
    for _ in range(10):
        v = ops.tanh(v) + ops.exp(ops.sum(v, axis=0)) * ops.softmax(v)
    return v


def test_a_staged_run_next_to_a_background_build() -> None:
    """Under tier "auto" a compile builds in a background thread. Staged runs next to it (the
    fuzzer outside pytest, program after program) inserted ops twice when they built IR without
    IR_LOCK ("Can't add to a block an operation already attached to a block"), and failed the
    background build as well."""
    x = np.linspace(-1.0, 1.0, 12).reshape(3, 4)
    build = aidjit.compile(_chain, x, tier="auto")
    for _ in range(10):
        stages = staged(ops.log_softmax, x)
        assert stages.failure is None, stages.failure
    np.testing.assert_allclose(build.wait()(x), _chain(Tensor(x)).numpy(), rtol=1e-12)

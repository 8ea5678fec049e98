"""Every op compiled: C, and the interpreter at every level of the pipeline, against eager.

Core ops run one per case, other families one bundle per family (tests/op_cases.py); forward
and gradient, f32 and f64. C goes through `aidjit.compile`. The interpreter runs every stop
point of one pipeline run (tests/staged.py): the graph after its passes, the structured level
before and after fusion (tensors), after bufferization (memrefs and the workspace) and the
loops. The same run's loops must hold only ops the C emitter and the loop interpreter both
support (tests/runtime/test_supported_ops.py) and only upstream dialects on buffers
(tests/lowering/test_loop_level.py), and upstream `mlir-opt` must verify each stage from
linalg down of the forward pass (tests/lowering/test_upstream_mlir.py): each case's pipeline
runs twice in all, once for C and once for everything else.

A family bundle's loops are not interpreted (the loop interpreter runs every scalar op in
Python: a whole family cost the suite minutes; the C test runs the same loops, and the fuzzer's
quick profile runs every op in the loop interpreter); `pytest -m exhaustive` runs them too.
"""

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from aidjit import Tensor, compile, value_and_grad
from tests.lowering.test_loop_level import not_upstream
from tests.lowering.test_upstream_mlir import mlir_opt_failures
from tests.op_cases import COMPILED, COMPILED_DIFFERENTIABLE, COMPILED_IDS, Case, results, total
from tests.runtime.test_supported_ops import unsupported_loop_ops
from tests.staged import Staged, staged, verified_at_stage_ends

INTERPRETED_LEVELS = ["optimized", "linalg", "fused", "bufferized", "loops"]
BUNDLE_LEVELS = ["optimized", "linalg", "fused", "bufferized"]
"""The levels a family bundle is interpreted at: all but the loops (see the docstring)."""

TOLERANCE = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-13)}


def eager(case: Case, inputs: list[np.ndarray]) -> list[np.ndarray]:
    return [r.numpy() for r in results(case.fn(*[Tensor(a) for a in inputs]))]


def assert_matches_eager(
    case: Case, compiled: object, expected: list[np.ndarray], dtype: type
) -> None:
    computed = results(compiled)
    assert len(computed) == len(expected)
    for index, (result, want) in enumerate(zip(computed, expected, strict=True)):
        where = case.rows[index].id if case.rows else case.id
        assert result.dtype == want.dtype and result.shape == want.shape, where
        np.testing.assert_allclose(result, want, err_msg=where, **TOLERANCE[dtype])


def float_positions(case: Case, inputs: list[np.ndarray]) -> tuple[int, ...]:
    return tuple(i for i in range(len(inputs)) if i not in case.int_inputs)


def gradient_step(case: Case, inputs: list[np.ndarray]) -> Callable[..., Any]:
    """value_and_grad of the sum of the case's float results, over its float inputs."""
    return value_and_grad(
        lambda *args: total(case.fn(*args)), argnums=float_positions(case, inputs)
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", COMPILED, ids=COMPILED_IDS)
def test_compiled_c_matches_eager(case: Case, dtype: type) -> None:
    inputs = case.inputs(dtype)
    with verified_at_stage_ends():  # the stage test below verifies each pass of this pipeline
        compiled = compile(case.fn, *inputs)
    assert_matches_eager(case, compiled(*inputs), eager(case, inputs), dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", COMPILED_DIFFERENTIABLE, ids=lambda case: case.id)
def test_compiled_gradient_matches_eager(case: Case, dtype: type) -> None:
    inputs = case.inputs(dtype)
    step = gradient_step(case, inputs)
    with verified_at_stage_ends():  # as in the forward test above
        value, grads = compile(step, *inputs)(*inputs)
    expected_value, expected_grads = step(*inputs)
    np.testing.assert_allclose(value, expected_value, **TOLERANCE[dtype])
    for grad, expected in zip(grads, expected_grads, strict=True):
        assert grad.dtype == dtype
        np.testing.assert_allclose(grad, expected, **TOLERANCE[dtype])


def _interpreted_rows(bundles_only: bool = False) -> list[object]:
    """(case, mode) pairs: every case forward, every differentiable one with its gradient."""
    return [
        pytest.param(case, mode, id=f"{case.id}-{mode}")
        for mode, cases in (("forward", COMPILED), ("gradient", COMPILED_DIFFERENTIABLE))
        for case in cases
        if not (bundles_only and case.family == "core")
    ]


def _interpreter_failures(
    case: Case, mode: str, dtype: type, levels: list[str]
) -> tuple[list[str], Staged]:
    """What differs from eager at each of `levels`, and the pipeline run they ran from.
    Forward: the case's results; gradient: value_and_grad as in the C test above."""
    inputs = case.inputs(dtype)
    fn = case.fn if mode == "forward" else gradient_step(case, inputs)
    expected = [np.asarray(leaf) for leaf in _leaves(fn(*[Tensor(a) for a in inputs]))]
    stages = staged(fn, *inputs)
    failures = []
    for level in levels:
        try:
            got = stages.run(level, inputs)
            assert len(got) == len(expected), f"{len(got)} results, expected {len(expected)}"
            for index, (result, want) in enumerate(zip(got, expected, strict=True)):
                where = _where(case, mode, index)
                assert result.dtype == want.dtype, f"{where}: {result.dtype} != {want.dtype}"
                assert result.shape == want.shape, f"{where}: {result.shape} != {want.shape}"
                np.testing.assert_allclose(result, want, err_msg=where, **TOLERANCE[dtype])
        except Exception as error:  # noqa: BLE001 - every level is reported, not the first only
            failures.append(f"{mode} of {case.id} at {level}: {type(error).__name__}: {error}")
    return failures, stages


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("case", "mode"), _interpreted_rows())
def test_every_stage_matches_eager_and_is_supported(case: Case, mode: str, dtype: type) -> None:
    levels = INTERPRETED_LEVELS if case.family == "core" else BUNDLE_LEVELS
    failures, stages = _interpreter_failures(case, mode, dtype, levels)
    if stages.failure is not None:
        failures.append(f"the pipeline raised {type(stages.failure).__name__}: {stages.failure}")
    else:
        failures += unsupported_loop_ops(stages.ops("loops"))
        failures += not_upstream(stages.module("loops"))
        if mode == "forward":
            failures += mlir_opt_failures(stages)
    assert not failures, "\n".join(failures)


@pytest.mark.exhaustive
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("case", "mode"), _interpreted_rows(bundles_only=True))
def test_loop_interpreter_runs_family_bundles(case: Case, mode: str, dtype: type) -> None:
    """The loops of the family bundles, which the default run checks only for support."""
    failures, _ = _interpreter_failures(case, mode, dtype, ["loops"])
    assert not failures, "\n".join(failures)


def _leaves(tree: Any) -> list[Any]:
    if isinstance(tree, tuple | list):
        return [leaf for item in tree for leaf in _leaves(item)]
    return [tree.numpy() if isinstance(tree, Tensor) else tree]


def _where(case: Case, mode: str, index: int) -> str:
    """The row a forward result belongs to; gradients are of the whole case."""
    if mode == "forward" and case.rows:
        return case.rows[index].id
    return f"{case.id} result {index}"

"""Every op compiled: C, and the interpreter at the graph and loop levels, against eager."""

import numpy as np
import pytest

from aidjit import Tensor, compile, value_and_grad
from aidjit.pipeline import GRAPH_PIPELINE
from tests.op_cases import CASE_IDS, CASES, DIFFERENTIABLE, Case

TOLERANCE = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-13)}


def eager(case: Case, inputs: list[np.ndarray]) -> np.ndarray:
    return case.fn(*[Tensor(a) for a in inputs]).numpy()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_compiled_c_matches_eager(case: Case, dtype: type) -> None:
    inputs = case.inputs(dtype)
    compiled = compile(case.fn, *inputs)
    result = compiled(*inputs)
    expected = eager(case, inputs)
    assert result.dtype == expected.dtype and result.shape == expected.shape
    np.testing.assert_allclose(result, expected, **TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("level", ["graph", "loops"])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_interpreter_matches_eager(case: Case, level: str, dtype: type) -> None:
    inputs = case.inputs(dtype)
    pipeline = GRAPH_PIPELINE if level == "graph" else None
    compiled = compile(case.fn, *inputs, backend="interpreter", pipeline=pipeline)
    result = compiled(*inputs)
    expected = eager(case, inputs)
    assert result.dtype == expected.dtype and result.shape == expected.shape
    np.testing.assert_allclose(result, expected, **TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", DIFFERENTIABLE, ids=[c.id for c in DIFFERENTIABLE])
def test_compiled_gradient_matches_eager(case: Case, dtype: type) -> None:
    inputs = case.inputs(dtype)
    float_positions = tuple(i for i in range(len(inputs)) if i not in case.int_inputs)

    def loss(*args: Tensor) -> Tensor:
        return case.fn(*args).sum()

    step = value_and_grad(loss, argnums=float_positions)
    value, grads = compile(step, *inputs)(*inputs)
    expected_value, expected_grads = step(*inputs)
    np.testing.assert_allclose(value, expected_value, **TOLERANCE[dtype])
    for grad, expected in zip(grads, expected_grads, strict=True):
        assert grad.dtype == dtype
        np.testing.assert_allclose(grad, expected, **TOLERANCE[dtype])

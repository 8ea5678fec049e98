"""Every op, eagerly: forward against numpy (f32, f64), gradient against finite differences."""

import numpy as np
import pytest

import aidjit
from aidjit import GradientTape, Tensor, ops
from tests.op_cases import CASE_IDS, CASES, DIFFERENTIABLE, Case

TOLERANCE = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-12, atol=1e-12)}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_forward_matches_numpy(case: Case, dtype: type) -> None:
    inputs = case.inputs(dtype)
    result = case.fn(*[Tensor(a) for a in inputs])
    expected = case.reference(*inputs)
    assert result.shape == np.shape(expected)
    assert result.numpy().flags.c_contiguous
    if case.int_inputs and len(case.shapes) == 1:
        assert result.dtype == np.float32
    elif np.asarray(expected).dtype.kind == "i":  # indices (argmax) are int64 whatever x is
        assert result.dtype == np.int64
    else:
        assert result.dtype == dtype
    np.testing.assert_allclose(result.numpy(), expected, **TOLERANCE[dtype])


def weighted_sum(case: Case, inputs: list[np.ndarray], weights: np.ndarray) -> Tensor:
    return (case.fn(*[Tensor(a) for a in inputs]) * weights).sum()


@pytest.mark.parametrize("case", DIFFERENTIABLE, ids=[c.id for c in DIFFERENTIABLE])
def test_gradient_matches_finite_differences(case: Case) -> None:
    inputs = case.inputs(np.float64)
    out_shape = np.shape(case.reference(*inputs))
    weights = np.random.default_rng(1).uniform(0.5, 1.5, size=out_shape)
    tensors = [Tensor(a) for a in inputs]
    float_positions = [i for i in range(len(inputs)) if i not in case.int_inputs]
    with GradientTape() as tape:
        tape.watch(*[tensors[i] for i in float_positions])
        loss = (case.fn(*tensors) * weights).sum()
    # Zeros, not None, for an input the result does not depend on through any gradient
    # (grid_sample's grid in nearest mode): finite differences must find zero there too.
    grads = tape.gradient(loss, [tensors[i] for i in float_positions], "zero")
    eps = 1e-6
    for position, grad in zip(float_positions, grads, strict=True):
        assert grad.shape == inputs[position].shape
        numeric = np.zeros_like(inputs[position])
        for index in np.ndindex(inputs[position].shape):
            shifted = [a.copy() for a in inputs]
            shifted[position][index] += eps
            plus = weighted_sum(case, shifted, weights).numpy()
            shifted[position][index] -= 2 * eps
            minus = weighted_sum(case, shifted, weights).numpy()
            numeric[index] = (plus - minus) / (2 * eps)
        np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mean_over_an_empty_axis_is_nan_without_a_warning(dtype: type) -> None:
    """Found by the fuzzer: np.mean warned 'Mean of empty slice' (an error under -W error)."""
    result = ops.mean(Tensor(np.ones((2, 0), dtype)), axis=1)
    assert result.dtype == dtype
    assert np.isnan(result.numpy()).all() and result.shape == (2,)


def test_cross_entropy_of_zero_rows_is_nan_like_compiled_code() -> None:
    """Found by the fuzzer: the eager label check raised numpy's ValueError on zero rows."""
    logits, labels = np.zeros((0, 3), np.float32), np.zeros((0,), np.int64)
    eager = ops.cross_entropy(Tensor(logits), Tensor(labels)).numpy()
    compiled = aidjit.compile(ops.cross_entropy, logits, labels)(logits, labels)
    assert np.isnan(eager) and np.isnan(compiled)

"""The Conv+BN fold (transforms/canonicalization_patterns/graph.py) end to end: inference
batch_norm after a convolution disappears from the optimized graph, frozen parameters fold into
constant filters and shift, and the compiled result matches eager within float rounding."""

from __future__ import annotations

import numpy as np
import pytest

import aidjit
from aidjit import Tensor, ops

TOLERANCE = {np.float32: dict(rtol=2e-5, atol=2e-5), np.float64: dict(rtol=1e-12, atol=1e-12)}


def _params(dtype: type) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4, 9, 8)).astype(dtype)
    w = rng.standard_normal((6, 2, 3, 3)).astype(dtype)
    b, gamma, beta, mean = (rng.standard_normal(6).astype(dtype) for _ in range(4))
    return x, w, b, gamma, beta, mean, rng.uniform(0.5, 2.0, 6).astype(dtype)


def _block(x: Tensor, w: Tensor, b: Tensor, *statistics: Tensor) -> Tensor:
    conv = ops.conv2d(x, w, b, stride=2, padding=1, groups=2)
    return ops.relu(ops.batch_norm_inference(conv, *statistics, eps=1e-3))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_norm_folds_into_the_convolution(dtype: type) -> None:
    args = _params(dtype)
    compiled = aidjit.compile(_block, *args)
    optimized = compiled.ir("optimized")
    assert "graph.batch_norm_inference" not in optimized
    assert optimized.count("graph.conv2d") == 1
    expected = _block(*[Tensor(a) for a in args]).numpy()
    np.testing.assert_allclose(compiled(*args), expected, **TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_frozen_parameters_fold_to_constant_filters(dtype: type) -> None:
    x, *params = _params(dtype)
    compiled = aidjit.compile(lambda x: _block(x, *params), x)
    optimized = compiled.ir("optimized")
    assert "graph.batch_norm_inference" not in optimized
    assert "graph.multiply" not in optimized and "graph.divide" not in optimized
    expected = _block(Tensor(x), *[Tensor(p) for p in params]).numpy()
    np.testing.assert_allclose(compiled(x), expected, **TOLERANCE[dtype])

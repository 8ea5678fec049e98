"""slice(conv2d) -> conv2d(slice) and slice(pad) -> pad (transforms/canonicalization_patterns/
graph.py) end to end: the gradient of a padded convolution no longer computes the input
gradient over the padding's border, and compiled results match eager."""

from __future__ import annotations

import numpy as np
import pytest

import aidjit
from aidjit import Tensor, ops

TOLERANCE = {np.float32: dict(rtol=2e-5, atol=2e-5), np.float64: dict(rtol=1e-12, atol=1e-12)}


def _loss(x: Tensor, w: Tensor) -> Tensor:
    y = ops.conv2d(x, w, padding=1, groups=2)
    return ops.sum(y * y)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_input_gradient_skips_the_padding_border(dtype: type) -> None:
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 4, 7, 6)).astype(dtype)
    w = rng.standard_normal((6, 2, 3, 3)).astype(dtype)
    grad = aidjit.grad(_loss, argnums=(0, 1))
    compiled = aidjit.compile(grad, x, w)
    optimized = compiled.ir("optimized")
    # The input gradient: the cotangent padded by 1 (the kernel's reach 2, less the forward
    # pad 1) and convolved straight to x's 7x6, not padded by 2, convolved to the padded 9x8
    # and then cut.
    assert "-> tensor<2x6x9x8xf" in optimized
    assert "-> tensor<2x6x11x10xf" not in optimized
    expected = grad(Tensor(x), Tensor(w))
    for got, want in zip(compiled(x, w), expected, strict=True):
        np.testing.assert_allclose(got, np.asarray(want), **TOLERANCE[dtype])

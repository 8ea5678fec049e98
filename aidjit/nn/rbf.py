"""Radial basis function layer: Gaussian features of the distance to learned centres."""

import math
from typing import Any

import numpy as np

from aidjit.autodiff import ops  # aidjit.ops, where it is defined (see tests/test_imports.py)
from aidjit.nn import initializers
from aidjit.nn.module import Layer, Params, Shape, State


class RBF(Layer):
    """`RBF(in_features, num_centers)`: out[..., j] = exp(-||x - c_j||² / σ_j²) on the last
    axis of an input of any rank >= 1, with learned centres c_j and widths σ_j (an RBF
    network's hidden layer; torch has no class, this is the common PyTorch RBF layer's
    Gaussian).

    Parameters, in this order: `centers` [num_centers, in_features] N(0, 1); `log_sigma`
    [num_centers] zeros (σ = 1). The width is learned through its logarithm, so it stays
    positive whatever step an optimiser takes; `ops.rbf_kernel` receives gamma = 1 / σ² =
    exp(-2 log_sigma).
    """

    def __init__(self, in_features: int, num_centers: int, name: str | None = None) -> None:
        super().__init__(name)
        self.in_features, self.num_centers = in_features, num_centers

    def output_shape(self, input_shape: Shape) -> Shape:
        self.expect_min_rank(input_shape, 1, "[..., features]")
        self.expect_size(input_shape, len(input_shape) - 1, self.in_features, "input features")
        return (*input_shape[:-1], self.num_centers)

    def build(
        self, rng: np.random.Generator, input_shape: Shape, dtype: np.dtype
    ) -> tuple[Params, State]:
        centers = initializers.normal(rng, (self.num_centers, self.in_features), dtype)
        return {"centers": centers, "log_sigma": np.zeros((self.num_centers,), dtype)}, {}

    def call(self, params: Params, x: Any) -> Any:
        shape = tuple(np.shape(x))
        rows = ops.reshape(x, (math.prod(shape[:-1]), shape[-1]))  # rbf_kernel takes [N, D]
        gamma = ops.exp(ops.multiply(params["log_sigma"], -2.0))
        out = ops.rbf_kernel(rows, params["centers"], gamma)
        return ops.reshape(out, (*shape[:-1], self.num_centers))

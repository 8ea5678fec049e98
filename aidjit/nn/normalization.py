"""Normalisation layers: BatchNorm1d, BatchNorm2d (running statistics as state), LayerNorm,
GroupNorm. Affine parameters are `weight` (initialised to ones) and `bias` (zeros), torch's."""

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from aidjit.autodiff import ops  # aidjit.ops, where it is defined (see tests/test_imports.py)
from aidjit.errors import ArgumentValueError
from aidjit.nn.module import Layer, Params, Shape, State


def _affine(size: Shape, dtype: np.dtype) -> Params:
    return {"weight": np.ones(size, dtype), "bias": np.zeros(size, dtype)}


class _BatchNorm(Layer):
    """Batch normalisation over axis 1 (torch.nn.BatchNorm*d, track_running_stats=True).

    State: `running_mean` (zeros) and `running_var` (ones), [num_features]. Inference
    normalises with them; training (`apply(..., training=True)`) normalises with the batch's
    mean and biased variance and returns the updated statistics as the new state, torch's
    update: running = (1 - momentum) * running + momentum * batch, the variance there unbiased
    (n / (n - 1)). Parameters (affine=True): `weight` ones, `bias` zeros, [num_features].
    """

    ranks: tuple[int, ...] = ()
    layout = ""

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float = 0.1,
        affine: bool = True,
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        if not 0.0 <= momentum <= 1.0:
            raise self.error(ArgumentValueError, f"momentum must lie in [0, 1], got {momentum}")
        self.num_features, self.eps, self.momentum, self.affine = (
            num_features,
            eps,
            momentum,
            affine,
        )

    def output_shape(self, input_shape: Shape) -> Shape:
        self.expect_rank(input_shape, self.ranks, self.layout)
        self.expect_size(input_shape, 1, self.num_features, "features")
        return input_shape

    def build(
        self, rng: np.random.Generator, input_shape: Shape, dtype: np.dtype
    ) -> tuple[Params, State]:
        size = (self.num_features,)
        state = {"running_mean": np.zeros(size, dtype), "running_var": np.ones(size, dtype)}
        return (_affine(size, dtype) if self.affine else {}), state

    def forward(
        self, params: Params, state: State, x: Any, training: bool, key: Any
    ) -> tuple[Any, State]:
        arguments = (x, params.get("weight"), params.get("bias"))
        statistics = (state["running_mean"], state["running_var"])
        if not training:
            return ops.batch_norm(*arguments, *statistics, eps=self.eps), state
        y, mean, var = ops.batch_norm(
            *arguments, *statistics, training=True, momentum=self.momentum, eps=self.eps
        )
        return y, {"running_mean": mean, "running_var": var}


class BatchNorm1d(_BatchNorm):
    """`BatchNorm1d(num_features, eps=1e-5, momentum=0.1, affine=True)`: torch.nn.BatchNorm1d
    on [N, C] or [N, C, L]; statistics over every axis but C (state and training: `_BatchNorm`)."""

    ranks = (2, 3)
    layout = "[N, C] or [N, C, L]"


class BatchNorm2d(_BatchNorm):
    """`BatchNorm2d(num_features, eps=1e-5, momentum=0.1, affine=True)`: torch.nn.BatchNorm2d
    on [N, C, H, W]; statistics over N, H and W (state and training: `_BatchNorm`)."""

    ranks = (4,)
    layout = "[N, C, H, W]"


class LayerNorm(Layer):
    """`LayerNorm(normalized_shape, eps=1e-5, elementwise_affine=True)`: torch.nn.LayerNorm,
    each sample normalised over its last len(normalized_shape) axes (biased variance), then
    `* weight + bias` with `weight` (ones) and `bias` (zeros) of shape normalized_shape."""

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else normalized_shape
        self.normalized_shape: Shape = tuple(int(size) for size in shape)
        self.eps, self.affine = eps, elementwise_affine

    def output_shape(self, input_shape: Shape) -> Shape:
        count = len(self.normalized_shape)
        layout = f"[..., {', '.join(map(str, self.normalized_shape))}]"
        self.expect_min_rank(input_shape, count, layout)
        for axis in range(-count, 0):
            self.expect_size(
                input_shape, len(input_shape) + axis, self.normalized_shape[axis], "values"
            )
        return input_shape

    def build(
        self, rng: np.random.Generator, input_shape: Shape, dtype: np.dtype
    ) -> tuple[Params, State]:
        return (_affine(self.normalized_shape, dtype) if self.affine else {}), {}

    def call(self, params: Params, x: Any) -> Any:
        shape = tuple(np.shape(x))
        count = len(self.normalized_shape)
        if count == 1:  # ops.layer_norm normalises one axis: fold several into one
            return ops.layer_norm(x, params.get("weight"), params.get("bias"), -1, self.eps)
        folded = ops.reshape(x, (*shape[:-count], math.prod(self.normalized_shape)))
        y = ops.reshape(ops.layer_norm(folded, axis=-1, eps=self.eps), shape)
        return ops.add(ops.multiply(y, params["weight"]), params["bias"]) if self.affine else y


class GroupNorm(Layer):
    """`GroupNorm(num_groups, num_channels, eps=1e-5, affine=True)`: torch.nn.GroupNorm on
    [N, C, ...], the channels split into num_groups groups each normalised over its channels
    and the trailing axes; `weight` (ones) and `bias` (zeros) per channel."""

    def __init__(
        self,
        num_groups: int,
        num_channels: int,
        eps: float = 1e-5,
        affine: bool = True,
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        if num_groups < 1 or num_channels % num_groups:
            raise self.error(
                ArgumentValueError,
                f"num_groups={num_groups} must divide num_channels={num_channels}",
            )
        self.num_groups, self.num_channels, self.eps, self.affine = (
            num_groups,
            num_channels,
            eps,
            affine,
        )

    def output_shape(self, input_shape: Shape) -> Shape:
        self.expect_min_rank(input_shape, 2, "[N, C, ...]")
        self.expect_size(input_shape, 1, self.num_channels, "channels")
        return input_shape

    def build(
        self, rng: np.random.Generator, input_shape: Shape, dtype: np.dtype
    ) -> tuple[Params, State]:
        return (_affine((self.num_channels,), dtype) if self.affine else {}), {}

    def call(self, params: Params, x: Any) -> Any:
        return ops.group_norm(
            x, self.num_groups, params.get("weight"), params.get("bias"), self.eps
        )

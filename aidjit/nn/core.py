"""Core layers: Dense, Embedding, Dropout, Flatten, Reshape."""

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from aidjit.autodiff import ops  # aidjit.ops, where it is defined (see tests/test_imports.py)
from aidjit.errors import ArgumentValueError, ShapeError
from aidjit.nn import initializers
from aidjit.nn.module import Layer, Params, Shape, State


class Dense(Layer):
    """`Dense(in_features, out_features, bias=True)`: `y = x @ weight + bias` on the last axis
    of an input of any rank >= 1 (torch.nn.Linear).

    Parameters: `weight` [in_features, out_features] (the transpose of torch's layout, so the
    product needs no transpose), `bias` [out_features]. Initialised as torch's Linear, in this
    order: weight kaiming_uniform(a=sqrt(5)), i.e. U(-1/sqrt(in), 1/sqrt(in)); bias
    U(-1/sqrt(in), 1/sqrt(in)).
    """

    def __init__(
        self, in_features: int, out_features: int, bias: bool = True, name: str | None = None
    ) -> None:
        super().__init__(name)
        self.in_features, self.out_features, self.use_bias = in_features, out_features, bias

    def output_shape(self, input_shape: Shape) -> Shape:
        self.expect_min_rank(input_shape, 1, "[..., features]")
        self.expect_size(input_shape, len(input_shape) - 1, self.in_features, "input features")
        return (*input_shape[:-1], self.out_features)

    def build(
        self, rng: np.random.Generator, input_shape: Shape, dtype: np.dtype
    ) -> tuple[Params, State]:
        fan_in = self.in_features
        params = {
            "weight": initializers.kaiming_uniform(
                rng, (self.in_features, self.out_features), fan_in, dtype
            )
        }
        if self.use_bias:
            params["bias"] = initializers.bias_uniform(rng, (self.out_features,), fan_in, dtype)
        return params, {}

    def call(self, params: Params, x: Any) -> Any:
        y = ops.matmul(x, params["weight"]) if np.ndim(x) == 2 else _last_axis_matmul(x, params)
        return ops.add(y, params["bias"]) if self.use_bias else y


def _last_axis_matmul(x: Any, params: Params) -> Any:
    """x @ weight for an x of any rank: ops.matmul takes 2-D and 3-D @ 2-D, so fold the
    leading axes into one and unfold them after."""
    shape = np.shape(x)
    weight = params["weight"]
    flat = ops.reshape(x, (math.prod(shape[:-1]), shape[-1]))
    return ops.reshape(ops.matmul(flat, weight), (*shape[:-1], np.shape(weight)[1]))


class Embedding(Layer):
    """`Embedding(num_embeddings, embedding_dim)`: rows of `weight` [num_embeddings,
    embedding_dim] at int64 indices of any shape; the result has shape indices.shape +
    (embedding_dim,). `weight` is initialised N(0, 1), torch.nn.Embedding's default."""

    def __init__(self, num_embeddings: int, embedding_dim: int, name: str | None = None) -> None:
        super().__init__(name)
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim

    def output_shape(self, input_shape: Shape) -> Shape:
        return (*input_shape, self.embedding_dim)

    def build(
        self, rng: np.random.Generator, input_shape: Shape, dtype: np.dtype
    ) -> tuple[Params, State]:
        shape = (self.num_embeddings, self.embedding_dim)
        return {"weight": initializers.normal(rng, shape, dtype)}, {}

    def call(self, params: Params, x: Any) -> Any:
        return ops.embedding(x, params["weight"])


class Dropout(Layer):
    """`Dropout(rate)`: in training, zero each element with probability `rate` and scale the
    others by 1 / (1 - rate) (torch's inverted dropout), with the mask drawn from the `key`
    given to `apply`; the identity in inference. No parameters."""

    def __init__(self, rate: float = 0.5, name: str | None = None) -> None:
        super().__init__(name)
        if not 0.0 <= rate <= 1.0:
            raise self.error(ArgumentValueError, f"rate must lie in [0, 1], got {rate}")
        self.rate = float(rate)

    def output_shape(self, input_shape: Shape) -> Shape:
        return input_shape

    def forward(
        self, params: Params, state: State, x: Any, training: bool, key: Any
    ) -> tuple[Any, State]:
        if training and self.rate > 0.0 and key is None:
            raise self.error(
                ArgumentValueError,
                f"training with rate {self.rate} draws a mask and needs a key: "
                "apply(params, state, x, training=True, key=aidjit.random.key(seed))",
            )
        return ops.dropout(x, self.rate, key, training), state


class Flatten(Layer):
    """`Flatten(start_axis=1, end_axis=-1)`: axes start_axis..end_axis merged into one
    (torch.nn.Flatten; the batch axis 0 kept by default)."""

    def __init__(self, start_axis: int = 1, end_axis: int = -1, name: str | None = None) -> None:
        super().__init__(name)
        self.start_axis, self.end_axis = start_axis, end_axis

    def output_shape(self, input_shape: Shape) -> Shape:
        rank = len(input_shape)
        start, end = self.start_axis, self.end_axis
        if not (-rank <= start < rank and -rank <= end < rank) or start % rank > end % rank:
            raise self.error(
                ShapeError, f"cannot flatten axes {start}..{end} of shape {input_shape}"
            )
        start, end = start % rank, end % rank
        merged = math.prod(input_shape[start : end + 1])
        return (*input_shape[:start], merged, *input_shape[end + 1 :])

    def call(self, params: Params, x: Any) -> Any:
        return ops.reshape(x, self.output_shape(tuple(np.shape(x))))


class Reshape(Layer):
    """`Reshape(shape)`: each sample reshaped to `shape` (one entry may be -1), the batch axis
    kept: `[N, ...] -> [N, *shape]` (Keras' Reshape, torch's Unflatten of the whole sample)."""

    def __init__(self, shape: Sequence[int], name: str | None = None) -> None:
        super().__init__(name)
        self.shape = tuple(int(size) for size in shape)
        if self.shape.count(-1) > 1 or any(size < -1 for size in self.shape):
            raise self.error(
                ArgumentValueError, f"shape takes sizes and at most one -1, got {self.shape}"
            )

    def output_shape(self, input_shape: Shape) -> Shape:
        self.expect_min_rank(input_shape, 1, "[N, ...]")
        count = math.prod(input_shape[1:])
        known = math.prod(size for size in self.shape if size != -1)
        shape = tuple(count // known if size == -1 and known else size for size in self.shape)
        if math.prod(shape) != count:
            raise self.error(
                ShapeError,
                f"cannot reshape samples of shape {input_shape[1:]} "
                f"({count} values) to {self.shape}",
            )
        return (input_shape[0], *shape)

    def call(self, params: Params, x: Any) -> Any:
        return ops.reshape(x, self.output_shape(tuple(np.shape(x))))

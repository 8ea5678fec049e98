"""Attention layers: MultiHeadAttention (torch.nn.MultiheadAttention, batch_first=True)."""

import math
from typing import Any

import numpy as np

from aidjit.autodiff import ops  # aidjit.ops, where it is defined (see tests/test_imports.py)
from aidjit.errors import ArgumentValueError, ShapeError
from aidjit.nn import initializers
from aidjit.nn.module import InputShape, Layer, Params, Shape, State

ATTENTION_INPUTS = ("query", "key", "value", "key_padding_mask", "attn_mask")
"""The inputs MultiHeadAttention takes by name (a dict input), torch's argument names."""


class MultiHeadAttention(Layer):
    """`MultiHeadAttention(embed_dim, num_heads, dropout=0.0, bias=True, kdim=None,
    vdim=None)`: torch.nn.MultiheadAttention with batch_first=True, returning the attention
    output [N, L, embed_dim] (not the weights).

    Inputs: an array x [N, L, E] (self-attention: query = key = value = x); a tuple
    (query, key, value); or a dict with "query" and any of "key" (default: the query),
    "value" (default: the key), "key_padding_mask" [N, S] and "attn_mask" [L, S] or
    [N * num_heads, L, S]. query [N, L, embed_dim], key [N, S, kdim], value [N, S, vdim].
    Masks as torch's: a bool or int64 mask marks with True (nonzero) the keys a query may
    not attend to (-inf before the softmax: a query with every key masked gives NaN, as in
    torch); a float mask is added to the scores. Bool arrays are not jit arguments: pass
    int64 masks to a compiled function.

    Per head h (head_dim = embed_dim / num_heads): softmax(q_h k_hᵀ / sqrt(head_dim) + mask)
    v_h, with q = query @ query.weight + query.bias (k, v alike); the heads side by side go
    through `out`. In training, dropout with probability `dropout` zeroes attention weights
    (after the softmax, torch's place), drawn from the `key` given to `apply`.

    Parameters: `query`, `key`, `value`, `out`, each {"weight" [in, embed_dim], "bias"
    [embed_dim]} (torch's in_proj_weight split in three and transposed, as Dense stores it).
    Initialised as torch's, in this order: the q, k, v weights xavier_uniform with the fans
    of torch's matrix (in_proj_weight [3 * embed_dim, embed_dim] when kdim = vdim = embed_dim,
    else each projection's own), the out weight kaiming_uniform(a=√5) (torch's Linear:
    U(±1/sqrt(embed_dim))), every bias zeros.
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        kdim: int | None = None,
        vdim: int | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        if num_heads < 1 or embed_dim % num_heads:
            raise self.error(
                ArgumentValueError,
                f"num_heads={num_heads} must divide embed_dim={embed_dim}",
            )
        if not 0.0 <= dropout <= 1.0:
            raise self.error(ArgumentValueError, f"dropout must lie in [0, 1], got {dropout}")
        self.embed_dim, self.num_heads, self.dropout = embed_dim, num_heads, float(dropout)
        self.head_dim = embed_dim // num_heads
        self.kdim = embed_dim if kdim is None else kdim
        self.vdim = embed_dim if vdim is None else vdim
        self.use_bias = bias

    def inputs(self, x: Any) -> dict[str, Any]:
        """x (arrays, or their shapes) as a dict of named inputs, key and value filled in."""
        if isinstance(x, dict):
            unknown = sorted(set(x) - set(ATTENTION_INPUTS))
            if unknown or "query" not in x:
                raise self.error(
                    ArgumentValueError,
                    f"a dict input has 'query' and any of {ATTENTION_INPUTS[1:]}, got keys "
                    f"{sorted(x)}",
                )
            named = dict(x)
        elif isinstance(x, tuple) and x and not isinstance(x[0], int):
            if len(x) != 3:
                raise self.error(
                    ArgumentValueError, f"a tuple input is (query, key, value), got {len(x)} items"
                )
            named = dict(zip(ATTENTION_INPUTS, x, strict=False))
        else:
            named = {"query": x}
        named.setdefault("key", named["query"])
        named.setdefault("value", named["key"])
        return named

    def output_shape(self, input_shape: InputShape) -> Shape:
        shapes = self.inputs(input_shape)
        for what, size in (("query", self.embed_dim), ("key", self.kdim), ("value", self.vdim)):
            self.expect_rank(shapes[what], 3, f"[N, L, E] for the {what}")
            self.expect_size(shapes[what], 2, size, f"{what} features")
        (n, length, _), key, value = shapes["query"], shapes["key"], shapes["value"]
        if key[:2] != value[:2] or key[0] != n:
            raise self.error(
                ShapeError,
                f"query {shapes['query']}, key {key} and value {value} must share the batch "
                "size, and key and value the length",
            )
        allowed = {
            "key_padding_mask": ((n, key[1]),),
            "attn_mask": ((length, key[1]), (n * self.num_heads, length, key[1])),
        }
        for what, shapes_allowed in allowed.items():
            if what in shapes and shapes[what] not in shapes_allowed:
                listed = " or ".join(str(list(shape)) for shape in shapes_allowed)
                raise self.error(ShapeError, f"{what} must be {listed}, got shape {shapes[what]}")
        return (n, length, self.embed_dim)

    def build(
        self, rng: np.random.Generator, input_shape: InputShape, dtype: np.dtype
    ) -> tuple[Params, State]:
        sizes = {"query": self.embed_dim, "key": self.kdim, "value": self.vdim}
        joint = self.kdim == self.vdim == self.embed_dim  # torch's one in_proj_weight
        fan_out = 3 * self.embed_dim if joint else self.embed_dim
        params: Params = {
            what: {
                "weight": initializers.xavier_uniform(
                    rng, (size, self.embed_dim), size, fan_out, dtype
                )
            }
            for what, size in sizes.items()
        }
        params["out"] = {
            "weight": initializers.kaiming_uniform(
                rng, (self.embed_dim, self.embed_dim), self.embed_dim, dtype
            )
        }
        if self.use_bias:
            for projection in params.values():
                projection["bias"] = np.zeros((self.embed_dim,), dtype)
        return params, {}

    def forward(
        self, params: Params, state: State, x: Any, training: bool, key: Any
    ) -> tuple[Any, State]:
        named = self.inputs(x)
        dropping = training and self.dropout > 0.0
        if dropping and key is None:
            raise self.error(
                ArgumentValueError,
                f"training with dropout {self.dropout} draws a mask and needs a key: "
                "apply(params, state, x, training=True, key=aidjit.random.key(seed))",
            )
        n, length, _ = np.shape(named["query"])
        keys = np.shape(named["key"])[1]
        heads = self.num_heads
        q, k, v = (
            self._heads(self._project(params[what], named[what]))
            for what in ("query", "key", "value")
        )
        scores = ops.matmul(
            ops.multiply(q, 1.0 / math.sqrt(self.head_dim)), ops.transpose(k, (0, 2, 1))
        )
        scores = ops.reshape(scores, (n, heads, length, keys))
        if "key_padding_mask" in named:
            padding = ops.reshape(_as_index(named["key_padding_mask"]), (n, 1, 1, keys))
            scores = _masked(scores, padding)
        if "attn_mask" in named:
            mask = _as_index(named["attn_mask"])
            if np.ndim(mask) == 3:  # [N * num_heads, L, S]: one mask per batch entry and head
                mask = ops.reshape(mask, (n, heads, length, keys))
            scores = _masked(scores, mask)
        weights = ops.reshape(ops.softmax(scores, axis=-1), (n * heads, length, keys))
        if dropping:
            weights = ops.dropout(weights, self.dropout, key)
        out = ops.reshape(ops.matmul(weights, v), (n, heads, length, self.head_dim))
        out = ops.reshape(ops.transpose(out, (0, 2, 1, 3)), (n, length, self.embed_dim))
        return self._project(params["out"], out), state

    def _project(self, params: Params, x: Any) -> Any:
        y = ops.matmul(x, params["weight"])
        return ops.add(y, params["bias"]) if self.use_bias else y

    def _heads(self, x: Any) -> Any:
        """[N, L, embed_dim] -> [N * num_heads, L, head_dim]: one batch entry per head."""
        n, length, _ = np.shape(x)
        split = ops.reshape(x, (n, length, self.num_heads, self.head_dim))
        return ops.reshape(
            ops.transpose(split, (0, 2, 1, 3)), (n * self.num_heads, length, self.head_dim)
        )


def _as_index(mask: Any) -> Any:
    """A bool mask as int64 (tensors are float or int64); float and int64 ones unchanged."""
    if not hasattr(mask, "dtype"):
        mask = np.asarray(mask)
    return np.asarray(mask, np.int64) if mask.dtype == np.bool_ else mask


def _masked(scores: Any, mask: Any) -> Any:
    """torch's masking of attention scores: a float mask is added; an int64 (bool) one puts
    -inf where it is nonzero, so those keys get zero weight after the softmax."""
    if np.dtype(mask.dtype).kind == "f":
        return ops.add(scores, mask)
    return ops.where(mask, -np.inf, scores)

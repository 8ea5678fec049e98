"""Gather and scatter: integer-indexed reads (`take`, `take_along_axis`, `gather`,
`embedding`) and the scatter-add that is their gradient.

Two primitives carry the family, each the other's transpose, so gradients of any order stay
in it:

- `gather(x, indices, axis)`: numpy's `take_along_axis` — `indices` has x's rank, the result
  is their broadcast with the axis taken from `indices`, and `out[..., i, ...] =
  x[..., indices[..., i, ...], ...]`. Negative indices count from the end, as in numpy.
- `scatter_add(updates, indices, axis, shape)`: zeros of `shape`, then for every element of
  `updates` in row-major order, `out[..., indices[...], ...] += updates[...]`; a size-1 dim
  of `shape` where `updates` is longer sums over that dim (the transpose of a gather that
  broadcast x). Repeated indices accumulate.

The public functions are composites of them: `take` (numpy) is a gather of x seen as
(before, axis, after) with the indices flattened to (1, K, 1), then reshaped back — views
only; `gather` (torch) slices x to the extent of the indices first; `embedding` (torch) is
`take(weight, input, axis=0)`.

Indices are int64. A computed index flows through as `ops.astype(float_index, np.int64)`
(truncating toward zero, like C) and then into any of these ops. Out-of-range indices: eager
calls raise IndexError naming the op and the index; a compiled call checks every argument
that reaches an index operand (`Precondition`) and raises `ArgumentValueError`; an index the
compiled code computes itself cannot be checked: under mode "raise" a negative one still
counts from the end and the rest are clamped to the axis, so memory is never read out of
bounds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from aidjit.autodiff.ops.core import broadcast_to, reshape, strided_slice
from aidjit.autodiff.primitives import (
    INDEX_DTYPE,
    Family,
    Precondition,
    Primitive,
    Spec,
    normalize_axes,
    register,
    require_float,
)
from aidjit.autodiff.tensor import Tensor, apply, to_tensors
from aidjit.errors import DTypeError, ShapeError

__all__ = ["embedding", "gather", "take", "take_along_axis"]

MODES = ("raise", "wrap", "clip")
"""numpy's index modes: "raise" (negative indices from the end, others an error), "wrap"
(modulo the axis) and "clip" (to the first or last element, negative ones included)."""


# ----- index checks and modes ------------------------------------------------------------------


def index_problem(indices: np.ndarray, size: int, mode: str) -> str | None:
    """What is wrong with int `indices` for an axis of `size` under `mode`, or None."""
    if indices.size == 0 or indices.dtype.kind != "i":
        return None
    if size == 0:
        return f"cannot take {indices.size} elements from an empty axis"
    if mode != "raise":
        return None
    low, high = int(indices.min()), int(indices.max())
    bad = low if low < -size else high if high >= size else None
    if bad is None:
        return None
    return f"index {bad} is out of bounds for an axis of size {size} (valid: {-size} to {size - 1})"


def resolve_indices(op: str, indices: np.ndarray, size: int, mode: str) -> np.ndarray:
    """The non-negative positions `indices` address under `mode`; IndexError naming `op`."""
    problem = index_problem(indices, size, mode)
    if problem:
        raise IndexError(f"{op}: {problem}")
    if mode == "clip":
        return np.clip(indices, 0, max(size - 1, 0))
    return np.mod(indices, size) if size else indices


def _checked_by(op: str, size: Callable[[Mapping[str, Any]], int]) -> Precondition:
    """The index range as the precondition of primitive `op` (operand 1), its message naming
    the op, which the public functions above it share."""

    def check(values: np.ndarray, params: Mapping[str, Any]) -> str | None:
        problem = index_problem(values, size(params), params["mode"])
        return f"{op}: {problem}" if problem else None

    return Precondition(1, check)


# ----- shape rules ---------------------------------------------------------------------------


def _check_operands(op: str, data: Spec, indices: Spec, axis: int, mode: str) -> None:
    require_float(op, data)
    if indices.dtype != INDEX_DTYPE:
        raise DTypeError(f"{op}: indices must be int64, got {indices}")
    if len(indices.shape) != len(data.shape):
        raise ShapeError(f"{op}: indices {indices} must have the rank of {data}")
    if not 0 <= axis < len(data.shape):
        raise ShapeError(f"{op}: axis {axis} is out of range for {data}")
    if mode not in MODES:
        raise ShapeError(f"{op}: mode must be one of {', '.join(MODES)}, got {mode!r}")


def _gather_rule(x: Spec, indices: Spec, *, axis: int, size: int, mode: str) -> Spec:
    _check_operands("gather", x, indices, axis, mode)
    if size != x.shape[axis]:
        raise ShapeError(f"gather: size {size} is not axis {axis} of {x}")
    shape = []
    for d, (a, b) in enumerate(zip(x.shape, indices.shape, strict=True)):
        if d != axis and a != b and a != 1 and b != 1:
            raise ShapeError(
                f"gather: {x} and indices {indices} cannot be broadcast together "
                f"(except along axis {axis})"
            )
        shape.append(b if d == axis or a == 1 else a)
    if size == 0 and math.prod(shape):
        raise ShapeError(f"gather: cannot take elements from the empty axis {axis} of {x}")
    return Spec(tuple(shape), x.dtype)


def _scatter_rule(
    updates: Spec, indices: Spec, *, axis: int, shape: tuple[int, ...], mode: str
) -> Spec:
    _check_operands("scatter_add", updates, indices, axis, mode)
    out = Spec(tuple(shape), updates.dtype)
    if len(shape) != len(updates.shape):
        raise ShapeError(
            f"scatter_add: result shape {tuple(shape)} must have the rank of {updates}"
        )
    for d, (u, i, s) in enumerate(zip(updates.shape, indices.shape, shape, strict=True)):
        fits_index = i == u or (d != axis and i == 1)
        fits_out = d == axis or s in (u, 1)
        if not (fits_index and fits_out):
            raise ShapeError(
                f"scatter_add: updates {updates}, indices {indices} and result {out} do not "
                f"match in dim {d} (axis {axis})"
            )
    if shape[axis] == 0 and math.prod(updates.shape):
        raise ShapeError(f"scatter_add: cannot add {updates} into the empty axis {axis} of {out}")
    return out


# ----- forwards --------------------------------------------------------------------------------


def _positions(
    indices: np.ndarray, shape: tuple[int, ...], out: tuple[int, ...], axis: int, size: int
) -> tuple[np.ndarray, ...]:
    """The index arrays (numpy advanced indexing) reaching, for every element of a result
    of shape `out`, the element of an array of `shape` that it gathers from or adds into:
    along `axis` the resolved index, elsewhere its own position (0 in a broadcast dim)."""
    grids = np.indices(out, sparse=True)
    return tuple(
        np.broadcast_to(indices, out) if d == axis else grid if shape[d] != 1 else 0 * grid
        for d, grid in enumerate(grids)
    )


def _gather_impl(x: np.ndarray, indices: np.ndarray, axis: int, size: int, mode: str) -> np.ndarray:
    out = _gather_rule(
        Spec(x.shape, x.dtype), Spec(indices.shape, indices.dtype), axis=axis, size=size, mode=mode
    ).shape
    resolved = resolve_indices("gather", indices, size, mode)
    return x[_positions(resolved, x.shape, out, axis, size)]


def _scatter_impl(
    updates: np.ndarray, indices: np.ndarray, axis: int, shape: tuple[int, ...], mode: str
) -> np.ndarray:
    out = np.zeros(shape, updates.dtype)
    resolved = resolve_indices("scatter_add", indices, shape[axis], mode)
    # np.add.at is unbuffered: repeated positions accumulate, in row-major order of updates.
    np.add.at(out, _positions(resolved, tuple(shape), updates.shape, axis, shape[axis]), updates)
    return out


# ----- the primitives ----------------------------------------------------------------------------


def _gather_vjp(
    g: Tensor, xs: Sequence[Tensor], out: Tensor, *, axis: int, size: int, mode: str
) -> Any:
    x, indices = xs
    return (lambda: scatter_add(g, indices, axis, x.shape, mode), None)


def _scatter_vjp(
    g: Tensor, xs: Sequence[Tensor], out: Tensor, *, axis: int, shape: tuple[int, ...], mode: str
) -> Any:
    updates, indices = xs
    return (lambda: broadcast_to(_gather(g, indices, axis, mode), updates.shape), None)


gather_p = register(
    Primitive(
        "gather",
        Family.INDEXING,
        _gather_impl,
        _gather_rule,
        _gather_vjp,
        params=("axis", "size", "mode"),
        doc="numpy's take_along_axis: x[..., indices[..., i, ...], ...] along `axis`",
        # `size` is x.shape[axis], a parameter so that this check can read it.
        precondition=_checked_by(
            "gather (take, take_along_axis, gather, embedding)", lambda p: p["size"]
        ),
    )
)
scatter_add_p = register(
    Primitive(
        "scatter_add",
        Family.INDEXING,
        _scatter_impl,
        _scatter_rule,
        _scatter_vjp,
        params=("axis", "shape", "mode"),
        doc="zeros of `shape`, then out[..., indices[...], ...] += updates[...] (gather's vjp)",
        precondition=_checked_by("scatter_add", lambda p: p["shape"][p["axis"]]),
    )
)


def _check_mode(op: str, mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"{op}: mode must be one of {', '.join(MODES)}, got {mode!r}")
    return mode


def _check_concrete(op: str, indices: Tensor, size: int, mode: str) -> None:
    """The eager error under the name the user called, before any primitive runs."""
    if not indices.is_symbolic and indices.dtype == INDEX_DTYPE:
        problem = index_problem(indices.numpy(), size, mode)
        if problem:
            raise IndexError(f"{op}: {problem}")


def _gather(x: Tensor, indices: Tensor, axis: int, mode: str) -> Tensor:
    return apply(gather_p, x, indices, axis=axis, size=x.shape[axis], mode=mode)


def scatter_add(
    updates: Any, indices: Any, axis: int, shape: Sequence[int], mode: str = "raise"
) -> Tensor:
    """Zeros of `shape` with each element of `updates` added at its index along `axis` (the
    gradient of `take_along_axis`; repeated indices accumulate)."""
    updates, indices = to_tensors([updates, indices])
    shape = tuple(int(d) for d in shape)
    return apply(scatter_add_p, updates, indices, axis=int(axis), shape=shape, mode=mode)


# ----- public functions: numpy and torch signatures ---------------------------------------------


def take_along_axis(arr: Any, indices: Any, axis: int | None) -> Tensor:
    """numpy.take_along_axis: `indices` (int64, arr's rank) broadcast against `arr` except
    along `axis`; axis=None reads the flattened `arr` with 1-D indices. One graph.gather."""
    x, idx = to_tensors([arr, indices])
    if axis is None:
        if idx.ndim != 1:
            raise ShapeError(f"take_along_axis: axis=None needs 1-D indices, got {idx.spec}")
        x, axis = reshape(x, (-1,)), 0
    (axis,) = normalize_axes("take_along_axis", axis, x.ndim)
    _check_concrete("take_along_axis", idx, x.shape[axis], "raise")
    return _gather(x, idx, axis, "raise")


def take(a: Any, indices: Any, axis: int | None = None, mode: str = "raise") -> Tensor:
    """numpy.take: the elements of `a` at int64 `indices` (any shape) along `axis` (None: of
    the flattened `a`); the result has shape a.shape[:axis] + indices.shape + a.shape[axis+1:].

    `mode`: "raise" (negative indices count from the end; others are an error: IndexError
    eagerly, ArgumentValueError from a compiled call), "wrap" or "clip", as in numpy. One
    graph.gather of `a` seen as (before, axis, after) with indices as (1, K, 1), reshapes
    (views) around it.
    """
    x, idx = to_tensors([a, indices])
    return _take("take", x, idx, axis, _check_mode("take", mode))


def _take(op: str, x: Tensor, idx: Tensor, axis: int | None, mode: str) -> Tensor:
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    (axis,) = normalize_axes(op, axis, x.ndim)
    before, size, after = math.prod(x.shape[:axis]), x.shape[axis], math.prod(x.shape[axis + 1 :])
    _check_concrete(op, idx, size, mode)
    count = math.prod(idx.shape)
    taken = _gather(reshape(x, (before, size, after)), reshape(idx, (1, count, 1)), 1, mode)
    return reshape(taken, (*x.shape[:axis], *idx.shape, *x.shape[axis + 1 :]))


def gather(x: Any, indices: Any, axis: int) -> Tensor:
    """torch.gather (dim = `axis`): out[i][j][k] = x[indices[i][j][k]][j][k] for axis 0.

    `indices` (int64) has x's rank and is no longer than x in any other dim; the result has
    its shape. x is first sliced to that extent (a view), then read by one graph.gather.
    """
    x, idx = to_tensors([x, indices])
    (axis,) = normalize_axes("gather", axis, x.ndim)
    if idx.ndim != x.ndim or any(
        i > s for d, (i, s) in enumerate(zip(idx.shape, x.shape, strict=True)) if d != axis
    ):
        raise ShapeError(
            f"gather: indices {idx.spec} must have the rank of x {x.spec} and be no larger "
            f"in any dim but {axis}"
        )
    _check_concrete("gather", idx, x.shape[axis], "raise")
    extent = tuple(i if d != axis else x.shape[d] for d, i in enumerate(idx.shape))
    if extent != x.shape:
        x = strided_slice(x, (0,) * x.ndim, extent)
    return _gather(x, idx, axis, "raise")


def embedding(input: Any, weight: Any) -> Tensor:  # noqa: A002 - torch's name
    """torch.nn.functional.embedding: rows of the 2-D `weight` at int64 `input` (any shape);
    the result has shape input.shape + (weight.shape[1],). `take(weight, input, axis=0)`:
    its gradient scatter-adds into the rows of `weight`."""
    table, idx = to_tensors([weight, input])
    if table.ndim != 2:
        raise ShapeError(f"embedding: weight must be 2-D, got {table.spec}")
    return _take("embedding", table, idx, 0, "raise")

"""Shape and data movement: ops that only move, copy or select elements.

One primitive, `concat`, whose graph op lowers to one `tensor.insert_slice` per operand into a
`tensor.empty` (no fill: the operands cover the result); its gradient is one slice per operand.
Everything else is a composite of existing graph ops, exact because it only moves elements:

- views and copies: `squeeze`, `expand_dims` (reshape), `flip`, `slice_axis`, `split`, `crop`
  (slice), `stack` (reshape + concat), `tile`, `repeat` (reshape + broadcast_to + reshape),
  `pixel_shuffle`, `pixel_unshuffle` (reshape + transpose + reshape);
- `pad`: numpy's pad. A constant is the `pad` primitive with its padding value; reflect, edge
  (torch's replicate), symmetric and wrap (torch's circular) are slices + concat;
- `upsample`: torch's interpolate. Nearest picks elements by torch's index rule (slices,
  broadcasts and concats, or reshape + broadcast for an integer factor), linear modes multiply
  by a constant interpolation matrix per spatial axis (matmul).

A list of static indices along an axis (`_take`) is the common tool: it becomes runs of
equally spaced indices, each one slice (a repeated index a slice broadcast), then one concat.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from itertools import pairwise
from typing import Any

import numpy as np

from aidjit.autodiff.ops.core import (
    broadcast_to,
    getitem,
    lax_pad,
    matmul,
    reshape,
    strided_slice,
    transpose,
)
from aidjit.autodiff.primitives import Family, Primitive, Spec, normalize_axes, register
from aidjit.autodiff.tensor import Tensor, apply, to_tensors
from aidjit.errors import DTypeError, ShapeError

__all__ = [
    "concat",
    "crop",
    "expand_dims",
    "flip",
    "pad",
    "pixel_shuffle",
    "pixel_unshuffle",
    "repeat",
    "slice_axis",
    "split",
    "squeeze",
    "stack",
    "tile",
    "upsample",
]


def _axis(op: str, axis: int, rank: int) -> int:
    """One axis, negative from the end, checked against `rank`."""
    (normalized,) = normalize_axes(op, int(axis), rank)
    return normalized


def _specs(tensors: Sequence[Tensor]) -> str:
    return ", ".join(str(t.spec) for t in tensors)


# ----- concat: the primitive ----------------------------------------------------------------------


def _concat_rule(*xs: Spec, axis: int) -> Spec:
    if not xs:
        raise ShapeError("concat: needs at least one tensor")
    first = xs[0]
    rank = len(first.shape)
    if not 0 <= axis < rank:
        raise ShapeError(f"concat: axis {axis} is out of range for {first}")
    for x in xs[1:]:
        if x.dtype != first.dtype:
            raise DTypeError(f"concat: operand dtypes differ: {first} and {x}")
        others = [
            (a, b) for k, (a, b) in enumerate(zip(first.shape, x.shape, strict=False)) if k != axis
        ]
        if len(x.shape) != rank or any(a != b for a, b in others):
            raise ShapeError(f"concat: {first} and {x} differ off axis {axis}")
    size = sum(x.shape[axis] for x in xs)
    return Spec((*first.shape[:axis], size, *first.shape[axis + 1 :]), first.dtype)


def _concat_vjp(g: Tensor, xs: Sequence[Tensor], out: Tensor, *, axis: int) -> Any:
    def piece(start: int, size: int) -> Callable[[], Tensor]:
        return lambda: slice_axis(g, start, start + size, axis=axis)

    sizes = [x.shape[axis] for x in xs]
    starts = np.cumsum([0, *sizes[:-1]]).tolist()
    return tuple(piece(start, size) for start, size in zip(starts, sizes, strict=True))


concat_p = register(
    Primitive(
        "concat",
        Family.CONCAT,
        lambda *xs, axis: np.concatenate(xs, axis=axis),
        _concat_rule,
        _concat_vjp,
        params=("axis",),
        doc="operands joined along `axis`; the other axes must agree; the gradient is slices",
    )
)


def concat(tensors: Sequence[Any], axis: int | None = 0) -> Tensor:
    """numpy's `concat` (`concatenate`): the tensors joined along an existing `axis` (negative
    from the end; None flattens them first). One `graph.concat`; the gradient slices it."""
    inputs = to_tensors(list(tensors))
    if not inputs:
        raise ShapeError("concat: needs at least one tensor")
    if axis is None:
        inputs = tuple(reshape(t, (-1,)) for t in inputs)
        axis = 0
    if inputs[0].ndim == 0:
        raise ShapeError(
            f"concat: zero-dimensional tensors cannot be concatenated: {_specs(inputs)}"
        )
    axis = _axis("concat", axis, inputs[0].ndim)
    if len(inputs) == 1:
        return inputs[0]
    return apply(concat_p, *inputs, axis=axis)


def stack(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """numpy's `stack`: tensors of one shape joined along a new `axis` (expand_dims + concat)."""
    inputs = to_tensors(list(tensors))
    if not inputs:
        raise ShapeError("stack: needs at least one tensor")
    if len({t.shape for t in inputs}) > 1:
        raise ShapeError(f"stack: all tensors must have the same shape, got {_specs(inputs)}")
    axis = _axis("stack", axis, inputs[0].ndim + 1)
    return concat([expand_dims(t, axis) for t in inputs], axis=axis)


# ----- selecting along one axis -------------------------------------------------------------------


def slice_axis(
    x: Any, start: int | None, stop: int | None, step: int | None = 1, axis: int = 0
) -> Tensor:
    """`x[start:stop:step]` along `axis` (Python's slice rules: negative from the end, bounds
    clamped, None for the default), the other axes whole: one `graph.slice`, or none when it
    takes everything. Handy where the axis is a variable; `x[:, a:b]` is the same op."""
    (tensor,) = to_tensors([x])
    if tensor.ndim == 0:
        raise ShapeError(
            f"slice_axis: a zero-dimensional tensor has no axis to slice: {tensor.spec}"
        )
    if step == 0:
        raise ShapeError(f"slice_axis: step must not be zero (axis {axis} of {tensor.spec})")
    axis = _axis("slice_axis", axis, tensor.ndim)
    return getitem(tensor, (slice(None),) * axis + (slice(start, stop, step),))


def split(x: Any, indices_or_sections: int | Sequence[int], axis: int = 0) -> list[Tensor]:
    """numpy's `split`: `indices_or_sections` equal parts (which must divide the axis), or the
    parts between the given indices (sliced as `x[a:b]`, so clamped). A list of slices."""
    (tensor,) = to_tensors([x])
    if tensor.ndim == 0:
        raise ShapeError(f"split: a zero-dimensional tensor has no axis to split: {tensor.spec}")
    axis = _axis("split", axis, tensor.ndim)
    size = tensor.shape[axis]
    if isinstance(indices_or_sections, int | np.integer):
        sections = int(indices_or_sections)
        if sections <= 0 or size % sections:
            raise ShapeError(
                f"split: axis {axis} of {tensor.spec} does not split into {sections} equal parts"
            )
        bounds = [k * size // sections for k in range(sections + 1)]
    else:
        bounds = [0, *(int(i) for i in indices_or_sections), size]
    return [slice_axis(tensor, start, stop, axis=axis) for start, stop in pairwise(bounds)]


def _runs(indices: Sequence[int]) -> list[tuple[int, int, int]]:
    """`indices` as maximal runs (first, step, count) of equally spaced indices, in order."""
    runs = []
    at = 0
    while at < len(indices):
        step = indices[at + 1] - indices[at] if at + 1 < len(indices) else 1
        count = 1
        while at + count < len(indices) and indices[at + count] - indices[at + count - 1] == step:
            count += 1
        runs.append((indices[at], step if count > 1 else 1, count))
        at += count
    return runs


def _take(x: Tensor, axis: int, indices: Sequence[int]) -> Tensor:
    """`x` at the static `indices` along `axis` (numpy's `take` with constant indices).

    Each run of equally spaced indices is one slice (a repeated index, a unit slice broadcast),
    joined by one concat; each index repeated k times in order is `repeat`. Their gradients
    are pads and sums, so the backward pass compiles like the forward one.
    """
    indices = [int(i) for i in indices]
    size = x.shape[axis]
    if indices == list(range(size)):
        return x
    if size and indices and len(indices) % size == 0:
        times = len(indices) // size
        if indices == np.repeat(np.arange(size), times).tolist():
            return repeat(x, times, axis=axis)
    pieces = []
    for first, step, count in _runs(indices) or [(0, 1, 0)]:
        start = [0] * x.ndim
        start[axis] = first
        shape = list(x.shape)
        shape[axis] = 1 if step == 0 else count
        strides = [1] * x.ndim
        strides[axis] = step or 1
        piece = strided_slice(x, start, shape, strides)
        if step == 0:
            shape[axis] = count
            piece = broadcast_to(piece, shape)
        pieces.append(piece)
    return concat(pieces, axis=axis)


def flip(x: Any, axis: int | Sequence[int] | None = None) -> Tensor:
    """numpy's `flip`: the elements of `axis` (all axes for None) in reverse order; one
    `graph.slice` with stride -1 on those axes."""
    (tensor,) = to_tensors([x])
    axes = normalize_axes("flip", axis, tensor.ndim)
    if not axes:
        return tensor
    start = [max(d - 1, 0) if k in axes else 0 for k, d in enumerate(tensor.shape)]
    strides = [-1 if k in axes else 1 for k in range(tensor.ndim)]
    return strided_slice(tensor, start, tensor.shape, strides)


def crop(x: Any, top: int, left: int, height: int, width: int) -> Tensor:
    """torchvision's `crop` of the last two axes (H, W of NCHW): rows `top` to `top + height`,
    columns `left` to `left + width`. A region reaching outside the image is padded with zeros,
    as torchvision does: a slice of the part inside, then a `pad`."""
    (tensor,) = to_tensors([x])
    if tensor.ndim < 2:
        raise ShapeError(
            f"crop: expected a tensor of rank at least 2 (..., H, W), got {tensor.spec}"
        )
    if height < 0 or width < 0:
        raise ShapeError(
            f"crop: height {height} and width {width} of a crop of {tensor.spec} must be "
            "non-negative"
        )
    lead = tensor.ndim - 2
    inside, low, high = [], [0] * tensor.ndim, [0] * tensor.ndim
    for axis, (first, count) in enumerate(((top, height), (left, width)), start=lead):
        size = tensor.shape[axis]
        begin, end = min(max(first, 0), size), min(max(first + count, 0), size)
        inside.append(slice(begin, max(begin, end)))
        low[axis] = min(max(-first, 0), count)
        high[axis] = count - low[axis] - max(end - begin, 0)
    return lax_pad(getitem(tensor, (Ellipsis, *inside)), low, high)


# ----- reshapes -----------------------------------------------------------------------------------


def expand_dims(x: Any, axis: int | Sequence[int]) -> Tensor:
    """numpy's `expand_dims`: new axes of size 1 at `axis` (positions in the result); a reshape."""
    (tensor,) = to_tensors([x])
    count = 1 if isinstance(axis, int | np.integer) else len(axis)
    positions = normalize_axes("expand_dims", axis, tensor.ndim + count)
    sizes = iter(tensor.shape)
    return reshape(
        tensor, [1 if k in positions else next(sizes) for k in range(tensor.ndim + count)]
    )


def squeeze(x: Any, axis: int | Sequence[int] | None = None) -> Tensor:
    """numpy's `squeeze`: axes of size 1 removed (all of them for None); a reshape."""
    (tensor,) = to_tensors([x])
    if axis is None:
        axes = tuple(k for k, d in enumerate(tensor.shape) if d == 1)
    else:
        axes = normalize_axes("squeeze", axis, tensor.ndim)
    for k in axes:
        if tensor.shape[k] != 1:
            raise ShapeError(
                f"squeeze: axis {k} of {tensor.spec} has size {tensor.shape[k]}, not 1"
            )
    if not axes:
        return tensor
    return reshape(tensor, [d for k, d in enumerate(tensor.shape) if k not in axes])


def _counts(op: str, name: str, values: Any) -> tuple[int, ...]:
    counts = tuple(int(v) for v in np.atleast_1d(values).reshape(-1))
    if any(c < 0 for c in counts):
        raise ShapeError(f"{op}: {name} must be non-negative, got {counts}")
    return counts


def tile(x: Any, reps: int | Sequence[int]) -> Tensor:
    """numpy's `tile`: `x` repeated `reps[k]` times along axis k (missing leading axes and reps
    count as 1). Reshape to (1, n0, 1, n1, ...), broadcast to (r0, n0, r1, n1, ...), reshape."""
    (tensor,) = to_tensors([x])
    counts = _counts("tile", "reps", reps)
    rank = max(tensor.ndim, len(counts))
    counts = (1,) * (rank - len(counts)) + counts
    shape = (1,) * (rank - tensor.ndim) + tensor.shape
    if all(c == 1 for c in counts):
        return reshape(tensor, shape) if shape != tensor.shape else tensor
    spread = broadcast_to(
        reshape(tensor, [d for n in shape for d in (1, n)]),
        [d for c, n in zip(counts, shape, strict=True) for d in (c, n)],
    )
    return reshape(spread, [c * n for c, n in zip(counts, shape, strict=True)])


def repeat(x: Any, repeats: int | Sequence[int], axis: int | None = None) -> Tensor:
    """numpy's `repeat`: each element of `axis` repeated `repeats` times (the flattened tensor
    for None). An integer is reshape + broadcast_to + reshape; a count per element is slices,
    broadcasts and a concat (`_take`)."""
    (tensor,) = to_tensors([x])
    if axis is None:
        tensor, axis = reshape(tensor, (-1,)), 0
    if tensor.ndim == 0:
        raise ShapeError(f"repeat: a zero-dimensional tensor has no axis to repeat: {tensor.spec}")
    axis = _axis("repeat", axis, tensor.ndim)
    size = tensor.shape[axis]
    counts = _counts("repeat", "repeats", repeats)
    if len(counts) == 1 and not isinstance(repeats, int | np.integer) and size != 1:
        counts = counts * size  # numpy broadcasts a one-element sequence
    if len(counts) != 1:
        if len(counts) != size:
            raise ShapeError(
                f"repeat: {len(counts)} repeats for axis {axis} of {tensor.spec} (size {size})"
            )
        return _take(tensor, axis, np.repeat(np.arange(size), counts).tolist())
    (count,) = counts
    if count == 1:
        return tensor
    split_shape = (*tensor.shape[: axis + 1], 1, *tensor.shape[axis + 1 :])
    spread = broadcast_to(
        reshape(tensor, split_shape), (*split_shape[: axis + 1], count, *split_shape[axis + 2 :])
    )
    return reshape(spread, (*tensor.shape[:axis], size * count, *tensor.shape[axis + 1 :]))


def _check_factor(op: str, name: str, factor: int, x: Tensor, rank: int = 3) -> int:
    if x.ndim < rank:
        raise ShapeError(
            f"{op}: expected a tensor of rank at least {rank} (..., C, H, W), got {x.spec}"
        )
    if int(factor) <= 0:
        raise ShapeError(f"{op}: {name} must be positive, got {factor}")
    return int(factor)


def pixel_shuffle(x: Any, upscale_factor: int) -> Tensor:
    """torch's `pixel_shuffle`: (*, C*r*r, H, W) -> (*, C, H*r, W*r), out[c, h*r+i, w*r+j] =
    in[c*r*r + i*r + j, h, w]. Reshape, transpose, reshape."""
    (tensor,) = to_tensors([x])
    r = _check_factor("pixel_shuffle", "upscale_factor", upscale_factor, tensor)
    *lead, channels, height, width = tensor.shape
    if channels % (r * r):
        raise ShapeError(
            f"pixel_shuffle: channels {channels} of {tensor.spec} are not divisible by "
            f"upscale_factor**2 = {r * r}"
        )
    n = len(lead)
    split_ = reshape(tensor, (*lead, channels // (r * r), r, r, height, width))
    moved = transpose(split_, (*range(n), n, n + 3, n + 1, n + 4, n + 2))
    return reshape(moved, (*lead, channels // (r * r), height * r, width * r))


def pixel_unshuffle(x: Any, downscale_factor: int) -> Tensor:
    """torch's `pixel_unshuffle`, the inverse of pixel_shuffle: (*, C, H*r, W*r) ->
    (*, C*r*r, H, W). Reshape, transpose, reshape."""
    (tensor,) = to_tensors([x])
    r = _check_factor("pixel_unshuffle", "downscale_factor", downscale_factor, tensor)
    *lead, channels, height, width = tensor.shape
    if height % r or width % r:
        raise ShapeError(
            f"pixel_unshuffle: height {height} and width {width} of {tensor.spec} are not "
            f"divisible by downscale_factor {r}"
        )
    n = len(lead)
    split_ = reshape(tensor, (*lead, channels, height // r, r, width // r, r))
    moved = transpose(split_, (*range(n), n, n + 2, n + 4, n + 1, n + 3))
    return reshape(moved, (*lead, channels * r * r, height // r, width // r))


# ----- pad: numpy's pad_width and modes -----------------------------------------------------------


def _pairs(op: str, name: str, value: Any, tensor: Tensor, *, integral: bool) -> np.ndarray:
    """numpy's per-axis (before, after) form of `value`: a scalar, (v,), (before, after),
    ((before, after),) or one pair per axis, broadcast to shape (rank, 2)."""
    array = np.asarray(value)
    if integral and array.size and array.dtype.kind not in "iu":
        raise ShapeError(f"{op}: {name} must hold integers, got {value!r}")
    try:
        return np.broadcast_to(array, (tensor.ndim, 2))
    except ValueError:
        raise ShapeError(
            f"{op}: {name} {value!r} does not give (before, after) for each axis of {tensor.spec}"
        ) from None


def _reflect(n: int, p: int) -> int:
    period = 2 * (n - 1)
    return p % period if p % period < n else period - p % period


def _symmetric(n: int, p: int) -> int:
    period = 2 * n
    return p % period if p % period < n else period - 1 - p % period


_PAD_INDEX: dict[str, Callable[[int, int], int]] = {
    "edge": lambda n, p: min(max(p, 0), n - 1),
    "reflect": lambda n, p: _reflect(n, p) if n > 1 else 0,
    "symmetric": _symmetric,
    "wrap": lambda n, p: p % n,
}
"""Index of the element at position p (from -before to n + after) of a padded axis of size n:
numpy's modes, repeated periodically when the padding is wider than the axis, as numpy does."""

_PAD_ALIASES = {"replicate": "edge", "circular": "wrap"}
"""torch's names of numpy's modes."""


def pad(x: Any, pad_width: Any, mode: str = "constant", constant_values: Any = 0) -> Tensor:
    """numpy's `pad`: `pad_width` in numpy's forms (an int, (before, after), or a pair per axis)
    and modes "constant" (with `constant_values`, a scalar or pairs as pad_width), "edge"
    (torch's "replicate"), "reflect", "symmetric" and "wrap" (torch's "circular").

    A constant is the `pad` primitive carrying its value (one op; one per axis and side when
    the values differ, so corners take the later axis' value, as in numpy); the other modes are,
    per padded axis, slices of the input and a concat.
    """
    (tensor,) = to_tensors([x])
    widths = _pairs("pad", "pad_width", pad_width, tensor, integral=True).astype(int)
    if (widths < 0).any():
        raise ShapeError(
            f"pad: pad_width {pad_width!r} must be non-negative (tensor {tensor.spec})"
        )
    mode = _PAD_ALIASES.get(mode, mode)
    if mode == "constant":
        values = _pairs("pad", "constant_values", constant_values, tensor, integral=False)
        if (values == values.flat[0]).all():
            return lax_pad(tensor, widths[:, 0], widths[:, 1], value=float(values.flat[0]))
        for axis, side in np.ndindex(widths.shape):
            sides = np.zeros_like(widths)
            sides[axis, side] = widths[axis, side]
            tensor = lax_pad(tensor, sides[:, 0], sides[:, 1], value=float(values[axis, side]))
        return tensor
    index = _PAD_INDEX.get(mode)
    if index is None:
        modes = ", ".join(repr(m) for m in ("constant", *_PAD_INDEX, *_PAD_ALIASES))
        raise ShapeError(f"pad: mode {mode!r} is not supported; use one of {modes}")
    for axis, (before, after) in enumerate(widths.tolist()):
        size = tensor.shape[axis]
        if not before and not after:
            continue
        if not size:
            raise ShapeError(
                f"pad: cannot pad the empty axis {axis} of {tensor.spec} in mode {mode!r}"
            )
        tensor = _take(tensor, axis, [index(size, p) for p in range(-before, size + after)])
    return tensor


# ----- upsample: torch's interpolate --------------------------------------------------------------

_LINEAR_MODES = {"linear": 3, "bilinear": 4, "trilinear": 5}
"""Linear interpolation modes and the rank (N, C, spatial...) each one needs, as in torch."""


def _nearest_indices(size: int, out: int, scale_factor: float | None) -> list[int]:
    """torch's nearest rule: source floor(dst * scale), computed in float32 as torch's kernel
    does, with scale 1/scale_factor when one is given, else size/out."""
    if out == size:
        return list(range(size))
    scale = np.float32(1.0 / scale_factor) if scale_factor else np.float32(size) / np.float32(out)
    positions = np.floor(np.arange(out, dtype=np.float32) * scale).astype(np.int64)
    return np.minimum(positions, size - 1).tolist()


def _linear_matrix(
    size: int, out: int, scale_factor: float | None, align_corners: bool, dtype: np.dtype
) -> np.ndarray:
    """The (size, out) matrix of torch's linear interpolation along one axis, in `dtype`'s
    arithmetic as torch computes it: source (dst + 0.5) * scale - 0.5 clamped at 0, or
    dst * (size - 1) / (out - 1) with align_corners; weights 1 - t and t of its two neighbours."""
    dst = np.arange(out, dtype=dtype)
    if align_corners:
        scale = dtype.type((size - 1) / (out - 1)) if out > 1 else dtype.type(0)
        source = dst * scale
    else:
        scale = (
            dtype.type(1.0 / scale_factor) if scale_factor else dtype.type(size) / dtype.type(out)
        )
        source = np.maximum((dst + dtype.type(0.5)) * scale - dtype.type(0.5), dtype.type(0))
    low = np.minimum(np.floor(source).astype(np.int64), size - 1)
    weight = np.clip(source - low.astype(dtype), 0, 1)
    high = np.minimum(low + 1, size - 1)
    matrix = np.zeros((size, out), dtype)
    columns = np.arange(out)
    np.add.at(matrix, (low, columns), 1 - weight)
    np.add.at(matrix, (high, columns), weight)
    return matrix


def _along(x: Tensor, axis: int, matrix: np.ndarray) -> Tensor:
    """`x` with `axis` (size n) mapped through the constant (n, m) `matrix`: the axis moved
    last, a 2-D matmul over all other axes, moved back."""
    perm = [k for k in range(x.ndim) if k != axis] + [axis]
    moved = transpose(x, perm) if axis != x.ndim - 1 else x
    rows = reshape(moved, (-1, x.shape[axis]))
    product = reshape(matmul(rows, matrix), (*moved.shape[:-1], matrix.shape[1]))
    return transpose(product, np.argsort(perm).tolist()) if axis != x.ndim - 1 else product


def _output_sizes(
    x: Tensor, size: Any, scale_factor: Any
) -> tuple[tuple[int, ...], tuple[float | None, ...]]:
    """torch's output sizes (size, or floor(input * scale_factor)) and the scale factors the
    index rules use (None where size was given)."""
    spatial = x.shape[2:]
    if (size is None) == (scale_factor is None):
        raise ShapeError(f"upsample: give exactly one of size and scale_factor (input {x.spec})")
    if size is not None:
        sizes = tuple(int(s) for s in np.broadcast_to(np.asarray(size), (len(spatial),)))
        factors: tuple[float | None, ...] = (None,) * len(spatial)
    else:
        factors = tuple(
            float(f) for f in np.broadcast_to(np.asarray(scale_factor), (len(spatial),))
        )
        sizes = tuple(math.floor(n * f) for n, f in zip(spatial, factors, strict=True))
    if any(n <= 0 for n in (*spatial, *sizes)):
        raise ShapeError(
            f"upsample: input and output sizes must be positive, got {x.spec} to {sizes}"
        )
    return sizes, factors


def upsample(
    x: Any,
    size: int | Sequence[int] | None = None,
    scale_factor: float | Sequence[float] | None = None,
    mode: str = "nearest",
    align_corners: bool | None = None,
) -> Tensor:
    """torch's `interpolate` (`upsample`) of (N, C, *spatial), to `size` or by `scale_factor`.

    "nearest" (any of 1 to 3 spatial axes) takes element floor(dst * scale) per axis, torch's
    rule: exact copies (an integer factor is reshape + broadcast; otherwise slices, broadcasts
    and a concat per axis). "linear", "bilinear" and "trilinear" (1, 2, 3 spatial axes) weigh
    the two neighbours of each source position, with `align_corners` as torch (False by
    default): separable, one matmul per axis by a constant interpolation matrix, so the
    gradient is the transposed matmul. Like any matmul, an inf or nan in the input spreads
    through the zero weights of its row.
    """
    (tensor,) = to_tensors([x])
    if tensor.dtype.kind != "f":
        raise DTypeError(f"upsample: expected a float tensor, got {tensor.spec}")
    rank = _LINEAR_MODES.get(mode)
    if mode == "nearest":
        if align_corners is not None:
            raise ShapeError("upsample: align_corners can only be set with the linear modes")
        if not 3 <= tensor.ndim <= 5:
            raise ShapeError(
                f"upsample: mode 'nearest' needs (N, C, *spatial) of rank 3 to 5, got {tensor.spec}"
            )
    elif rank is None:
        modes = ", ".join(repr(m) for m in ("nearest", *_LINEAR_MODES))
        raise ShapeError(f"upsample: mode {mode!r} is not supported; use one of {modes}")
    elif tensor.ndim != rank:
        raise ShapeError(
            f"upsample: mode {mode!r} needs a tensor of rank {rank}, got {tensor.spec}"
        )
    sizes, factors = _output_sizes(tensor, size, scale_factor)
    for axis, (out, factor) in enumerate(zip(sizes, factors, strict=True), start=2):
        n = tensor.shape[axis]
        if mode == "nearest":
            tensor = _take(tensor, axis, _nearest_indices(n, out, factor))
            continue
        matrix = _linear_matrix(n, out, factor, bool(align_corners), tensor.dtype)
        if n != out or not np.array_equal(matrix, np.eye(n, dtype=matrix.dtype)):
            tensor = _along(tensor, axis, matrix)
    return tensor

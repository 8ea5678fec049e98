"""Pooling over the two spatial axes of NCHW tensors: max, average, global and adaptive.

Two primitives, `max_pool2d` and `sum_pool2d`, compute "valid" pooling (no padding) with a
kernel, strides and dilations: a reduction over a window, as MLIR's `linalg.pooling_nchw_max`
and `pooling_nchw_sum`. Everything torch.nn.functional adds on top is a composite: padding is a
`pad` (-inf for max pooling, zeros for average pooling), ceil_mode is more high padding, and an
average is a sum pool divided by a per-position divisor computed at trace time (torch's rule,
whatever `count_include_pad` and `ceil_mode` say). `adaptive_avg_pool2d` with uneven windows
multiplies by an averaging matrix on each axis; `global_avg_pool2d` is a `mean`.

Gradients: a sum pool's is a sum pool (stride 1) of the cotangent spread out by the stride
(`pad` with interior padding); a max pool's routes each window's cotangent to ONE element, the
first maximum in row-major window order (as torch and JAX do), never to every tied element:
after a relu whole windows hold 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from aidjit.autodiff.ops.core import (
    equal,
    lax_pad,
    matmul,
    mean,
    reshape,
    strided_slice,
    transpose,
)
from aidjit.autodiff.ops.shape import concat
from aidjit.autodiff.primitives import (
    Family,
    Primitive,
    ShapeRule,
    Spec,
    register,
    require_float,
)
from aidjit.autodiff.tensor import Tensor, apply, to_tensors
from aidjit.errors import ShapeError

__all__ = [
    "adaptive_avg_pool2d",
    "avg_pool2d",
    "global_avg_pool2d",
    "max_pool2d",
    "sum_pool2d",
]

Pair = tuple[int, int]

# ----- the window: shapes and the strided slice of each kernel offset ---------------------------


def _pair(op: str, name: str, value: int | Sequence[int]) -> Pair:
    """torch's `int or (h, w)` spelling of a per-axis parameter, as a checked pair."""
    pair = (value, value) if isinstance(value, int | np.integer) else tuple(value)
    if len(pair) != 2:
        raise ShapeError(f"{op}: {name} must be an int or a pair, got {value!r}")
    return int(pair[0]), int(pair[1])


def _extent(kernel: int, dilation: int) -> int:
    """How many input elements one window spans along an axis."""
    return (kernel - 1) * dilation + 1


def _pool_rule(op: str) -> ShapeRule:
    def rule(x: Spec, *, kernel: Pair, stride: Pair, dilation: Pair) -> Spec:
        require_float(op, x)
        if len(x.shape) != 4:
            raise ShapeError(f"{op}: expected an NCHW tensor of rank 4, got {x}")
        for name, values in (("kernel", kernel), ("stride", stride), ("dilation", dilation)):
            if len(values) != 2 or any(v <= 0 for v in values):
                raise ShapeError(f"{op}: {name} must be two positive ints, got {tuple(values)}")
        out = []
        for size, k, s, d in zip(x.shape[2:], kernel, stride, dilation, strict=True):
            if _extent(k, d) > size:
                raise ShapeError(
                    f"{op}: a window of {tuple(kernel)} with dilation {tuple(dilation)} does "
                    f"not fit in {x}"
                )
            out.append((size - _extent(k, d)) // s + 1)
        return Spec((*x.shape[:2], *out), x.dtype)

    return rule


def _offsets(kernel: Pair) -> list[Pair]:
    """The window's offsets in row-major order: the order ties are broken in."""
    return [(i, j) for i in range(kernel[0]) for j in range(kernel[1])]


def _window_origin(offset: Pair, dilation: Pair) -> tuple[int, int, int, int]:
    return (0, 0, offset[0] * dilation[0], offset[1] * dilation[1])


def _windows_impl(x: np.ndarray, kernel: Pair, stride: Pair, dilation: Pair) -> list[np.ndarray]:
    """Per kernel offset (row-major), the input element each output position sees there."""
    out_h, out_w = (
        (size - _extent(k, d)) // s + 1
        for size, k, s, d in zip(x.shape[2:], kernel, stride, dilation, strict=True)
    )
    windows = []
    for offset in _offsets(kernel):
        _, _, top, left = _window_origin(offset, dilation)
        rows = slice(top, top + (out_h - 1) * stride[0] + 1, stride[0])
        cols = slice(left, left + (out_w - 1) * stride[1] + 1, stride[1])
        windows.append(x[:, :, rows, cols])
    return windows


def _accumulate(windows: list[np.ndarray], combine: Any, initial: float) -> np.ndarray:
    """Combine the windows in offset order from `initial`: the compiled loop's exact order."""
    result = np.full(windows[0].shape, initial, windows[0].dtype)
    for window in windows:
        result = combine(result, window)
    return result


# ----- the primitives ---------------------------------------------------------------------------


def _max_pool_vjp(
    g: Tensor, xs: Sequence[Tensor], out: Tensor, *, kernel: Pair, stride: Pair, dilation: Pair
) -> Any:
    """Each window's cotangent goes to its first maximum: per offset in row-major order, a
    mask of "equals the max and no earlier offset took it" times the cotangent, then the masked
    cotangents put back in place (`_tiled_back` or `_padded_back`)."""

    def grad() -> Tensor:
        (x,) = xs
        taken: Tensor | None = None  # 1.0 where an earlier offset took the window's cotangent
        routed: list[Tensor] = []
        offsets = _offsets(kernel)
        steps = (1, 1, *stride)
        for index, offset in enumerate(offsets):
            start = _window_origin(offset, dilation)
            window = strided_slice(x, start, out.shape, steps)
            hit = equal(window, out)
            first = hit if taken is None else hit * (1.0 - taken)
            if index + 1 < len(offsets):
                taken = first if taken is None else taken + first
            routed.append(g * first)
        if stride == kernel and dilation == (1, 1):
            return _tiled_back(routed, x.shape, kernel)
        return _padded_back(routed, x.shape, offsets, dilation, steps)

    return (grad,)


def _padded_back(
    routed: list[Tensor],
    shape: tuple[int, ...],
    offsets: list[Pair],
    dilation: Pair,
    steps: tuple[int, ...],
) -> Tensor:
    """Each offset's cotangent put back where its strided slice read (`pad`, the slice's
    gradient), then summed: overlapping windows add up."""
    total: Tensor | None = None
    for part, offset in zip(routed, offsets, strict=True):
        start = _window_origin(offset, dilation)
        read = zip(shape, start, part.shape, steps, strict=True)
        high = [size - lo - (n - 1) * s - 1 for size, lo, n, s in read]
        placed = lax_pad(part, start, high, [s - 1 for s in steps])
        total = placed if total is None else total + placed
    assert total is not None
    return total


def _tiled_back(routed: list[Tensor], shape: tuple[int, ...], kernel: Pair) -> Tensor:
    """Windows that tile the input (stride = kernel, no dilation: W5's 2x2 pooling) each own
    their elements, so the offsets' cotangents are interleaved, not summed: stacked into
    [N, C, OH, OW, kH, kW] by one concat, moved to [N, C, OH, kH, OW, kW] and seen as the input's
    shape, with zeros for rows and columns no window reads. Two passes over the gradient where
    padding each offset back took a zero fill, a strided copy and an add per offset."""
    n, c, out_h, out_w = routed[0].shape
    columns = [reshape(part, (n, c, out_h, out_w, 1)) for part in routed]
    stacked = reshape(concat(columns, axis=4), (n, c, out_h, out_w, *kernel))
    tiles = transpose(stacked, (0, 1, 2, 4, 3, 5))
    covered = reshape(tiles, (n, c, out_h * kernel[0], out_w * kernel[1]))
    high = (0, 0, shape[2] - out_h * kernel[0], shape[3] - out_w * kernel[1])
    return lax_pad(covered, (0, 0, 0, 0), high)


def _sum_pool_vjp(
    g: Tensor, xs: Sequence[Tensor], out: Tensor, *, kernel: Pair, stride: Pair, dilation: Pair
) -> Any:
    """dx[h] sums g[oh] over the windows reading h (h = oh * s + kh * d): the cotangent with
    s - 1 zeros between its elements and (k - 1) * d before, sum-pooled with stride 1. The
    kernel is all ones, so it needs no flip."""

    def grad() -> Tensor:
        (x,) = xs
        low = [0, 0] + [(k - 1) * d for k, d in zip(kernel, dilation, strict=True)]
        sizes = zip(x.shape[2:], out.shape[2:], stride, strict=True)
        high = [0, 0] + [size - (n - 1) * s - 1 for size, n, s in sizes]
        spread = lax_pad(g, low, high, (0, 0, stride[0] - 1, stride[1] - 1))
        return sum_pool2d(spread, kernel, 1, dilation)

    return (grad,)


max_pool2d_p = register(
    Primitive(
        "max_pool2d",
        Family.POOLING,
        lambda x, kernel, stride, dilation: _accumulate(
            _windows_impl(x, kernel, stride, dilation), np.maximum, -math.inf
        ),
        _pool_rule("max_pool2d"),
        _max_pool_vjp,
        params=("kernel", "stride", "dilation"),
        doc="maximum over each window of an NCHW tensor, no padding (nan propagates); the "
        "gradient goes to the window's first maximum",
    )
)
sum_pool2d_p = register(
    Primitive(
        "sum_pool2d",
        Family.POOLING,
        lambda x, kernel, stride, dilation: _accumulate(
            _windows_impl(x, kernel, stride, dilation), np.add, 0.0
        ),
        _pool_rule("sum_pool2d"),
        _sum_pool_vjp,
        params=("kernel", "stride", "dilation"),
        doc="sum over each window of an NCHW tensor, no padding",
    )
)


def _pool(primitive: Primitive, x: Any, kernel: Any, strides: Any, dilations: Any) -> Tensor:
    (tensor,) = to_tensors([x])
    name = primitive.name
    params = {
        "kernel": _pair(name, "kernel_size", kernel),
        "stride": _pair(name, "stride", strides),
        "dilation": _pair(name, "dilation", dilations),
    }
    return apply(primitive, tensor, **params)


def sum_pool2d(
    x: Any,
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] | None = None,
    dilation: int | Sequence[int] = 1,
) -> Tensor:
    """Sum over each window of an NCHW tensor, without padding (`graph.sum_pool2d`); stride
    defaults to the kernel size, as in torch's pooling."""
    return _pool(sum_pool2d_p, x, kernel_size, kernel_size if stride is None else stride, dilation)


# ----- torch.nn.functional's pooling: padding, ceil_mode and divisors around the primitives ------


def _output_size(
    op: str, size: int, kernel: int, stride: int, pad: int, dilation: int, ceil_mode: bool
) -> int:
    """torch's pooling_output_shape: with ceil_mode, a last window starting in the right
    padding is dropped."""
    span = size + 2 * pad - _extent(kernel, dilation)
    out = (span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    if span < 0 or out < 1:
        raise ShapeError(
            f"{op}: a window of {kernel} (dilation {dilation}, padding {pad}) does not fit in "
            f"an axis of size {size}"
        )
    return out


def _padding_plan(
    op: str,
    x: Tensor,
    kernel: Pair,
    stride: Pair,
    padding: Pair,
    dilation: Pair,
    ceil_mode: bool,
) -> tuple[Pair, Pair]:
    """The output size, and the padding after each spatial axis that makes every window of
    it fit (`padding`, less when the last windows do not reach it, more with ceil_mode)."""
    if x.ndim != 4:
        raise ShapeError(f"{op}: expected an NCHW tensor of rank 4, got {x.spec}")
    for name, values in (("kernel_size", kernel), ("stride", stride), ("dilation", dilation)):
        if any(v <= 0 for v in values):
            raise ShapeError(f"{op}: {name} must be positive, got {values}")
    for p, k, d in zip(padding, kernel, dilation, strict=True):
        if p < 0 or 2 * p > _extent(k, d):
            raise ShapeError(
                f"{op}: padding should be at most half of the effective kernel size, got "
                f"padding {padding}, kernel_size {kernel} and dilation {dilation}"
            )
    out, high = [], []
    for n, k, s, p, d in zip(x.shape[2:], kernel, stride, padding, dilation, strict=True):
        size = _output_size(op, n, k, s, p, d, ceil_mode)
        out.append(size)
        high.append(max((size - 1) * s + _extent(k, d) - n - p, 0))
    return (out[0], out[1]), (high[0], high[1])


def _padded(x: Tensor, padding: Pair, high: Pair, value: float) -> Tensor:
    return lax_pad(x, (0, 0, *padding), (0, 0, *high), value=value)


def max_pool2d(
    x: Any,
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] | None = None,
    padding: int | Sequence[int] = 0,
    dilation: int | Sequence[int] = 1,
    ceil_mode: bool = False,
) -> Tensor:
    """torch.nn.functional.max_pool2d over an NCHW tensor: -inf padding (`pad`), then
    `graph.max_pool2d`. Its gradient goes to each window's first maximum in row-major order
    (ties included, as in torch); a nan in a window makes the output nan, and such a window
    sends no gradient anywhere."""
    (x,) = to_tensors([x])
    op = "max_pool2d"
    kernel = _pair(op, "kernel_size", kernel_size)
    strides = kernel if stride is None else _pair(op, "stride", stride)
    pads, dilations = _pair(op, "padding", padding), _pair(op, "dilation", dilation)
    _, high = _padding_plan(op, x, kernel, strides, pads, dilations, ceil_mode)
    return _pool(max_pool2d_p, _padded(x, pads, high, -math.inf), kernel, strides, dilations)


def _divisor_axis(
    size: int, out: int, kernel: int, stride: int, pad: int, count_include_pad: bool
) -> np.ndarray:
    """torch's avg_pool2d divisor along one axis: the window clipped to the padded input
    (count_include_pad) or to the input itself."""
    start = np.arange(out) * stride - pad
    end = np.minimum(start + kernel, size + pad)
    if count_include_pad:
        return (end - start).astype(np.float64)
    return (np.minimum(end, size) - np.maximum(start, 0)).astype(np.float64)


def avg_pool2d(
    x: Any,
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] | None = None,
    padding: int | Sequence[int] = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Tensor:
    """torch.nn.functional.avg_pool2d over an NCHW tensor: zero padding, `graph.sum_pool2d`,
    then a division by torch's divisor for each output position (the window's size, counting
    padding or not; windows that ceil_mode adds past the padding count only what they cover),
    a scalar when every position has the same one."""
    (x,) = to_tensors([x])
    op = "avg_pool2d"
    kernel = _pair(op, "kernel_size", kernel_size)
    strides = kernel if stride is None else _pair(op, "stride", stride)
    pads = _pair(op, "padding", padding)
    out, high = _padding_plan(op, x, kernel, strides, pads, (1, 1), ceil_mode)
    sums = _pool(sum_pool2d_p, _padded(x, pads, high, 0.0), kernel, strides, (1, 1))
    if divisor_override is not None:
        if divisor_override == 0:
            raise ShapeError(f"{op}: divisor_override must be nonzero")
        return sums / float(divisor_override)
    rows, cols = (
        _divisor_axis(n, o, k, s, p, count_include_pad)
        for n, o, k, s, p in zip(x.shape[2:], out, kernel, strides, pads, strict=True)
    )
    divisor = np.outer(rows, cols)
    if np.all(divisor == divisor.flat[0]):
        return sums / float(divisor.flat[0])
    return sums / divisor.astype(x.dtype)


def global_avg_pool2d(x: Any) -> Tensor:
    """The mean over H and W of an NCHW tensor, keeping them: [N, C, 1, 1], as torch's
    `adaptive_avg_pool2d(x, 1)` (`graph.mean` with keepdims; reshape for a dense layer)."""
    (x,) = to_tensors([x])
    if x.ndim != 4:
        raise ShapeError(f"global_avg_pool2d: expected an NCHW tensor of rank 4, got {x.spec}")
    return mean(x, axis=(2, 3), keepdims=True)


def _averaging_matrix(size: int, out: int, dtype: np.dtype) -> np.ndarray:
    """[out, size]: row i averages torch's window [floor(i*size/out), ceil((i+1)*size/out))."""
    matrix = np.zeros((out, size), np.float64)
    for i in range(out):
        start, end = (i * size) // out, -(-((i + 1) * size) // out)
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix.astype(dtype)


def _average_last_axis(x: Tensor, out: int) -> Tensor:
    """Adaptive averaging of the last axis of a rank-4 tensor: a matmul by the transposed
    averaging matrix (3-D @ 2-D, the matrix shared)."""
    n, c, h, w = x.shape
    if w == out:
        return x
    flat = reshape(x, (n * c, h, w))
    averaged = matmul(flat, _averaging_matrix(w, out, x.dtype).T.copy())
    return reshape(averaged, (n, c, h, out))


def adaptive_avg_pool2d(x: Any, output_size: int | Sequence[int | None]) -> Tensor:
    """torch.nn.functional.adaptive_avg_pool2d over an NCHW tensor (None keeps an axis).

    Output position i of an axis of size n averages elements floor(i*n/o) to
    ceil((i+1)*n/o) - 1. When o divides n those windows are an average pool with kernel and
    stride n/o; otherwise each axis is multiplied by an averaging matrix (constant, built at
    trace time): the same average, exact up to rounding.
    """
    (x,) = to_tensors([x])
    op = "adaptive_avg_pool2d"
    if x.ndim != 4:
        raise ShapeError(f"{op}: expected an NCHW tensor of rank 4, got {x.spec}")
    sizes = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
    if len(sizes) != 2:
        raise ShapeError(f"{op}: output_size must be an int or a pair, got {output_size!r}")
    out = tuple(n if o is None else int(o) for n, o in zip(x.shape[2:], sizes, strict=True))
    if any(o <= 0 for o in out):
        raise ShapeError(f"{op}: output_size must be positive, got {output_size!r}")
    if all(n % o == 0 for n, o in zip(x.shape[2:], out, strict=True)):
        kernel = tuple(n // o for n, o in zip(x.shape[2:], out, strict=True))
        return avg_pool2d(x, kernel, kernel) if kernel != (1, 1) else x
    swap = (0, 1, 3, 2)
    columns = _average_last_axis(x, out[1])
    return transpose(_average_last_axis(transpose(columns, swap), out[0]), swap)

"""The op test table: one row per op and interesting shape, shared by every op-level test.

Each case names a function of aidjit tensors, the numpy reference it must match, the input
shapes and the input domain (so log sees positive numbers, abs stays away from its kink, ...).

Every row runs eagerly (against numpy, and its gradient against finite differences). Compiled,
the rows of the core family run one by one; the rows of every other family run as one bundle,
one function computing all of the family's rows, so that a family of twenty ops costs the
suite two compiles per dtype and level, not forty (`COMPILED` lists what compiled tests run).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import aidjit
from aidjit import ops
from aidjit.autodiff.ops.indexing import scatter_add
from aidjit.autodiff.ops.random import threefry2x32_numpy


@dataclass(frozen=True)
class Case:
    id: str
    fn: Callable[..., Any]
    reference: Callable[..., np.ndarray]
    shapes: tuple[tuple[int, ...], ...]
    domain: str = "any"  # any | positive | away_from_zero | distinct
    differentiable: bool = True
    int_inputs: dict[int, int | tuple[int, int]] = field(default_factory=dict)
    """int64 inputs: index -> number of classes n (values in [0, n)), or a range (low, high)."""
    family: str = "core"
    rows: tuple[Case, ...] = ()
    """A bundle's rows: its inputs are theirs, one after another; its fn returns their results."""

    def inputs(self, dtype: Any, seed: int = 0) -> list[np.ndarray]:
        if self.rows:
            return [a for row in self.rows for a in row.inputs(dtype, seed)]
        rng = np.random.default_rng(seed)
        arrays = []
        for index, shape in enumerate(self.shapes):
            if index in self.int_inputs:
                bounds = self.int_inputs[index]
                low, high = bounds if isinstance(bounds, tuple) else (0, bounds)
                arrays.append(rng.integers(low, high, size=shape).astype(np.int64))
                continue
            arrays.append(_sample(rng, shape, self.domain, index).astype(dtype))
        return arrays


def _sample(
    rng: np.random.Generator, shape: tuple[int, ...], domain: str, index: int
) -> np.ndarray:
    if domain == "positive":
        return rng.uniform(0.5, 2.0, size=shape)
    if domain == "away_from_zero":
        return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.3, 1.5, size=shape)
    if domain == "distinct":
        size = int(np.prod(shape))
        # Distinct within an input and, through the offset, between inputs: no ties anywhere.
        return (rng.permutation(size).reshape(shape) - size / 2) * 0.37 + index * 0.11
    return rng.uniform(-1.5, 1.5, size=shape)


def _softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + 1e-5) * w + b


def _pad(x: np.ndarray, low: tuple, high: tuple, interior: tuple) -> np.ndarray:
    """Zero padding with gaps between elements, built by strided assignment."""
    shape = [
        lo + hi + d + (d - 1) * i for d, lo, hi, i in zip(x.shape, low, high, interior, strict=True)
    ]
    out = np.zeros(shape, x.dtype)
    widths = zip(x.shape, low, interior, strict=True)
    out[tuple(slice(lo, lo + d * (i + 1), i + 1) for d, lo, i in widths)] = x
    return out


def _cross_entropy(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    log_p = logits - logits.max(-1, keepdims=True)
    log_p = log_p - np.log(np.exp(log_p).sum(-1, keepdims=True))
    return -np.take_along_axis(log_p, labels[..., None], -1).mean()


CASES: list[Case] = [
    # elementwise unary
    Case("negate", ops.negate, np.negative, ((3, 4),)),
    Case("abs", ops.abs, np.abs, ((3, 4),), "away_from_zero"),
    Case("sign", ops.sign, np.sign, ((3, 4),), "away_from_zero", differentiable=False),
    Case("exp", ops.exp, np.exp, ((3, 4),)),
    Case("log", ops.log, np.log, ((3, 4),), "positive"),
    Case("sqrt", ops.sqrt, np.sqrt, ((3, 4),), "positive"),
    Case("relu", ops.relu, lambda x: np.maximum(x, 0), ((3, 4),), "away_from_zero"),
    Case("sigmoid", ops.sigmoid, lambda x: 1 / (1 + np.exp(-x)), ((3, 4),)),
    Case("tanh", ops.tanh, np.tanh, ((3, 4),)),
    Case("tanh_rank0", ops.tanh, np.tanh, ((),)),
    Case("exp_size1_dims", ops.exp, np.exp, ((1, 3, 1),)),
    Case("exp_empty", ops.exp, np.exp, ((0, 3),)),
    # elementwise binary, with numpy broadcasting
    Case("add", ops.add, np.add, ((3, 4), (3, 4))),
    Case("add_broadcast_row", ops.add, np.add, ((3, 4), (4,))),
    Case("add_broadcast_both", ops.add, np.add, ((3, 1), (1, 4))),
    Case("add_scalar_tensor", ops.add, np.add, ((2, 3), ())),
    Case("add_empty", ops.add, np.add, ((0, 4), (4,))),
    Case("subtract", ops.subtract, np.subtract, ((2, 1, 3), (4, 1))),
    Case("multiply", ops.multiply, np.multiply, ((2, 3), (2, 3))),
    Case("multiply_broadcast", ops.multiply, np.multiply, ((4,), (3, 1))),
    Case("divide", ops.divide, np.divide, ((2, 3), (2, 3)), "positive"),
    Case("power", ops.power, np.power, ((2, 3), (2, 3)), "positive"),
    Case("maximum", ops.maximum, np.maximum, ((3, 4), (3, 4)), "distinct"),
    Case("minimum", ops.minimum, np.minimum, ((3, 4), (4,)), "distinct"),
    Case(
        "greater",
        ops.greater,
        lambda x, y: (x > y).astype(x.dtype),
        ((3, 4), (4,)),
        "distinct",
        differentiable=False,
    ),
    Case(
        "greater_equal",
        ops.greater_equal,
        lambda x, y: (x >= y).astype(x.dtype),
        ((3, 4), (3, 4)),
        "distinct",
        differentiable=False,
    ),
    Case(
        "equal",
        lambda x, y: ops.equal(x, ops.maximum(x, y)),
        lambda x, y: (x == np.maximum(x, y)).astype(x.dtype),
        ((3, 4), (4,)),
        "distinct",
        differentiable=False,
    ),
    Case(
        "not_equal",
        lambda x, y: ops.not_equal(ops.minimum(x, y), y),
        lambda x, y: (np.minimum(x, y) != y).astype(x.dtype),
        ((3, 4), (3, 4)),
        "distinct",
        differentiable=False,
    ),
    Case(
        "comparison_operators",
        lambda x, y: (x < y) + (x <= 0.5) * 2.0 + (x > y) * 4.0 + (y >= x) * 8.0 + (x == x) * 16,
        lambda x, y: (
            (x < y) + (x <= 0.5) * 2.0 + (x > y) * 4.0 + (y >= x) * 8.0 + (x == x) * 16
        ).astype(x.dtype),
        ((3, 4), (3, 1)),
        "distinct",
        differentiable=False,
    ),
    # where: a float mask or an int64 condition, numpy broadcasting of all three
    Case(
        "where_mask",
        lambda x, y: ops.where(x > y, x * 2.0, y),
        lambda x, y: np.where(x > y, x * 2, y),
        ((3, 4), (4,)),
        "distinct",
    ),
    Case(
        "where_int_condition",
        ops.where,
        lambda c, x, y: np.where(c != 0, x, y),
        ((3, 1), (4,), (3, 4)),
        int_inputs={0: 2},
    ),
    Case(
        "where_scalar_branch",
        lambda x: ops.where(x > 0.0, ops.log(ops.abs(x)), 0.0),
        lambda x: np.where(x > 0, np.log(np.abs(x)), 0.0),
        ((3, 4),),
        "away_from_zero",
    ),
    # astype: float <-> float <-> int64
    Case(
        "astype_widen",
        lambda x: ops.astype(ops.astype(x, np.float64) * 3.0, x.dtype),
        lambda x: (x.astype(np.float64) * 3.0).astype(x.dtype),
        ((3, 4),),
    ),
    Case(
        # Rounding to float32 defeats float64 finite differences: forward only.
        "astype_narrow",
        lambda x: ops.astype(ops.astype(x, np.float32), x.dtype),
        lambda x: x.astype(np.float32).astype(x.dtype),
        ((3, 4),),
        differentiable=False,
    ),
    Case(
        "astype_to_int_truncates",
        lambda x: ops.astype(x * 3.0, np.int64).astype(x.dtype),
        lambda x: (x * 3).astype(np.int64).astype(x.dtype),
        ((3, 4),),
        differentiable=False,
    ),
    Case(
        "astype_from_int",
        lambda y, x: x * ops.astype(y, x.dtype),
        lambda y, x: x * y.astype(x.dtype),
        ((3, 4), (3, 4)),
        int_inputs={0: 5},
    ),
    Case("scalar_operand", lambda x: x * 2.0 + 1.0, lambda x: x * 2 + 1, ((3,),)),
    Case("int_scalar_operand", lambda x: 3 - x * 2, lambda x: 3 - x * 2, ((3,),)),
    Case(
        "constant_array",
        lambda x: x * np.arange(1.0, 5.0, dtype=x.dtype) - 0.5,
        lambda x: x * np.arange(1.0, 5.0, dtype=x.dtype) - 0.5,
        ((3, 4),),
    ),
    Case("pow_operator", lambda x: x**2, lambda x: x**2, ((3, 2),)),
    # reductions
    Case("sum_all", ops.sum, lambda x: np.sum(x), ((3, 4),)),
    Case("sum_axis1", lambda x: ops.sum(x, axis=1), lambda x: x.sum(1), ((3, 4),)),
    Case(
        "sum_keepdims",
        lambda x: ops.sum(x, axis=0, keepdims=True),
        lambda x: x.sum(0, keepdims=True),
        ((3, 4),),
    ),
    Case("sum_axes_0_2", lambda x: ops.sum(x, axis=(0, 2)), lambda x: x.sum((0, 2)), ((2, 3, 4),)),
    Case("sum_empty_axis", lambda x: ops.sum(x, axis=1), lambda x: x.sum(1), ((2, 0),)),
    Case("mean_axis_neg1", lambda x: ops.mean(x, axis=-1), lambda x: x.mean(-1), ((3, 4),)),
    Case(
        "mean_keepdims",
        lambda x: ops.mean(x, axis=(0, 1), keepdims=True),
        lambda x: x.mean((0, 1), keepdims=True),
        ((2, 3, 2),),
    ),
    Case(
        "reduce_max", lambda x: ops.reduce_max(x, axis=1), lambda x: x.max(1), ((3, 4),), "distinct"
    ),
    Case(
        "reduce_max_keepdims",
        lambda x: ops.reduce_max(x, axis=0, keepdims=True),
        lambda x: x.max(0, keepdims=True),
        ((3, 4),),
        "distinct",
    ),
    # matmul
    Case("matmul", ops.matmul, np.matmul, ((3, 4), (4, 5))),
    Case("matmul_vector_row", ops.matmul, np.matmul, ((1, 4), (4, 2))),
    Case("matmul_batched", ops.matmul, np.matmul, ((2, 3, 4), (2, 4, 5))),
    Case("matmul_batched_shared_rhs", ops.matmul, np.matmul, ((2, 3, 4), (4, 5))),
    Case("matmul_operator", lambda a, b: a @ b, np.matmul, ((2, 3), (3, 2))),
    # layout
    Case("transpose", ops.transpose, np.transpose, ((3, 4),)),
    Case(
        "transpose_perm",
        lambda x: ops.transpose(x, (1, 2, 0)),
        lambda x: np.transpose(x, (1, 2, 0)),
        ((2, 3, 4),),
    ),
    Case("reshape", lambda x: ops.reshape(x, (4, 3)), lambda x: x.reshape(4, 3), ((2, 6),)),
    Case("reshape_infer", lambda x: ops.reshape(x, (-1,)), lambda x: x.reshape(-1), ((2, 3, 2),)),
    Case(
        "broadcast_to",
        lambda x: ops.broadcast_to(x, (2, 3, 4)),
        lambda x: np.broadcast_to(x, (2, 3, 4)),
        ((3, 1),),
    ),
    # basic indexing (slice + reshape; its gradient is pad) and pad
    Case("index_int", lambda x: x[1], lambda x: x[1], ((3, 4),)),
    Case("index_negative", lambda x: x[-1], lambda x: x[-1], ((3, 4),)),
    Case("index_columns", lambda x: x[:, 1:3], lambda x: x[:, 1:3], ((3, 4),)),
    Case("index_step", lambda x: x[::2], lambda x: x[::2], ((5, 2),)),
    Case("index_ellipsis", lambda x: x[..., -1], lambda x: x[..., -1], ((2, 3, 4),)),
    Case("index_newaxis", lambda x: x[None, :, np.newaxis], lambda x: x[None, :, None], ((3,),)),
    Case(
        "index_combined",
        lambda x: x[1:, None, ::-2, 2],
        lambda x: x[1:, None, ::-2, 2],
        ((3, 5, 4),),
    ),
    Case("index_clamped", lambda x: x[-10:10, 3:1], lambda x: x[-10:10, 3:1], ((3, 4),)),
    Case("index_rank0", lambda x: x[()] * x[...], lambda x: x * x, ((),)),
    Case(
        "pad",
        lambda x: ops.lax_pad(x, (1, 0), (2, 1), (0, 2)),
        lambda x: _pad(x, (1, 0), (2, 1), (0, 2)),
        ((2, 3),),
    ),
    # one_hot and composites
    Case(
        "one_hot",
        lambda y: ops.one_hot(y, 4),
        lambda y: np.eye(4, dtype=np.float32)[y],
        ((5,),),
        differentiable=False,
        int_inputs={0: 4},
    ),
    Case("softmax", ops.softmax, _softmax, ((3, 5),)),
    Case("softmax_axis0", lambda x: ops.softmax(x, axis=0), lambda x: _softmax(x, 0), ((3, 5),)),
    Case(
        "log_softmax",
        ops.log_softmax,
        lambda x: (
            x
            - x.max(-1, keepdims=True)
            - np.log(np.exp(x - x.max(-1, keepdims=True)).sum(-1, keepdims=True))
        ),
        ((3, 5),),
    ),
    Case("layer_norm", lambda x, w, b: ops.layer_norm(x, w, b), _layer_norm, ((4, 6), (6,), (6,))),
    Case("cross_entropy", ops.cross_entropy, _cross_entropy, ((4, 5), (4,)), int_inputs={1: 5}),
]

# ----- convolutions (family "conv"): references by direct loops over kernel offsets ------------


def _pairs(value: Any) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def _conv2d_ref(x, w, b=None, stride=1, padding=0, dilation=1, groups=1) -> np.ndarray:
    """Zero-pad, then for every output channel and kernel offset add a strided slice of x
    times the weight: no im2col, no window view."""
    (sh, sw), (dh, dw) = _pairs(stride), _pairs(dilation)
    kh, kw = w.shape[2:]
    if padding == "same":
        rows, cols = dh * (kh - 1), dw * (kw - 1)
        widths = [(rows // 2, rows - rows // 2), (cols // 2, cols - cols // 2)]
    else:
        ph, pw = (0, 0) if padding == "valid" else _pairs(padding)
        widths = [(ph, ph), (pw, pw)]
    xp = np.pad(x, [(0, 0), (0, 0), *widths])
    n, channels, height, width = xp.shape
    per_group, per_group_out = channels // groups, w.shape[0] // groups
    oh, ow = (height - (kh - 1) * dh - 1) // sh + 1, (width - (kw - 1) * dw - 1) // sw + 1
    out = np.zeros((n, w.shape[0], oh, ow), x.dtype)
    for f in range(w.shape[0]):
        first = f // per_group_out * per_group
        for i in range(kh):
            for j in range(kw):
                rows = slice(i * dh, i * dh + (oh - 1) * sh + 1, sh)
                cols = slice(j * dw, j * dw + (ow - 1) * sw + 1, sw)
                window = xp[:, first : first + per_group, rows, cols]
                out[:, f] += np.tensordot(w[f, :, i, j], window, axes=([0], [1]))
    return out if b is None else out + b[None, :, None, None]


def _conv_transpose2d_ref(
    x, w, b=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
) -> np.ndarray:
    """Scatter: each input element adds its weighted kernel into the output (torch's
    definition), then the padding is cropped."""
    (sh, sw), (ph, pw) = _pairs(stride), _pairs(padding)
    (oph, opw), (dh, dw) = _pairs(output_padding), _pairs(dilation)
    n, channels, height, width = x.shape
    _, per_group_out, kh, kw = w.shape
    per_group = channels // groups
    full = (
        (height - 1) * sh + (kh - 1) * dh + 1 + oph,
        (width - 1) * sw + (kw - 1) * dw + 1 + opw,
    )
    out = np.zeros((n, per_group_out * groups, *full), x.dtype)
    for c in range(channels):
        outs = slice(c // per_group * per_group_out, (c // per_group + 1) * per_group_out)
        for i in range(kh):
            for j in range(kw):
                rows = slice(i * dh, i * dh + (height - 1) * sh + 1, sh)
                cols = slice(j * dw, j * dw + (width - 1) * sw + 1, sw)
                out[:, outs, rows, cols] += x[:, c, None] * w[c, :, i, j, None, None]
    out = out[:, :, ph : full[0] - ph, pw : full[1] - pw]
    return out if b is None else out + b[None, :, None, None]


def _locally_connected2d_ref(x, w, b=None, stride=1, padding=0) -> np.ndarray:
    (sh, sw), (ph, pw) = _pairs(stride), _pairs(padding)
    xp = np.pad(x, [(0, 0), (0, 0), (ph, ph), (pw, pw)])
    oh, ow, _, _, kh, kw = w.shape
    out = np.zeros((x.shape[0], w.shape[2], oh, ow), x.dtype)
    for y in range(oh):
        for z in range(ow):
            window = xp[:, :, y * sh : y * sh + kh, z * sw : z * sw + kw]
            out[:, :, y, z] = np.einsum("ncij,fcij->nf", window, w[y, z])
    return out if b is None else out + b


def _conv1d_ref(x, w, b=None, stride=1, padding=0, dilation=1, groups=1) -> np.ndarray:
    """Direct loops over the kernel taps of a 1-D convolution."""
    widths = (padding, padding)
    xp = np.pad(x, [(0, 0), (0, 0), widths])
    per_group, per_group_out = x.shape[1] // groups, w.shape[0] // groups
    length = (xp.shape[2] - (w.shape[2] - 1) * dilation - 1) // stride + 1
    out = np.zeros((x.shape[0], w.shape[0], length), x.dtype)
    for f in range(w.shape[0]):
        first = f // per_group_out * per_group
        for t in range(w.shape[2]):
            taps = xp[:, first : first + per_group, t * dilation :][
                :, :, : (length - 1) * stride + 1 : stride
            ]
            out[:, f] += np.tensordot(w[f, :, t], taps, axes=([0], [1]))
    return out if b is None else out + b[None, :, None]


def _conv(
    id_: str, fn: Callable[..., Any], reference: Callable[..., Any], *shapes: tuple[int, ...]
) -> Case:
    return Case(id_, fn, reference, shapes, family="conv")


CASES += [
    _conv(
        "conv2d_stride2_groups2_pad1",
        lambda x, w, b: ops.conv2d(x, w, b, stride=2, padding=1, groups=2),
        lambda x, w, b: _conv2d_ref(x, w, b, stride=2, padding=1, groups=2),
        (2, 4, 5, 6),
        (6, 2, 3, 2),
        (6,),
    ),
    _conv(
        "conv2d_dilation2_tuple_padding",
        lambda x, w: ops.conv2d(x, w, stride=(2, 1), padding=(1, 2), dilation=2),
        lambda x, w: _conv2d_ref(x, w, stride=(2, 1), padding=(1, 2), dilation=2),
        (1, 3, 7, 5),
        (2, 3, 3, 2),
    ),
    _conv(
        "depthwise_conv2d_same_even_kernel",
        lambda x, w: ops.depthwise_conv2d(x, w, padding="same", dilation=(2, 1)),
        lambda x, w: _conv2d_ref(x, w, padding="same", dilation=(2, 1), groups=3),
        (1, 3, 5, 4),
        (6, 1, 2, 3),
    ),
    _conv(
        "conv_transpose2d_output_padding",
        lambda x, w, b: ops.conv_transpose2d(
            x, w, b, stride=2, padding=1, output_padding=1, groups=2, dilation=(1, 2)
        ),
        lambda x, w, b: _conv_transpose2d_ref(
            x, w, b, stride=2, padding=1, output_padding=1, groups=2, dilation=(1, 2)
        ),
        (1, 4, 3, 3),
        (4, 3, 3, 2),
        (6,),
    ),
    _conv(
        "conv1d_valid_stride2_groups2",
        lambda x, w, b: ops.conv1d(x, w, b, stride=2, padding="valid", groups=2),
        lambda x, w, b: _conv1d_ref(x, w, b, stride=2, groups=2),
        (2, 4, 9),
        (4, 2, 3),
        (4,),
    ),
    _conv(
        "locally_connected2d_stride2_pad1",
        lambda x, w, b: ops.locally_connected2d(x, w, b, stride=2, padding=1),
        lambda x, w, b: _locally_connected2d_ref(x, w, b, stride=2, padding=1),
        (1, 2, 4, 5),
        (2, 3, 2, 2, 3, 2),
        (2, 2, 3),
    ),
]

# ----- reductions and statistics (family "statistics") -------------------------------------------


def _logsumexp(x: np.ndarray, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    """scipy.special.logsumexp's algorithm: shift by the max, by 0 where it is not finite."""
    peak = np.max(x, axis=axis, keepdims=True)
    shift = np.where(np.isfinite(peak), peak, 0)
    total = np.sum(np.exp(x - shift), axis=axis, keepdims=keepdims)
    return np.log(total) + (shift if keepdims else np.squeeze(shift, axis=axis))


def _statistics(
    id: str, fn: Callable[..., Any], reference: Callable[..., Any], *shapes: tuple[int, ...], **kw
) -> Case:
    return Case(id, fn, reference, shapes, family="statistics", **kw)


CASES += [
    _statistics(
        "reduce_min",
        lambda x: ops.reduce_min(x, axis=1),
        lambda x: x.min(1),
        (3, 5),
        domain="distinct",
    ),
    _statistics(
        "reduce_min_all_keepdims",
        lambda x: ops.reduce_min(x, keepdims=True),
        lambda x: x.min(keepdims=True),
        (2, 3),
        domain="distinct",
    ),
    _statistics(
        "reduce_min_axes_0_2",
        lambda x: ops.reduce_min(x, axis=(0, -1)),
        lambda x: x.min((0, 2)),
        (2, 3, 5),
        domain="distinct",
    ),
    _statistics("variance", lambda x: ops.variance(x, axis=1), lambda x: np.var(x, axis=1), (3, 5)),
    _statistics(
        "variance_ddof1_axes_keepdims",
        lambda x: ops.variance(x, axis=(0, 2), ddof=1, keepdims=True),
        lambda x: np.var(x, axis=(0, 2), ddof=1, keepdims=True),
        (2, 3, 5),
    ),
    _statistics(
        # A large mean against a small spread: E[x^2] - E[x]^2 would lose every digit.
        "variance_all_ddof2_offset",
        lambda x: ops.variance(x + 1000.0, ddof=2),
        lambda x: np.var(x + 1000.0, ddof=2),
        (4, 3),
    ),
    _statistics(
        "std_ddof1",
        lambda x: ops.std(x, axis=0, ddof=1),
        lambda x: np.std(x, axis=0, ddof=1),
        (5, 3),
    ),
    _statistics(
        "reduce_log_variance",
        lambda x: ops.reduce_log_variance(x, axis=-1, keepdims=True),
        lambda x: np.log(np.var(x, axis=-1, keepdims=True) + 1e-8),
        (3, 7),
    ),
    _statistics(
        "logsumexp", lambda x: ops.logsumexp(x, axis=1), lambda x: _logsumexp(x, 1), (3, 5)
    ),
    _statistics(
        "logsumexp_all_large",
        lambda x: ops.logsumexp(x * 100.0),
        lambda x: _logsumexp(x * 100.0),
        (2, 3),
    ),
    _statistics(
        "logsumexp_axes_keepdims",
        lambda x: ops.logsumexp(x, axis=(0, 2), keepdims=True),
        lambda x: _logsumexp(x, (0, 2), keepdims=True),
        (2, 3, 3),
    ),
    _statistics(
        "argmax",
        lambda x: ops.argmax(x, axis=1),
        lambda x: np.argmax(x, axis=1),
        (3, 5),
        domain="distinct",
        differentiable=False,
    ),
    _statistics(
        "argmax_flat_keepdims",
        lambda x: ops.argmax(x, keepdims=True),
        lambda x: np.argmax(x, keepdims=True),
        (3, 5),
        domain="distinct",
        differentiable=False,
    ),
    _statistics(
        # Rows of negative numbers become rows of zeros: ties, the first one wins.
        "argmax_ties",
        lambda x: ops.argmax(ops.maximum(x, 0.0), axis=0),
        lambda x: np.argmax(np.maximum(x, 0.0), axis=0),
        (3, 7),
        domain="distinct",
        differentiable=False,
    ),
    _statistics(
        "argmin",
        lambda x: ops.argmin(x, axis=-1),
        lambda x: np.argmin(x, axis=-1),
        (2, 3, 5),
        domain="distinct",
        differentiable=False,
    ),
    _statistics(
        "argmin_flat",
        ops.argmin,
        np.argmin,
        (2, 3, 3),
        domain="distinct",
        differentiable=False,
    ),
    _statistics(
        # An index feeding float arithmetic: its gradient is zero, the rest's flows.
        "argmax_in_loss",
        lambda x: x * ops.astype(ops.argmax(x, axis=1, keepdims=True), x.dtype),
        lambda x: x * np.argmax(x, axis=1)[:, None].astype(x.dtype),
        (3, 4),
        domain="distinct",
    ),
    _statistics("cumsum", lambda x: ops.cumsum(x, axis=1), lambda x: np.cumsum(x, 1), (3, 5)),
    _statistics("cumsum_flat", ops.cumsum, np.cumsum, (2, 3)),
    _statistics(
        "cumsum_axis0", lambda x: ops.cumsum(x, axis=-3), lambda x: np.cumsum(x, 0), (3, 2, 3)
    ),
]

# ----- shape and data movement (family "shape"): numpy's own functions, torch's rules by hand ---


def _interpolate_ref(x, size, mode, align_corners=False, scale_factor=None) -> np.ndarray:
    """torch's interpolate, one output element at a time: each spatial axis gives the source
    position of an output index (nearest: floor(dst * scale) in float32; linear: two
    neighbours and their weights), and the element sums its 2**d corners' weighted values."""
    spatial = x.shape[2:]
    factors = scale_factor if isinstance(scale_factor, tuple) else (scale_factor,) * len(spatial)
    taps = []  # per axis, per output index: [(source index, weight), ...]
    for n, out, factor in zip(spatial, size, factors, strict=True):
        axis_taps = []
        for dst in range(out):
            if mode == "nearest":
                scale = np.float32(1 / factor) if factor else np.float32(n) / np.float32(out)
                src = min(int(np.floor(np.float32(dst) * scale)), n - 1)
                axis_taps.append([(dst if out == n else src, 1.0)])
                continue
            if align_corners:
                src = dst * (n - 1) / (out - 1) if out > 1 else 0.0
            else:
                src = max((dst + 0.5) * (1 / factor if factor else n / out) - 0.5, 0.0)
            low = min(int(np.floor(src)), n - 1)
            t = src - low
            axis_taps.append([(low, 1 - t), (min(low + 1, n - 1), t)])
        taps.append(axis_taps)
    out = np.zeros((*x.shape[:2], *size), x.dtype)
    for index in np.ndindex(*size):
        for corner in itertools.product(*(taps[a][i] for a, i in enumerate(index))):
            weight = np.prod([w for _, w in corner])
            out[(..., *index)] += weight * x[(..., *(s for s, _ in corner))]
    return out


def _crop_ref(x: np.ndarray, top: int, left: int, height: int, width: int) -> np.ndarray:
    """torchvision's crop: zeros where the window leaves the image."""
    out = np.zeros((*x.shape[:-2], height, width), x.dtype)
    for i, j in np.ndindex(height, width):
        if 0 <= top + i < x.shape[-2] and 0 <= left + j < x.shape[-1]:
            out[..., i, j] = x[..., top + i, left + j]
    return out


def _pixel_shuffle_ref(x: np.ndarray, r: int) -> np.ndarray:
    """out[n, c, h*r + i, w*r + j] = x[n, c*r*r + i*r + j, h, w], element by element."""
    n, channels, height, width = x.shape
    out = np.zeros((n, channels // (r * r), height * r, width * r), x.dtype)
    for b, c, h, w in np.ndindex(*out.shape):
        out[b, c, h, w] = x[b, c * r * r + (h % r) * r + w % r, h // r, w // r]
    return out


def _pixel_unshuffle_ref(x: np.ndarray, r: int) -> np.ndarray:
    """out[n, c*r*r + i*r + j, h, w] = x[n, c, h*r + i, w*r + j], element by element."""
    n, channels, height, width = x.shape
    out = np.zeros((n, channels * r * r, height // r, width // r), x.dtype)
    for b, c, h, w in np.ndindex(*out.shape):
        out[b, c, h, w] = x[b, c // (r * r), h * r + c % (r * r) // r, w * r + c % r]
    return out


def _shape(
    id: str,
    fn: Callable[..., Any],
    reference: Callable[..., Any],
    shapes: tuple[tuple[int, ...], ...],
    domain: str = "any",
) -> Case:
    return Case(id, fn, reference, shapes, domain, family="shape")


CASES += [
    _shape(
        "concat_negative_axis",
        lambda x, y: ops.concat([x, y, x], axis=-1),
        lambda x, y: np.concatenate([x, y, x], axis=-1),
        ((2, 3), (2, 1)),
    ),
    _shape(
        "concat_with_an_empty_operand",
        lambda x, e, y: ops.concat([x, e, y]),
        lambda x, e, y: np.concatenate([x, e, y]),
        ((1, 2, 3), (0, 2, 3), (2, 2, 3)),
    ),
    _shape(
        "stack",
        lambda x, y: ops.stack([x, y, x], axis=-2),
        lambda x, y: np.stack([x, y, x], axis=-2),
        ((3, 2), (3, 2)),
    ),
    _shape(
        "split_indices",
        lambda x: ops.concat(ops.split(x, [1, -2], axis=-1)[::-1], axis=-1),
        lambda x: np.concatenate(np.split(x, [1, -2], axis=-1)[::-1], axis=-1),
        ((2, 5),),
    ),
    _shape(
        "split_sections",
        lambda x: ops.stack(ops.split(x, 3, axis=1)),
        lambda x: np.stack(np.split(x, 3, axis=1)),
        ((2, 3, 1),),
    ),
    _shape(
        "pad_constant",
        lambda x: ops.pad(x, ((1, 0), (2, 1)), constant_values=1.5),
        lambda x: np.pad(x, ((1, 0), (2, 1)), constant_values=1.5),
        ((2, 3),),
    ),
    _shape(
        "pad_constant_per_side",
        lambda x: ops.pad(x, 1, constant_values=((1, 2), (3, 4))),
        lambda x: np.pad(x, 1, constant_values=((1, 2), (3, 4))),
        ((2, 3),),
    ),
    _shape(
        # -inf padding under a max: what max pooling with padding does.
        "pad_minus_inf_then_max",
        lambda x: ops.reduce_max(ops.pad(x, ((0, 0), (1, 2)), constant_values=-np.inf), axis=-1),
        lambda x: np.pad(x, ((0, 0), (1, 2)), constant_values=-np.inf).max(-1),
        ((3, 2),),
        "distinct",
    ),
    _shape(
        "pad_reflect_wider_than_axis",
        lambda x: ops.pad(x, ((2, 4), (1, 3)), mode="reflect"),
        lambda x: np.pad(x, ((2, 4), (1, 3)), mode="reflect"),
        ((3, 4),),
    ),
    _shape(
        "pad_replicate",
        lambda x: ops.pad(x, ((1, 2), (3, 0), (0, 1)), mode="replicate"),
        lambda x: np.pad(x, ((1, 2), (3, 0), (0, 1)), mode="edge"),
        ((2, 3, 1),),
    ),
    _shape(
        "pad_symmetric_then_wrap",
        lambda x: ops.pad(ops.pad(x, (2, 1), mode="symmetric"), ((0, 0), (3, 1)), mode="wrap"),
        lambda x: np.pad(np.pad(x, (2, 1), mode="symmetric"), ((0, 0), (3, 1)), mode="wrap"),
        ((2, 3),),
    ),
    _shape(
        "crop_partly_outside",
        lambda x: ops.crop(x, 1, -1, 4, 3),
        lambda x: _crop_ref(x, 1, -1, 4, 3),
        ((1, 2, 4, 5),),
    ),
    _shape(
        "slice_axis_backwards",
        lambda x: ops.slice_axis(x, -1, 0, -2, axis=-1),
        lambda x: x[..., -1:0:-2],
        ((2, 6),),
    ),
    _shape(
        "squeeze_expand_dims",
        lambda x: ops.expand_dims(ops.squeeze(x, axis=1), (0, -1)),
        lambda x: np.expand_dims(np.squeeze(x, axis=1), (0, -1)),
        ((3, 1, 2),),
    ),
    _shape(
        "flip",
        lambda x: ops.flip(x, axis=(0, -1)),
        lambda x: np.flip(x, axis=(0, -1)),
        ((2, 3, 4),),
    ),
    _shape("tile", lambda x: ops.tile(x, (2, 1, 3)), lambda x: np.tile(x, (2, 1, 3)), ((2, 3),)),
    _shape(
        "repeat_axis",
        lambda x: ops.repeat(x, 3, axis=-2),
        lambda x: np.repeat(x, 3, axis=-2),
        ((3, 2),),
    ),
    _shape(
        "repeat_counts_flat",
        lambda x: ops.repeat(x, [1, 0, 2, 2, 1, 3]),
        lambda x: np.repeat(x, [1, 0, 2, 2, 1, 3]),
        ((2, 3),),
    ),
    _shape(
        "upsample_nearest_2x",
        lambda x: ops.upsample(x, scale_factor=2),
        lambda x: _interpolate_ref(x, (6, 4), "nearest", scale_factor=2.0),
        ((1, 2, 3, 2),),
    ),
    _shape(
        "upsample_nearest_size",
        lambda x: ops.upsample(x, size=(5, 2)),
        lambda x: _interpolate_ref(x, (5, 2), "nearest"),
        ((2, 1, 3, 5),),
    ),
    _shape(
        "upsample_bilinear",
        lambda x: ops.upsample(x, size=(5, 4), mode="bilinear"),
        lambda x: _interpolate_ref(x, (5, 4), "bilinear"),
        ((1, 2, 3, 2),),
    ),
    _shape(
        "upsample_bilinear_align_corners",
        lambda x: ops.upsample(x, scale_factor=1.5, mode="bilinear", align_corners=True),
        lambda x: _interpolate_ref(x, (4, 3), "bilinear", align_corners=True),
        ((1, 1, 3, 2),),
    ),
    _shape(
        "upsample_linear_down",
        lambda x: ops.upsample(x, scale_factor=0.6, mode="linear"),
        lambda x: _interpolate_ref(x, (3,), "linear", scale_factor=0.6),
        ((2, 1, 5),),
    ),
    _shape(
        "pixel_shuffle",
        lambda x: ops.pixel_shuffle(x, 2),
        lambda x: _pixel_shuffle_ref(x, 2),
        ((1, 8, 2, 3),),
    ),
    _shape(
        "pixel_unshuffle",
        lambda x: ops.pixel_unshuffle(x, 2),
        lambda x: _pixel_unshuffle_ref(x, 2),
        ((2, 1, 4, 6),),
    ),
]

# ----- elementwise math and activations (family "elementwise"): textbook formulas ----------------

_erf_ref = np.vectorize(math.erf, otypes=[np.float64])
_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def _gelu_tanh_ref(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))


def _elementwise(
    id: str,
    fn: Callable[..., Any],
    reference: Callable[..., Any],
    shape: tuple[int, ...],
    domain: str = "any",
    **kw: Any,
) -> Case:
    return Case(id, fn, reference, (shape,), domain, family="elementwise", **kw)


CASES += [
    _elementwise("sin", ops.sin, np.sin, (3, 5)),
    _elementwise("cos", lambda x: ops.cos(x * 2.0), lambda x: np.cos(x * 2), (7,)),
    _elementwise("square", ops.square, np.square, (2, 3, 5)),
    _elementwise("reciprocal", ops.reciprocal, lambda x: 1 / x, (3, 5), "away_from_zero"),
    _elementwise("rsqrt", ops.rsqrt, lambda x: 1 / np.sqrt(x), (5, 3), "positive"),
    # floor's gradient is zero (+ x: a gradient to compare), as finite differences away from
    # the integers.
    _elementwise("floor", lambda x: ops.floor(x * 3.0) + x, lambda x: np.floor(x * 3) + x, (3, 5)),
    _elementwise("erf", ops.erf, lambda x: _erf_ref(x), (3, 5)),
    _elementwise("softplus", ops.softplus, lambda x: np.logaddexp(0, x), (3, 5)),
    _elementwise(
        # beta * x crosses the threshold inside the domain: both branches run.
        "softplus_beta_threshold",
        lambda x: ops.softplus(x, beta=2.0, threshold=1.5),
        lambda x: np.where(2 * x > 1.5, x, np.logaddexp(0, 2 * x) / 2),
        (7,),
    ),
    _elementwise("gelu", ops.gelu, lambda x: 0.5 * x * (1 + _erf_ref(x / np.sqrt(2))), (3, 5)),
    _elementwise(
        "gelu_tanh",
        lambda x: ops.gelu(x * 2.0, approximate="tanh"),
        lambda x: _gelu_tanh_ref(x * 2),
        (2, 7),
    ),
    _elementwise("gelu_rank0", ops.gelu, lambda x: 0.5 * x * (1 + _erf_ref(x / np.sqrt(2))), ()),
    _elementwise(
        "leaky_relu",
        lambda x: ops.leaky_relu(x, negative_slope=0.2),
        lambda x: np.where(x > 0, x, 0.2 * x),
        (3, 5),
    ),
    _elementwise(
        "elu",
        lambda x: ops.elu(x, alpha=0.7),
        lambda x: np.where(x > 0, x, 0.7 * np.expm1(x)),
        (3, 5),
    ),
    _elementwise(
        "selu",
        ops.selu,
        lambda x: _SELU_SCALE * np.where(x > 0, x, _SELU_ALPHA * np.expm1(x)),
        (7,),
    ),
    _elementwise("silu", ops.silu, lambda x: x / (1 + np.exp(-x)), (3, 5)),
    _elementwise("swish_empty", ops.swish, lambda x: x / (1 + np.exp(-x)), (0, 3)),
    _elementwise(
        "mish",
        lambda x: ops.mish(x * 2.0),
        lambda x: 2 * x * np.tanh(np.logaddexp(0, 2 * x)),
        (3, 5),
    ),
    _elementwise(
        "log_sigmoid",
        lambda x: ops.log_sigmoid(x * 3.0),
        lambda x: -np.logaddexp(0, -3 * x),
        (3, 5),
    ),
    _elementwise(
        "hard_sigmoid",
        lambda x: ops.hard_sigmoid(x * 3.0),
        lambda x: np.minimum(np.maximum(3 * x + 3, 0), 6) / 6,
        (3, 5),
    ),
    _elementwise(
        "hard_tanh",
        lambda x: ops.hard_tanh(x, min_val=-0.5, max_val=0.8),
        lambda x: np.clip(x, -0.5, 0.8),
        (3, 5),
    ),
    _elementwise(
        "clip", lambda x: ops.clip(x, -0.7, 0.9), lambda x: np.clip(x, -0.7, 0.9), (2, 3, 5)
    ),
    _elementwise(
        "clip_upper_only", lambda x: ops.clip(x, None, 0.2), lambda x: np.clip(x, None, 0.2), (7,)
    ),
    _elementwise(
        # Activations chained: one fused loop computing them all.
        "activation_chain",
        lambda x: ops.apply_activation(ops.leaky_relu(ops.sin(x)), "gelu", approximate="tanh"),
        lambda x: _gelu_tanh_ref(np.where(np.sin(x) > 0, np.sin(x), 0.01 * np.sin(x))),
        (3, 5),
    ),
]
# ----- gather and scatter (family "indexing"): numpy's take, take_along_axis and add.at -----------
# Index ranges hold fewer positions than there are indices, so positions repeat and the
# scatter-add of every gradient accumulates; negative indices count from the end.


def _scatter_ref(updates: np.ndarray, indices: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Zeros of `shape` (rank 2), `updates[r, k]` added at row r, column indices[0, k]."""
    out = np.zeros(shape, updates.dtype)
    np.add.at(out, (np.arange(updates.shape[0])[:, None], indices), updates)
    return out


def _indexing(
    id: str,
    fn: Callable[..., Any],
    reference: Callable[..., np.ndarray],
    shapes: tuple[tuple[int, ...], ...],
    **kw: Any,
) -> Case:
    return Case(id, fn, reference, shapes, family="indexing", **kw)


CASES += [
    _indexing(
        "take_axis1_negative",
        lambda x, i: ops.take(x, i, axis=1),
        lambda x, i: np.take(x, i, axis=1),
        ((3, 5, 4), (2, 6)),
        int_inputs={1: (-5, 5)},
    ),
    _indexing(
        "take_flat",
        ops.take,
        np.take,
        ((3, 4), (7,)),
        int_inputs={1: (-12, 12)},
    ),
    _indexing(
        "take_scalar_index",
        lambda x, i: ops.take(x, i, axis=-1),
        lambda x, i: np.take(x, i, axis=-1),
        ((3, 4), ()),
        int_inputs={1: (-4, 4)},
    ),
    *[
        _indexing(
            f"take_{mode}",
            lambda x, i, mode=mode: ops.take(x, i, axis=1, mode=mode),
            lambda x, i, mode=mode: np.take(x, i, axis=1, mode=mode),
            ((2, 5), (9,)),
            int_inputs={1: (-8, 8)},
        )
        for mode in ("clip", "wrap")
    ],
    _indexing(
        "take_along_axis_broadcast",
        lambda x, i: ops.take_along_axis(x, i, axis=1),
        lambda x, i: np.take_along_axis(x, i, axis=1),
        ((3, 5, 1), (1, 6, 4)),
        int_inputs={1: (-5, 5)},
    ),
    _indexing(
        "gather_torch",
        lambda x, i: ops.gather(x, i, 0),
        lambda x, i: np.take_along_axis(x[:, :3], i, 0),
        ((3, 5), (4, 3)),
        int_inputs={1: (-3, 3)},
    ),
    _indexing(
        "embedding",
        lambda i, w: ops.embedding(i, w),
        lambda i, w: w[i],
        ((2, 5), (4, 3)),
        int_inputs={0: 4},
    ),
    _indexing(
        # An index the program computes (astype truncates), as grid_sample makes them.
        "take_computed_index",
        lambda x, t: ops.take(x, ops.astype(ops.abs(t) * 2.9, np.int64), axis=0) * t[:, None],
        lambda x, t: np.take(x, (np.abs(t) * 2.9).astype(np.int64), axis=0) * t[:, None],
        ((5, 3), (4,)),
    ),
    _indexing(
        # The scatter as a forward op: its gradient is a gather (second derivatives of take).
        "scatter_add",
        lambda g, i: scatter_add(g, i, 1, (3, 4)),
        lambda g, i: _scatter_ref(g, i % 4, (3, 4)),
        ((3, 7), (1, 7)),
        int_inputs={1: (-4, 4)},
    ),
]

# ----- pooling and normalisation (families "pooling", "normalization"): loops over windows -------


def _pool_ref(
    x, kernel, stride=None, padding=0, dilation=1, ceil_mode=False, kind="max", include_pad=True
) -> np.ndarray:
    """torch's pooling by its definition: per output position, the in-bounds elements of the
    window (no padded array), max or sum / torch's divisor."""
    (kh, kw), (ph, pw), (dh, dw) = _pairs(kernel), _pairs(padding), _pairs(dilation)
    sh, sw = (kh, kw) if stride is None else _pairs(stride)
    height, width = x.shape[2:]

    def out_size(size: int, k: int, s: int, p: int, d: int) -> int:
        span = size + 2 * p - (k - 1) * d - 1
        out = (span + (s - 1 if ceil_mode else 0)) // s + 1
        return out - 1 if ceil_mode and (out - 1) * s >= size + p else out

    oh, ow = out_size(height, kh, sh, ph, dh), out_size(width, kw, sw, pw, dw)
    out = np.zeros((*x.shape[:2], oh, ow), x.dtype)
    for i, j in itertools.product(range(oh), range(ow)):
        top, left = i * sh - ph, j * sw - pw
        rows = [r for r in range(top, top + kh * dh, dh) if 0 <= r < height]
        cols = [c for c in range(left, left + kw * dw, dw) if 0 <= c < width]
        window = x[:, :, rows][:, :, :, cols]
        if kind == "max":
            out[:, :, i, j] = window.max(axis=(2, 3))
            continue
        bottom, right = min(top + kh, height + ph), min(left + kw, width + pw)
        count = (bottom - top) * (right - left) if include_pad else len(rows) * len(cols)
        out[:, :, i, j] = window.sum(axis=(2, 3)) / count
    return out


def _adaptive_avg_ref(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    (height, width), (oh, ow) = x.shape[2:], size
    out = np.zeros((*x.shape[:2], oh, ow), x.dtype)
    for i, j in itertools.product(range(oh), range(ow)):
        rows = slice(i * height // oh, math.ceil((i + 1) * height / oh))
        cols = slice(j * width // ow, math.ceil((j + 1) * width / ow))
        out[:, :, i, j] = x[:, :, rows, cols].mean(axis=(2, 3))
    return out


def _per_channel(v: np.ndarray, x: np.ndarray) -> np.ndarray:
    return v.reshape((-1,) + (1,) * (x.ndim - 2))


def _batch_norm_ref(x, w, b, m, v, eps=1e-5) -> np.ndarray:
    """The textbook formula: (x - mean) / sqrt(var + eps) * weight + bias."""
    w, b, m, v = (_per_channel(t, x) for t in (w, b, m, v))
    return (x - m) / np.sqrt(v + eps) * w + b


def _batch_axes(x: np.ndarray) -> tuple[int, ...]:
    return (0, *range(2, x.ndim))


def _batch_norm_train_ref(x, w, b) -> np.ndarray:
    axes = _batch_axes(x)
    return _batch_norm_ref(x, w, b, x.mean(axes), x.var(axes))


def _group_norm_ref(x, groups, w=None, b=None, eps=1e-5) -> np.ndarray:
    grouped = x.reshape(x.shape[0], groups, -1)
    mu, var = grouped.mean(-1, keepdims=True), grouped.var(-1, keepdims=True)
    y = ((grouped - mu) / np.sqrt(var + eps)).reshape(x.shape)
    y = y if w is None else y * _per_channel(w, x)
    return y if b is None else y + _per_channel(b, x)


def _pool_case(id_: str, fn: Callable[..., Any], reference: Callable[..., Any], *shapes, **kw):
    return Case(id_, fn, reference, tuple(shapes), family="pooling", **kw)


def _norm_case(id_: str, fn: Callable[..., Any], reference: Callable[..., Any], *shapes):
    # Positive inputs: variances must be.
    return Case(id_, fn, reference, tuple(shapes), "positive", family="normalization")


CASES += [
    _pool_case(
        "max_pool2d_floor_drops_tail",
        lambda x: ops.max_pool2d(x, 2),
        lambda x: _pool_ref(x, 2),
        (2, 3, 5, 5),
        domain="distinct",
    ),
    _pool_case(
        "max_pool2d_stride_padding",
        lambda x: ops.max_pool2d(x, 3, stride=2, padding=1),
        lambda x: _pool_ref(x, 3, 2, 1),
        (1, 2, 7, 6),
        domain="distinct",
    ),
    _pool_case(
        "max_pool2d_dilation",
        lambda x: ops.max_pool2d(x, 2, stride=(1, 2), padding=(1, 0), dilation=(2, 1)),
        lambda x: _pool_ref(x, 2, (1, 2), (1, 0), (2, 1)),
        (1, 2, 6, 7),
        domain="distinct",
    ),
    _pool_case(
        "max_pool2d_ceil_mode",
        lambda x: ops.max_pool2d(x, 2, ceil_mode=True),
        lambda x: _pool_ref(x, 2, ceil_mode=True),
        (1, 2, 5, 7),
        domain="distinct",
    ),
    _pool_case(
        # Every window holds copies of one value (a broadcast): the cotangent must reach x
        # once per window, not once per tied copy; finite differences are well defined.
        "max_pool2d_ties_in_windows",
        lambda x: ops.max_pool2d(ops.broadcast_to(x, (1, 2, 3, 4)), 2, stride=1),
        lambda x: _pool_ref(np.broadcast_to(x, (1, 2, 3, 4)), 2, 1),
        (1, 2, 3, 1),
        domain="distinct",
    ),
    _pool_case(
        # After a relu whole windows are 0.0: ties everywhere, compiled and eager alike.
        "max_pool2d_after_relu",
        lambda x: ops.max_pool2d(ops.relu(x), 2, stride=1),
        lambda x: _pool_ref(np.maximum(x, 0), 2, 1),
        (2, 2, 4, 5),
        domain="away_from_zero",
    ),
    _pool_case(
        # Windows that tile the input (stride = kernel, W5's pooling), tied after the relu,
        # with a row and a column no window reads: the gradient's interleaved path.
        "max_pool2d_tiled_after_relu",
        lambda x: ops.max_pool2d(ops.relu(x), 2),
        lambda x: _pool_ref(np.maximum(x, 0), 2, 2),
        (2, 2, 5, 7),
        domain="away_from_zero",
    ),
    _pool_case(
        "avg_pool2d_stride",
        lambda x: ops.avg_pool2d(x, 3, stride=2),
        lambda x: _pool_ref(x, 3, 2, kind="avg"),
        (2, 2, 7, 5),
    ),
    _pool_case(
        "avg_pool2d_padding_excluded",
        lambda x: ops.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False),
        lambda x: _pool_ref(x, 3, 2, 1, kind="avg", include_pad=False),
        (1, 2, 7, 6),
    ),
    _pool_case(
        "avg_pool2d_ceil_mode",
        lambda x: ops.avg_pool2d(x, (3, 2), stride=2, padding=(1, 0), ceil_mode=True),
        lambda x: _pool_ref(x, (3, 2), 2, (1, 0), ceil_mode=True, kind="avg"),
        (1, 2, 6, 5),
    ),
    _pool_case(
        "avg_pool2d_divisor_override",
        lambda x: ops.avg_pool2d(x, 2, divisor_override=3),
        lambda x: _pool_ref(x, 2, kind="avg") * 4 / 3,
        (1, 2, 4, 5),
    ),
    _pool_case(
        "sum_pool2d_dilation",
        lambda x: ops.sum_pool2d(x, 2, stride=(2, 1), dilation=(1, 2)),
        lambda x: _pool_ref(x, 2, (2, 1), 0, (1, 2), kind="avg") * 4,
        (1, 2, 5, 6),
    ),
    _pool_case(
        "global_avg_pool2d",
        ops.global_avg_pool2d,
        lambda x: x.mean(axis=(2, 3), keepdims=True),
        (2, 3, 5, 3),
    ),
    _pool_case(
        "adaptive_avg_pool2d_uneven",
        lambda x: ops.adaptive_avg_pool2d(x, (3, 2)),
        lambda x: _adaptive_avg_ref(x, (3, 2)),
        (1, 2, 7, 5),
    ),
    _pool_case(
        "adaptive_avg_pool2d_even",
        lambda x: ops.adaptive_avg_pool2d(x, (3, None)),
        lambda x: _adaptive_avg_ref(x, (3, 4)),
        (1, 2, 6, 4),
    ),
    _norm_case(
        "batch_norm_inference",
        ops.batch_norm,
        _batch_norm_ref,
        (2, 3, 5, 3),
        (3,),
        (3,),
        (3,),
        (3,),
    ),
    _norm_case(
        "batch_norm_inference_nc_no_affine",
        lambda x, m, v: ops.batch_norm(x, None, None, m, v, eps=1e-3),
        lambda x, m, v: _batch_norm_ref(x, np.ones_like(m), np.zeros_like(m), m, v, 1e-3),
        (5, 3),
        (3,),
        (3,),
    ),
    _norm_case(
        "batch_norm_training",
        lambda x, w, b: ops.batch_norm(x, w, b, training=True),
        _batch_norm_train_ref,
        (3, 2, 3, 5),
        (2,),
        (2,),
    ),
    _norm_case(
        "batch_norm_training_nc",
        lambda x, w, b: ops.batch_norm(x, w, b, training=True),
        _batch_norm_train_ref,
        (6, 3),
        (3,),
        (3,),
    ),
    _norm_case(
        # The updated running mean and (unbiased) variance, stacked.
        "batch_norm_training_running_statistics",
        lambda x, m, v: ops.stack(
            ops.batch_norm(x, None, None, m, v, training=True, momentum=0.3)[1:]
        ),
        lambda x, m, v: np.stack(
            [0.7 * m + 0.3 * x.mean(_batch_axes(x)), 0.7 * v + 0.3 * x.var(_batch_axes(x), ddof=1)]
        ),
        (3, 2, 3, 5),
        (2,),
        (2,),
    ),
    _norm_case(
        "group_norm",
        lambda x, w, b: ops.group_norm(x, 3, w, b),
        lambda x, w, b: _group_norm_ref(x, 3, w, b),
        (2, 6, 3, 3),
        (6,),
        (6,),
    ),
    _norm_case(
        "group_norm_rank3_no_affine",
        lambda x: ops.group_norm(x, 2, eps=1e-3),
        lambda x: _group_norm_ref(x, 2, eps=1e-3),
        (2, 4, 5),
    ),
    _norm_case(
        "instance_norm",
        ops.instance_norm,
        lambda x, w, b: _group_norm_ref(x, x.shape[1], w, b),
        (2, 3, 4, 3),
        (3,),
        (3,),
    ),
]

# ----- spatial and graph ops, random numbers (families "spatial", "random"): torch's formulas -----
# grid_sample's reference is torch's CPU kernel written out per output pixel in Python floats
# (unnormalise, reflect with fmod, clamp, the four corners or nearbyint, zeros outside).
# Grid values span [-1.5, 1.5), so samples fall outside the image too.


def _base_grid_ref(steps: int, align_corners: bool) -> np.ndarray:
    if steps <= 1:
        return np.zeros(steps)
    return np.linspace(-1.0, 1.0, steps) * (1.0 if align_corners else (steps - 1) / steps)


def _affine_grid_ref(theta: np.ndarray, size: tuple, align_corners: bool = False) -> np.ndarray:
    _, _, height, width = size
    xs, ys = np.meshgrid(
        _base_grid_ref(width, align_corners), _base_grid_ref(height, align_corners)
    )
    base = np.stack([xs, ys, np.ones_like(xs)], axis=-1)  # [H, W, (x, y, 1)]
    return np.einsum("hwk,nik->nhwi", base, theta).astype(theta.dtype)


def _source_index_ref(coord: float, size: int, padding_mode: str, align_corners: bool) -> float:
    if align_corners:
        coord = (coord + 1) / 2 * (size - 1)
    else:
        coord = ((coord + 1) * size - 1) / 2
    if padding_mode == "reflection":
        low, high = (0, 2 * (size - 1)) if align_corners else (-1, 2 * size - 1)
        if low == high:
            coord = 0.0
        else:
            start, span = low / 2, (high - low) / 2
            distance = abs(coord - start)
            extra, flips = math.fmod(distance, span), math.floor(distance / span)
            coord = extra + start if flips % 2 == 0 else span - extra + start
    if padding_mode != "zeros":
        coord = min(max(coord, 0.0), size - 1.0)
    return coord


def _grid_sample_ref(
    x: np.ndarray,
    grid: np.ndarray,
    mode: str = "bilinear",
    padding_mode: str = "zeros",
    align_corners: bool = False,
) -> np.ndarray:
    height, width = x.shape[2:]
    out = np.zeros((*x.shape[:2], *grid.shape[1:3]))

    def pixel(n: int, row: int, column: int) -> np.ndarray | float:
        return x[n, :, row, column] if 0 <= row < height and 0 <= column < width else 0.0

    for n, i, j in np.ndindex(*grid.shape[:3]):
        ix = _source_index_ref(float(grid[n, i, j, 0]), width, padding_mode, align_corners)
        iy = _source_index_ref(float(grid[n, i, j, 1]), height, padding_mode, align_corners)
        if mode == "nearest":
            out[n, :, i, j] = pixel(n, int(np.rint(iy)), int(np.rint(ix)))
            continue
        x0, y0 = math.floor(ix), math.floor(iy)
        for row, wy in ((y0, y0 + 1 - iy), (y0 + 1, iy - y0)):
            for column, wx in ((x0, x0 + 1 - ix), (x0 + 1, ix - x0)):
                out[n, :, i, j] += wy * wx * pixel(n, row, column)
    return out.astype(x.dtype)


def _gcn_ref(x: np.ndarray, adjacency: np.ndarray, w: np.ndarray, b: Any = None) -> np.ndarray:
    looped = adjacency + np.eye(len(adjacency))
    degree = looped.sum(axis=1)
    out = looped / np.sqrt(np.outer(degree, degree)) @ x @ w
    return (out if b is None else out + b).astype(x.dtype)


def _edge_matrix_ref(edges: np.ndarray, nodes: int) -> np.ndarray:
    counts = np.zeros((nodes, nodes))
    np.add.at(counts, (edges[1], edges[0]), 1.0)  # A[target, source]
    return counts


def _rbf_ref(x: np.ndarray, centers: np.ndarray, gamma: Any) -> np.ndarray:
    """The direct form: no cancellation, unlike the matmul form under test."""
    distances = ((x[:, None, :] - centers[None, :, :]) ** 2).sum(-1)
    return np.exp(-gamma * distances).astype(x.dtype)


def _uniform_ref(key: np.ndarray, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """uniform's recipe with integer shifts: the top 24 bits of a draw (float32), or 27 + 26
    bits of two draws (float64), from Threefry-2x32-20 of each flat index."""
    draws = math.prod(shape) * (1 if np.dtype(dtype) == np.float32 else 2)
    index = np.arange(draws, dtype=np.uint64)
    x0, x1 = threefry2x32_numpy(key.tolist(), (index >> np.uint64(32), index))
    bits = x0 ^ x1
    if np.dtype(dtype) == np.float32:
        unit = (bits >> np.uint64(8)).astype(np.float64) * 2.0**-24
    else:
        pairs = bits.reshape(-1, 2)
        high, low = pairs[:, 0] >> np.uint64(5), pairs[:, 1] >> np.uint64(6)
        unit = (high * np.uint64(1 << 26) + low).astype(np.float64) * 2.0**-53
    return unit.astype(dtype).reshape(shape)


def _dropout_ref(x: np.ndarray, key: np.ndarray, rate: float) -> np.ndarray:
    keep = (_uniform_ref(key, x.shape, x.dtype) >= rate).astype(x.dtype)
    return x * (keep * x.dtype.type(1.0 / (1.0 - rate)))


def _spatial(
    id: str,
    fn: Callable[..., Any],
    reference: Callable[..., np.ndarray],
    *shapes: tuple[int, ...],
    **kw: Any,
) -> Case:
    return Case(id, fn, reference, shapes, family="spatial", **kw)


_GRID_SAMPLE_ROWS = [("bilinear", "reflection", True), ("nearest", "border", False)]
"""Two of the 12 combinations, and spatial_transformer's bilinear "zeros": each padding mode
once, as the compiled bundle of this family is large (one bilinear grid_sample is some 180
graph ops, 290 with its gradient); tests/autodiff/test_spatial.py runs all 12 eagerly."""
_KEY_WORDS = {1: (0, 2**32)}
"""A random key [2] as the second input: any two 32-bit words."""

CASES += [
    *[
        _spatial(
            f"affine_grid_align{int(align)}",
            lambda t, align=align: ops.affine_grid(t, (2, 3, 3, 5), align_corners=align),
            lambda t, align=align: _affine_grid_ref(t, (2, 3, 3, 5), align),
            (2, 2, 3),
        )
        for align in (True,)
    ],
    *[
        _spatial(
            f"grid_sample_{mode}_{padding}_align{int(align)}",
            lambda x, g, m=mode, p=padding, a=align: ops.grid_sample(x, g, m, p, a),
            lambda x, g, m=mode, p=padding, a=align: _grid_sample_ref(x, g, m, p, a),
            (2, 3, 4, 5),
            (2, 3, 2, 2),
        )
        for mode, padding, align in _GRID_SAMPLE_ROWS
    ],
    _spatial(
        # A spatial transformer, torch's defaults: theta's gradient flows through the grid.
        "spatial_transformer",
        lambda x, t: ops.grid_sample(x, ops.affine_grid(t, (1, 2, 3, 4))),
        lambda x, t: _grid_sample_ref(x, _affine_grid_ref(t, (1, 2, 3, 4))),
        (1, 2, 5, 3),
        (1, 2, 3),
    ),
    _spatial(
        "graph_conv_dense",
        ops.graph_conv,
        _gcn_ref,
        (5, 3),
        (5, 5),
        (3, 2),
        (2,),
        domain="positive",
    ),
    _spatial(
        "graph_conv_edges",
        lambda x, e, w: ops.graph_conv(x, e, w),
        lambda x, e, w: _gcn_ref(x, _edge_matrix_ref(e, 5), w),
        (5, 2),
        (2, 7),
        (2, 3),
        int_inputs={1: 5},
    ),
    _spatial(
        "rbf_kernel",
        lambda x, c: ops.rbf_kernel(x, c, 0.7),
        lambda x, c: _rbf_ref(x, c, 0.7),
        (5, 3),
        (4, 3),
    ),
    _spatial(
        "rbf_kernel_gamma_per_center",
        ops.rbf_kernel,
        _rbf_ref,
        (3, 2),
        (5, 2),
        (5,),
        domain="positive",
    ),
    Case(
        "dropout",
        lambda x, k: ops.dropout(x, 0.3, k),
        lambda x, k: _dropout_ref(x, k, 0.3),
        ((5, 7), (2,)),
        int_inputs=_KEY_WORDS,
        family="random",
    ),
    Case(
        "uniform",
        lambda x, k: x * aidjit.random.uniform(k, x.shape, x.dtype),
        lambda x, k: x * _uniform_ref(k, x.shape, x.dtype),
        ((3, 5), (2,)),
        int_inputs=_KEY_WORDS,
        family="random",
    ),
]

CASE_IDS = [case.id for case in CASES]
DIFFERENTIABLE = [case for case in CASES if case.differentiable]


def bundle(family: str, rows: list[Case]) -> Case:
    """One case computing every row of `family`: a tuple of the rows' results."""
    bounds = np.cumsum([0, *(len(row.shapes) for row in rows)]).tolist()
    spans = list(zip(bounds, bounds[1:], strict=False))

    def split(args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        return [args[start:stop] for start, stop in spans]

    return Case(
        f"{family}-family",
        lambda *args: tuple(row.fn(*part) for row, part in zip(rows, split(args), strict=True)),
        lambda *args: tuple(
            row.reference(*part) for row, part in zip(rows, split(args), strict=True)
        ),
        tuple(shape for row in rows for shape in row.shapes),
        differentiable=any(row.differentiable for row in rows),
        int_inputs={
            start + index: classes
            for row, (start, _) in zip(rows, spans, strict=True)
            for index, classes in row.int_inputs.items()
        },
        family=family,
        rows=tuple(rows),
    )


def results(value: Any) -> list[Any]:
    """A case's results as a list: a bundle returns a tuple, a row one tensor or array."""
    return list(value) if isinstance(value, tuple) else [value]


def total(value: Any) -> Any:
    """The sum of every float result: what compiled gradient tests differentiate."""
    floats = [r.sum() for r in results(value) if np.dtype(r.dtype).kind == "f"]
    return sum(floats[1:], floats[0])


FAMILIES = sorted({case.family for case in CASES} - {"core"})
COMPILED = [case for case in CASES if case.family == "core"] + [
    bundle(family, [case for case in CASES if case.family == family]) for family in FAMILIES
]
"""What compiled tests run: each core row alone, then one bundle per other family."""
COMPILED_IDS = [case.id for case in COMPILED]
COMPILED_DIFFERENTIABLE = [case for case in COMPILED if case.differentiable]

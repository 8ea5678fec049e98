"""Convolutions: one primitive, a valid 2-D convolution, and everything else built on it.

`conv2d_valid` (graph op `graph.conv2d`) is the only primitive: NCHW input, OIHW weights, a
stride, a dilation and groups, no padding. Padding is an explicit `graph.pad` in front of it
(see `conv2d`), so the primitive's loops read the input without a bounds test. Its gradients
are convolutions over the same primitive, as JAX's `conv_general_dilated` transposes are:

- input: the cotangent dilated by the stride (`pad`'s interior padding) and padded by the
  kernel's reach, convolved with the flipped kernel whose in and out channels are swapped
  within each group (`_conv_transpose`, which is also `conv_transpose2d`);
- weight: the input convolved with the cotangent, batch and channels swapped: the input's
  channels become the batch, its batch the (grouped) channels, the cotangent the kernel, the
  stride becomes the dilation and the dilation the stride.

Composites: `conv2d` (pad + conv2d_valid + bias), `conv1d` (conv2d on a height of 1),
`depthwise_conv2d` (groups = channels), `conv_transpose2d` (pad with interior padding +
conv2d_valid + slice) and `locally_connected2d` (pad + a depthwise
conv2d_valid with one-hot kernels extracting the patches + multiply + sum).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from aidjit.autodiff.ops.core import (
    lax_pad,
    multiply,
    reshape,
    strided_slice,
    sum,
    transpose,
)
from aidjit.autodiff.primitives import Family, Primitive, Spec, register, require_float
from aidjit.autodiff.tensor import Tensor, apply, to_tensors
from aidjit.errors import DTypeError, ShapeError

__all__ = [
    "conv1d",
    "conv2d",
    "conv2d_valid",
    "conv_transpose2d",
    "depthwise_conv2d",
    "locally_connected2d",
]

Pair = tuple[int, int]


# ----- the primitive: a valid convolution --------------------------------------------------------


def conv_output_size(size: int, kernel: int, stride: int, dilation: int) -> int:
    """Outputs of a valid convolution along one axis (torch's formula without padding)."""
    return (size - (kernel - 1) * dilation - 1) // stride + 1


def _conv_rule(x: Spec, w: Spec, *, stride: Pair, dilation: Pair, groups: int) -> Spec:
    op = "conv2d"
    require_float(op, x, w)
    if x.dtype != w.dtype:
        raise DTypeError(f"{op}: input and weight dtypes differ: {x} and {w}")
    if len(x.shape) != 4 or len(w.shape) != 4:
        raise ShapeError(f"{op}: expected an NCHW input and OIHW weights, got {x} and {w}")
    if len(stride) != 2 or len(dilation) != 2 or min(*stride, *dilation) < 1:
        raise ShapeError(
            f"{op}: stride {tuple(stride)} and dilation {tuple(dilation)} must be two "
            "positive integers each"
        )
    channels, out_channels = x.shape[1], w.shape[0]
    if groups < 1 or channels % groups or out_channels % groups:
        raise ShapeError(
            f"{op}: groups = {groups} must divide the input's {channels} channels and the "
            f"weight's {out_channels} output channels (input {x}, weight {w})"
        )
    if w.shape[1] * groups != channels:
        raise ShapeError(
            f"{op}: weight {w} expects {w.shape[1] * groups} input channels "
            f"({w.shape[1]} per group x {groups} groups), input {x} has {channels}"
        )
    spatial = []
    for axis, (size, kernel, s, d) in enumerate(
        zip(x.shape[2:], w.shape[2:], stride, dilation, strict=True)
    ):
        reach = (kernel - 1) * d + 1
        if kernel < 1 or reach > size:
            name = ("height", "width")[axis]
            raise ShapeError(
                f"{op}: kernel {name} {kernel} (dilation {d}: {reach} elements) is larger than "
                f"the padded input's {size} (input {x}, weight {w})"
            )
        spatial.append(conv_output_size(size, kernel, s, d))
    return Spec((x.shape[0], out_channels, *spatial), x.dtype)


def _conv_impl(
    x: np.ndarray, w: np.ndarray, stride: Pair, dilation: Pair, groups: int
) -> np.ndarray:
    """Windows of x (a strided view, no copy) contracted with each group's weights."""
    n, channels, _, _ = x.shape
    out_channels, per_group, kh, kw = w.shape
    (sh, sw), (dh, dw) = stride, dilation
    windows = np.lib.stride_tricks.sliding_window_view(
        x, ((kh - 1) * dh + 1, (kw - 1) * dw + 1), axis=(2, 3)
    )[:, :, ::sh, ::sw, ::dh, ::dw]  # [N, C, OH, OW, kH, kW]
    oh, ow = windows.shape[2:4]
    windows = windows.reshape(n, groups, per_group, oh, ow, kh, kw)
    weights = w.reshape(groups, out_channels // groups, per_group, kh, kw)
    out = np.einsum("ngcyxij,gfcij->ngfyx", windows, weights, optimize=True)
    return out.reshape(n, out_channels, oh, ow)


def _conv_vjp(
    g: Tensor, xs: Sequence[Tensor], out: Tensor, *, stride: Pair, dilation: Pair, groups: int
) -> Any:
    x, w = xs
    height, width = x.shape[2:]
    kernel = w.shape[2:]
    # Rows and columns past the last window get no gradient: the transpose pads them.
    unused = tuple(
        size - ((o - 1) * s + (k - 1) * d + 1)
        for size, o, k, s, d in zip(
            (height, width), g.shape[2:], kernel, stride, dilation, strict=True
        )
    )
    return (
        lambda: _conv_transpose(g, w, stride, (0, 0), unused, dilation, groups),
        lambda: _weight_gradient(x, g, kernel, stride, dilation, groups),
    )


conv2d_p = register(
    Primitive(
        "conv2d",
        Family.CONV,
        _conv_impl,
        _conv_rule,
        _conv_vjp,
        params=("stride", "dilation", "groups"),
        doc="valid 2-D convolution (cross-correlation), NCHW input, OIHW weights, with stride, "
        "dilation and groups",
    )
)


def conv2d_valid(
    x: Any, w: Any, stride: int | Pair = 1, dilation: int | Pair = 1, groups: int = 1
) -> Tensor:
    """The primitive: `graph.conv2d`, a convolution without padding."""
    return apply(
        conv2d_p,
        x,
        w,
        stride=_pair("conv2d", "stride", stride),
        dilation=_pair("conv2d", "dilation", dilation),
        groups=int(groups),
    )


# ----- gradients, as convolutions ---------------------------------------------------------------


def _flipped_transposed(w: Tensor, groups: int) -> Tensor:
    """[G*F, C, kH, kW] -> [G*C, F, kH, kW], spatially flipped: in and out channels swapped
    within each group, the kernel turned by 180 degrees."""
    out_channels, per_group, kh, kw = w.shape
    by_group = reshape(w, (groups, out_channels // groups, per_group, kh, kw))
    swapped = reshape(
        transpose(by_group, (0, 2, 1, 3, 4)), (groups * per_group, out_channels // groups, kh, kw)
    )
    return strided_slice(swapped, (0, 0, kh - 1, kw - 1), swapped.shape, (1, 1, -1, -1))


def _conv_transpose(
    y: Tensor,
    w: Tensor,
    stride: Pair,
    padding: Pair,
    output_padding: Pair,
    dilation: Pair,
    groups: int,
) -> Tensor:
    """The transpose of `conv2d_valid(., w, stride, dilation, groups)` applied to `y`, with
    `padding` rows and columns cropped from each side and `output_padding` more at the end
    (torch's conv_transpose2d without bias): `y` dilated by the stride, padded by the
    kernel's reach, convolved with the flipped, channel-swapped kernel."""
    reach = [(k - 1) * d for k, d in zip(w.shape[2:], dilation, strict=True)]
    low = [r - p for r, p in zip(reach, padding, strict=True)]
    high = [r - p + extra for r, p, extra in zip(reach, padding, output_padding, strict=True)]
    spread = lax_pad(
        y,
        (0, 0, *(max(v, 0) for v in low)),
        (0, 0, *(max(v, 0) for v in high)),
        (0, 0, stride[0] - 1, stride[1] - 1),
    )
    if min(*low, *high) < 0:  # padding beyond the kernel's reach crops
        start = (0, 0, *(max(-v, 0) for v in low))
        cut = [max(-a, 0) + max(-b, 0) for a, b in zip(low, high, strict=True)]
        size = (*spread.shape[:2], *(s - c for s, c in zip(spread.shape[2:], cut, strict=True)))
        spread = strided_slice(spread, start, size)
    return conv2d_valid(spread, _flipped_transposed(w, groups), 1, dilation, groups)


def _weight_gradient(
    x: Tensor, g: Tensor, kernel: Pair, stride: Pair, dilation: Pair, groups: int
) -> Tensor:
    """dw[f, c, i, j] = sum over n, y, x of g[n, f, y, x] * x[n, c, y*s + i*d, x*s + j*d]: a
    convolution of x with batch and channels swapped ([C, G*N, H, W], channels grouped as
    [G, N]) by g as the kernel ([G*F, N, OH, OW]), stride and dilation swapped."""
    n, channels, height, width = x.shape
    per_group = channels // groups
    swapped = transpose(reshape(x, (n, groups, per_group, height, width)), (2, 1, 0, 3, 4))
    swapped = reshape(swapped, (per_group, groups * n, height, width))
    kernel_from_g = transpose(g, (1, 0, 2, 3))
    grad = conv2d_valid(swapped, kernel_from_g, dilation, stride, groups)  # [C, G*F, >=kH, >=kW]
    if tuple(grad.shape[2:]) != tuple(kernel):
        grad = strided_slice(grad, (0, 0, 0, 0), (*grad.shape[:2], *kernel))
    return transpose(grad, (1, 0, 2, 3))


# ----- torch.nn.functional's convolutions --------------------------------------------------------


def _pair(op: str, name: str, value: int | Sequence[int]) -> Pair:
    values = (value, value) if isinstance(value, int | np.integer) else tuple(value)
    if len(values) != 2 or not all(isinstance(v, int | np.integer) for v in values):
        raise ShapeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    return int(values[0]), int(values[1])


def _padding(
    op: str, padding: str | int | Sequence[int], kernel: Pair, stride: Pair, dilation: Pair
) -> tuple[Pair, Pair]:
    """(low, high) padding of (height, width) by torch's rules: "valid" is none, "same" keeps
    the size at stride 1 (an odd total puts the extra row after, as torch does)."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0), (0, 0)
        if padding != "same":
            raise ShapeError(
                f"{op}: padding must be 'valid', 'same', an int or a pair, not {padding!r}"
            )
        if stride != (1, 1):
            raise ShapeError(f"{op}: padding='same' is not supported for strided convolutions")
        total = [d * (k - 1) for k, d in zip(kernel, dilation, strict=True)]
        low = (total[0] // 2, total[1] // 2)
        return low, (total[0] - low[0], total[1] - low[1])
    both = _pair(op, "padding", padding)
    if min(both) < 0:
        raise ShapeError(f"{op}: padding {both} must be non-negative")
    return both, both


def _add_bias(out: Tensor, b: Any, op: str) -> Tensor:
    if b is None:
        return out
    (bias,) = to_tensors([b])
    if bias.shape != (out.shape[1],):
        raise ShapeError(
            f"{op}: bias {bias.spec} must have one value per output channel ({out.shape[1]})"
        )
    return out + reshape(bias, (1, out.shape[1], *(1,) * (out.ndim - 2)))


def _as_4d(x: Any, w: Any, op: str) -> tuple[Tensor, Tensor]:
    x, w = to_tensors([x, w])
    if x.ndim != 4 or w.ndim != 4:
        raise ShapeError(f"{op}: expected an NCHW input and 4-D weights, got {x.spec} and {w.spec}")
    return x, w


def conv2d(
    x: Any,
    w: Any,
    b: Any = None,
    stride: int | Pair = 1,
    padding: str | int | Pair = 0,
    dilation: int | Pair = 1,
    groups: int = 1,
) -> Tensor:
    """torch.nn.functional.conv2d: x [N, C, H, W], w [F, C/groups, kH, kW], b [F] or None.

    Becomes `graph.pad` (when padded) + `graph.conv2d` + `graph.add` of the bias. Padding is
    an explicit pad, not a bounds predicate in the convolution's loops: the loops then have
    no branch and walk the input with unit stride, and the pad is one copy of the input
    (measured on W5's second layer: see lowering/conv.py).
    """
    x, w = _as_4d(x, w, "conv2d")
    stride = _pair("conv2d", "stride", stride)
    dilation = _pair("conv2d", "dilation", dilation)
    low, high = _padding("conv2d", padding, (w.shape[2], w.shape[3]), stride, dilation)
    padded = lax_pad(x, (0, 0, *low), (0, 0, *high))
    return _add_bias(conv2d_valid(padded, w, stride, dilation, groups), b, "conv2d")


def depthwise_conv2d(
    x: Any,
    w: Any,
    b: Any = None,
    stride: int | Pair = 1,
    padding: str | int | Pair = 0,
    dilation: int | Pair = 1,
) -> Tensor:
    """A depthwise convolution: `conv2d` with groups = the input's channels, w
    [C * multiplier, 1, kH, kW] (torch's layout for it)."""
    x, w = _as_4d(x, w, "depthwise_conv2d")
    if w.shape[1] != 1:
        raise ShapeError(
            f"depthwise_conv2d: weights {w.spec} must have one input channel per group"
        )
    return conv2d(x, w, b, stride, padding, dilation, groups=x.shape[1])


def conv1d(
    x: Any,
    w: Any,
    b: Any = None,
    stride: int = 1,
    padding: str | int = 0,
    dilation: int = 1,
    groups: int = 1,
) -> Tensor:
    """torch.nn.functional.conv1d: x [N, C, L], w [F, C/groups, K]: `conv2d` on a height of 1
    (the graph holds reshapes around a `graph.conv2d`)."""
    x, w = to_tensors([x, w])
    if x.ndim != 3 or w.ndim != 3:
        raise ShapeError(
            f"conv1d: expected an NCL input and 3-D weights, got {x.spec} and {w.spec}"
        )
    if not isinstance(padding, str):
        padding = (0, int(padding))
    out = conv2d(
        reshape(x, (x.shape[0], x.shape[1], 1, x.shape[2])),
        reshape(w, (w.shape[0], w.shape[1], 1, w.shape[2])),
        None,
        (1, int(stride)),
        padding,
        (1, int(dilation)),
        groups,
    )
    return _add_bias(reshape(out, (out.shape[0], out.shape[1], out.shape[3])), b, "conv1d")


def conv_transpose2d(
    x: Any,
    w: Any,
    b: Any = None,
    stride: int | Pair = 1,
    padding: int | Pair = 0,
    output_padding: int | Pair = 0,
    groups: int = 1,
    dilation: int | Pair = 1,
) -> Tensor:
    """torch.nn.functional.conv_transpose2d: x [N, C_in, H, W], w [C_in, C_out/groups, kH, kW].

    The transpose (input gradient) of conv2d: `graph.pad` spreading x by the stride and
    padding it by the kernel's reach minus `padding` (a `graph.slice` where that is
    negative), then `graph.conv2d` with the flipped kernel, channels swapped per group.
    Output size (H - 1) * stride - 2 * padding + dilation * (kH - 1) + output_padding + 1.
    """
    op = "conv_transpose2d"
    x, w = _as_4d(x, w, op)
    stride = _pair(op, "stride", stride)
    padding = _pair(op, "padding", padding)
    output_padding = _pair(op, "output_padding", output_padding)
    dilation = _pair(op, "dilation", dilation)
    if groups < 1 or x.shape[1] != w.shape[0] or w.shape[0] % groups:
        raise ShapeError(
            f"{op}: weight {w.spec} needs {w.shape[0]} input channels divisible by groups = "
            f"{groups}, input {x.spec} has {x.shape[1]}"
        )
    for extra, s, d in zip(output_padding, stride, dilation, strict=True):
        if not 0 <= extra < max(s, d):
            raise ShapeError(
                f"{op}: output_padding {output_padding} must be smaller than either stride "
                f"{stride} or dilation {dilation}"
            )
    if min(padding) < 0:
        raise ShapeError(f"{op}: padding {padding} must be non-negative")
    out = _conv_transpose(x, w, stride, padding, output_padding, dilation, groups)
    return _add_bias(out, b, op)


# ----- locally connected: unshared weights ------------------------------------------------------


def locally_connected2d(
    x: Any, w: Any, b: Any = None, stride: int | Pair = 1, padding: int | Pair = 0
) -> Tensor:
    """A convolution whose weights differ at every output position (Keras' LocallyConnected2D,
    in NCHW): x [N, C, H, W], w [OH, OW, F, C, kH, kW], b [F, OH, OW] or None.

    out[n, f, y, x] = sum over c, i, j of w[y, x, f, c, i, j] * xp[n, c, y*sh + i, x*sw + j]
    (xp: x zero-padded). The windows are extracted as JAX's conv_general_dilated_patches does,
    by a depthwise `graph.conv2d` with one-hot kernels ([N, C*kH*kW, OH, OW]); then one
    `graph.multiply` by the (transposed) weights and one `graph.sum` over (c, i, j). Nothing
    is shared between positions, so the multiply-and-sum is the whole computation.
    """
    op = "locally_connected2d"
    x, w = to_tensors([x, w])
    if x.ndim != 4 or w.ndim != 6:
        raise ShapeError(
            f"{op}: expected an NCHW input and [OH, OW, F, C, kH, kW] weights, got {x.spec} "
            f"and {w.spec}"
        )
    stride = _pair(op, "stride", stride)
    low, high = _padding(op, padding, (w.shape[4], w.shape[5]), stride, (1, 1))
    xp = lax_pad(x, (0, 0, *low), (0, 0, *high))
    n, channels, height, width = xp.shape
    oh, ow, out_channels, w_channels, kh, kw = w.shape
    expected = tuple(
        conv_output_size(size, k, s, 1) if size >= k else 0
        for size, k, s in zip((height, width), (kh, kw), stride, strict=True)
    )
    if w_channels != channels or (oh, ow) != expected:
        raise ShapeError(
            f"{op}: weights {w.spec} do not fit input {x.spec} (padded to {xp.spec}): expected "
            f"[{expected[0]}, {expected[1]}, F, {channels}, {kh}, {kw}]"
        )
    taps = kh * kw
    one_hot = np.eye(taps, dtype=xp.dtype).reshape(taps, 1, kh, kw)
    patches = conv2d_valid(xp, np.tile(one_hot, (channels, 1, 1, 1)), stride, 1, channels)
    weights = transpose(w, (2, 3, 4, 5, 0, 1))  # [F, C, kH, kW, OH, OW]
    out = sum(
        multiply(
            reshape(patches, (n, 1, channels * taps, oh, ow)),
            reshape(weights, (1, out_channels, channels * taps, oh, ow)),
        ),
        axis=2,
    )
    if b is None:
        return out
    (bias,) = to_tensors([b])
    if bias.shape != (out_channels, oh, ow):
        raise ShapeError(f"{op}: bias {bias.spec} must be [{out_channels}, {oh}, {ow}]")
    return out + bias

"""Normalisation over the channels of NCHW (or [N, C, ...]) tensors: batch, group and instance.

One primitive, `batch_norm_inference`: x normalised with given per-channel statistics, then
scaled and shifted, `x * scale + shift` with `scale = weight / sqrt(var + eps)` and
`shift = bias - mean * scale` (torch's inference kernel). It is one graph op, so a
canonicalisation can fold it into a preceding convolution's weights, and one elementwise loop
once lowered. Training-mode batch_norm computes the batch's statistics with `mean` and feeds
them to the same op; group_norm and instance_norm are composites of `mean`, `sqrt` and
elementwise ops, as `layer_norm` is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from aidjit.autodiff.ops.core import mean, reshape, sqrt
from aidjit.autodiff.ops.core import sum as reduce_sum
from aidjit.autodiff.primitives import Family, Primitive, Spec, register, require_float
from aidjit.autodiff.tensor import Tensor, apply, to_tensors
from aidjit.errors import DTypeError, ShapeError, UnsupportedError

__all__ = ["batch_norm", "batch_norm_inference", "group_norm", "instance_norm"]

_STATISTICS = ("weight", "bias", "running_mean", "running_var")


def _channel_shape(x: Tensor | Spec) -> tuple[int, ...]:
    """Where a per-channel [C] vector broadcasts against x: (C, 1, ...) for the trailing axes."""
    return (x.shape[1],) + (1,) * (len(x.shape) - 2)


def _batch_norm_rule(
    x: Spec, weight: Spec, bias: Spec, mean: Spec, var: Spec, *, eps: float
) -> Spec:
    op = "batch_norm_inference"
    require_float(op, x, weight, bias, mean, var)
    if len(x.shape) < 2:
        raise ShapeError(f"{op}: expected an input of rank 2 or more, [N, C, ...], got {x}")
    channels = (x.shape[1],)
    for name, spec in zip(_STATISTICS, (weight, bias, mean, var), strict=True):
        if spec.dtype != x.dtype:
            raise DTypeError(f"{op}: {name} {spec} does not have the dtype of the input {x}")
        if spec.shape != channels:
            raise ShapeError(f"{op}: {name} {spec} must have shape {channels}, one per channel")
    if not eps >= 0.0:
        raise ShapeError(f"{op}: eps must be non-negative, got {eps}")
    return x


def _scale_shift(
    weight: np.ndarray, bias: np.ndarray, mean: np.ndarray, var: np.ndarray, eps: float
) -> tuple[np.ndarray, np.ndarray]:
    scale = weight / np.sqrt(var + weight.dtype.type(eps))
    return scale, bias - mean * scale


def _batch_norm_impl(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray,
    mean: np.ndarray,
    var: np.ndarray,
    eps: float,
) -> np.ndarray:
    scale, shift = _scale_shift(weight, bias, mean, var, eps)
    shape = _channel_shape(x)
    return x * scale.reshape(shape) + shift.reshape(shape)


def _batch_norm_vjp(g: Tensor, xs: Sequence[Tensor], out: Tensor, *, eps: float) -> Any:
    """y = (x - mean) * weight / sqrt(var + eps) + bias, differentiated per operand; sums run
    over every axis but the channel axis."""
    x, weight, _, mean_, var = xs
    shape = _channel_shape(x)
    axes = (0, *range(2, x.ndim))
    root = sqrt(var + eps)
    scale = weight / root

    def per_channel(t: Tensor) -> Tensor:
        return reduce_sum(t, axis=axes)

    def grad_weight() -> Tensor:
        return per_channel(g * (x - reshape(mean_, shape))) / root

    return (
        lambda: g * reshape(scale, shape),
        grad_weight,
        lambda: per_channel(g),
        lambda: -per_channel(g) * scale,
        lambda: grad_weight() * weight / (var + eps) * -0.5,
    )


batch_norm_inference_p = register(
    Primitive(
        "batch_norm_inference",
        Family.NORMALIZATION,
        _batch_norm_impl,
        _batch_norm_rule,
        _batch_norm_vjp,
        params=("eps",),
        doc="x * scale + shift per channel (axis 1), scale = weight / sqrt(var + eps), "
        "shift = bias - mean * scale",
    )
)


def batch_norm_inference(
    x: Any, weight: Any, bias: Any, mean: Any, var: Any, eps: float = 1e-5
) -> Tensor:
    """x normalised per channel (axis 1) with the given statistics: `graph.batch_norm_inference`,
    `x * scale + shift` with `scale = weight / sqrt(var + eps)`, `shift = bias - mean * scale`."""
    return apply(batch_norm_inference_p, x, weight, bias, mean, var, eps=float(eps))


def _vector_or(value: Any, fill: float, x: Tensor) -> Any:
    """`value`, or a constant [C] vector of `fill` in x's dtype when it is None."""
    return np.full(x.shape[1], fill, x.dtype) if value is None else value


def batch_norm(
    x: Any,
    weight: Any = None,
    bias: Any = None,
    running_mean: Any = None,
    running_var: Any = None,
    training: bool = False,
    momentum: float | None = 0.1,
    eps: float = 1e-5,
) -> Tensor | tuple[Tensor, Tensor, Tensor]:
    """torch.nn.functional.batch_norm over [N, C, ...] (axis 1 is the channel), functionally.

    The parameters are those of torch, with weight and bias first (`batch_norm(x, weight,
    bias, running_mean, running_var, ...)`, all four optional). Inference (`training=False`)
    normalises with the running statistics, which it needs, and returns y:
    `graph.batch_norm_inference`. Training normalises with the batch's statistics (mean and
    biased variance over every axis but 1) and, since nothing is updated in place, returns
    `(y, new_running_mean, new_running_var)` with torch's update `(1 - momentum) * running +
    momentum * batch` (the variance there unbiased, n / (n - 1)); y alone when no running
    statistics are given. The statistics are computed from x, so the results differentiate
    through them like any other op.
    """
    (x,) = to_tensors([x])
    op = "batch_norm"
    if x.ndim < 2:
        raise ShapeError(f"{op}: expected an input of rank 2 or more, [N, C, ...], got {x.spec}")
    if (running_mean is None) != (running_var is None):
        raise ShapeError(f"{op}: give both running_mean and running_var, or neither")
    weight, bias = _vector_or(weight, 1.0, x), _vector_or(bias, 0.0, x)
    if not training:
        if running_mean is None:
            raise ShapeError(f"{op}: inference (training=False) needs running_mean and running_var")
        return batch_norm_inference(x, weight, bias, running_mean, running_var, eps)
    if running_mean is not None:
        running_mean, running_var = to_tensors([running_mean, running_var])
        specs = (x.spec, *(to_tensors([v])[0].spec for v in (weight, bias)))
        batch_norm_inference_p.infer([*specs, running_mean.spec, running_var.spec], {"eps": eps})
    axes = (0, *range(2, x.ndim))
    count = x.size // x.shape[1]
    if count < 2:
        raise ShapeError(f"{op}: training needs more than one value per channel, got {x.spec}")
    batch_mean = mean(x, axis=axes, keepdims=True)
    centered = x - batch_mean
    batch_var = mean(centered * centered, axis=axes)
    batch_mean = reshape(batch_mean, (x.shape[1],))
    y = batch_norm_inference(x, weight, bias, batch_mean, batch_var, eps)
    if running_mean is None:
        return y
    if momentum is None:
        raise UnsupportedError(
            f"{op}: momentum=None (a cumulative average) needs a count of batches seen; "
            "pass a float momentum"
        )
    keep = 1.0 - momentum
    new_mean = running_mean * keep + batch_mean * momentum
    new_var = running_var * keep + batch_var * (momentum * count / (count - 1))
    return y, new_mean, new_var


def group_norm(
    x: Any, num_groups: int, weight: Any = None, bias: Any = None, eps: float = 1e-5
) -> Tensor:
    """torch.nn.functional.group_norm over [N, C, ...]: the channels split into `num_groups`
    groups, each normalised over its channels and the trailing axes (biased variance), then
    `* weight + bias` per channel. A composite: reshape to [N, G, -1], mean, subtract, mean of
    squares, divide by sqrt, reshape back."""
    (x,) = to_tensors([x])
    op = "group_norm"
    if x.ndim < 2:
        raise ShapeError(f"{op}: expected an input of rank 2 or more, [N, C, ...], got {x.spec}")
    channels = x.shape[1]
    if num_groups <= 0 or channels % num_groups:
        raise ShapeError(
            f"{op}: num_groups {num_groups} must be positive and divide the {channels} channels "
            f"of {x.spec}"
        )
    grouped = reshape(x, (x.shape[0], num_groups, -1))
    centered = grouped - mean(grouped, axis=-1, keepdims=True)
    variance = mean(centered * centered, axis=-1, keepdims=True)
    normalized = reshape(centered / sqrt(variance + eps), x.shape)
    if weight is not None:
        normalized = normalized * reshape(weight, _channel_shape(x))
    if bias is not None:
        normalized = normalized + reshape(bias, _channel_shape(x))
    return normalized


def instance_norm(x: Any, weight: Any = None, bias: Any = None, eps: float = 1e-5) -> Tensor:
    """Each channel of each sample normalised over its trailing axes: `group_norm` with one
    group per channel, as torch's instance_norm with `use_input_stats=True`. No running
    statistics (torch's InstanceNorm2d does not track them by default); for tracked ones, use
    batch_norm's inference form."""
    (x,) = to_tensors([x])
    if x.ndim < 3:
        raise ShapeError(f"instance_norm: expected an input of rank 3 or more, got {x.spec}")
    return group_norm(x, x.shape[1], weight, bias, eps)

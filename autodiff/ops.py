"""aidjit.ops: every primitive defined once — numpy forward, shape rule and gradient side by side.

Gradient rules return one thunk per input (None where the input has no gradient) and are written
with the public functions of this module, so backward graphs use the same primitives as forward
ones. Composites at the end (softmax, layer_norm, cross_entropy, ...) are built from primitives
and need no rule of their own.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from aidjit.autodiff.primitives import (
    INDEX_DTYPE,
    Family,
    Primitive,
    Spec,
    binary_rule,
    normalize_axes,
    reduced_shape,
    reduction_rule,
    register,
    require_float,
    unary_rule,
)
from aidjit.autodiff.tensor import Tensor, apply, as_dtype, to_tensors
from aidjit.errors import DTypeError, ShapeError

# ----- helpers used by gradient rules ------------------------------------------------------


def unbroadcast(grad: Tensor, shape: tuple[int, ...]) -> Tensor:
    """Sum `grad` over the axes that broadcasting added or stretched to reach `shape`."""
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    stretched = tuple(i + lead for i, d in enumerate(shape) if d == 1 and grad.shape[i + lead] != 1)
    axes = tuple(range(lead)) + stretched
    return reshape(sum(grad, axis=axes, keepdims=False), shape)


def _expand_reduced(grad: Tensor, x: Tensor, axes: tuple[int, ...], keepdims: bool) -> Tensor:
    """Broadcast a reduction's cotangent back to the reduced input's shape."""
    kept = reduced_shape(x.shape, axes, keepdims=True)
    if not keepdims:
        grad = reshape(grad, kept)
    return broadcast_to(grad, x.shape)


def _swap_last(t: Tensor) -> Tensor:
    perm = (*range(t.ndim - 2), t.ndim - 1, t.ndim - 2)
    return transpose(t, perm)


# ----- elementwise unary -------------------------------------------------------------------


def _unary(name: str, impl: Any, vjp: Any, doc: str) -> Primitive:
    return register(Primitive(name, Family.ELEMENTWISE_UNARY, impl, unary_rule(name), vjp, doc=doc))


negate_p = _unary("negate", np.negative, lambda g, xs, out: (lambda: -g,), "-x")
abs_p = _unary("abs", np.abs, lambda g, xs, out: (lambda: g * sign(xs[0]),), "|x|")
sign_p = _unary("sign", np.sign, lambda g, xs, out: (None,), "-1, 0 or 1 (nan stays nan)")
exp_p = _unary("exp", np.exp, lambda g, xs, out: (lambda: g * out,), "e**x")
log_p = _unary("log", np.log, lambda g, xs, out: (lambda: g / xs[0],), "natural logarithm")
sqrt_p = _unary("sqrt", np.sqrt, lambda g, xs, out: (lambda: g / (out * 2.0),), "square root")
relu_p = _unary(
    "relu",
    lambda x: np.maximum(x, 0),
    lambda g, xs, out: (lambda: g * greater(xs[0], 0.0),),
    "max(x, 0); its gradient at 0 is 0",
)
sigmoid_p = _unary(
    # 0.5 * tanh(x/2) + 0.5 equals 1 / (1 + exp(-x)) without overflowing for large |x|.
    "sigmoid",
    lambda x: 0.5 * np.tanh(0.5 * x) + 0.5,
    lambda g, xs, out: (lambda: g * out * (1.0 - out),),
    "1 / (1 + exp(-x))",
)
tanh_p = _unary("tanh", np.tanh, lambda g, xs, out: (lambda: g * (1.0 - out * out),), "tanh(x)")


def negate(x: Any) -> Tensor:
    return apply(negate_p, x)


def abs(x: Any) -> Tensor:  # noqa: A001 - numpy's name
    return apply(abs_p, x)


def sign(x: Any) -> Tensor:
    return apply(sign_p, x)


def exp(x: Any) -> Tensor:
    return apply(exp_p, x)


def log(x: Any) -> Tensor:
    return apply(log_p, x)


def sqrt(x: Any) -> Tensor:
    return apply(sqrt_p, x)


def relu(x: Any) -> Tensor:
    return apply(relu_p, x)


def sigmoid(x: Any) -> Tensor:
    return apply(sigmoid_p, x)


def tanh(x: Any) -> Tensor:
    return apply(tanh_p, x)


# ----- elementwise binary (numpy broadcasting) ----------------------------------------------


def _binary(name: str, impl: Any, vjp: Any, doc: str) -> Primitive:
    return register(
        Primitive(name, Family.ELEMENTWISE_BINARY, impl, binary_rule(name), vjp, doc=doc)
    )


def _binary_grads(g: Tensor, xs: Sequence[Tensor], dx: Any, dy: Any) -> tuple[Any, Any]:
    x, y = xs
    return (
        None if dx is None else (lambda: unbroadcast(dx(), x.shape)),
        None if dy is None else (lambda: unbroadcast(dy(), y.shape)),
    )


add_p = _binary(
    "add", np.add, lambda g, xs, out: _binary_grads(g, xs, lambda: g, lambda: g), "x + y"
)
subtract_p = _binary(
    "subtract",
    np.subtract,
    lambda g, xs, out: _binary_grads(g, xs, lambda: g, lambda: -g),
    "x - y",
)
multiply_p = _binary(
    "multiply",
    np.multiply,
    lambda g, xs, out: _binary_grads(g, xs, lambda: g * xs[1], lambda: g * xs[0]),
    "x * y",
)
divide_p = _binary(
    "divide",
    np.divide,
    lambda g, xs, out: _binary_grads(g, xs, lambda: g / xs[1], lambda: -(g * out) / xs[1]),
    "x / y",
)
power_p = _binary(
    "power",
    np.power,
    lambda g, xs, out: _binary_grads(
        g, xs, lambda: g * xs[1] * power(xs[0], xs[1] - 1.0), lambda: g * out * log(xs[0])
    ),
    "x ** y",
)
maximum_p = _binary(
    "maximum",
    np.maximum,
    lambda g, xs, out: _binary_grads(
        g, xs, lambda: g * greater_equal(xs[0], xs[1]), lambda: g * greater(xs[1], xs[0])
    ),
    "elementwise max, nan-propagating; ties send the gradient to x",
)
minimum_p = _binary(
    "minimum",
    np.minimum,
    lambda g, xs, out: _binary_grads(
        g, xs, lambda: g * greater_equal(xs[1], xs[0]), lambda: g * greater(xs[0], xs[1])
    ),
    "elementwise min, nan-propagating; ties send the gradient to x",
)
greater_p = _binary(
    "greater", np.greater, lambda g, xs, out: (None, None), "1.0 where x > y, else 0.0"
)
greater_equal_p = _binary(
    "greater_equal",
    np.greater_equal,
    lambda g, xs, out: (None, None),
    "1.0 where x >= y, else 0.0",
)


def add(x: Any, y: Any) -> Tensor:
    return apply(add_p, x, y)


def subtract(x: Any, y: Any) -> Tensor:
    return apply(subtract_p, x, y)


def multiply(x: Any, y: Any) -> Tensor:
    return apply(multiply_p, x, y)


def divide(x: Any, y: Any) -> Tensor:
    return apply(divide_p, x, y)


def power(x: Any, y: Any) -> Tensor:
    return apply(power_p, x, y)


def maximum(x: Any, y: Any) -> Tensor:
    return apply(maximum_p, x, y)


def minimum(x: Any, y: Any) -> Tensor:
    return apply(minimum_p, x, y)


def greater(x: Any, y: Any) -> Tensor:
    return apply(greater_p, x, y)


def greater_equal(x: Any, y: Any) -> Tensor:
    return apply(greater_equal_p, x, y)


# ----- reductions ---------------------------------------------------------------------------


def _reduction(name: str, impl: Any, vjp: Any, doc: str, *, nonempty: bool = False) -> Primitive:
    rule = reduction_rule(name, nonempty=nonempty)
    return register(
        Primitive(name, Family.REDUCTION, impl, rule, vjp, params=("axes", "keepdims"), doc=doc)
    )


def _sum_vjp(g: Tensor, xs: Sequence[Tensor], out: Tensor, *, axes: Any, keepdims: bool) -> Any:
    return (lambda: _expand_reduced(g, xs[0], axes, keepdims),)


def _mean_vjp(g: Tensor, xs: Sequence[Tensor], out: Tensor, *, axes: Any, keepdims: bool) -> Any:
    count = math.prod(xs[0].shape[a] for a in axes)
    return (lambda: _expand_reduced(g, xs[0], axes, keepdims) / float(max(count, 1)),)


def _max_vjp(g: Tensor, xs: Sequence[Tensor], out: Tensor, *, axes: Any, keepdims: bool) -> Any:
    def grad() -> Tensor:
        x = xs[0]
        at_max = greater_equal(x, _expand_reduced(out, x, axes, keepdims))
        ties = sum(at_max, axis=axes, keepdims=True)
        return _expand_reduced(g, x, axes, keepdims) * (at_max / ties)

    return (grad,)


sum_p = _reduction(
    "sum", lambda x, axes, keepdims: np.sum(x, axis=axes, keepdims=keepdims), _sum_vjp, "sum"
)
mean_p = _reduction(
    "mean", lambda x, axes, keepdims: np.mean(x, axis=axes, keepdims=keepdims), _mean_vjp, "mean"
)
reduce_max_p = _reduction(
    "reduce_max",
    lambda x, axes, keepdims: np.max(x, axis=axes, keepdims=keepdims),
    _max_vjp,
    "maximum; ties share the gradient equally",
    nonempty=True,
)


def _reduce(primitive: Primitive, x: Any, axis: Any, keepdims: bool) -> Tensor:
    (tensor,) = to_tensors([x])
    axes = normalize_axes(primitive.name, axis, tensor.ndim)
    return apply(primitive, tensor, axes=axes, keepdims=bool(keepdims))


def sum(x: Any, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    return _reduce(sum_p, x, axis, keepdims)


def mean(x: Any, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
    return _reduce(mean_p, x, axis, keepdims)


def reduce_max(x: Any, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
    return _reduce(reduce_max_p, x, axis, keepdims)


# ----- matmul -------------------------------------------------------------------------------


def _matmul_rule(a: Spec, b: Spec) -> Spec:
    require_float("matmul", a, b)
    if a.dtype != b.dtype:
        raise DTypeError(f"matmul: operand dtypes differ: {a} and {b}")
    ranks = (len(a.shape), len(b.shape))
    if ranks not in ((2, 2), (3, 3), (3, 2)):
        raise ShapeError(f"matmul: expected 2-D @ 2-D, 3-D @ 3-D or 3-D @ 2-D, got {a} and {b}")
    if a.shape[-1] != b.shape[-2]:
        raise ShapeError(f"matmul: contracting dimensions differ: {a} and {b}")
    if ranks == (3, 3) and a.shape[0] != b.shape[0]:
        raise ShapeError(f"matmul: batch dimensions differ: {a} and {b}")
    return Spec((*a.shape[:-1], b.shape[-1]), a.dtype)


def _matmul_vjp(g: Tensor, xs: Sequence[Tensor], out: Tensor) -> Any:
    a, b = xs

    def grad_b() -> Tensor:
        grad = matmul(_swap_last(a), g)
        return sum(grad, axis=0) if b.ndim < a.ndim else grad

    return (lambda: matmul(g, _swap_last(b)), grad_b)


matmul_p = register(
    Primitive(
        "matmul",
        Family.MATMUL,
        np.matmul,
        _matmul_rule,
        _matmul_vjp,
        doc="2-D matrix product, batched 3-D, or 3-D @ 2-D (a shared right operand)",
    )
)


def matmul(a: Any, b: Any) -> Tensor:
    return apply(matmul_p, a, b)


# ----- layout: transpose, reshape, broadcast_to ---------------------------------------------


def _transpose_rule(x: Spec, *, perm: tuple[int, ...]) -> Spec:
    if sorted(perm) != list(range(len(x.shape))):
        raise ShapeError(f"transpose: {perm} is not a permutation of the axes of {x}")
    return Spec(tuple(x.shape[p] for p in perm), x.dtype)


def _transpose_vjp(g: Tensor, xs: Sequence[Tensor], out: Tensor, *, perm: Any) -> Any:
    return (lambda: transpose(g, tuple(int(i) for i in np.argsort(perm))),)


def _reshape_rule(x: Spec, *, shape: tuple[int, ...]) -> Spec:
    if any(d < 0 for d in shape) or math.prod(shape) != math.prod(x.shape):
        raise ShapeError(f"reshape: cannot reshape {x} to shape {tuple(shape)}")
    return Spec(tuple(shape), x.dtype)


def _broadcast_rule(x: Spec, *, shape: tuple[int, ...]) -> Spec:
    lead = len(shape) - len(x.shape)
    if lead < 0 or any(d not in (1, shape[lead + i]) for i, d in enumerate(x.shape)):
        raise ShapeError(f"broadcast_to: cannot broadcast {x} to shape {tuple(shape)}")
    return Spec(tuple(shape), x.dtype)


transpose_p = register(
    Primitive(
        "transpose",
        Family.LAYOUT,
        lambda x, perm: np.transpose(x, perm),
        _transpose_rule,
        _transpose_vjp,
        params=("perm",),
        doc="permute axes",
    )
)
reshape_p = register(
    Primitive(
        "reshape",
        Family.LAYOUT,
        lambda x, shape: np.reshape(x, shape),
        _reshape_rule,
        lambda g, xs, out, shape: (lambda: reshape(g, xs[0].shape),),
        params=("shape",),
        doc="same elements in row-major order, new shape",
    )
)
broadcast_to_p = register(
    Primitive(
        "broadcast_to",
        Family.LAYOUT,
        lambda x, shape: np.broadcast_to(x, shape),
        _broadcast_rule,
        lambda g, xs, out, shape: (lambda: unbroadcast(g, xs[0].shape),),
        params=("shape",),
        doc="numpy broadcasting to an explicit shape",
    )
)


def transpose(x: Any, perm: Sequence[int] | None = None) -> Tensor:
    (tensor,) = to_tensors([x])
    if perm is None:
        perm = tuple(reversed(range(tensor.ndim)))
    return apply(transpose_p, tensor, perm=tuple(int(p) for p in perm))


def reshape(x: Any, shape: Sequence[int]) -> Tensor:
    (tensor,) = to_tensors([x])
    shape = tuple(int(d) for d in shape)
    if shape.count(-1) == 1:
        known = math.prod(d for d in shape if d != -1)
        inferred = math.prod(tensor.shape) // known if known else 0
        shape = tuple(inferred if d == -1 else d for d in shape)
    return apply(reshape_p, tensor, shape=shape)


def broadcast_to(x: Any, shape: Sequence[int]) -> Tensor:
    (tensor,) = to_tensors([x])
    shape = tuple(int(d) for d in shape)
    if tensor.shape == shape:
        return tensor
    return apply(broadcast_to_p, tensor, shape=shape)


# ----- one_hot --------------------------------------------------------------------------------


def _one_hot_rule(labels: Spec, *, num_classes: int, dtype: str) -> Spec:
    if labels.dtype != INDEX_DTYPE:
        raise DTypeError(f"one_hot: labels must be int64, got {labels}")
    if num_classes <= 0:
        raise ShapeError(f"one_hot: num_classes must be positive, got {num_classes}")
    out_dtype = as_dtype(dtype)
    require_float("one_hot", Spec((), out_dtype))
    return Spec((*labels.shape, num_classes), out_dtype)


one_hot_p = register(
    Primitive(
        "one_hot",
        Family.ONE_HOT,
        lambda labels, num_classes, dtype: labels[..., None] == np.arange(num_classes),
        _one_hot_rule,
        lambda g, xs, out, num_classes, dtype: (None,),
        params=("num_classes", "dtype"),
        doc="1.0 at each label's class, 0.0 elsewhere (a row of zeros for a label out of range)",
    )
)


def one_hot(labels: Any, num_classes: int, dtype: Any = np.float32) -> Tensor:
    (tensor,) = to_tensors([labels])
    return apply(one_hot_p, tensor, num_classes=int(num_classes), dtype=str(np.dtype(dtype)))


# ----- composites: built from primitives, no gradient rules of their own ------------------------


def _detached_max(x: Tensor, axis: int) -> Tensor:
    from aidjit.autodiff.tape import stop_gradient

    return stop_gradient(reduce_max(x, axis=axis, keepdims=True))


def softmax(x: Any, axis: int = -1) -> Tensor:
    (x,) = to_tensors([x])
    shifted = exp(x - _detached_max(x, axis))
    return shifted / sum(shifted, axis=axis, keepdims=True)


def log_softmax(x: Any, axis: int = -1) -> Tensor:
    (x,) = to_tensors([x])
    shifted = x - _detached_max(x, axis)
    return shifted - log(sum(exp(shifted), axis=axis, keepdims=True))


def layer_norm(
    x: Any, weight: Any = None, bias: Any = None, axis: int = -1, eps: float = 1e-5
) -> Tensor:
    """(x - mean) / sqrt(var + eps) over `axis`, then `* weight + bias` when given."""
    (x,) = to_tensors([x])
    centered = x - mean(x, axis=axis, keepdims=True)
    variance = mean(centered * centered, axis=axis, keepdims=True)
    normalized = centered / sqrt(variance + eps)
    if weight is not None:
        normalized = normalized * weight
    if bias is not None:
        normalized = normalized + bias
    return normalized


def cross_entropy(logits: Any, labels: Any) -> Tensor:
    """Mean negative log-likelihood of int64 `labels` under softmax(`logits`), last axis."""
    (logits,) = to_tensors([logits])
    (labels,) = to_tensors([labels])
    if labels.shape != logits.shape[:-1]:
        raise ShapeError(f"cross_entropy: labels {labels.spec} do not match logits {logits.spec}")
    if (
        not labels.is_symbolic
        and labels.shape
        and (labels.numpy().min() < 0 or labels.numpy().max() >= logits.shape[-1])
    ):
        raise ShapeError(
            f"cross_entropy: labels must lie in [0, {logits.shape[-1]}), "
            f"got values from {labels.numpy().min()} to {labels.numpy().max()}"
        )
    picked = one_hot(labels, logits.shape[-1], logits.dtype) * log_softmax(logits)
    return -mean(sum(picked, axis=-1))

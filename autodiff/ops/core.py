"""The core operations: the first primitives, each defined once — numpy forward, shape rule and
gradient side by side.

Gradient rules return one thunk per input (None where the input has no gradient) and are written
with the public functions of this module, so backward graphs use the same primitives as forward
ones. Composites at the end (softmax, layer_norm, cross_entropy, ...) are built from primitives
and need no rule of their own.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from aidjit.autodiff.primitives import (
    INDEX_DTYPE,
    Family,
    Precondition,
    Primitive,
    Spec,
    VjpRule,
    binary_rule,
    broadcast_shapes,
    normalize_axes,
    reduced_shape,
    reduction_rule,
    register,
    require_float,
    unary_rule,
)
from aidjit.autodiff.tensor import Tensor, apply, as_dtype, to_tensors
from aidjit.errors import AidjitError, DTypeError, ShapeError, UnsupportedError

__all__ = [
    "abs",
    "add",
    "astype",
    "broadcast_to",
    "cross_entropy",
    "divide",
    "equal",
    "exp",
    "getitem",
    "greater",
    "greater_equal",
    "lax_pad",
    "layer_norm",
    "less",
    "less_equal",
    "log",
    "log_softmax",
    "matmul",
    "maximum",
    "mean",
    "minimum",
    "multiply",
    "negate",
    "not_equal",
    "one_hot",
    "power",
    "reduce_max",
    "relu",
    "reshape",
    "setitem",
    "sigmoid",
    "sign",
    "softmax",
    "sqrt",
    "strided_slice",
    "subtract",
    "sum",
    "tanh",
    "transpose",
    "where",
]

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


equal_p = _binary(
    "equal", np.equal, lambda g, xs, out: (None, None), "1.0 where x == y, else 0.0 (nan: 0.0)"
)
not_equal_p = _binary(
    "not_equal",
    np.not_equal,
    lambda g, xs, out: (None, None),
    "1.0 where x != y, else 0.0 (nan: 1.0, as in numpy)",
)


def equal(x: Any, y: Any) -> Tensor:
    return apply(equal_p, x, y)


def not_equal(x: Any, y: Any) -> Tensor:
    return apply(not_equal_p, x, y)


def _swapped(primitive: Primitive, name: str, x: Any, y: Any) -> Tensor:
    """`name(x, y)` as `primitive(y, x)`; errors say so, since they name the primitive."""
    try:
        return apply(primitive, y, x)
    except AidjitError as error:
        raise type(error)(f"{name}(x, y) is {primitive.name}(y, x): {error}") from None


def less(x: Any, y: Any) -> Tensor:
    """1.0 where x < y: `greater(y, x)`, so the graph has one op per relation and CSE merges
    `x < y` with `y > x` (nan compares false either way, as in numpy)."""
    return _swapped(greater_p, "less", x, y)


def less_equal(x: Any, y: Any) -> Tensor:
    """1.0 where x <= y: `greater_equal(y, x)`."""
    return _swapped(greater_equal_p, "less_equal", x, y)


# ----- where: a select, never an arithmetic blend ----------------------------------------------


def _where_rule(condition: Spec, x: Spec, y: Spec) -> Spec:
    require_float("where", x, y)
    if x.dtype != y.dtype:
        raise DTypeError(f"where: x and y dtypes differ: {x} and {y}")
    try:
        shape = broadcast_shapes("where", condition.shape, x.shape)
        shape = broadcast_shapes("where", shape, y.shape)
    except ShapeError:
        raise ShapeError(
            f"where: condition {condition}, x {x} and y {y} cannot be broadcast together"
        ) from None
    return Spec(shape, x.dtype)


def _where_vjp(g: Tensor, xs: Sequence[Tensor], out: Tensor) -> Any:
    condition, x, y = xs
    return (
        None,
        lambda: unbroadcast(where(condition, g, 0.0), x.shape),
        lambda: unbroadcast(where(condition, 0.0, g), y.shape),
    )


where_p = register(
    Primitive(
        "where",
        Family.WHERE,
        lambda condition, x, y: np.where(condition != 0, x, y),
        _where_rule,
        _where_vjp,
        doc="x where condition is nonzero (nan counts as nonzero), else y; numpy broadcasting",
    )
)


def where(condition: Any, x: Any, y: Any) -> Tensor:
    """x where `condition` (a float mask or an int64 tensor) is nonzero, else y.

    A select, not `c * x + (1 - c) * y`: an inf or nan in the branch not taken never reaches
    the result or the gradient. The condition gets no gradient; x and y get the cotangent
    where they were chosen. Python scalars among x and y take the other one's dtype.
    """
    return apply(where_p, condition, x, y)


# ----- astype -------------------------------------------------------------------------------


def _astype_rule(x: Spec, *, dtype: str) -> Spec:
    try:
        return Spec(x.shape, as_dtype(dtype))
    except DTypeError as error:
        raise DTypeError(f"astype: {error}") from None


def _astype_vjp(g: Tensor, xs: Sequence[Tensor], out: Tensor, *, dtype: str) -> Any:
    (x,) = xs
    if x.dtype.kind != "f" or out.dtype.kind != "f":
        return (None,)  # int64 values are piecewise constant: no gradient through them
    return (lambda: astype(g, x.dtype),)


astype_p = register(
    Primitive(
        "astype",
        Family.CAST,
        lambda x, dtype: x.astype(dtype),
        _astype_rule,
        _astype_vjp,
        params=("dtype",),
        doc="convert to float32, float64 or int64; float to int truncates toward zero",
    )
)


def astype(x: Any, dtype: Any) -> Tensor:
    """`x` converted to `dtype` (numpy's rules: float to int64 truncates toward zero; values
    out of int64's range, inf and nan have no defined result, as in numpy and C)."""
    (tensor,) = to_tensors([x])
    target = np.dtype(dtype)  # the rule rejects unsupported dtypes, naming astype
    if tensor.dtype == target and not tensor.weak:
        return tensor
    return apply(astype_p, tensor, dtype=target.name)


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


def extremum_vjp(at_extremum: Callable[[Tensor, Tensor], Tensor]) -> VjpRule:
    """The gradient rule of a max- or min-reduction: the cotangent goes to the elements equal
    to the result (`at_extremum(x, result)`, a float mask), shared equally among ties."""

    def vjp(g: Tensor, xs: Sequence[Tensor], out: Tensor, *, axes: Any, keepdims: bool) -> Any:
        def grad() -> Tensor:
            x = xs[0]
            hits = at_extremum(x, _expand_reduced(out, x, axes, keepdims))
            ties = sum(hits, axis=axes, keepdims=True)
            return _expand_reduced(g, x, axes, keepdims) * (hits / ties)

        return (grad,)

    return vjp


sum_p = _reduction(
    "sum", lambda x, axes, keepdims: np.sum(x, axis=axes, keepdims=keepdims), _sum_vjp, "sum"
)
mean_p = _reduction(
    # sum / count rather than np.mean: the same arithmetic (np.mean divides numpy's pairwise sum),
    # and an empty axis gives nan quietly, as the compiled code does, where np.mean warns.
    "mean",
    lambda x, axes, keepdims: (
        np.sum(x, axis=axes, keepdims=keepdims) / math.prod(x.shape[a] for a in axes)
    ),
    _mean_vjp,
    "mean",
)
reduce_max_p = _reduction(
    "reduce_max",
    lambda x, axes, keepdims: np.max(x, axis=axes, keepdims=keepdims),
    extremum_vjp(greater_equal),
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


# ----- slice and pad (XLA's pair: each one's gradient is the other) -----------------------------


def _per_axis(op: str, x: Spec, **fields: tuple[int, ...]) -> None:
    for name, values in fields.items():
        if len(values) != len(x.shape):
            raise ShapeError(f"{op}: {name} {tuple(values)} needs one entry per axis of {x}")


def _slice_rule(
    x: Spec, *, start: tuple[int, ...], strides: tuple[int, ...], shape: tuple[int, ...]
) -> Spec:
    _per_axis("slice", x, start=start, strides=strides, shape=shape)
    for axis, (dim, first, stride, count) in enumerate(
        zip(x.shape, start, strides, shape, strict=True)
    ):
        if stride == 0 or count < 0:
            raise ShapeError(f"slice: axis {axis} of {x}: stride {stride}, size {count}")
        last = first + (count - 1) * stride
        if count and not (0 <= first < dim and 0 <= last < dim):
            raise ShapeError(
                f"slice: axis {axis} of {x}: {count} elements from {first} by {stride} "
                "run out of bounds"
            )
    return Spec(tuple(shape), x.dtype)


def _slice_impl(
    x: np.ndarray, start: tuple[int, ...], strides: tuple[int, ...], shape: tuple[int, ...]
) -> np.ndarray:
    positions = (f + s * np.arange(n) for f, s, n in zip(start, strides, shape, strict=True))
    return x[np.ix_(*positions)]


def _slice_vjp(
    g: Tensor,
    xs: Sequence[Tensor],
    out: Tensor,
    *,
    start: tuple[int, ...],
    strides: tuple[int, ...],
    shape: tuple[int, ...],
) -> Any:
    def grad() -> Tensor:
        # Reverse the axes sliced backwards, so the gradient's elements ascend, then put each
        # one back in place: zero padding before, after and between them.
        backwards = [s < 0 for s in strides]
        ascending = g
        if any(backwards):
            flip_start = tuple(
                max(n - 1, 0) if b else 0 for n, b in zip(shape, backwards, strict=True)
            )
            flip = tuple(-1 if b else 1 for b in backwards)
            ascending = strided_slice(g, flip_start, shape, flip)
        low, high, interior = [], [], []
        for dim, first, stride, count in zip(xs[0].shape, start, strides, shape, strict=True):
            lowest = min(first, first + (count - 1) * stride) if count else 0
            step = abs(stride) if count > 1 else 1
            low.append(lowest)
            interior.append(step - 1)
            high.append(dim - lowest - ((count - 1) * step + 1 if count else 0))
        return lax_pad(ascending, low, high, interior)

    return (grad,)


def _padded_dim(dim: int, low: int, high: int, interior: int) -> int:
    return low + high + (dim + (dim - 1) * interior if dim else 0)


def _pad_rule(
    x: Spec,
    *,
    low: tuple[int, ...],
    high: tuple[int, ...],
    interior: tuple[int, ...],
    value: float,
) -> Spec:
    _per_axis("pad", x, low=low, high=high, interior=interior)
    if any(v < 0 for v in (*low, *high, *interior)):
        raise ShapeError(
            f"pad: padding of {x} must be non-negative, got low {tuple(low)}, "
            f"high {tuple(high)}, interior {tuple(interior)}"
        )
    if x.dtype.kind != "f" and not float(value).is_integer():
        raise DTypeError(f"pad: padding value {value} is not an integer, as {x} needs")
    widths = zip(x.shape, low, high, interior, strict=True)
    return Spec(tuple(_padded_dim(*w) for w in widths), x.dtype)


def _pad_impl(
    x: np.ndarray,
    low: tuple[int, ...],
    high: tuple[int, ...],
    interior: tuple[int, ...],
    value: float,
) -> np.ndarray:
    widths = list(zip(x.shape, low, high, interior, strict=True))
    out = np.full([_padded_dim(*w) for w in widths], value, x.dtype)
    # An empty axis places nothing (its "last element" would be a negative, wrapping stop).
    places = (
        slice(lo, lo + (d - 1) * (i + 1) + 1, i + 1) if d else slice(0, 0) for d, lo, _, i in widths
    )
    out[tuple(places)] = x
    return out


slice_p = register(
    Primitive(
        "slice",
        Family.LAYOUT,
        _slice_impl,
        _slice_rule,
        _slice_vjp,
        params=("start", "strides", "shape"),
        doc="out[i] = x[start + i * strides] per axis, i < shape; strides may be negative",
    )
)
pad_p = register(
    Primitive(
        "pad",
        Family.PAD,
        _pad_impl,
        _pad_rule,
        lambda g, xs, out, low, high, interior, value: (
            lambda: strided_slice(g, low, xs[0].shape, tuple(i + 1 for i in interior)),
        ),
        params=("low", "high", "interior", "value"),
        doc="`value` (0.0 by default) before (low), after (high) and between (interior) the "
        "elements, per axis",
    )
)


def strided_slice(
    x: Any, start: Sequence[int], shape: Sequence[int], strides: Sequence[int] | None = None
) -> Tensor:
    """`shape[k]` elements of each axis k from `start[k]`, `strides[k]` apart (default 1)."""
    (tensor,) = to_tensors([x])
    strides = (1,) * tensor.ndim if strides is None else strides
    params = {
        "start": tuple(int(v) for v in start),
        "strides": tuple(int(v) for v in strides),
        "shape": tuple(int(v) for v in shape),
    }
    return apply(slice_p, tensor, **params)


def lax_pad(
    x: Any,
    low: Sequence[int],
    high: Sequence[int],
    interior: Sequence[int] | None = None,
    value: float = 0.0,
) -> Tensor:
    """The `pad` primitive, `jax.lax.pad`'s semantics: per axis k, `low[k]` copies of `value`
    before the elements, `high[k]` after and `interior[k]` between each two (the gradient of a
    strided slice). `ops.pad` is numpy's pad, built on this."""
    (tensor,) = to_tensors([x])
    interior = (0,) * tensor.ndim if interior is None else interior
    widths = {
        "low": tuple(int(v) for v in low),
        "high": tuple(int(v) for v in high),
        "interior": tuple(int(v) for v in interior),
    }
    if not any(v for values in widths.values() for v in values):
        return tensor
    return apply(pad_p, tensor, **widths, value=float(value))


# ----- basic indexing: slice, then reshape away integer axes and in new ones ---------------------

_ADVANCED_INDEXING = (
    "advanced indexing is not supported yet; use integers, slices, ... and None (basic "
    "indexing), ops.where(mask, x, 0.0) instead of a boolean mask, or ops.take(x, indices, "
    "axis=0) to gather rows"
)


def _check_basic_index(item: Any) -> None:
    if item is None or item is Ellipsis or isinstance(item, slice):
        return
    if isinstance(item, int | np.integer) and not isinstance(item, bool | np.bool_):
        return
    raise UnsupportedError(f"indexing with a {type(item).__name__}: {_ADVANCED_INDEXING}")


def _expand_ellipsis(items: tuple[Any, ...], shape: tuple[int, ...]) -> list[Any]:
    consumed = len([k for k in items if k is not None and k is not Ellipsis])
    if consumed > len(shape):
        raise IndexError(f"too many indices for a tensor of shape {shape}: {consumed} axes indexed")
    ellipses = [i for i, k in enumerate(items) if k is Ellipsis]
    if len(ellipses) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    fill = [slice(None)] * (len(shape) - consumed)
    if not ellipses:
        return [*items, *fill]
    at = ellipses[0]
    return [*items[:at], *fill, *items[at + 1 :]]


def getitem(x: Any, key: Any) -> Tensor:
    """numpy's basic indexing, `x[key]`: integers (negative from the end), slices (clamped
    bounds, any nonzero step), `...` and None. One `slice` op, then a `reshape` dropping
    integer-indexed axes and adding new ones; the gradient is a `pad`."""
    (tensor,) = to_tensors([x])
    items = key if isinstance(key, tuple) else (key,)
    for item in items:
        _check_basic_index(item)
    start, strides, sizes, out_shape = [], [], [], []
    axis = 0
    for item in _expand_ellipsis(items, tensor.shape):
        if item is None:
            out_shape.append(1)
            continue
        dim = tensor.shape[axis]
        if isinstance(item, slice):
            try:
                first, stop, step = item.indices(dim)
            except ValueError as error:
                raise IndexError(
                    f"axis {axis} of a tensor of shape {tensor.shape}: {error}"
                ) from None
            count = len(range(first, stop, step))
            start.append(first if count else 0)
            strides.append(step)
            sizes.append(count)
            out_shape.append(count)
        else:
            index = int(item)
            if not -dim <= index < dim:
                raise IndexError(
                    f"index {index} is out of bounds for axis {axis} with size {dim} "
                    f"(tensor shape {tensor.shape})"
                )
            start.append(index % dim)
            strides.append(1)
            sizes.append(1)
        axis += 1
    sliced = tensor
    if tuple(sizes) != tensor.shape or any(start) or any(s != 1 for s in strides):
        sliced = strided_slice(tensor, start, sizes, strides)
    return sliced if sliced.shape == tuple(out_shape) else reshape(sliced, out_shape)


def setitem(x: Any, key: Any, value: Any) -> None:
    raise UnsupportedError(
        "assignment to a tensor element or slice (x[...] = v) is not supported: tensors are "
        "immutable values; build a new one, e.g. ops.where(mask, v, x)"
    )


# ----- one_hot --------------------------------------------------------------------------------


def _one_hot_rule(labels: Spec, *, num_classes: int, dtype: str) -> Spec:
    if labels.dtype != INDEX_DTYPE:
        raise DTypeError(f"one_hot: labels must be int64, got {labels}")
    if num_classes <= 0:
        raise ShapeError(f"one_hot: num_classes must be positive, got {num_classes}")
    out_dtype = as_dtype(dtype)
    require_float("one_hot", Spec((), out_dtype))
    return Spec((*labels.shape, num_classes), out_dtype)


def _labels_out_of_range(labels: np.ndarray, num_classes: int) -> str | None:
    """What is wrong with int `labels` for `num_classes` classes, or None if nothing is."""
    if labels.size == 0 or labels.dtype.kind != "i":
        return None
    low, high = int(labels.min()), int(labels.max())
    if 0 <= low and high < num_classes:
        return None
    return f"labels must lie in [0, {num_classes}), got values from {low} to {high}"


one_hot_p = register(
    Primitive(
        "one_hot",
        Family.ONE_HOT,
        lambda labels, num_classes, dtype: labels[..., None] == np.arange(num_classes),
        _one_hot_rule,
        lambda g, xs, out, num_classes, dtype: (None,),
        params=("num_classes", "dtype"),
        doc="1.0 at each label's class, 0.0 elsewhere (a row of zeros for a label out of range)",
        # A compiled call rejects labels out of range rather than silently return zero rows.
        precondition=Precondition(
            0, lambda labels, params: _labels_out_of_range(labels, params["num_classes"])
        ),
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
    problem = None if labels.is_symbolic else _labels_out_of_range(labels.numpy(), logits.shape[-1])
    if problem:
        raise ShapeError(f"cross_entropy: {problem}")
    picked = one_hot(labels, logits.shape[-1], logits.dtype) * log_softmax(logits)
    return -mean(sum(picked, axis=-1))

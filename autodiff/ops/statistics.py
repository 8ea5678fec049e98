"""Reductions and statistics: numpy's names and semantics, each defined once.

Primitives (each a graph op with its own lowering):

- `reduce_min`: a reduction like `reduce_max` (+inf start, NaN-propagating minimum), whose
  gradient is reduce_max's rule with the comparison mirrored (`extremum_vjp`);
- `argmax`, `argmin`: int64 indices with numpy's rules (the first of tied extrema; the first
  NaN if there is one) and, as in JAX, a zero gradient: an index is piecewise constant in x;
- `cumsum`: an inclusive scan along one axis, summed in numpy's order; its gradient is the
  reversed cumsum of the cotangent.

Composites (no rule of their own; the graph ops they become are named in each docstring):
`variance`, `std`, `reduce_log_variance` and `logsumexp`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from aidjit.autodiff.ops.core import (
    _reduce,
    _reduction,
    exp,
    extremum_vjp,
    less,
    less_equal,
    log,
    mean,
    reduce_max,
    reshape,
    sqrt,
    strided_slice,
    where,
)
from aidjit.autodiff.ops.core import abs as absolute
from aidjit.autodiff.ops.core import sum as reduce_sum
from aidjit.autodiff.primitives import (
    INDEX_DTYPE,
    Family,
    Primitive,
    Spec,
    normalize_axes,
    reduced_shape,
    reduction_rule,
    register,
    require_float,
)
from aidjit.autodiff.tape import stop_gradient
from aidjit.autodiff.tensor import Tensor, apply, to_tensors
from aidjit.errors import ShapeError

__all__ = [
    "argmax",
    "argmin",
    "cumsum",
    "logsumexp",
    "reduce_log_variance",
    "reduce_min",
    "std",
    "variance",
]

Axis = int | Sequence[int] | None

# ----- reduce_min ---------------------------------------------------------------------------------

reduce_min_p = _reduction(
    "reduce_min",
    lambda x, axes, keepdims: np.min(x, axis=axes, keepdims=keepdims),
    extremum_vjp(less_equal),
    "minimum, nan-propagating; ties share the gradient equally",
    nonempty=True,
)


def reduce_min(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """numpy's `min`: NaN-propagating; an empty reduced axis is an error, as in numpy."""
    return _reduce(reduce_min_p, x, axis, keepdims)


# ----- argmax, argmin -----------------------------------------------------------------------------


def _arg_rule(op: str) -> Callable[..., Spec]:
    """A reduction's rule (float input, sorted axes, none empty) with an int64 result."""
    reduction = reduction_rule(op, nonempty=True)

    def rule(x: Spec, *, axes: tuple[int, ...], keepdims: bool) -> Spec:
        return Spec(reduction(x, axes=axes, keepdims=keepdims).shape, INDEX_DTYPE)

    return rule


def _arg_impl(pick: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    """numpy's argmax/argmin over `axes`: the row-major position within the reduced block.

    numpy takes one axis or all of them (None, the flat index); the primitive takes any sorted
    set, so both are one case: the reduced axes moved last and flattened into one.
    """

    def impl(x: np.ndarray, axes: tuple[int, ...], keepdims: bool) -> np.ndarray:
        kept = [a for a in range(x.ndim) if a not in axes]
        block = math.prod(x.shape[a] for a in axes)
        rows = np.transpose(x, (*kept, *axes)).reshape(*(x.shape[a] for a in kept), block)
        return pick(rows, axis=-1).reshape(reduced_shape(x.shape, axes, keepdims))

    return impl


def _arg_primitive(name: str, pick: Callable[..., np.ndarray], which: str) -> Primitive:
    return register(
        Primitive(
            name,
            Family.REDUCTION,
            _arg_impl(pick),
            _arg_rule(name),
            # No gradient (JAX's argmax has a zero JVP): the index is piecewise constant in x.
            lambda g, xs, out, axes, keepdims: (None,),
            params=("axes", "keepdims"),
            doc=f"int64 position of the {which} over `axes` (row-major within the reduced "
            "block); the first of ties, the first NaN if any",
        )
    )


argmax_p = _arg_primitive("argmax", np.argmax, "maximum")
argmin_p = _arg_primitive("argmin", np.argmin, "minimum")


def _arg_reduce(primitive: Primitive, x: Any, axis: int | None, keepdims: bool) -> Tensor:
    if axis is not None and not isinstance(axis, int | np.integer):
        raise TypeError(f"{primitive.name}: axis must be an int or None, got {axis!r}")
    return _reduce(primitive, x, axis, keepdims)


def argmax(x: Any, axis: int | None = None, keepdims: bool = False) -> Tensor:
    """numpy's `argmax`: int64 indices along `axis` (None: into the flattened tensor).

    Ties give the first index; a NaN counts as the maximum, so the first NaN's index is the
    result, as in numpy. No gradient flows through it (differentiating a loss that uses it
    gives the other paths' gradient, as `jax.grad` does). Graph op `graph.argmax`.
    """
    return _arg_reduce(argmax_p, x, axis, keepdims)


def argmin(x: Any, axis: int | None = None, keepdims: bool = False) -> Tensor:
    """numpy's `argmin`: as `argmax`, for the minimum (a NaN counts as the minimum)."""
    return _arg_reduce(argmin_p, x, axis, keepdims)


# ----- cumsum -------------------------------------------------------------------------------------


def _cumsum_rule(x: Spec, *, axis: int) -> Spec:
    require_float("cumsum", x)
    if not 0 <= axis < len(x.shape):
        raise ShapeError(f"cumsum: axis {axis} is out of range for {x}")
    return x


def _flip(t: Tensor, axis: int) -> Tensor:
    """`t` reversed along `axis`: a slice with stride -1 (a view once lowered)."""
    start = [0] * t.ndim
    start[axis] = max(t.shape[axis] - 1, 0)
    strides = [1] * t.ndim
    strides[axis] = -1
    return strided_slice(t, start, t.shape, strides)


def _cumsum_vjp(g: Tensor, xs: Sequence[Tensor], out: Tensor, *, axis: int) -> Any:
    # x[j] reaches every out[i] with i >= j: its gradient is the sum of g from j to the end.
    return (lambda: _flip(_cumsum(_flip(g, axis), axis), axis),)


cumsum_p = register(
    Primitive(
        "cumsum",
        Family.SCAN,
        lambda x, axis: np.cumsum(x, axis=axis),
        _cumsum_rule,
        _cumsum_vjp,
        params=("axis",),
        doc="inclusive prefix sum along `axis`, summed first to last as numpy does",
    )
)


def _cumsum(x: Tensor, axis: int) -> Tensor:
    return apply(cumsum_p, x, axis=axis)


def cumsum(x: Any, axis: int | None = None) -> Tensor:
    """numpy's `cumsum`: running sums along `axis`; None sums the flattened tensor.

    Element i is ((x[0] + x[1]) + ...) + x[i], numpy's order, so inf and NaN propagate as in
    numpy (the lowering selects rather than multiplies by a mask: inf * 0 would be NaN).
    The gradient is the cotangent's cumsum taken from the end. Graph op `graph.cumsum`.
    """
    (tensor,) = to_tensors([x])
    if axis is None:
        if tensor.ndim != 1:
            tensor = reshape(tensor, (-1,))
        axis = 0
    elif not isinstance(axis, int | np.integer):
        raise TypeError(f"cumsum: axis must be an int or None, got {axis!r}")
    (axis,) = normalize_axes("cumsum", axis, tensor.ndim)
    return _cumsum(tensor, axis)


# ----- composites: variance, std, reduce_log_variance, logsumexp ----------------------------------


def variance(x: Any, axis: Axis = None, ddof: int = 0, keepdims: bool = False) -> Tensor:
    """numpy's `var`: the mean squared deviation, divided by `count - ddof`.

    Two passes, as numpy: the mean first, then the squared deviations from it — never
    E[x²] - E[x]², which cancels catastrophically when the mean is large against the spread.
    `count - ddof <= 0` divides by zero (inf, or NaN for a zero sum) as numpy does, without
    its warning. Graph ops: `mean`, `subtract`, `multiply`, `sum`, `divide`.
    """
    (tensor,) = to_tensors([x])
    axes = normalize_axes("variance", axis, tensor.ndim)
    deviations = tensor - mean(tensor, axis=axes, keepdims=True)
    count = math.prod(tensor.shape[a] for a in axes)
    squares = reduce_sum(deviations * deviations, axis=axes, keepdims=keepdims)
    return squares / float(max(count - ddof, 0))


def std(x: Any, axis: Axis = None, ddof: int = 0, keepdims: bool = False) -> Tensor:
    """numpy's `std`: `sqrt(variance(...))`. Its gradient is infinite where the variance is 0
    (as in numpy's and JAX's arithmetic). Graph ops: `variance`'s, then `sqrt`."""
    return sqrt(variance(x, axis=axis, ddof=ddof, keepdims=keepdims))


def reduce_log_variance(
    x: Any, axis: Axis = None, ddof: int = 0, keepdims: bool = False, eps: float = 1e-8
) -> Tensor:
    """`log(variance(x, axis, ddof) + eps)`, the seed's ReduceLogVariance (the same eps,
    1e-8): eps keeps a constant row finite (log 0 is -inf) and its gradient bounded by
    1 / eps; `eps=0.0` gives the plain log of the variance. Graph ops: `variance`'s, then
    `add` and `log`."""
    return log(variance(x, axis=axis, ddof=ddof, keepdims=keepdims) + eps)


def logsumexp(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """`log(sum(exp(x)))` over `axis` without overflow, with scipy.special.logsumexp's results.

    The maximum m of each row is subtracted before `exp` and added back after `log`; a row
    whose maximum is not finite shifts by 0 instead (scipy's rule), so a row of -inf gives
    -inf (not -inf - -inf = NaN), a row holding +inf gives +inf, and a NaN gives NaN. m takes
    no gradient: the result does not depend on it, so the gradient is softmax(x). Graph ops:
    `reduce_max`, `abs`, `greater`, `where`, `subtract`, `exp`, `sum`, `log`, `add` (and a
    `reshape` of m without keepdims).
    """
    (tensor,) = to_tensors([x])
    axes = normalize_axes("logsumexp", axis, tensor.ndim)
    if any(tensor.shape[a] == 0 for a in axes):
        raise ShapeError(f"logsumexp: cannot reduce over an empty axis of {tensor.spec}")
    peak = stop_gradient(reduce_max(tensor, axis=axes, keepdims=True))
    shift = where(less(absolute(peak), math.inf), peak, 0.0)
    total = reduce_sum(exp(tensor - shift), axis=axes, keepdims=keepdims)
    return log(total) + (shift if keepdims else reshape(shift, total.shape))

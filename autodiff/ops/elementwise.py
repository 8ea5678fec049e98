"""Elementwise math and activations: one scalar formula per op, forward and gradient side by side.

Most are primitives of the elementwise unary family: a numpy forward, a gradient written with
public ops, and one scalar body in `lowering/elementwise.py`, so each becomes one `graph.<name>`
op that reads as what it is in IR and fuses into its neighbours' loop as one body. The stable
formulations (softplus, log_sigmoid, mish) are written once, in that body and in the numpy
forward below, with the same operations in the same order, so eager and compiled agree to the
last bits libm allows.

Parametrised primitives (softplus's beta and threshold, gelu's approximation, leaky_relu's
slope, elu's alpha, clip's bounds) carry their parameters as the graph op's attributes.
Composites (selu, swish, hard_tanh, hard_sigmoid) are exactly another op or a short chain of
them; each says which graph ops it becomes. `apply_activation` dispatches on a name.

Gradient conventions at kinks follow torch: relu-like ops take the negative side's slope at 0
(leaky_relu, elu); clip passes the gradient on its closed interval (a bound itself included).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from aidjit.autodiff.ops.core import (
    exp,
    greater,
    greater_equal,
    log_softmax,
    multiply,
    relu,
    sigmoid,
    softmax,
    tanh,
    where,
)
from aidjit.autodiff.primitives import Family, Primitive, Spec, register, unary_rule
from aidjit.autodiff.tensor import Tensor, apply, to_tensors
from aidjit.errors import ArgumentValueError, UnsupportedError

__all__ = [
    "apply_activation",
    "clip",
    "cos",
    "elu",
    "erf",
    "floor",
    "gelu",
    "hard_sigmoid",
    "hard_tanh",
    "leaky_relu",
    "log_sigmoid",
    "mish",
    "reciprocal",
    "rsqrt",
    "selu",
    "silu",
    "sin",
    "softplus",
    "square",
    "swish",
]

SQRT1_2 = math.sqrt(0.5)
"""1/sqrt(2): exact gelu is x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2))."""
GELU_TANH_SCALE = math.sqrt(2.0 / math.pi)
GELU_TANH_CUBIC = 0.044715
"""tanh-approximate gelu: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (torch's constants)."""
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
"""selu's constants (Klambauer et al. 2017), as torch and jax spell them."""
GELU_APPROXIMATIONS = ("none", "tanh")

Thunk = Callable[[], Tensor]

# ----- numpy forwards: the formulas of lowering/elementwise.py, operation for operation ----------

_erf_float64 = np.vectorize(math.erf, otypes=[np.float64])


def _erf(x: np.ndarray) -> np.ndarray:
    """numpy has no erf: math.erf per element, rounded to x's dtype (C's erff is within an ulp)."""
    return _erf_float64(x).astype(x.dtype)


def _stable_softplus(z: np.ndarray) -> np.ndarray:
    """log(1 + exp(z)) without overflow: max(z, 0) + log1p(exp(-|z|))."""
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def _softplus_impl(x: np.ndarray, beta: float, threshold: float) -> np.ndarray:
    z = x if beta == 1.0 else x * beta
    smooth = _stable_softplus(z)
    return np.where(z > threshold, x, smooth if beta == 1.0 else smooth / beta)


def _gelu_impl(x: np.ndarray, approximate: str) -> np.ndarray:
    if approximate == "tanh":
        inner = (x + x * x * x * GELU_TANH_CUBIC) * GELU_TANH_SCALE
        return x * 0.5 * (np.tanh(inner) + 1.0)
    return x * 0.5 * (_erf(x * SQRT1_2) + 1.0)


def _clip_impl(x: np.ndarray, a_min: float | None, a_max: float | None) -> np.ndarray:
    # numpy's clip is minimum(maximum(x, a_min), a_max), nan-propagating; so is the body.
    if a_min is not None:
        x = np.maximum(x, a_min)
    return x if a_max is None else np.minimum(x, a_max)


# ----- shape rules and registration -------------------------------------------------------------


def _check_gelu(approximate: str) -> None:
    if approximate not in GELU_APPROXIMATIONS:
        raise ArgumentValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def _unary(
    name: str,
    impl: Callable[..., np.ndarray],
    vjp: Callable[..., Any],
    doc: str,
    params: tuple[str, ...] = (),
    check: Callable[..., None] | None = None,
) -> Primitive:
    """An elementwise unary primitive: float in, the same type out; `check` vets parameters."""
    same_type = unary_rule(name)

    def rule(x: Spec, **values: Any) -> Spec:
        if check is not None:
            check(**values)
        return same_type(x)

    return register(
        Primitive(name, Family.ELEMENTWISE_UNARY, impl, rule, vjp, params=params, doc=doc)
    )


# ----- math -------------------------------------------------------------------------------------

sin_p = _unary("sin", np.sin, lambda g, xs, out: (lambda: g * cos(xs[0]),), "sine")
cos_p = _unary("cos", np.cos, lambda g, xs, out: (lambda: -(g * sin(xs[0])),), "cosine")
square_p = _unary(
    # A primitive, not multiply(x, x): one operand read, and `graph.square` says what it is.
    "square",
    np.square,
    lambda g, xs, out: (lambda: g * (xs[0] * 2.0),),
    "x * x",
)
reciprocal_p = _unary(
    "reciprocal",
    lambda x: 1.0 / x,
    lambda g, xs, out: (lambda: -(g * (out * out)),),
    "1 / x",
)
rsqrt_p = _unary(
    "rsqrt",
    lambda x: 1.0 / np.sqrt(x),
    lambda g, xs, out: (lambda: g * (out * out * out) * -0.5,),
    "1 / sqrt(x)",
)
floor_p = _unary(
    "floor",
    np.floor,
    lambda g, xs, out: (None,),
    "largest integer <= x (as a float); piecewise constant, so no gradient (zero)",
)
erf_p = _unary(
    # Exact gelu's gradient needs Phi(x), so erf is an op of its own (jax.lax.erf).
    "erf",
    _erf,
    lambda g, xs, out: (lambda: g * exp(-(xs[0] * xs[0])) * (2.0 / math.sqrt(math.pi)),),
    "the error function, 2/sqrt(pi) * integral of exp(-t^2) from 0 to x",
)


def sin(x: Any) -> Tensor:
    return apply(sin_p, x)


def cos(x: Any) -> Tensor:
    return apply(cos_p, x)


def square(x: Any) -> Tensor:
    return apply(square_p, x)


def reciprocal(x: Any) -> Tensor:
    """1 / x (inf at ±0, with the zero's sign)."""
    return apply(reciprocal_p, x)


def rsqrt(x: Any) -> Tensor:
    """1 / sqrt(x), computed as exactly that (two roundings, as numpy's `1 / np.sqrt(x)`)."""
    return apply(rsqrt_p, x)


def floor(x: Any) -> Tensor:
    """numpy's floor; its gradient is zero everywhere (none is propagated)."""
    return apply(floor_p, x)


def erf(x: Any) -> Tensor:
    return apply(erf_p, x)


# ----- activations: primitives, each one scalar body ----------------------------------------------


def _softplus_vjp(
    g: Tensor, xs: Sequence[Tensor], out: Tensor, *, beta: float, threshold: float
) -> tuple[Thunk]:
    def grad() -> Tensor:
        z = xs[0] * beta
        return where(greater(z, threshold), g, g * sigmoid(z))

    return (grad,)


def _gelu_vjp(g: Tensor, xs: Sequence[Tensor], out: Tensor, *, approximate: str) -> tuple[Thunk]:
    def grad() -> Tensor:
        (x,) = xs
        if approximate == "tanh":
            # torch's formula: d/dx [0.5 x (1 + t)], t = tanh(c (x + k x^3)).
            t = tanh((x + x * x * x * GELU_TANH_CUBIC) * GELU_TANH_SCALE)
            slope = (1.0 - t * t) * (x * x * (3.0 * GELU_TANH_CUBIC) + 1.0) * GELU_TANH_SCALE
            return g * ((t + 1.0) * 0.5 + x * 0.5 * slope)
        # Phi(x) + x phi(x), phi the standard normal density.
        density = exp(x * x * -0.5) * (1.0 / math.sqrt(2.0 * math.pi))
        return g * ((erf(x * SQRT1_2) + 1.0) * 0.5 + x * density)

    return (grad,)


def _silu_vjp(g: Tensor, xs: Sequence[Tensor], out: Tensor) -> tuple[Thunk]:
    def grad() -> Tensor:
        s = sigmoid(xs[0])
        return g * (s * (xs[0] * (1.0 - s) + 1.0))

    return (grad,)


def _mish_vjp(g: Tensor, xs: Sequence[Tensor], out: Tensor) -> tuple[Thunk]:
    def grad() -> Tensor:
        (x,) = xs
        t = tanh(softplus(x))
        return g * (t + x * (1.0 - t * t) * sigmoid(x))

    return (grad,)


softplus_p = _unary(
    "softplus",
    _softplus_impl,
    _softplus_vjp,
    "log(1 + exp(beta x)) / beta, computed as (max(z, 0) + log1p(exp(-|z|))) / beta with "
    "z = beta x; x itself where z > threshold (torch's semantics)",
    params=("beta", "threshold"),
)
gelu_p = _unary(
    "gelu",
    _gelu_impl,
    _gelu_vjp,
    "x * Phi(x): 0.5 x (1 + erf(x / sqrt 2)), or with approximate='tanh' "
    "0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))",
    params=("approximate",),
    check=_check_gelu,
)
leaky_relu_p = _unary(
    "leaky_relu",
    lambda x, negative_slope: np.where(x > 0, x, x * negative_slope),
    lambda g, xs, out, negative_slope: (lambda: where(greater(xs[0], 0.0), g, g * negative_slope),),
    "x where x > 0, else negative_slope * x; the gradient at 0 is negative_slope (torch)",
    params=("negative_slope",),
)
elu_p = _unary(
    "elu",
    lambda x, alpha: np.where(x > 0, x, np.expm1(x) * alpha),
    # alpha * exp(x), not out + alpha: no cancellation where exp(x) is tiny.
    lambda g, xs, out, alpha: (lambda: where(greater(xs[0], 0.0), g, g * (exp(xs[0]) * alpha)),),
    "x where x > 0, else alpha * expm1(x); the gradient at 0 is alpha (torch)",
    params=("alpha",),
)
silu_p = _unary(
    # A primitive, not multiply(x, sigmoid(x)): one body, and torch's formula x / (1 + exp(-x)),
    # accurate to the last bits where sigmoid's 0.5 tanh(x/2) + 0.5 cancels (x << 0); an
    # overflowing exp(-x) gives -0.0, the limit.
    "silu",
    lambda x: x / (np.exp(-x) + 1.0),
    _silu_vjp,
    "x * sigmoid(x) (swish), computed as x / (1 + exp(-x))",
)
mish_p = _unary(
    "mish",
    lambda x: x * np.tanh(_stable_softplus(x)),
    _mish_vjp,
    "x * tanh(softplus(x)), softplus in its stable form (no threshold)",
)
log_sigmoid_p = _unary(
    "log_sigmoid",
    lambda x: np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x))),
    lambda g, xs, out: (lambda: g * sigmoid(-xs[0]),),
    "log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)): no overflow, exact for large |x|",
)
clip_p = _unary(
    "clip",
    _clip_impl,
    lambda g, xs, out, a_min, a_max: (lambda: _clip_grad(g, xs[0], a_min, a_max),),
    "numpy's clip with scalar bounds, minimum(maximum(x, a_min), a_max), either bound "
    "optional; nan stays nan; the gradient passes where a_min <= x <= a_max",
    params=("a_min", "a_max"),
)


def _clip_grad(g: Tensor, x: Tensor, a_min: float | None, a_max: float | None) -> Tensor:
    """g on the closed interval [a_min, a_max], 0 outside (and at nan): a bound itself passes
    the gradient, as torch.clamp's does; where a_min > a_max nothing passes (the result is the
    constant a_max, as numpy's)."""
    inside = None
    if a_min is not None:
        inside = greater_equal(x, a_min)
    if a_max is not None:
        below = greater_equal(a_max, x)
        inside = below if inside is None else multiply(inside, below)
    return g if inside is None else where(inside, g, 0.0)


def _scalar(op: str, name: str, value: Any) -> float:
    """A parameter as a Python float; a tensor bound names the ops that take one."""
    if isinstance(value, Tensor) or np.ndim(value) != 0:
        raise UnsupportedError(
            f"{op}: {name} must be a Python or numpy scalar, got a {type(value).__name__}; "
            "for tensor bounds use ops.maximum and ops.minimum"
        )
    return float(value)


def softplus(x: Any, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """torch.nn.functional.softplus: log(1 + exp(beta x)) / beta, linear (x) where
    beta * x > threshold. Finite for every finite x; softplus(-inf) = 0."""
    return apply(
        softplus_p,
        x,
        beta=_scalar("softplus", "beta", beta),
        threshold=_scalar("softplus", "threshold", threshold),
    )


def gelu(x: Any, approximate: str = "none") -> Tensor:
    """torch.nn.functional.gelu: x * Phi(x) with erf ("none") or its tanh approximation.
    gelu(-inf) is nan (-inf * 0), as in torch and jax."""
    return apply(gelu_p, x, approximate=str(approximate))


def leaky_relu(x: Any, negative_slope: float = 0.01) -> Tensor:
    return apply(
        leaky_relu_p, x, negative_slope=_scalar("leaky_relu", "negative_slope", negative_slope)
    )


def elu(x: Any, alpha: float = 1.0) -> Tensor:
    return apply(elu_p, x, alpha=_scalar("elu", "alpha", alpha))


def silu(x: Any) -> Tensor:
    """x * sigmoid(x); silu(-inf) is nan (-inf / inf), as in torch."""
    return apply(silu_p, x)


swish = silu
"""swish is silu (Ramachandran et al. named it so; jax.nn.swish is jax.nn.silu)."""


def mish(x: Any) -> Tensor:
    """x * tanh(softplus(x)); mish(-inf) is nan (-inf * 0), as in torch."""
    return apply(mish_p, x)


def log_sigmoid(x: Any) -> Tensor:
    return apply(log_sigmoid_p, x)


def clip(x: Any, a_min: float | None = None, a_max: float | None = None) -> Tensor:
    """numpy's clip with scalar bounds (None: unbounded on that side). A bound above the other
    gives a_max everywhere, as numpy does. The gradient is 1 on the closed interval
    [a_min, a_max] and 0 outside: at a bound the value passes unchanged, and so does the
    gradient (torch.clamp's convention; jax splits it)."""
    (tensor,) = to_tensors([x])
    bounds = {
        "a_min": None if a_min is None else _scalar("clip", "a_min", a_min),
        "a_max": None if a_max is None else _scalar("clip", "a_max", a_max),
    }
    if a_min is None and a_max is None:
        return tensor  # numpy 2: clip with no bound is the identity
    return apply(clip_p, tensor, **bounds)


# ----- composites: no primitive of their own ---------------------------------------------------


def selu(x: Any) -> Tensor:
    """scale * elu(x, alpha) with selu's constants: graph.elu, then graph.multiply (torch
    defines selu so; one primitive fewer, and the two fuse into one loop)."""
    return elu(x, alpha=SELU_ALPHA) * SELU_SCALE


def hard_tanh(x: Any, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    """torch.nn.functional.hardtanh: clip(x, min_val, max_val), a graph.clip. The same forward
    as clip, so the same op; its gradient at the bounds is clip's (1), where torch's is 0."""
    return clip(x, min_val, max_val)


def hard_sigmoid(x: Any) -> Tensor:
    """torch.nn.functional.hardsigmoid: relu6(x + 3) / 6, torch's formula: graph.add,
    graph.clip and graph.divide, one loop once fused. Gradient 1/6 on [-3, 3] (clip's)."""
    return clip(x + 3.0, 0.0, 6.0) / 6.0


# ----- apply_activation ------------------------------------------------------------------------

ACTIVATIONS: dict[str, Callable[..., Tensor]] = {
    "linear": lambda x: x,
    "relu": relu,
    "sigmoid": sigmoid,
    "tanh": tanh,
    "softmax": softmax,
    "log_softmax": log_softmax,
    "softplus": softplus,
    "gelu": gelu,
    "leaky_relu": leaky_relu,
    "elu": elu,
    "selu": selu,
    "silu": silu,
    "swish": swish,
    "mish": mish,
    "log_sigmoid": log_sigmoid,
    "hard_sigmoid": hard_sigmoid,
    "hard_tanh": hard_tanh,
}
"""Activation name -> function, for `apply_activation`; "linear" (and None) is the identity."""


def apply_activation(x: Any, name: str | None, **params: Any) -> Tensor:
    """The activation called `name` applied to `x` with its keyword parameters:
    `apply_activation(x, "leaky_relu", negative_slope=0.2)`. None and "linear" return x.
    An unknown name, or a parameter the activation does not take, is an error naming both."""
    function = ACTIVATIONS.get("linear" if name is None else name)
    if function is None:
        known = ", ".join(sorted(ACTIVATIONS))
        raise ValueError(f"apply_activation: unknown activation {name!r}; known: {known}")
    try:
        inspect.signature(function).bind(x, **params)
    except TypeError:
        accepted = list(inspect.signature(function).parameters)[1:]
        raise TypeError(
            f"apply_activation: {name!r} takes {', '.join(accepted) or 'no parameters'}, "
            f"got {', '.join(sorted(params))}"
        ) from None
    (tensor,) = to_tensors([x])
    return function(tensor, **params)

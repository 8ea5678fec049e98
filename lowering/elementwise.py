"""Scalar bodies of the elementwise math and activation ops (autodiff/ops/elementwise.py).

Rows of convert-graph-to-linalg's `ELEMENTWISE_BODIES`: each op is one `linalg.generic` whose
body is the formula below, so an activation fuses into its neighbours' loop as one body. Each
body is the numpy forward's formula, operation for operation, so eager and compiled results
differ only by what libm does. For example `graph.softplus %x {beta = 1.0, threshold = 20.0}`:

    ^bb0(%x: f32, %out: f32):
      %a = math.absf %x            %m = arith.maximumf %x, %zero
      %n = arith.negf %a           %s = arith.addf %m, %l
      %e = math.exp %n             %over = arith.cmpf ogt, %x, %threshold
      %l = math.log1p %e           %r = arith.select %over, %x, %s
      linalg.yield %r : f32

The stable forms never overflow: softplus and mish use max(z, 0) + log1p(exp(-|z|)),
log_sigmoid min(x, 0) - log1p(exp(-|x|)), sigmoid 0.5 tanh(x / 2) + 0.5, silu
x / (1 + exp(-x)). Every math
op they use (exp, log1p, expm1, tanh, erf, sin, cos, floor, sqrt) is in the C emitter's table
and the loop interpreter's; rsqrt is `1 / sqrt(x)` rather than `math.rsqrt`, which
vectorize-loops has no vector form for (and the C emitter writes as `1 / sqrt` anyway).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from xdsl.dialects import arith
from xdsl.dialects import math as mathd
from xdsl.ir import Attribute, SSAValue

from aidjit.autodiff.ops.elementwise import GELU_TANH_CUBIC, GELU_TANH_SCALE, SQRT1_2
from aidjit.lowering.structured import scalar_constant

ScalarBody = Callable[..., SSAValue]
"""(result element type, operand scalars, **the op's parameters) -> result scalar, built at
the insertion point. Parameters are those of a `graph.ParametrizedUnaryOp` (`op.params()`)."""


def sigmoid(type_: Attribute, x: SSAValue) -> SSAValue:
    """0.5 * tanh(0.5 * x) + 0.5: the numpy forward's formula, no overflow."""
    half = scalar_constant(0.5, type_)
    tanh = mathd.TanhOp(arith.MulfOp(x, half).result).result
    return arith.AddfOp(arith.MulfOp(tanh, half).result, half).result


def _stable_softplus(type_: Attribute, z: SSAValue) -> SSAValue:
    """log(1 + exp(z)) = max(z, 0) + log1p(exp(-|z|)): exp never sees a positive argument."""
    tail = mathd.ExpOp(arith.NegfOp(mathd.AbsFOp(z).result).result).result
    positive = arith.MaximumfOp(z, scalar_constant(0.0, type_)).result
    return arith.AddfOp(positive, mathd.Log1pOp(tail).result).result


def _softplus(
    type_: Attribute, args: Sequence[SSAValue], *, beta: float, threshold: float
) -> SSAValue:
    """x where beta * x > threshold, else softplus(beta * x) / beta (torch's semantics); a
    beta of 1 multiplies and divides by nothing."""
    x = args[0]
    z = x if beta == 1.0 else arith.MulfOp(x, scalar_constant(beta, type_)).result
    smooth = _stable_softplus(type_, z)
    if beta != 1.0:
        smooth = arith.DivfOp(smooth, scalar_constant(beta, type_)).result
    over = arith.CmpfOp(z, scalar_constant(threshold, type_), "ogt").result
    return arith.SelectOp(over, x, smooth).result


def _gelu(type_: Attribute, args: Sequence[SSAValue], *, approximate: str) -> SSAValue:
    """0.5 x (1 + erf(x / sqrt 2)), or 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    x = args[0]
    if approximate == "tanh":
        cube = arith.MulfOp(arith.MulfOp(x, x).result, x).result
        cubic = arith.MulfOp(cube, scalar_constant(GELU_TANH_CUBIC, type_)).result
        inner = arith.MulfOp(
            arith.AddfOp(x, cubic).result, scalar_constant(GELU_TANH_SCALE, type_)
        ).result
        curve = mathd.TanhOp(inner).result
    else:
        curve = mathd.ErfOp(arith.MulfOp(x, scalar_constant(SQRT1_2, type_)).result).result
    half_x = arith.MulfOp(x, scalar_constant(0.5, type_)).result
    return arith.MulfOp(half_x, arith.AddfOp(curve, scalar_constant(1.0, type_)).result).result


def _positive_or(type_: Attribute, x: SSAValue, negative: SSAValue) -> SSAValue:
    """x where x > 0, else `negative` (nan fails the test: nan in, nan out of `negative`)."""
    positive = arith.CmpfOp(x, scalar_constant(0.0, type_), "ogt").result
    return arith.SelectOp(positive, x, negative).result


def _leaky_relu(type_: Attribute, args: Sequence[SSAValue], *, negative_slope: float) -> SSAValue:
    x = args[0]
    return _positive_or(type_, x, arith.MulfOp(x, scalar_constant(negative_slope, type_)).result)


def _elu(type_: Attribute, args: Sequence[SSAValue], *, alpha: float) -> SSAValue:
    x = args[0]
    saturating = arith.MulfOp(mathd.ExpM1Op(x).result, scalar_constant(alpha, type_)).result
    return _positive_or(type_, x, saturating)


def _silu(type_: Attribute, args: Sequence[SSAValue]) -> SSAValue:
    """x / (1 + exp(-x)), torch's formula: no cancellation for x << 0 (an overflowing exp
    gives -0.0, the limit)."""
    x = args[0]
    tail = mathd.ExpOp(arith.NegfOp(x).result).result
    return arith.DivfOp(x, arith.AddfOp(tail, scalar_constant(1.0, type_)).result).result


def _log_sigmoid(type_: Attribute, args: Sequence[SSAValue]) -> SSAValue:
    x = args[0]
    tail = mathd.ExpOp(arith.NegfOp(mathd.AbsFOp(x).result).result).result
    negative = arith.MinimumfOp(x, scalar_constant(0.0, type_)).result
    return arith.SubfOp(negative, mathd.Log1pOp(tail).result).result


def _clip(
    type_: Attribute, args: Sequence[SSAValue], *, a_min: float | None, a_max: float | None
) -> SSAValue:
    """minimum(maximum(x, a_min), a_max), numpy's clip; an absent bound is no op."""
    clipped = args[0]
    if a_min is not None:
        clipped = arith.MaximumfOp(clipped, scalar_constant(a_min, type_)).result
    if a_max is not None:
        clipped = arith.MinimumfOp(clipped, scalar_constant(a_max, type_)).result
    return clipped


ELEMENTWISE_FAMILY_BODIES: dict[str, ScalarBody] = {
    "graph.sin": lambda t, a: mathd.SinOp(a[0]).result,
    "graph.cos": lambda t, a: mathd.CosOp(a[0]).result,
    "graph.square": lambda t, a: arith.MulfOp(a[0], a[0]).result,
    "graph.reciprocal": lambda t, a: arith.DivfOp(scalar_constant(1.0, t), a[0]).result,
    "graph.rsqrt": lambda t, a: (
        arith.DivfOp(scalar_constant(1.0, t), mathd.SqrtOp(a[0]).result).result
    ),
    "graph.floor": lambda t, a: mathd.FloorOp(a[0]).result,
    "graph.erf": lambda t, a: mathd.ErfOp(a[0]).result,
    "graph.softplus": _softplus,
    "graph.gelu": _gelu,
    "graph.leaky_relu": _leaky_relu,
    "graph.elu": _elu,
    "graph.silu": _silu,
    "graph.mish": lambda t, a: (
        arith.MulfOp(a[0], mathd.TanhOp(_stable_softplus(t, a[0])).result).result
    ),
    "graph.log_sigmoid": _log_sigmoid,
    "graph.clip": _clip,
}
"""The elementwise family's rows of `ELEMENTWISE_BODIES`."""

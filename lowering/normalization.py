"""The normalisation family of convert-graph-to-linalg: inference batch_norm.

`graph.batch_norm_inference` is `x * scale + shift` per channel (axis 1), torch's inference
kernel: one small generic over the channels computes both vectors (C square roots and
divisions, not one per element of x), then one elementwise generic reads them through the
channel dim, which fusion merges with its neighbours (the relu after it) like any elementwise
op:

    %scale, %shift = linalg.generic ins(%w, %b, %m, %v) outs(%e0, %e1)   // (c) -> (c)
        { scale = w / sqrt(v + eps);  shift = b - m * scale }
    %y = linalg.generic ins(%x, %scale, %shift) outs(%e)
        (n, c, h, w) -> x[n, c, h, w], scale[c], shift[c]
        { y = x * scale + shift }
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects import arith
from xdsl.dialects import math as mathd
from xdsl.ir import Operation, SSAValue
from xdsl.ir.affine import AffineMap

from aidjit.dialects import graph
from aidjit.lowering.structured import (
    PARALLEL,
    build_generic,
    dim,
    empty_tensor,
    identity_map,
    scalar_constant,
)


def lower_batch_norm_inference(op: Operation, operands: Sequence[SSAValue]) -> SSAValue:
    """Per-channel scale and shift, then `x * scale + shift` (the module docstring)."""
    assert isinstance(op, graph.BatchNormInferenceOp)
    x, weight, bias, mean, var = operands
    eps = op.params()["eps"]
    channel_type = weight.type
    element = channel_type.get_element_type()

    def scale_shift(args: Sequence[SSAValue]) -> list[SSAValue]:
        w, b, m, v = args[:4]
        root = mathd.SqrtOp(arith.AddfOp(v, scalar_constant(eps, element)).result).result
        scale = arith.DivfOp(w, root).result
        shift = arith.SubfOp(b, arith.MulfOp(m, scale).result).result
        return [scale, shift]

    scale, shift = build_generic(
        [weight, bias, mean, var],
        [identity_map(1)] * 4,
        [empty_tensor(channel_type), empty_tensor(channel_type)],
        [identity_map(1)] * 2,
        [PARALLEL],
        scale_shift,
    ).results
    rank = len(x.type.get_shape())
    channel = AffineMap(rank, 0, (dim(1),))
    return build_generic(
        [x, scale, shift],
        [identity_map(rank), channel, channel],
        [empty_tensor(x.type)],
        [identity_map(rank)],
        [PARALLEL] * rank,
        lambda args: [arith.AddfOp(arith.MulfOp(args[0], args[1]).result, args[2]).result],
    ).results[0]

"""The pooling family of convert-graph-to-linalg: a window reduction per pool op.

A pool is a reduction over a window, upstream's `linalg.pooling_nchw_max` / `pooling_nchw_sum`
generalised (any stride and dilation per axis): loops (n, c, oh, ow, kh, kw), the last two
reductions, into a fill of the combine's identity (-inf or 0):

    %window = tensor.empty() : tensor<KHxKWxf32>      // never read: it only sizes kh and kw
    %y = linalg.generic
           ins(%x, %window) outs(%fill)
           (n, c, oh, ow, kh, kw) -> x[n, c, oh*sh + kh*dh, ow*sw + kw*dw], window[kh, kw]
           -> out[n, c, oh, ow]
         { %m = arith.maximumf %out, %in }               // addf for sum pooling

The window operand is upstream's too: every loop dim must be indexed by a plain dim somewhere,
since the loop bounds are read off the operands' shapes. The window order (kh outer, kw inner)
is the numpy forward's, so the two agree bitwise, and max pooling's gradient breaks ties in
that order.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from xdsl.dialects import arith
from xdsl.dialects.builtin import TensorType
from xdsl.ir import Operation, SSAValue
from xdsl.ir.affine import AffineMap

from aidjit.dialects import graph
from aidjit.lowering.structured import (
    PARALLEL,
    REDUCTION,
    build_generic,
    dim,
    empty_tensor,
    filled,
)

POOLS: dict[str, tuple[float, Callable[[SSAValue, SSAValue], SSAValue]]] = {
    "graph.max_pool2d": (-math.inf, lambda acc, x: arith.MaximumfOp(acc, x).result),
    "graph.sum_pool2d": (0.0, lambda acc, x: arith.AddfOp(acc, x).result),
}
"""Per pool op: the combine's identity (the fill) and the combine (nan-propagating max)."""


def lower_pool2d(op: Operation, operands: Sequence[SSAValue]) -> SSAValue:
    """The window reduction of the module docstring."""
    assert isinstance(op, graph.Pool2dOp)
    (source,) = operands
    params = op.params()
    (kh, kw), (sh, sw), (dh, dw) = params["kernel"], params["stride"], params["dilation"]
    initial, combine = POOLS[op.name]
    element = source.type.get_element_type()
    window = empty_tensor(TensorType(element, [kh, kw]))
    rows, cols = dim(2) * sh + dim(4) * dh, dim(3) * sw + dim(5) * dw
    return build_generic(
        [source, window],
        [AffineMap(6, 0, (dim(0), dim(1), rows, cols)), AffineMap(6, 0, (dim(4), dim(5)))],
        [filled(op.results[0].type, initial)],
        [AffineMap(6, 0, (dim(0), dim(1), dim(2), dim(3)))],
        [PARALLEL] * 4 + [REDUCTION] * 2,
        lambda args: [combine(args[2], args[0])],
    ).results[0]

"""Structured lowerings of the statistics ops no table row expresses: the position of an
extremum (argmax, argmin) and the prefix sum (cumsum). Used by convert-graph-to-linalg.

argmax (argmin alike) is two reductions over the same loops: the extremum, exactly
reduce_max's generic, then the first position holding it:

    %m = linalg.generic {reduce_max: maximumf into a fill of -inf} ins(%x) -> tensor<R>
    %i = linalg.generic {the same iterators}
           ins(%x, %m : tensor<X>, tensor<R>) outs(%count_fill : tensor<Rxi64>) {
         ^bb0(%v: f32, %max: f32, %acc: i64):
           %hit = (%v == %max) or (%v != %v)             # equal, or NaN
           %k = row-major position of the reduced indices (linalg.index), as i64
           %take = %hit and %k < %acc
           linalg.yield select(%take, %k, %acc)
         } -> tensor<Rxi64>

Why two passes and not one generic yielding a (value, index) pair: the first is reduce_max's own
generic (one row of `REDUCTIONS`, merged by CSE with a reduce_max of the same tensor, split and
vectorised as any max), and the second's combine is a minimum of positions, right in any
iteration order; a pair reduction whose combine reads two accumulators is a shape no pass
below (split-reduction, the vectoriser, the loop interpreter's reductions) knows. It costs a
second read of x. numpy's rules hold: maximumf propagates NaN, so the extremum is NaN exactly
when the row holds one, and then only NaNs hit (`v != v`); otherwise the extremum is one of
the elements and the smallest position equal to it wins (-0.0 == +0.0, as numpy compares). A
row is never empty (the verifier), so some element always hits and the initial value, the
block size, never survives.

cumsum along axis a is a masked triangular reduction: an extra loop k over the axis, reduced,
innermost, and out[.., i, ..] = sum over k of (k <= i ? x[.., k, ..] : -0.0):

    %c = linalg.generic {maps: x (d0, d2), out (d0, d1); iterators parallel, parallel, reduction}
           ins(%x) outs(fill(-0.0)) {
         ^bb0(%v: f32, %acc: f32):
           %t = select(index(2) <= index(1), %v, -0.0)
           linalg.yield %acc + %t
         }

Cost: n² adds per row of length n (half of them of -0.0), against n for a sequential scan,
which linalg cannot express (an output element read from the previous iteration); fine for
the rows this project meets (hundreds), quadratic beyond. Rounding: the sum runs k = 0, 1, ...,
so element i is ((x[0] + x[1]) + ...) + x[i], numpy's order bit for bit (adding -0.0 changes
no value, -0.0 included). linalg-split-reduction leaves it alone: its body reads the reduced
index. A select, not a multiplication by a 0/1 mask, so a later inf or NaN never reaches an
earlier element (inf * 0 is NaN); a log2(n)-round shifted-add scan would do n log n adds but
round differently from numpy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from xdsl.dialects import arith
from xdsl.dialects.builtin import IndexType, TensorType, i64
from xdsl.dialects.linalg import ops as linalg
from xdsl.ir import Operation, SSAValue
from xdsl.ir.affine import AffineMap

from aidjit.dialects import graph
from aidjit.lowering.structured import (
    PARALLEL,
    REDUCTION,
    build_generic,
    dim,
    filled,
    identity_map,
    scalar_constant,
)


def _position(axes: Sequence[int], shape: Sequence[int]) -> SSAValue:
    """The row-major position of the current reduced indices within the reduced block, i64."""
    if not axes:
        return scalar_constant(0, i64)  # a reduction over no axis: every element is its row
    position = linalg.IndexOp(axes[0]).result
    for axis in axes[1:]:
        scaled = arith.MuliOp(position, scalar_constant(shape[axis], IndexType())).result
        position = arith.AddiOp(scaled, linalg.IndexOp(axis).result).result
    return arith.IndexCastOp(position, i64).result


def first_position(source: SSAValue, extremum: SSAValue, axes: Sequence[int]) -> SSAValue:
    """The first position over `axes` of each row of `source` equal to `extremum` (the
    row's reduced value, or NaN), or holding a NaN: an i64 tensor of the kept dims."""
    shape = tuple(source.type.get_shape())
    rank = len(shape)
    kept = [axis for axis in range(rank) if axis not in axes]
    kept_map = AffineMap(rank, 0, tuple(dim(axis) for axis in kept))
    block = math.prod(shape[axis] for axis in axes)

    def body(args: Sequence[SSAValue]) -> list[SSAValue]:
        value, peak, first = args
        equal = arith.CmpfOp(value, peak, "oeq").result
        is_nan = arith.CmpfOp(value, value, "uno").result
        hit = arith.OrIOp(equal, is_nan).result
        position = _position(axes, shape)
        earlier = arith.CmpiOp(position, first, "slt").result
        take = arith.AndIOp(hit, earlier).result
        return [arith.SelectOp(take, position, first).result]

    generic = build_generic(
        [source, extremum],
        [identity_map(rank), kept_map],
        [filled(TensorType(i64, [shape[axis] for axis in kept]), block)],
        [kept_map],
        [REDUCTION if axis in axes else PARALLEL for axis in range(rank)],
        body,
    )
    return generic.results[0]


def lower_cumsum(op: Operation, operands: Sequence[SSAValue]) -> SSAValue:
    """cumsum as a masked triangular reduction (see the module docstring)."""
    assert isinstance(op, graph.CumsumOp)
    (source,) = operands
    axis = op.params()["axis"]
    rank = len(source.type.get_shape())
    element = source.type.get_element_type()
    term = rank  # the loop dim over the summed terms, innermost
    reads = tuple(dim(term) if d == axis else dim(d) for d in range(rank))

    def body(args: Sequence[SSAValue]) -> list[SSAValue]:
        value, total = args
        included = arith.CmpiOp(
            linalg.IndexOp(term).result, linalg.IndexOp(axis).result, "sle"
        ).result
        addend = arith.SelectOp(included, value, scalar_constant(-0.0, element)).result
        return [arith.AddfOp(total, addend).result]

    generic = build_generic(
        [source],
        [AffineMap(rank + 1, 0, reads)],
        [filled(op.results[0].type, -0.0)],
        [AffineMap(rank + 1, 0, tuple(dim(d) for d in range(rank)))],
        [PARALLEL] * rank + [REDUCTION],
        body,
    )
    return generic.results[0]

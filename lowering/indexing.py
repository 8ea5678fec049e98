"""Lowering of graph.gather and graph.scatter_add: data-dependent reads and writes.

A gather is a `linalg.generic` over the result whose body reads the source at a computed
position, with `tensor.extract` of the source captured from above (what MLIR's linalg
vectoriser calls a gather); the indices are an ordinary input, broadcast by their map:

    %0 = graph.gather %x, %i {axis = 1 : i64} : tensor<3x5xf32>, tensor<1x7xi64> -> tensor<3x7xf32>
        ==>
    %0 = linalg.generic {indexing_maps = [(d0, d1) -> (0, d1), (d0, d1) -> (d0, d1)],
                         iterator_types = ["parallel", "parallel"]}
           ins(%i : tensor<1x7xi64>) outs(%e : tensor<3x7xf32>) {
         ^bb0(%k: i64, %out: f32):
           %j = <%k resolved to [0, 5): negative from the end, then clamped>
           %d0 = linalg.index 0 : index
           %v = tensor.extract %x[%d0, %j] : tensor<3x5xf32>
           linalg.yield %v : f32
         } -> tensor<3x7xf32>

A scatter-add is a sequential loop nest over the updates, carrying the accumulator as a tensor
(`scf.for` with `iter_args`, `tensor.extract` + `arith.addf` + `tensor.insert`, as MLIR's
tosa-to-scf lowers a scatter); bufferize makes it a loop of loads and stores in place:

    %z = linalg.fill ins(%zero) outs(%e : tensor<3x5xf32>)
    %1 = scf.for %a = %c0 to %c3 step %c1 iter_args(%acc = %z) -> tensor<3x5xf32> {
      %2 = scf.for %b = %c0 to %c7 step %c1 iter_args(%acc2 = %acc) -> tensor<3x5xf32> {
        %k = tensor.extract %i[%c0, %b]; %j = <resolved %k>
        %u = tensor.extract %g[%a, %b]; %old = tensor.extract %acc2[%a, %j]
        %new = arith.addf %old, %u
        %acc3 = tensor.insert %new into %acc2[%a, %j]
        scf.yield %acc3
      }
      scf.yield %2
    }

Why a loop and not a generic: a `linalg.generic` cannot write at a data-dependent position, so
a structured scatter-add iterates over the output and, for each element, sums the updates
whose index hits it: O(output x indices) compare-and-selects. Measured on the embedding
gradient (vocabulary 1000, 64 x 32 indices, width 64, float32; the compiled C of each lowering,
median of repeated calls on the 2-core development machine): the masked reduction takes 776 ms
per call, this loop 0.043 ms (each update is read once and added in place, the inner loop over
the width vectorised). Hence the loop, always.

Indices are resolved as numpy's modes do: "raise" counts negative indices from the end,
"wrap" takes them modulo the axis, "clip" clamps them. Compiled calls check argument indices
before running (the primitive's precondition); an index computed inside the program cannot be
checked, so "raise" also clamps: no index ever reads or writes out of bounds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from xdsl.builder import ImplicitBuilder
from xdsl.dialects import arith, scf, tensor
from xdsl.dialects.builtin import IndexType, TensorType, i64
from xdsl.dialects.linalg import ops as linalg
from xdsl.ir import Block, Operation, SSAValue

from aidjit.dialects import graph
from aidjit.lowering.structured import (
    PARALLEL,
    broadcast_map,
    build_generic,
    empty_tensor,
    filled,
    identity_map,
    scalar_constant,
)


def _clamped(index: SSAValue, size: int) -> SSAValue:
    """`index` (i64) limited to [0, size - 1]."""
    zero, last = scalar_constant(0, i64), scalar_constant(size - 1, i64)
    low = arith.SelectOp(arith.CmpiOp(index, zero, "slt").result, zero, index).result
    return arith.SelectOp(arith.CmpiOp(low, last, "sgt").result, last, low).result


def _from_end(index: SSAValue, size: int) -> SSAValue:
    """A negative `index` counted from the end: index + size."""
    negative = arith.CmpiOp(index, scalar_constant(0, i64), "slt").result
    shifted = arith.AddiOp(index, scalar_constant(size, i64)).result
    return arith.SelectOp(negative, shifted, index).result


MODES: dict[str, Callable[[SSAValue, int], SSAValue]] = {
    "raise": lambda k, n: _clamped(_from_end(k, n), n),
    "clip": _clamped,
    "wrap": lambda k, n: _from_end(arith.RemSIOp(k, scalar_constant(n, i64)).result, n),
}
"""Per numpy index mode, the position (i64, in [0, n)) an index `k` of an axis of `n` reads."""


def _position(index: SSAValue, size: int, mode: str) -> SSAValue:
    return arith.IndexCastOp(MODES[mode](index, size), IndexType()).result


def _coordinates(
    shape: Sequence[int], axis: int | None, position: SSAValue, loop: Callable[[int], SSAValue]
) -> list[SSAValue]:
    """Where a loop point reads or writes an operand of `shape`: `position` along `axis`, the
    point's index `loop(d)` in every other dim, 0 in a dim the operand broadcasts (size 1)."""
    return [
        position if d == axis else scalar_constant(0, IndexType()) if size == 1 else loop(d)
        for d, size in enumerate(shape)
    ]


def lower_gather(op: Operation, operands: Sequence[SSAValue]) -> SSAValue:
    assert isinstance(op, graph.GatherOp)
    source, indices = operands
    params = op.params()
    result_type = op.result.type
    out_shape = tuple(result_type.get_shape())
    rank = len(out_shape)

    def body(args: Sequence[SSAValue]) -> list[SSAValue]:
        position = _position(args[0], params["size"], params["mode"])
        where = _coordinates(
            source.type.get_shape(), params["axis"], position, lambda d: linalg.IndexOp(d).result
        )
        element = result_type.get_element_type()
        return [tensor.ExtractOp(source, where, element).result]

    generic = build_generic(
        [indices],
        [broadcast_map(tuple(indices.type.get_shape()), out_shape)],
        [empty_tensor(result_type)],
        [identity_map(rank)],
        [PARALLEL] * rank,
        body,
    )
    return generic.results[0]


def lower_scatter_add(op: Operation, operands: Sequence[SSAValue]) -> SSAValue:
    assert isinstance(op, graph.ScatterAddOp)
    updates, indices = operands
    params = op.params()
    result_type: TensorType = op.result.type
    shape, axis = params["shape"], params["axis"]
    extents = tuple(updates.type.get_shape())
    index = IndexType()
    zero, one = scalar_constant(0, index), scalar_constant(1, index)

    def innermost(loop: Sequence[SSAValue], accumulator: SSAValue) -> SSAValue:
        element = result_type.get_element_type()
        where = _coordinates(indices.type.get_shape(), None, zero, loop.__getitem__)
        raw = tensor.ExtractOp(indices, where, i64).result
        position = _position(raw, shape[axis], params["mode"])
        update = tensor.ExtractOp(updates, list(loop), element).result
        target = _coordinates(shape, axis, position, loop.__getitem__)
        old = tensor.ExtractOp(accumulator, target, element).result
        new = arith.AddfOp(old, update).result
        return tensor.InsertOp(new, accumulator, target).result

    def nest(dim: int, loop: list[SSAValue], accumulator: SSAValue) -> SSAValue:
        """Loops over the updates' dims from `dim` in, each carrying the accumulator."""
        if dim == len(extents):
            return innermost(loop, accumulator)
        if extents[dim] == 1:
            return nest(dim + 1, [*loop, zero], accumulator)
        block = Block(arg_types=[index, result_type])
        bound = scalar_constant(extents[dim], index)
        for_op = scf.ForOp(zero, bound, one, [accumulator], block)
        with ImplicitBuilder(block) as (iv, carried):
            scf.YieldOp(nest(dim + 1, [*loop, iv], carried))
        return for_op.results[0]

    return nest(0, [], filled(result_type, 0.0))

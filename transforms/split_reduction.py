"""linalg-split-reduction: a reduction along the innermost loop keeps K partial accumulators.

Without `-ffast-math` a C compiler may not reassociate floating-point additions, so a row sum
is a serial chain of scalar adds (74% of W6's time before this pass) and the loop cannot be
vectorised, the exponentials of a fused logsumexp prologue included. As MLIR's split-reduction
does, the reduction dim r of size R = Q * K is split in two, (q, lane) with r = q * K + lane:

    %partial = linalg.generic (..., q: reduction, lane: parallel)   # K sums per row, stride 1
    %result  = linalg.generic (..., lane: reduction) ins(%partial) outs(<the original init>)

The first generic's innermost loop runs over the K lanes with independent accumulators, which
gcc vectorises; the second combines the K partials in order. The reassociation is fixed (lane k
sums the elements k, k + K, k + 2K, ...), so results are deterministic; numpy itself sums
pairwise, so the result is as accurate as numpy's.

Applies to generics whose last loop dim is a reduction dim, whose every reduction output is
combined with one of `COMBINERS`, and whose innermost reduction length R is a multiple of K
such that each lane sums at least two elements. Other reduction dims (batch norm's sums over
N, H and W per channel) stay reductions of the partial generic, outside the (q, lane) pair:
the lanes then accumulate over all of them and are combined once at the end. K defaults to
one 64-byte vector of the element type (16 f32, 8 f64). Outputs that are written at every
point (not reduced) follow the split map unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from xdsl.builder import ImplicitBuilder
from xdsl.context import Context
from xdsl.dialects import arith, tensor
from xdsl.dialects.builtin import AffineMapAttr, ModuleOp, TensorType
from xdsl.dialects.linalg import ops as linalg
from xdsl.dialects.linalg.attrs import IteratorTypeAttr
from xdsl.ir import Block, Operation, Region, SSAValue
from xdsl.ir.affine import AffineExpr, AffineMap
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)

from aidjit.lowering.structured import (
    PARALLEL,
    REDUCTION,
    build_generic,
    dim,
    element_bytes,
    empty_tensor,
    generic_maps,
    is_pure_dim,
    loop_ranges,
    reassociation,
    reshape,
    scalar_constant,
)
from aidjit.transforms.fuse_elementwise import clone_body, end_body

COMBINERS: dict[type[Operation], float] = {
    arith.AddfOp: 0.0,
    arith.MulfOp: 1.0,
    arith.MaximumfOp: -math.inf,
    arith.MinimumfOp: math.inf,
}
"""Associative, commutative combiners and their identity (each partial starts there)."""

VECTOR_BYTES = 64


def _combiner(generic: linalg.GenericOp, output: int) -> type[Operation] | None:
    """The op combining output `output`'s accumulator with a new value, if it is a combiner."""
    block = generic.body.block
    accumulator = block.args[len(generic.inputs) + output]
    yielded = block.last_op.operands[output]  # type: ignore[union-attr]
    combine = yielded.owner
    if type(combine) not in COMBINERS or accumulator.uses.get_length() != 1:
        return None
    if accumulator not in combine.operands:  # type: ignore[union-attr]
        return None
    return type(combine)  # type: ignore[return-value]


def _lanes(generic: linalg.GenericOp, requested: int) -> int | None:
    """K for `generic`, if each lane would accumulate at least two elements: the innermost
    reduction's length is a multiple of K, and it and the other reduction dims together take
    two steps or more (global average pooling's 16-wide rows, summed over 16 rows, qualify)."""
    element = generic.outputs[0].type.get_element_type()
    lanes = requested or VECTOR_BYTES // element_bytes(element)
    ranges = loop_ranges(generic)
    length = ranges[-1]
    others = math.prod(
        extent
        for extent, kind in zip(ranges[:-1], generic.iterator_types.data[:-1], strict=True)
        if kind == REDUCTION
    )
    if lanes < 2 or length % lanes or length // lanes * others < 2:
        return None
    return lanes


class SplitInnermostReduction(RewritePattern):
    def __init__(self, lanes: int) -> None:
        self.lanes = lanes

    @op_type_rewrite_pattern
    def match_and_rewrite(self, generic: linalg.GenericOp, rewriter: PatternRewriter) -> None:
        iterators = list(generic.iterator_types.data)
        if not iterators or iterators[-1] != REDUCTION:
            return
        if not generic.res:
            return
        maps = generic_maps(generic)
        reduced_dim = len(iterators) - 1
        out_maps = maps[len(generic.inputs) :]
        reduced = [reduced_dim not in m.used_dims() for m in out_maps]
        combiners = [_combiner(generic, n) if r else None for n, r in enumerate(reduced)]
        if not any(reduced) or any(
            r and c is None for r, c in zip(reduced, combiners, strict=True)
        ):
            return
        if any(
            isinstance(op, linalg.IndexOp) and op.dim.value.data == reduced_dim
            for op in generic.body.block.ops
        ):
            return  # the body reads the index being split
        lanes = _lanes(generic, self.lanes)
        if lanes is None:
            return
        new_ops: list[Operation] = []
        staging = Block()
        with ImplicitBuilder(staging):
            results = _split(generic, maps, reduced, combiners, lanes)
        if results is None:
            return
        for op in list(staging.ops):
            op.detach()
            new_ops.append(op)
        rewriter.replace(generic, new_ops, results)


def _split_operand(
    value: SSAValue, map_: AffineMap, reduced_dim: int, lanes: int
) -> tuple[SSAValue, AffineMap] | None:
    """`value` and its map over the split loops (outer..., step, lane).

    An operand indexed by the reduced dim r (always as a plain `d_r`) is viewed with that
    tensor dim expanded to (R / K, K), so every map stays a projected permutation and the loop
    bounds stay readable off the shapes; other operands keep their map. None: r appears in a
    compound expression, which this pass leaves alone."""
    step, lane = dim(reduced_dim), dim(reduced_dim + 1)
    results: list[AffineExpr] = []
    position = None
    for index, expr in enumerate(map_.results):
        if reduced_dim not in expr.used_dims():
            results.append(expr)
        elif is_pure_dim(expr):
            results += [step, lane]
            position = index
        else:
            return None
    new_map = AffineMap(reduced_dim + 2, 0, tuple(results))
    if position is None:
        return value, new_map
    shape = list(value.type.get_shape())
    split_shape = [*shape[:position], shape[position] // lanes, lanes, *shape[position + 1 :]]
    groups = [[n] for n in range(position)] + [[position, position + 1]]
    groups += [[n + 1] for n in range(position + 1, len(shape))]
    split_type = TensorType(value.type.get_element_type(), split_shape)
    expanded = tensor.ExpandShapeOp(value, [], reassociation(groups), split_shape, split_type)
    return expanded.result, new_map


def _parallel_dims_first(
    body: Block, maps: list[AffineMap], iterators: list[IteratorTypeAttr]
) -> tuple[list[AffineMap], list[IteratorTypeAttr]]:
    """The partial generic's loops reordered: parallel dims outermost, then the reduction dims,
    then the lane, each group in its order. With batch norm's per-channel sums (loops n, c, h,
    q, lane), the channel loop then runs outside n: its 16 partials stay in one register
    through n, h and q instead of being loaded and stored for every (n, c), and the outer loop
    can go to threads. Each lane still adds its elements in the same order. Bodies reading a
    loop index keep their order (their `linalg.index` dims would need renumbering)."""
    lane = len(iterators) - 1
    order = [d for d in range(lane) if iterators[d] == PARALLEL]
    order += [d for d in range(lane) if iterators[d] == REDUCTION]
    order.append(lane)
    if order == list(range(len(iterators))) or any(
        isinstance(op, linalg.IndexOp) for op in body.ops
    ):
        return maps, iterators
    to_old = AffineMap(len(order), 0, tuple(dim(order.index(d)) for d in range(len(order))))
    return [m.compose(to_old) for m in maps], [iterators[d] for d in order]


def _split(
    generic: linalg.GenericOp,
    maps: Sequence[AffineMap],
    reduced: Sequence[bool],
    combiners: Sequence[type[Operation] | None],
    lanes: int,
) -> list[SSAValue] | None:
    reduced_dim = maps[0].num_dims - 1
    inputs: list[SSAValue] = []
    input_maps: list[AffineMap] = []
    for value, map_ in zip(generic.inputs, maps, strict=False):
        split = _split_operand(value, map_, reduced_dim, lanes)
        if split is None:
            return None
        inputs.append(split[0])
        input_maps.append(split[1])
    outputs: list[SSAValue] = []
    output_maps: list[AffineMap] = []
    lane = dim(reduced_dim + 1)
    for n, (init, out_map) in enumerate(
        zip(generic.outputs, maps[len(generic.inputs) :], strict=True)
    ):
        if not reduced[n]:
            split = _split_operand(init, out_map, reduced_dim, lanes)
            if split is None:
                return None
            outputs.append(split[0])
            output_maps.append(split[1])
            continue
        type_ = init.type
        partial_type = TensorType(type_.get_element_type(), [*type_.get_shape(), lanes])
        identity = scalar_constant(COMBINERS[combiners[n]], type_.get_element_type())  # type: ignore[index]
        outputs.append(
            linalg.FillOp([identity], [empty_tensor(partial_type)], [partial_type]).res[0]
        )
        output_maps.append(AffineMap(reduced_dim + 2, 0, (*out_map.results, lane)))
    block = Block(arg_types=[a.type for a in generic.body.block.args])
    mapping = dict(zip(generic.body.block.args, block.args, strict=True))
    yielded = clone_body(generic.body.block, block, mapping)
    end_body(block, yielded)
    partial_maps, partial_iterators = _parallel_dims_first(
        block, [*input_maps, *output_maps], [*generic.iterator_types.data[:-1], REDUCTION, PARALLEL]
    )
    partial = linalg.GenericOp(
        inputs,
        outputs,
        Region(block),
        [AffineMapAttr(m) for m in partial_maps],
        partial_iterators,
        [o.type for o in outputs],
    )
    partial.attributes |= generic.attributes
    results: list[SSAValue] = []
    for n, init in enumerate(generic.outputs):
        if not reduced[n]:
            results.append(reshape(partial.res[n], tuple(init.type.get_shape())))
            continue
        out_rank = len(init.type.get_shape())
        combine = combiners[n]
        final = build_generic(
            [partial.res[n]],
            [AffineMap.identity(out_rank + 1)],
            [init],
            [AffineMap(out_rank + 1, 0, tuple(dim(k) for k in range(out_rank)))],
            [PARALLEL] * out_rank + [REDUCTION],
            lambda args, combine=combine: [combine(args[1], args[0]).results[0]],  # type: ignore[misc]
        )
        results.append(final.res[0])
    return results


@dataclass(frozen=True)
class LinalgSplitReductionPass(ModulePass):
    """Split innermost reductions into K partial accumulators, combined at the end.

    `lanes=0` (the default) takes one 64-byte vector of the element type.
    """

    name = "linalg-split-reduction"
    lanes: int = 0

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        PatternRewriteWalker(SplitInnermostReduction(self.lanes)).rewrite_module(op)

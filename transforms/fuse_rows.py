"""linalg-fuse-rows: consecutive structured ops that all work row by row share one row loop.

Producer-consumer fusion cannot put a reduction and the elementwise op that reads its result
in one generic: the result is only known once the whole reduction has run. Over a row, though,
it is: softmax is max(row), then exp(row - max) summed, then divided, and every step of row i
needs only row i of the steps before. This pass finds such runs of ops and marks them as one
group; `convert-linalg-to-fused-loops` then emits one `scf.for` over the rows with every member
inside it, in order (MLIR would tile the row dim by 1 and fuse the producers into the tile
loop; the decision is the same, taken here on the indexing maps). Softmax and layer_norm become
one loop nest each, whose rows stay in L1 between the steps; a matmul's bias and activation
become its epilogue, applied to each row of the result right after it is accumulated.

An op joins the group of the ops before it when
- its first loop dim is parallel with the group's extent N (a fill: its first dim is N), and
  each of its outputs is indexed by that dim first, so iteration i writes row i only;
- each operand made by a member of the group (directly or through views that keep the first
  dim: reshapes, expand_shape of a reduced row, slices of whole rows) is read with the row dim
  first, so iteration i reads only row i, which the member wrote earlier in the same iteration.
- it is not a second contraction (`is_contraction`: a matmul) in the group.
Ops without loops (tensor.empty, views, constants) sit anywhere; any other op ends the group.
A group is marked only when it holds two ops with loops or more.

The mark is a discardable attribute, `aidjit.row_group = <n>`, so the IR stays upstream linalg.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from xdsl.context import Context
from xdsl.dialects import arith, func, tensor
from xdsl.dialects.builtin import IntegerAttr, ModuleOp, TensorType, i64
from xdsl.dialects.linalg import ops as linalg
from xdsl.ir import Block, Operation, SSAValue
from xdsl.passes import ModulePass

from aidjit.lowering.structured import (
    PARALLEL,
    captured_tensors,
    dim,
    generic_maps,
    loop_ranges,
    shaped_bytes,
)

ROW_GROUP = "aidjit.row_group"

NEUTRAL = (tensor.EmptyOp, arith.ConstantOp)
VIEWS = (tensor.CollapseShapeOp, tensor.ExpandShapeOp, tensor.ExtractSliceOp)


def _keeps_rows(view: Operation) -> bool:
    """Row i of the view is row i of its source (the first dim passes through unchanged)."""
    source, result = view.operands[0].type, view.results[0].type
    if not source.get_shape() or not result.get_shape():
        return False
    if source.get_shape()[0] != result.get_shape()[0]:
        return False
    if isinstance(view, tensor.ExtractSliceOp):
        return view.static_offsets.get_values()[0] == 0 and view.static_strides.get_values()[0] == 1
    return True


def row_extent(op: Operation) -> int | None:
    """N when `op` computes row i of each of its results at iteration i of a first loop dim of
    extent N; else None."""
    if isinstance(op, linalg.FillOp):
        shape = op.outputs[0].type.get_shape()
        return shape[0] if shape else None
    if not isinstance(op, linalg.GenericOp) or not op.iterator_types.data:
        return None
    if op.iterator_types.data[0] != PARALLEL:
        return None
    maps = generic_maps(op)
    if any(not m.results or m.results[0] != dim(0) for m in maps[len(op.inputs) :]):
        return None
    return loop_ranges(op)[0]


@dataclass
class Group:
    extent: int
    ops: list[Operation] = field(default_factory=list)
    computed: set[SSAValue] = field(default_factory=set)
    """Values the members compute, and views of them: complete only after the row loop."""
    rows: set[SSAValue] = field(default_factory=set)
    """Those of `computed` that hold row i after iteration i (results, row-keeping views)."""
    contractions: int = 0


def is_contraction(op: Operation) -> bool:
    """A generic that reads, for every row, an input of `SHARED_INPUT_BYTES` or more that
    does not depend on the row (a matmul's right operand). A group holds at most one: with two,
    every row would stream both right operands through the cache, where one after the other
    each stays in cache across all rows. A bias or a per-column scale is far smaller."""
    if not isinstance(op, linalg.GenericOp):
        return False
    maps = generic_maps(op)[: len(op.inputs)]
    shared = sum(
        shaped_bytes(value.type)
        for value, map_ in zip(op.inputs, maps, strict=True)
        if isinstance(value.type, TensorType) and 0 not in map_.used_dims()
    )
    return shared >= SHARED_INPUT_BYTES


SHARED_INPUT_BYTES = 32 * 1024
"""Half of a typical 48-64 KiB L1 data cache."""


def _reads_rows(op: Operation, group: Group) -> bool:
    """Every operand of `op` that the group computes is read row i at iteration i."""
    if isinstance(op, linalg.FillOp):
        return op.outputs[0] not in group.computed
    if any(value in group.computed for value in captured_tensors(op)):
        return False  # read at data-dependent rows (a gather's source): needs them all first
    maps = generic_maps(op)
    for value, map_ in zip(op.operands, maps, strict=True):
        if value not in group.computed:
            continue
        if value not in group.rows or not map_.results or map_.results[0] != dim(0):
            return False
    return True


def _groups(block: Block) -> list[Group]:
    groups: list[Group] = []
    current: Group | None = None
    for op in block.ops:
        if isinstance(op, NEUTRAL):
            continue
        if isinstance(op, VIEWS):
            if current is not None and op.operands[0] in current.computed:
                current.computed.add(op.results[0])
                if op.operands[0] in current.rows and _keeps_rows(op):
                    current.rows.add(op.results[0])
            continue
        extent = row_extent(op)
        joins = (
            current is not None
            and extent == current.extent
            and _reads_rows(op, current)
            and not (current.contractions and is_contraction(op))
        )
        if not joins:
            current = Group(extent) if extent is not None else None
            if current is not None:
                groups.append(current)
        if current is not None:
            current.ops.append(op)
            current.contractions += is_contraction(op)
            results = [v for v in op.results if isinstance(v.type, TensorType)]
            current.computed.update(results)
            current.rows.update(results)
    return [g for g in groups if len(g.ops) >= 2]


@dataclass(frozen=True)
class LinalgFuseRowsPass(ModulePass):
    """Mark runs of structured ops that can share one loop over their rows."""

    name = "linalg-fuse-rows"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for function in op.body.block.ops:
            if not isinstance(function, func.FuncOp):
                continue
            for number, group in enumerate(_groups(function.body.block)):
                for member in group.ops:
                    member.attributes[ROW_GROUP] = IntegerAttr(number, i64)

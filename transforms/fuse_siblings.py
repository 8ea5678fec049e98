"""linalg-fuse-siblings: generics that read the same tensor over the same loops become one.

Two `linalg.generic` ops in one block are siblings when they have the same loop ranges and
iterator types, read at least one common input through the same indexing map along their
innermost loop, and neither depends on the other. Merged, they are one multi-result generic:
one loop nest, one read of the shared input. On W6 this puts the row sum (for the mean) and
the row max in one pass over `x`,
and the sum of squared deviations and the sum of exponentials (each with its fused elementwise
prologue) in a second: two reads of `x` instead of four.

The merged op takes the place of the later sibling; the block is then re-sorted topologically
(stable), because users of the earlier sibling may sit between the two.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import AffineMapAttr, ModuleOp
from xdsl.dialects.linalg import ops as linalg
from xdsl.ir import Block, Operation, Region, SSAValue
from xdsl.ir.affine import AffineMap
from xdsl.passes import ModulePass
from xdsl.rewriter import Rewriter

from aidjit.lowering.structured import captured_tensors, generic_maps, loop_ranges
from aidjit.transforms.fuse_elementwise import clone_body, end_body
from aidjit.transforms.schedule import sort_topologically


def _streamed_reads(generic: linalg.GenericOp) -> set[tuple[SSAValue, AffineMap]]:
    """The inputs read along the innermost loop, with their maps: the traffic a merge saves.

    An input the innermost loop does not index (a matmul's left operand, one scalar per row of
    the right one) costs nothing to read twice, while merging two matmuls would stream both
    right operands and both outputs through the cache at once."""
    maps = generic_maps(generic)
    innermost = maps[0].num_dims - 1
    return {
        (value, maps[position])
        for position, value in enumerate(generic.inputs)
        if innermost in maps[position].used_dims()
    }


def _same_domain(a: linalg.GenericOp, b: linalg.GenericOp) -> bool:
    return a.iterator_types == b.iterator_types and loop_ranges(a) == loop_ranges(b)


def _depends_on(op: Operation, other: Operation, block: Block) -> bool:
    """Whether `op` uses a result of `other`, directly or through ops of `block` (their
    operands and what their regions read from above: a gather's source, a scatter's inputs)."""
    frontier = [*op.operands, *captured_tensors(op)]
    seen: set[Operation] = set()
    while frontier:
        owner = frontier.pop().owner
        if owner is other:
            return True
        if isinstance(owner, Operation) and owner.parent_block() is block and owner not in seen:
            seen.add(owner)
            frontier.extend((*owner.operands, *captured_tensors(owner)))
    return False


def merge_siblings(first: linalg.GenericOp, second: linalg.GenericOp) -> linalg.GenericOp:
    """One generic computing both: inputs deduplicated, outputs and results concatenated."""
    first_maps, second_maps = generic_maps(first), generic_maps(second)
    inputs: list[SSAValue] = []
    input_maps: list[AffineMap] = []
    index_of: dict[tuple[SSAValue, AffineMap], int] = {}
    for generic, maps in ((first, first_maps), (second, second_maps)):
        for position, value in enumerate(generic.inputs):
            key = (value, maps[position])
            if key not in index_of:
                index_of[key] = len(inputs)
                inputs.append(value)
                input_maps.append(maps[position])
    outputs = [*first.outputs, *second.outputs]
    output_maps = [*first_maps[len(first.inputs) :], *second_maps[len(second.inputs) :]]
    block = Block(
        arg_types=[
            *(v.type.get_element_type() for v in inputs),
            *(v.type.get_element_type() for v in outputs),
        ]
    )
    yielded: list[SSAValue] = []
    output_offset = len(inputs)
    for generic, maps in ((first, first_maps), (second, second_maps)):
        args = generic.body.block.args
        mapping: dict[SSAValue, SSAValue] = {}
        for position, value in enumerate(generic.inputs):
            mapping[args[position]] = block.args[index_of[(value, maps[position])]]
        for position in range(len(generic.outputs)):
            mapping[args[len(generic.inputs) + position]] = block.args[output_offset + position]
        output_offset += len(generic.outputs)
        yielded += clone_body(generic.body.block, block, mapping)
    end_body(block, yielded)
    return linalg.GenericOp(
        inputs,
        outputs,
        Region(block),
        [AffineMapAttr(m) for m in (*input_maps, *output_maps)],
        first.iterator_types,
        [r.type for r in (*first.res, *second.res)],
    )


def _fuse_in_block(block: Block) -> bool:
    generics = [op for op in block.ops if isinstance(op, linalg.GenericOp)]
    for later_position, second in enumerate(generics):
        for first in generics[:later_position]:
            if not _same_domain(first, second):
                continue
            if not _streamed_reads(first) & _streamed_reads(second):
                continue
            if _depends_on(second, first, block) or _depends_on(first, second, block):
                continue
            merged = merge_siblings(first, second)
            block.insert_op_before(merged, second)
            results = list(merged.res)
            Rewriter.replace_op(first, [], results[: len(first.res)])
            Rewriter.replace_op(second, [], results[len(first.res) :])
            sort_topologically(block)
            return True
    return False


@dataclass(frozen=True)
class LinalgFuseSiblingsPass(ModulePass):
    """Merge independent generics with the same loops that read a common input."""

    name = "linalg-fuse-siblings"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for function in op.body.block.ops:
            if isinstance(function, func.FuncOp):
                while _fuse_in_block(function.body.block):
                    pass

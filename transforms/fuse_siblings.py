"""linalg-fuse-siblings: generics that read the same tensor over the same loops become one.

Two `linalg.generic` ops in one block are siblings when they have the same loop ranges and
iterator types, read at least one common input through the same indexing map along their
innermost loop, and neither depends on the other. Merged, they are one multi-result generic:
one loop nest, one read of the shared input. On W6 this puts the row sum (for the mean) and
the row max in one pass over `x`,
and the sum of squared deviations and the sum of exponentials (each with its fused elementwise
prologue) in a second: two reads of `x` instead of four.

The merged op takes the place of the later sibling, and the users of the earlier sibling that
sat between the two move after it (the order a stable topological sort would give). Siblings
are merged greedily, the pair whose later op comes first in the block first; a dependence is
any use of a result, by an op or by what its regions read from above.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import AffineMapAttr, ArrayAttr, ModuleOp
from xdsl.dialects.linalg import ops as linalg
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.ir.affine import AffineMap
from xdsl.passes import ModulePass
from xdsl.rewriter import Rewriter

from aidjit.lowering.structured import generic_maps, loop_ranges
from aidjit.transforms.fuse_elementwise import end_body


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


def _take_body(source: Block, target: Block, mapping: dict[SSAValue, SSAValue]) -> list[SSAValue]:
    """Move `source`'s ops (not its yield) to the end of `target`, its arguments replaced as
    `mapping` says; return the values it yields."""
    for arg in source.args:
        arg.replace_all_uses_with(mapping[arg])
    *body, terminator = source.ops
    for op in body:
        op.detach()
        target.add_op(op)
    return list(terminator.operands)


def merge_siblings(first: linalg.GenericOp, second: linalg.GenericOp) -> linalg.GenericOp:
    """One generic computing both: inputs deduplicated, outputs and results concatenated.

    The bodies of `first` and `second` move into it rather than being copied (the caller
    replaces both): a group of k siblings merged pairwise would otherwise copy k(k+1)/2 bodies.
    """
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
        yielded += _take_body(generic.body.block, block, mapping)
    end_body(block, yielded)
    return linalg.GenericOp(
        inputs,
        outputs,
        Region(block),
        [AffineMapAttr(m) for m in (*input_maps, *output_maps)],
        first.iterator_types,
        [r.type for r in (*first.res, *second.res)],
    )


_Domain = tuple[ArrayAttr[Attribute], tuple[int, ...]]
_Read = tuple[SSAValue, AffineMap]


class _BlockFuser:
    """Merges the siblings of one block as a naive search would: again and again, the pair
    whose later op comes first in the block, then whose earlier op does; the merged op in
    place of the later sibling, and the block then re-sorted stably.

    That search need not start over after a merge, since a pair once rejected stays rejected:
    a merge changes no other op's loops or maps, renames the results it reads one for one, and
    only adds dependences. So each generic is compared once with the generics before it, when
    the scan reaches it, and a merged op once with those before it (the users of the earlier
    sibling that sat between the two, moved after it, depend on it). Only generics over the
    same loops that stream a read in common are compared (`readers`); a dependence is a bit
    test of ancestor sets made once and extended at each merge."""

    def __init__(self, block: Block) -> None:
        self.block = block
        self.position = {op: index for index, op in enumerate(block.ops)}
        self.domain: dict[linalg.GenericOp, _Domain] = {}
        self.reads: dict[linalg.GenericOp, set[_Read]] = {}
        """Streamed reads, each value named by `key`: unchanged when its producer merges."""
        self.readers: dict[tuple[_Domain, _Read], set[linalg.GenericOp]] = {}
        self.key: dict[SSAValue, SSAValue] = {}
        """A merged op's result -> the value it stands for: the result of an op that was
        never merged, the same whichever merges it went through."""
        self._ancestors: dict[Operation, int] | None = None
        self._mask: dict[Operation, int] = {}
        """An op's bit in ancestor sets: a merged op has the bits of all it merged."""

    def run(self) -> None:
        queue = deque(op for op in self.block.ops if isinstance(op, linalg.GenericOp))
        for generic in queue:
            self.domain[generic] = (generic.iterator_types, tuple(loop_ranges(generic)))
            self._index(generic, _streamed_reads(generic))
        while queue:
            second = queue.popleft()
            first = self._earliest_sibling(second)
            if first is not None:
                queue.appendleft(self._merge(first, second))

    def _index(self, generic: linalg.GenericOp, reads: set[_Read]) -> None:
        self.reads[generic] = {(self.key.get(value, value), map_) for value, map_ in reads}
        for read in self.reads[generic]:
            self.readers.setdefault((self.domain[generic], read), set()).add(generic)

    def _unindex(self, generic: linalg.GenericOp) -> None:
        domain = self.domain.pop(generic)
        for read in self.reads.pop(generic):
            readers = self.readers[(domain, read)]
            readers.discard(generic)
            if not readers:
                del self.readers[(domain, read)]

    def _earliest_sibling(self, second: linalg.GenericOp) -> linalg.GenericOp | None:
        """The first generic before `second` that it can merge with: the same loops, a
        streamed read in common, and not an ancestor of `second`. (No earlier op can depend on
        `second`, and pairs with a later op are for the later op's turn.)"""
        domain, limit = self.domain[second], self.position[second]
        candidates = {
            other
            for read in self.reads[second]
            for other in self.readers[(domain, read)]
            if self.position[other] < limit
        }
        for first in sorted(candidates, key=self.position.__getitem__):
            if not self.ancestors[second] & self._mask[first]:
                return first
        return None

    @property
    def ancestors(self) -> dict[Operation, int]:
        """Each op's transitive producers in the block, as a set of bits (made on first use)."""
        if self._ancestors is None:
            self._ancestors = {}
            for index, op in enumerate(self.block.ops):
                self._mask[op] = 1 << index
                self._ancestors[op] = 0
                for producer in self._producers(op):
                    self._ancestors[op] |= self._ancestors[producer] | self._mask[producer]
        return self._ancestors

    def _producers(self, op: Operation) -> set[Operation]:
        """The ops of the block whose results `op` or an op in its regions uses."""
        return {
            operand.owner
            for nested in op.walk()
            for operand in nested.operands
            if isinstance(operand.owner, Operation)
            and operand.owner is not op
            and operand.owner.parent is self.block
        }

    def _merge(self, first: linalg.GenericOp, second: linalg.GenericOp) -> linalg.GenericOp:
        between: list[Operation] = []
        op = first.next_op
        while op is not second:
            assert op is not None
            between.append(op)
            op = op.next_op
        users = [op for op in between if self.ancestors[op] & self._mask[first]]
        merged = merge_siblings(first, second)
        self.block.insert_op_before(merged, second)
        for old, new in zip((*first.res, *second.res), merged.res, strict=True):
            self.key[new] = self.key.get(old, old)
        results = list(merged.res)
        Rewriter.replace_op(first, [], results[: len(first.res)])
        Rewriter.replace_op(second, [], results[len(first.res) :])
        self._reorder(first, second, merged, between, users)
        self._extend_ancestors(first, second, merged)
        # Merging neither renames nor re-maps an input: the merged op streams what both did.
        reads = self.reads[first] | self.reads[second]
        self.domain[merged] = self.domain[first]
        self._unindex(first)
        self._unindex(second)
        self._index(merged, reads)
        return merged

    def _reorder(
        self,
        first: Operation,
        second: Operation,
        merged: Operation,
        between: list[Operation],
        users: list[Operation],
    ) -> None:
        """Move `users` (of `first`, between the siblings) after `merged`, all else staying:
        the order a stable topological sort of the block gives."""
        anchor = merged
        for user in users:
            user.detach()
            self.block.insert_op_after(user, anchor)
            anchor = user
        start = self.position.pop(first)
        del self.position[second]
        moved = set(users)
        in_new_order = [*(op for op in between if op not in moved), merged, *users]
        for offset, op in enumerate(in_new_order):
            self.position[op] = start + offset

    def _extend_ancestors(self, first: Operation, second: Operation, merged: Operation) -> None:
        """What depended on one sibling now depends on what either did."""
        ancestors = self.ancestors
        mask = self._mask[merged] = self._mask.pop(first) | self._mask.pop(second)
        inherited = ancestors[merged] = ancestors.pop(first) | ancestors.pop(second)
        op = merged.next_op
        while op is not None:
            if ancestors[op] & mask:
                ancestors[op] |= inherited
            op = op.next_op


@dataclass(frozen=True)
class LinalgFuseSiblingsPass(ModulePass):
    """Merge independent generics with the same loops that read a common input."""

    name = "linalg-fuse-siblings"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for function in op.body.block.ops:
            if isinstance(function, func.FuncOp):
                _BlockFuser(function.body.block).run()

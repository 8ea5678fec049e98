"""convert-linalg-to-fused-loops: linalg ops on memrefs become scf.for nests, row groups share one.

Each `linalg.generic` / `linalg.fill` becomes a perfect loop nest over its loop dims in order
(outermost first), with the body inlined between loads of the operands its body reads (through
the indexing maps, as arith index arithmetic) and stores of what it yields; a reduction reads
and writes its output element in the loop, which gcc keeps in a register. The ops of one row
group (`aidjit.row_group`, set by linalg-fuse-rows) share one loop over their first dim:

    scf.for %row = 0 to N {
      <member 1 with d0 = %row>     (its other dims as loops inside)
      <member 2 with d0 = %row>
      ...
    }

Ops without loops found between members (views, constants) move before the row loop: they
only name memory, they do not touch it.

Why not xDSL's `convert-linalg-to-loops`: it lowers one op at a time, so it cannot emit a row
group's shared loop, and it computes indices with `affine.apply`, which then needs
`lower-affine` and a canonicalisation that cost more than the rest of the pipeline (70-200 ms
on the reference workloads). The loops it makes for a single op are the same as these.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from xdsl.builder import Builder, ImplicitBuilder
from xdsl.context import Context
from xdsl.dialects import arith, func, memref, scf
from xdsl.dialects.builtin import IndexType, IntegerAttr, MemRefType, ModuleOp
from xdsl.dialects.linalg import ops as linalg
from xdsl.ir import Block, Operation, SSAValue
from xdsl.ir.affine import (
    AffineBinaryOpExpr,
    AffineBinaryOpKind,
    AffineConstantExpr,
    AffineDimExpr,
    AffineExpr,
    AffineMap,
)
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint

from aidjit.errors import UnsupportedError, blame
from aidjit.lowering.structured import generic_maps, loop_ranges
from aidjit.transforms.fuse_rows import ROW_GROUP, row_extent

_BINARY = {
    AffineBinaryOpKind.Add: arith.AddiOp,
    AffineBinaryOpKind.Mul: arith.MuliOp,
    AffineBinaryOpKind.FloorDiv: arith.FloorDivSIOp,
    AffineBinaryOpKind.Mod: arith.RemSIOp,
}


class FunctionLoops:
    """Lowers the linalg ops of one function; index constants go to the top of its body."""

    def __init__(self, function: func.FuncOp) -> None:
        self.block = function.body.block
        self.constants: dict[int, SSAValue] = {}
        self.indices: dict[tuple[str, tuple[SSAValue, ...]], SSAValue] = {}

    def index(self, value: int) -> SSAValue:
        if value not in self.constants:
            with ImplicitBuilder(Builder(InsertPoint.at_start(self.block))):
                self.constants[value] = arith.ConstantOp(IntegerAttr(value, IndexType())).result
        return self.constants[value]

    def affine(self, expr: AffineExpr, ivs: Sequence[SSAValue]) -> SSAValue:
        """`expr` of the induction variables as arith ops, each distinct one built once per
        loop body (a load and a store of the same element share their index)."""
        if isinstance(expr, AffineDimExpr):
            return ivs[expr.position]
        if isinstance(expr, AffineConstantExpr):
            return self.index(expr.value)
        if not isinstance(expr, AffineBinaryOpExpr) or expr.kind not in _BINARY:
            raise UnsupportedError(f"convert-linalg-to-fused-loops: affine expression {expr}")
        key = (str(expr), tuple(ivs))
        if key not in self.indices:
            lhs, rhs = self.affine(expr.lhs, ivs), self.affine(expr.rhs, ivs)
            self.indices[key] = _BINARY[expr.kind](lhs, rhs).result
        return self.indices[key]

    def nest(
        self,
        ranges: Sequence[int],
        fixed: dict[int, SSAValue],
        body: Callable[[Sequence[SSAValue]], None],
    ) -> None:
        """Loops over the dims not in `fixed`, in order; `body(ivs)` builds the innermost part.

        A dim of extent 1 gets no loop: its index is the constant 0."""
        ivs: list[SSAValue | None] = [fixed.get(d) for d in range(len(ranges))]
        for position, extent in enumerate(ranges):
            if extent == 1 and ivs[position] is None:
                ivs[position] = self.index(0)

        def build(dim: int) -> None:
            while dim < len(ranges) and ivs[dim] is not None:
                dim += 1
            if dim == len(ranges):
                body([iv for iv in ivs if iv is not None])
                return
            loop = scf.ForOp(
                self.index(0),
                self.index(ranges[dim]),
                self.index(1),
                [],
                Block(arg_types=[IndexType()]),
            )
            with ImplicitBuilder(loop.body) as (iv,):
                ivs[dim] = iv
                build(dim + 1)
                scf.YieldOp()
            ivs[dim] = None

        build(0)

    def generic(self, op: linalg.GenericOp, fixed: dict[int, SSAValue]) -> None:
        maps = generic_maps(op)
        args = op.body.block.args
        outputs_start = len(op.inputs)

        def body(ivs: Sequence[SSAValue]) -> None:
            self.indices = {}
            mapping: dict[SSAValue, SSAValue] = {}
            for position, (value, map_) in enumerate(zip(op.operands, maps, strict=True)):
                if not args[position].uses:
                    continue
                mapping[args[position]] = self._load(value, map_, ivs)
            for body_op in op.body.block.ops:
                if isinstance(body_op, linalg.YieldOp):
                    for index, result in enumerate(body_op.operands):
                        target = op.operands[outputs_start + index]
                        indices = [self.affine(e, ivs) for e in maps[outputs_start + index].results]
                        memref.StoreOp.get(mapping.get(result, result), target, indices)
                elif isinstance(body_op, linalg.IndexOp):
                    mapping[body_op.result] = ivs[body_op.dim.value.data]
                else:
                    body_op.clone(value_mapper=mapping)

        self.nest(loop_ranges(op), fixed, body)

    def _load(self, value: SSAValue, map_: AffineMap, ivs: Sequence[SSAValue]) -> SSAValue:
        if not isinstance(value.type, MemRefType):
            return value  # a scalar operand
        indices = [self.affine(e, ivs) for e in map_.results]
        return memref.LoadOp.get(value, indices).res

    def fill(self, op: linalg.FillOp, fixed: dict[int, SSAValue]) -> None:
        target = op.outputs[0]
        value = op.inputs[0]
        ranges = list(target.type.get_shape())
        self.nest(ranges, fixed, lambda ivs: memref.StoreOp.get(value, target, list(ivs)))

    def lower(self, op: Operation, fixed: dict[int, SSAValue]) -> None:
        if isinstance(op, linalg.GenericOp):
            self.generic(op, fixed)
        elif isinstance(op, linalg.FillOp):
            self.fill(op, fixed)
        else:
            raise blame(
                UnsupportedError(f"convert-linalg-to-fused-loops: no lowering for {op.name}"), op
            )

    def run(self) -> None:
        for op in list(self.block.ops):
            if op.parent is None or not isinstance(op, linalg.GenericOp | linalg.FillOp):
                continue
            group = op.attributes.get(ROW_GROUP)
            if group is None:
                with ImplicitBuilder(Builder(InsertPoint.before(op))):
                    self.lower(op, {})
                op.detach()
                op.erase()
            else:
                self._row_group(op, group)

    def _row_group(self, first: Operation, group: object) -> None:
        members: list[Operation] = []
        movable: list[Operation] = []
        op: Operation | None = first
        while op is not None:
            if isinstance(op, linalg.GenericOp | linalg.FillOp):
                if op.attributes.get(ROW_GROUP) != group:
                    break
                members.append(op)
            elif isinstance(op, func.ReturnOp):
                break
            else:
                movable.append(op)
            op = op.next_op
        for other in movable:
            if members and _position(other) < _position(members[-1]):
                other.detach()
                self.block.insert_op_before(other, first)
        extent = row_extent(first)
        for member in members:
            if extent is None or row_extent(member) != extent:
                message = (
                    f"convert-linalg-to-fused-loops: {member.name} is marked {ROW_GROUP} but "
                    f"does not compute row i at iteration i of a first loop of {extent} rows"
                )
                raise blame(UnsupportedError(message), member)
        if extent == 1:
            # One row is no loop: each member's nest starts at its next dim (the row index is
            # the constant 0, see `nest`), so parallelize-outer-loops can give that to threads.
            for member in members:
                with ImplicitBuilder(Builder(InsertPoint.before(first))):
                    self.lower(member, {})
        else:
            loop = scf.ForOp(
                self.index(0), self.index(extent), self.index(1), [], Block(arg_types=[IndexType()])
            )
            self.block.insert_op_before(loop, first)
            with ImplicitBuilder(loop.body) as (row,):
                for member in members:
                    self.lower(member, {0: row})
                scf.YieldOp()
        for member in members:
            member.detach()
            member.erase()


def _position(op: Operation) -> int:
    block = op.parent_block()
    assert block is not None
    return block.get_operation_index(op)


@dataclass(frozen=True)
class ConvertLinalgToFusedLoopsPass(ModulePass):
    """Lower linalg ops on memrefs to scf.for nests, one row loop per row group."""

    name = "convert-linalg-to-fused-loops"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for function in op.body.block.ops:
            if isinstance(function, func.FuncOp) and function.body.blocks:
                FunctionLoops(function).run()

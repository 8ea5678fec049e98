"""convert-graph-to-loops: tensors become buffers, graph ops become scf.for nests.

Bufferizes each function and lowers every graph op through the template of its family:

    func.func @f(%x: tensor<4x3xf32>, %b: tensor<3xf32>) -> tensor<4x3xf32> {
      %0 = graph.add %x, %b : tensor<4x3xf32>, tensor<3xf32> -> tensor<4x3xf32>
      %1 = graph.exp %0 : tensor<4x3xf32>
      func.return %1 : tensor<4x3xf32>
    }
        ==>
    func.func @f(%x: memref<4x3xf32>, %b: memref<3xf32>, %out0: memref<4x3xf32>) {
      %0 = memref.alloc() {alignment = 64 : i64} : memref<4x3xf32>
      scf.for %i = %c0 to %c4 step %c1 {
        scf.for %j = %c0 to %c3 step %c1 {
          %a = memref.load %x[%i, %j]   %v = memref.load %b[%j]   (broadcast: index of %b by %j)
          memref.store (arith.addf %a, %v), %0[%i, %j]
      } }
      scf.for ... { memref.store (math.exp (memref.load %0[...])), %out0[...] }
      memref.dealloc %0 : memref<4x3xf32>
      func.return
    }

Conventions the runtime relies on: inputs keep their order, one output buffer per result is
appended (`%out0`, ...), functions return nothing, and every output buffer is written (a result
no loop wrote there, such as a splat, a constant or an argument, is copied in at the end).
Intermediates are `memref.alloc`ed and `memref.dealloc`ed right after their last use. Splat
constants never get a buffer: loads from them become `arith.constant`s in the loop body, and
layout ops on them stay splats; other constants become private `memref.global`s.

Families share templates that differ only in a table entry: elementwise ops in their scalar body,
reductions in (initial value, combine, finalize), layout ops in their index map. Matmul runs
i, k, j so the innermost loop walks both the output row and the right operand's row with stride
1 and gcc vectorises it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from xdsl.builder import ImplicitBuilder
from xdsl.context import Context
from xdsl.dialects import arith, func, memref, scf
from xdsl.dialects import math as mathd
from xdsl.dialects.builtin import (
    FloatAttr,
    IndexType,
    IntegerAttr,
    IntegerType,
    MemRefType,
    ModuleOp,
    StringAttr,
    TensorType,
    UnitAttr,
    f32,
    f64,
    i64,
)
from xdsl.ir import Attribute, Block, Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import Rewriter

from aidjit.dialects import graph
from aidjit.errors import UnsupportedError, blame

# ----- operands: buffers, or splat constants that never need one ------------------------------


@dataclass(frozen=True)
class Buffer:
    memref: SSAValue
    shape: tuple[int, ...]


@dataclass(frozen=True)
class Splat:
    """A tensor holding one value everywhere: an `int` for integer tensors, else a `float`."""

    value: int | float
    shape: tuple[int, ...]


Operand = Buffer | Splat


def memref_type(type_: Attribute) -> MemRefType[Any]:
    assert isinstance(type_, TensorType)
    return MemRefType(type_.get_element_type(), type_.get_shape())


def broadcast_indices(
    shape: Sequence[int], out_shape: Sequence[int], ivs: Sequence[SSAValue], zero: SSAValue
) -> list[SSAValue]:
    """Indices into an operand broadcast (numpy rules) to `out_shape` at output position `ivs`."""
    lead = len(out_shape) - len(shape)
    return [
        zero if dim == 1 and out_shape[lead + k] != 1 else ivs[lead + k]
        for k, dim in enumerate(shape)
    ]


# ----- the per-function emitter ---------------------------------------------------------------


class FunctionLowering:
    """Lowers one graph-level function; owns its constants, buffers and loop nests."""

    def __init__(self, module: ModuleOp, source: func.FuncOp) -> None:
        self.module = module
        self.source = source
        input_types = [memref_type(t) for t in source.function_type.inputs.data]
        output_types = [memref_type(t) for t in source.function_type.outputs.data]
        self.target = func.FuncOp(source.sym_name.data, (input_types + output_types, []))
        self.entry: Block = self.target.body.blocks[0]
        self.inputs = list(self.entry.args[: len(input_types)])
        self.outputs = list(self.entry.args[len(input_types) :])
        for new, old in zip(self.inputs, source.body.blocks[0].args, strict=True):
            new.name_hint = old.name_hint
        for index, out in enumerate(self.outputs):
            out.name_hint = f"out{index}"
        # Constants and loops are built in two detached blocks and joined at the end, so every
        # hoisted constant precedes every loop whatever order they were created in.
        self._constant_block = Block()
        self._global_block = Block()
        self._taken_symbols = {
            op.sym_name.data for op in module.body.blocks[0].ops if hasattr(op, "sym_name")
        }
        self._globals_named = 0
        self._body_block = Block()
        self._constants: dict[tuple[Any, Attribute], SSAValue] = {}
        self.values: dict[SSAValue, Operand] = {}

    # -- hoisted constants ------------------------------------------------------------------

    def _hoist(self, key: Any, attr: IntegerAttr[Any] | FloatAttr[Any]) -> SSAValue:
        cache_key = (key, attr.type)
        if cache_key not in self._constants:
            with ImplicitBuilder(self._constant_block):
                self._constants[cache_key] = arith.ConstantOp(attr).result
        return self._constants[cache_key]

    def index(self, value: int) -> SSAValue:
        return self._hoist(("index", value), IntegerAttr(value, IndexType()))

    def scalar(self, value: int | float, type_: Attribute) -> SSAValue:
        """An `arith.constant` of element type `type_`: an integer or a float attribute."""
        if isinstance(type_, IntegerType):
            return self._hoist(("int", int(value)), IntegerAttr(int(value), type_))
        # Keyed on repr so 0.0 and -0.0 (equal as floats) stay distinct constants.
        return self._hoist(("float", repr(float(value))), FloatAttr(float(value), type_))

    # -- loads, stores and loops ------------------------------------------------------------

    def load(self, operand: Operand, indices: Sequence[SSAValue], type_: Attribute) -> SSAValue:
        if isinstance(operand, Splat):
            return self.scalar(operand.value, type_)
        return memref.LoadOp.get(operand.memref, list(indices)).res

    def load_broadcast(
        self, operand: Operand, out_shape: Sequence[int], ivs: Sequence[SSAValue], type_: Attribute
    ) -> SSAValue:
        indices = broadcast_indices(operand.shape, out_shape, ivs, self.index(0))
        return self.load(operand, indices, type_)

    def loop_nest(self, shape: Sequence[int], body: Callable[[list[SSAValue]], None]) -> None:
        """Perfectly nested scf.for loops over `shape`, row-major; body gets the induction vars."""

        def build(level: int, ivs: list[SSAValue]) -> None:
            if level == len(shape):
                body(ivs)
                return
            loop = scf.ForOp(
                self.index(0),
                self.index(shape[level]),
                self.index(1),
                [],
                Block(arg_types=[IndexType()]),
            )
            with ImplicitBuilder(loop.body) as (iv,):
                iv.name_hint = f"i{level}"
                build(level + 1, [*ivs, iv])
                scf.YieldOp()

        build(0, [])

    def fill(self, dest: SSAValue, shape: Sequence[int], value: SSAValue) -> None:
        self.loop_nest(shape, lambda ivs: memref.StoreOp.get(value, dest, ivs))

    # -- the function -----------------------------------------------------------------------

    def lower(self) -> func.FuncOp:
        body = self.source.body.blocks[0]
        ops = list(body.ops)
        returned = ops[-1]
        assert isinstance(returned, func.ReturnOp)
        for old, new in zip(body.args, self.inputs, strict=True):
            self.values[old] = Buffer(new, tuple(old.type.get_shape()))
        destinations = self._output_destinations(returned)
        last_use = self._last_uses(ops)
        with ImplicitBuilder(self._body_block):
            for position, op in enumerate(ops[:-1]):
                self._lower_op(op, destinations)
                for value in last_use.get(position, ()):
                    self._release(value, destinations)
            for index, value in enumerate(returned.arguments):
                if not self._holds(value, self.outputs[index]):
                    self._copy(self.values[value], self.outputs[index], value.type)
            for value in last_use.get(len(ops) - 1, ()):
                self._release(value, destinations)
            func.ReturnOp()
        for block in (self._constant_block, self._body_block):
            for op in list(block.ops):
                op.detach()
                self.entry.add_op(op)
        module_block = self.module.body.blocks[0]
        for op in list(self._global_block.ops):
            op.detach()
            module_block.insert_op_before(op, self.source)
        return self.target

    def _holds(self, value: SSAValue, output: SSAValue) -> bool:
        """Whether lowering `value` wrote it into `output`.

        Not the same as `value` having `output` as its destination: a template may answer
        with a splat and write nothing (a layout op of a splat constant), and then the output
        must still be filled.
        """
        operand = self.values[value]
        return isinstance(operand, Buffer) and operand.memref == output

    def _output_destinations(self, returned: func.ReturnOp) -> dict[SSAValue, SSAValue]:
        """Results computed by an op may be written straight into their output buffer.

        Only a proposal: `lower` checks with `_holds` that the op did write there.
        """
        destinations: dict[SSAValue, SSAValue] = {}
        for index, value in enumerate(returned.arguments):
            owner = value.owner
            if isinstance(owner, graph.GraphOp) and value not in destinations:
                destinations[value] = self.outputs[index]
        return destinations

    @staticmethod
    def _last_uses(ops: Sequence[Operation]) -> dict[int, list[SSAValue]]:
        last: dict[SSAValue, int] = {}
        for position, op in enumerate(ops):
            for result in op.results:
                last[result] = position
            for operand in op.operands:
                last[operand] = position
        by_position: dict[int, list[SSAValue]] = {}
        for value, position in last.items():
            by_position.setdefault(position, []).append(value)
        return by_position

    def _release(self, value: SSAValue, destinations: dict[SSAValue, SSAValue]) -> None:
        operand = self.values.get(value)
        if not isinstance(operand, Buffer) or value in destinations:
            return
        if isinstance(operand.memref.owner, memref.AllocOp):
            memref.DeallocOp.get(operand.memref)

    def _allocate(self, op: Operation, destinations: dict[SSAValue, SSAValue]) -> SSAValue:
        result = op.results[0]
        if result in destinations:
            return destinations[result]
        alloc = memref.AllocOp.get(result.type.get_element_type(), 64, result.type.get_shape())
        return alloc.memref

    def _lower_op(self, op: Operation, destinations: dict[SSAValue, SSAValue]) -> None:
        if isinstance(op, graph.ConstantOp):
            self.values[op.result] = self._constant(op)
            return
        handler = next((h for family, h in FAMILY_TEMPLATES if isinstance(op, family)), None)
        if handler is None:
            raise blame(UnsupportedError(f"convert-graph-to-loops: no lowering for {op.name}"), op)
        result = op.results[0]
        operands = [self.values[v] for v in op.operands]
        splat = handler.splat(self, op, operands)
        if splat is not None:
            self.values[result] = splat
            return
        dest = self._allocate(op, destinations)
        handler.emit(self, op, operands, dest)
        self.values[result] = Buffer(dest, tuple(result.type.get_shape()))

    def _constant(self, op: graph.ConstantOp) -> Operand:
        shape = tuple(op.result.type.get_shape())
        if math.prod(shape) == 0:
            return Splat(0.0, shape)
        value = graph.splat_value(op.value)
        if value is not None:
            return Splat(value, shape)
        name = self._global_name()
        type_ = memref_type(op.result.type)
        with ImplicitBuilder(self._global_block):
            memref.GlobalOp.get(
                StringAttr(name), type_, op.value, constant=UnitAttr(), alignment=64
            )
        return Buffer(memref.GetGlobalOp(name, type_).memref, shape)

    def _global_name(self) -> str:
        """`<function>_cst<n>`, skipping names the module already uses."""
        while True:
            name = f"{self.target.sym_name.data}_cst{self._globals_named}"
            self._globals_named += 1
            if name not in self._taken_symbols:
                return name

    def _copy(self, source: Operand, dest: SSAValue, type_: Attribute) -> None:
        element = type_.get_element_type()
        shape = tuple(type_.get_shape())

        def body(ivs: list[SSAValue]) -> None:
            memref.StoreOp.get(self.load(source, ivs, element), dest, ivs)

        self.loop_nest(shape, body)


# ----- family templates -------------------------------------------------------------------------


class Template:
    """How one op family becomes loops: `emit` writes the result into `dest`.

    `splat` may instead answer with a splat (no buffer, no loop) when the result is one value
    repeated, as a layout op of a splat is.
    """

    @staticmethod
    def splat(lw: FunctionLowering, op: Operation, operands: list[Operand]) -> Splat | None:
        return None

    @staticmethod
    def emit(lw: FunctionLowering, op: Operation, operands: list[Operand], dest: SSAValue) -> None:
        raise NotImplementedError


ScalarBody = Callable[[FunctionLowering, Attribute, Sequence[SSAValue]], SSAValue]


def _select_mask(lowering: FunctionLowering, type_: Attribute, condition: SSAValue) -> SSAValue:
    one, zero = lowering.scalar(1.0, type_), lowering.scalar(0.0, type_)
    return arith.SelectOp(condition, one, zero).result


def _sign(lowering: FunctionLowering, type_: Attribute, x: SSAValue) -> SSAValue:
    zero = lowering.scalar(0.0, type_)
    negative = arith.SelectOp(
        arith.CmpfOp(x, zero, "olt").result, lowering.scalar(-1.0, type_), x
    ).result
    positive = arith.CmpfOp(x, zero, "ogt").result
    return arith.SelectOp(positive, lowering.scalar(1.0, type_), negative).result


def _sigmoid(lowering: FunctionLowering, type_: Attribute, x: SSAValue) -> SSAValue:
    # The same formula as the numpy forward: 0.5 * tanh(0.5 * x) + 0.5, no overflow.
    half = lowering.scalar(0.5, type_)
    tanh = mathd.TanhOp(arith.MulfOp(x, half).result).result
    return arith.AddfOp(arith.MulfOp(tanh, half).result, half).result


def _cast(lowering: FunctionLowering, type_: Attribute, x: SSAValue) -> SSAValue:
    """x converted to `type_` (f32, f64, i64): C's conversions, which are numpy's astype."""
    source = x.type
    if source == type_:
        return x
    if isinstance(type_, IntegerType):
        return arith.FPToSIOp(x, type_).result  # truncates toward zero
    if isinstance(source, IntegerType):
        return arith.SIToFPOp(x, type_).result
    widen = type_ == f64
    return (arith.ExtFOp(x, type_) if widen else arith.TruncFOp(x, type_)).result


def _select(lowering: FunctionLowering, condition: SSAValue, x: SSAValue, y: SSAValue) -> SSAValue:
    """x where condition is nonzero (nan too: `une`), else y: a select, never a blend."""
    zero = lowering.scalar(0, condition.type)
    if isinstance(condition.type, IntegerType):
        nonzero = arith.CmpiOp(condition, zero, "ne").result
    else:
        nonzero = arith.CmpfOp(condition, zero, "une").result
    return arith.SelectOp(nonzero, x, y).result


ELEMENTWISE_BODIES: dict[str, ScalarBody] = {
    "graph.negate": lambda lw, t, a: arith.NegfOp(a[0]).result,
    "graph.abs": lambda lw, t, a: mathd.AbsFOp(a[0]).result,
    "graph.sign": lambda lw, t, a: _sign(lw, t, a[0]),
    "graph.exp": lambda lw, t, a: mathd.ExpOp(a[0]).result,
    "graph.log": lambda lw, t, a: mathd.LogOp(a[0]).result,
    "graph.sqrt": lambda lw, t, a: mathd.SqrtOp(a[0]).result,
    "graph.relu": lambda lw, t, a: arith.MaximumfOp(a[0], lw.scalar(0.0, t)).result,
    "graph.sigmoid": lambda lw, t, a: _sigmoid(lw, t, a[0]),
    "graph.tanh": lambda lw, t, a: mathd.TanhOp(a[0]).result,
    "graph.add": lambda lw, t, a: arith.AddfOp(a[0], a[1]).result,
    "graph.subtract": lambda lw, t, a: arith.SubfOp(a[0], a[1]).result,
    "graph.multiply": lambda lw, t, a: arith.MulfOp(a[0], a[1]).result,
    "graph.divide": lambda lw, t, a: arith.DivfOp(a[0], a[1]).result,
    "graph.power": lambda lw, t, a: mathd.PowFOp(a[0], a[1]).result,
    "graph.maximum": lambda lw, t, a: arith.MaximumfOp(a[0], a[1]).result,
    "graph.minimum": lambda lw, t, a: arith.MinimumfOp(a[0], a[1]).result,
    "graph.greater": lambda lw, t, a: _select_mask(lw, t, arith.CmpfOp(a[0], a[1], "ogt").result),
    "graph.greater_equal": lambda lw, t, a: _select_mask(
        lw, t, arith.CmpfOp(a[0], a[1], "oge").result
    ),
    "graph.equal": lambda lw, t, a: _select_mask(lw, t, arith.CmpfOp(a[0], a[1], "oeq").result),
    "graph.not_equal": lambda lw, t, a: _select_mask(lw, t, arith.CmpfOp(a[0], a[1], "une").result),
    "graph.where": lambda lw, t, a: _select(lw, a[0], a[1], a[2]),
    "graph.astype": lambda lw, t, a: _cast(lw, t, a[0]),
}


class ElementwiseTemplate(Template):
    """out[ivs] = body(operand[broadcast(ivs)] ...): one loop nest over the result."""

    @staticmethod
    def emit(lw: FunctionLowering, op: Operation, operands: list[Operand], dest: SSAValue) -> None:
        body = ELEMENTWISE_BODIES.get(op.name)
        if body is None:
            raise UnsupportedError(f"convert-graph-to-loops: no scalar body for {op.name}")
        type_ = op.results[0].type
        element = type_.get_element_type()
        shape = tuple(type_.get_shape())

        # Operands may have their own element type (where's condition, astype's input).
        types = [value.type.get_element_type() for value in op.operands]

        def store(ivs: list[SSAValue]) -> None:
            args = [
                lw.load_broadcast(o, shape, ivs, t) for o, t in zip(operands, types, strict=True)
            ]
            memref.StoreOp.get(body(lw, element, args), dest, ivs)

        lw.loop_nest(shape, store)


@dataclass(frozen=True)
class Reduction:
    initial: float
    combine: Callable[[SSAValue, SSAValue], SSAValue]
    divide_by_count: bool = False


REDUCTIONS: dict[str, Reduction] = {
    "graph.sum": Reduction(0.0, lambda acc, x: arith.AddfOp(acc, x).result),
    "graph.mean": Reduction(0.0, lambda acc, x: arith.AddfOp(acc, x).result, True),
    "graph.reduce_max": Reduction(-math.inf, lambda acc, x: arith.MaximumfOp(acc, x).result),
}


class ReductionTemplate(Template):
    """Fill with the initial value, walk the input combining into the output, then finalize.

    The walk is row-major over the input, so reducing the last axis accumulates in one output
    element (a register after gcc's promotion) and reducing a leading axis walks output rows
    with stride 1 (vectorised).
    """

    @staticmethod
    def emit(lw: FunctionLowering, op: Operation, operands: list[Operand], dest: SSAValue) -> None:
        assert isinstance(op, graph.ReductionOp)
        reduction = REDUCTIONS[op.name]
        (source,) = operands
        element = op.result.type.get_element_type()
        out_shape = tuple(op.result.type.get_shape())
        axes = set(op.axes.get_values())
        keepdims = op.keepdims is not None
        lw.fill(dest, out_shape, lw.scalar(reduction.initial, element))

        def accumulate(ivs: list[SSAValue]) -> None:
            out_ivs = [
                lw.index(0) if axis in axes else iv
                for axis, iv in enumerate(ivs)
                if keepdims or axis not in axes
            ]
            acc = memref.LoadOp.get(dest, out_ivs).res
            value = lw.load(source, ivs, element)
            memref.StoreOp.get(reduction.combine(acc, value), dest, out_ivs)

        lw.loop_nest(source.shape, accumulate)
        if not reduction.divide_by_count:
            return
        count = lw.scalar(float(math.prod(source.shape[a] for a in axes)), element)

        def finalize(ivs: list[SSAValue]) -> None:
            total = memref.LoadOp.get(dest, ivs).res
            memref.StoreOp.get(arith.DivfOp(total, count).result, dest, ivs)

        lw.loop_nest(out_shape, finalize)


class MatmulTemplate(Template):
    """C = 0; for [b,] i, k: a = A[b,i,k]; for j: C[b,i,j] = fma(a, B[b,k,j], C[b,i,j]).

    j is innermost. The accumulation is an explicit `math.fma`, one rounding per step as BLAS
    does: the C is built without FP contraction (arith ops carry no `contract` flag), so a fused
    multiply-add happens only where the IR asks for one, and the interpreter computes the same.
    """

    @staticmethod
    def emit(lw: FunctionLowering, op: Operation, operands: list[Operand], dest: SSAValue) -> None:
        lhs, rhs = operands
        element = op.results[0].type.get_element_type()
        out_shape = tuple(op.results[0].type.get_shape())
        lw.fill(dest, out_shape, lw.scalar(0.0, element))
        batch = out_shape[:-2]
        m, n = out_shape[-2:]
        k = lhs.shape[-1]

        def body(ivs: list[SSAValue]) -> None:
            *b, i, kk, j = ivs
            a = lw.load(lhs, [*b, i, kk], element)
            rhs_b = b if len(rhs.shape) == len(out_shape) else []
            other = lw.load(rhs, [*rhs_b, kk, j], element)
            acc = memref.LoadOp.get(dest, [*b, i, j]).res
            step = mathd.FmaOp(a, other, acc).result
            memref.StoreOp.get(step, dest, [*b, i, j])

        lw.loop_nest((*batch, m, k, n), body)


def _reshape_indices(
    lw: FunctionLowering, in_shape: Sequence[int], out_shape: Sequence[int], ivs: list[SSAValue]
) -> list[SSAValue]:
    """Row-major linear position of `ivs` in the output, re-split by the input's shape."""
    linear = lw.index(0)
    for dim, iv in zip(out_shape, ivs, strict=True):
        linear = arith.AddiOp(arith.MuliOp(linear, lw.index(dim)).result, iv).result
    indices = []
    stride = math.prod(in_shape)
    for dim in in_shape:
        stride //= max(dim, 1)
        quotient = arith.DivUIOp(linear, lw.index(max(stride, 1))).result
        indices.append(arith.RemUIOp(quotient, lw.index(max(dim, 1))).result)
    return indices


def _strided_index(lw: FunctionLowering, iv: SSAValue, first: int, stride: int) -> SSAValue:
    """first + iv * stride, leaving out a unit stride and a zero offset."""
    index = iv if stride == 1 else arith.MuliOp(iv, lw.index(stride)).result
    return index if first == 0 else arith.AddiOp(index, lw.index(first)).result


def _layout_indices(
    lw: FunctionLowering, op: Operation, in_shape: tuple[int, ...], ivs: list[SSAValue]
) -> list[SSAValue]:
    out_shape = tuple(op.results[0].type.get_shape())
    if isinstance(op, graph.TransposeOp):
        indices: list[SSAValue] = list(ivs)
        for position, axis in enumerate(op.perm.get_values()):
            indices[axis] = ivs[position]
        return indices
    if isinstance(op, graph.BroadcastToOp):
        return broadcast_indices(in_shape, out_shape, ivs, lw.index(0))
    if isinstance(op, graph.ReshapeOp):
        return _reshape_indices(lw, in_shape, out_shape, ivs)
    if isinstance(op, graph.SliceOp):
        steps = zip(ivs, op.start.get_values(), op.strides.get_values(), strict=True)
        return [_strided_index(lw, iv, first, stride) for iv, first, stride in steps]
    raise UnsupportedError(f"convert-graph-to-loops: no index map for {op.name}")


class LayoutTemplate(Template):
    """out[ivs] = in[index_map(ivs)]; a splat input stays a splat, no loop at all."""

    @staticmethod
    def splat(lw: FunctionLowering, op: Operation, operands: list[Operand]) -> Splat | None:
        (source,) = operands
        if isinstance(source, Splat):
            return Splat(source.value, tuple(op.results[0].type.get_shape()))
        return None

    @staticmethod
    def emit(lw: FunctionLowering, op: Operation, operands: list[Operand], dest: SSAValue) -> None:
        (source,) = operands
        element = op.results[0].type.get_element_type()

        def body(ivs: list[SSAValue]) -> None:
            indices = _layout_indices(lw, op, source.shape, ivs)
            memref.StoreOp.get(lw.load(source, indices, element), dest, ivs)

        lw.loop_nest(tuple(op.results[0].type.get_shape()), body)


class OneHotTemplate(Template):
    """out[ivs, c] = labels[ivs] == c ? 1 : 0."""

    @staticmethod
    def emit(lw: FunctionLowering, op: Operation, operands: list[Operand], dest: SSAValue) -> None:
        (labels,) = operands
        element = op.results[0].type.get_element_type()
        label_type = op.operands[0].type.get_element_type()

        def body(ivs: list[SSAValue]) -> None:
            label = lw.load(labels, ivs[:-1], label_type)
            as_index = arith.IndexCastOp(label, IndexType()).result
            hit = arith.CmpiOp(as_index, ivs[-1], "eq").result
            memref.StoreOp.get(_select_mask(lw, element, hit), dest, ivs)

        lw.loop_nest(tuple(op.results[0].type.get_shape()), body)


class PadTemplate(Template):
    """out = 0; out[low + i * (interior + 1)] = in[i]: a fill, then a loop over the input."""

    @staticmethod
    def emit(lw: FunctionLowering, op: Operation, operands: list[Operand], dest: SSAValue) -> None:
        assert isinstance(op, graph.PadOp)
        (source,) = operands
        element = op.result.type.get_element_type()
        lw.fill(dest, tuple(op.result.type.get_shape()), lw.scalar(0, element))
        params = op.params()

        def body(ivs: list[SSAValue]) -> None:
            steps = zip(ivs, params["low"], params["interior"], strict=True)
            out_ivs = [_strided_index(lw, iv, low, gap + 1) for iv, low, gap in steps]
            memref.StoreOp.get(lw.load(source, ivs, element), dest, out_ivs)

        lw.loop_nest(source.shape, body)


FAMILY_TEMPLATES: tuple[tuple[type[Operation], type[Template]], ...] = (
    (graph.ElementwiseUnaryOp, ElementwiseTemplate),
    (graph.ElementwiseBinaryOp, ElementwiseTemplate),
    (graph.ReductionOp, ReductionTemplate),
    (graph.MatmulOp, MatmulTemplate),
    (graph.LayoutOp, LayoutTemplate),
    (graph.OneHotOp, OneHotTemplate),
    (graph.PadOp, PadTemplate),
    (graph.WhereOp, ElementwiseTemplate),
    (graph.AstypeOp, ElementwiseTemplate),
)


# ----- the pass -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConvertGraphToLoopsPass(ModulePass):
    """Lower graph-dialect functions to func + scf + memref + arith + math.

    Assumes static shapes (aidjit specialises on them). Functions without graph ops or tensor
    types are left alone.
    """

    name = "convert-graph-to-loops"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for function in list(op.body.blocks[0].ops):
            if not isinstance(function, func.FuncOp) or not _has_tensors(function):
                continue
            _check_tensor_types(function)
            lowered = FunctionLowering(op, function).lower()
            Rewriter.replace_op(function, lowered)


def _check_tensor_types(function: func.FuncOp) -> None:
    """Static shapes of f32, f64 or i64 only: anything else would lower to wrong loops."""
    values = [*function.body.blocks[0].args]
    values += [result for op in function.walk() for result in op.results]
    for value in values:
        type_ = value.type
        if not isinstance(type_, TensorType):
            continue
        where = f"convert-graph-to-loops: @{function.sym_name.data}"
        at = value.owner if isinstance(value.owner, Operation) else function
        if any(dim < 0 for dim in type_.get_shape()):
            message = f"{where}: dynamic shape in {type_}; aidjit needs static shapes"
            raise blame(UnsupportedError(message), at)
        if type_.get_element_type() not in (f32, f64, i64):
            message = f"{where}: element type of {type_} is not supported; use f32, f64 or i64"
            raise blame(UnsupportedError(message), at)


def _has_tensors(function: func.FuncOp) -> bool:
    types = [*function.function_type.inputs.data, *function.function_type.outputs.data]
    return any(isinstance(t, TensorType) for t in types)

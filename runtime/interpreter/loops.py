"""Run loop-level IR (func + scf + memref + arith + math) in xDSL's interpreter.

The interpreter is aidjit's oracle (DESIGN principle 5): the loop level it runs must give the
numbers the compiled C gives. xDSL 0.74 lacks several ops of the loop level (divf, negf, the
casts, most of math) and computes f32 arithmetic in double precision, raising on overflow and
domain errors. This module fills the gaps and replaces the float ops with implementations that
follow IEEE semantics (inf and NaN instead of exceptions) and round every f32 result to
float32, as C does: +, -, *, / and sqrt then agree with C bit for bit; the libm functions to
within their last bit.

Like the C emitter, the float ops are a table: one line per op, a Python function computing in
float64 that the generated implementation rounds to the result type.
"""

from __future__ import annotations

import itertools
import math as pymath
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, cast

import numpy as np
from xdsl.context import Context
from xdsl.dialects import arith, builtin, func, math, memref, scf, vector
from xdsl.dialects.builtin import (
    DYNAMIC_INDEX,
    AnyFloat,
    DenseIntOrFPElementsAttr,
    IndexType,
    IntegerType,
    MemRefType,
    ModuleOp,
    TensorType,
    VectorType,
)
from xdsl.interpreter import (
    Interpreter,
    InterpreterFunctions,
    PythonValues,
    ReturnedValues,
    TerminatorValue,
    impl,
    impl_terminator,
    register_impls,
)
from xdsl.interpreters import register_implementations
from xdsl.interpreters.builtin import xtype_for_el_type
from xdsl.interpreters.math import MathFunctions
from xdsl.interpreters.shaped_array import ShapedArray
from xdsl.interpreters.utils.ptr import RawPtr, TypedPtr
from xdsl.ir import Attribute, Block, Operation
from xdsl.traits import SymbolTable
from xdsl.utils.comparisons import to_signed, to_unsigned

from aidjit.dialects.xdsl_fixes import VECTOR_AWARE_OPS
from aidjit.dtypes import LOOP_DTYPES, one_of
from aidjit.errors import DTypeError, ShapeError, UnsupportedError
from aidjit.runtime.strided import StridedLayout, row_major, static_layout, subview_layout

_NUMPY_DTYPES: dict[Attribute, np.dtype[Any]] = {row.element: row.numpy for row in LOOP_DTYPES}

# --- float ops: computed in float64 by numpy (inf/NaN instead of Python exceptions) -----------


def _fma(a: float, b: float, c: float) -> float:
    """a * b + c rounded once, like C's fma (exact rational arithmetic when all are finite)."""
    if not all(pymath.isfinite(x) for x in (a, b, c)):
        return float(np.float64(a) * np.float64(b) + np.float64(c))
    return float(Fraction(a) * Fraction(b) + Fraction(c))


_FLOAT_OPS: dict[type[Operation], Callable[..., Any]] = {
    arith.AddfOp: np.add,
    arith.SubfOp: np.subtract,
    arith.MulfOp: np.multiply,
    arith.DivfOp: np.divide,
    arith.NegfOp: np.negative,
    math.ExpOp: np.exp,
    math.LogOp: np.log,
    math.SqrtOp: np.sqrt,
    math.TanhOp: np.tanh,
    math.AbsFOp: np.abs,
    math.PowFOp: np.power,
    math.SinOp: np.sin,
    math.CosOp: np.cos,
    math.Log1pOp: np.log1p,
    math.ExpM1Op: np.expm1,
    math.ErfOp: pymath.erf,
    math.FloorOp: np.floor,
    math.CeilOp: np.ceil,
    math.RsqrtOp: lambda x: 1 / np.sqrt(x),
    math.FmaOp: _fma,
    math.CopySignOp: np.copysign,
}


def _round_to(value: Any, type_: Attribute) -> float:
    """A float64 result as the result type holds it: f32 results are rounded to float32."""
    if type_ != builtin.f32:
        return float(value)
    with np.errstate(over="ignore"):  # too large for float32 rounds to inf, as in C
        return float(np.float32(value))


def _float_impl(function: Callable[..., Any]) -> Callable[..., PythonValues]:
    def run(
        self: InterpreterFunctions, interpreter: Interpreter, op: Operation, args: PythonValues
    ) -> PythonValues:
        with np.errstate(all="ignore"):
            value = function(*(np.float64(arg) for arg in args))
        return (_round_to(value, op.results[0].type),)

    return run


LoopFloatFunctions = register_impls(
    type(
        "LoopFloatFunctions",
        (InterpreterFunctions,),
        {
            f"run_{op_type.name.replace('.', '_')}": impl(op_type)(_float_impl(function))
            for op_type, function in _FLOAT_OPS.items()
        },
    )
)
"""The float ops of `_FLOAT_OPS`, each an `@impl` generated from its table entry."""


# --- integer ops and casts --------------------------------------------------------------------


def _bitwidth(interpreter: Interpreter, type_: Attribute) -> int:
    if isinstance(type_, IndexType):
        return interpreter.index_bitwidth
    assert isinstance(type_, IntegerType)
    return type_.width.data


def _unsigned_operands(interpreter: Interpreter, op: Operation, args: PythonValues) -> list[int]:
    width = _bitwidth(interpreter, op.operands[0].type)
    return [to_unsigned(arg, width) for arg in args]


def _integer_dtype(interpreter: Interpreter, type_: Attribute, *, signed: bool) -> np.dtype[Any]:
    width = _bitwidth(interpreter, type_)
    return np.dtype(f"{'int' if signed else 'uint'}{max(width, 8)}")


@register_impls
class LoopIntegerFunctions(InterpreterFunctions):
    """Unsigned division and the int <-> float casts, with C's rounding and truncation."""

    @impl(arith.DivUIOp)
    def run_divui(
        self, interpreter: Interpreter, op: arith.DivUIOp, args: PythonValues
    ) -> PythonValues:
        lhs, rhs = _unsigned_operands(interpreter, op, args)
        interpreter.interpreter_assert(rhs != 0, "arith.divui by zero")
        return (to_signed(lhs // rhs, _bitwidth(interpreter, op.result.type)),)

    @impl(arith.RemUIOp)
    def run_remui(
        self, interpreter: Interpreter, op: arith.RemUIOp, args: PythonValues
    ) -> PythonValues:
        lhs, rhs = _unsigned_operands(interpreter, op, args)
        interpreter.interpreter_assert(rhs != 0, "arith.remui by zero")
        return (to_signed(lhs % rhs, _bitwidth(interpreter, op.result.type)),)

    @impl(arith.SIToFPOp)
    def run_sitofp(
        self, interpreter: Interpreter, op: arith.SIToFPOp, args: PythonValues
    ) -> PythonValues:
        return (_int_to_float(interpreter, op, args[0], signed=True),)

    @impl(arith.UIToFPOp)
    def run_uitofp(
        self, interpreter: Interpreter, op: arith.UIToFPOp, args: PythonValues
    ) -> PythonValues:
        return (_int_to_float(interpreter, op, args[0], signed=False),)

    @impl(arith.FPToSIOp)
    def run_fptosi(
        self, interpreter: Interpreter, op: arith.FPToSIOp, args: PythonValues
    ) -> PythonValues:
        (value,) = args
        width = _bitwidth(interpreter, op.result.type)
        in_range = pymath.isfinite(value) and -(2 ** (width - 1)) <= int(value) < 2 ** (width - 1)
        interpreter.interpreter_assert(in_range, f"arith.fptosi of {value} overflows i{width}")
        return (int(value),)

    @impl(arith.BitcastOp)
    def run_bitcast(
        self, interpreter: Interpreter, op: arith.BitcastOp, args: PythonValues
    ) -> PythonValues:
        """The operand's bits read as the result type (f32 <-> i32, f64 <-> i64)."""
        source, result = op.input.type, op.result.type
        value = args[0]
        if isinstance(source, IntegerType):
            value = to_signed(value, _bitwidth(interpreter, source))
        bits = np.array(value, _NUMPY_DTYPES[source]).view(_NUMPY_DTYPES[result])
        return (bits.item(),)

    @impl(arith.ExtFOp)
    def run_extf(
        self, interpreter: Interpreter, op: arith.ExtFOp, args: PythonValues
    ) -> PythonValues:
        return (float(args[0]),)

    @impl(arith.TruncFOp)
    def run_truncf(
        self, interpreter: Interpreter, op: arith.TruncFOp, args: PythonValues
    ) -> PythonValues:
        return (_round_to(args[0], op.result.type),)


def _int_to_float(interpreter: Interpreter, op: Operation, value: int, *, signed: bool) -> float:
    """One rounding from the integer to the float type, as a C cast does (numpy casts in C)."""
    source = op.operands[0].type
    width = _bitwidth(interpreter, source)
    bits = to_signed(value, width) if signed else to_unsigned(value, width)
    integer = np.array(bits, dtype=_integer_dtype(interpreter, source, signed=signed))
    return float(integer.astype(_NUMPY_DTYPES[op.results[0].type]))


# --- views: memref.view, subview and reshapes share their source's memory, as in C ------------


def _static_or_dynamic(static: Sequence[int], dynamic: Sequence[int]) -> list[int]:
    """A shape whose DYNAMIC_INDEX entries are filled, in order, from the dynamic operands."""
    values = iter(dynamic)
    return [next(values) if size == DYNAMIC_INDEX else size for size in static]


@dataclass
class StridedArray(ShapedArray[Any]):
    """A memref with a strided layout (a `memref.subview`, or a reshape of one): element
    (i0, i1, ...) lies at `layout.offset + i0 * layout.strides[0] + ...` elements from its
    pointer, the pointer of the buffer it views, so writes through it reach that buffer.

    Only what memrefs use is strided: `offset` (so memref.load and store index through the
    layout) and, in the structured interpreter, `array_layout`; tensors are never strided.
    """

    layout: StridedLayout

    def offset(self, index: Sequence[int]) -> int:
        """An element's position from the pointer. An index outside the view is an error: the
        element it would reach belongs to the rest of the buffer, and C would not notice."""
        inside = len(index) == len(self.shape) and all(
            0 <= i < size for i, size in zip(index, self.shape, strict=True)
        )
        if not inside:
            raise ShapeError(
                f"index {tuple(index)} is outside a strided view of shape {tuple(self.shape)}"
            )
        strides = self.layout.strides
        return self.layout.offset + sum(i * s for i, s in zip(index, strides, strict=True))


def array_layout(array: ShapedArray[Any]) -> StridedLayout:
    """Where `array`'s elements lie from its pointer: row-major unless it is a strided view."""
    return array.layout if isinstance(array, StridedArray) else row_major(array.shape)


def element_offsets(layout: StridedLayout, shape: Sequence[int]) -> np.ndarray:
    """Every element's position from the pointer, in row-major index order."""
    indices = np.indices(shape, np.int64).reshape(len(shape), pymath.prod(shape))
    return layout.offset + np.array(layout.strides, np.int64) @ indices


def _reshaped(op: Operation, source: ShapedArray[Any], shape: list[int]) -> ShapedArray[Any]:
    """The source's memory under a new shape. A reshape of a strided view keeps the view's
    pointer and takes the layout of its result type (as C does), checked to address the
    source's elements in the same order (the contiguity MLIR's verifier asks of it)."""
    if not isinstance(source, StridedArray):
        return ShapedArray(source.data_ptr, shape)
    result_type = cast(MemRefType, op.results[0].type)
    layout = static_layout(result_type)
    if layout is None:
        raise UnsupportedError(f"'{op.name}' to {result_type}: a dynamic layout")
    if not np.array_equal(
        element_offsets(layout, shape), element_offsets(source.layout, source.shape)
    ):
        raise ShapeError(
            f"'{op.name}' to {result_type}: its layout does not address the elements of the "
            f"strided view of shape {tuple(source.shape)} ({source.layout}) it reshapes"
        )
    return StridedArray(source.data_ptr, shape, layout)


def run_collapse_shape(
    self: InterpreterFunctions, interpreter: Interpreter, op: Operation, args: PythonValues
) -> PythonValues:
    """`collapse_shape` (memref or tensor): each reassociation group becomes one dimension."""
    source = cast(ShapedArray[Any], args[0])
    groups = cast(memref.CollapseShapeOp, op).reassociation
    shape = [pymath.prod(source.shape[i.value.data] for i in group) for group in groups]
    return (_reshaped(op, source, shape),)


def run_expand_shape(
    self: InterpreterFunctions, interpreter: Interpreter, op: Operation, args: PythonValues
) -> PythonValues:
    """`expand_shape` (memref or tensor): the result's shape is the op's `output_shape`."""
    source = cast(ShapedArray[Any], args[0])
    static = cast(memref.ExpandShapeOp, op).static_output_shape.get_values()
    return (_reshaped(op, source, _static_or_dynamic(static, args[1:])),)


@register_impls
class LoopViewFunctions(InterpreterFunctions):
    """Views of a buffer: the bufferized level carves its intermediates out of one workspace."""

    @impl(memref.AllocaOp)
    def run_alloca(
        self, interpreter: Interpreter, op: memref.AllocaOp, args: PythonValues
    ) -> PythonValues:
        """A stack buffer (a micro-kernel's packed panel) is a fresh zeroed buffer."""
        memref_type = cast(MemRefType, op.memref.type)
        shape = list(memref_type.get_shape())
        xtype = xtype_for_el_type(memref_type.get_element_type(), interpreter.index_bitwidth)
        return (ShapedArray(TypedPtr[Any].zeros(pymath.prod(shape), xtype=xtype), shape),)

    @impl(memref.ViewOp)
    def run_view(
        self, interpreter: Interpreter, op: memref.ViewOp, args: PythonValues
    ) -> PythonValues:
        source, byte_shift, *sizes = args
        source = cast(ShapedArray[Any], source)
        result_type = cast(MemRefType, op.result.type)
        shape = _static_or_dynamic(result_type.get_shape(), sizes)
        xtype = xtype_for_el_type(result_type.get_element_type(), interpreter.index_bitwidth)
        available = len(source.data_ptr.raw.memory) - source.data_ptr.raw.offset
        needed = byte_shift + pymath.prod(shape) * xtype.compile_time_size
        if not 0 <= byte_shift <= needed <= available:
            raise ShapeError(
                f"memref.view of {result_type} at byte {byte_shift} overruns its {available} bytes"
            )
        return (ShapedArray(TypedPtr[Any](source.data_ptr.raw + byte_shift, xtype=xtype), shape),)

    @impl(memref.SubviewOp)
    def run_subview(
        self, interpreter: Interpreter, op: memref.SubviewOp, args: PythonValues
    ) -> PythonValues:
        """The source's memory through the layout MLIR gives the result: the same pointer,
        the offset and strides of aidjit.runtime.strided (checked against the result type)."""
        source = cast(ShapedArray[Any], args[0])
        layout = subview_layout(op, source.shape, array_layout(source))
        shape = list(cast(MemRefType, op.result.type).get_shape())
        return (StridedArray(source.data_ptr, shape, layout),)

    run_memref_collapse_shape = impl(memref.CollapseShapeOp)(run_collapse_shape)
    run_memref_expand_shape = impl(memref.ExpandShapeOp)(run_expand_shape)


@register_impls
class LoopParallelFunctions(InterpreterFunctions):
    """scf.parallel without reductions (parallelize-outer-loops' output), run serially: its
    iterations are independent, so any order gives what the threads of the C give."""

    @impl(scf.ParallelOp)
    def run_parallel(
        self, interpreter: Interpreter, op: scf.ParallelOp, args: PythonValues
    ) -> PythonValues:
        dims = len(op.lowerBound)
        if op.initVals:
            raise UnsupportedError("the loop interpreter does not run scf.parallel reductions")
        lower, upper, step = args[:dims], args[dims : 2 * dims], args[2 * dims : 3 * dims]
        ranges = [range(*bounds) for bounds in zip(lower, upper, step, strict=True)]
        for indices in itertools.product(*ranges):
            interpreter.run_ssacfg_region(op.body, indices, "parallel_loop")
        return ()

    @impl_terminator(scf.ReduceOp)
    def run_reduce(
        self, interpreter: Interpreter, op: scf.ReduceOp, args: PythonValues
    ) -> tuple[TerminatorValue, PythonValues]:
        return ReturnedValues(()), ()


# --- vectors: numpy arrays of lanes, each lane computed as the scalar op would ----------------

VECTOR_OPS: tuple[type[Operation], ...] = (
    vector.LoadOp,
    vector.StoreOp,
    vector.BroadcastOp,
    vector.ShuffleOp,
    vector.FMAOp,
    vector.ReductionOp,
    vector.CreateMaskOp,
    vector.MaskedLoadOp,
    vector.MaskedStoreOp,
)
"""The `vector` dialect ops of the loop level (vectorize-loops, tile-contractions)."""

_SCALAR_TWIN: dict[type[Operation], type[Operation]] = {
    vector.FMAOp: math.FmaOp,
    **{op: cast(type[Operation], op.__base__) for op in VECTOR_AWARE_OPS},
}
"""The scalar op one lane of an op computes, where it is not the op's own class."""

_REDUCTION_STEPS: dict[str, tuple[type[Operation], type[Operation] | None, float]] = {
    "add": (arith.AddfOp, arith.AddiOp, -0.0),
    "mul": (arith.MulfOp, arith.MuliOp, 1.0),
    "maximumf": (arith.MaximumfOp, None, -pymath.inf),
    "minimumf": (arith.MinimumfOp, None, pymath.inf),
}
"""`vector.reduction <kind>`: the scalar op folding one lane into the accumulator (float,
integer) and the accumulator without one (-0.0 + x is x for every x, +0.0 + -0.0 is not)."""


def _element(type_: Attribute) -> Attribute:
    return type_.get_element_type() if isinstance(type_, VectorType) else type_


def _lanes(values: Sequence[Any]) -> int | None:
    return next((len(value) for value in values if isinstance(value, np.ndarray)), None)


def _lane(value: Any, lane: int) -> Any:
    """One lane of a vector value as the scalar implementations take it (a Python number); a
    scalar operand (a select's condition) is the same in every lane."""
    return value[lane].item() if isinstance(value, np.ndarray) else value


def _vector(values: Sequence[Any], type_: Attribute) -> np.ndarray:
    return np.array(values, dtype=_NUMPY_DTYPES[_element(type_)])


class LoopVectorFunctions(InterpreterFunctions):
    """Vector values are numpy arrays of their lanes. An arith or math op on vectors runs its
    scalar implementation once per lane (on a scalar twin of the op, in an interpreter that
    holds only the scalar implementations), so a vectorised loop computes exactly what the
    scalar loop it came from computes, f32 rounding and NaN rules included; `vector.reduction`
    folds the lanes in order, lane 0 first, as the C emitter does. Scalar ops go to that
    interpreter unchanged (the vector-aware classes of xdsl_fixes through a twin of xDSL's).
    """

    def __init__(self, scalar: Interpreter) -> None:
        self.scalar = scalar
        self.twins: dict[Any, Operation] = {}
        """Scalar twins by the op they stand for (or by (class, type) for reductions)."""

    def twin(self, op: Operation) -> Operation:
        """`op` on the element types of its operands and results: what one lane computes."""
        key = op
        if key not in self.twins:
            kind = _SCALAR_TWIN.get(type(op), type(op))
            arguments = Block(arg_types=[_element(value.type) for value in op.operands])
            self.twins[key] = kind.create(
                operands=arguments.args,
                result_types=[_element(result.type) for result in op.results],
                properties=dict(op.properties),
                attributes=dict(op.attributes),
            )
        return self.twins[key]

    def binary_twin(self, kind: type[Operation], type_: Attribute) -> Operation:
        """A scalar `kind` op of two `type_` operands (one step of a reduction)."""
        key = (kind, type_)
        if key not in self.twins:
            arguments = Block(arg_types=[type_, type_])
            self.twins[key] = kind.create(operands=arguments.args, result_types=[type_])
        return self.twins[key]

    def run_lanewise(
        self, interpreter: Interpreter, op: Operation, args: PythonValues
    ) -> PythonValues:
        lanes = _lanes(args)
        if lanes is None and not isinstance(op.results[0].type, VectorType):
            if type(op) in _SCALAR_TWIN:
                return self.scalar.run_op(self.twin(op), args)
            return self.scalar.run_op(op, args)
        if isinstance(op, arith.ConstantOp):
            return (self.constant(op),)
        twin = self.twin(op)
        per_lane = [self.scalar.run_op(twin, [_lane(a, n) for a in args]) for n in range(lanes)]
        return tuple(
            _vector([values[i] for values in per_lane], result.type)
            for i, result in enumerate(op.results)
        )

    @staticmethod
    def constant(op: arith.ConstantOp) -> np.ndarray:
        """A dense vector constant (a splat holds one value for every lane)."""
        type_ = cast(VectorType, op.result.type)
        values = cast(DenseIntOrFPElementsAttr, op.value).get_values()
        array = _vector(list(values), type_)
        return np.broadcast_to(array, type_.get_shape()).copy()

    @impl(vector.LoadOp)
    def run_load(self, interpreter: Interpreter, op: vector.LoadOp, args: PythonValues):
        base, *index = args
        lanes = cast(VectorType, op.result.type).get_shape()[0]
        values = [base.load([*index[:-1], index[-1] + n]) for n in range(lanes)]
        return (_vector(values, op.result.type),)

    @impl(vector.StoreOp)
    def run_store(self, interpreter: Interpreter, op: vector.StoreOp, args: PythonValues):
        value, base, *index = args
        for n, lane in enumerate(value):
            base.store([*index[:-1], index[-1] + n], lane.item())
        return ()

    @impl(vector.CreateMaskOp)
    def run_create_mask(
        self, interpreter: Interpreter, op: vector.CreateMaskOp, args: PythonValues
    ) -> PythonValues:
        (count,) = args
        return (np.arange(cast(VectorType, op.mask_vector.type).get_shape()[0]) < count,)

    @impl(vector.MaskedLoadOp)
    def run_masked_load(
        self, interpreter: Interpreter, op: vector.MaskedLoadOp, args: PythonValues
    ) -> PythonValues:
        """The selected lanes from memory, the others from the pass-through; unselected lanes
        are never read (they may lie past the buffer, as in C)."""
        base, *index, mask, pass_thru = args
        values = [
            base.load([*index[:-1], index[-1] + n]) if selected else pass_thru[n].item()
            for n, selected in enumerate(mask)
        ]
        return (_vector(values, op.result.type),)

    @impl(vector.MaskedStoreOp)
    def run_masked_store(
        self, interpreter: Interpreter, op: vector.MaskedStoreOp, args: PythonValues
    ) -> PythonValues:
        base, *index, mask, value = args
        for n, selected in enumerate(mask):
            if selected:
                base.store([*index[:-1], index[-1] + n], value[n].item())
        return ()

    @impl(vector.BroadcastOp)
    def run_broadcast(
        self, interpreter: Interpreter, op: vector.BroadcastOp, args: PythonValues
    ) -> PythonValues:
        type_ = cast(VectorType, op.vector.type)
        return (np.full(type_.get_shape(), args[0], dtype=_NUMPY_DTYPES[_element(type_)]),)

    @impl(vector.ShuffleOp)
    def run_shuffle(
        self, interpreter: Interpreter, op: vector.ShuffleOp, args: PythonValues
    ) -> PythonValues:
        first, second = args
        return (np.concatenate([first, second])[list(op.mask.get_values())],)

    @impl(vector.FMAOp)
    def run_fma(self, interpreter: Interpreter, op: vector.FMAOp, args: PythonValues):
        return self.run_lanewise(interpreter, op, args)

    @impl(vector.ReductionOp)
    def run_reduction(
        self, interpreter: Interpreter, op: vector.ReductionOp, args: PythonValues
    ) -> PythonValues:
        kind = op.kind.data.value
        if kind not in _REDUCTION_STEPS:
            raise UnsupportedError(f"the loop interpreter does not run vector.reduction <{kind}>")
        float_step, int_step, identity = _REDUCTION_STEPS[kind]
        is_float = isinstance(op.dest.type, AnyFloat)
        step = float_step if is_float else int_step
        if step is None:
            raise UnsupportedError(f"vector.reduction <{kind}> of {op.dest.type}")
        lanes, *acc = args
        total = acc[0] if acc else (identity if is_float else int(identity))
        combine = self.binary_twin(step, op.dest.type)
        for lane in lanes:
            (total,) = self.scalar.run_op(combine, (total, lane.item()))
        return (total,)


# --- the interpreter --------------------------------------------------------------------------

SUPPORTED_OPS: frozenset[type[Operation]] = frozenset(
    {
        builtin.ModuleOp,
        func.FuncOp,
        func.ReturnOp,
        scf.ForOp,
        scf.YieldOp,
        scf.IfOp,
        scf.ParallelOp,
        scf.ReduceOp,
        memref.AllocOp,
        memref.AllocaOp,
        memref.DeallocOp,
        memref.LoadOp,
        memref.StoreOp,
        memref.GetGlobalOp,
        memref.GlobalOp,
        memref.ViewOp,
        memref.CollapseShapeOp,
        memref.ExpandShapeOp,
        memref.SubviewOp,
        arith.ConstantOp,
        arith.MaximumfOp,
        arith.MinimumfOp,
        arith.CmpfOp,
        arith.SelectOp,
        arith.AddiOp,
        arith.SubiOp,
        arith.MuliOp,
        arith.DivSIOp,
        arith.RemSIOp,
        arith.FloorDivSIOp,
        arith.IndexCastOp,
        arith.CmpiOp,
        arith.AndIOp,
        arith.OrIOp,
        arith.XOrIOp,
        arith.ShLIOp,
        arith.ShRSIOp,
        arith.BitcastOp,
        arith.DivUIOp,
        arith.RemUIOp,
        arith.SIToFPOp,
        arith.UIToFPOp,
        arith.FPToSIOp,
        arith.ExtFOp,
        arith.TruncFOp,
        *_FLOAT_OPS,
        *VECTOR_AWARE_OPS,
        *VECTOR_OPS,
    }
)
"""The loop-level ops this interpreter runs (with xDSL's own implementations and the above)."""

LANEWISE_OPS: frozenset[type[Operation]] = frozenset(
    op for op in SUPPORTED_OPS if op.name.partition(".")[0] in ("arith", "math")
)
"""The ops that compute on vectors lane by lane (see `LoopVectorFunctions`)."""


def _lanewise_impl() -> Callable[..., PythonValues]:
    """A new function per op type (`impl` marks the function object itself)."""

    def run(
        self: LoopVectorFunctions, interpreter: Interpreter, op: Operation, args: PythonValues
    ) -> PythonValues:
        return self.run_lanewise(interpreter, op, args)

    return run


LoopLanewiseFunctions = register_impls(
    type(
        "LoopLanewiseFunctions",
        (LoopVectorFunctions,),
        {  # xdsl_fixes' classes share their names with xDSL's: number the methods instead
            f"run_lanewise_{number}": impl(op_type)(_lanewise_impl())
            for number, op_type in enumerate(LANEWISE_OPS)
        },
    )
)
"""`LoopVectorFunctions` with an `@impl` of `run_lanewise` for each of `LANEWISE_OPS`."""


def check_supported(module: ModuleOp, supported: frozenset[type[Operation]], level: str) -> None:
    """Name the first op of `module` outside `supported`, before anything runs."""
    for op in module.walk():
        if type(op) not in supported:
            raise UnsupportedError(f"the {level} interpreter does not support '{op.name}'")


def _register_scalar_implementations(interpreter: Interpreter) -> None:
    """xDSL's implementations overridden by the above: the scalar ops every level computes alike."""
    register_implementations(interpreter, Context())
    interpreter.register_implementations(MathFunctions())
    interpreter.register_implementations(LoopFloatFunctions(), override=True)
    interpreter.register_implementations(LoopIntegerFunctions())
    interpreter.register_implementations(LoopViewFunctions())
    interpreter.register_implementations(LoopParallelFunctions())


def register_loop_implementations(interpreter: Interpreter) -> None:
    """The scalar implementations, with arith and math on vectors computed lane by lane by
    a second interpreter holding only the scalar ones (see `LoopVectorFunctions`)."""
    _register_scalar_implementations(interpreter)
    scalar = Interpreter(ModuleOp([]), index_bitwidth=interpreter.index_bitwidth)
    _register_scalar_implementations(scalar)
    interpreter.register_implementations(LoopLanewiseFunctions(scalar), override=True)


def make_loop_interpreter(module: ModuleOp) -> Interpreter:
    """An interpreter for `module`, which must contain only `SUPPORTED_OPS`."""
    check_supported(module, SUPPORTED_OPS, "loop")
    interpreter = Interpreter(module, index_bitwidth=64)
    register_loop_implementations(interpreter)
    return interpreter


def _buffer(memref_type: MemRefType | TensorType) -> tuple[ShapedArray[Any], np.ndarray]:
    """A zeroed interpreter buffer and a numpy array sharing its memory."""
    element_type = memref_type.get_element_type()
    dtype = _NUMPY_DTYPES[element_type]
    shape = memref_type.get_shape()
    memory = bytearray(pymath.prod(shape) * dtype.itemsize)
    xtype = xtype_for_el_type(element_type, 64)
    shaped = ShapedArray(TypedPtr[Any](RawPtr(memory), xtype=xtype), list(shape))
    return shaped, np.frombuffer(memory, dtype=dtype).reshape(shape)


def _argument_types(module: ModuleOp, func_name: str) -> list[MemRefType]:
    func_op = SymbolTable.lookup_symbol(module, func_name)
    if not isinstance(func_op, func.FuncOp):
        raise UnsupportedError(f"no function named '{func_name}' in the module")
    types = list(func_op.function_type.inputs.data)
    for type_ in types:
        if not isinstance(type_, MemRefType) or type_.get_element_type() not in _NUMPY_DTYPES:
            raise UnsupportedError(
                f"'{func_name}' takes {type_}, not a memref of "
                + one_of([row.short for row in LOOP_DTYPES])
            )
    return cast(list[MemRefType], types)


def _check_argument(
    index: int, memref_type: MemRefType | TensorType, shape: Sequence[int], dtype: Any
) -> None:
    expected_dtype = _NUMPY_DTYPES[memref_type.get_element_type()]
    if tuple(shape) != memref_type.get_shape():
        raise ShapeError(f"argument {index}: shape {tuple(shape)}, expected {memref_type}")
    if np.dtype(dtype) != expected_dtype:
        raise DTypeError(f"argument {index}: dtype {np.dtype(dtype)}, expected {expected_dtype}")


def _is_workspace(type_: MemRefType) -> bool:
    """The bufferized level's optional last argument: the bytes its intermediates are views of."""
    return type_.get_element_type() == builtin.i8 and len(type_.get_shape()) == 1


def call_with_buffers(
    interpreter: Interpreter,
    func_name: str,
    inputs: Sequence[np.ndarray],
    output_specs: Sequence[tuple[tuple[int, ...], np.dtype[Any]]],
) -> tuple[np.ndarray, ...]:
    """Call `func_name` on copies of `inputs` and fresh zeroed outputs; return the outputs.

    The function takes its inputs first, then one buffer per output, as the loop level does,
    and, when it has one more argument, a byte workspace (`memref<Nxi8>`) that the caller
    allocates, as the compiled code's caller does.
    """
    types = _argument_types(interpreter.module, func_name)
    buffers = len(inputs) + len(output_specs)
    if not (len(types) == buffers or (len(types) == buffers + 1 and _is_workspace(types[-1]))):
        raise ShapeError(
            f"'{func_name}' takes {len(types)} buffers, got {len(inputs)} inputs and "
            f"{len(output_specs)} outputs"
        )
    arguments: list[ShapedArray[Any]] = []
    for index, (array, memref_type) in enumerate(zip(inputs, types, strict=False)):
        _check_argument(index, memref_type, np.shape(array), np.asarray(array).dtype)
        shaped, view = _buffer(memref_type)
        view[...] = array
        arguments.append(shaped)
    outputs: list[np.ndarray] = []
    for index, (shape, dtype) in enumerate(output_specs, start=len(inputs)):
        _check_argument(index, types[index], shape, dtype)
        shaped, view = _buffer(types[index])
        arguments.append(shaped)
        outputs.append(view)
    arguments.extend(_buffer(workspace)[0] for workspace in types[buffers:])
    interpreter.call_op(func_name, tuple(arguments))
    return tuple(outputs)


def run_loops(
    module: ModuleOp,
    func_name: str,
    inputs: Sequence[np.ndarray],
    output_specs: Sequence[tuple[tuple[int, ...], np.dtype[Any]]],
) -> tuple[np.ndarray, ...]:
    """Run `func_name` of a loop-level module (see `call_with_buffers`); return the outputs."""
    return call_with_buffers(make_loop_interpreter(module), func_name, inputs, output_specs)

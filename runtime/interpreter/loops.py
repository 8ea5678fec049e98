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

import math as pymath
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, cast

import numpy as np
from xdsl.context import Context
from xdsl.dialects import arith, builtin, func, math, memref, scf
from xdsl.dialects.builtin import (
    DYNAMIC_INDEX,
    IndexType,
    IntegerType,
    MemRefType,
    ModuleOp,
    TensorType,
)
from xdsl.interpreter import (
    Interpreter,
    InterpreterFunctions,
    PythonValues,
    impl,
    register_impls,
)
from xdsl.interpreters import register_implementations
from xdsl.interpreters.builtin import xtype_for_el_type
from xdsl.interpreters.math import MathFunctions
from xdsl.interpreters.shaped_array import ShapedArray
from xdsl.interpreters.utils.ptr import RawPtr, TypedPtr
from xdsl.ir import Attribute, Operation
from xdsl.traits import SymbolTable
from xdsl.utils.comparisons import to_signed, to_unsigned

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


# --- the interpreter --------------------------------------------------------------------------

SUPPORTED_OPS: frozenset[type[Operation]] = frozenset(
    {
        builtin.ModuleOp,
        func.FuncOp,
        func.ReturnOp,
        scf.ForOp,
        scf.YieldOp,
        scf.IfOp,
        memref.AllocOp,
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
        arith.DivUIOp,
        arith.RemUIOp,
        arith.SIToFPOp,
        arith.UIToFPOp,
        arith.FPToSIOp,
        arith.ExtFOp,
        arith.TruncFOp,
        *_FLOAT_OPS,
    }
)
"""The loop-level ops this interpreter runs (with xDSL's own implementations and the above)."""


def check_supported(module: ModuleOp, supported: frozenset[type[Operation]], level: str) -> None:
    """Name the first op of `module` outside `supported`, before anything runs."""
    for op in module.walk():
        if type(op) not in supported:
            raise UnsupportedError(f"the {level} interpreter does not support '{op.name}'")


def register_loop_implementations(interpreter: Interpreter) -> None:
    """xDSL's implementations overridden by the above: the scalar ops every level computes alike."""
    register_implementations(interpreter, Context())
    interpreter.register_implementations(MathFunctions())
    interpreter.register_implementations(LoopFloatFunctions(), override=True)
    interpreter.register_implementations(LoopIntegerFunctions())
    interpreter.register_implementations(LoopViewFunctions())


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

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
from fractions import Fraction
from typing import Any, cast

import numpy as np
from xdsl.context import Context
from xdsl.dialects import arith, builtin, func, math, memref, scf
from xdsl.dialects.builtin import IndexType, IntegerType, MemRefType, ModuleOp
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

from aidjit.errors import DTypeError, ShapeError, UnsupportedError

_NUMPY_DTYPES: dict[Attribute, np.dtype[Any]] = {
    builtin.f32: np.dtype(np.float32),
    builtin.f64: np.dtype(np.float64),
    builtin.i64: np.dtype(np.int64),
    builtin.i32: np.dtype(np.int32),
}

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


def make_loop_interpreter(module: ModuleOp) -> Interpreter:
    """An interpreter for `module`, which must contain only `SUPPORTED_OPS`."""
    for op in module.walk():
        if type(op) not in SUPPORTED_OPS:
            raise UnsupportedError(f"the loop interpreter does not support '{op.name}'")
    interpreter = Interpreter(module, index_bitwidth=64)
    register_implementations(interpreter, Context())
    interpreter.register_implementations(MathFunctions())
    interpreter.register_implementations(LoopFloatFunctions(), override=True)
    interpreter.register_implementations(LoopIntegerFunctions())
    return interpreter


def _buffer(memref_type: MemRefType) -> tuple[ShapedArray[Any], np.ndarray]:
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
            raise UnsupportedError(f"'{func_name}' takes {type_}, not a memref of f32/f64/i64")
    return cast(list[MemRefType], types)


def _check_argument(index: int, memref_type: MemRefType, shape: Sequence[int], dtype: Any) -> None:
    expected_dtype = _NUMPY_DTYPES[memref_type.get_element_type()]
    if tuple(shape) != memref_type.get_shape():
        raise ShapeError(f"argument {index}: shape {tuple(shape)}, expected {memref_type}")
    if np.dtype(dtype) != expected_dtype:
        raise DTypeError(f"argument {index}: dtype {np.dtype(dtype)}, expected {expected_dtype}")


def run_loops(
    module: ModuleOp,
    func_name: str,
    inputs: Sequence[np.ndarray],
    output_specs: Sequence[tuple[tuple[int, ...], np.dtype[Any]]],
) -> tuple[np.ndarray, ...]:
    """Call `func_name` on copies of `inputs` and fresh zeroed outputs; return the outputs.

    The function takes its inputs first, then one buffer per output, as the loop level does.
    """
    types = _argument_types(module, func_name)
    if len(inputs) + len(output_specs) != len(types):
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
    make_loop_interpreter(module).call_op(func_name, tuple(arguments))
    return tuple(outputs)

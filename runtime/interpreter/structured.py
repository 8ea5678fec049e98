"""Run the structured level (linalg on tensors, or on memrefs after bufferize) in an interpreter.

The linalg level sits between the graph and the loops, and the test table holds every level to
the same numbers. So the scalar ops of a linalg body are computed by the loop interpreter's
implementations (`register_loop_implementations`: f32 rounded like C, IEEE inf/NaN): a body
`arith.addf` and the `arith.addf` its lowered loop nest runs are the same table entry, and
linalg, loops and C agree bit for bit.

xDSL 0.74's own linalg interpreter is replaced for the structured ops: it stores every yielded
value into the first output (multi-output generics are wrong), evaluates each indexing map with
`AffineMap.eval` and opens an interpreter scope per point. Here an op runs as:

    loop ranges    <--  the operand dimensions that are a bare `d_i`, as MLIR infers them
    indexing maps  -->  per operand, the flat element offset at every point (numpy, at once)
    every point, in loop-dimension order (the order convert-linalg-to-loops nests them):
        load each operand element (shared memory: a memref output is read and written in place)
        run the body's ops through the interpreter's implementations
        store each yielded value into its own output

Out-of-bounds accesses (which C would not notice) raise `ShapeError`. On tensors, each output
starts as a copy of its `outs` operand and is returned, and `tensor.extract_slice` /
`insert_slice` make new tensors; on memrefs, outputs are written in place, and `memref.view` /
`subview` / `collapse_shape` / `expand_shape` are views sharing their source's memory (a subview
strided: operands are addressed through their layouts).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from xdsl.dialects import arith, func, tensor
from xdsl.dialects.builtin import DenseIntOrFPElementsAttr, ModuleOp, TensorType
from xdsl.dialects.linalg import ops as linalg
from xdsl.dialects.linalg.abstract_ops import LinalgStructuredOperation
from xdsl.interpreter import (
    Interpreter,
    InterpreterFunctions,
    PythonValues,
    impl,
    register_impls,
)
from xdsl.interpreters.arith import ArithFunctions
from xdsl.interpreters.builtin import xtype_for_el_type
from xdsl.interpreters.shaped_array import ShapedArray
from xdsl.interpreters.utils.ptr import RawPtr, TypedPtr
from xdsl.ir import Operation, SSAValue
from xdsl.ir.affine import (
    AffineBinaryOpExpr,
    AffineBinaryOpKind,
    AffineConstantExpr,
    AffineDimExpr,
    AffineExpr,
    AffineMap,
)
from xdsl.traits import SymbolTable

from aidjit.dtypes import BY_ELEMENT, TENSOR_DTYPES, one_of
from aidjit.errors import DTypeError, ShapeError, UnsupportedError
from aidjit.runtime.interpreter.loops import (
    _NUMPY_DTYPES,
    SUPPORTED_OPS,
    _buffer,
    _check_argument,
    array_layout,
    call_with_buffers,
    check_supported,
    register_loop_implementations,
    run_collapse_shape,
    run_expand_shape,
)
from aidjit.runtime.strided import slice_dims, static_slice

STRUCTURED_OP_TYPES: tuple[type[LinalgStructuredOperation], ...] = (
    linalg.GenericOp,
    linalg.FillOp,
    linalg.CopyOp,
    linalg.TransposeOp,
    linalg.MatmulOp,
    linalg.AddOp,
    linalg.SubOp,
    linalg.MulOp,
    linalg.MaxOp,
    linalg.MinOp,
    linalg.ExpOp,
    linalg.LogOp,
    linalg.SqrtOp,
)
"""The linalg ops run by `run_structured_op`: each is its indexing maps and its scalar body."""

STRUCTURED_SUPPORTED_OPS: frozenset[type[Operation]] = SUPPORTED_OPS | {
    *STRUCTURED_OP_TYPES,
    linalg.YieldOp,
    linalg.IndexOp,
    tensor.EmptyOp,
    tensor.CollapseShapeOp,
    tensor.ExpandShapeOp,
    tensor.ExtractSliceOp,
    tensor.InsertSliceOp,
    tensor.ExtractOp,
    tensor.InsertOp,
}
"""The ops of the structured level: the loop level's, linalg's and the tensor ops around them."""

# --- indexing maps, evaluated for all points at once -------------------------------------------

_AFFINE_BINARY: dict[AffineBinaryOpKind, Any] = {
    AffineBinaryOpKind.Add: np.add,
    AffineBinaryOpKind.Mul: np.multiply,
    AffineBinaryOpKind.Mod: np.mod,  # MLIR's mod is non-negative for a positive divisor, as numpy's
    AffineBinaryOpKind.FloorDiv: np.floor_divide,
    AffineBinaryOpKind.CeilDiv: lambda a, b: -np.floor_divide(-a, b),
}


def _evaluate(expr: AffineExpr, points: np.ndarray, op: Operation) -> np.ndarray:
    """`expr` at every point (points: loop dimensions x points), as an int64 array."""
    if isinstance(expr, AffineDimExpr):
        return points[expr.position]
    if isinstance(expr, AffineConstantExpr):
        return np.full(points.shape[1], expr.value, np.int64)
    if isinstance(expr, AffineBinaryOpExpr):
        lhs, rhs = _evaluate(expr.lhs, points, op), _evaluate(expr.rhs, points, op)
        return _AFFINE_BINARY[expr.kind](lhs, rhs)
    raise UnsupportedError(f"'{op.name}': indexing expression {expr} has symbols")


def _loop_ranges(
    op: Operation, maps: Sequence[AffineMap], shapes: Sequence[Sequence[int] | None]
) -> list[int]:
    """Each loop's trip count: the size of an operand dimension indexed by that bare loop index.

    MLIR infers loop ranges the same way (the shapes-to-loops map inverts the bare dimensions),
    so a loop that only occurs inside a compound expression (`d1 * 16 + d2`) needs an operand
    that also indexes it alone; the verifier insists on it.
    """
    ranges: dict[int, int] = {}
    for map_, shape in zip(maps, shapes, strict=True):
        for expr, size in zip(map_.results, shape or (), strict=True):
            if isinstance(expr, AffineDimExpr):
                ranges.setdefault(expr.position, size)
    missing = [f"d{dim}" for dim in range(maps[0].num_dims) if dim not in ranges]
    if missing:
        raise UnsupportedError(
            f"'{op.name}': loop {', '.join(missing)} indexes no operand dimension on its own, "
            "so its range is unknown"
        )
    return [ranges[dim] for dim in range(maps[0].num_dims)]


def _offsets(
    op: Operation, operand: int, array: ShapedArray[Any], map_: AffineMap, points: np.ndarray
) -> list[int]:
    """The flat element offset `operand` is accessed at, for each point."""
    indices = np.array([_evaluate(expr, points, op) for expr in map_.results], np.int64).reshape(
        len(map_.results), points.shape[1]
    )
    sizes = np.array(array.shape, np.int64)
    outside = np.nonzero(((indices < 0) | (indices >= sizes[:, None])).any(axis=0))[0]
    if outside.size:
        point = tuple(points[:, outside[0]].tolist())
        index = tuple(indices[:, outside[0]].tolist())
        raise ShapeError(
            f"'{op.name}': operand {operand} of shape {tuple(array.shape)} is accessed out of "
            f"bounds at {index} (loop indices {point})"
        )
    layout = array_layout(array)
    return (layout.offset + np.array(layout.strides, np.int64) @ indices).tolist()


# --- memory ------------------------------------------------------------------------------------


def _elements(array: ShapedArray[Any]) -> memoryview:
    """The memory from the array's pointer through its last element, as a flat memoryview
    (Python scalars in and out): its elements in row-major order, unless it is a strided view
    (then `array_layout` says where each lies)."""
    pointer = array.data_ptr
    start = pointer.raw.offset
    stop = start + array_layout(array).extent(array.shape) * pointer.xtype.compile_time_size
    return memoryview(pointer.raw.memory)[start:stop].cast(pointer.xtype.format.lstrip("<"))


def _copy(array: ShapedArray[Any]) -> ShapedArray[Any]:
    """A compact copy, as a tensor output starts from its `outs` operand."""
    memory = bytearray(_elements(array).cast("B"))
    return ShapedArray(TypedPtr[Any](RawPtr(memory), xtype=array.data_ptr.xtype), list(array.shape))


# --- running a structured op -------------------------------------------------------------------


_Step = tuple[Operation, tuple[int, ...], tuple[int, ...]]
"""A body op with the environment slots of its operands and of its results."""


@dataclass
class _Body:
    """A linalg body as slot-numbered steps, so that a point runs without an interpreter scope."""

    environment: list[Any]
    """Block arguments, then the values captured from above (fixed for the whole run), then
    the results of the body's ops."""
    steps: list[_Step]
    yielded: list[int]
    """The slot of each value `linalg.yield` stores, one per output."""
    indices: list[tuple[int, int]]
    """Each `linalg.index` result's slot and the loop dimension it reads."""


def _compile_body(op: LinalgStructuredOperation, interpreter: Interpreter) -> _Body:
    block = op.body.block
    slots: dict[SSAValue, int] = {arg: index for index, arg in enumerate(block.args)}
    environment: list[Any] = [None] * len(block.args)

    def slot(value: SSAValue) -> int:
        if value not in slots:
            slots[value] = len(environment)
            environment.extend(interpreter.get_values((value,)))
        return slots[value]

    steps: list[_Step] = []
    indices: list[tuple[int, int]] = []
    yielded: list[int] = []
    for body_op in block.ops:
        if body_op.regions:
            raise UnsupportedError(f"'{op.name}': '{body_op.name}' with regions in a linalg body")
        operands = tuple(slot(operand) for operand in body_op.operands)
        if isinstance(body_op, linalg.YieldOp):
            yielded = list(operands)
            break
        results = tuple(range(len(environment), len(environment) + len(body_op.results)))
        environment.extend([None] * len(results))
        slots.update(zip(body_op.results, results, strict=True))
        if isinstance(body_op, linalg.IndexOp):
            indices.append((results[0], body_op.dim.value.data))
        else:
            steps.append((body_op, operands, results))
    return _Body(environment, steps, yielded, indices)


def run_structured_op(
    self: InterpreterFunctions,
    interpreter: Interpreter,
    op: LinalgStructuredOperation,
    args: PythonValues,
) -> PythonValues:
    """Any structured op: its indexing maps over its loops, its body at every point."""
    inputs_count = len(op.inputs)
    operands = list(args)
    if op.res:  # on tensors: each output starts as a copy of its `outs` operand and is returned
        operands[inputs_count:] = [_copy(array) for array in operands[inputs_count:]]
    maps = [attr.data for attr in op.get_indexing_maps()]
    shapes = [value.shape if isinstance(value, ShapedArray) else None for value in operands]
    for index, (shape, map_) in enumerate(zip(shapes, maps, strict=True)):
        if shape is None and map_.results:
            raise UnsupportedError(f"'{op.name}': scalar operand {index} with an indexing map")
    ranges = _loop_ranges(op, maps, shapes)
    points = np.indices(ranges, np.int64).reshape(len(ranges), math.prod(ranges))

    body = _compile_body(op, interpreter)
    environment = body.environment
    accesses: dict[int, tuple[memoryview, list[int]]] = {}
    for index, value in enumerate(operands):
        if isinstance(value, ShapedArray):
            offsets = _offsets(op, index, value, maps[index], points)
            accesses[index] = (_elements(value), offsets)
        else:
            environment[index] = value
    loads = [(slot, elements, offsets) for slot, (elements, offsets) in accesses.items()]
    stores = [(*accesses[inputs_count + k], slot) for k, slot in enumerate(body.yielded)]
    point_indices = points.T.tolist() if body.indices else []

    run_op = interpreter.run_op
    for point in range(points.shape[1]):
        for slot, elements, offsets in loads:
            environment[slot] = elements[offsets[point]]
        for slot, dim in body.indices:
            environment[slot] = point_indices[point][dim]
        for body_op, operand_slots, result_slots in body.steps:
            results = run_op(body_op, tuple(environment[i] for i in operand_slots))
            for slot, value in zip(result_slots, results, strict=True):
                environment[slot] = value
        for elements, offsets, slot in stores:
            elements[offsets[point]] = environment[slot]
    return tuple(operands[inputs_count:]) if op.res else ()


def _run_constant(
    self: InterpreterFunctions, interpreter: Interpreter, op: arith.ConstantOp, args: PythonValues
) -> PythonValues:
    """`arith.constant`, with dense tensors (which xDSL's implementation rejects) as arrays."""
    value = op.value
    if not isinstance(value, DenseIntOrFPElementsAttr):
        return ArithFunctions().run_constant(interpreter, op, args).values
    shape = list(cast(TensorType, op.result.type).get_shape())
    values = value.get_values()
    if len(values) == 1:  # a splat (`dense<1.0> : tensor<3x4xf32>`) stores its value once
        values = values * math.prod(shape)
    xtype = xtype_for_el_type(value.get_element_type(), interpreter.index_bitwidth)
    return (ShapedArray(TypedPtr[Any].new(values, xtype=xtype), shape),)


# --- tensor slices: values, so copies; numpy index meshes pick their elements ------------------


def _as_numpy(array: ShapedArray[Any]) -> np.ndarray:
    """A compact array's elements as a numpy array sharing its memory."""
    dtype = _NUMPY_DTYPES[cast(Any, array.data_ptr.xtype)]
    return np.frombuffer(_elements(array), dtype).reshape(array.shape)


def _from_numpy(values: np.ndarray, like: ShapedArray[Any]) -> ShapedArray[Any]:
    """A new compact array of `values`, with the element type of `like`."""
    memory = bytearray(np.ascontiguousarray(values).tobytes())
    return ShapedArray(TypedPtr[Any](RawPtr(memory), xtype=like.data_ptr.xtype), list(values.shape))


def _slice_mesh(
    op: tensor.ExtractSliceOp | tensor.InsertSliceOp,
    source_shape: Sequence[int],
    sliced_shape: Sequence[int],
) -> tuple[tuple[np.ndarray, ...], list[int]]:
    """The numpy index of a static slice (in each dimension `offset + k * stride`, k below
    its size) and its sizes, checked against the IR: inside the source, of the sliced shape."""
    slice_dims(op, source_shape, sliced_shape)
    offsets, sizes, strides = static_slice(op)
    axes = [
        start + stride * np.arange(size)
        for start, size, stride in zip(offsets, sizes, strides, strict=True)
    ]
    return np.ix_(*axes), sizes


def _run_extract_slice(
    self: InterpreterFunctions,
    interpreter: Interpreter,
    op: tensor.ExtractSliceOp,
    args: PythonValues,
) -> PythonValues:
    """A new tensor of the source's elements at the slice's positions."""
    source = cast(ShapedArray[Any], args[0])
    shape = cast(TensorType, op.result.type).get_shape()
    mesh, _ = _slice_mesh(op, source.shape, shape)
    return (_from_numpy(_as_numpy(source)[mesh].reshape(shape), source),)


def _run_insert_slice(
    self: InterpreterFunctions,
    interpreter: Interpreter,
    op: tensor.InsertSliceOp,
    args: PythonValues,
) -> PythonValues:
    """A new tensor: the destination with the source written at the slice's positions (a pad
    with interior padding is the input spread this way over a fill)."""
    source, destination = cast(tuple[ShapedArray[Any], ShapedArray[Any]], args[:2])
    mesh, sizes = _slice_mesh(op, destination.shape, source.shape)
    result = _as_numpy(destination).copy()
    result[mesh] = _as_numpy(source).reshape(sizes)
    return (_from_numpy(result, destination),)


def _element_index(op: Operation, array: ShapedArray[Any], index: Sequence[int]) -> tuple[int, ...]:
    """`index` checked against the tensor's shape (compiled code would read anything there)."""
    if not all(0 <= i < size for i, size in zip(index, array.shape, strict=True)):
        raise ShapeError(
            f"'{op.name}': index {tuple(index)} is out of bounds of a tensor of shape "
            f"{tuple(array.shape)}"
        )
    return tuple(index)


def _run_extract(
    self: InterpreterFunctions, interpreter: Interpreter, op: tensor.ExtractOp, args: PythonValues
) -> PythonValues:
    """One element of a tensor (a gather's read, inside a linalg body or a scatter's loop)."""
    source = cast(ShapedArray[Any], args[0])
    return (source.load(_element_index(op, source, args[1:])),)


def _run_insert(
    self: InterpreterFunctions, interpreter: Interpreter, op: tensor.InsertOp, args: PythonValues
) -> PythonValues:
    """A new tensor: the destination with one element replaced (a scatter's update)."""
    destination = _copy(cast(ShapedArray[Any], args[1]))
    destination.store(_element_index(op, destination, args[2:]), args[0])
    return (destination,)


StructuredFunctions = register_impls(
    type(
        "StructuredFunctions",
        (InterpreterFunctions,),
        {
            **{
                f"run_{op_type.name.replace('.', '_')}": impl(op_type)(run_structured_op)
                for op_type in STRUCTURED_OP_TYPES
            },
            "run_tensor_collapse_shape": impl(tensor.CollapseShapeOp)(run_collapse_shape),
            "run_tensor_expand_shape": impl(tensor.ExpandShapeOp)(run_expand_shape),
            "run_tensor_extract_slice": impl(tensor.ExtractSliceOp)(_run_extract_slice),
            "run_tensor_insert_slice": impl(tensor.InsertSliceOp)(_run_insert_slice),
            "run_tensor_extract": impl(tensor.ExtractOp)(_run_extract),
            "run_tensor_insert": impl(tensor.InsertOp)(_run_insert),
            "run_constant": impl(arith.ConstantOp)(_run_constant),
        },
    )
)
"""The structured ops, tensor reshapes (views; a tensor is never written in place), tensor
slices and dense tensor constants, overriding xDSL's implementations."""


# --- entry points ------------------------------------------------------------------------------


def make_structured_interpreter(module: ModuleOp) -> Interpreter:
    """An interpreter for `module`, which must contain only `STRUCTURED_SUPPORTED_OPS`."""
    check_supported(module, STRUCTURED_SUPPORTED_OPS, "structured")
    interpreter = Interpreter(module, index_bitwidth=64)
    register_loop_implementations(interpreter)
    interpreter.register_implementations(StructuredFunctions(), override=True)
    return interpreter


def _to_numpy(array: Any, index: int) -> np.ndarray:
    if not isinstance(array, ShapedArray):
        raise UnsupportedError(f"result {index} is a scalar, not a tensor")
    return _as_numpy(array).copy()


def _call_on_tensors(
    interpreter: Interpreter,
    func_op: func.FuncOp,
    inputs: Sequence[np.ndarray],
    output_specs: Sequence[tuple[tuple[int, ...], np.dtype[Any]]] | None,
) -> tuple[np.ndarray, ...]:
    types = func_op.function_type.inputs.data
    if len(inputs) != len(types):
        raise ShapeError(f"'{func_op.sym_name.data}' takes {len(types)} tensors, got {len(inputs)}")
    arguments: list[ShapedArray[Any]] = []
    for index, (array, type_) in enumerate(zip(inputs, types, strict=True)):
        if not isinstance(type_, TensorType) or type_.get_element_type() not in BY_ELEMENT:
            raise UnsupportedError(
                f"argument {index} is {type_}, not a tensor of "
                + one_of([row.short for row in TENSOR_DTYPES])
            )
        _check_argument(index, type_, np.shape(array), np.asarray(array).dtype)
        shaped, view = _buffer(type_)
        view[...] = array
        arguments.append(shaped)
    results = interpreter.call_op(func_op.sym_name.data, tuple(arguments))
    outputs = tuple(_to_numpy(result, index) for index, result in enumerate(results))
    if output_specs is None:
        return outputs
    if len(output_specs) != len(outputs):
        raise ShapeError(f"{len(outputs)} results, expected {len(output_specs)}")
    for index, (output, (shape, dtype)) in enumerate(zip(outputs, output_specs, strict=True)):
        if output.shape != tuple(shape):
            raise ShapeError(f"result {index}: shape {output.shape}, expected {tuple(shape)}")
        if output.dtype != np.dtype(dtype):
            raise DTypeError(f"result {index}: dtype {output.dtype}, expected {np.dtype(dtype)}")
    return outputs


def run_structured(
    module: ModuleOp,
    func_name: str,
    inputs: Sequence[np.ndarray],
    output_specs: Sequence[tuple[tuple[int, ...], np.dtype[Any]]] | None = None,
) -> tuple[np.ndarray, ...]:
    """Call `func_name` of a linalg-level module on numpy arrays; return its outputs.

    A function that returns values is on tensors: it gets `inputs` and its results are
    returned (checked against `output_specs` when given). One that returns nothing is on
    memrefs, with the loop level's convention (`call_with_buffers`: inputs, one buffer per
    `output_specs` entry, and the byte workspace if it takes one).
    """
    func_op = SymbolTable.lookup_symbol(module, func_name)
    if not isinstance(func_op, func.FuncOp):
        raise UnsupportedError(f"no function named '{func_name}' in the module")
    interpreter = make_structured_interpreter(module)
    if func_op.function_type.outputs.data:
        return _call_on_tensors(interpreter, func_op, inputs, output_specs)
    if output_specs is None:
        raise ShapeError(f"'{func_name}' writes its outputs into buffers: give output_specs")
    return call_with_buffers(interpreter, func_name, inputs, output_specs)

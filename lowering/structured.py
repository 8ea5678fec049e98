"""Building blocks of the structured level: indexing maps and `linalg.generic` construction.

Shared by convert-graph-to-linalg (which makes generics), the fusion passes (which merge them)
and bufferize (which moves them onto memrefs), so that every pass builds a generic the same way.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from xdsl.builder import ImplicitBuilder
from xdsl.dialects import arith, memref, tensor
from xdsl.dialects.builtin import (
    AffineMapAttr,
    ArrayAttr,
    DenseArrayBase,
    FixedBitwidthType,
    FloatAttr,
    IndexType,
    IntegerAttr,
    IntegerType,
    MemRefType,
    TensorType,
    i64,
)
from xdsl.dialects.linalg import ops as linalg
from xdsl.dialects.linalg.attrs import IteratorTypeAttr
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.ir.affine import AffineConstantExpr, AffineDimExpr, AffineExpr, AffineMap

PARALLEL = IteratorTypeAttr.parallel()
REDUCTION = IteratorTypeAttr.reduction()


def dim(position: int) -> AffineExpr:
    return AffineExpr.dimension(position)


def identity_map(rank: int) -> AffineMap:
    return AffineMap.identity(rank)


def broadcast_map(shape: Sequence[int], out_shape: Sequence[int]) -> AffineMap:
    """Numpy broadcasting of `shape` to `out_shape` as an indexing map over the output's dims.

    Leading dims the operand lacks are dropped; a size-1 dim that broadcasts reads index 0.
    """
    lead = len(out_shape) - len(shape)
    results = [
        AffineExpr.constant(0) if size == 1 and out_shape[lead + k] != 1 else dim(lead + k)
        for k, size in enumerate(shape)
    ]
    return AffineMap(len(out_shape), 0, tuple(results))


def element_bytes(element: Attribute) -> int:
    """Bytes per element: an i1 takes a byte, as a numpy bool does."""
    assert isinstance(element, FixedBitwidthType), f"no fixed width: {element}"
    return -(-element.bitwidth // 8)


def shaped_bytes(type_: Attribute) -> int:
    """Bytes of a statically shaped tensor or memref."""
    return math.prod(type_.get_shape()) * element_bytes(type_.get_element_type())


def scalar_attr(value: int | float, type_: Attribute) -> IntegerAttr[Any] | FloatAttr[Any]:
    if isinstance(type_, IntegerType | IndexType):
        return IntegerAttr(int(value), type_)
    return FloatAttr(float(value), type_)  # type: ignore[arg-type]


def scalar_constant(value: int | float, type_: Attribute) -> SSAValue:
    """An `arith.constant` of element type `type_`, built at the current insertion point."""
    return arith.ConstantOp(scalar_attr(value, type_)).result


def constant_int(value: SSAValue) -> int | None:
    """The value of an integer or index `arith.constant` (None for anything else): the loop
    level's bounds, steps and indices, which the schedules read."""
    owner = value.owner
    if isinstance(owner, arith.ConstantOp) and isinstance(owner.value, IntegerAttr):
        return owner.value.value.data
    return None


def empty_tensor(type_: TensorType) -> SSAValue:
    return tensor.EmptyOp([], type_).tensor


def filled(type_: TensorType, value: int | float) -> SSAValue:
    """A tensor of `type_` holding `value` everywhere: `linalg.fill` of a `tensor.empty`."""
    scalar = scalar_constant(value, type_.get_element_type())
    return linalg.FillOp([scalar], [empty_tensor(type_)], [type_]).res[0]


BodyBuilder = Callable[[Sequence[SSAValue]], Sequence[SSAValue]]
"""Given the block arguments (inputs, then outputs), build the body and return yielded values."""


def build_generic(
    inputs: Sequence[SSAValue],
    input_maps: Sequence[AffineMap],
    outputs: Sequence[SSAValue],
    output_maps: Sequence[AffineMap],
    iterators: Sequence[Attribute],
    body: BodyBuilder,
    block_types: Sequence[Attribute] | None = None,
) -> linalg.GenericOp:
    """A `linalg.generic` (tensor results when the outputs are tensors) with a built body."""
    if block_types is None:
        block_types = [element_type(v.type) for v in (*inputs, *outputs)]
    block = Block(arg_types=block_types)
    with ImplicitBuilder(block):
        linalg.YieldOp(*body(block.args))
    result_types = [v.type for v in outputs if isinstance(v.type, TensorType)]
    return linalg.GenericOp(
        list(inputs),
        list(outputs),
        Region(block),
        [AffineMapAttr(m) for m in (*input_maps, *output_maps)],
        list(iterators),
        result_types,
    )


def element_type(type_: Attribute) -> Attribute:
    """The element type of a shaped type; a scalar type is its own element type."""
    get = getattr(type_, "get_element_type", None)
    return get() if get is not None else type_


def is_pure_dim(expr: AffineExpr) -> bool:
    return isinstance(expr, AffineDimExpr)


def is_constant(expr: AffineExpr) -> bool:
    return isinstance(expr, AffineConstantExpr)


def generic_maps(op: linalg.GenericOp) -> list[AffineMap]:
    return [attr.data for attr in op.indexing_maps.data]


def loop_ranges(op: linalg.GenericOp) -> list[int]:
    """The static size of each loop dim, read off an operand that indexes it with a pure dim."""
    maps = generic_maps(op)
    ranges: list[int | None] = [None] * maps[0].num_dims
    for value, map_ in zip(op.operands, maps, strict=True):
        shape = value.type.get_shape() if hasattr(value.type, "get_shape") else ()
        for expr, size in zip(map_.results, shape, strict=True):
            if isinstance(expr, AffineDimExpr) and ranges[expr.position] is None:
                ranges[expr.position] = size
    assert all(r is not None for r in ranges), f"loop bounds not inferable for {op}"
    return [int(r) for r in ranges if r is not None]


def reassociation(groups: Sequence[Sequence[int]]) -> ArrayAttr[Any]:
    return ArrayAttr([ArrayAttr([IntegerAttr(n, i64) for n in group]) for group in groups])


def reshape(source: SSAValue, out_shape: Sequence[int]) -> SSAValue:
    """`source` (a tensor, or a contiguous memref) seen with `out_shape`, the same elements in
    the same order: `collapse_shape` to rank 1 then `expand_shape`, each left out where the
    rank is already right (a rank-0 value expands to rank 1 and collapses back)."""
    in_shape = tuple(source.type.get_shape())
    out_shape = tuple(out_shape)
    if in_shape == out_shape:
        return source
    if not in_shape:
        # xDSL 0.74 rejects MLIR's `expand_shape %t [] output_shape [1]` of a rank-0 value,
        # so its one element is broadcast instead (a generic that fusion folds into its users).
        assert isinstance(source.type, TensorType), "a rank-0 buffer is never reshaped"
        return build_generic(
            [source],
            [AffineMap(len(out_shape), 0, ())],
            [empty_tensor(TensorType(source.type.get_element_type(), list(out_shape)))],
            [identity_map(len(out_shape))],
            [PARALLEL] * len(out_shape),
            lambda args: [args[0]],
        ).results[0]
    flat = source
    if len(in_shape) != 1:
        flat = _reshape_op(flat, [math.prod(in_shape)], in_shape, [])
    if len(out_shape) == 1:
        return flat
    return _reshape_op(flat, out_shape, out_shape, out_shape)


def _reshape_op(
    source: SSAValue, shape: Sequence[int], grouped: Sequence[int], expanded: Sequence[int]
) -> SSAValue:
    """One collapse_shape or expand_shape of `source` to `shape`, all dims of the higher-rank
    side (`grouped`) in one group; `expanded`: the result shape when it is an expansion."""
    is_tensor = isinstance(source.type, TensorType)
    type_ = (TensorType if is_tensor else MemRefType)(source.type.get_element_type(), list(shape))
    groups = reassociation([list(range(len(grouped)))] if grouped else [])
    properties: dict[str, Attribute] = {"reassociation": groups}
    if len(shape) > len(source.type.get_shape()):
        op_class = tensor.ExpandShapeOp if is_tensor else memref.ExpandShapeOp
        properties["static_output_shape"] = DenseArrayBase.from_list(i64, list(expanded))
    else:
        op_class = tensor.CollapseShapeOp if is_tensor else memref.CollapseShapeOp
    made = op_class.create(operands=[source], result_types=[type_], properties=properties)
    return made.results[0]


def captured_tensors(op: Operation) -> list[SSAValue]:
    """The tensors and memrefs `op`'s regions read from above (not through its operands): the
    source of a gather's `tensor.extract`, what a scatter loop reads. Every pass that reasons
    about what an op reads — liveness, in-place updates, row grouping — must count them."""
    captured: list[SSAValue] = []
    for inner in op.walk():
        if inner is op:
            continue
        for value in inner.operands:
            if not isinstance(value.type, TensorType | MemRefType) or value in captured:
                continue
            defining = value.owner if isinstance(value.owner, Operation) else None
            if defining is None:
                defining = value.owner.parent_op()  # a block argument
            if defining is None or not op.is_ancestor(defining):
                captured.append(value)
    return captured

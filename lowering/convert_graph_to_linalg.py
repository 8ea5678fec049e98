"""convert-graph-to-linalg: every graph op becomes structured ops on tensors.

Each op family is one builder over a table, so adding an op is a row:

    %0 = graph.add %x, %b : tensor<4x3xf32>, tensor<3xf32> -> tensor<4x3xf32>
        ==>
    %e = tensor.empty() : tensor<4x3xf32>
    %0 = linalg.generic {indexing_maps = [(d0, d1) -> (d0, d1), (d0, d1) -> (d1),
                                          (d0, d1) -> (d0, d1)],
                         iterator_types = ["parallel", "parallel"]}
           ins(%x, %b : ...) outs(%e : tensor<4x3xf32>) {
         ^bb0(%a: f32, %v: f32, %out: f32):
           %s = arith.addf %a, %v : f32
           linalg.yield %s : f32
         } -> tensor<4x3xf32>

- elementwise ops (unary, binary, where, astype): parallel iterators over the result, numpy
  broadcasting as indexing maps, the scalar computation from `ELEMENTWISE_BODIES`;
- reductions: the input's dims in order, reduced ones as "reduction" iterators, into a
  `linalg.fill` of the initial value; `REDUCTIONS` holds (initial value, combine, finalize) and a
  finalize (mean's division by the count) is a separate elementwise generic, which fusion may
  merge; `keepdims` is a `tensor.expand_shape` of the reduced tensor (a view once bufferized);
- matmul: a contraction whose loops run (batch, i, k, j), j innermost so the right operand and
  the output are walked with stride 1, accumulating with an explicit `math.fma` (one rounding,
  as BLAS does; the C is built without FP contraction);
- layout ops: transpose and broadcast_to are generics whose input map moves elements; reshape
  is `tensor.collapse_shape` / `tensor.expand_shape` through rank 1 and slice is
  `tensor.extract_slice` (views once bufferized, no copy);
- one_hot compares each label with `linalg.index` of the class dim; pad is a fill of its
  padding value with the input inserted by a strided `tensor.insert_slice`; concat inserts each
  operand at its offset into a `tensor.empty` (no fill: the operands cover it);
- gather reads its source with `tensor.extract` in a generic's body, scatter_add is an
  `scf.for` nest carrying the accumulator tensor (lowering/indexing.py).

Constants become `arith.constant dense<...>` tensors; splats among them are folded into the
bodies of their users by linalg-fuse-elementwise.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from xdsl.builder import ImplicitBuilder
from xdsl.context import Context
from xdsl.dialects import arith, func, tensor
from xdsl.dialects import math as mathd
from xdsl.dialects.builtin import (
    DenseIntOrFPElementsAttr,
    IndexType,
    IntegerType,
    ModuleOp,
    TensorType,
    f64,
)
from xdsl.dialects.linalg import ops as linalg
from xdsl.ir import Attribute, Block, Operation, SSAValue
from xdsl.ir.affine import AffineExpr, AffineMap
from xdsl.passes import ModulePass
from xdsl.rewriter import Rewriter

from aidjit.dialects import graph
from aidjit.dtypes import BY_ELEMENT, TENSOR_DTYPES, one_of
from aidjit.errors import UnsupportedError, blame
from aidjit.lowering.conv import lower_conv2d
from aidjit.lowering.elementwise import ELEMENTWISE_FAMILY_BODIES, ScalarBody, sigmoid
from aidjit.lowering.indexing import lower_gather, lower_scatter_add
from aidjit.lowering.normalization import lower_batch_norm_inference
from aidjit.lowering.pooling import lower_pool2d
from aidjit.lowering.random import lower_random_bits
from aidjit.lowering.statistics import first_position, lower_cumsum
from aidjit.lowering.structured import (
    PARALLEL,
    REDUCTION,
    broadcast_map,
    build_generic,
    dim,
    empty_tensor,
    filled,
    identity_map,
    reshape,
    scalar_constant,
)

# ----- scalar bodies of elementwise ops ---------------------------------------------------------


def _select_mask(type_: Attribute, condition: SSAValue) -> SSAValue:
    one, zero = scalar_constant(1.0, type_), scalar_constant(0.0, type_)
    return arith.SelectOp(condition, one, zero).result


def _sign(type_: Attribute, x: SSAValue) -> SSAValue:
    zero = scalar_constant(0.0, type_)
    negative = arith.SelectOp(
        arith.CmpfOp(x, zero, "olt").result, scalar_constant(-1.0, type_), x
    ).result
    positive = arith.CmpfOp(x, zero, "ogt").result
    return arith.SelectOp(positive, scalar_constant(1.0, type_), negative).result


def _cast(type_: Attribute, x: SSAValue) -> SSAValue:
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


def _select(condition: SSAValue, x: SSAValue, y: SSAValue) -> SSAValue:
    """x where condition is nonzero (nan too: `une`), else y: a select, never a blend."""
    zero = scalar_constant(0, condition.type)
    if isinstance(condition.type, IntegerType):
        nonzero = arith.CmpiOp(condition, zero, "ne").result
    else:
        nonzero = arith.CmpfOp(condition, zero, "une").result
    return arith.SelectOp(nonzero, x, y).result


def _compare(predicate: str) -> ScalarBody:
    return lambda t, a: _select_mask(t, arith.CmpfOp(a[0], a[1], predicate).result)


ELEMENTWISE_BODIES: dict[str, ScalarBody] = {
    "graph.negate": lambda t, a: arith.NegfOp(a[0]).result,
    "graph.abs": lambda t, a: mathd.AbsFOp(a[0]).result,
    "graph.sign": lambda t, a: _sign(t, a[0]),
    "graph.exp": lambda t, a: mathd.ExpOp(a[0]).result,
    "graph.log": lambda t, a: mathd.LogOp(a[0]).result,
    "graph.sqrt": lambda t, a: mathd.SqrtOp(a[0]).result,
    "graph.relu": lambda t, a: arith.MaximumfOp(a[0], scalar_constant(0.0, t)).result,
    "graph.sigmoid": lambda t, a: sigmoid(t, a[0]),
    "graph.tanh": lambda t, a: mathd.TanhOp(a[0]).result,
    "graph.add": lambda t, a: arith.AddfOp(a[0], a[1]).result,
    "graph.subtract": lambda t, a: arith.SubfOp(a[0], a[1]).result,
    "graph.multiply": lambda t, a: arith.MulfOp(a[0], a[1]).result,
    "graph.divide": lambda t, a: arith.DivfOp(a[0], a[1]).result,
    "graph.power": lambda t, a: mathd.PowFOp(a[0], a[1]).result,
    "graph.maximum": lambda t, a: arith.MaximumfOp(a[0], a[1]).result,
    "graph.minimum": lambda t, a: arith.MinimumfOp(a[0], a[1]).result,
    "graph.greater": _compare("ogt"),
    "graph.greater_equal": _compare("oge"),
    "graph.equal": _compare("oeq"),
    "graph.not_equal": _compare("une"),
    "graph.where": lambda t, a: _select(a[0], a[1], a[2]),
    "graph.astype": lambda t, a: _cast(t, a[0]),
    **ELEMENTWISE_FAMILY_BODIES,
}


# ----- reductions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reduction:
    initial: float
    combine: Callable[[SSAValue, SSAValue], SSAValue]
    divide_by_count: bool = False


REDUCTIONS: dict[str, Reduction] = {
    "graph.sum": Reduction(0.0, lambda acc, x: arith.AddfOp(acc, x).result),
    "graph.mean": Reduction(0.0, lambda acc, x: arith.AddfOp(acc, x).result, True),
    "graph.reduce_max": Reduction(-math.inf, lambda acc, x: arith.MaximumfOp(acc, x).result),
    "graph.reduce_min": Reduction(math.inf, lambda acc, x: arith.MinimumfOp(acc, x).result),
}


# ----- the per-op builders ------------------------------------------------------------------------


def _shape(value: SSAValue) -> tuple[int, ...]:
    return tuple(value.type.get_shape())


def _element(value: SSAValue) -> Attribute:
    return value.type.get_element_type()


def _lower_elementwise(op: Operation, operands: Sequence[SSAValue]) -> SSAValue:
    body = ELEMENTWISE_BODIES.get(op.name)
    if body is None:
        raise UnsupportedError(f"convert-graph-to-linalg: no scalar body for {op.name}")
    result_type = op.results[0].type
    out_shape = _shape(op.results[0])
    element = result_type.get_element_type()
    params = op.params() if isinstance(op, graph.ParametrizedUnaryOp) else {}
    generic = build_generic(
        operands,
        [broadcast_map(_shape(v), out_shape) for v in operands],
        [empty_tensor(result_type)],
        [identity_map(len(out_shape))],
        [PARALLEL] * len(out_shape),
        lambda args: [body(element, args[: len(operands)], **params)],
    )
    return generic.results[0]


def _lower_reduction(op: Operation, operands: Sequence[SSAValue]) -> SSAValue:
    assert isinstance(op, graph.ReductionOp)
    (source,) = operands
    return _keep_dims(op, _reduce(source, op.axes.get_values(), REDUCTIONS[op.name]))


def _lower_arg_reduction(op: Operation, operands: Sequence[SSAValue]) -> SSAValue:
    """The extremum (its `REDUCTIONS` row), then the first position holding it
    (lowering/statistics.py says why two passes)."""
    assert isinstance(op, graph.ArgReductionOp)
    (source,) = operands
    axes = op.axes.get_values()
    extremum = _reduce(source, axes, REDUCTIONS[op.EXTREMUM])
    return _keep_dims(op, first_position(source, extremum, axes))


def _keep_dims(op: graph.ReductionOp, reduced: SSAValue) -> SSAValue:
    """`reduced` (the kept dims) with the reduced ones back as size 1 when `keepdims` is set."""
    return reshape(reduced, _shape(op.results[0])) if op.keepdims is not None else reduced


def _reduce(source: SSAValue, axes: Sequence[int], reduction: Reduction) -> SSAValue:
    """`reduction` of `source` over `axes`: a tensor of the kept dims."""
    in_shape = _shape(source)
    element = _element(source)
    kept = [axis for axis in range(len(in_shape)) if axis not in axes]
    reduced_type = TensorType(element, [in_shape[axis] for axis in kept])
    generic = build_generic(
        [source],
        [identity_map(len(in_shape))],
        [filled(reduced_type, reduction.initial)],
        [AffineMap(len(in_shape), 0, tuple(dim(axis) for axis in kept))],
        [REDUCTION if axis in axes else PARALLEL for axis in range(len(in_shape))],
        lambda args: [reduction.combine(args[1], args[0])],
    )
    result = generic.results[0]
    if reduction.divide_by_count:
        count = float(math.prod(in_shape[axis] for axis in axes))
        rank = len(kept)
        result = build_generic(
            [result],
            [identity_map(rank)],
            [empty_tensor(reduced_type)],
            [identity_map(rank)],
            [PARALLEL] * rank,
            lambda args: [arith.DivfOp(args[0], scalar_constant(count, element)).result],
        ).results[0]
    return result


def _lower_matmul(op: Operation, operands: Sequence[SSAValue]) -> SSAValue:
    lhs, rhs = operands
    result_type = op.results[0].type
    out_shape = _shape(op.results[0])
    batch = len(out_shape) - 2
    # Loop dims: (*batch, i, k, j).
    b = [dim(n) for n in range(batch)]
    i, k, j = dim(batch), dim(batch + 1), dim(batch + 2)
    rank = batch + 3
    rhs_batch = b if len(_shape(rhs)) == len(out_shape) else []
    generic = build_generic(
        [lhs, rhs],
        [AffineMap(rank, 0, (*b, i, k)), AffineMap(rank, 0, (*rhs_batch, k, j))],
        [filled(result_type, 0.0)],
        [AffineMap(rank, 0, (*b, i, j))],
        [PARALLEL] * batch + [PARALLEL, REDUCTION, PARALLEL],
        lambda args: [mathd.FmaOp(args[0], args[1], args[2]).result],
    )
    return generic.results[0]


def _layout_map(op: Operation, in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> AffineMap:
    rank = len(out_shape)
    if isinstance(op, graph.TransposeOp):
        results: list[AffineExpr] = [dim(0)] * rank
        for position, axis in enumerate(op.perm.get_values()):
            results[axis] = dim(position)
        return AffineMap(rank, 0, tuple(results))
    if isinstance(op, graph.BroadcastToOp):
        return broadcast_map(in_shape, out_shape)
    raise UnsupportedError(f"convert-graph-to-linalg: no index map for {op.name}")


def _lower_layout(op: Operation, operands: Sequence[SSAValue]) -> SSAValue:
    (source,) = operands
    out_shape = _shape(op.results[0])
    if isinstance(op, graph.ReshapeOp):
        return reshape(source, out_shape)
    if isinstance(op, graph.SliceOp):
        # A view, not a generic: an input map `d_n` would claim the input's extent is the
        # loop's (MLIR's verifier requires it), which a slice's input is not.
        return tensor.ExtractSliceOp.from_static_parameters(
            source, list(op.start.get_values()), list(out_shape), list(op.strides.get_values())
        ).result
    generic = build_generic(
        [source],
        [_layout_map(op, _shape(source), out_shape)],
        [empty_tensor(op.results[0].type)],
        [identity_map(len(out_shape))],
        [PARALLEL] * len(out_shape),
        lambda args: [args[0]],
    )
    return generic.results[0]


def _lower_one_hot(op: Operation, operands: Sequence[SSAValue]) -> SSAValue:
    (labels,) = operands
    result_type = op.results[0].type
    rank = len(_shape(op.results[0]))
    element = result_type.get_element_type()

    def body(args: Sequence[SSAValue]) -> list[SSAValue]:
        label = arith.IndexCastOp(args[0], IndexType()).result
        class_ = linalg.IndexOp(rank - 1).result
        hit = arith.CmpiOp(label, class_, "eq").result
        return [_select_mask(element, hit)]

    generic = build_generic(
        [labels],
        [AffineMap(rank, 0, tuple(dim(n) for n in range(rank - 1)))],
        [empty_tensor(result_type)],
        [identity_map(rank)],
        [PARALLEL] * rank,
        body,
    )
    return generic.results[0]


def _lower_pad(op: Operation, operands: Sequence[SSAValue]) -> SSAValue:
    """A fill of the padding value, with the input inserted at `low + i * (interior + 1)`:
    `tensor.insert_slice` of the input into the fill, as MLIR pads with interior padding."""
    assert isinstance(op, graph.PadOp)
    (source,) = operands
    params = op.params()
    strides = [gap + 1 for gap in params["interior"]]
    padding = filled(op.results[0].type, params["value"])
    return tensor.InsertSliceOp.from_static_parameters(
        source, padding, list(params["low"]), list(_shape(source)), strides
    ).result


def _lower_concat(op: Operation, operands: Sequence[SSAValue]) -> SSAValue:
    """Each operand inserted at its offset along the axis of a `tensor.empty`: the operands
    cover the result, so nothing fills it first. Empty operands insert nothing; a result with
    no elements at all is an (empty) fill, so it still has a defining op that writes it."""
    assert isinstance(op, graph.ConcatOp)
    result_type = op.results[0].type
    axis = op.params()["axis"]
    present = [source for source in operands if math.prod(_shape(source))]
    if not present:
        return filled(result_type, 0)
    joined = empty_tensor(result_type)
    offset = 0
    for source in present:
        offsets = [0] * len(_shape(source))
        offsets[axis] = offset
        joined = tensor.InsertSliceOp.from_static_parameters(
            source, joined, offsets, list(_shape(source)), [1] * len(offsets)
        ).result
        offset += _shape(source)[axis]
    return joined


def _lower_constant(op: Operation, operands: Sequence[SSAValue]) -> SSAValue:
    assert isinstance(op, graph.ConstantOp)
    value: Attribute = op.value
    type_ = op.result.type
    if math.prod(type_.get_shape()) == 0:
        # No element to hold: any splat will do, and a splat never needs storage.
        value = DenseIntOrFPElementsAttr.from_list(type_, [0])
    return arith.ConstantOp(value, type_).result


Lowering = Callable[[Operation, Sequence[SSAValue]], SSAValue]

FAMILY_LOWERINGS: tuple[tuple[type[Operation], Lowering], ...] = (
    (graph.ConstantOp, _lower_constant),
    (graph.ElementwiseUnaryOp, _lower_elementwise),
    (graph.ElementwiseBinaryOp, _lower_elementwise),
    (graph.WhereOp, _lower_elementwise),
    (graph.AstypeOp, _lower_elementwise),
    (graph.ArgReductionOp, _lower_arg_reduction),  # before ReductionOp, its base
    (graph.ReductionOp, _lower_reduction),
    (graph.CumsumOp, lower_cumsum),
    (graph.MatmulOp, _lower_matmul),
    (graph.LayoutOp, _lower_layout),
    (graph.OneHotOp, _lower_one_hot),
    (graph.PadOp, _lower_pad),
    (graph.ConcatOp, _lower_concat),
    (graph.Conv2dOp, lower_conv2d),
    (graph.Pool2dOp, lower_pool2d),
    (graph.BatchNormInferenceOp, lower_batch_norm_inference),
    (graph.GatherOp, lower_gather),
    (graph.ScatterAddOp, lower_scatter_add),
    (graph.RandomBitsOp, lower_random_bits),
)


def lower_op(op: Operation) -> SSAValue:
    """Build the structured ops computing `op` before it; return the value replacing its result."""
    lowering = next((f for family, f in FAMILY_LOWERINGS if isinstance(op, family)), None)
    if lowering is None:
        raise blame(UnsupportedError(f"convert-graph-to-linalg: no lowering for {op.name}"), op)
    block = op.parent_block()
    assert block is not None
    staging = Block()
    with ImplicitBuilder(staging):
        result = lowering(op, list(op.operands))
    for new in list(staging.ops):
        new.detach()
        block.insert_op_before(new, op)
    return result


@dataclass(frozen=True)
class ConvertGraphToLinalgPass(ModulePass):
    """Lower graph-dialect ops to linalg, tensor and arith ops on tensors.

    Function signatures are unchanged (tensors in, tensors out); shapes must be static and
    element types f32, f64 or i64 (checked, with the op at fault named).
    """

    name = "convert-graph-to-linalg"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for function in op.body.block.ops:
            if not isinstance(function, func.FuncOp):
                continue
            check_tensor_types(function)
            for graph_op in list(function.body.block.ops):
                if isinstance(graph_op, graph.ConstantOp | graph.GraphOp):
                    replacement = lower_op(graph_op)
                    Rewriter.replace_op(graph_op, [], [replacement])


def check_tensor_types(function: func.FuncOp) -> None:
    """Static shapes of f32, f64 or i64 only: anything else would lower to wrong loops."""
    values = [*function.body.block.args]
    values += [result for op in function.walk() for result in op.results]
    for value in values:
        type_ = value.type
        if not isinstance(type_, TensorType):
            continue
        where = f"convert-graph-to-linalg: @{function.sym_name.data}"
        at = value.owner if isinstance(value.owner, Operation) else function
        if any(size < 0 for size in type_.get_shape()):
            message = f"{where}: dynamic shape in {type_}; aidjit needs static shapes"
            raise blame(UnsupportedError(message), at)
        if type_.get_element_type() not in BY_ELEMENT:
            names = one_of([row.short for row in TENSOR_DTYPES])
            message = f"{where}: element type of {type_} is not supported; use {names}"
            raise blame(UnsupportedError(message), at)

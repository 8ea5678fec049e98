"""linalg-fuse-elementwise: producer -> consumer fusion of `linalg.generic` ops on tensors.

The pass follows MLIR's ElementwiseOpFusion: a producer whose iterators are all parallel and
whose result map is the identity is inlined into the body of a consumer generic (elementwise or
a reduction, where it becomes the reduction's prologue), its inputs becoming the consumer's
with composed indexing maps (`producer input map ∘ consumer operand map`). W1's chain of twelve
elementwise ops becomes one generic, so one loop nest and no temporary.

What fuses is decided by a cost rule, so fusion never makes the program do more work than the
memory traffic it saves:
- a producer computed once per element it makes (the consumer reads it once, through an
  injective map) fuses when the consumer is its only user, or when it is cheap (no
  transcendental: exp, log, tanh, pow, ...), small (`MAX_DUPLICATED_OPS`) and every one of its
  users can absorb it, so it disappears;
- a producer that is only data movement or a constant (its body computes nothing) fuses into
  every consumer, whatever the map (a broadcast, a transpose, a strided slice);
- everything else stays: an expensive producer with several users (softmax's `exp(x - max)`,
  read by the sum and by the division) is computed once and stored; a producer read through a
  broadcast (a per-row mean subtracted from every element of the row) is not recomputed per
  element; and nothing fuses into a contraction (a consumer with reduction loops, which reads
  its operands many times) if its innermost loop would then stride through memory: `q @ k.T`
  keeps the transpose as a copy, so the matmul's inner loop stays unit-stride.

Two clean-ups run with it, also as in MLIR: splat constants and fills read as inputs become
scalar constants inside the body, and an operand passed twice with the same map is read once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from xdsl.builder import ImplicitBuilder
from xdsl.context import Context
from xdsl.dialects import arith, tensor
from xdsl.dialects import math as mathd
from xdsl.dialects.builtin import (
    AffineMapAttr,
    DenseIntOrFPElementsAttr,
    IndexType,
    ModuleOp,
)
from xdsl.dialects.linalg import ops as linalg
from xdsl.ir import Block, Operation, Region, SSAValue
from xdsl.ir.affine import AffineBinaryOpExpr, AffineBinaryOpKind, AffineMap
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)

from aidjit.dialects.graph import splat_value
from aidjit.lowering.structured import (
    PARALLEL,
    generic_maps,
    is_constant,
    is_pure_dim,
    reshape,
    scalar_attr,
    scalar_constant,
)

EXPENSIVE_OPS: tuple[type[Operation], ...] = (
    mathd.ExpOp,
    mathd.LogOp,
    mathd.TanhOp,
    mathd.PowFOp,
    mathd.SinOp,
    mathd.CosOp,
    mathd.ErfOp,
    mathd.Log1pOp,
    mathd.ExpM1Op,
)
"""Body ops worth more than a load and a store: a producer holding one is never duplicated."""


def is_expensive(generic: linalg.GenericOp) -> bool:
    return any(isinstance(op, EXPENSIVE_OPS) for op in generic.body.block.ops)


def computes_nothing(generic: linalg.GenericOp) -> bool:
    """The body only moves an input or a constant to the output: a layout op or a fill."""
    return all(isinstance(op, arith.ConstantOp | linalg.YieldOp) for op in generic.body.block.ops)


def all_parallel(generic: linalg.GenericOp) -> bool:
    return all(it == PARALLEL for it in generic.iterator_types.data)


def is_injective(map_: AffineMap) -> bool:
    """Every loop dim appears in exactly one result, each result is `c * d + k` (c != 0) or a
    constant: distinct iterations read distinct elements. Conservative (false if unsure)."""
    seen: list[int] = []
    for expr in map_.results:
        if is_constant(expr):
            continue
        position = _scaled_dim(expr)
        if position is None:
            return False
        seen.append(position)
    return sorted(seen) == list(range(map_.num_dims))


def _scaled_dim(expr: object) -> int | None:
    """The dim of `d`, `d * c` or `d * c + k` (c a non-zero constant), else None."""
    if is_pure_dim(expr):  # type: ignore[arg-type]
        return expr.position  # type: ignore[attr-defined]
    if not isinstance(expr, AffineBinaryOpExpr):
        return None
    if expr.kind == AffineBinaryOpKind.Add and is_constant(expr.rhs):
        return _scaled_dim(expr.lhs)
    if expr.kind == AffineBinaryOpKind.Mul and is_constant(expr.rhs) and expr.rhs.value != 0:
        return expr.lhs.position if is_pure_dim(expr.lhs) else None
    return None


def fusable_producer(generic: linalg.GenericOp) -> bool:
    """A single-result, all-parallel generic writing its result in order, reading no output."""
    if len(generic.outputs) != 1 or not all_parallel(generic):
        return False
    out_map = generic_maps(generic)[-1]
    if out_map != AffineMap.identity(out_map.num_dims):
        return False
    return not generic.body.block.args[-1].uses


def _takes_as_input(user: Operation, value: SSAValue) -> bool:
    return isinstance(user, linalg.GenericOp) and value in user.inputs and value not in user.outputs


def strides_a_contraction(
    producer: linalg.GenericOp, consumer: linalg.GenericOp, map_: AffineMap
) -> bool:
    """Fusing would make a consumer with reduction loops (a matmul, which reads each operand
    many times) walk a producer input with a stride in its innermost loop: a transpose fused
    into `q @ k.T` turns the contraction's unit-stride inner loop into a strided one."""
    if all(it == PARALLEL for it in consumer.iterator_types.data):
        return False
    innermost = map_.num_dims - 1
    for producer_map in generic_maps(producer)[: len(producer.inputs)]:
        results = producer_map.compose(map_).results
        used = [n for n, e in enumerate(results) if innermost in e.used_dims()]
        if used and used != [len(results) - 1]:
            return True
    return False


def should_fuse(producer: linalg.GenericOp, consumer: linalg.GenericOp, map_: AffineMap) -> bool:
    """The cost rule of the module docstring."""
    if strides_a_contraction(producer, consumer, map_):
        return False
    if computes_nothing(producer):
        return True
    if not is_injective(map_):
        return False
    result = producer.res[0]
    if sum(value is result for value in consumer.inputs) > 1:
        return False  # read through two maps (x.T * x): fusing would compute it twice
    users = {use.operation for use in result.uses}
    if users == {consumer}:
        return True
    if is_expensive(producer) or _body_size(producer) > MAX_DUPLICATED_OPS:
        return False
    return all(_takes_as_input(user, result) for user in users)


MAX_DUPLICATED_OPS = 4
"""A cheap producer is copied into several users only while it is this small: each copy is
recomputed per element, and a chain (`x = x.T * x + 1`, repeated) would otherwise double its
body at every step."""


def _body_size(generic: linalg.GenericOp) -> int:
    return sum(
        not isinstance(op, arith.ConstantOp | linalg.YieldOp) for op in generic.body.block.ops
    )


def _bounds_still_known(maps: Sequence[AffineMap]) -> bool:
    """Every loop dim is still indexed by a pure dim somewhere (the loop bounds come from it)."""
    num_dims = maps[0].num_dims
    covered = {expr.position for m in maps for expr in m.results if is_pure_dim(expr)}
    return covered == set(range(num_dims))


def _rebuild(
    generic: linalg.GenericOp,
    inputs: Sequence[SSAValue],
    input_maps: Sequence[AffineMap],
    block: Block,
) -> linalg.GenericOp:
    """`generic` with new inputs, their maps and a new body (outputs and iterators kept)."""
    output_maps = generic_maps(generic)[len(generic.inputs) :]
    fused = linalg.GenericOp(
        list(inputs),
        list(generic.outputs),
        Region(block),
        [AffineMapAttr(m) for m in (*input_maps, *output_maps)],
        generic.iterator_types,
        [r.type for r in generic.res],
    )
    fused.attributes |= generic.attributes
    return fused


class FuseProducerIntoConsumer(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, consumer: linalg.GenericOp, rewriter: PatternRewriter) -> None:
        maps = generic_maps(consumer)
        for index, operand in enumerate(consumer.inputs):
            producer = operand.owner
            if not isinstance(producer, linalg.GenericOp) or not fusable_producer(producer):
                continue
            if not should_fuse(producer, consumer, maps[index]):
                continue
            fused = _fuse(producer, consumer, index)
            if fused is None:
                continue
            rewriter.replace(consumer, fused)
            if not producer.res[0].uses:
                rewriter.erase(producer)
            return


def _fuse(
    producer: linalg.GenericOp, consumer: linalg.GenericOp, index: int
) -> linalg.GenericOp | None:
    maps = generic_maps(consumer)
    consumer_map = maps[index]
    producer_maps = generic_maps(producer)[: len(producer.inputs)]
    moved_maps = [m.compose(consumer_map) for m in producer_maps]
    inputs = [*consumer.inputs[:index], *producer.inputs, *consumer.inputs[index + 1 :]]
    input_maps = [*maps[:index], *moved_maps, *maps[index + 1 : len(consumer.inputs)]]
    if not _bounds_still_known([*input_maps, *maps[len(consumer.inputs) :]]):
        return None
    if _uses_index(producer) and not all(
        is_pure_dim(e) or is_constant(e) for e in consumer_map.results
    ):
        return None
    old_args = consumer.body.block.args
    producer_args = producer.body.block.args
    block = Block(
        arg_types=[
            *(a.type for a in old_args[:index]),
            *(a.type for a in producer_args[: len(producer.inputs)]),
            *(a.type for a in old_args[index + 1 :]),
        ]
    )
    new_args = list(block.args)
    moved = len(producer.inputs)
    producer_mapping: dict[SSAValue, SSAValue] = dict(
        zip(producer_args[:moved], new_args[index : index + moved], strict=True)
    )
    value = clone_body(producer.body.block, block, producer_mapping, consumer_map)[0]
    mapping: dict[SSAValue, SSAValue] = {old_args[index]: value}
    for position, arg in enumerate(old_args):
        if position < index:
            mapping[arg] = new_args[position]
        elif position > index:
            mapping[arg] = new_args[position - 1 + moved]
    yielded = clone_body(consumer.body.block, block, mapping)
    end_body(block, yielded)
    return _rebuild(consumer, inputs, input_maps, block)


def _uses_index(generic: linalg.GenericOp) -> bool:
    return any(isinstance(op, linalg.IndexOp) for op in generic.body.block.ops)


def clone_body(
    source: Block,
    target: Block,
    mapping: dict[SSAValue, SSAValue],
    dims: AffineMap | None = None,
) -> list[SSAValue]:
    """Clone `source`'s ops (not its yield) into `target`; return the values it yields.

    `dims` re-expresses the source's loop dims in the target's (a producer fused through
    the consumer's map): each `linalg.index d` becomes the index its result `d` names, a dim
    of the target or a constant. Built under `target`'s own ImplicitBuilder, so it works
    inside a caller's builder too (every op created there would otherwise land in the
    caller's block)."""
    with ImplicitBuilder(target):
        for op in source.ops:
            if isinstance(op, linalg.YieldOp):
                return [mapping.get(v, v) for v in op.operands]
            if isinstance(op, linalg.IndexOp) and dims is not None:
                expr = dims.results[op.dim.value.data]
                if is_constant(expr):
                    index = scalar_constant(expr.value, IndexType())  # type: ignore[attr-defined]
                else:
                    index = linalg.IndexOp(expr.position).result  # type: ignore[attr-defined]
                mapping[op.result] = index
                continue
            op.clone(value_mapper=mapping)
    raise AssertionError("a linalg.generic body ends with linalg.yield")


def end_body(block: Block, values: Sequence[SSAValue]) -> None:
    """Terminate a body block with `linalg.yield values`."""
    with ImplicitBuilder(block):
        linalg.YieldOp(*values)


def _constant_input(value: SSAValue) -> tuple[int | float, object] | None:
    """(value, element type) when `value` is a splat constant or a fill of a constant."""
    owner = value.owner
    if isinstance(owner, arith.ConstantOp) and isinstance(owner.value, DenseIntOrFPElementsAttr):
        splat = splat_value(owner.value)
        if splat is None and not owner.value.data.data:
            splat = 0  # no element: any value will do
        if splat is not None:
            return splat, owner.value.get_element_type()
    if isinstance(owner, linalg.FillOp):
        fill_value = owner.inputs[0].owner
        if isinstance(fill_value, arith.ConstantOp):
            return fill_value.value.value.data, fill_value.result.type  # type: ignore[union-attr]
    return None


class FoldConstantInputs(RewritePattern):
    """Splat or filled inputs become scalar constants in the body; duplicate inputs merge."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, generic: linalg.GenericOp, rewriter: PatternRewriter) -> None:
        maps = generic_maps(generic)
        args = generic.body.block.args
        keep: list[int] = []
        replacement: dict[int, SSAValue | int] = {}
        seen: dict[tuple[SSAValue, AffineMap], int] = {}
        constants: list[tuple[int, int | float, object]] = []
        for position, value in enumerate(generic.inputs):
            constant = _constant_input(value)
            if constant is not None:
                constants.append((position, *constant))
                continue
            key = (value, maps[position])
            if key in seen:
                replacement[position] = seen[key]
                continue
            seen[key] = position
            keep.append(position)
        if len(keep) == len(generic.inputs):
            return
        block = Block(
            arg_types=[args[p].type for p in keep] + [a.type for a in args[len(generic.inputs) :]]
        )
        new_args = list(block.args)
        mapping: dict[SSAValue, SSAValue] = {}
        for new_position, old_position in enumerate(keep):
            mapping[args[old_position]] = new_args[new_position]
        for position, duplicate_of in replacement.items():
            mapping[args[position]] = mapping[args[duplicate_of]]  # type: ignore[index]
        for position, value, type_ in constants:
            with ImplicitBuilder(block):
                constant_op = arith.ConstantOp(scalar_attr(value, type_))  # type: ignore[arg-type]
            mapping[args[position]] = constant_op.result
        outputs = args[len(generic.inputs) :]
        for old, new in zip(outputs, new_args[len(keep) :], strict=True):
            mapping[old] = new
        yielded = clone_body(generic.body.block, block, mapping)
        end_body(block, yielded)
        fused = _rebuild(generic, [generic.inputs[p] for p in keep], [maps[p] for p in keep], block)
        rewriter.replace(generic, fused)


class ComposeReshapes(RewritePattern):
    """A reshape of a reshape is one reshape, or none when it restores the original shape
    (keepdims reductions reshaped back by the graph: W6's mean becomes its own output)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(
        self, op: tensor.CollapseShapeOp | tensor.ExpandShapeOp, rewriter: PatternRewriter
    ) -> None:
        inner = op.operands[0].owner
        if not isinstance(inner, tensor.CollapseShapeOp | tensor.ExpandShapeOp):
            return
        source = inner.operands[0]
        shape = op.results[0].type.get_shape()
        if source.type == op.results[0].type:
            rewriter.replace(op, [], [source])
            return
        if not source.type.get_shape():
            return  # from rank 0, a reshape is a broadcast generic (see structured.reshape)
        staging = Block()
        with ImplicitBuilder(staging):
            composed = reshape(source, shape)
        new_ops = list(staging.ops)
        if len(new_ops) > 1:
            # Through rank 1 again: no fewer reshapes (and rewriting would not end). The staged
            # ops are erased, or their uses of `source` would outlive them and miscount its
            # users (bufferize then copied a returned value instead of writing it in place).
            for new in reversed(new_ops):
                new.detach()
                new.erase()
            return
        for new in new_ops:
            new.detach()
        rewriter.replace(op, new_ops, [composed])


class EraseUnusedFill(RewritePattern):
    """A fill on tensors whose result nobody reads (left by folding it into a body): linalg.fill
    is not marked pure in xDSL 0.74, so dce keeps it."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, fill: linalg.FillOp, rewriter: PatternRewriter) -> None:
        if fill.res and not any(result.uses for result in fill.res):
            rewriter.erase(fill)


@dataclass(frozen=True)
class LinalgFuseElementwisePass(ModulePass):
    """Fuse elementwise producers into their consumer generics, under the cost rule.

    Also folds splat and filled inputs into the bodies and merges duplicate inputs.
    """

    name = "linalg-fuse-elementwise"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        PatternRewriteWalker(
            GreedyRewritePatternApplier(
                [
                    FoldConstantInputs(),
                    FuseProducerIntoConsumer(),
                    ComposeReshapes(),
                    EraseUnusedFill(),
                ],
                ctx=ctx,
                dce_enabled=True,
            ),
            apply_recursively=True,
        ).rewrite_module(op)

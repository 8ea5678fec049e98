"""vectorize-loops: innermost loops over contiguous elements become `vector` dialect ops.

gcc vectorises what it can prove legal and profitable; without `-ffast-math` that excludes
every reduction (it may not reassociate), and through the workspace's views it often cannot
prove two buffers apart. This pass writes the vectors explicitly, from facts the loop level
knows (buffers never alias, shapes are static), with upstream `vector` ops that the C emitter
spells as GCC vector extensions (runtime/emit_vector.py).

An innermost `scf.for` with constant bounds, step 1 and no iter_args, over `trip` iterations,
is vectorised by `lanes` = vector-bytes / (widest element it computes on) when its body holds
only memref.load/store and arith/math ops that have vector forms:

    scf.for %i = 0 to 35 {                       %c0 = ...; %c32 = ...; %c16 = ...
      %a = memref.load %x[%r, %i]                scf.for %i = %c0 to %c32 step %c16 {
      %b = memref.load %s[%r]           ->         %a = vector.load %x[%r, %i] : vector<16xf32>
      %c = arith.mulf %a, %b                       %b = memref.load %s[%r]
      memref.store %c, %y[%r, %i]                  %bv = vector.broadcast %b
    }                                              %c = arith.mulf %a, %bv : vector<16xf32>
                                                   vector.store %c, %y[%r, %i]
                                                 }
                                                 scf.for %i = %c32 to 35 { <the scalar loop> }

- the induction variable may only be the LAST index of a load or store, on a memref whose
  last stride is 1 (a vector load/store); a load without it is scalar and broadcast; index
  arithmetic on it (gathers, strides), nested regions, calls leave the loop scalar;
- an op computing on lanes must have a vector form in the emitter (`VECTOR_OPS`), or be one
  that expand-math (running next) rewrites into such ops (its `EXPANSIONS`);
- a store to an address the induction variable does not reach must be a reduction,
  `store(combine(load(same address), value))` with combine addf/mulf/maximumf/minimumf: it
  becomes `vector.reduction <kind>, %value, %acc`, which folds the lanes into the accumulator
  in order, lane 0 first (runtime/emit_vector.py): the same operations in the same order as
  the scalar loop, so the result is bitwise the scalar one;
- every buffer the loop writes is reached only through one memref value at the induction
  variable (each iteration then touches its own elements), or only by its one reduction; a
  buffer is a function argument, an allocation or one view of the workspace (buffers of one
  nest never share bytes, transforms/memory_plan.py), seen through reshapes and subviews.

Trip counts below `lanes` stay scalar; a remainder is the original loop, started where the
vector loop ends (a scalar epilogue); a vector loop of at most `UNROLL_LIMIT` steps is
unrolled, so that what it loads and stores sits in its parent's body.

Then vectors are kept in registers: a loop whose body loads a vector at an address it does not
change and stores it back there (the accumulators of linalg-split-reduction, `acc[r, l] +=
x[r, k, l]`), with nothing else in it touching that buffer, carries the vector as an iter_arg
instead, loaded before the loop and stored after it; outward while the address stays
invariant. Last, a vector load of what the same block just stored there (nothing writing over
it in between) reads the stored value instead, and the stores to a workspace buffer that
nothing reads any more are dropped: an accumulator then never touches memory.

Option `vector-bytes`: bytes per vector register (64 on AVX-512, 32 on AVX2, from
`aidjit.runtime.target`); 0 leaves every loop scalar. Runs at the loop level, after
convert-linalg-to-fused-loops and tile-contractions, before expand-math.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import combinations

from xdsl.builder import Builder
from xdsl.context import Context
from xdsl.dialects import arith, func, math, memref, scf, vector
from xdsl.dialects.builtin import (
    DenseIntOrFPElementsAttr,
    FloatAttr,
    IndexType,
    IntegerAttr,
    MemRefType,
    ModuleOp,
    VectorType,
    f32,
    f64,
    i1,
    i32,
    i64,
)
from xdsl.ir import Attribute, Block, BlockArgument, Operation, Region, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from aidjit.dialects.xdsl_fixes import VECTOR_AWARE_OPS, make_reduction
from aidjit.errors import PipelineError
from aidjit.lowering.structured import constant_int
from aidjit.runtime import emit_vector
from aidjit.runtime.strided import static_layout
from aidjit.transforms.expand_math import EXPANSIONS

VECTOR_OPS: frozenset[type[Operation]] = frozenset(
    {
        *emit_vector.NATIVE,
        *emit_vector.CONVERSIONS,
        *emit_vector.HELPER_CALLS,
        *emit_vector.LIBMVEC_OPS,
        arith.CmpfOp,
        arith.CmpiOp,
        arith.SelectOp,
        arith.BitcastOp,
        math.FmaOp,
        math.SqrtOp,
        *EXPANSIONS,
    }
)
"""arith/math ops this pass computes on vectors: those the C emitter writes on vectors
(`_FunctionEmitter.vector_expression`: GCC operators, conversions, helpers, comparisons,
selects, bitcasts, the FMA and square-root intrinsics) and those expand-math rewrites into
them."""

REDUCTIONS: dict[type[Operation], str] = {
    arith.AddfOp: "add",
    arith.MulfOp: "mul",
    arith.MaximumfOp: "maximumf",
    arith.MinimumfOp: "minimumf",
}
"""Combiners of a reduction into a fixed address, by the `vector.reduction` kind folding lanes
the same way (the kinds of emit_vector.REDUCTION_KINDS)."""

_ELEMENT_BYTES: dict[Attribute, int] = {f32: 4, f64: 8, i32: 4, i64: 8}
"""Element types of vector lanes in memory and in arithmetic; `i1` lanes are masks only."""

_INTRINSIC_BITS = (128, 256, 512)
"""Vector widths of the FMA and square-root intrinsics (emit_vector)."""

UNROLL_LIMIT = 4
"""Vector loops of at most this many steps are unrolled (a split-reduction accumulator is one
register on AVX-512, two on AVX2): their loads and stores then sit in the enclosing loop's body,
where they can be kept in registers."""

_UPSTREAM: dict[type[Operation], type[Operation]] = {op: op.__base__ for op in VECTOR_AWARE_OPS}
_VECTOR_AWARE: dict[type[Operation], type[Operation]] = {op.__base__: op for op in VECTOR_AWARE_OPS}
_RESHAPES = (memref.CollapseShapeOp, memref.ExpandShapeOp, memref.SubviewOp)
_VIEWS = (*_RESHAPES, memref.ViewOp)
"""Ops that only name memory: they neither read nor write it."""


def _op_class(op: Operation) -> type[Operation]:
    """The upstream class of `op` (xdsl_fixes' vector-aware ops count as xDSL's)."""
    return _UPSTREAM.get(type(op), type(op))


def buffer_of(ref: SSAValue) -> SSAValue:
    """The buffer `ref` addresses: through reshapes and subviews, to a function argument, an
    allocation or a `memref.view` of the workspace (each view one buffer of the plan)."""
    while isinstance(ref.owner, _RESHAPES):
        ref = ref.owner.operands[0]
    return ref


def _accessed_memref(op: Operation) -> SSAValue | None:
    if isinstance(op, memref.LoadOp | memref.StoreOp):
        return op.memref
    if isinstance(op, vector.LoadOp | vector.StoreOp):
        return op.base
    return None


def _touched(op: Operation) -> set[SSAValue]:
    """The buffers `op` (not its nested ops) reads or writes, or does something with a memref
    of that this pass cannot see through (a call, a copy)."""
    accessed = _accessed_memref(op)
    if accessed is not None:
        return {buffer_of(accessed)}
    if isinstance(op, _VIEWS):
        return set()
    return {buffer_of(value) for value in op.operands if isinstance(value.type, MemRefType)}


def _touches(op: Operation, buffer: SSAValue) -> bool:
    return buffer in _touched(op)


def _defined_outside(value: SSAValue, op: Operation) -> bool:
    owner = value.block.parent_op() if isinstance(value, BlockArgument) else value.owner
    return owner is None or not (owner is op or op.is_ancestor(owner))


def _contiguous(ref: SSAValue) -> bool:
    layout = static_layout(ref.type) if isinstance(ref.type, MemRefType) else None
    return layout is not None and len(layout.strides) > 0 and layout.strides[-1] == 1


def _lane_type(type_: Attribute) -> Attribute | None:
    """`type_` if lanes of it can be computed on: a vector element type or `i1`."""
    return type_ if type_ in _ELEMENT_BYTES or type_ == i1 else None


# ----- which loops, and how ----------------------------------------------------------------------


@dataclass
class Reduction:
    """`store(combine(load(address), value), address)`, the address fixed in the loop."""

    load: memref.LoadOp
    combine: Operation
    store: memref.StoreOp
    value: SSAValue
    """The combine's other operand: what is reduced."""

    @property
    def kind(self) -> str:
        return REDUCTIONS[type(self.combine)]


@dataclass
class LoopPlan:
    """What vectorising one loop means: which values become vectors, at how many lanes."""

    loop: scf.ForOp
    lower: int
    trip: int
    lanes: int
    varying: set[SSAValue]
    """Values that become vectors (one lane per iteration)."""
    broadcast: dict[SSAValue, None]
    """Loop-invariant scalars a vector op takes: broadcast to all lanes. An insertion-ordered
    set (a dict), so the broadcasts are emitted in first-use order: a `set` of SSA values
    iterates in address order, and the C (so the cache key) would change between processes."""
    reductions: dict[Operation, Reduction]
    """Each reduction by its store (its load stays scalar, its combine is replaced)."""


class _Refused(Exception):
    """This loop stays scalar (the reason is for the reader of `plan_loop`)."""


def _find_reductions(ops: Sequence[Operation], iv: SSAValue) -> dict[Operation, Reduction]:
    """Stores whose address does not depend on the loop, each a reduction or a refusal."""
    found: dict[Operation, Reduction] = {}
    for store in ops:
        if not isinstance(store, memref.StoreOp) or iv in store.indices:
            continue
        combine = store.value.owner
        if type(combine) not in REDUCTIONS or combine not in ops or not store.value.has_one_use():
            raise _Refused("a store to a fixed address that is not a reduction")
        for operand, other in (combine.operands, reversed(combine.operands)):
            load = operand.owner
            if (
                isinstance(load, memref.LoadOp)
                and load in ops
                and load.memref == store.memref
                and list(load.indices) == list(store.indices)
                and load.res.has_one_use()
            ):
                found[store] = Reduction(load, combine, store, other)
                break
        else:
            raise _Refused("a combine of something other than the stored address")
    return found


class _Planner:
    """Classifies the ops of one loop body: which values vary with the lanes."""

    def __init__(self, loop: scf.ForOp) -> None:
        self.loop = loop
        self.iv = loop.body.block.args[0]
        self.ops = list(loop.body.block.ops)[:-1]  # without the yield
        self.reductions = _find_reductions(self.ops, self.iv)
        self.varying: set[SSAValue] = set()
        self.broadcast: dict[SSAValue, None] = {}
        self.lane_types: list[Attribute] = []
        """Element types the vectors hold (the widest decides the lane count)."""
        self.lane_ops: list[Operation] = []
        self.vector_accesses: list[Operation] = []

    def vector_of(self, value: SSAValue) -> None:
        """`value` as an operand of a vector op: a vector already, or broadcast."""
        if value in self.varying:
            return
        if value.type not in _ELEMENT_BYTES:  # i1 masks are not broadcast (see emit_vector)
            raise _Refused(f"broadcasting {value.type}")
        self.broadcast[value] = None

    def address(self, op: memref.LoadOp | memref.StoreOp) -> bool:
        """Whether the access is at lanes of the induction variable (else a fixed address)."""
        indices = list(op.indices)
        if self.iv not in indices:
            return False
        if indices.index(self.iv) != len(indices) - 1 or indices.count(self.iv) != 1:
            raise _Refused("the induction variable indexes a dimension other than the last")
        if not _contiguous(op.memref):
            raise _Refused(f"a strided access to {op.memref.type}")
        element = op.memref.type.get_element_type()
        if element not in _ELEMENT_BYTES:
            raise _Refused(f"lanes of {element} in memory")
        self.lane_types.append(element)
        self.vector_accesses.append(op)
        return True

    def classify(self, op: Operation) -> None:
        if self.iv in op.operands and not isinstance(op, memref.LoadOp | memref.StoreOp):
            raise _Refused(f"'{op.name}' computes with the induction variable")
        if op.regions:
            raise _Refused(f"'{op.name}' has regions")
        if isinstance(op, memref.LoadOp):
            if self.address(op):
                self.varying.add(op.res)
            return
        if isinstance(op, memref.StoreOp):
            if op in self.reductions:
                self.vector_of(self.reductions[op].value)
                self.lane_types.append(op.value.type)
            elif self.address(op):
                self.vector_of(op.value)
            return
        if op.dialect_name() not in ("arith", "math"):
            raise _Refused(f"'{op.name}' in the loop")
        if any(r.combine is op for r in self.reductions.values()):
            return
        if not any(value in self.varying for value in op.operands):
            return  # computed once per vector step, as a scalar
        self.vectorize_op(op)

    def vectorize_op(self, op: Operation) -> None:
        kind = _op_class(op)
        if kind not in VECTOR_OPS:
            raise _Refused(f"'{op.name}' has no vector form")
        if kind is arith.CmpiOp and emit_vector.CMPI_SIGNED[op.predicate.value.data] is None:
            raise _Refused("an unsigned comparison")
        for value in (*op.operands, *op.results):
            if _lane_type(value.type) is None:
                raise _Refused(f"'{op.name}' on {value.type}")
        for operand in op.operands:
            self.vector_of(operand)
        self.lane_types.extend(r.type for r in op.results if r.type != i1)
        self.lane_ops.append(op)
        self.varying.update(op.results)

    def memory_is_private(self) -> None:
        """Each iteration touches only its own elements of every buffer written (see the
        module docstring), so running iterations side by side changes nothing."""
        accesses = [op for op in self.ops if _accessed_memref(op) is not None]
        written = {buffer_of(op.memref) for op in self.ops if isinstance(op, memref.StoreOp)}
        for buffer in written:
            touching = [op for op in accesses if buffer_of(_accessed_memref(op)) == buffer]
            reduction = next((r for r in self.reductions.values() if r.store in touching), None)
            if reduction is not None:
                if set(touching) != {reduction.load, reduction.store}:
                    raise _Refused("a reduction's buffer is accessed otherwise in the loop")
            elif any(op not in self.vector_accesses for op in touching) or (
                len({_accessed_memref(op) for op in touching}) != 1
            ):
                raise _Refused("a buffer written at lanes is read or written otherwise")

    def lanes(self, vector_bytes: int) -> int:
        widest = max(_ELEMENT_BYTES[t] for t in self.lane_types)
        lanes = vector_bytes // widest
        for op in self.lane_ops:
            if isinstance(op, math.FmaOp | math.SqrtOp):
                bits = 8 * lanes * _ELEMENT_BYTES[op.results[0].type]
                if bits not in _INTRINSIC_BITS:
                    raise _Refused(f"no {bits}-bit '{op.name}'")
        return lanes


def plan_loop(loop: scf.ForOp, vector_bytes: int) -> LoopPlan | None:
    """How to vectorise `loop`, or None when it stays scalar."""
    lower, upper, step = (constant_int(v) for v in (loop.lb, loop.ub, loop.step))
    if lower is None or upper is None or step != 1 or loop.iter_args:
        return None
    try:
        planner = _Planner(loop)
        for op in planner.ops:
            planner.classify(op)
        if not planner.vector_accesses:
            return None
        planner.memory_is_private()
        lanes = planner.lanes(vector_bytes)
    except _Refused:
        return None
    if lanes < 2 or upper - lower < lanes:
        return None
    return LoopPlan(
        loop,
        lower,
        upper - lower,
        lanes,
        planner.varying,
        planner.broadcast,
        planner.reductions,
    )


# ----- rewriting ---------------------------------------------------------------------------------


@dataclass
class IndexConstants:
    """Index constants at the top of a function's body (where the loop lowering puts its
    own), one per value: they are then invariant in every loop, which `keep_in_registers`
    needs of the addresses of the vectors it carries."""

    block: Block
    made: dict[int, SSAValue] = field(default_factory=dict)

    def __call__(self, value: int) -> SSAValue:
        if value not in self.made:
            constant = arith.ConstantOp(IntegerAttr(value, IndexType()))
            Builder(InsertPoint.at_start(self.block)).insert(constant)
            self.made[value] = constant.result
        return self.made[value]


class _VectorBody:
    """Writes the vector steps of a planned loop. What does not vary with the lanes (constants,
    loads of buffers the loop does not write, arithmetic on them) and its broadcasts are
    computed once, before the steps; a reduction's accumulator is loaded in every step."""

    def __init__(self, plan: LoopPlan, before: Builder) -> None:
        self.plan = plan
        self.invariant: dict[SSAValue, SSAValue] = {}
        """Each invariant value of the scalar body -> its copy before the steps."""
        accumulators = {r.load for r in plan.reductions.values()}
        combines = {r.combine for r in plan.reductions.values()}
        self.per_step = [
            op
            for op in plan.loop.body.block.ops
            if isinstance(op, memref.StoreOp)
            or op in accumulators
            or op in combines
            or any(result in plan.varying for result in op.results)
        ]
        for op in plan.loop.body.block.ops:
            if op not in self.per_step and not isinstance(op, scf.YieldOp):
                clone = before.insert(op.clone(value_mapper=dict(self.invariant)))
                self.invariant.update(zip(op.results, clone.results, strict=True))
        self.broadcasts = {
            value: broadcast(before, self.invariant.get(value, value), plan.lanes)
            for value in plan.broadcast
        }
        self.values: dict[SSAValue, SSAValue] = {}
        """Each value of the scalar body -> its value in the step being written."""

    def erase_unused_constants(self) -> None:
        """The copies of scalar constants that only fed splats. Only once the steps are
        written: a constant the body made (an index) may yet be an address of theirs."""
        for value in self.invariant.values():
            if isinstance(value.owner, arith.ConstantOp) and not value.uses:
                Rewriter.erase_op(value.owner)

    def vector_type(self, type_: Attribute) -> VectorType:
        return VectorType(type_, [self.plan.lanes])

    def vector(self, value: SSAValue) -> SSAValue:
        """`value` as an operand of a vector op: its vector, or its broadcast."""
        if value in self.plan.varying:
            return self.values[value]
        return self.broadcasts[value]

    def indices(self, op: memref.LoadOp | memref.StoreOp) -> list[SSAValue]:
        return [self.values.get(index, index) for index in op.indices]

    def write(self, iv: SSAValue, builder: Builder) -> None:
        """One step, at lanes `iv`, `iv + 1`, ..., with `builder`."""
        self.values = {**self.invariant, self.plan.loop.body.block.args[0]: iv}
        for op in self.per_step:
            if op in self.plan.reductions:
                self.reduce(self.plan.reductions[op], builder)
            elif isinstance(op, memref.StoreOp):
                value = self.vector(op.value)
                builder.insert(vector.StoreOp(value, op.memref, self.indices(op)))
            elif isinstance(op, memref.LoadOp) and op.res in self.plan.varying:
                load = vector.LoadOp(op.memref, self.indices(op), self.vector_type(op.res.type))
                self.values[op.res] = builder.insert(load).result
            elif isinstance(op, memref.LoadOp):  # a reduction's accumulator
                self.values[op.res] = builder.insert(op.clone(value_mapper=self.values)).res
            elif any(result in self.plan.varying for result in op.results):
                self.lanes_of(op, builder)

    def reduce(self, reduction: Reduction, builder: Builder) -> None:
        lanes = self.vector(reduction.value)
        acc = self.values[reduction.load.res]
        folded = builder.insert(make_reduction(reduction.kind, lanes, acc)).results[0]
        store = reduction.store
        builder.insert(memref.StoreOp.get(folded, store.memref, self.indices(store)))

    def lanes_of(self, op: Operation, builder: Builder) -> None:
        """`op` on vectors: the same op (its vector-aware class) on vector operands."""
        kind = _VECTOR_AWARE.get(_op_class(op), type(op))
        new = kind.create(
            operands=[self.vector(operand) for operand in op.operands],
            result_types=[self.vector_type(result.type) for result in op.results],
            properties=dict(op.properties),
            attributes=dict(op.attributes),
        )
        builder.insert(new)
        self.values.update(zip(op.results, new.results, strict=True))


def broadcast(builder: Builder, value: SSAValue, lanes: int) -> SSAValue:
    """`value` in every lane: a splat constant for a constant, else a `vector.broadcast`."""
    vector_type = VectorType(value.type, [lanes])
    owner = value.owner
    if isinstance(owner, arith.ConstantOp) and isinstance(owner.value, FloatAttr | IntegerAttr):
        splat = DenseIntOrFPElementsAttr.from_list(vector_type, [owner.value.value.data] * lanes)
        return builder.insert(arith.ConstantOp(splat, vector_type)).result
    return builder.insert(vector.BroadcastOp(value, vector_type)).vector


def vectorize(plan: LoopPlan, index: IndexConstants) -> None:
    """Replace the planned loop by its vector steps and, for a remainder, a scalar epilogue."""
    loop = plan.loop
    before = Builder(InsertPoint.before(loop))
    writer = _VectorBody(plan, before)
    steps = plan.trip // plan.lanes
    end = plan.lower + steps * plan.lanes
    if steps <= UNROLL_LIMIT:
        for step in range(steps):
            writer.write(index(plan.lower + step * plan.lanes), before)
    else:
        bounds = [index(n) for n in (plan.lower, end, plan.lanes)]
        vector_loop = scf.ForOp(*bounds, [], Region(Block(arg_types=[IndexType()])))
        before.insert(vector_loop)
        inside = Builder(InsertPoint.at_end(vector_loop.body.block))
        writer.write(vector_loop.body.block.args[0], inside)
        inside.insert(scf.YieldOp())
    writer.erase_unused_constants()
    if end == plan.lower + plan.trip:
        Rewriter.erase_op(loop)
    else:
        loop.operands[0] = index(end)


# ----- vectors in registers ----------------------------------------------------------------------


VectorAccess = vector.LoadOp | vector.StoreOp


def _same_address(a: VectorAccess, b: VectorAccess) -> bool:
    return a.base == b.base and list(a.indices) == list(b.indices)


def _carried_pairs(loop: scf.ForOp) -> list[tuple[vector.LoadOp, vector.StoreOp]]:
    """(load, store) of vectors at loop-invariant addresses in the loop's body whose buffer
    nothing else in the loop touches (other such pairs aside, at addresses that do not
    overlap): values that can live in registers across the loop."""
    body = list(loop.body.block.ops)
    candidates: dict[SSAValue, list[tuple[vector.LoadOp, vector.StoreOp]]] = {}
    for load in body:
        if not isinstance(load, vector.LoadOp):
            continue
        if not all(_defined_outside(v, loop) for v in (load.base, *load.indices)):
            continue
        stores = [op for op in body if isinstance(op, vector.StoreOp) and _same_address(op, load)]
        if len(stores) != 1 or body.index(stores[0]) < body.index(load):
            continue
        if stores[0].vector.type == load.result.type:
            candidates.setdefault(buffer_of(load.base), []).append((load, stores[0]))
    nested = [op for op in loop.walk() if op is not loop]
    carried = []
    for buffer, pairs in candidates.items():
        accesses = {op for pair in pairs for op in pair}
        alone = all(op in accesses for op in nested if _touches(op, buffer))
        if alone and all(_disjoint(a, b) for (a, _), (b, _) in combinations(pairs, 2)):
            carried.extend(pairs)
    return carried


def _disjoint(a: VectorAccess, b: VectorAccess) -> bool:
    """Whether two vector accesses of the same length surely share no element: the same
    memref and indices but for constant last ones at least a vector apart."""
    first, second = constant_int(a.indices[-1]), constant_int(b.indices[-1])
    lanes = _accessed_type(a).get_shape()[0]
    return (
        a.base == b.base
        and _accessed_type(b).get_shape()[0] == lanes
        and list(a.indices[:-1]) == list(b.indices[:-1])
        and first is not None
        and second is not None
        and abs(first - second) >= lanes
    )


def _accessed_type(op: VectorAccess) -> VectorType:
    return op.result.type if isinstance(op, vector.LoadOp) else op.vector.type


def keep_in_registers(loop: scf.ForOp) -> None:
    """Carry the vectors of `_carried_pairs` through `loop` as iter_args."""
    pairs = _carried_pairs(loop)
    if not pairs:
        return
    before = Builder(InsertPoint.before(loop))
    initial = [
        before.insert(vector.LoadOp(load.base, load.indices, load.result.type)).result
        for load, _ in pairs
    ]
    block = loop.body.detach_block(0)
    carried = len(loop.iter_args)
    yield_op = block.last_op
    assert isinstance(yield_op, scf.YieldOp)
    for load, store in pairs:
        argument = block.insert_arg(load.result.type, len(block.args))
        load.result.replace_all_uses_with(argument)
        Rewriter.erase_op(load)
        yield_op.operands = (*yield_op.operands, store.vector)
        Rewriter.erase_op(store)
    new_loop = scf.ForOp(loop.lb, loop.ub, loop.step, [*loop.iter_args, *initial], Region(block))
    before.insert(new_loop)
    for old, new in zip(loop.results, new_loop.results, strict=False):
        old.replace_all_uses_with(new)
    Rewriter.erase_op(loop)
    after = Builder(InsertPoint.after(new_loop))
    for (load, _), result in zip(pairs, new_loop.results[carried:], strict=True):
        after.insert(vector.StoreOp(result, load.base, load.indices))


def forward_stores(block: Block) -> None:
    """A vector load of an address the block stored a vector to, with nothing writing over
    it in between, takes the stored vector (recursively into nested blocks)."""
    stored: dict[SSAValue, list[vector.StoreOp]] = {}
    """By buffer: vector stores to it still in place, at addresses that do not overlap."""
    for op in list(block.ops):
        for region in op.regions:
            for nested in region.blocks:
                forward_stores(nested)
        if isinstance(op, vector.LoadOp):
            found = [s for s in stored.get(buffer_of(op.base), []) if _same_address(s, op)]
            if found and found[0].vector.type == op.result.type:
                op.result.replace_all_uses_with(found[0].vector)
                Rewriter.erase_op(op)
            continue
        if isinstance(op, memref.LoadOp):  # reading changes nothing
            continue
        if isinstance(op, vector.StoreOp):
            buffer = buffer_of(op.base)
            kept = [s for s in stored.get(buffer, []) if _disjoint(s, op)]
            stored[buffer] = [*kept, op]
            continue
        for buffer in _buffers_touched(op):
            stored.pop(buffer, None)


def drop_dead_stores(function: func.FuncOp) -> None:
    """Erase the stores to a workspace buffer nothing reads: what `forward_stores` left of the
    accumulators it forwarded (the workspace is scratch memory; its contents die with the call)."""
    # One walk, the users grouped by buffer: a walk per view was quadratic (22 s of a 27 s
    # compile for a function of 141 views and 4,000 ops, the conv family's gradient).
    users: dict[SSAValue, list[Operation]] = {
        op.result: [] for op in function.walk() if isinstance(op, memref.ViewOp)
    }
    for op in function.walk():
        for buffer in _touched(op):
            if buffer in users:
                users[buffer].append(op)
    for accesses in users.values():
        if all(isinstance(op, memref.StoreOp | vector.StoreOp) for op in accesses):
            for store in accesses:
                Rewriter.erase_op(store)


def _buffers_touched(op: Operation) -> set[SSAValue]:
    """Buffers `op` or an op nested in it accesses (reads, writes or passes on)."""
    found = set()
    for inner in op.walk():
        accessed = _accessed_memref(inner)
        if accessed is not None:
            found.add(buffer_of(accessed))
        elif not isinstance(inner, _VIEWS):
            found.update(
                buffer_of(value) for value in inner.operands if isinstance(value.type, MemRefType)
            )
    return found


def _innermost_loops(ops: Iterable[Operation]) -> list[scf.ForOp]:
    return [
        op
        for op in ops
        if isinstance(op, scf.ForOp)
        and not any(
            isinstance(inner, scf.ForOp | scf.ParallelOp) for inner in op.walk() if inner is not op
        )
    ]


@dataclass(frozen=True)
class VectorizeLoopsPass(ModulePass):
    """Turn innermost loops over contiguous elements into vector ops, bitwise as before.

    Reductions become in-order `vector.reduction`s; loop-invariant vectors (split-reduction
    accumulators) are carried in registers (see the module docstring)."""

    name = "vectorize-loops"

    vector_bytes: int = 64
    """Bytes per vector register (`aidjit.runtime.target`); 0 leaves every loop scalar."""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if self.vector_bytes < 0:
            raise PipelineError(
                f"{self.name}: vector-bytes must be 0 or more, got {self.vector_bytes}"
            )
        if self.vector_bytes == 0:
            return
        for function in op.body.block.ops:
            if isinstance(function, func.FuncOp) and function.body.blocks:
                self.vectorize_function(function)

    def vectorize_function(self, function: func.FuncOp) -> None:
        index = IndexConstants(function.body.block)
        for loop in _innermost_loops(function.walk()):
            plan = plan_loop(loop, self.vector_bytes)
            if plan is not None:
                vectorize(plan, index)
        for loop in reversed([o for o in function.walk() if isinstance(o, scf.ForOp)]):
            keep_in_registers(loop)
        forward_stores(function.body.block)
        drop_dead_stores(function)

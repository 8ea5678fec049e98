"""parallelize-outer-loops: top-level scf.for loops whose iterations are independent become
scf.parallel, run on `threads` threads (aidjit's thread pool, see runtime/thread_pool.py).

Runs on the loop level, after convert-linalg-to-fused-loops. Each loop directly in a function's
body (a lowered linalg op, or a row group's shared row loop) is a candidate; nothing nested is:
a parallel region per outer iteration would pay a fork/join each time. A candidate becomes

    scf.parallel (%i) = (%lb) to (%ub) step (%step) {     // aidjit.num_threads = N
      <the same body>
      scf.reduce
    }

when
- it carries no values (no iter_args: a reduction carried in registers is never split, so every
  sum adds its terms in the same order whatever the thread count);
- no two iterations touch the same bytes where one of them writes (see `_Accesses`): every
  buffer it writes is addressed by the loop's induction variable with one stride, and what one
  iteration reaches of it fits inside that stride. A temporary of the workspace that every row
  reuses (not indexed by the row) fails this test, so its loop stays serial; a reduction's
  output (indexed without the reduced dim) fails it too;
- every op inside either has no memory effects or is a load or store it can read indices from
  (memref.load/store, vector.load/store), or allocates a stack buffer private to the iteration
  (memref.alloca, declared inside the loop body in C); anything else (a call, a heap
  allocation) keeps it serial;
- its work, in `_work` units (one per scalar op executed, `LIBM_WEIGHT` per libm call), is at
  least `min_work`, and it runs at least two iterations. The threshold is decided here, at
  compile time, because every shape is static: a loop below it is left as it is and pays
  nothing, not even a call into the thread pool.

Each iteration runs the same ops in the same order as the serial loop, so the results are
bitwise the same for any thread count. `threads=1` (the default of the pass, so that a pipeline
string alone fixes the result) leaves the module unchanged; `aidjit.jit(threads=...)` and
`AIDJIT_NUM_THREADS` set it in the default pipeline.

The minimum work, measured on the 2-core machine of PERF-NOTES with OpenMP, which ran these loops
before aidjit's own pool (gcc 12, libgomp's default wait policy, median wall time of a loop
called from Python; the pool costs the same, measured in C): a parallel region costs ~2 us while
the worker still spins from the last one, 5-15 us when it must be woken, and up to a scheduler
tick (~3 ms) when the other core is busy and the worker has gone to sleep. A W1-like loop broke
even at ~8 us of serial work and gained 1.5-1.9x from ~30 us. aidjit's workers spin ~0.5 ms
after each region before sleeping (runtime/thread_pool.py), so back-to-back regions and calls
find them awake: 0.5-1 us per region on a 2-vCPU AMD EPYC guest, where waking a sleeping one
took ~0.1 ms. `MIN_WORK` asks for ~4-8 us of compute-bound work, five to ten parallel loops
handed to a spinning worker; a loop that streams its operands from L3 takes longer per unit:
W2a's first layer (380,000 units, 784 x 256 weights read once per call) took ~16 us on one
thread, and 2.22x numpy per call on two against 1.92x serial (median of 7 samples,
`aidjit.jit`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from xdsl.context import Context
from xdsl.dialects import arith, func, math, memref, scf, vector
from xdsl.dialects.builtin import IntegerAttr, MemRefType, ModuleOp, VectorType, i64
from xdsl.ir import Block, Operation, Region, SSAValue
from xdsl.passes import ModulePass
from xdsl.traits import is_side_effect_free

from aidjit.errors import PipelineError
from aidjit.lowering.structured import constant_int, element_bytes
from aidjit.runtime.strided import static_layout

NUM_THREADS = "aidjit.num_threads"
"""The discardable attribute on each scf.parallel: how many threads the C runs it on."""

LIBM_WEIGHT = 8
"""Work units per math-dialect op the C emitter writes as a libm call (`_LIBM_CALLS`): one
vectorised through libmvec costs about as much as eight additions. Other ops count 1 per
scalar, or per vector lane."""

_LIBM_CALLS = (
    math.ExpOp,
    math.LogOp,
    math.TanhOp,
    math.PowFOp,
    math.SinOp,
    math.CosOp,
    math.Log1pOp,
    math.ExpM1Op,
    math.ErfOp,
)

MIN_WORK = 1 << 18
"""Work units below which a loop stays serial: ~4-8 us of serial work at the 0.015-0.03 ns
per unit measured on the reference workloads' compute-bound loops (gcc 12 -O3)."""

_VIEWS = (memref.CollapseShapeOp, memref.ExpandShapeOp, memref.SubviewOp, memref.CastOp)
"""Ops whose result addresses its source's memory through its own static layout (relative to
the same base pointer, as aidjit.runtime.strided describes)."""

_NO_EFFECTS_WITHOUT_TRAITS = (
    vector.ReductionOp,
    vector.ExtractOp,
    vector.InsertOp,
    vector.CreateMaskOp,
)
"""Value-only ops that xDSL 0.74 declares without memory-effect traits."""

_STRUCTURE = (scf.ForOp, scf.IfOp, scf.YieldOp)


@dataclass
class _Access:
    """One load or store in the loop: which buffer, and which bytes of it as a function of the
    loop's induction variable `t`: `coefficient * t + [low, high]`."""

    base: SSAValue
    """The function argument, allocation or workspace its memref is a view of."""
    writes: bool
    coefficient: int | None
    """Bytes per unit of `t`; None when the address depends on `t` in a way not followed."""
    low: int = 0
    high: int = 0


def _masked_extent(op: vector.MaskedLoadOp | vector.MaskedStoreOp) -> VectorType:
    """The lanes a masked access touches: the first n under `vector.create_mask n` with a
    constant n (tile-contractions' tail columns, whose full width would reach into the next
    row), else the whole vector."""
    type_ = op.result.type if isinstance(op, vector.MaskedLoadOp) else op.value_to_store.type
    mask = op.mask.owner
    if isinstance(mask, vector.CreateMaskOp) and len(mask.mask_dim_sizes) == 1:
        count = constant_int(mask.mask_dim_sizes[0])
        if count is not None and 0 < count < type_.get_shape()[0]:
            return VectorType(type_.get_element_type(), [count])
    return type_


@dataclass
class _Accesses:
    """The memory accesses of one candidate loop, collected and tested for independence."""

    loop: scf.ForOp
    ranges: dict[SSAValue, tuple[int, int]] = field(default_factory=dict)
    """Inclusive value ranges of the induction variables of the loops nested in `loop`."""
    found: list[_Access] = field(default_factory=list)
    problem: str | None = None
    private: set[SSAValue] = field(default_factory=set)
    """Stack buffers allocated inside the loop (`memref.alloca`, the packed panels of
    tile-contractions): the C declares them in the loop body, so every iteration, and every
    thread, has its own."""

    def collect(self) -> None:
        for op in _walk(self.loop.body):
            if isinstance(op, scf.ForOp):
                self._nested_range(op)
            elif isinstance(op, memref.AllocaOp) and not op.dynamic_sizes:
                self.private.add(op.memref)
            elif isinstance(op, memref.LoadOp | vector.LoadOp):
                self._add(op.operands[0], op.indices, writes=False, vector=op.results[0].type)
            elif isinstance(op, memref.StoreOp):
                self._add(op.memref, op.indices, writes=True)
            elif isinstance(op, vector.StoreOp):
                self._add(op.base, op.indices, writes=True, vector=op.vector.type)
            elif isinstance(op, vector.MaskedLoadOp | vector.MaskedStoreOp):
                self._add(
                    op.base,
                    op.indices,
                    writes=isinstance(op, vector.MaskedStoreOp),
                    vector=_masked_extent(op),
                )
            elif not (
                isinstance(op, _STRUCTURE + _NO_EFFECTS_WITHOUT_TRAITS) or is_side_effect_free(op)
            ):
                self.problem = self.problem or f"'{op.name}' may touch memory"

    def independent(self) -> bool:
        """No two iterations touch the same bytes where one writes (see the module docstring)."""
        if self.problem is not None:
            return False
        step = constant_int(self.loop.step)
        assert step is not None
        return all(
            _cluster_independent(cluster, step)
            for cluster in _clusters(self.found, self._iterations())
            if any(access.writes for access in cluster)
        )

    def _iterations(self) -> tuple[int, int]:
        """The first and last value of the loop's induction variable."""
        lower, upper, step = (constant_int(v) for v in (self.loop.lb, self.loop.ub, self.loop.step))
        assert lower is not None and upper is not None and step is not None
        return lower, lower + (upper - lower - 1) // step * step

    def _nested_range(self, loop: scf.ForOp) -> None:
        bounds = [constant_int(v) for v in (loop.lb, loop.ub, loop.step)]
        lower, upper, step = bounds
        if lower is None or upper is None or step is None or step <= 0 or upper <= lower:
            return  # its induction variable has no known range: addresses using it are unknown
        self.ranges[loop.body.block.args[0]] = (lower, lower + (upper - lower - 1) // step * step)

    def _add(
        self,
        ref: SSAValue,
        indices: tuple[SSAValue, ...] | list[SSAValue],
        *,
        writes: bool,
        vector: object = None,
    ) -> None:
        base, shift = _base(ref)
        if base in self.private:
            return
        access = _Access(base, writes, None)
        self.found.append(access)
        layout = static_layout(ref.type) if isinstance(ref.type, MemRefType) else None
        if layout is None or shift is None:
            return
        element = element_bytes(ref.type.get_element_type())
        low = high = layout.offset
        coefficient = 0
        shape = ref.type.get_shape()
        for index, stride, extent in zip(indices, layout.strides, shape, strict=True):
            form = self._affine(index)
            if form is None:
                if self._depends_on_loop(index):
                    return
                form = _Affine({}, 0, (0, max(extent - 1, 0)))
            coefficient += form.coefficient(self.loop.body.block.args[0]) * stride
            lo, hi = form.rest_range(self.ranges, self.loop.body.block.args[0])
            low, high = low + min(lo * stride, hi * stride), high + max(lo * stride, hi * stride)
        if isinstance(vector, VectorType):
            # A vector covers its shape along the memref's trailing dims from the indices.
            trailing = zip(
                vector.get_shape(), layout.strides[-vector.get_num_dims() :], strict=True
            )
            high += sum((size - 1) * stride for size, stride in trailing)
        access.coefficient = coefficient * element
        access.low = shift + low * element
        access.high = shift + high * element + element - 1

    def _affine(self, value: SSAValue) -> _Affine | None:
        """`value` as a sum of induction variables times constants plus a constant, or None."""
        constant = constant_int(value)
        if constant is not None:
            return _Affine({}, constant)
        if value == self.loop.body.block.args[0] or value in self.ranges:
            return _Affine({value: 1}, 0)
        owner = value.owner
        if isinstance(owner, arith.AddiOp | arith.SubiOp):
            lhs, rhs = self._affine(owner.lhs), self._affine(owner.rhs)
            if lhs is None or rhs is None:
                return None
            return lhs.plus(rhs, -1 if isinstance(owner, arith.SubiOp) else 1)
        if isinstance(owner, arith.MuliOp):
            lhs, rhs = self._affine(owner.lhs), self._affine(owner.rhs)
            if lhs is None or rhs is None:
                return None
            if not lhs.terms:
                return rhs.scaled(lhs.constant)
            if not rhs.terms:
                return lhs.scaled(rhs.constant)
        return None

    def _depends_on_loop(self, value: SSAValue) -> bool:
        """Whether `value` is computed inside the loop (then it may vary with its iterations)."""
        owner = value.owner
        op = owner if isinstance(owner, Operation) else owner.parent_op()
        return op is not None and (op is self.loop or self.loop.is_ancestor(op))


@dataclass
class _Affine:
    """`sum(terms[v] * v) + constant`; `bounds` replaces the range of the terms when known."""

    terms: dict[SSAValue, int]
    constant: int
    bounds: tuple[int, int] | None = None

    def plus(self, other: _Affine, sign: int) -> _Affine:
        terms = dict(self.terms)
        for value, factor in other.terms.items():
            terms[value] = terms.get(value, 0) + sign * factor
        return _Affine(terms, self.constant + sign * other.constant)

    def scaled(self, factor: int) -> _Affine:
        return _Affine({v: f * factor for v, f in self.terms.items()}, self.constant * factor)

    def coefficient(self, induction: SSAValue) -> int:
        return self.terms.get(induction, 0)

    def rest_range(
        self, ranges: dict[SSAValue, tuple[int, int]], induction: SSAValue
    ) -> tuple[int, int]:
        """The range of everything but the `induction` term (nested loops' ranges)."""
        if self.bounds is not None:
            return self.bounds
        low = high = self.constant
        for value, factor in self.terms.items():
            if value == induction:
                continue
            lo, hi = ranges[value]
            low, high = low + min(lo * factor, hi * factor), high + max(lo * factor, hi * factor)
        return low, high


def _clusters(accesses: list[_Access], iterations: tuple[int, int]) -> list[list[_Access]]:
    """`accesses` grouped by the memory the whole loop may touch through them: two accesses
    whose footprints (over all iterations) share no byte are to different buffers, even when
    they are views of one workspace, and cannot depend on each other."""
    first, last = iterations
    unknown = float("inf")
    spans = []
    for access in accesses:
        if access.coefficient is None:
            spans.append((-unknown, unknown, access))
            continue
        ends = (access.coefficient * first, access.coefficient * last)
        spans.append((access.low + min(ends), access.high + max(ends), access))
    clusters: list[list[_Access]] = []
    reach: dict[int, float] = {}
    for start, end, access in sorted(spans, key=lambda s: (id(s[2].base), s[0])):
        current = clusters[-1] if clusters else None
        if current is None or current[0].base != access.base or start > reach[id(current)]:
            clusters.append([access])
            reach[id(clusters[-1])] = end
        else:
            current.append(access)
            reach[id(current)] = max(reach[id(current)], end)
    return clusters


def _cluster_independent(accesses: list[_Access], step: int) -> bool:
    """Iteration t of the loop touches `coefficient * t + [low, high]` of the accesses' common
    buffer: iterations are independent when all share one non-zero coefficient and what one
    iteration touches is narrower than the distance between two iterations."""
    coefficients = {access.coefficient for access in accesses}
    if len(coefficients) != 1:
        return False
    (coefficient,) = coefficients
    if not coefficient:
        return False
    span = max(a.high for a in accesses) - min(a.low for a in accesses)
    return span < abs(coefficient * step)


def _walk(region: Region) -> Iterator[Operation]:
    for block in region.blocks:
        for op in block.ops:
            yield op
            for nested in op.regions:
                yield from _walk(nested)


def _base(ref: SSAValue) -> tuple[SSAValue, int | None]:
    """The buffer `ref` is a view of, and the byte offset of `ref`'s base pointer in it (None
    when a workspace view's shift is not a constant). Views of one workspace share its base, so
    buffers the planner placed at overlapping bytes are compared as the same memory."""
    while isinstance(ref.owner, _VIEWS):
        ref = ref.owner.operands[0]
    if isinstance(ref.owner, memref.ViewOp):
        return ref.owner.source, constant_int(ref.owner.byte_shift)
    return ref, 0


def trip_count(lower: SSAValue, upper: SSAValue, step: SSAValue) -> int | None:
    """Iterations of a loop with constant bounds (None when one is not a constant)."""
    bounds = [constant_int(value) for value in (lower, upper, step)]
    if None in bounds or bounds[2] <= 0:
        return None
    first, end, stride = bounds
    return max(0, -(-(end - first) // stride))


def _trip_count(loop: scf.ForOp) -> int | None:
    return trip_count(loop.lb, loop.ub, loop.step)


def _work(block: Block) -> int:
    """Work units of one execution of `block`: its ops, nested loops times their trip counts."""
    total = 0
    for op in block.ops:
        if isinstance(op, scf.ForOp):
            total += (_trip_count(op) or 1) * _work(op.body.block)
        elif isinstance(op, arith.ConstantOp | scf.YieldOp):
            continue
        else:
            total += _op_work(op)
            total += sum(_work(b) for region in op.regions for b in region.blocks)
    return total


def _op_work(op: Operation) -> int:
    """A libm call's weight, or one unit per scalar (per lane of a vector) the op makes or
    stores: a vector store of 8 lanes moves as much as the 8 scalar stores it replaced. Counted
    as one unit, a vectorised copy weighed half its scalar loop, and W3's packing of its first
    weights (784 x 256 floats, ~60 us at one thread) stayed under `MIN_WORK` and serial."""
    if isinstance(op, _LIBM_CALLS):
        return LIBM_WEIGHT
    if isinstance(op, vector.StoreOp):
        return op.vector.type.element_count()
    if isinstance(op, vector.MaskedStoreOp):
        return op.value_to_store.type.element_count()
    lanes = [r.type.element_count() for r in op.results if isinstance(r.type, VectorType)]
    return max(lanes, default=1)


def loop_work(loop: scf.ForOp) -> int:
    """The work of the whole loop nest, in the units `MIN_WORK` is counted in."""
    return (_trip_count(loop) or 0) * _work(loop.body.block)


def parallel_loop(loop: scf.ForOp) -> bool:
    """Whether `loop`'s iterations may run in any order, on any thread, with the same result."""
    if loop.iter_args or _trip_count(loop) is None:
        return False
    accesses = _Accesses(loop)
    accesses.collect()
    return accesses.independent()


def _to_parallel(loop: scf.ForOp, threads: int) -> None:
    body = loop.detach_region(loop.body)
    terminator = body.block.last_op
    assert isinstance(terminator, scf.YieldOp)
    body.block.erase_op(terminator)
    body.block.add_op(scf.ReduceOp())
    parallel = scf.ParallelOp([loop.lb], [loop.ub], [loop.step], body)
    parallel.attributes[NUM_THREADS] = IntegerAttr(threads, i64)
    block = loop.parent_block()
    assert block is not None
    block.insert_op_before(parallel, loop)
    block.erase_op(loop)


@dataclass(frozen=True)
class ParallelizeOuterLoopsPass(ModulePass):
    """Run top-level loops with independent iterations and enough work on several threads."""

    name = "parallelize-outer-loops"

    threads: int = 1
    """Threads per parallel loop; 1 leaves the module unchanged."""
    min_work: int = MIN_WORK
    """Loops with less work (see `loop_work`) stay serial."""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if self.threads < 1:
            raise PipelineError(f"{self.name}: threads must be at least 1, got {self.threads}")
        if self.threads == 1:
            return
        for function in op.body.block.ops:
            if not isinstance(function, func.FuncOp) or not function.body.blocks:
                continue
            for loop in list(function.body.block.ops):
                if not isinstance(loop, scf.ForOp) or (_trip_count(loop) or 0) < 2:
                    continue
                if loop_work(loop) >= self.min_work and parallel_loop(loop):
                    _to_parallel(loop, self.threads)

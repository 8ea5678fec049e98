"""tile-contractions: matmul loop nests become register-tiled vector micro-kernels.

The structured level lowers a contraction to the loop nest (rows i, then k, then columns j)

    for i:  for k:  for j:  C[i, j] = fma(A[i, k], B[k, j], C[i, j])

whose innermost loop loads and stores a row of C for every k: ~37 GFLOP/s on the reference
machine where one core's sgemm reaches ~100 (PERF-NOTES). As BLIS and MLIR's vector
contraction lowering do, this pass keeps an MR x NR tile of C in vector registers across the
whole k loop: per k, NR/lanes vector loads of B's row, MR broadcasts of A's column and MR*NR/lanes
vector FMAs, and C is loaded and stored once per tile instead of once per k:

    for i0 in rows step MR:                         # the row loop, strip-mined
      <ops of the row loop before the contraction, for rows i0 .. i0+MR>
      for j0 in columns step NR:
        acc[r][v] = C[i0+r, j0+v*L : +L]            # MR * NR/L vectors
        for k:  acc[r][v] = fma(broadcast(A[i0+r, k]), B[k, j0+v*L : +L], acc[r][v])
        C[i0+r, j0+v*L : +L] = acc[r][v]
      <ops of the row loop after it (bias, activation, the next op of the row group), same rows>

Each element of C still receives the same FMAs in the same k order, so the result is bitwise
the scalar nest's: tiling changes no number, only where the partial sums live. A fill of C's
row just before the contraction (a matmul's zero init) becomes the accumulators' start, a
broadcast, and does not run (`_forwarded_fill`). Row groups
(transforms/fuse_rows.py) put a fill before the contraction and its epilogue after it in one
row loop; strip-mining that loop and distributing its body over the MR rows is legal because
every op of a row group reads only the same row of what the earlier ops wrote, and it keeps the
epilogue on the rows just computed, while they are in L1. A later contraction of the same
row loop (W2b's last layer after its second) is tiled on the same blocks of rows, after the
ops between the two (`_row_contractions`).

With more than one row, the rows' block of A is first packed k-major into a stack buffer
(`memref.alloca`), as BLIS packs its left operand: the kernel then broadcasts from one
pointer, where eight rows read in place took eight registers and gcc spilled them. Where two
blocks of rows or more of a top-level row loop read B, it is packed once, before the row
loop, into panels as wide as a tile, each k-major and contiguous (`_Emitter.pack_b`), as BLIS
packs B, in bytes added at the end of the function's workspace (`grow_workspace`): read in
place, each k of the micro-kernel touched new lines of B (two per vector at numpy's 16-byte
alignment). One block of rows (batch 1) reads B in place, once, as packing it would. Where the
row group computes A itself for the contraction alone (a weight gradient's activation
transposed, `relu(z + b).T @ dz`), its elements are computed where they are packed,
and A is never written (`_packable_producer`).

Tails are static (shapes are): the last M % MR rows get a micro-kernel of that many rows, the
last full vectors of a row that do not fill NR a narrower one, and the last N % L columns one
masked vector per row (`vector.maskedload` / `vector.maskedstore` under a `vector.create_mask`),
with the same FMAs in the same order on the lanes that exist. The original scalar loop kept the
tail's row of C in memory across the k loop, a store-to-load chain per k: W2b's last layer
(N = 10) took 0.3 ms of its 1.9 at one thread that way, and N < L now gets a masked tile too.

The k loop is not blocked: with A packed, blocking it measured the same
on W2b's layers (K = 784), and it cannot help where B outgrows L2 (K = 4096, N = 256: 30
GFLOP/s against numpy's 63), because every block of rows streams all of B again; that needs
the panel loop outside the row loop, which would take the epilogue away from its rows.

Options: `vector-bytes` (64 on AVX-512, 32 on AVX2; 0 disables the pass), `registers` (vector
registers of the ISA) and `l1-bytes`, from `aidjit.runtime.target`. Matched: an innermost
(k, j) pair of loops with constant bounds and unit steps whose body is exactly the loads of A,
B and C, one `math.fma` and the store of C, where B and C are contiguous along j, every index is
one of the loop variables or invariant, and the row loop (if any) has no iter_args.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import arith, func, math, memref, scf, vector
from xdsl.dialects.builtin import (
    DenseIntOrFPElementsAttr,
    FunctionType,
    IndexType,
    IntegerAttr,
    MemRefType,
    ModuleOp,
    VectorType,
    i1,
    i8,
)
from xdsl.ir import Attribute, Block, BlockArgument, Operation, OpResult, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter
from xdsl.traits import is_side_effect_free

from aidjit.lowering.structured import constant_int, element_bytes, shaped_bytes
from aidjit.runtime.strided import static_layout
from aidjit.transforms.memory_plan import ALIGNMENT

MAX_TILE_ROWS = 8
"""Rows of the register tile: more rows cost more broadcasts per k than they save in B
loads (BLIS's AVX-512 sgemm kernels are 8 to 14 rows deep)."""


@dataclass
class Contraction:
    """One matched (k, j) nest and the row loop around it (None when the rows are fixed)."""

    k_loop: scf.ForOp
    j_loop: scf.ForOp
    a: memref.LoadOp
    b: memref.LoadOp
    c: memref.LoadOp
    fma: math.FmaOp
    store: memref.StoreOp
    row_loop: scf.ForOp | None

    @property
    def element_type(self) -> Attribute:
        return self.c.res.type

    def bound(self, loop: scf.ForOp) -> tuple[int, int]:
        """The constant bounds of one of the matched loops (`match` checked they are)."""
        lower, upper = constant_int(loop.lb), constant_int(loop.ub)
        assert lower is not None and upper is not None
        return lower, upper


def _unit_loop(loop: Operation) -> bool:
    return (
        isinstance(loop, scf.ForOp)
        and not loop.iter_args
        and constant_int(loop.step) == 1
        and constant_int(loop.lb) is not None
        and constant_int(loop.ub) is not None
    )


def _defined_outside(value: SSAValue, op: Operation) -> bool:
    """Whether `value` is defined outside `op` (so invariant in its loops)."""
    owner = value.block.parent_op() if isinstance(value, BlockArgument) else value.owner
    while owner is not None:
        if owner is op:
            return False
        owner = owner.parent_op()
    return True


def _defined_in(op: Operation, ancestor: Operation) -> bool:
    """Whether `op` is nested in `ancestor` (an op erased with its parent is not: the chain of
    parents ends at the erased one)."""
    parent = op.parent_op()
    while parent is not None and parent is not ancestor:
        parent = parent.parent_op()
    return parent is ancestor


def _contiguous_last(ref: SSAValue) -> bool:
    layout = static_layout(ref.type) if isinstance(ref.type, MemRefType) else None
    return layout is not None and layout.strides[-1] == 1


def match(k_loop: scf.ForOp) -> Contraction | None:
    """The contraction rooted at `k_loop`, if it has exactly the shape this pass tiles."""
    if not _unit_loop(k_loop):
        return None
    k_ops = list(k_loop.body.block.ops)
    if len(k_ops) != 2 or not _unit_loop(k_ops[0]):
        return None
    j_loop = k_ops[0]
    assert isinstance(j_loop, scf.ForOp)
    body = list(j_loop.body.block.ops)
    if len(body) != 6:
        return None
    loads = [op for op in body if isinstance(op, memref.LoadOp)]
    fmas = [op for op in body if isinstance(op, math.FmaOp)]
    stores = [op for op in body if isinstance(op, memref.StoreOp)]
    if len(loads) != 3 or len(fmas) != 1 or len(stores) != 1:
        return None
    fma, store = fmas[0], stores[0]
    parent = k_loop.parent_op()
    if isinstance(parent, scf.ForOp) and _unit_loop(parent):
        # The rows of the enclosing loop, if its variable indexes A and C directly; else (a
        # row computed from it, as in the clones of a tiled contraction's epilogue) one row.
        found = _roles(k_loop, j_loop, loads, fma, store, parent)
        if found is not None:
            return found
    return _roles(k_loop, j_loop, loads, fma, store, None)


def _roles(
    k_loop: scf.ForOp,
    j_loop: scf.ForOp,
    loads: list[memref.LoadOp],
    fma: math.FmaOp,
    store: memref.StoreOp,
    row_loop: scf.ForOp | None,
) -> Contraction | None:
    """The contraction with A, B and C told apart by their indices, tiling the rows of
    `row_loop` (A and C indexed by its variable) or one row (every index of A but k, and of C
    but j, invariant in the k loop)."""
    k, j = k_loop.body.block.args[0], j_loop.body.block.args[0]
    row = row_loop.body.block.args[0] if row_loop is not None else None
    scope = row_loop if row_loop is not None else k_loop

    def uses(load: memref.LoadOp) -> list[SSAValue | None]:
        """Each index as the loop variable it is (i, k or j), or None when invariant."""
        named = []
        for index in load.indices:
            if index in (k, j) or (row is not None and index == row):
                named.append(index)
            elif _defined_outside(index, scope):
                named.append(None)
            else:
                return []
        return named

    by_role: dict[str, memref.LoadOp] = {}
    for load in loads:
        named = uses(load)
        if not named or load.res not in fma.operands[:3]:
            return None
        if k in named and j not in named:
            by_role["a"] = load  # read once per k and row: any layout
        elif named[-1] is j and k in named and (row is None or row not in named):
            by_role["b"] = load
        elif named[-1] is j and k not in named and load.res is fma.operands[2]:
            by_role["c"] = load
    if set(by_role) != {"a", "b", "c"}:
        return None
    a, b, c = by_role["a"], by_role["b"], by_role["c"]
    if (
        store.value is not fma.results[0]
        or store.memref is not c.memref
        or list(store.indices) != list(c.indices)
        or not (_contiguous_last(b.memref) and _contiguous_last(c.memref))
    ):
        return None
    if row is not None and (row not in a.indices or row not in c.indices):
        return None
    return Contraction(k_loop, j_loop, a, b, c, fma, store, row_loop)


def grow_workspace(function: func.FuncOp, nbytes: int) -> tuple[BlockArgument, int]:
    """(the workspace, the offset of `nbytes` new bytes at its end): the function's trailing
    `memref<Nxi8>` argument, the runtime's workspace (aidjit.api.workspace_bytes), made
    longer, or a new one. The caller allocates the workspace once per compiled function and
    reuses it on every call, where a `memref.alloc` is a heap allocation per call: 157 page
    faults per call of W2b for its packed weights, which took 0.8 MB."""
    block = function.body.block
    old = block.args[-1] if block.args else None
    is_workspace = (
        isinstance(old, BlockArgument)
        and isinstance(old.type, MemRefType)
        and old.type.get_element_type() == i8
        and len(old.type.get_shape()) == 1
    )
    size = old.type.get_shape()[0] if is_workspace else 0  # type: ignore[union-attr]
    offset = -(-size // ALIGNMENT) * ALIGNMENT  # as the memory planner places buffers
    workspace = block.insert_arg(MemRefType(i8, [offset + nbytes]), len(block.args))
    workspace.name_hint = "workspace"
    if is_workspace:
        old.replace_all_uses_with(workspace)  # type: ignore[union-attr]
        block.erase_arg(old)  # type: ignore[arg-type]
    function.function_type = FunctionType.from_lists(
        [arg.type for arg in block.args], function.function_type.outputs.data
    )
    return workspace, offset


class _Emitter:
    """Builds the tiled nest of the contractions of one row loop (or one contraction without
    one), all of one element type: ops go to the end of `self.block`, index constants before
    `anchor` (the nest being replaced), where they dominate every use."""

    def __init__(
        self, found: Contraction, anchor: Operation, lanes: int, registers: int, l1_bytes: int
    ) -> None:
        self.anchor = anchor
        self.lanes = lanes
        self.vector_type = VectorType(found.element_type, [lanes])
        self.registers = registers
        self.rows = max(1, min(MAX_TILE_ROWS, (registers - 4) // 2))
        self.l1_bytes = l1_bytes
        self.use(found)
        self.constants: dict[int, SSAValue] = {}
        self.block = Block()
        self.packed: SSAValue | None = None
        """The packed block of A of the rows being tiled (see `pack_a`), if any."""
        self.panels: dict[scf.ForOp, tuple[SSAValue, int]] = {}
        """B packed into panels (see `pack_b`) and their width in vectors, by k loop."""
        self.zeros: SSAValue | None = None
        """The pass-through of masked loads (a zero vector), made on first use."""
        self.fill: SSAValue | None = None
        """The value C's rows were filled with just before the contraction being tiled, if
        the accumulators start from it (see `_forwarded_fill`)."""

    def use(self, found: Contraction) -> None:
        """Make `found` the contraction the next tiles are of."""
        self.found = found
        self.k_lb, self.k_ub = found.bound(found.k_loop)
        self.j_lb, self.j_ub = found.bound(found.j_loop)

    def width(self, rows: int) -> int:
        """Vectors per tile row: rows x width accumulators, width vectors of B and a broadcast
        in the registers (8 x 3 on AVX-512's 32, 6 x 2 on AVX2's 16), up to 8 for a few rows,
        whose FMAs would otherwise wait on each other's latency (batch 1 is a row of one).
        8 x 3 ran W2b's first layer at 74-79 GFLOP/s against 64-69 for 8 x 2."""
        return max(2, min(8, (self.registers - 2) // (rows + 1)))

    def add(self, op: Operation) -> Operation:
        self.block.add_op(op)
        return op

    def index(self, value: int) -> SSAValue:
        if value not in self.constants:
            constant = arith.ConstantOp(IntegerAttr(value, IndexType()))
            Rewriter.insert_op(constant, InsertPoint.before(self.anchor))
            self.constants[value] = constant.result
        return self.constants[value]

    def offset(self, base: SSAValue, delta: int) -> SSAValue:
        """base + delta, folded when base is a constant."""
        if delta == 0:
            return base
        if (known := constant_int(base)) is not None:
            return self.index(known + delta)
        return self.plus(base, self.index(delta))

    def plus(self, base: SSAValue, value: SSAValue) -> SSAValue:
        if constant_int(base) == 0:
            return value
        return self.add(arith.AddiOp(base, value)).results[0]

    def loop(
        self,
        lb: int,
        ub: int,
        step: int,
        body: Callable[[SSAValue, Sequence[SSAValue]], Sequence[SSAValue]],
        iter_args: Sequence[SSAValue] = (),
    ) -> Sequence[SSAValue]:
        """`scf.for` with constant bounds; `body(iv, carried)` builds the body and returns
        the values to yield. A loop of one iteration without carried values is its body; one
        of none is nothing, its carried values passed through (an empty contraction, K = 0,
        had its packing of A built once, reading A out of bounds)."""
        if ub <= lb:
            return iter_args
        if ub - lb <= step and not iter_args:
            return body(self.index(lb), ())
        outer, self.block = (
            self.block,
            Block(arg_types=[IndexType(), *(value.type for value in iter_args)]),
        )
        inner = self.block
        self.add(scf.YieldOp(*body(inner.args[0], inner.args[1:])))
        self.block = outer
        loop = scf.ForOp(self.index(lb), self.index(ub), self.index(step), iter_args, inner)
        return self.add(loop).results

    def tile(
        self,
        found: Contraction,
        i0: SSAValue | None,
        rows: int,
        producer: scf.ForOp | None = None,
        fill: SSAValue | None = None,
    ) -> None:
        """The micro-kernels of `found` for rows i0 .. i0+rows (one fixed row when i0 is None);
        A's `producer` (see `_packable_producer`) is computed into the packed block; with a
        `fill` (see `_forwarded_fill`) the accumulators start at it instead of C's values."""
        self.use(found)
        self.fill = fill
        width = self.width(rows)
        span, vector_end, full_end = self.column_ends(width)
        row_index = [None if i0 is None else self.offset(i0, r) for r in range(rows)]
        self.packed = self.pack_a(row_index, producer)
        packed_b, panel_width = self.panels.get(found.k_loop, (None, 0))
        if packed_b is not None and panel_width == width:

            def packed_panel(p: SSAValue, _: Sequence[SSAValue]) -> Sequence[SSAValue]:
                self.columns(row_index, self.panel_start(p, span), width, panel=(packed_b, p))
                return ()

            self.loop(0, (full_end - self.j_lb) // span, 1, packed_panel)
        elif full_end > self.j_lb:

            def panel(j0: SSAValue, _: Sequence[SSAValue]) -> Sequence[SSAValue]:
                self.columns(row_index, j0, width)
                return ()

            self.loop(self.j_lb, full_end, span, panel)
        if vector_end > full_end:
            self.columns(row_index, self.index(full_end), (vector_end - full_end) // self.lanes)
        if self.j_ub > vector_end:
            self.columns(row_index, self.index(vector_end), 1, self.mask(self.j_ub - vector_end))

    def column_ends(self, width: int) -> tuple[int, int, int]:
        """For tiles `width` vectors wide: the columns of one (span), the end of the last
        full vector and the end of the last full tile."""
        span = width * self.lanes
        vector_end = self.j_ub - (self.j_ub - self.j_lb) % self.lanes
        return span, vector_end, self.j_lb + (vector_end - self.j_lb) // span * span

    def panel_start(self, p: SSAValue, span: int) -> SSAValue:
        """The first column of panel `p`: j_lb + p * span."""
        product = self.add(arith.MuliOp(p, self.index(span))).results[0]
        return self.plus(self.index(self.j_lb), product) if self.j_lb else product

    def pack_b(self, found: Contraction, function: func.FuncOp) -> None:
        """`found`'s B copied once into panels of the full tiles' width, each k-major and
        contiguous (`packed[p, k, :]` = B[k, panel p's columns]), as BLIS packs B, into new
        bytes of `function`'s workspace (B may be megabytes: not the stack) recorded in
        `panels`; nothing when there is no full panel or k does not start at 0.

        Read in place, a panel's row is a few vectors every row of B apart: each k of the
        micro-kernel touches new lines (two per vector when numpy's 16-byte-aligned arrays
        put a vector across a line), which the block of rows misses in L1 and waits for.
        Packed, every block of rows streams its panels from one sequential, line-aligned
        buffer: W2b's first two layers, 3.0 -> 2.2 ms at one thread in a C harness with
        numpy's alignment (2.5 -> 2.3 ms with B line-aligned)."""
        self.use(found)
        width = self.width(self.rows)
        span, _, full_end = self.column_ends(width)
        panels = (full_end - self.j_lb) // span
        if panels == 0 or self.k_lb != 0:
            return
        packed_type = MemRefType(found.element_type, [panels, self.k_ub, span])
        workspace, offset = grow_workspace(function, shaped_bytes(packed_type))
        packed = self.add(memref.ViewOp(workspace, self.index(offset), [], packed_type)).results[0]
        b = found.b

        def panel(p: SSAValue, _: Sequence[SSAValue]) -> Sequence[SSAValue]:
            j0 = self.panel_start(p, span)

            def copy(k: SSAValue, _: Sequence[SSAValue]) -> Sequence[SSAValue]:
                for v in range(width):
                    offset = v * self.lanes
                    value = self.load(
                        b.memref, self.indices(b, None, self.offset(j0, offset), k), None
                    )
                    self.add(vector.StoreOp(value, packed, [p, k, self.index(offset)]))
                return ()

            self.loop(0, self.k_ub, 1, copy)
            return ()

        self.loop(0, panels, 1, panel)
        self.panels[found.k_loop] = (packed, width)

    def packs(self, found: Contraction, rows: int) -> bool:
        """Whether `pack_a` packs a block of `rows` rows of `found`'s A: two or more, k from
        0, and the block in 3/4 of L1."""
        k_lb, k_ub = found.bound(found.k_loop)
        size = rows * (k_ub - k_lb) * element_bytes(found.element_type)
        return rows >= 2 and k_lb == 0 and size <= self.l1_bytes * 3 // 4

    def pack_a(
        self, row_index: Sequence[SSAValue | None], producer: scf.ForOp | None
    ) -> SSAValue | None:
        """The rows' block of A copied k-major into a stack buffer (`packed[k, r]`), as BLIS
        packs A: the micro-kernel then broadcasts from one pointer at constant offsets,
        where reading A's rows in place took a register per row and gcc spilled them (8 rows
        plus B's pointers exceed x86-64's 16 general registers: 34 against 63 GFLOP/s on
        W2b's first layer). With a `producer`, each element is computed where it is packed
        instead of loaded from A. Only when `packs` says so."""
        if not self.packs(self.found, len(row_index)):
            return None
        a = self.found.a
        alloca = memref.AllocaOp.get(self.found.element_type, 64, [self.k_ub, len(row_index)])
        packed = self.add(alloca).results[0]

        def copy(k: SSAValue, _: Sequence[SSAValue]) -> Sequence[SSAValue]:
            for r, row in enumerate(row_index):
                if producer is None:
                    load = memref.LoadOp.get(a.memref, self.indices(a, row, None, k))
                    value = self.add(load).results[0]
                else:
                    value = self.produce(producer, row, k)
                self.add(memref.StoreOp.get(value, packed, [k, self.index(r)]))
            return ()

        self.loop(0, self.k_ub, 1, copy)
        return packed

    def produce(self, producer: scf.ForOp, row: SSAValue | None, k: SSAValue) -> SSAValue:
        """The value `producer`'s body stores into A at (row, k): its ops but the store,
        cloned with its loop variable at k and the row loop's at `row`."""
        row_loop = self.found.row_loop
        assert row_loop is not None and row is not None
        mapping: dict[SSAValue, SSAValue] = {
            producer.body.block.args[0]: k,
            row_loop.body.block.args[0]: row,
        }
        *computed, store, _ = producer.body.block.ops
        for op in computed:
            self.add(op.clone(value_mapper=mapping))
        assert isinstance(store, memref.StoreOp)
        return mapping.get(store.value, store.value)

    def mask(self, count: int) -> SSAValue:
        """The first `count` lanes: `vector.create_mask`, next to its loads and stores (a mask
        is a vector value of the loop nest; gcc hoists it out of the row loop)."""
        mask = vector.CreateMaskOp([self.index(count)], VectorType(i1, [self.lanes]))
        return self.add(mask).results[0]

    def load(self, ref: SSAValue, place: Sequence[SSAValue], mask: SSAValue | None) -> SSAValue:
        """A vector of `ref` from `place`; with a mask, its lanes only (the others zero)."""
        if mask is None:
            return self.add(vector.LoadOp(ref, place, self.vector_type)).results[0]
        if self.zeros is None:
            splat = DenseIntOrFPElementsAttr.from_list(self.vector_type, [0.0])
            zeros = arith.ConstantOp(splat, self.vector_type)
            Rewriter.insert_op(zeros, InsertPoint.before(self.anchor))
            self.zeros = zeros.result
        return self.add(vector.MaskedLoadOp(ref, place, mask, self.zeros)).results[0]

    def columns(
        self,
        row_index: Sequence[SSAValue | None],
        j0: SSAValue,
        width: int,
        mask: SSAValue | None = None,
        panel: tuple[SSAValue, SSAValue] | None = None,
    ) -> None:
        """One tile of len(row_index) rows x `width` vectors at column j0: load C (or
        broadcast `self.fill`), run the k loop, store C; under `mask`, the masked lanes of one
        vector; B from `panel` (the packed buffer and the panel's index, see `pack_b`) when
        given."""
        c = self.found.c
        column = [self.offset(j0, v * self.lanes) for v in range(width)]
        at = [[self.indices(c, row, column[v]) for v in range(width)] for row in row_index]
        if self.fill is None:
            acc = [self.load(c.memref, place, mask) for row_places in at for place in row_places]
        else:
            start = self.add(vector.BroadcastOp(self.fill, self.vector_type)).results[0]
            acc = [start] * (len(row_index) * width)

        def step(k: SSAValue, carried: Sequence[SSAValue]) -> Sequence[SSAValue]:
            return self.step(row_index, column, k, carried, mask, panel)

        acc = self.loop(self.k_lb, self.k_ub, 1, step, acc)
        values = iter(acc)
        for row_places in at:
            for place in row_places:
                if mask is None:
                    self.add(vector.StoreOp(next(values), c.memref, place))
                else:
                    self.add(vector.MaskedStoreOp(c.memref, place, mask, next(values)))

    def step(
        self,
        row_index: Sequence[SSAValue | None],
        column: Sequence[SSAValue],
        k: SSAValue,
        acc: Sequence[SSAValue],
        mask: SSAValue | None,
        panel: tuple[SSAValue, SSAValue] | None,
    ) -> list[SSAValue]:
        """One k of the micro-kernel: a load of B per vector (from its packed panel, if
        any), a broadcast of A per row, and an FMA per accumulator, with the operands in the
        original fma's order."""
        found = self.found
        if panel is None:
            b_row = [
                self.load(found.b.memref, self.indices(found.b, None, j, k), mask) for j in column
            ]
        else:
            packed, p = panel
            b_row = [
                self.load(packed, [p, k, self.index(v * self.lanes)], None)
                for v in range(len(column))
            ]
        values = iter(acc)
        result = []
        for r, row in enumerate(row_index):
            if self.packed is not None:
                scalar = self.add(memref.LoadOp.get(self.packed, [k, self.index(r)])).results[0]
            else:
                a_indices = self.indices(found.a, row, None, k)
                scalar = self.add(memref.LoadOp.get(found.a.memref, a_indices)).results[0]
            a = self.add(vector.BroadcastOp(scalar, self.vector_type)).results[0]
            for b in b_row:
                lanes = {found.a.res: a, found.b.res: b, found.c.res: next(values)}
                fma = self.add(vector.FMAOp(*(lanes[value] for value in found.fma.operands)))
                result.append(fma.results[0])
        return result

    def indices(
        self,
        load: memref.LoadOp,
        row: SSAValue | None,
        column: SSAValue | None,
        k: SSAValue | None = None,
    ) -> list[SSAValue]:
        """The load's indices with the row, k and j loop variables replaced."""
        found = self.found
        replace = {found.k_loop.body.block.args[0]: k, found.j_loop.body.block.args[0]: column}
        if found.row_loop is not None:
            replace[found.row_loop.body.block.args[0]] = row
        return [
            replacement if (replacement := replace.get(index)) is not None else index
            for index in load.indices
        ]


def _tile(found: Contraction, lanes: int, registers: int, l1_bytes: int) -> list[Operation]:
    """Replace the contraction's nest (its row loop, if any) by the tiled one; returns the
    top-level ops inserted in its place."""
    anchor = found.row_loop or found.k_loop
    emitter = _Emitter(found, anchor, lanes, registers, l1_bytes)
    contractions = [found]
    if found.row_loop is None:
        emitter.tile(found, None, 1)
    else:
        row_loop = found.row_loop
        for op in list(row_loop.body.block.ops):
            if isinstance(op, arith.ConstantOp):
                op.detach()
                Rewriter.insert_op(op, InsertPoint.before(row_loop))
        ops = list(row_loop.body.block.ops)[:-1]  # without the yield
        contractions = _row_contractions(found, ops)
        cuts = [ops.index(contraction.k_loop) for contraction in contractions]
        starts = [0, *(cut + 1 for cut in cuts)]
        segments = [ops[start:end] for start, end in zip(starts, [*cuts, len(ops)], strict=True)]
        producers = [
            _packable_producer(contraction, segment, ops[start:])
            for contraction, segment, start in zip(contractions, segments, starts, strict=False)
        ]
        fills = [
            _forwarded_fill(contraction, segment)
            for contraction, segment in zip(contractions, segments, strict=False)
        ]
        row = row_loop.body.block.args[0]

        def rows(i0: SSAValue, count: int) -> None:
            """Rows i0 .. i0+count: each segment of the row loop's body on the rows, each
            contraction's micro-kernels after the segment before it; A's producer moves
            into the packing where the block is packed."""
            fused = [
                producer if producer is not None and emitter.packs(contraction, count) else None
                for contraction, producer in zip(contractions, producers, strict=True)
            ]
            for segment, contraction, producer, fill in zip(
                segments, [*contractions, None], [*fused, None], [*fills, None], strict=True
            ):
                kept = [
                    op
                    for op in segment
                    if op is not producer and (fill is None or op is not segment[-1])
                ]
                if kept:
                    emitter.loop(0, count, 1, _row_cloner(emitter, kept, row, i0))
                if contraction is not None:
                    emitter.tile(contraction, i0, count, producer, fill)

        lb, ub = found.bound(row_loop)
        full = lb + (ub - lb) // emitter.rows * emitter.rows
        # B is read by two blocks of rows or more; and the row loop is a top-level loop, which
        # parallelize-outer-loops may run on threads: inside another loop (a convolution's
        # loop over images), every iteration would write the one set of panels, which would
        # keep that loop serial.
        function = row_loop.parent_op()
        if full - lb >= 2 * emitter.rows and isinstance(function, func.FuncOp):
            for contraction in contractions:
                b = contraction.b.memref
                if _defined_outside(b, row_loop) and not _written_in(row_loop, b):
                    emitter.pack_b(contraction, function)
        if full > lb:

            def block_of_rows(i0: SSAValue, _: Sequence[SSAValue]) -> Sequence[SSAValue]:
                rows(i0, emitter.rows)
                return ()

            emitter.loop(lb, full, emitter.rows, block_of_rows)
        if ub > full:
            rows(emitter.index(full), ub - full)
    inserted = list(emitter.block.ops)
    for op in inserted:
        op.detach()
        Rewriter.insert_op(op, InsertPoint.before(anchor))
    Rewriter.erase_op(anchor)
    for contraction in contractions:
        a = contraction.a.memref
        if isinstance(a, OpResult) and not a.uses and isinstance(a.op, memref.ViewOp):
            Rewriter.erase_op(a.op)  # A's rows all computed into the packed blocks
    return inserted


def _written_in(loop: scf.ForOp, ref: SSAValue) -> bool:
    """Whether an op in `loop` may write `ref`: any use of it there but a load."""
    return any(
        _defined_in(use.operation, loop)
        and not isinstance(use.operation, memref.LoadOp | vector.LoadOp | vector.MaskedLoadOp)
        for use in ref.uses
    )


def _row_contractions(found: Contraction, ops: Sequence[Operation]) -> list[Contraction]:
    """`found` and the contractions after it in its row loop's body `ops` that are tiled on
    the same blocks of rows: W2b's last layer (N = 10) after its second. Tiled one row at a
    time after the first tiling had copied it onto each row, its single masked accumulator
    waited on the latency of the FMA before it at every k (a quarter of W2b's second nest);
    on the block's rows, each row has its own accumulator. Each must have the same element
    type (the vector type of the tiles) and leave the body cut into segments that share no
    value."""
    row_loop = found.row_loop
    assert row_loop is not None
    chosen = [found]
    for op in ops[ops.index(found.k_loop) + 1 :]:
        if not isinstance(op, scf.ForOp) or (later := match(op)) is None:
            continue
        cuts = [contraction.k_loop for contraction in chosen] + [op]
        if (
            later.row_loop is row_loop
            and later.element_type == found.element_type
            and _splits_at(row_loop, cuts)
        ):
            chosen.append(later)
    return chosen


def _packable_producer(
    found: Contraction, before: Sequence[Operation], rest: Sequence[Operation]
) -> scf.ForOp | None:
    """The loop of the row group that computes A's row for the contraction alone, if its
    elements can be computed where A is packed instead (`_Emitter.pack_a`).

    A weight gradient's left operand is an activation transposed (W3's dW2 = relu(z + b).T @
    dz): its row is a column of z, so the row group read it with a stride of z's row, for
    every row, and the packing read it back. Computed while packing, each k reads the
    block's rows side by side, and A is never written: W3's dW2 and dW3 nests took 26% of
    its step that way. Matched: a unit loop over the contraction's k range without
    iter_args, whose body is side-effect-free ops ending in one store to A at (row, its
    variable) in the places of the contraction's load of A at (row, k); A used by nothing
    else, and nothing the body loads written by `rest` (the segment `before` and all after
    it): what earlier segments and contractions write is written for the block's rows before
    it is packed, as before the producer ran."""
    a, row_loop = found.a, found.row_loop
    assert row_loop is not None
    row, k = row_loop.body.block.args[0], found.k_loop.body.block.args[0]
    writers = {use.operation for use in a.memref.uses} - {a}
    if len(writers) != 1:
        return None
    (store,) = writers
    producer = store.parent_op()
    if (
        not isinstance(store, memref.StoreOp)
        or producer not in before
        or not isinstance(producer, scf.ForOp)
        or not _unit_loop(producer)
        or found.bound(producer) != found.bound(found.k_loop)
    ):
        return None
    *computed, last, _ = producer.body.block.ops
    variable = producer.body.block.args[0]
    if last is not store or any(
        not (
            (stored is variable and loaded is k)
            or (stored is row and loaded is row)
            or (stored is loaded and _defined_outside(stored, row_loop))
        )
        for stored, loaded in zip(store.indices, a.indices, strict=True)
    ):
        return None
    written = {
        inner.memref
        for op in rest
        for inner in op.walk()
        if isinstance(inner, memref.StoreOp) and inner is not store
    }
    for op in computed:
        if isinstance(op, memref.LoadOp):
            if op.memref in written:
                return None
        elif op.regions or not is_side_effect_free(op):
            return None
        if any(
            operand not in (row, variable)
            and _defined_outside(operand, producer)
            and not _defined_outside(operand, row_loop)
            for operand in op.operands
        ):
            return None
    return producer


def _forwarded_fill(found: Contraction, segment: Sequence[Operation]) -> SSAValue | None:
    """The value the last loop of `segment` fills C's row with, when the micro-kernels can
    start their accumulators from it and the fill need not run.

    A row group's contraction starts from a fill of C's row (`linalg.fill` of the matmul's
    init, lowered by convert-linalg-to-fused-loops into the row loop): the fill stored every
    element and the micro-kernel loaded it back into its accumulators. Broadcast into them
    instead, the accumulators hold the same values and each element still gets the same FMAs
    in the same order, so the result is bitwise the same; and the micro-kernels store every
    column of the rows (full tiles, narrower ones, the masked tail), so C's row is whole
    without the fill. It was a memset of C's block of rows before each block, and 3% of W3's
    samples at two threads. Matched: the segment's last op is a unit loop over exactly the
    contraction's columns whose body is one store, of a value defined outside the row loop,
    to C at the contraction's indices of C with its column variable in place of j."""
    row_loop = found.row_loop
    if not segment or row_loop is None:
        return None
    fill = segment[-1]
    if (
        not isinstance(fill, scf.ForOp)
        or not _unit_loop(fill)
        or found.bound(fill) != found.bound(found.j_loop)
    ):
        return None
    body = list(fill.body.block.ops)
    if len(body) != 2 or not isinstance(store := body[0], memref.StoreOp):
        return None
    j, column = found.j_loop.body.block.args[0], fill.body.block.args[0]
    expected = [column if index is j else index for index in found.c.indices]
    if (
        store.memref is not found.c.memref
        or list(store.indices) != expected
        or not _defined_outside(store.value, row_loop)
    ):
        return None
    return store.value


def _row_cloner(
    emitter: _Emitter, ops: Sequence[Operation], row: SSAValue, i0: SSAValue
) -> Callable[[SSAValue, Sequence[SSAValue]], Sequence[SSAValue]]:
    """The body of a loop over ii that runs the ops of the original row loop for row i0 + ii."""

    def body(ii: SSAValue, _: Sequence[SSAValue]) -> Sequence[SSAValue]:
        mapping: dict[SSAValue, SSAValue] = {row: emitter.plus(i0, ii)}
        for op in ops:
            emitter.add(op.clone(value_mapper=mapping))
        return ()

    return body


def _splits_at(row_loop: scf.ForOp, k_loops: Sequence[scf.ForOp]) -> bool:
    """Whether no value computed in the row loop (apart from constants) is used by one of
    `k_loops` or across one: then the body can be cut into segments around them."""
    position = {op: index for index, op in enumerate(row_loop.body.block.ops)}
    cuts = [position[loop] for loop in k_loops]
    for op, index in position.items():
        if isinstance(op, arith.ConstantOp) or index in cuts:
            continue
        for result in op.results:
            for use in result.uses:
                used_at = position[_top(use.operation, row_loop)]
                if any(index < cut <= used_at for cut in cuts):
                    return False
    return True


def _top(op: Operation, loop: scf.ForOp) -> Operation:
    """The op of `loop`'s body that contains `op`."""
    while op.parent_op() is not loop:
        parent = op.parent_op()
        assert parent is not None
        op = parent
    return op


@dataclass(frozen=True)
class TileContractionsPass(ModulePass):
    """Register-tile matmul nests into vector micro-kernels, epilogues on the tile's rows.

    See the module docstring; the options come from `aidjit.runtime.target`.
    """

    name = "tile-contractions"
    vector_bytes: int = 64
    registers: int = 32
    l1_bytes: int = 32768

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if self.vector_bytes <= 0:
            return
        for function in op.body.block.ops:
            if isinstance(function, func.FuncOp):
                self._tile_function(function)

    def _tile_function(self, function: func.FuncOp) -> None:
        """Tile the function's contractions in walk order. A contraction in another's epilogue
        that cannot be tiled with it (`_row_contractions`) is cloned onto each block's rows by
        that tiling, and only the clones are left to tile: the ops a tiling inserts are
        searched next, in front of the loops not reached yet. Loops already rejected stay
        rejected (a tiling changes nothing outside the nest it replaces), so nothing is
        searched twice, where searching the whole function again after each tiling grew with
        its square (3.0 s against 0.6 s now, for tests/nn/test_compiled.py's model of 11,000
        loop-level ops)."""
        pending = [loop for loop in function.walk() if isinstance(loop, scf.ForOp)]
        pending.reverse()  # a stack: the next loop in walk order last
        while pending:
            k_loop = pending.pop()
            if not _defined_in(k_loop, function):  # erased with a nest tiled before it
                continue
            found = match(k_loop)
            if found is None or (
                found.row_loop is not None and not _splits_at(found.row_loop, [found.k_loop])
            ):
                continue
            lanes = self.vector_bytes // element_bytes(found.element_type)
            if lanes < 2:
                continue
            inserted = _tile(found, lanes, self.registers, self.l1_bytes)
            pending.extend(
                reversed(
                    [loop for top in inserted for loop in top.walk() if isinstance(loop, scf.ForOp)]
                )
            )

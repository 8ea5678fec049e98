"""vectorize-transposes: transposing copies become blocks of vector loads, shuffles and stores.

A transpose the structured level keeps as a copy (a matmul's `w.T`, attention's `k.T`: see
transforms/fuse_elementwise.py, which keeps a contraction's inner loop unit-stride) lowers to

    scf.for %i = 0 to M {
      scf.for %j = 0 to N {
        %v = memref.load %src[.., %j, %i]
        memref.store %v, %dst[.., %i, %j]
      }
    }

which vectorize-loops leaves scalar (the load's last index is not the inner loop's) and gcc
compiles to a load and a store per element, one of them strided: 57 us for W3's 256x256
weight, 5% of its training step. As MLIR's vector-transpose lowering ("shuffle" strategy) does,
this pass moves L x L blocks instead, L the lanes of a vector register (16 floats on AVX-512):

    scf.for %i0 = 0 to M' step L {                  M', N': M and N rounded down to L
      scf.for %j0 = 0 to N' step L {
        %r_k = vector.load %src[.., %j0 + k, %i0]   for k < L: rows of the block
        <log2(L) rounds of L vector.shuffle>        the block transposed in registers
        vector.store %t_k, %dst[.., %i0 + k, %j0]   for k < L
      }
    }
    <the scalar nest over i < M', N' <= j < N>      what the blocks leave: two copies of the
    <the scalar nest over M' <= i < M, j < N>       original nest with narrowed bounds

Round d (d = L/2, ..., 2, 1) exchanges bit d of the row index with bit d of the column index,
pairing rows k and k + d (k & d = 0): row k takes row k + d's lanes c - d where c & d, row k + d
takes row k's lanes c + d where not; after every round, lane c of row k holds element (c, k)
of the block. Each shuffle is one `vpermt2ps` (gcc's `__builtin_shuffle`): 13 us for the
256x256 copy. A copy moves values unchanged, so the result is bitwise the scalar one.

Matched: two perfectly nested `scf.for` loops with constant bounds (at least L iterations
each), step 1 and no iter_args, whose inner body is a `memref.load` and a `memref.store` of its
value, where the load's last two indices are (inner, outer), the store's (outer, inner), their
other indices use neither loop, and both memrefs are contiguous along their last dimension
and distinct values (the buffers of one nest never share bytes, transforms/memory_plan.py).
Option `vector-bytes` (64 on AVX-512, 32 on AVX2; 0 disables the pass), from
`aidjit.runtime.target`. Runs at the loop level, before vectorize-loops.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.builder import Builder
from xdsl.context import Context
from xdsl.dialects import arith, func, memref, scf, vector
from xdsl.dialects.builtin import (
    DenseArrayBase,
    Float32Type,
    Float64Type,
    IndexType,
    MemRefType,
    ModuleOp,
    VectorType,
    i64,
)
from xdsl.ir import Attribute, Block, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from aidjit.errors import PipelineError
from aidjit.lowering.structured import constant_int, element_bytes
from aidjit.runtime.strided import static_layout
from aidjit.transforms.vectorize_loops import IndexConstants


@dataclass(frozen=True)
class TransposeNest:
    """A matched nest: `outer` over the stored rows, `inner` over the loaded rows."""

    outer: scf.ForOp
    inner: scf.ForOp
    load: memref.LoadOp
    store: memref.StoreOp


def match_transpose(outer: scf.ForOp, vector_bytes: int) -> TransposeNest | None:
    """The nest of the module docstring rooted at `outer`, or None."""
    inner = _only_loop(outer)
    if inner is None or _only_loop(inner) is not None:
        return None
    body = list(inner.body.block.ops)
    if len(body) != 3 or not isinstance(body[2], scf.YieldOp):
        return None
    load, store = body[0], body[1]
    if not isinstance(load, memref.LoadOp) or not isinstance(store, memref.StoreOp):
        return None
    if (
        store.value is not load.res
        or load.res.uses.get_length() != 1
        or load.memref is store.memref
    ):
        return None
    i, j = outer.body.block.args[0], inner.body.block.args[0]
    loaded, stored = tuple(load.indices), tuple(store.indices)
    if len(loaded) < 2 or len(stored) < 2 or loaded[-2:] != (j, i) or stored[-2:] != (i, j):
        return None
    if any(index in (i, j) for index in (*loaded[:-2], *stored[:-2])):
        return None
    lanes = _lanes(load.res.type, vector_bytes)
    if lanes < 2 or not all(_contiguous_rows(v.type) for v in (load.memref, store.memref)):
        return None
    if any(_trip(loop) is None or _trip(loop) < lanes for loop in (outer, inner)):
        return None
    return TransposeNest(outer, inner, load, store)


def _lanes(element: Attribute, vector_bytes: int) -> int:
    """Lanes of a vector of `element` (0 for elements the pass leaves alone: only f32 and f64
    are transposed, the element types of the copies the matmuls of a model keep)."""
    if not isinstance(element, Float32Type | Float64Type):
        return 0
    return vector_bytes // element_bytes(element)


def _only_loop(loop: scf.ForOp) -> scf.ForOp | None:
    """The loop that is all of `loop`'s body besides its yield, if any (`_trip` checks its
    bounds and step)."""
    ops = list(loop.body.block.ops)
    if len(ops) != 2 or not isinstance(ops[0], scf.ForOp) or not isinstance(ops[1], scf.YieldOp):
        return None
    return ops[0]


def _trip(loop: scf.ForOp) -> int | None:
    low, high, step = (constant_int(v) for v in (loop.lb, loop.ub, loop.step))
    if low is None or high is None or step != 1 or loop.iter_args:
        return None
    return high - low


def _contiguous_rows(type_: Attribute) -> bool:
    if not isinstance(type_, MemRefType):
        return False
    layout = static_layout(type_)
    return layout is not None and layout.strides[-1] == 1


def shuffle_masks(lanes: int, distance: int) -> tuple[list[int], list[int]]:
    """The masks of round `distance` for rows k (low) and k + distance (high), as indices into
    the two rows' lanes side by side (row k's 0..L-1, then row k + distance's L..2L-1)."""
    low = [c if not c & distance else lanes + c - distance for c in range(lanes)]
    high = [c + distance if not c & distance else lanes + c for c in range(lanes)]
    return low, high


def _rewrite(nest: TransposeNest, lanes: int, index: IndexConstants) -> None:
    """Blocks over the whole blocks of the nest, narrowed copies of it for the rest."""
    outer, inner = nest.outer, nest.inner
    low_i, high_i = _bounds(outer)
    low_j, high_j = _bounds(inner)
    end_i = low_i + (high_i - low_i) // lanes * lanes
    end_j = low_j + (high_j - low_j) // lanes * lanes
    rewriter = Rewriter()
    if end_i < high_i:  # the rows past the last block, every column
        bottom = outer.clone()
        bottom.operands[0] = index(end_i)
        rewriter.insert_op(bottom, InsertPoint.after(outer))
    if end_j < high_j:  # the columns past the last block, on the rows the blocks cover
        right = outer.clone()
        right.operands[1] = index(end_i)
        right_inner = right.body.block.first_op
        assert isinstance(right_inner, scf.ForOp)
        right_inner.operands[0] = index(end_j)
        rewriter.insert_op(right, InsertPoint.after(outer))
    rows = Block(arg_types=[IndexType()])
    columns = Block(arg_types=[IndexType()])
    step = index(lanes)
    rows.add_ops([scf.ForOp(index(low_j), index(end_j), step, [], columns), scf.YieldOp()])
    _transpose_block(
        nest, lanes, index, rows.args[0], columns.args[0], Builder(InsertPoint.at_end(columns))
    )
    columns.add_op(scf.YieldOp())
    rewriter.replace_op(outer, scf.ForOp(index(low_i), index(end_i), step, [], rows))


def _bounds(loop: scf.ForOp) -> tuple[int, int]:
    low, high = constant_int(loop.lb), constant_int(loop.ub)
    assert low is not None and high is not None  # checked by match_transpose
    return low, high


def _transpose_block(
    nest: TransposeNest,
    lanes: int,
    index: IndexConstants,
    i0: SSAValue,
    j0: SSAValue,
    builder: Builder,
) -> None:
    """The L x L block at stored rows i0.., loaded rows j0..: loads, shuffle rounds, stores."""
    vector_type = VectorType(nest.load.res.type, [lanes])

    def offset(base: SSAValue, k: int) -> SSAValue:
        return base if k == 0 else builder.insert(arith.AddiOp(base, index(k))).result

    prefix = tuple(nest.load.indices)[:-2]
    rows: list[SSAValue] = [
        builder.insert(
            vector.LoadOp(nest.load.memref, [*prefix, offset(j0, k), i0], vector_type)
        ).result
        for k in range(lanes)
    ]
    distance = lanes // 2
    while distance:
        low_mask, high_mask = shuffle_masks(lanes, distance)
        swapped = list(rows)
        for k in range(lanes):
            if k & distance:
                continue
            pair = (rows[k], rows[k + distance])
            for row, mask in ((k, low_mask), (k + distance, high_mask)):
                shuffle = vector.ShuffleOp(
                    *pair, DenseArrayBase.from_list(i64, mask), result_type=vector_type
                )
                swapped[row] = builder.insert(shuffle).result
        rows = swapped
        distance //= 2
    prefix = tuple(nest.store.indices)[:-2]
    for k, row in enumerate(rows):
        builder.insert(vector.StoreOp(row, nest.store.memref, [*prefix, offset(i0, k), j0]))


@dataclass(frozen=True)
class VectorizeTransposesPass(ModulePass):
    """Copy transposes in L x L blocks through vector registers, bitwise as before."""

    name = "vectorize-transposes"

    vector_bytes: int = 64
    """Bytes per vector register (`aidjit.runtime.target`); 0 leaves every transpose scalar."""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if self.vector_bytes < 0 or self.vector_bytes & (self.vector_bytes - 1):
            raise PipelineError(
                f"{self.name}: vector-bytes must be 0 or a power of two (the rounds of "
                f"shuffles halve the lanes), got {self.vector_bytes}"
            )
        if self.vector_bytes == 0:
            return
        for function in op.body.block.ops:
            if isinstance(function, func.FuncOp) and function.body.blocks:
                index = IndexConstants(function.body.block)
                nests = [
                    nest
                    for loop in function.walk()
                    if isinstance(loop, scf.ForOp)
                    and (nest := match_transpose(loop, self.vector_bytes)) is not None
                ]
                for nest in nests:
                    _rewrite(nest, _lanes(nest.load.res.type, self.vector_bytes), index)

"""Strided memref layouts and static slices: the address arithmetic of MLIR's `memref.subview`
and `tensor.extract_slice` / `insert_slice`, shared by the C emitter and the interpreters.

A memref of type `memref<3x2xf32, strided<[8, 2], offset: 5>>` holds element (i, j) at
`base[5 + i * 8 + j * 2]`, where `base` is the aligned pointer of the buffer it views (a
row-major memref is `strided<[2, 1], offset: 0>`). `memref.subview` keeps its source's base
pointer and folds its offsets into the layout (MLIR's `SubViewOp::inferResultType`, xDSL's
`SubviewOp.infer_result_type`):

    source   memref<..., strided<[s0, s1], offset: o>>
    subview  offsets [a0, a1], sizes [n0, n1], strides [k0, k1]
    result   memref<n0xn1, strided<[s0 * k0, s1 * k1], offset: o + a0 * s0 + a1 * s1>>

so a subview is no new pointer in C (its source's name, indexed through the result's layout)
and no new memory in the interpreter (its source's bytes, indexed the same way). A slice may
drop unit dimensions (rank reduction); `slice_dims` finds which it keeps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from xdsl.dialects import memref, tensor
from xdsl.dialects.builtin import MemRefType, ShapedType

from aidjit.errors import ShapeError, UnsupportedError, blame

SliceOp = memref.SubviewOp | tensor.ExtractSliceOp | tensor.InsertSliceOp
"""The ops with static `offsets`, `sizes` and `strides` over a source (or destination) shape."""


@dataclass(frozen=True)
class StridedLayout:
    """Element (i0, i1, ...) lies at `offset + i0 * strides[0] + i1 * strides[1] + ...` elements
    from the base pointer."""

    strides: tuple[int, ...]
    offset: int

    def extent(self, shape: Sequence[int]) -> int:
        """How many elements from the base pointer a memref of `shape` reaches: one past its
        highest element, 0 when it has none."""
        if 0 in shape:
            return 0
        pairs = zip(shape, self.strides, strict=True)
        return self.offset + sum((size - 1) * max(stride, 0) for size, stride in pairs) + 1

    def matches(self, other: StridedLayout, shape: Sequence[int]) -> bool:
        """The same addresses for every element of `shape`: strides of unit dimensions (only
        ever indexed by 0) and the layout of an empty memref do not matter."""
        if 0 in shape:
            return True
        return self.offset == other.offset and all(
            mine == theirs
            for mine, theirs, size in zip(self.strides, other.strides, shape, strict=True)
            if size != 1
        )


def row_major(shape: Sequence[int]) -> StridedLayout:
    """The layout of a memref without one: contiguous, last dimension fastest, offset 0."""
    return StridedLayout(tuple(ShapedType.strides_for_shape(shape)), 0)


def static_layout(type_: MemRefType) -> StridedLayout | None:
    """The layout of `type_` (row-major when it has none), or None when a stride or the offset
    is dynamic or the layout is not strided (an affine map)."""
    strides, offset = type_.get_strides(), type_.get_offset()
    if strides is None or offset is None or any(stride is None for stride in strides):
        return None
    return StridedLayout(tuple(int(stride) for stride in strides if stride is not None), offset)


def static_slice(op: SliceOp) -> tuple[list[int], list[int], list[int]]:
    """The op's offsets, sizes and strides, all static (dynamic ones are not supported)."""
    if op.offsets or op.sizes or op.strides:
        raise blame(UnsupportedError(f"'{op.name}' with dynamic offsets, sizes or strides"), op)
    return (
        list(op.static_offsets.get_values()),
        list(op.static_sizes.get_values()),
        list(op.static_strides.get_values()),
    )


def slice_dims(
    op: SliceOp, source_shape: Sequence[int], sliced_shape: Sequence[int]
) -> tuple[int, ...]:
    """The dimensions of `source_shape` that the slice keeps, checked against the IR.

    `sliced_shape` is the shape of the slice as a value (a subview's or extract_slice's
    result, an insert_slice's source): the op's sizes with some unit dimensions dropped.
    Every index the slice reaches must lie inside the source: C would read or write past it.
    """
    offsets, sizes, strides = static_slice(op)
    if not len(offsets) == len(sizes) == len(strides) == len(source_shape):
        raise blame(
            ShapeError(
                f"'{op.name}': {len(offsets)} offsets, {len(sizes)} sizes and {len(strides)} "
                f"strides for a source of rank {len(source_shape)}"
            ),
            op,
        )
    for dim, (start, size, stride, extent) in enumerate(
        zip(offsets, sizes, strides, source_shape, strict=True)
    ):
        last = start + (size - 1) * stride
        if size > 0 and not (0 <= start < extent and 0 <= last < extent):
            raise blame(
                ShapeError(
                    f"'{op.name}': dimension {dim} of a {tuple(source_shape)} source is sliced "
                    f"from {start} to {last} (offset {start}, size {size}, stride {stride}), "
                    f"outside 0..{extent - 1}"
                ),
                op,
            )
    kept = _kept_dims(sizes, sliced_shape)
    if kept is None:
        raise blame(
            ShapeError(
                f"'{op.name}': sizes {sizes} do not give the shape {tuple(sliced_shape)}, "
                "even dropping unit dimensions"
            ),
            op,
        )
    return kept


def _kept_dims(sizes: Sequence[int], shape: Sequence[int]) -> tuple[int, ...] | None:
    """Match `shape` to `sizes` with unit sizes dropped, earliest first (a unit dimension kept
    or dropped addresses the same elements, so any matching is as good)."""
    kept: list[int] = []
    for dim, size in enumerate(sizes):
        if len(kept) < len(shape) and size == shape[len(kept)]:
            kept.append(dim)
        elif size != 1:
            return None
    return tuple(kept) if len(kept) == len(shape) else None


def subview_layout(
    op: memref.SubviewOp, source_shape: Sequence[int], source: StridedLayout
) -> StridedLayout:
    """The layout of the subview's result over its source's base pointer, computed from the
    source's layout and checked against the one the result type declares (which C indexes by).
    """
    offsets, _, strides = static_slice(op)
    result_type = op.result.type
    assert isinstance(result_type, MemRefType)
    declared = static_layout(result_type)
    if declared is None:
        raise blame(UnsupportedError(f"'{op.name}' to {result_type}: a dynamic layout"), op)
    shape = result_type.get_shape()
    kept = slice_dims(op, source_shape, shape)
    offset = source.offset + sum(
        start * stride for start, stride in zip(offsets, source.strides, strict=True)
    )
    computed = StridedLayout(tuple(source.strides[dim] * strides[dim] for dim in kept), offset)
    if not computed.matches(declared, shape):
        raise blame(
            ShapeError(
                f"'{op.name}': the result type {result_type} has strides "
                f"{list(declared.strides)} and offset {declared.offset}, but its source and "
                f"offsets give strides {list(computed.strides)} and offset {computed.offset}"
            ),
            op,
        )
    return computed

"""The convolution family of convert-graph-to-linalg: `graph.conv2d` as im2col + a contraction.

A valid convolution (padding is a `graph.pad` before it) with groups G, F = C_out / G output
and C = C_in / G input channels per group, K = C * kH * kW and P = OH * OW, becomes two
generics, the channels split into (group, channel) dims by reshapes (views):

    %x5 = reshape %x : [N, G*C, H, W] -> [N, G, C, H, W]
    %cols = linalg.generic                    // im2col: a copy, no arithmetic
        (n, g, c, i, j, y, x) -> x5[n, g, c, y*sh + i*dh, x*sw + j*dw]
        into [N, G, C, kH, kW, OH, OW] at (n, g, c, i, j, y, x)
    %a = reshape %cols : -> [N, G, K, P]        %b = reshape %w : [G*F, C, kH, kW] -> [G, F, K]
    %out = linalg.generic                     // the contraction, into a fill of zeros
        (n, g, f, k, p):  out[n, g, f, p] = fma(b[g, f, k], a[n, g, k, p], out[n, g, f, p])
    %y = reshape %out : [N, G, F, P] -> [N, G*F, OH, OW]

This is upstream's `linalg.conv_2d_ngchw_gfchw` generalised, with its window reads done once
by the im2col generic instead of in the contraction's inner loop, so that the contraction is
exactly the loop nest of a matmul, rows f, reduction k, columns p (unit stride in the patches
and the output), which `tile-contractions` turns into a register-tiled vector micro-kernel
with the weights packed and broadcast; the im2col copy walks x along its rows (unit stride at
stride 1). A direct convolution (the window map in the contraction, loops (n, g, f, y, c, i,
j, x)) keeps x in place but reloads and stores the output row for every (c, i, j) and is left
scalar by the loop-level schedules, which need each index to be a loop variable.

Small output planes (fewer than `SMALL_PLANE` positions: the weight gradients, whose
"output" is the 3x3 kernel) lay the patches out [G, K, N * P] instead, so that the
contraction's columns are the whole batch's positions, then copy the small result to NCHW.

Padding: an explicit pad (a fill plus an insert_slice: one copy of the input) rather than a
bounds predicate in the im2col body, which would put a compare and a select on every element
copied and stop the copy from vectorising; the pad costs one pass over the input, small next
to the im2col copy it feeds (K / C times larger) and the contraction.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from xdsl.dialects import math as mathd
from xdsl.dialects import tensor
from xdsl.dialects.builtin import DenseArrayBase, TensorType, i64
from xdsl.ir import Operation, SSAValue
from xdsl.ir.affine import AffineMap

from aidjit.dialects import graph
from aidjit.lowering.structured import (
    PARALLEL,
    REDUCTION,
    build_generic,
    dim,
    empty_tensor,
    filled,
    identity_map,
    reassociation,
    reshape,
)


def reshape_rows(source: SSAValue, shape: Sequence[int]) -> SSAValue:
    """`source` seen with `shape`, the first (batch) dim kept as its own group: a collapse of
    the other dims to one, then an expansion. linalg-fuse-rows sees such views as row i of
    the source being row i of the result, so the im2col, the contraction and the bias and
    activation after it can share one loop over the batch (a reshape through rank 1 would
    end the row group)."""
    rows, *rest = source.type.get_shape()
    element = source.type.get_element_type()
    flat = source
    if len(rest) != 1:
        flat_type = TensorType(element, [rows, math.prod(rest)])
        groups = reassociation([[0], list(range(1, len(rest) + 1))])
        flat = tensor.CollapseShapeOp.create(
            operands=[source], result_types=[flat_type], properties={"reassociation": groups}
        ).results[0]
    if len(shape) == 2:
        return flat
    properties = {
        "reassociation": reassociation([[0], list(range(1, len(shape)))]),
        "static_output_shape": DenseArrayBase.from_list(i64, list(shape)),
    }
    return tensor.ExpandShapeOp.create(
        operands=[flat], result_types=[TensorType(element, list(shape))], properties=properties
    ).results[0]


SMALL_PLANE = 32
"""Output planes with fewer positions than this (a weight gradient's, whose "output" is the
kernel's 3x3) give the contraction rows too short for a vector micro-kernel: 9 columns fill 9
of a 16-lane vector, and the only other parallel loop is the batch (a weight gradient's batch
is the input channels: 3 for W5's first layer, split 2 + 1 over two threads). Such convolutions
put the batch into the columns instead (`_lower_batch_in_columns`)."""


def lower_conv2d(op: Operation, operands: Sequence[SSAValue]) -> SSAValue:
    """im2col, then the contraction of the module docstring, then the NCHW view of it."""
    assert isinstance(op, graph.Conv2dOp)
    n, _, oh, ow = op.results[0].type.get_shape()
    if oh * ow < SMALL_PLANE and n > 1:
        return _lower_batch_in_columns(op, operands)
    x, w = operands
    groups = op.params()["groups"]
    _, channels, height, width = x.type.get_shape()
    out_channels, per_group, kh, kw = w.type.get_shape()
    element = x.type.get_element_type()
    per_group_out = out_channels // groups
    k_size, p_size = per_group * kh * kw, oh * ow

    # im2col: loops (n, g, c, i, j, y, x), innermost along the output's width.
    grouped = reshape_rows(x, (n, groups, per_group, height, width))
    cols = _im2col(op, grouped, (0, 1, 2, 3, 4, 5, 6))

    # The contraction: loops (n, g, f, k, p), as a matmul's (rows, k, columns).
    patches = reshape_rows(cols, (n, groups, k_size, p_size))
    weights = reshape(w, (groups, per_group_out, k_size))
    out_type = TensorType(element, [n, groups, per_group_out, p_size])
    nn, g, f, k, p = (dim(position) for position in range(5))
    out = build_generic(
        [weights, patches],
        [AffineMap(5, 0, (g, f, k)), AffineMap(5, 0, (nn, g, k, p))],
        [filled(out_type, 0.0)],
        [AffineMap(5, 0, (nn, g, f, p))],
        [PARALLEL, PARALLEL, PARALLEL, REDUCTION, PARALLEL],
        lambda args: [mathd.FmaOp(args[0], args[1], args[2]).result],
    ).results[0]
    return reshape_rows(out, (n, out_channels, oh, ow))


def _im2col(op: Operation, grouped: SSAValue, layout: Sequence[int]) -> SSAValue:
    """The window copy of `grouped` ([N, G, C, H, W]) into the patches, whose dims are the
    loops (n, g, c, i, j, y, x) in the order `layout` (the loops run in that order too)."""
    params = op.params()
    (sh, sw), (dh, dw) = params["stride"], params["dilation"]
    n, groups, per_group, _, _ = grouped.type.get_shape()
    _, _, kh, kw = op.operands[1].type.get_shape()
    _, _, oh, ow = op.results[0].type.get_shape()
    extents = (n, groups, per_group, kh, kw, oh, ow)
    at = {loop: dim(position) for position, loop in enumerate(layout)}
    window = AffineMap(
        7, 0, (at[0], at[1], at[2], at[5] * sh + at[3] * dh, at[6] * sw + at[4] * dw)
    )
    cols_type = TensorType(grouped.type.get_element_type(), [extents[d] for d in layout])
    return build_generic(
        [grouped],
        [window],
        [empty_tensor(cols_type)],
        [identity_map(7)],
        [PARALLEL] * 7,
        lambda args: [args[0]],
    ).results[0]


def _lower_batch_in_columns(op: Operation, operands: Sequence[SSAValue]) -> SSAValue:
    """A convolution with a small output plane (`SMALL_PLANE`): the patches laid out
    [G, K, N * P], so that the contraction (g, f, k, q) has N * P columns (a weight gradient of
    W5's second layer: 16 x 9 = 144, nine full vectors, instead of 16 batches of 9 columns),
    then its [G, F, N, P] result transposed to NCHW (a copy of the small output)."""
    x, w = operands
    groups = op.params()["groups"]
    n, _, height, width = x.type.get_shape()
    out_channels, per_group, kh, kw = w.type.get_shape()
    _, _, oh, ow = op.results[0].type.get_shape()
    element = x.type.get_element_type()
    per_group_out = out_channels // groups
    k_size, columns = per_group * kh * kw, n * oh * ow

    grouped = reshape_rows(x, (n, groups, per_group, height, width))
    cols = _im2col(op, grouped, (1, 2, 3, 4, 0, 5, 6))  # [G, C, kH, kW, N, OH, OW]
    patches = reshape(cols, (groups, k_size, columns))
    weights = reshape(w, (groups, per_group_out, k_size))
    g, f, k, q = (dim(position) for position in range(4))
    out = build_generic(
        [weights, patches],
        [AffineMap(4, 0, (g, f, k)), AffineMap(4, 0, (g, k, q))],
        [filled(TensorType(element, [groups, per_group_out, columns]), 0.0)],
        [AffineMap(4, 0, (g, f, q))],
        [PARALLEL, PARALLEL, REDUCTION, PARALLEL],
        lambda args: [mathd.FmaOp(args[0], args[1], args[2]).result],
    ).results[0]
    planes = reshape(out, (groups, per_group_out, n, oh * ow))
    nn, g, f, p = (dim(position) for position in range(4))
    nchw = build_generic(
        [planes],
        [AffineMap(4, 0, (g, f, nn, p))],
        [empty_tensor(TensorType(element, [n, groups, per_group_out, oh * ow]))],
        [identity_map(4)],
        [PARALLEL] * 4,
        lambda args: [args[0]],
    ).results[0]
    return reshape_rows(nchw, (n, out_channels, oh, ow))
